"""Two-stage classifier re-training with over-smoothed targets: LOS and LORT.

Both methods are decoupled training (Kang et al. 2020) as re-examined by Lu, Sun et al.:

* stage 1 trains the whole model with plain cross-entropy (the representation);
* stage 2 (the Trainer's :class:`~zincfluor.methods.base.Stage2Config`) freezes the backbone and
  re-trains only the classifier head on the cached features, 20 epochs, SGD lr 5e-4, momentum 0.9,
  weight decay 0, cosine annealing, with cross-entropy against a soft target t:
  L = -(1/|B|) Σ_i Σ_c t_c(y_i) log softmax(z_i)_c.

**LOS** ("Label Over-Smooth", Sun, Lu et al., ICLR 2025, "Rethinking Classifier Re-Training in
Long-Tailed Recognition: Label Over-Smooth Can Balance"): label smoothing with a very large
factor ε (0.98), t = (1 - ε)·onehot(y) + ε/C, so the true class gets a probability only slightly
above 1/C and every other class slightly below. No class counts are used. This is the released
code's stage 2 (``nn.CrossEntropyLoss(label_smoothing=ε)`` on the classifier only).

**LORT** ("Logits Retargeting", arXiv 2403.00250v1, the same authors' earlier version): the
one-hot label is divided into a *small true-label probability* and a *large negative-label
probability spread over the other classes*. Read here as t_y = 1 - δ and t_c = δ/(C - 1) for
c ≠ y. Only the paper's abstract could be read (its method section was not reachable), so this
reading rests on the abstract's wording; note that it is the same family of targets as LOS
(δ = ε(C - 1)/C gives exactly the LOS target), with the negative mass spread over the C - 1
wrong classes instead of all C. What matters for training is the target logit gap
log(t_y / t_c) = log((1 - δ)(C - 1)/δ), which cross-entropy drives z_y - z_c towards; it must be
positive, so δ must stay below (C - 1)/C (0.875 for 8 classes: a CIFAR-100 value such as 0.98
would invert the target with 8 classes and is rejected). A fixed δ therefore does not carry over
between class counts; the default (``delta=None``) keeps the logit gap of δ = 0.98 at C = 100,
log(0.02 · 99 / 0.98) ≈ 0.70, i.e. δ = (C - 1)/(C - 1 + 1.98/0.98): 0.776 for C = 8, 0.98 for
C = 100. That default is this project's reading (δ = 0.98 is the LOS paper's smoothing value
carried over), not a number the LORT text gives; LOS at ε = 0.98 and C = 8 has a gap of ≈ 0.15.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext, Stage2Config

__all__ = ["LabelOverSmooth", "LogitsRetargeting", "default_delta", "soft_target_cross_entropy"]

# target logit gap log(t_y / t_c) of δ = 0.98 with 100 classes: log(0.02 · 99 / 0.98)
_DEFAULT_RATIO = (1.0 - 0.98) * 99 / 0.98


def default_delta(num_classes: int) -> float:
    """δ giving C classes the target ratio t_y/t_c of δ = 0.98 at C = 100 (≈ e^0.70)."""
    return (num_classes - 1) / (num_classes - 1 + _DEFAULT_RATIO)


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-(1/B) Σ_i Σ_c t_ic log softmax(z_i)_c for a (B, C) matrix of target probabilities."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class _TwoStage(LongTailMethod):
    """Stage 1 plain CE; stage 2 CE against :meth:`stage2_target` on the head alone."""

    def __init__(
        self,
        context: MethodContext,
        stage2_epochs: int,
        stage2_lr: float,
        stage2_weight_decay: float,
        stage2_momentum: float,
        stage2_batch_size: int | None,
    ):
        super().__init__(context)
        self.stage2 = Stage2Config(
            epochs=stage2_epochs,
            lr=stage2_lr,
            weight_decay=stage2_weight_decay,
            momentum=stage2_momentum,
            batch_size=stage2_batch_size,
        )
        self.save_hparams(
            stage2_epochs=stage2_epochs,
            stage2_lr=stage2_lr,
            stage2_weight_decay=stage2_weight_decay,
            stage2_momentum=stage2_momentum,
            stage2_batch_size=stage2_batch_size,
        )

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        loss = F.cross_entropy(model(inputs), targets)
        return LossOutput(loss, {"ce": loss.detach()})

    def stage2_target(self, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def stage2_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> LossOutput:
        loss = soft_target_cross_entropy(logits, self.stage2_target(targets).to(logits.dtype))
        return LossOutput(loss, {"retarget_ce": loss.detach()})


@METHODS.register("los")
class LabelOverSmooth(_TwoStage):
    """Decoupled training; stage 2 re-trains the head with t = (1 - ε)·onehot + ε/C, ε = 0.98."""

    summary = "label over-smooth: CE, then head re-training with label smoothing 0.98 (two-stage)"

    def __init__(
        self,
        context: MethodContext,
        label_smoothing: float = 0.98,
        stage2_epochs: int = 20,
        stage2_lr: float = 5e-4,
        stage2_weight_decay: float = 0.0,
        stage2_momentum: float = 0.9,
        stage2_batch_size: int | None = None,
    ):
        super().__init__(
            context, stage2_epochs, stage2_lr, stage2_weight_decay, stage2_momentum,
            stage2_batch_size,
        )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1)")
        self.label_smoothing = label_smoothing
        self.save_hparams(label_smoothing=label_smoothing)

    def stage2_target(self, targets: torch.Tensor) -> torch.Tensor:
        eps, c = self.label_smoothing, self.num_classes
        onehot = F.one_hot(targets, c).float()
        return (1.0 - eps) * onehot + eps / c


@METHODS.register("lort")
class LogitsRetargeting(_TwoStage):
    """Decoupled training; stage 2 re-trains the head with t_y = 1 - δ, t_c = δ/(C - 1)."""

    summary = "logits retargeting: CE, then head re-training on a retargeted label (two-stage)"

    def __init__(
        self,
        context: MethodContext,
        delta: float | None = None,
        stage2_epochs: int = 20,
        stage2_lr: float = 5e-4,
        stage2_weight_decay: float = 0.0,
        stage2_momentum: float = 0.9,
        stage2_batch_size: int | None = None,
    ):
        super().__init__(
            context, stage2_epochs, stage2_lr, stage2_weight_decay, stage2_momentum,
            stage2_batch_size,
        )
        c = self.num_classes
        if c < 2:
            raise ValueError("LORT needs at least two classes")
        self.save_hparams(delta=delta)
        if delta is None:
            delta = default_delta(c)
        if not 0.0 <= delta < (c - 1) / c:
            raise ValueError(
                f"delta must be in [0, (C-1)/C) = [0, {(c - 1) / c:.4f}) for {c} classes, so "
                f"the true class keeps the largest target probability; got {delta}"
            )
        self.delta = float(delta)

    def stage2_target(self, targets: torch.Tensor) -> torch.Tensor:
        delta, c = self.delta, self.num_classes
        onehot = F.one_hot(targets, c).float()
        return onehot * (1.0 - delta) + (1.0 - onehot) * (delta / (c - 1))
