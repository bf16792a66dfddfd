"""Split-conformal prediction sets over the levels and intervals for the emission maximum.

**Levels: class-conditional (Mondrian) split conformal** (Vovk et al. 2005; Angelopoulos &
Bates, "A gentle introduction to conformal prediction", 2021, section 4.5). On the calibration
(validation) molecules of level y, with nonconformity scores s_i = 1 − p̂_y(x_i), the threshold is

    q̂_y = the ⌈(n_y + 1)(1 − α)⌉-th smallest of the n_y scores   (+∞ when that rank > n_y)

and the prediction set of a new molecule is C(x) = {y : 1 − p̂_y(x) ≤ q̂_y}. When the calibration
and test molecules of each level are exchangeable, P(Y ∈ C(X) | Y = y) ≥ 1 − α for *every*
level y, not only on average: the rare levels get their coverage too. The price is honest for
a level with few calibration molecules: below n_y = ⌈1/α⌉ − 1 the rank exceeds n_y and that
level is in every set (q̂_y = +∞, stored as 1, which every score meets).

**Emission maximum: conformalised quantile regression** (CQR; Romano, Patterson & Candès,
NeurIPS 2019) on the wavelength head's central interval [lo, hi] of nominal coverage 1 − α, in
log-wavelength (the head's own space, where errors are about uniform across the range):

    E_i = max(log lo_i − log y_i, log y_i − log hi_i),   Q = ⌈(n + 1)(1 − α)⌉-th smallest E_i,
    interval = [lo · e^{−Q}, hi · e^{Q}]

with the same marginal guarantee P(y ∈ interval) ≥ 1 − α. Q < 0 shrinks an interval that was
too wide.

Why a short implementation and not crepes or MAPIE: both formulas are a sort and an index on
precomputed probabilities and quantiles; the calibration must be stored as plain JSON in a model
folder (crepes and MAPIE keep fitted Python objects, MAPIE's API changed in 1.0); and the rank
⌈(n + 1)(1 − α)⌉ is tested against hand-computed cases here (tests/trust/test_conformal.py), so
nothing is gained by a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

__all__ = [
    "DEFAULT_ALPHAS",
    "conformal_rank",
    "conformal_quantile",
    "coverage_key",
    "LevelConformal",
    "IntervalConformal",
    "fit_level_conformal",
    "fit_interval_conformal",
    "interval_scores",
    "level_coverage",
    "wilson_interval",
    "interval_coverage",
]

DEFAULT_ALPHAS = (0.1, 0.2)
"""Miscoverage levels calibrated by default: 90 % and 80 % sets and intervals."""

_RANK_TOLERANCE = 1e-9  # keeps (n + 1)(1 − α) = 9.000000000000002 from ceiling to 10


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha (the allowed miscoverage) must be in (0, 1), got {alpha}")
    return alpha


def conformal_rank(n: int, alpha: float) -> int:
    """k = ⌈(n + 1)(1 − α)⌉: the rank of the calibration score that is the threshold."""
    alpha = _check_alpha(alpha)
    return max(1, math.ceil((n + 1) * (1.0 - alpha) - _RANK_TOLERANCE))


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The k-th smallest of the n ``scores``, k = :func:`conformal_rank` (n, α); +∞ if k > n."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if np.isnan(scores).any():
        raise ValueError("conformal scores contain NaN; drop the molecules the model did not score")
    k = conformal_rank(scores.size, alpha)
    if k > scores.size:
        return math.inf
    return float(np.partition(scores, k - 1)[k - 1])


def _key(alpha: float) -> str:
    return f"{alpha:g}"


def coverage_key(alpha: float) -> str:
    """The key under which results for miscoverage α are reported: the coverage, "0.9"."""
    return _key(1 - _check_alpha(alpha))


@dataclass
class LevelConformal:
    """Per-level score thresholds q̂_y for each calibrated α (see the module docstring).

    ``thresholds[α]`` is [C] with q̂_y clipped to 1 (a level with too few calibration molecules is
    in every set); ``counts`` the calibration molecules per level.
    """

    level_names: list[str]
    counts: list[int]
    thresholds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def alphas(self) -> list[float]:
        return sorted(float(key) for key in self.thresholds)

    def threshold(self, alpha: float) -> np.ndarray:
        key = _key(_check_alpha(alpha))
        if key not in self.thresholds:
            raise ValueError(
                f"no conformal calibration for alpha={alpha:g}; calibrated: "
                f"{', '.join(_key(a) for a in self.alphas)} (refit with fit_level_conformal)"
            )
        return np.asarray(self.thresholds[key], dtype=np.float64)

    def prediction_sets(self, probs: np.ndarray, alpha: float) -> np.ndarray:
        """Boolean [n, C]: level y is in the set of row i when 1 − p_iy ≤ q̂_y (NaN rows: empty)."""
        probs = _check_probs(probs, len(self.level_names))
        with np.errstate(invalid="ignore"):
            return (1.0 - probs.astype(np.float64)) <= self.threshold(alpha)[None, :]

    def to_dict(self) -> dict:
        return {"level_names": list(self.level_names), "counts": list(self.counts),
                "thresholds": {key: list(value) for key, value in self.thresholds.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> LevelConformal:
        return cls(list(data["level_names"]), [int(c) for c in data["counts"]],
                   {str(k): [float(v) for v in values]
                    for k, values in data["thresholds"].items()})


def _check_probs(probs: np.ndarray, n_levels: int) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != n_levels:
        raise ValueError(f"probs must be [n, {n_levels}] level probabilities, got {probs.shape}")
    return probs


def _check_labels(labels: np.ndarray, n: int, n_levels: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if labels.size != n:
        raise ValueError(f"labels has {labels.size} entries for {n} rows of probabilities")
    if labels.size and (labels.min() < 0 or labels.max() >= n_levels):
        raise ValueError(f"labels must be levels 0..{n_levels - 1}")
    return labels


def fit_level_conformal(
    probs: np.ndarray, labels: np.ndarray, level_names: Sequence[str],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> LevelConformal:
    """Class-conditional thresholds from calibration probabilities [n, C] and true levels [n]."""
    probs = _check_probs(probs, len(level_names)).astype(np.float64)
    labels = _check_labels(labels, len(probs), len(level_names))
    scores = 1.0 - probs[np.arange(len(labels)), labels]
    counts = np.bincount(labels, minlength=len(level_names))
    thresholds = {}
    for alpha in alphas:
        per_level = [conformal_quantile(scores[labels == y], alpha)
                     for y in range(len(level_names))]
        thresholds[_key(_check_alpha(alpha))] = [min(1.0, q) for q in per_level]
    return LevelConformal(list(level_names), counts.tolist(), thresholds)


@dataclass
class IntervalConformal:
    """CQR margins Q (in log nm) per α, all applied to the head's one central interval of
    nominal coverage ``head_coverage`` (CQR's guarantee holds for any interval it widens or
    narrows, so the 90 % interval may start from the head's 80 % one)."""

    head_coverage: float
    margins: dict[str, float] = field(default_factory=dict)
    count: int = 0

    @property
    def alphas(self) -> list[float]:
        return sorted(float(key) for key in self.margins)

    def margin(self, alpha: float) -> float:
        key = _key(_check_alpha(alpha))
        if key not in self.margins:
            raise ValueError(
                f"no interval calibration for alpha={alpha:g}; calibrated: "
                f"{', '.join(_key(a) for a in self.alphas)} (refit with fit_interval_conformal)"
            )
        return self.margins[key]

    def interval(self, low_nm: np.ndarray, high_nm: np.ndarray, alpha: float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """[lo e^{−Q}, hi e^{Q}] from the head's central interval [lo, hi] (nm)."""
        factor = math.exp(self.margin(alpha))
        return np.asarray(low_nm) / factor, np.asarray(high_nm) * factor

    def to_dict(self) -> dict:
        return {"head_coverage": self.head_coverage, "margins": dict(self.margins),
                "count": self.count}

    @classmethod
    def from_dict(cls, data: dict) -> IntervalConformal:
        return cls(float(data["head_coverage"]),
                   {str(k): float(v) for k, v in data["margins"].items()}, int(data["count"]))


def interval_scores(low_nm: np.ndarray, high_nm: np.ndarray, true_nm: np.ndarray) -> np.ndarray:
    """E_i = max(log lo_i − log y_i, log y_i − log hi_i) (negative inside the interval)."""
    low, high, true = (np.asarray(a, dtype=np.float64).ravel() for a in (low_nm, high_nm, true_nm))
    if not (low.size == high.size == true.size):
        raise ValueError("low_nm, high_nm and true_nm must have one value per molecule")
    if (low <= 0).any() or (high <= 0).any() or (true <= 0).any():
        raise ValueError("interval bounds and measured values must be positive wavelengths (nm)")
    return np.maximum(np.log(low) - np.log(true), np.log(true) - np.log(high))


def fit_interval_conformal(
    low_nm: np.ndarray, high_nm: np.ndarray, true_nm: np.ndarray, *,
    head_coverage: float, alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> IntervalConformal:
    """CQR margins from the head's central intervals [lo, hi] (nominal ``head_coverage``) of
    calibration molecules and their measured maxima ``true_nm``.

    Raises ``ValueError`` when there are too few molecules for an α (the margin would be +∞).
    """
    scores = interval_scores(low_nm, high_nm, true_nm)
    margins = {}
    for alpha in alphas:
        margin = conformal_quantile(scores, alpha)
        if math.isinf(margin):
            raise ValueError(
                f"{scores.size} calibration molecules are too few for a {1 - alpha:.0%} interval "
                f"(need at least {math.ceil(1 / alpha) - 1}); calibrate on more molecules"
            )
        margins[_key(_check_alpha(alpha))] = margin
    return IntervalConformal(float(head_coverage), margins, int(scores.size))


def level_coverage(
    conformal: LevelConformal, probs: np.ndarray, labels: np.ndarray,
    alphas: Sequence[float] | None = None,
) -> dict:
    """Measured coverage of the prediction sets on labelled molecules (e.g. the test split).

    Returns ``{"0.9": {"target": 1 − α, "coverage": ..., "mean_set_size": ...,
    "per_level": [{"level", "name", "n", "coverage", "coverage_ci95", "calibration_n",
    "mean_set_size"}, ...]}}`` for each α (default: every calibrated α); a level without test
    molecules has coverage ``None``. ``coverage_ci95`` is the Wilson interval of the
    measured coverage: with a handful of test molecules of a level it is wide, and a shortfall
    inside it is no evidence against the guarantee.
    """
    probs = _check_probs(probs, len(conformal.level_names))
    labels = _check_labels(labels, len(probs), len(conformal.level_names))
    report = {}
    for alpha in alphas if alphas is not None else conformal.alphas:
        sets = conformal.prediction_sets(probs, alpha)
        covered = sets[np.arange(len(labels)), labels]
        sizes = sets.sum(axis=1)
        per_level = []
        for y, name in enumerate(conformal.level_names):
            rows = labels == y
            n = int(rows.sum())
            hits = int(covered[rows].sum())
            per_level.append({
                "level": y, "name": name, "n": n,
                "coverage": hits / n if n else None,
                "coverage_ci95": wilson_interval(hits, n) if n else None,
                "calibration_n": int(conformal.counts[y]),
                "mean_set_size": float(sizes[rows].mean()) if n else None,
            })
        report[coverage_key(alpha)] = {
            "target": 1 - alpha,
            "coverage": float(covered.mean()) if len(labels) else None,
            "mean_set_size": float(sizes.mean()) if len(labels) else None,
            "per_level": per_level,
        }
    return report


def wilson_interval(hits: int, n: int, confidence: float = 0.95) -> list[float]:
    """Wilson score interval of a proportion p̂ = hits / n (Wilson 1927)::

        (p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n),   z = Φ⁻¹((1 + confidence)/2)

    Unlike p̂ ± z √(p̂(1 − p̂)/n) it stays inside [0, 1] and is not empty at p̂ = 0 or 1."""
    if not 0 <= hits <= n or n < 1:
        raise ValueError(f"need 0 <= hits <= n and n >= 1, got hits={hits}, n={n}")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def interval_coverage(low_nm: np.ndarray, high_nm: np.ndarray, true_nm: np.ndarray) -> dict:
    """Fraction of measured maxima inside their intervals, and the median width in nm."""
    low, high, true = (np.asarray(a, dtype=np.float64).ravel() for a in (low_nm, high_nm, true_nm))
    inside = (low <= true) & (true <= high)
    return {"n": int(true.size), "coverage": float(inside.mean()) if true.size else None,
            "median_width_nm": float(np.median(high - low)) if true.size else None}
