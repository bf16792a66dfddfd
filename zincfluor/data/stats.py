"""Class counts and imbalance measures of a labelled data set and its splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from zincfluor.data.labels import LabelScheme
    from zincfluor.data.splits import Split

__all__ = ["class_counts", "ImbalanceSummary", "imbalance_summary", "split_count_rows"]


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Number of samples of each level ``0 .. num_classes - 1`` (int64).

    Raises
    ------
    ValueError
        When a label is negative or not below ``num_classes``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}"
        )
    return np.bincount(labels, minlength=num_classes).astype(np.int64)


@dataclass(frozen=True)
class ImbalanceSummary:
    """How long-tailed a class distribution is.

    Attributes
    ----------
    n_max : size of the largest class
    n_min : size of the smallest class that has at least one sample
    imbalance_ratio : ``n_max / n_min``
    T : ``n_max / (n_min * num_classes)``, the paper's imbalance measure
    num_classes : number of levels, empty ones included
    empty_classes : levels with no sample (left out of ``n_min``)
    """

    n_max: int
    n_min: int
    imbalance_ratio: float
    T: float
    num_classes: int
    empty_classes: tuple[int, ...] = ()

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> ImbalanceSummary:
        """Summary of per-level counts; raises ``ValueError`` when every level is empty."""
        counts = np.asarray(counts, dtype=np.int64)
        present = counts[counts > 0]
        if present.size == 0:
            raise ValueError("cannot measure imbalance: every class is empty")
        n_max, n_min = int(present.max()), int(present.min())
        num_classes = int(counts.size)
        return cls(
            n_max=n_max,
            n_min=n_min,
            imbalance_ratio=n_max / n_min,
            T=n_max / (n_min * num_classes),
            num_classes=num_classes,
            empty_classes=tuple(int(level) for level in np.flatnonzero(counts == 0)),
        )

    def describe(self) -> str:
        """One line such as ``"N_max 1198, N_min 1, imbalance ratio 1198, T 149.75"``."""
        text = (
            f"N_max {self.n_max}, N_min {self.n_min}, imbalance ratio "
            f"{self.imbalance_ratio:.4g}, T {self.T:.4g} ({self.num_classes} classes)"
        )
        if self.empty_classes:
            levels = ", ".join(str(level) for level in self.empty_classes)
            text += f"; empty classes left out of N_min: {levels}"
        return text


def imbalance_summary(counts: Sequence[int], num_classes: int | None = None) -> ImbalanceSummary:
    """:class:`ImbalanceSummary` of per-level counts (``class_counts`` of a label vector).

    ``num_classes``, when given, must equal the number of counts.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if num_classes is not None and counts.size != num_classes:
        raise ValueError(f"got {counts.size} counts for {num_classes} classes")
    return ImbalanceSummary.from_counts(counts)


def split_count_rows(labels: np.ndarray, split: Split, scheme: LabelScheme) -> list[dict[str, Any]]:
    """Per-level counts of each part of ``split``, one dict per level, for printing.

    Each row has ``level``, ``name``, ``range`` (from :meth:`LabelScheme.describe_levels`),
    ``train``, ``valid``, ``test`` and ``total`` (the sum of the three parts).
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = scheme.num_classes
    parts = {
        "train": class_counts(labels[split.train], k),
        "valid": class_counts(labels[split.valid], k),
        "test": class_counts(labels[split.test], k),
    }
    ranges = scheme.describe_levels()
    rows = []
    for level in range(k):
        row: dict[str, Any] = {"level": level, "name": scheme.names[level], "range": ranges[level]}
        row.update({part: int(counts[level]) for part, counts in parts.items()})
        row["total"] = row["train"] + row["valid"] + row["test"]
        rows.append(row)
    return rows
