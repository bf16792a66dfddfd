"""Plain cross-entropy, the baseline every long-tail method is measured against."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext


@METHODS.register("ce")
class CrossEntropy(LongTailMethod):
    """L = -(1/|B|) Σ_i log softmax(g(f(x_i)))_{y_i}; no re-balancing of any kind."""

    summary = "cross-entropy (the baseline)"

    def __init__(self, context: MethodContext, label_smoothing: float = 0.0):
        super().__init__(context)
        self.label_smoothing = label_smoothing
        self.save_hparams(label_smoothing=label_smoothing)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        loss = F.cross_entropy(model(inputs), targets, label_smoothing=self.label_smoothing)
        return LossOutput(loss, {"ce": loss.detach()})
