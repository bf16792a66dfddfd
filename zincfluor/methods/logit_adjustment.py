"""Prior-corrected softmax losses: balanced softmax and the logit-adjusted loss.

Both add a per-class constant to every logit before the cross-entropy, so that a classifier
trained on the long-tailed prior predicts, by its raw logits, as if the prior were uniform. At
inference the raw logits g(f(x)) are used (no correction is subtracted).

With C classes, N_c training samples of class c and the prior π_c = N_c / Σ_k N_k:

* balanced softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
  NeurIPS 2020)::

      L = -(1/|B|) Σ_i log softmax(z_i + log N)_{y_i}

* logit-adjusted loss (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021,
  eq. 10)::

      L = -(1/|B|) Σ_i log softmax(z_i + τ · log π)_{y_i}

Since log π_c = log N_c − log Σ_k N_k differs from log N_c by a constant for all classes, and the
softmax ignores constants, τ = 1 gives exactly the balanced softmax (the same loss and gradient).

A class with no training sample would get log 0 = −∞; such a class is counted as having one
sample, so the losses stay finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext

__all__ = ["BalancedSoftmax", "LogitAdjustedLoss", "log_prior"]


def log_prior(class_counts: torch.Tensor) -> torch.Tensor:
    """log π_c = log N_c − log Σ_k N_k, with empty classes counted as one sample."""
    counts = class_counts.float().clamp(min=1.0)
    return counts.log() - counts.sum().log()


@METHODS.register("logit-adjust")
class LogitAdjustedLoss(LongTailMethod):
    """L = CE(z + τ · log π, y) with π_c = N_c / Σ N (Menon et al. 2021); ``tau`` is τ."""

    summary = "CE on logits + tau * log prior (Menon et al. 2021)"

    def __init__(self, context: MethodContext, tau: float = 1.0):
        super().__init__(context)
        self.tau = float(tau)
        self.register_buffer("adjustment", self.tau * log_prior(self.class_counts))
        self.save_hparams(tau=self.tau)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        loss = F.cross_entropy(model(inputs) + self.adjustment, targets)
        return LossOutput(loss, {"adjusted_ce": loss.detach()})


@METHODS.register("balanced-softmax")
class BalancedSoftmax(LongTailMethod):
    """L = CE(z + log N, y) (Ren et al. 2020); equal to ``logit-adjust`` with τ = 1."""

    summary = "balanced softmax, logits + log N_c (Ren et al. 2020)"

    def __init__(self, context: MethodContext):
        super().__init__(context)
        self.register_buffer("adjustment", self.class_counts.clamp(min=1.0).log())

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        loss = F.cross_entropy(model(inputs) + self.adjustment, targets)
        return LossOutput(loss, {"balanced_ce": loss.detach()})
