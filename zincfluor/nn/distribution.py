"""A Gaussian over the emission maximum and its mass in each level's bin.

The distributional head predicts the emission maximum λ (nm) as a Gaussian in the standardised
log-wavelength

    z = (log λ − loc) / scale,

so λ itself is log-normal. Why log and not nm: emission maxima are positive and their spread
grows with the wavelength (a 10 nm error in the ultraviolet is as large, relatively, as 25 nm in
the near-infrared), and the scheme's bins widen with wavelength too (50 nm violet, 80 nm far-red);
in log space both are close to uniform, so one Gaussian shape fits the whole range. ``loc`` and
``scale`` (mean and standard deviation of log λ on the training data) only put z near N(0, 1) so
that the network's outputs start on a sensible scale; they travel in the head's spec.

With the scheme's edges e_1 < … < e_{C−1} (nm), their images t_k = (log e_k − loc) / scale, and
the prediction z ~ N(μ, σ²), the probability of level k is the Gaussian mass of its bin::

    p_0 = Φ((t_1 − μ)/σ),   p_k = Φ((t_{k+1} − μ)/σ) − Φ((t_k − μ)/σ),
    p_{C−1} = 1 − Φ((t_{C−1} − μ)/σ)

computed as log-masses (:func:`gaussian_bin_log_masses`) that stay finite in float32 far in
either tail. The rare score P(λ ≥ e_k) is the sum of the masses of the levels from k on.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "LogWavelength",
    "gaussian_bin_log_masses",
    "gaussian_nll",
    "mixture_quantiles",
    "normal_quantile",
]


def normal_quantile(probability: float) -> float:
    """Φ⁻¹(p), the standard normal quantile (e.g. 0.9 -> 1.2816)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"a normal quantile needs 0 < p < 1, got {probability}")
    return float(torch.special.ndtri(torch.tensor(probability, dtype=torch.float64)))


class LogWavelength:
    """The map between nm and the head's standardised space, z = (log λ − loc) / scale."""

    def __init__(self, loc: float, scale: float):
        if not (math.isfinite(loc) and math.isfinite(scale) and scale > 0):
            raise ValueError(
                f"log-wavelength standardisation needs a finite loc and a positive scale, "
                f"got loc={loc}, scale={scale}"
            )
        self.loc = float(loc)
        self.scale = float(scale)

    @classmethod
    def fit(cls, nm: torch.Tensor | list[float]) -> LogWavelength:
        """loc, scale = mean and standard deviation of log λ (scale 1 for fewer than 2 values)."""
        values = torch.as_tensor(nm, dtype=torch.float64).flatten()
        if values.numel() == 0 or not bool((values > 0).all()):
            raise ValueError("fitting the log-wavelength scale needs positive nm values")
        logs = values.log()
        scale = float(logs.std()) if logs.numel() > 1 else 1.0
        return cls(float(logs.mean()), scale if scale > 0 else 1.0)

    def to_z(self, nm: torch.Tensor) -> torch.Tensor:
        return (nm.log() - self.loc) / self.scale

    def to_nm(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(z * self.scale + self.loc)


def _log_diff_ndtr(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log(Φ(high) − Φ(low)) for finite low < high, accurate in either tail.

    log(Φ(b) − Φ(a)) = log Φ(b) + log(1 − exp(log Φ(a) − log Φ(b))); on the upper side the
    mirror image Φ(b) − Φ(a) = Φ(−a) − Φ(−b) is used, so log Φ is always taken where it does not
    round to 0. The difference is floored at the smallest positive float (a mass < 1e-38).
    """
    mirror = (low + high) > 0
    a = torch.where(mirror, -high, low)
    b = torch.where(mirror, -low, high)
    log_a, log_b = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
    tiny = torch.finfo(log_b.dtype).tiny
    return log_b + torch.log((-torch.expm1(log_a - log_b)).clamp(min=tiny))


def gaussian_bin_log_masses(
    mean: torch.Tensor, std: torch.Tensor, edges: torch.Tensor
) -> torch.Tensor:
    """log p_k of N(mean, std²) in the C bins cut by ``edges`` (C − 1 increasing, finite).

    ``mean`` and ``std`` are [B]; returns [B, C] in float32 (float64 stays float64), whose
    ``exp`` sums to 1 up to rounding: the first and last bins are open, log Φ(t_1) and
    log Φ(−t_{C−1}).
    """
    dtype = torch.float64 if mean.dtype == torch.float64 else torch.float32
    mean, std = mean.to(dtype), std.to(dtype)
    t = (edges.to(dtype)[None, :] - mean[:, None]) / std[:, None]  # [B, C-1]
    first = torch.special.log_ndtr(t[:, :1])
    last = torch.special.log_ndtr(-t[:, -1:])
    inner = _log_diff_ndtr(t[:, :-1], t[:, 1:])
    return torch.cat([first, inner, last], dim=1)


def gaussian_nll(
    mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Per-sample Gaussian negative log-likelihood (no reduction)::

        ℓ_i = ½ [ log σ_i² + (y_i − μ_i)² / σ_i² + log 2π ]

    in the head's standardised space; the Jacobian of the map from nm is a constant for the
    parameters, so minimising ℓ is maximum likelihood of λ as well.
    """
    return 0.5 * (log_var + (target - mean) ** 2 * torch.exp(-log_var) + math.log(2 * math.pi))


def mixture_quantiles(
    means: torch.Tensor, stds: torch.Tensor, probabilities: tuple[float, ...],
    iterations: int = 50,
) -> torch.Tensor:
    """Quantiles of equal-weight Gaussian mixtures, by bisection on the mixture CDF.

    ``means`` and ``stds`` are [K, B] (K components, B mixtures); returns [len(probabilities),
    B]. F(t) = (1/K) Σ_k Φ((t − m_k) / s_k) is increasing, so bisection on
    [min m − 10 max s, max m + 10 max s] converges to 1e-15 of the span in 50 halvings.
    For K = 1 it equals m + s·Φ⁻¹(p).
    """
    means, stds = means.double(), stds.double()
    spread = 10 * stds.max(dim=0).values
    out = []
    for probability in probabilities:
        low = means.min(dim=0).values - spread
        high = means.max(dim=0).values + spread
        for _ in range(iterations):
            middle = (low + high) / 2
            cdf = torch.special.ndtr((middle - means) / stds).mean(dim=0)
            below = cdf < probability
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        out.append((low + high) / 2)
    return torch.stack(out)
