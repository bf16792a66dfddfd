"""RCL and BCL-RCL: the Rebalanced Contrastive Loss (De Alvis, Denipitiyage & Seneviratne,
"Long-Tail Learning with Rebalanced Contrastive Loss", 2023).

Each batch x gets a random view x' = augment(x); z are the normalised projections of x and x'.

``rcl``::

    L = α · L_LA + β · L_RCL          (α = 2, β = 1, τ = 0.1, τ_LA = 1.3 by default)

* L_LA = CE(g(f(x)) + τ_LA · log π, y), the logit-adjusted CE (π_c = N_c / Σ N).
* L_RCL, SupCon over the 2|B| embeddings whose softmax is Balanced Softmax's: each key k is
  weighted by the training count N_{y_k} of its class, in the numerator and the denominator
  (:func:`~zincfluor.methods.contrastive.rebalanced_contrastive_loss`).
* Class-wise feature scaling for intra-class compactness (:class:`CompactnessScaling`): from
  half of training on (0-based epoch ≥ ⌊``compact_start`` · epochs⌋), the classes whose
  validation accuracy (recall, confusion[c, c] / Σ_p confusion[c, p], from the latest
  :meth:`~zincfluor.methods.base.LongTailMethod.on_validation_end`) is above
  ``compact_threshold`` = 20 % have their embeddings multiplied by the compression factor κ
  (``compression``, 0.005) *after* L2 normalisation, before the contrastive loss.

  How "scaled by" is read here: z_i ← κ · z_i, a plain multiplication of the feature vector
  (not a division, and not 1 − κ), for every row i of such a class, wherever the row enters
  the loss, as anchor and as key. The dot products of a scaled row shrink by κ (by κ² between
  two scaled rows), so that anchor's softmax over keys is nearly flat and cannot saturate: the
  loss keeps a small, steady pull of its positives together instead of stopping once the class
  is separated. Classes without validation samples are never scaled; before the first
  validation no class is.

  Which side is compressed is a reading (``compact_side``): the paper contradicts itself. Its
  §4.3 scales the classes whose validation accuracy is *above* the threshold ("above", the
  default: well-separated classes are made compact); its §3.3.2 the classes *below* it
  ("below": the poorly learned, mostly tail, classes). With "below" a class qualifies when
  0 ≤ accuracy < threshold and it has validation samples.

``bcl-rcl``: BCL (:class:`~zincfluor.methods.bcl.BCL`, same defaults: α = 2, β = 0.6,
τ_LA = 1) plus the same RCL term, computed on the same two-view embeddings (without the BCL
prototypes) with its own weight::

    L = α · L_LA + β · L_BCL + β_RCL · L_RCL        (β_RCL = ``rcl_weight`` = 1)

Loss parts logged (before the weights): ``la_ce`` and ``rcl``; ``bcl-rcl`` adds ``bcl``.
Both take ``view`` and ``view_rates`` (the second view; None: the run's view maker), as ``bcl``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.bcl import BCL
from zincfluor.methods.contrastive import (
    rebalanced_contrastive_loss,
    two_view_step,
    view_hparams,
    view_maker,
    with_projection,
)
from zincfluor.methods.logit_adjustment import log_prior

__all__ = ["RCL", "BCLRCL", "CompactnessScaling", "COMPACT_SIDES"]

COMPACT_SIDES = ("above", "below")
"""Readings of which classes RCL compresses: accuracy above the threshold (§4.3) or below
(§3.3.2)."""


class CompactnessScaling(nn.Module):
    """Which classes get their embeddings scaled by κ, and from when (see the module docstring).

    Parameters
    ----------
    num_classes, num_epochs : of the run
    factor : κ, the compression factor
    threshold : the validation accuracy that splits qualifying classes from the others
    start : fraction of training after which scaling applies (epoch ≥ ⌊start · epochs⌋)
    side : "above" (accuracy > threshold qualifies, §4.3) or "below" (accuracy < threshold,
        §3.3.2); classes without validation samples never qualify
    """

    def __init__(
        self,
        num_classes: int,
        num_epochs: int,
        factor: float = 0.005,
        threshold: float = 0.2,
        start: float = 0.5,
        side: str = "above",
    ):
        super().__init__()
        if factor <= 0:
            raise ValueError("the compression factor must be positive")
        if side not in COMPACT_SIDES:
            raise ValueError(f"compact_side must be one of {COMPACT_SIDES}, got {side!r}")
        self.side = side
        self.factor = float(factor)
        self.threshold = float(threshold)
        self.start_epoch = int(start * num_epochs)
        self.register_buffer("compact", torch.zeros(num_classes, dtype=torch.bool))

    def update(self, confusion: np.ndarray) -> None:
        """Set the qualifying classes from a validation confusion matrix [true, pred]."""
        confusion = np.asarray(confusion, dtype=np.float64)
        totals = confusion.sum(axis=1)
        accuracy = np.divide(
            np.diag(confusion), totals, out=np.zeros_like(totals), where=totals > 0
        )
        beyond = accuracy > self.threshold if self.side == "above" else accuracy < self.threshold
        qualifying = torch.from_numpy((totals > 0) & beyond)
        self.compact.copy_(qualifying.to(self.compact.device))

    def scale(self, labels: torch.Tensor, epoch: int) -> torch.Tensor | None:
        """Per-row factors [n] (κ or 1) for rows of class ``labels`` at ``epoch``; None before
        the start epoch."""
        if epoch < self.start_epoch:
            return None
        factor = torch.full(labels.shape, self.factor, device=labels.device)
        return torch.where(self.compact[labels], factor, torch.ones_like(factor))


class _RebalancedTerm(nn.Module):
    """The RCL term with its compactness schedule, shared by ``rcl`` and ``bcl-rcl``."""

    def __init__(
        self, context: MethodContext, temperature, compression, threshold, start, side="above"
    ):
        super().__init__()
        self.temperature = float(temperature)
        self.register_buffer("log_prior", log_prior(context.class_counts))
        self.scaling = CompactnessScaling(
            context.num_classes, context.num_epochs, compression, threshold, start, side
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor, epoch: int) -> torch.Tensor:
        scale = self.scaling.scale(labels, epoch)
        return rebalanced_contrastive_loss(z, labels, self.log_prior, self.temperature, scale)


@METHODS.register("rcl")
class RCL(LongTailMethod):
    """α · logit-adjusted CE + β · rebalanced SupCon with class-wise compactness scaling.

    Parameters (all recorded as hyperparameters)
    ----------
    alpha, beta : weights of the logit-adjusted CE and of the RCL term
    temperature : τ of the contrastive loss
    la_tau : τ of the logit adjustment
    compression : κ, the factor of the compactness scaling
    compact_threshold : validation accuracy above which a class is scaled
    compact_start : fraction of training after which the scaling applies
    compact_side : which classes are scaled, "above" the threshold (§4.3, default) or "below"
        (§3.3.2)
    view, view_rates : the second view's name and rates (None: the run's view maker)
    """

    summary = "rebalanced contrastive loss: logit-adjusted CE + balanced-softmax SupCon"

    def __init__(
        self,
        context: MethodContext,
        alpha: float = 2.0,
        beta: float = 1.0,
        temperature: float = 0.1,
        la_tau: float = 1.3,
        compression: float = 0.005,
        compact_threshold: float = 0.2,
        compact_start: float = 0.5,
        compact_side: str = "above",
        view: str | None = None,
        view_rates: dict[str, float] | None = None,
    ):
        super().__init__(context)
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.augment = view_maker(context.augment, view, view_rates, "rcl")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.register_buffer("adjustment", float(la_tau) * log_prior(self.class_counts))
        self.rcl = _RebalancedTerm(
            context, temperature, compression, compact_threshold, compact_start, compact_side
        )
        self.save_hparams(
            alpha=self.alpha, beta=self.beta, temperature=float(temperature),
            la_tau=float(la_tau), compression=float(compression),
            compact_threshold=float(compact_threshold), compact_start=float(compact_start),
            compact_side=compact_side, **view_hparams(view, self.augment),
        )

    def adjust_model_spec(self, spec: dict) -> dict:
        return with_projection(spec)

    def on_validation_end(self, epoch: int, confusion: np.ndarray) -> None:
        self.rcl.scaling.update(confusion)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        step = two_view_step(model, inputs, targets, self.augment)
        la_ce = F.cross_entropy(step.logits + self.adjustment, targets)
        rcl = self.rcl(step.z, step.labels, self.epoch)
        loss = self.alpha * la_ce + self.beta * rcl
        return LossOutput(loss, {"la_ce": la_ce.detach(), "rcl": rcl.detach()})


@METHODS.register("bcl-rcl")
class BCLRCL(BCL):
    """BCL plus the RCL term on the same embeddings: α·LA + β·BCL + β_RCL·RCL.

    Parameters: those of :class:`~zincfluor.methods.bcl.BCL`, plus ``rcl_weight`` (β_RCL),
    ``compression``, ``compact_threshold``, ``compact_start`` and ``compact_side`` as in
    :class:`RCL`; the RCL term uses BCL's ``temperature``.
    """

    summary = "BCL + the rebalanced contrastive loss (RCL) term"

    def __init__(
        self,
        context: MethodContext,
        alpha: float = 2.0,
        beta: float = 0.6,
        temperature: float = 0.1,
        la_tau: float = 1.0,
        rcl_weight: float = 1.0,
        compression: float = 0.005,
        compact_threshold: float = 0.2,
        compact_start: float = 0.5,
        compact_side: str = "above",
        view: str | None = None,
        view_rates: dict[str, float] | None = None,
    ):
        super().__init__(context, alpha, beta, temperature, la_tau, view, view_rates)
        self.rcl_weight = float(rcl_weight)
        self.rcl = _RebalancedTerm(
            context, temperature, compression, compact_threshold, compact_start, compact_side
        )
        self.save_hparams(
            rcl_weight=self.rcl_weight, compression=float(compression),
            compact_threshold=float(compact_threshold), compact_start=float(compact_start),
            compact_side=compact_side,
        )

    def on_validation_end(self, epoch: int, confusion: np.ndarray) -> None:
        self.rcl.scaling.update(confusion)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        out, step = self.bcl_step(model, inputs, targets)
        rcl = self.rcl(step.z, step.labels, self.epoch)
        out.parts["rcl"] = rcl.detach()
        return LossOutput(out.loss + self.rcl_weight * rcl, out.parts)
