"""LDAM loss with deferred re-weighting (LDAM-DRW).

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
NeurIPS 2019. The classifier is normalised (a cosine head: cos θ_ic = <h_i/|h_i|, w_c/|w_c|>)
and the target logit loses a class-dependent margin, larger for rarer classes::

    m_c = K / N_c^{1/4},   K = max_margin · min_k N_k^{1/4}   (so max_c m_c = max_margin)

    z_ic = s · (cos θ_ic − m_{y_i} · [c = y_i])

    L = CE(z_i, y_i; weight = w)   with w = None before epoch E_d and the DRW weights
        w_c ∝ (1 − β) / (1 − β^{N_c}), Σ_c w_c = C, from E_d on (see :mod:`.drw`)

Defaults as in the paper: max_margin 0.5, s = 30, β = 0.9999, E_d = int(0.8 · epochs).

The model's head is a cosine head whose scale is ``head_scale`` (default s), so predictions use
the logits s · cos θ — the training logits without margin — and their softmax is a usable
probability; the loss divides the head's output by ``head_scale`` to get the cosines back. Only
the argmax matters for the paper; ``head_scale=1`` makes the model output plain cosines.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.drw import DEFAULT_BETA, DeferredReweighting

__all__ = ["LDAMDRW", "ldam_margins", "cosine_head_spec"]


def ldam_margins(class_counts: torch.Tensor, max_margin: float = 0.5) -> torch.Tensor:
    """m_c = K · N_c^{-1/4} with K such that max_c m_c = ``max_margin`` (empty classes: N = 1)."""
    raw = class_counts.float().clamp(min=1.0).pow(-0.25)
    return raw * (max_margin / raw.max())


def cosine_head_spec(spec: dict, num_classes: int, scale: float) -> dict:
    """``spec`` with its head replaced by a cosine head of the given scale."""
    spec = copy.deepcopy(spec)
    spec["head"] = {"name": "cosine", "num_classes": num_classes, "scale": float(scale)}
    return spec


@METHODS.register("ldam-drw")
class LDAMDRW(DeferredReweighting, LongTailMethod):
    """LDAM margins m_c ∝ N_c^{-1/4} on a cosine classifier, with DRW (Cao et al. 2019)."""

    summary = "LDAM margins, cosine classifier, DRW (Cao et al. 2019)"

    def __init__(
        self,
        context: MethodContext,
        max_margin: float = 0.5,
        scale: float = 30.0,
        drw_epoch: int | None = None,
        beta: float = DEFAULT_BETA,
        head_scale: float | None = None,
    ):
        super().__init__(context)
        if max_margin < 0:
            raise ValueError(f"max_margin must be at least 0, got {max_margin}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        self.head_scale = float(scale if head_scale is None else head_scale)
        if self.head_scale <= 0:
            raise ValueError(f"head_scale must be positive, got {self.head_scale}")
        self._init_drw(drw_epoch, beta)
        self.register_buffer("margins", ldam_margins(self.class_counts, self.max_margin))
        self.save_hparams(
            max_margin=self.max_margin, scale=self.scale, drw_epoch=self.drw_epoch,
            beta=self.beta, head_scale=self.head_scale,
        )

    def adjust_model_spec(self, spec: dict) -> dict:
        return cosine_head_spec(spec, self.num_classes, self.head_scale)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        cosine = model(inputs) / self.head_scale
        target_mask = F.one_hot(targets, self.num_classes).to(cosine.dtype)
        logits = self.scale * (cosine - target_mask * self.margins)
        loss = F.cross_entropy(logits, targets, weight=self.class_weights)
        return LossOutput(loss, {"ldam": loss.detach()})
