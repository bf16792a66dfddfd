"""Every trust field of a batch of predictions at once, from a model's trust files.

:func:`assess` is what a predictor (or any front end) calls after predicting: from the level
probabilities, the optional emission interval and the molecules the model saw, it returns the
conformal prediction sets, the conformalised emission intervals, the max-similarity to the
training set, the ``in_domain`` flag and the measured neighbours, aligned with the inputs
(rows the model did not score get empty sets, NaN similarity, ``in_domain`` False and no
neighbours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from zincfluor.trust.conformal import coverage_key
from zincfluor.trust.fingerprints import mol_for_fingerprint, morgan_fingerprints
from zincfluor.trust.neighbours import Neighbour
from zincfluor.trust.store import TrustFiles

__all__ = ["TrustAssessment", "assess"]


@dataclass
class TrustAssessment:
    """Trust fields of n predictions (see :func:`assess`).

    ``prediction_sets``: {"0.9": bool [n, C], ...} (keys: coverage 1 − α);
    ``emission_interval``: {"0.9": float [n, 2] (low, high nm), ...} or ``None`` without a
    calibrated wavelength head; ``max_similarity`` float [n]; ``in_domain`` bool [n];
    ``neighbours``: per row a list of up to k :class:`Neighbour` (empty where not scored).
    Parts whose trust file is missing are empty dicts, NaN, False and empty lists.
    """

    prediction_sets: dict[str, np.ndarray]
    emission_interval: dict[str, np.ndarray] | None
    max_similarity: np.ndarray
    in_domain: np.ndarray
    neighbours: list[list[Neighbour]]


def assess(
    trust: TrustFiles,
    probs: np.ndarray,
    molecules: Sequence[Chem.Mol | str | None],
    *,
    emission_nm: np.ndarray | None = None,
    alphas: Sequence[float] | None = None,
    k: int = 3,
) -> TrustAssessment:
    """Trust fields of a batch of predictions.

    Parameters
    ----------
    trust : the model's :class:`~zincfluor.trust.store.TrustFiles` (``load_trust``)
    probs : [n, C] level probabilities, NaN rows where the model did not score the input
    molecules : per input the standardised molecule the model saw (an RDKit molecule or its
        canonical SMILES), ``None`` where not scored
    emission_nm : [n, 3] (median, low, high) of the head's central interval, if predicted
    alphas : miscoverage levels to report (default: all calibrated)
    k : neighbours per molecule
    """
    probs = np.asarray(probs)
    n = len(probs)
    if len(molecules) != n:
        raise ValueError(f"{len(molecules)} molecules for {n} rows of probabilities; give one "
                         "(None where not scored) per input")
    scored = ~np.isnan(probs).any(axis=1) if probs.ndim == 2 else np.zeros(n, bool)
    sets: dict[str, np.ndarray] = {}
    if trust.levels is not None:
        for alpha in alphas if alphas is not None else trust.levels.alphas:
            sets[coverage_key(alpha)] = trust.levels.prediction_sets(probs, alpha)

    intervals = None
    if trust.interval is not None and emission_nm is not None:
        intervals = {}
        for alpha in alphas if alphas is not None else trust.interval.alphas:
            low, high = trust.interval.interval(emission_nm[:, 1], emission_nm[:, 2], alpha)
            intervals[coverage_key(alpha)] = np.stack([low, high], axis=1)

    max_similarity = np.full(n, np.nan, dtype=np.float32)
    in_domain = np.zeros(n, dtype=bool)
    neighbours: list[list[Neighbour]] = [[] for _ in range(n)]
    rows = [i for i in range(n) if scored[i] and molecules[i] is not None]
    if trust.reference_set is not None and rows:
        reference = trust.reference_set
        mols = [m if isinstance(m, Chem.Mol) else mol_for_fingerprint(m)
                for m in (molecules[i] for i in rows)]
        query = morgan_fingerprints(mols, reference.fingerprint)
        found = reference.neighbours(query, k)
        for row, near in zip(rows, found, strict=True):
            neighbours[row] = near
            max_similarity[row] = near[0].similarity if near else np.nan
        if trust.domain is not None:
            if trust.domain.fingerprint != reference.fingerprint:
                raise ValueError("the domain threshold and the reference set use different "
                                 "fingerprints; rebuild the trust files with build_trust")
            in_domain = trust.domain.in_domain(max_similarity)
    return TrustAssessment(sets, intervals, max_similarity, in_domain, neighbours)
