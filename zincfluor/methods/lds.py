"""Label distribution smoothing, LDS (Yang et al., "Delving into Deep Imbalanced Regression",
ICML 2021, Sec. 3.1), on the Gaussian head's NLL.

The training emission maxima are binned (``bin_width`` nm from the smallest value:
b(λ) = ⌊(λ − λ_min) / w⌋), giving the empirical density n_b. LDS convolves it with a
symmetric Gaussian kernel k of ``kernel_size`` bins and standard deviation ``sigma`` (in bins),
zero outside the range::

    ñ_b = Σ_{b'} k(b − b') n_{b'},     k(d) ∝ exp(−d² / 2 sigma²),  |d| ≤ (kernel_size − 1)/2

and weights each sample by the inverse ("inverse") or inverse square root ("sqrt_inv", the
paper's default) smoothed density of its bin, scaled so the weights average 1 over the training
set::

    w_i = ñ_{b_i}^{−p} · N / Σ_j ñ_{b_j}^{−p}       (p = 1 or ½)
    L = (1/|B|) Σ_i w_i ℓ_i,    ℓ_i the Gaussian NLL of :mod:`zincfluor.methods.gaussian_nll`

A batch value outside the training range gets the weight of the nearest end bin.
"""

from __future__ import annotations

import math

import torch

from zincfluor.methods.base import METHODS, LossOutput, MethodContext
from zincfluor.methods.gaussian_nll import (
    WavelengthRegression,
    emission_targets,
    training_values,
)
from zincfluor.nn.distribution import gaussian_nll

__all__ = ["LabelDistributionSmoothing", "LDSWeights", "gaussian_kernel", "REWEIGHTS"]

REWEIGHTS = ("inverse", "sqrt_inv", "none")


def gaussian_kernel(kernel_size: int, sigma: float) -> torch.Tensor:
    """k(d) = exp(−d²/2σ²) for d = −h … h, h = (kernel_size − 1)/2, scaled to sum 1 (float64)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive number of bins, got {kernel_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (in bins), got {sigma}")
    half = (kernel_size - 1) // 2
    d = torch.arange(-half, half + 1, dtype=torch.float64)
    kernel = torch.exp(-(d**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def smooth_bins(values: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Σ_{b'} k(b − b') v_{b'} over the last axis (zero outside), for [nbins] or [D, nbins]."""
    half = (kernel.numel() - 1) // 2
    flat = values.reshape(-1, 1, values.shape[-1]).to(kernel.dtype)
    out = torch.nn.functional.conv1d(flat, kernel.flip(0).view(1, 1, -1), padding=half)
    return out.reshape(values.shape)


class LDSWeights:
    """Bins of the training values and the LDS weight of each bin (see the module docstring).

    Parameters
    ----------
    values : the training emission maxima (nm)
    bin_width : bin width in nm
    kernel_size, sigma : the smoothing kernel, in bins
    reweight : "sqrt_inv", "inverse", or "none" (every weight 1)
    """

    def __init__(
        self, values: torch.Tensor, bin_width: float = 5.0, kernel_size: int = 5,
        sigma: float = 2.0, reweight: str = "sqrt_inv",
    ):
        if reweight not in REWEIGHTS:
            raise ValueError(f"reweight must be one of {REWEIGHTS}, got {reweight!r}")
        if not bin_width > 0:
            raise ValueError(f"bin_width must be positive (nm), got {bin_width}")
        values = torch.as_tensor(values, dtype=torch.float64).flatten()
        if values.numel() == 0 or not bool(torch.isfinite(values).all()):
            raise ValueError("LDS needs the finite emission maxima of the training set")
        self.low = float(values.min())
        self.bin_width = float(bin_width)
        self.num_bins = int(math.floor((float(values.max()) - self.low) / bin_width)) + 1
        counts = torch.bincount(self.bins(values), minlength=self.num_bins).double()
        self.smoothed_density = smooth_bins(counts, gaussian_kernel(kernel_size, sigma))
        if reweight == "none":
            raw = torch.ones(self.num_bins, dtype=torch.float64)
        else:
            power = 1.0 if reweight == "inverse" else 0.5
            # bins without a training value are only reached by out-of-range values: clamped
            raw = self.smoothed_density.clamp(min=1e-12) ** -power
        scale = values.numel() / float(raw[self.bins(values)].sum())
        self.bin_weights = (raw * scale).float()

    def bins(self, values: torch.Tensor) -> torch.Tensor:
        """b(λ) = ⌊(λ − λ_min) / w⌋, clamped to the training range."""
        index = torch.floor((values.double() - self.low) / self.bin_width).long()
        return index.clamp(0, self.num_bins - 1)


@METHODS.register("lds")
class LabelDistributionSmoothing(WavelengthRegression):
    """Gaussian NLL weighted by the inverse (or inverse-sqrt) LDS-smoothed label density."""

    summary = "LDS-weighted Gaussian NLL of the emission maximum (Yang et al. 2021)"

    def __init__(
        self, context: MethodContext, bin_width: float = 5.0, kernel_size: int = 5,
        sigma: float = 2.0, reweight: str = "sqrt_inv",
    ):
        super().__init__(context)
        values = training_values(context, "lds")
        self.weights = LDSWeights(values, bin_width, kernel_size, sigma, reweight)
        self.register_buffer("bin_weights", self.weights.bin_weights.clone())
        self.save_hparams(
            bin_width=float(bin_width), kernel_size=int(kernel_size), sigma=float(sigma),
            reweight=reweight,
        )

    def sample_weights(self, nm: torch.Tensor) -> torch.Tensor:
        """w_i of each emission maximum (nm)."""
        return self.bin_weights[self.weights.bins(nm).to(self.bin_weights.device)]

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        mean, log_var, y = self.gaussian_outputs(model, model.features(inputs), inputs)
        weights = self.sample_weights(emission_targets(inputs))
        nll = gaussian_nll(mean, log_var, y)
        loss = (weights * nll).mean()
        return LossOutput(loss, {"weighted_nll": loss.detach(), "nll": nll.detach().mean()})
