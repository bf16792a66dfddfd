"""The CORN loss for the ordinal head (Shi et al., "Deep Neural Networks for Rank-Consistent
Ordinal Regression Based On Conditional Probabilities", 2021, eq. 4).

The :class:`~zincfluor.nn.heads.OrdinalHead` gives C − 1 conditional logits f_ik of
P(y_i > k | y_i ≥ k). Task k is trained only on the samples that reach level k,
S_k = {i : y_i ≥ k}, as a binary problem "above k"::

    L = −(1 / Σ_k |S_k|) Σ_k Σ_{i ∈ S_k} [ 1[y_i > k] log σ(f_ik) + 1[y_i = k] log(1 − σ(f_ik)) ]

How the ordinal head composes with the class-rebalancing methods: its logits are the implied
log-probabilities log P(y = k), so every logit method (``ce``, ``balanced-softmax``,
``logit-adjust``, ``ce-drw``, ...) applies to them unchanged; ``ce`` is then the likelihood of
the same conditional model, and ``balanced-softmax`` trains softmax(log P + log N_c), the
prior-corrected posterior. This method is CORN's own per-task objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput

__all__ = ["CORN", "corn_loss"]


def corn_loss(conditional_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CORN's loss of [B, C − 1] conditional logits for integer levels [B] (see above)."""
    tasks = torch.arange(conditional_logits.shape[1], device=targets.device)
    reached = targets[:, None] >= tasks[None, :]  # i in S_k
    above = (targets[:, None] > tasks[None, :]).to(conditional_logits.dtype)
    losses = F.binary_cross_entropy_with_logits(conditional_logits, above, reduction="none")
    return (losses * reached).sum() / reached.sum().clamp(min=1)


@METHODS.register("corn")
class CORN(LongTailMethod):
    """CORN loss on the ordinal head's conditional logits (needs ``--head ordinal``)."""

    summary = "CORN ordinal loss on the ordinal head (Shi et al. 2021)"

    def adjust_model_spec(self, spec: dict) -> dict:
        head = spec.get("head", {}).get("name")
        if head != "ordinal":
            raise ValueError(f"method 'corn' trains the ordinal head: use --head ordinal "
                             f"(got head {head!r})")
        return spec

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        logits = model.head.conditional_logits(model.features(inputs)).float()
        loss = corn_loss(logits, targets)
        return LossOutput(loss, {"corn": loss.detach()})
