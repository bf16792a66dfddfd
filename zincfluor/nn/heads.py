"""Classifier and projection heads that sit on top of a backbone's pooled features.

Every classifier head returns C "logits" whose softmax is its level probabilities, so every
method, metric and predictor that expects logits works with any head. The two structured heads
return *log-probabilities* (softmax(log p) = p exactly):

* :class:`GaussianHead` (``"gaussian"``): the emission maximum as a Gaussian in standardised
  log-nm (see :mod:`zincfluor.nn.distribution`); logits are the log of its mass in each level's
  bin; :meth:`GaussianHead.distribution` and :meth:`GaussianHead.emission_nm` give the
  wavelength itself.
* :class:`OrdinalHead` (``"ordinal"``): CORN's C − 1 conditional logits (Shi et al. 2021);
  logits are the implied log P(y = k).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.nn.distribution import LogWavelength, gaussian_bin_log_masses, normal_quantile

__all__ = [
    "LinearHead", "CosineHead", "GaussianHead", "OrdinalHead", "ProjectionHead", "HEADS",
    "head_spec", "ordinal_log_probs",
]


class LinearHead(nn.Linear):
    """Plain linear classifier: logits = W h + b."""

    def __init__(self, in_dim: int, num_classes: int):
        super().__init__(in_dim, num_classes)


class CosineHead(nn.Module):
    """Normalised linear classifier: logits_c = s * cos(h, w_c) (used by LDAM and KPS).

    ``scale`` is s; the weights have no bias.
    """

    def __init__(self, in_dim: int, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).t()


class ProjectionHead(nn.Module):
    """Two-layer MLP projection z = W2 relu(W1 h) for contrastive losses (not normalised here)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class GaussianHead(nn.Module):
    """Heteroscedastic Gaussian over the standardised log emission maximum z (see
    :mod:`zincfluor.nn.distribution`): (μ, log σ²) = W h + b, logits_k = log p_k, the Gaussian's
    mass in level k's bin.

    Parameters
    ----------
    in_dim : width of the backbone's features
    num_classes : number of levels C; ``len(edges) + 1``
    edges : the label scheme's C − 1 bin edges in nm
    loc, scale : the standardisation z = (log λ − loc) / scale (from the training values)
    log_var_range : log σ² is clamped to this range (in z units; σ from 1e-3 to 20 by default)

    A calibrated model divides the logits by its temperature T: softmax(log p / T) ∝ p^{1/T},
    the level probabilities flattened (T > 1) or sharpened as for any head; the wavelength
    (:meth:`distribution`, :meth:`emission_nm`) is the untempered Gaussian.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        edges: list[float] | tuple[float, ...] = (),
        loc: float = 6.25,
        scale: float = 0.2,
        log_var_range: tuple[float, float] = (-13.8, 6.0),
    ):
        super().__init__()
        if len(edges) != num_classes - 1:
            raise ValueError(
                f"the gaussian head needs the scheme's {num_classes - 1} bin edges in nm for "
                f"{num_classes} levels, got {len(edges)}"
            )
        if num_classes < 2:
            raise ValueError("the gaussian head needs at least 2 levels")
        edges_nm = torch.tensor([float(e) for e in edges], dtype=torch.float64)
        if not bool((edges_nm > 0).all()) or not bool((edges_nm.diff() > 0).all()):
            raise ValueError(f"gaussian head edges must be positive and increasing, got {edges}")
        self.scale_map = LogWavelength(loc, scale)
        self.register_buffer("edges_z", self.scale_map.to_z(edges_nm).float())
        self.linear = nn.Linear(in_dim, 2)
        self.log_var_range = (float(log_var_range[0]), float(log_var_range[1]))

    def parameters_of(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²), each [B], in the standardised space (float32)."""
        out = self.linear(features).float()
        return out[:, 0], out[:, 1].clamp(*self.log_var_range)

    def distribution(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, σ), each [B], of z = (log λ − loc) / scale."""
        mean, log_var = self.parameters_of(features)
        return mean, torch.exp(0.5 * log_var)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mean, std = self.distribution(features)
        return gaussian_bin_log_masses(mean, std, self.edges_z)

    def log_nm_distribution(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each [B], of log λ (λ in nm): loc + scale·μ and scale·σ. What an
        ensemble mixes (members may have different loc and scale)."""
        mean, std = self.distribution(features)
        return self.scale_map.loc + self.scale_map.scale * mean, self.scale_map.scale * std

    def to_z(self, nm: torch.Tensor) -> torch.Tensor:
        """Emission maxima in nm -> the head's standardised space."""
        return self.scale_map.to_z(nm.float())

    def emission_nm(
        self, features: torch.Tensor, coverage: float = 0.8
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(median, low, high) in nm: exp(loc + scale·μ) and the central ``coverage`` interval
        exp(loc + scale·(μ ± Φ⁻¹((1 + coverage)/2)·σ)) (80 %: μ ± 1.2816 σ). The median of the
        log-normal λ, not its mean, is reported: it is the point whose level is the most
        probable side of every edge."""
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        mean, std = self.distribution(features)
        half = normal_quantile(0.5 + coverage / 2) * std
        to_nm = self.scale_map.to_nm
        return to_nm(mean), to_nm(mean - half), to_nm(mean + half)


class OrdinalHead(nn.Module):
    """CORN head (Shi et al., "Deep Neural Networks for Rank-Consistent Ordinal Regression Based
    On Conditional Probabilities", 2021): C − 1 conditional logits f_k = W_k h + b_k with
    σ(f_k) = P(y > k | y ≥ k), k = 0 … C − 2.

    The implied level probabilities P(y = k) = (1 − σ(f_k)) Π_{j<k} σ(f_j) (the last level:
    Π_{j<C−1} σ(f_j)) are rank-consistent by construction and sum to 1; the head returns them
    as log-probabilities, with log σ(f) = logsigmoid(f) and log(1 − σ(f)) = logsigmoid(−f)::

        logits_k = Σ_{j<k} logsigmoid(f_j) + logsigmoid(−f_k)      (k < C − 1)
        logits_{C−1} = Σ_{j<C−1} logsigmoid(f_j)
    """

    def __init__(self, in_dim: int, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ValueError("the ordinal head needs at least 2 levels")
        self.linear = nn.Linear(in_dim, num_classes - 1)

    def conditional_logits(self, features: torch.Tensor) -> torch.Tensor:
        """[B, C − 1] logits of P(y > k | y ≥ k) (what the CORN loss trains)."""
        return self.linear(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return ordinal_log_probs(self.conditional_logits(features).float())


def ordinal_log_probs(conditional_logits: torch.Tensor) -> torch.Tensor:
    """[B, C] log P(y = k) from [B, C − 1] CORN conditional logits (see :class:`OrdinalHead`)."""
    above = F.logsigmoid(conditional_logits)  # log P(y > k | y >= k)
    reached = torch.cumsum(above, dim=1)  # log P(y > k)
    at_or_above = F.pad(reached, (1, 0))  # log P(y >= k), k = 0 .. C-1
    stop = F.pad(F.logsigmoid(-conditional_logits), (0, 1))  # log P(y = k | y >= k); last: 0
    return at_or_above + stop


HEADS: dict[str, type[nn.Module]] = {
    "linear": LinearHead,
    "cosine": CosineHead,
    "gaussian": GaussianHead,
    "ordinal": OrdinalHead,
}


def head_spec(
    name: str,
    num_classes: int,
    *,
    edges: list[float] | tuple[float, ...] | None = None,
    train_nm: torch.Tensor | list[float] | None = None,
) -> dict:
    """The spec of a classifier head: ``{"name": ..., "num_classes": ...}`` plus, for
    ``"gaussian"``, the scheme's ``edges`` (nm) and the standardisation ``loc``/``scale`` fitted
    on the training emission maxima ``train_nm``."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of: {', '.join(HEADS)}")
    spec: dict = {"name": name, "num_classes": int(num_classes)}
    if name == "gaussian":
        if edges is None or train_nm is None:
            raise ValueError(
                "the gaussian head needs a binned label scheme (edges in nm) and the training "
                "emission values; use a value column, not a label column"
            )
        scale_map = LogWavelength.fit(train_nm)
        spec.update(edges=[float(e) for e in edges], loc=scale_map.loc, scale=scale_map.scale)
    return spec
