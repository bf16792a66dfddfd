"""MORE, model rebalancing (Luo, Hong et al., "Long-tailed Recognition with Model Rebalancing",
arXiv 2510.08177, 2025).

MORE rebalances the *parameter space* rather than the data or the loss: every linear and
convolution weight of the backbone is reparameterised as a general component plus a low-rank one,

    W = W_g + B A,     B ∈ R^{m×r} (initialised to 0),  A ∈ R^{r×k} (random),
    r = ceil(rank_ratio · min(m, k)),  rank_ratio = 0.1,

with m the output and k the input size of the weight seen as a matrix (a convolution kernel
[out, in/groups, *kernel] is the matrix [out, in/groups · prod(kernel)]). The covered modules are
``torch.nn.Linear``, ``torch.nn.Conv1d/2d/3d`` and PyG's ``dense.linear.Linear`` (the linear
map inside ``GCNConv``); only ``model.backbone`` is touched, not the classifier or projection
heads.

The loss adds to a base loss a *discrepancy* between the model with and without the low-rank
part, weighted by the class prior, under a sinusoidal schedule::

    M(x)  = ‖f(x; W_g + BA) − f(x; W_g)‖²             (squared L2 distance of the logits)
    L     = L_base + α(t) · (1/|B|) Σ_i π_{y_i} M(x_i),    π_c = N_c / N
    α(t)  = A · sin(π t / T),  A = 2C (``amplitude``),  t the iteration, T = epochs · steps

Weighting by π_y penalises the discrepancy most on head samples, so the low-rank component may
change the function for tail samples but must leave head predictions to W_g: part of the model's
capacity is reserved for the tail. α rises from 0, peaks mid-training and returns to 0, so the
model is free at the start and the end. ``base`` is the logit-adjusted loss
CE(z + τ log π, y) (``"la"``, default) or plain CE (``"ce"``).

Is W_g trained? Yes. MORE trains the network from scratch on the long-tailed data (its CIFAR-LT
and ImageNet-LT results are trained from random initialisation), so W_g cannot be a frozen
pretrained weight: W_g and (A, B) are trained together, which is what makes the discrepancy a
*rebalancing* of one model's parameters and not an adapter on a fixed model. The paper's
CLIP fine-tuning experiments are the exception not covered here.

Implementation choices (not fixed by the paper, documented here):

* the W_g-only pass runs first, with batch-norm running statistics not updated (the kept
  statistics are those of the full model W_g + BA, which is what is deployed) and with the same
  random numbers (dropout masks) as the full pass (``torch.random.fork_rng``), so that M(x)
  measures the low-rank part and not dropout noise;
* the gradient flows through both passes (into W_g and into BA);
* t counts the batches seen in the epochs so far; α is clamped at 0 beyond T.

``finalize`` merges BA into W (W ← W_g + BA) and puts the plain modules back, so the trained
model has exactly the spec's modules and state-dict keys; the inference cost is unchanged.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch_geometric.nn.dense.linear import Linear as PygLinear

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.logit_adjustment import log_prior

__all__ = ["LowRankWeight", "ModelRebalancing", "add_low_rank", "merge_low_rank", "low_rank"]

_LINEAR_TYPES = (nn.Linear, PygLinear)
_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def low_rank(rank_ratio: float, m: int, k: int) -> int:
    """r = ceil(rank_ratio · min(m, k)), at least 1 (rounded first: 0.1 · 130 is 13, not 14)."""
    return max(1, math.ceil(round(rank_ratio * min(m, k), 6)))


class LowRankWeight(nn.Module):
    """Wraps a linear or convolution module: its weight becomes W_g + B A while ``enabled``.

    ``base`` keeps W_g (its own ``weight``) and bias; B [m, r] starts at zero, so the wrapped
    module computes exactly what the original did until B is trained; A [r, k] is initialised
    like a linear layer's weight (Kaiming uniform, a = √5).
    """

    def __init__(self, base: nn.Module, rank_ratio: float):
        super().__init__()
        if not isinstance(base, _LINEAR_TYPES + _CONV_TYPES):
            raise TypeError(f"cannot add a low-rank part to {type(base).__name__}")
        weight = base.weight
        if isinstance(weight, nn.parameter.UninitializedParameter):
            raise ValueError("lazy (uninitialised) layers cannot get a low-rank part")
        m, k = weight.shape[0], weight[0].numel()
        r = low_rank(rank_ratio, m, k)
        self.base = base
        self.B = nn.Parameter(torch.zeros(m, r, dtype=weight.dtype, device=weight.device))
        self.A = nn.Parameter(torch.empty(r, k, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.enabled = True

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    def delta(self) -> torch.Tensor:
        """B A in the shape of the base weight."""
        return (self.B @ self.A).view_as(self.base.weight)

    def weight(self) -> torch.Tensor:
        w = self.base.weight
        return w + self.delta() if self.enabled else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.base, _CONV_TYPES):
            return self.base._conv_forward(x, self.weight(), self.base.bias)
        return F.linear(x, self.weight(), self.base.bias)

    def reset_parameters(self) -> None:
        self.base.reset_parameters()
        nn.init.zeros_(self.B)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    @torch.no_grad()
    def merged(self) -> nn.Module:
        """The base module with W ← W_g + B A (in place), ready to replace this wrapper."""
        self.base.weight.add_(self.delta())
        return self.base

    def extra_repr(self) -> str:
        return f"rank={self.rank}"


def add_low_rank(module: nn.Module, rank_ratio: float) -> list[LowRankWeight]:
    """Replace every linear/convolution submodule of ``module`` by a :class:`LowRankWeight`."""
    targets = [
        (parent, name, child)
        for parent in module.modules()
        if not isinstance(parent, LowRankWeight)
        for name, child in parent.named_children()
        if isinstance(child, _LINEAR_TYPES + _CONV_TYPES)
    ]
    wrappers = []
    for parent, name, child in targets:
        wrapper = LowRankWeight(child, rank_ratio)
        setattr(parent, name, wrapper)
        wrappers.append(wrapper)
    return wrappers


@torch.no_grad()
def merge_low_rank(module: nn.Module) -> int:
    """Merge every :class:`LowRankWeight` of ``module`` into its plain module; returns how many."""
    targets = [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if isinstance(child, LowRankWeight)
    ]
    for parent, name, child in targets:
        child.enabled = True
        setattr(parent, name, child.merged())
    return len(targets)


@contextmanager
def _general_component_only(model: nn.Module, wrappers: list[LowRankWeight]):
    """f(x; W_g): low-rank parts off, batch-norm running statistics left alone."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    for w in wrappers:
        w.enabled = False
    for m in norms:
        m.track_running_stats = False  # in train mode: batch statistics, no update
    try:
        yield
    finally:
        for w in wrappers:
            w.enabled = True
        for m in norms:
            m.track_running_stats = True


