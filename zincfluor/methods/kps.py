"""Key point sensitive (KPS) loss with gradient adjustment (GA).

Li, Cheung and Hu, "Key Point Sensitive Loss for Long-Tailed Visual Recognition", IEEE TPAMI
45(4), 2023 (official code: github.com/Keke921/KPSLoss). The classifier is normalised (cosine
θ_ij between feature i and class weight j); each class gets a logit scale that grows with log N_j,
and the target logit loses an additive margin that is larger for tail classes.

With N_j the training samples of class j, N_min = min_k N_k and κ = ``count_offset`` (50)::

    a_j = log(κ N_j / N_min) / log κ                 (per-class scale; 1 for the rarest class)
    ã_j = reversed a (large for tail classes, see ``reversal`` below)
    m_j = max_margin · ã_j / max_k ã_k               (margin; max_margin for the rarest class)

    z_ij = S_i · (a_j cos θ_ij − m_{y_i} · [j = y_i])
    L    = −(1/|B|) Σ_i log softmax(z_i)_{y_i}

Before the GA epoch E_ga every sample has the global scale S_i = s. From E_ga on, the gradient
adjustment gives each sample the scale of its class, S_i = clamp(s · ã_{y_i}, s, max_scale):
tail samples get larger scales and so larger gradients, which offsets the excess of negative
(push-away) signals that tail classes receive from head samples.

Defaults are the official CIFAR-LT training script's: s = 15, max_margin = 0.2,
max_scale = 50, κ = 50, GA from epoch 120 of 200 (E_ga = int(0.6 · epochs)). To train without
GA, set ``ga_epoch`` to the number of epochs or more.

Readings chosen where the paper and code leave room (each is an hparam):

* ``reversal`` — the official code gets the tail-large ã by ``torch.flip`` of a, which is only
  meaningful when classes are listed from most to least frequent (true of CIFAR-LT, not of
  fluorescence levels). ``"log"`` (default) reflects a about its range, ã_j = a_max + a_min − a_j
  = log(κ N_max / N_j) / log κ: order-free, decreasing in N_j, and identical to the flip whenever
  the counts fall geometrically (the exponential profile of CIFAR-LT). ``"rank"`` applies the
  flip in count order (sort by N descending, stable for ties), identical to the official code
  whenever the classes are listed in that order.
* the per-class scales a_j and margins enter only the training loss, as in the official code;
  predictions are the argmax of cos θ. The model's cosine head has scale ``head_scale``
  (default s), so its logits s · cos θ give a usable softmax; the loss divides by it.
* empty classes are counted as having one sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.drw import deferred_epoch
from zincfluor.methods.ldam import cosine_head_spec

__all__ = ["KPSLoss", "kps_class_scales", "reverse_scales"]

REVERSALS = ("log", "rank")


def kps_class_scales(class_counts: torch.Tensor, count_offset: float = 50.0) -> torch.Tensor:
    """a_j = log(κ N_j / N_min) / log κ, the per-class logit scales (1 for the rarest class)."""
    if count_offset <= 1.0:
        raise ValueError(f"count_offset must exceed 1, got {count_offset}")
    counts = class_counts.double().clamp(min=1.0)
    scales = torch.log(count_offset * counts / counts.min()) / math.log(count_offset)
    return scales.float()


def reverse_scales(scales: torch.Tensor, class_counts: torch.Tensor, reversal: str) -> torch.Tensor:
    """ã: the scales turned around so that tail classes get the large values (see module doc)."""
    if reversal == "log":
        return scales.max() + scales.min() - scales
    if reversal == "rank":
        order = torch.argsort(class_counts.float(), descending=True, stable=True)
        reversed_scales = torch.empty_like(scales)
        reversed_scales[order] = scales[order].flip(0)
        return reversed_scales
    raise ValueError(f"unknown reversal {reversal!r}; choose one of: {', '.join(REVERSALS)}")


@METHODS.register("kps")
class KPSLoss(LongTailMethod):
    """KPS loss: cosine classifier, log-count class scales, tail-large margins, GA (Li et al.)."""

    summary = "KPS: log-count scales, tail margins, GA (Li et al. 2023)"

    def __init__(
        self,
        context: MethodContext,
        scale: float = 15.0,
        max_margin: float = 0.2,
        max_scale: float = 50.0,
        count_offset: float = 50.0,
        ga_epoch: int | None = None,
        reversal: str = "log",
        head_scale: float | None = None,
    ):
        super().__init__(context)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if max_scale < scale:
            raise ValueError(f"max_scale ({max_scale}) must be at least scale ({scale})")
        if max_margin < 0:
            raise ValueError(f"max_margin must be at least 0, got {max_margin}")
        if ga_epoch is None:
            ga_epoch = deferred_epoch(context.num_epochs, 0.6)
        if ga_epoch < 0:
            raise ValueError(f"ga_epoch must be at least 0, got {ga_epoch}")
        self.scale = float(scale)
        self.max_margin = float(max_margin)
        self.max_scale = float(max_scale)
        self.count_offset = float(count_offset)
        self.ga_epoch = int(ga_epoch)
        self.reversal = reversal
        self.head_scale = float(scale if head_scale is None else head_scale)
        if self.head_scale <= 0:
            raise ValueError(f"head_scale must be positive, got {self.head_scale}")

        class_scales = kps_class_scales(self.class_counts, self.count_offset)
        reversed_scales = reverse_scales(class_scales, self.class_counts, reversal)
        self.register_buffer("class_scales", class_scales)
        self.register_buffer("margins", self.max_margin * reversed_scales / reversed_scales.max())
        self.register_buffer(
            "ga_scales", (self.scale * reversed_scales).clamp(self.scale, self.max_scale)
        )
        self.save_hparams(
            scale=self.scale, max_margin=self.max_margin, max_scale=self.max_scale,
            count_offset=self.count_offset, ga_epoch=self.ga_epoch, reversal=self.reversal,
            head_scale=self.head_scale,
        )

    @property
    def ga_active(self) -> bool:
        return self.epoch >= self.ga_epoch

    def adjust_model_spec(self, spec: dict) -> dict:
        return cosine_head_spec(spec, self.num_classes, self.head_scale)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        cosine = model(inputs) / self.head_scale
        target_mask = F.one_hot(targets, self.num_classes).to(cosine.dtype)
        logits = self.class_scales * cosine - target_mask * self.margins
        if self.ga_active:
            logits = logits * self.ga_scales[targets].unsqueeze(1)
        else:
            logits = logits * self.scale
        loss = F.cross_entropy(logits, targets)
        return LossOutput(loss, {"kps": loss.detach()})
