"""Applicability domain: is a molecule like the ones the model was trained on?

The domain measure is the Tanimoto similarity of a molecule's Morgan fingerprint to its most
similar training molecule (the nearest-neighbour applicability domain of Sheridan, Feuston,
Maiorov & Kearsley, J. Chem. Inf. Comput. Sci. 44, 1912, 2004: prediction error grows as that
similarity falls).

The threshold is chosen on the validation split from how the model's error grows as similarity
falls (:func:`fit_domain`):

1. each validation molecule has its max-similarity s_i to the training set and an error e_i
   (by default 1 when the predicted level is wrong, else 0);
2. a non-increasing isotonic regression ê(s) of e on s smooths the error curve (the error is
   assumed not to grow as molecules get *more* similar to the training set);
3. the limit is ``factor`` × the mean validation error (default 1.5: "half as many errors again
   as on typical validation molecules");
4. the threshold t is the smallest validation similarity s_i with ê(s_i) ≤ limit. Since ê is
   non-increasing, every validation molecule at least that similar has smoothed error within
   the limit. A molecule is in the domain when its max-similarity is ≥ t.

Because ê averages to the mean error, some s_i always meets the limit, so t is always defined;
t is the lowest validation similarity when the error never exceeds the limit (the model was not
seen to fail, but nothing less similar than that was seen at all).

:func:`error_by_similarity` gives the binned curve (equal-count bins) that a model card plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression

from zincfluor.trust.fingerprints import FingerprintSettings

__all__ = [
    "DEFAULT_FACTOR",
    "DomainCalibration",
    "error_by_similarity",
    "fit_domain",
]

DEFAULT_FACTOR = 1.5
"""A molecule is out of domain where the smoothed error exceeds this multiple of the mean."""


def _check_pairs(max_similarity: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    similarity = np.asarray(max_similarity, dtype=np.float64).ravel()
    errors = np.asarray(errors, dtype=np.float64).ravel()
    if similarity.size != errors.size:
        raise ValueError(
            f"max_similarity has {similarity.size} values and errors {errors.size}; give one of "
            "each per validation molecule"
        )
    if similarity.size == 0:
        raise ValueError("no validation molecules to choose a domain threshold from")
    if not (np.isfinite(similarity).all() and np.isfinite(errors).all()):
        raise ValueError("max_similarity and errors must be finite (drop unscored molecules)")
    return similarity, errors


def error_by_similarity(
    max_similarity: np.ndarray, errors: np.ndarray, n_bins: int = 8
) -> list[dict]:
    """Mean error of the molecules in ``n_bins`` equal-count bins of max-similarity.

    Returns rows ``{"low", "high", "n", "error"}`` from the least to the most similar bin
    (``low``/``high``: the smallest and largest similarity in the bin). Fewer bins when there
    are fewer molecules than bins.
    """
    similarity, errors = _check_pairs(max_similarity, errors)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    order = np.argsort(similarity, kind="stable")
    rows = []
    for part in np.array_split(order, min(n_bins, similarity.size)):
        rows.append({
            "low": float(similarity[part].min()),
            "high": float(similarity[part].max()),
            "n": int(part.size),
            "error": float(errors[part].mean()),
        })
    return rows


@dataclass
class DomainCalibration:
    """The domain threshold and how it was chosen (all of it stored in the model folder).

    ``threshold``: in domain when max-similarity ≥ threshold. ``mean_error``, ``factor``:
    the limit was factor × mean_error. ``bins``: :func:`error_by_similarity` on validation.
    ``fingerprint``: the fingerprint settings the similarities were computed with.
    """

    threshold: float
    factor: float
    mean_error: float
    error_name: str
    bins: list[dict] = field(default_factory=list)
    fingerprint: FingerprintSettings = field(default_factory=FingerprintSettings)

    def in_domain(self, max_similarity: np.ndarray) -> np.ndarray:
        """Boolean per molecule: max-similarity ≥ threshold (NaN: False)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(max_similarity, dtype=np.float64) >= self.threshold

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold, "factor": self.factor, "mean_error": self.mean_error,
            "error_name": self.error_name, "bins": list(self.bins),
            "fingerprint": self.fingerprint.to_dict(),
            "rule": "in domain when the Tanimoto similarity to the nearest training molecule is "
                    ">= threshold: the lowest validation similarity whose isotonic-smoothed "
                    "error is <= factor x mean validation error",
        }

    @classmethod
    def from_dict(cls, data: dict) -> DomainCalibration:
        return cls(float(data["threshold"]), float(data["factor"]), float(data["mean_error"]),
                   str(data["error_name"]), list(data["bins"]),
                   FingerprintSettings.from_dict(data["fingerprint"]))


def fit_domain(
    max_similarity: np.ndarray,
    errors: np.ndarray,
    *,
    factor: float = DEFAULT_FACTOR,
    error_name: str = "level error rate",
    n_bins: int = 8,
    fingerprint: FingerprintSettings = FingerprintSettings(),
) -> DomainCalibration:
    """Choose the domain threshold on validation molecules (the rule of the module docstring).

    Parameters
    ----------
    max_similarity : each validation molecule's Tanimoto similarity to its nearest training
        molecule
    errors : each one's error (0/1 for a wrong level, or any non-negative error)
    factor : the smoothed error may be at most ``factor`` × the mean error inside the domain
    error_name : what ``errors`` measures, for the model card
    """
    similarity, errors = _check_pairs(max_similarity, errors)
    if not factor >= 1.0:
        raise ValueError(f"factor must be >= 1 (a multiple of the mean error), got {factor}")
    smoothed = IsotonicRegression(increasing=False).fit_transform(similarity, errors)
    mean_error = float(errors.mean())
    within = smoothed <= factor * mean_error + 1e-12
    threshold = float(similarity[within].min())
    return DomainCalibration(threshold, float(factor), mean_error, error_name,
                             error_by_similarity(similarity, errors, n_bins), fingerprint)
