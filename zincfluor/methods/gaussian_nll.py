"""Wavelength regression with the Gaussian head: the negative log-likelihood of the emission max.

The model's head is a :class:`~zincfluor.nn.heads.GaussianHead`: for a molecule it predicts
z ~ N(μ, σ²) in the standardised log-wavelength z = (log λ − loc) / scale. With the measured
emission maximum λ_i (nm, the batch's ``y_nm``) mapped to y_i = (log λ_i − loc) / scale::

    ℓ_i = ½ [ log σ_i² + (y_i − μ_i)² / σ_i² + log 2π ]
    L = (1/|B|) Σ_i ℓ_i

The level probabilities (the head's logits are their logs) follow from the same Gaussian, so the
Trainer's model choice (validation balanced accuracy) and every classification metric apply.
:class:`WavelengthRegression` is the base of the imbalanced-regression methods (LDS, FDS,
Balanced MSE): they need a Gaussian head and batches that carry ``y_nm``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.nn.distribution import gaussian_nll

__all__ = ["GaussianNLL", "WavelengthRegression", "emission_targets", "training_values"]


def emission_targets(inputs: Any, method: str = "this method") -> torch.Tensor:
    """The batch's emission maxima in nm ([B], float32), from its ``y_nm``."""
    values = getattr(inputs, "y_nm", None)
    if values is None:
        raise ValueError(
            f"{method} trains on the emission maximum, but the batch has no y_nm: train with "
            "--target emission_nm on data with an emission value column"
        )
    return values.float().flatten()


def training_values(context: MethodContext, method: str) -> torch.Tensor:
    """The training set's emission maxima (nm) from the method context."""
    if context.target_values is None:
        raise ValueError(
            f"method {method!r} needs the training emission values: train with --target "
            "emission_nm on data with an emission value column"
        )
    return context.target_values


class WavelengthRegression(LongTailMethod):
    """Base of the methods that fit the Gaussian head to ``y_nm``.

    ``target = "emission_nm"`` tells the run to attach ``y_nm`` and the training values
    (``MethodContext.target_values``); :meth:`adjust_model_spec` refuses any head but
    ``"gaussian"``.
    """

    target: ClassVar[str] = "emission_nm"

    def adjust_model_spec(self, spec: dict) -> dict:
        head = spec.get("head", {}).get("name")
        if head != "gaussian":
            raise ValueError(
                f"method {self.registry_name!r} fits a wavelength distribution: use --head "
                f"gaussian (got head {head!r})"
            )
        return spec

    def gaussian_outputs(
        self, model, features: torch.Tensor, inputs: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(μ, log σ², y): the head's Gaussian for ``features`` and the batch's targets, all in
        the head's standardised space."""
        head = model.head
        if not hasattr(head, "parameters_of"):
            raise ValueError(
                f"method {self.registry_name!r} needs the gaussian head; build with --head gaussian"
            )
        mean, log_var = head.parameters_of(features)
        target = head.to_z(emission_targets(inputs, f"method {self.registry_name!r}"))
        return mean, log_var, target.to(mean.device)


@METHODS.register("gaussian-nll")
class GaussianNLL(WavelengthRegression):
    """L = (1/|B|) Σ_i ½ [log σ_i² + (y_i − μ_i)²/σ_i² + log 2π]: unweighted Gaussian NLL."""

    summary = "Gaussian NLL of the emission maximum (gaussian head)"

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        mean, log_var, y = self.gaussian_outputs(model, model.features(inputs), inputs)
        loss = gaussian_nll(mean, log_var, y).mean()
        return LossOutput(loss, {"nll": loss.detach()})