@METHODS.register("more")
class ModelRebalancing(LongTailMethod):
    """L = L_base + A sin(πt/T) · mean(π_y ‖f(x; W_g + BA) − f(x; W_g)‖²); see the module doc."""

    summary = "model rebalancing: low-rank backbone parts with a prior-weighted discrepancy"

    def __init__(
        self,
        context: MethodContext,
        rank_ratio: float = 0.1,
        amplitude: float | None = None,
        base: str = "la",
        tau: float = 1.0,
    ):
        super().__init__(context)
        if base not in ("la", "ce"):
            raise ValueError(f"base must be 'la' or 'ce', got {base!r}")
        if not 0.0 < rank_ratio <= 1.0:
            raise ValueError("rank_ratio must be in (0, 1]")
        self.rank_ratio = float(rank_ratio)
        self.amplitude = float(amplitude) if amplitude is not None else 2.0 * self.num_classes
        self.base = base
        self.tau = float(tau)
        self.total_steps = max(1, context.num_epochs * context.steps_per_epoch)
        self._batch = 0
        self._wrappers: list[LowRankWeight] = []
        counts = self.class_counts
        self.register_buffer("prior", counts / counts.sum().clamp(min=1.0))
        self.register_buffer("adjustment", self.tau * log_prior(counts))
        self.save_hparams(rank_ratio=rank_ratio, amplitude=amplitude, base=base, tau=tau)

    def configure_model(self, model: nn.Module) -> nn.Module:
        backbone = getattr(model, "backbone", None)
        if backbone is None:
            raise ValueError("MORE needs a model with a `backbone` module")
        self._wrappers = add_low_rank(backbone, self.rank_ratio)
        if not self._wrappers:
            raise ValueError("MORE found no linear or convolution layer in the backbone")
        return model

    def finalize(self, model: nn.Module) -> nn.Module:
        merge_low_rank(model)
        self._wrappers = []
        return model

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._batch = 0

    def alpha(self, step: int) -> float:
        """α(t) = A sin(π t / T), 0 beyond T."""
        t = min(max(step, 0), self.total_steps)
        return self.amplitude * math.sin(math.pi * t / self.total_steps)

    def discrepancy(self, logits: torch.Tensor, general_logits: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
        """(1/|B|) Σ_i π_{y_i} ‖z_i − z_i^g‖²."""
        distance = (logits - general_logits).pow(2).sum(dim=1)
        return (self.prior[targets].to(distance.dtype) * distance).mean()

    def base_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.base == "la":
            logits = logits + self.adjustment.to(logits.dtype)
        return F.cross_entropy(logits, targets)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        step = self.epoch * self.context.steps_per_epoch + self._batch
        self._batch += 1
        alpha = self.alpha(step)
        device = targets.device
        rng_devices = [device] if device.type == "cuda" else []
        # the W_g pass first, replaying its random numbers (dropout) for the full pass
        with torch.random.fork_rng(devices=rng_devices), _general_component_only(
            model, self._wrappers
        ):
            general_logits = model(inputs)
        logits = model(inputs)
        base = self.base_loss(logits, targets)
        discrepancy = self.discrepancy(logits, general_logits, targets)
        loss = base + alpha * discrepancy
        return LossOutput(
            loss,
            {"base": base.detach(), "discrepancy": discrepancy.detach(),
             "alpha": torch.tensor(alpha)},
        )
