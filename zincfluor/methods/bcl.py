"""BCL: Balanced Contrastive Learning (Zhu et al., "Balanced Contrastive Learning for
Long-Tailed Visual Recognition", CVPR 2022).

Each batch x gets a random view x' = augment(x). The loss is::

    L = α · L_LA + β · L_BCL          (α = 2.0, β = 0.6, τ = 0.1 by default)

* L_LA, the logit-adjusted cross-entropy of the classifier on x (Menon et al. 2021):
  CE(g(f(x)) + τ_LA · log π, y), π_c = N_c / Σ N, τ_LA = 1 (``la_tau``, as the BCL code).
* L_BCL, the balanced supervised contrastive loss over the 2|B| embeddings
  z = normalize(projection(f(·))) of x and x'
  (:func:`~zincfluor.methods.contrastive.balanced_contrastive_loss`):

  - *class-complement*: the C class prototypes join every batch as extra keys (never as
    anchors). Prototype c is normalize(MLP(w_c)), w_c the classifier's weight row of class c
    and MLP = Linear(d, d) → BatchNorm → ReLU → Linear(d, d_z), as in the authors' code. The MLP
    belongs to this method (it is built in :meth:`BCL.configure_model`, trained with the model,
    and not part of the saved classifier, which needs no prototypes to predict); the gradient
    also reaches the classifier's weights.
  - *class-averaging*: in anchor i's denominator the keys of each class c are averaged
    (divided by how many keys of class c the anchor sees, prototypes included, itself
    excluded), so a class's weight in the denominator no longer grows with its batch count.

The paper takes the CE logits from a third, differently augmented view; here the classifier
sees the original x and the contrastive loss the two views x and x' (the run's view maker is the
only augmentation). Loss parts logged: ``la_ce`` and ``bcl``, before α and β.

Views: ``view`` None (default) uses the run's view maker (for molecules the ``legacy`` view);
a name picks a label-preserving molecular view of :mod:`zincfluor.nn.views` with ``view_rates``
(:func:`~zincfluor.methods.contrastive.view_maker`). The default stays the run's view until a
validation search picks another. ``rcl``, ``bcl-rcl``, ``bscl-sor`` and ``reb-supcon`` take
the same two parameters.

A model spec without a projection head gets the default one
(:func:`~zincfluor.methods.contrastive.with_projection`); ``rcl`` and ``bcl-rcl`` do the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.contrastive import (
    TwoViewStep,
    balanced_contrastive_loss,
    two_view_step,
    view_hparams,
    view_maker,
    with_projection,
)
from zincfluor.methods.logit_adjustment import log_prior

__all__ = ["BCL"]


def _last_linear_out(module: nn.Module) -> int:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("cannot tell the projection head's output size (it has no nn.Linear)")
    return linears[-1].out_features


@METHODS.register("bcl")
class BCL(LongTailMethod):
    """α · logit-adjusted CE + β · balanced contrastive loss with class prototypes.

    Parameters (all recorded as hyperparameters)
    ----------
    alpha, beta : weights of the logit-adjusted CE and of the BCL term
    temperature : τ of the contrastive loss
    la_tau : τ of the logit adjustment (logits + la_tau · log π)
    view, view_rates : the second view's name and rates (None: the run's view maker)
    """

    summary = "balanced contrastive learning: logit-adjusted CE + class-averaged SupCon (Zhu 2022)"

    def __init__(
        self,
        context: MethodContext,
        alpha: float = 2.0,
        beta: float = 0.6,
        temperature: float = 0.1,
        la_tau: float = 1.0,
        view: str | None = None,
        view_rates: dict[str, float] | None = None,
    ):
        super().__init__(context)
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.augment = view_maker(context.augment, view, view_rates, self._name())
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.temperature = float(temperature)
        self.la_tau = float(la_tau)
        self.register_buffer("adjustment", self.la_tau * log_prior(self.class_counts))
        self.prototype_head: nn.Module | None = None
        self.save_hparams(
            alpha=self.alpha, beta=self.beta, temperature=self.temperature, la_tau=self.la_tau,
            **view_hparams(view, self.augment),
        )

    def _name(self) -> str:
        return getattr(type(self), "registry_name", type(self).__name__)

    def adjust_model_spec(self, spec: dict) -> dict:
        return with_projection(spec)

    def configure_model(self, model: nn.Module) -> nn.Module:
        """Build the prototype MLP for this model's classifier width and embedding size."""
        weight = getattr(model.head, "weight", None)
        if weight is None or weight.dim() != 2:
            raise ValueError(f"{self._name()} needs a classifier head with a [C, d] weight")
        if getattr(model, "projection", None) is None:
            raise ValueError(f"{self._name()} needs a model with a projection head")
        width, out_dim = weight.shape[1], _last_linear_out(model.projection)
        self.prototype_head = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.Linear(width, out_dim),
        ).to(self.class_counts.device)
        return model

    def prototypes(self, model: nn.Module) -> torch.Tensor:
        """normalize(MLP(w_c)) for every class c: [C, d_z]."""
        if self.prototype_head is None:
            raise RuntimeError("call configure_model(model) before training (it builds the MLP)")
        return F.normalize(self.prototype_head(model.head.weight), dim=1)

    def bcl_step(self, model, inputs, targets: torch.Tensor) -> tuple[LossOutput, TwoViewStep]:
        """The BCL loss and the forward pass it came from (for methods built on top of BCL)."""
        step = two_view_step(model, inputs, targets, self.augment)
        la_ce = F.cross_entropy(step.logits + self.adjustment, targets)
        bcl = balanced_contrastive_loss(
            step.z, step.labels, self.prototypes(model), self.temperature
        )
        loss = self.alpha * la_ce + self.beta * bcl
        return LossOutput(loss, {"la_ce": la_ce.detach(), "bcl": bcl.detach()}), step

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        return self.bcl_step(model, inputs, targets)[0]
