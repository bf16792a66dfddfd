"""Rank molecules by how likely they are to emit at the rare levels.

The *rare score* of a molecule is the model's total probability on the target levels (for
emission8 by default the three levels with the fewest training samples: red, far-red and
near-infrared). Invalid rows score NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["rare_scores", "resolve_target_levels", "DEFAULT_TARGET_COUNT"]

DEFAULT_TARGET_COUNT = 3
"""Without requested or model-card levels, the target is this many least-trained levels."""


def rare_scores(probs: np.ndarray, target_indices: Sequence[int]) -> np.ndarray:
    """Sum of ``probs[:, target_indices]`` per row; NaN where a row has a NaN probability."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be [n, levels], got shape {probs.shape}")
    indices = list(target_indices)
    if not indices:
        raise ValueError("at least one target level is needed")
    scores = probs[:, indices].sum(axis=1)
    scores[np.isnan(probs).any(axis=1)] = np.nan
    return scores


def resolve_target_levels(
    level_names: Sequence[str],
    class_counts: Sequence[int] | None,
    requested: Sequence[str] | None = None,
    card_levels: Sequence[str] | None = None,
) -> list[int]:
    """Indices of the target levels, in level order.

    ``requested`` names win, then the model card's ``card_levels``, then the
    :data:`DEFAULT_TARGET_COUNT` levels with the fewest training samples (``class_counts``;
    ties go to the later level). Unknown names raise ``ValueError`` listing the valid ones.
    """
    names = list(level_names)
    for chosen in (requested, card_levels):
        if chosen:
            return _indices(names, chosen)
    if class_counts is None or len(class_counts) != len(names):
        raise ValueError(
            f"cannot choose default target levels: {len(names)} levels but class counts "
            f"{class_counts!r}; name them (e.g. --target-levels {names[-1]})"
        )
    order = sorted(range(len(names)), key=lambda i: (class_counts[i], -i))
    return sorted(order[: min(DEFAULT_TARGET_COUNT, len(names))])


def _indices(names: list[str], chosen: Sequence[str]) -> list[int]:
    lookup = {name.lower(): i for i, name in enumerate(names)}
    wanted = [str(name).strip() for name in chosen if str(name).strip()]
    unknown = [name for name in wanted if name.lower() not in lookup]
    if unknown:
        raise ValueError(
            f"unknown level name(s) {', '.join(map(repr, unknown))}; "
            f"valid levels: {', '.join(names)}"
        )
    if not wanted:
        raise ValueError(f"no target level given; valid levels: {', '.join(names)}")
    return sorted({lookup[name.lower()] for name in wanted})
