"""Deferred re-weighting (DRW) and cross-entropy with DRW.

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
NeurIPS 2019, Sec. 3.3. Training runs unweighted until the deferred epoch E_d, then every
sample is weighted by the class-balanced weight of its class (Cui et al., CVPR 2019, with the
effective number of samples (1 − β^{N_c}) / (1 − β))::

    w_c = (1 − β) / (1 − β^{N_c}),   rescaled so that Σ_c w_c = C,   β = 0.9999

    L = − Σ_i w_{y_i} log softmax(z_i)_{y_i} / Σ_i w_{y_i}      (epoch ≥ E_d)
    L = −(1/|B|) Σ_i log softmax(z_i)_{y_i}                      (epoch < E_d)

The weighted form is PyTorch's (and the official code's) weighted mean, which divides by the
sum of the batch's weights. E_d defaults to int(0.8 · epochs) (160 of 200 in the paper).
A class with no training sample is counted as having one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext

__all__ = ["CrossEntropyDRW", "DeferredReweighting", "drw_class_weights", "deferred_epoch"]

DEFAULT_BETA = 0.9999


def drw_class_weights(class_counts: torch.Tensor, beta: float = DEFAULT_BETA) -> torch.Tensor:
    """w_c = (1 − β) / (1 − β^{N_c}), rescaled to Σ_c w_c = C (empty classes count as one)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = class_counts.double().clamp(min=1.0)
    weights = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    weights = weights / weights.sum() * counts.numel()
    return weights.to(class_counts.dtype if class_counts.is_floating_point() else torch.float32)


def deferred_epoch(num_epochs: int, fraction: float) -> int:
    """The default 0-based epoch at which a deferred schedule starts: int(fraction · epochs)."""
    return int(fraction * num_epochs)


class DeferredReweighting:
    """Mixin for methods with DRW: call :meth:`_init_drw` in ``__init__``; after
    ``on_epoch_start(epoch)``, :attr:`class_weights` is None before ``drw_epoch`` and the DRW
    weights (a buffer, so on the method's device) from it on."""

    drw_epoch: int
    drw_weights: torch.Tensor

    def _init_drw(self, drw_epoch: int | None, beta: float) -> None:
        if drw_epoch is None:
            drw_epoch = deferred_epoch(self.context.num_epochs, 0.8)
        if drw_epoch < 0:
            raise ValueError(f"drw_epoch must be at least 0, got {drw_epoch}")
        self.drw_epoch = int(drw_epoch)
        self.beta = float(beta)
        self.register_buffer("drw_weights", drw_class_weights(self.class_counts, self.beta))

    @property
    def drw_active(self) -> bool:
        return self.epoch >= self.drw_epoch

    @property
    def class_weights(self) -> torch.Tensor | None:
        """The per-class loss weights of the current epoch (None: unweighted)."""
        return self.drw_weights if self.drw_active else None


@METHODS.register("ce-drw")
class CrossEntropyDRW(DeferredReweighting, LongTailMethod):
    """Cross-entropy, class-balanced re-weighted from epoch ``drw_epoch`` on (Cao et al. 2019)."""

    summary = "CE with deferred re-weighting, DRW (Cao et al. 2019)"

    def __init__(
        self, context: MethodContext, drw_epoch: int | None = None, beta: float = DEFAULT_BETA
    ):
        super().__init__(context)
        self._init_drw(drw_epoch, beta)
        self.save_hparams(drw_epoch=self.drw_epoch, beta=self.beta)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        loss = F.cross_entropy(model(inputs), targets, weight=self.class_weights)
        return LossOutput(loss, {"ce": loss.detach()})
