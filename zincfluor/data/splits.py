"""Train/validation/test splits of a molecule table, and the long-tailed training subset.

Two kinds of split:

- ``stratified``: every level is split in the given fractions (seeded shuffle per level);
- ``scaffold``: molecules sharing a Bemis-Murcko scaffold stay in one part; scaffold sets go,
  largest first, into train, then validation, then test. This is the algorithm of deepchem's
  ``ScaffoldSplitter`` and gives the same index sets. It is deterministic: it has no seed.

:func:`long_tail_subsample` then thins the training part into the pathological long tail of
the shared data README; validation and test parts are never subsampled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rdkit.Chem.Scaffolds import MurckoScaffold

from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles
from zincfluor.data.stats import class_counts

if TYPE_CHECKING:
    from zincfluor.data.tables import MoleculeTable

__all__ = [
    "Split",
    "SPLIT_KINDS",
    "stratified_split",
    "scaffold_split",
    "long_tail_sizes",
    "long_tail_subsample",
    "make_split",
    "murcko_scaffold",
]

SPLIT_KINDS = ("stratified", "scaffold")
PARTS = ("train", "valid", "test")
_FLOOR_TOLERANCE = 1e-9  # keeps float error from flooring an exact integer one too low


def _as_indices(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fractions = tuple(float(fraction) for fraction in fractions)
    if len(fractions) != 3:
        raise ValueError(f"give three fractions (train, valid, test), got {fractions}")
    if any(not math.isfinite(f) or f < 0 for f in fractions) or fractions[0] == 0:
        raise ValueError(f"fractions must be >= 0 with train > 0, got {fractions}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions):g})")
    return fractions


@dataclass
class Split:
    """Indices of the train, validation and test molecules of a table.

    Attributes
    ----------
    train, valid, test : int64 index arrays into the table
    kind : ``"stratified"`` or ``"scaffold"``
    seed : seed of the shuffle and of the subsampling (``None`` for a plain scaffold split)
    fractions : requested (train, valid, test) fractions
    imbalance_ratio : the long-tail imbalance ratio the training part was subsampled to, if any
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    kind: str
    seed: int | None
    fractions: tuple[float, float, float]
    imbalance_ratio: float | None = None

    def __post_init__(self) -> None:
        self.train = _as_indices(self.train)
        self.valid = _as_indices(self.valid)
        self.test = _as_indices(self.test)
        self.fractions = tuple(float(fraction) for fraction in self.fractions)

    def parts(self) -> dict[str, np.ndarray]:
        """``{"train": ..., "valid": ..., "test": ...}``."""
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def sizes(self) -> dict[str, int]:
        """Number of molecules in each part."""
        return {part: int(indices.size) for part, indices in self.parts().items()}

    def check_disjoint(self) -> None:
        """Raise ``ValueError`` when an index repeats within or across the parts."""
        seen: dict[int, str] = {}
        for part, indices in self.parts().items():
            unique, counts = np.unique(indices, return_counts=True)
            if (counts > 1).any():
                raise ValueError(f"{part} repeats index {int(unique[counts > 1][0])}")
            for index in unique.tolist():
                if index in seen:
                    raise ValueError(f"index {index} is in both {seen[index]} and {part}")
                seen[index] = part

    def to_dict(self, smiles: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-able description; with ``smiles`` (the table's) it also lists each part's SMILES
        so that a later :meth:`from_dict` can check the split still fits its table."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "imbalance_ratio": self.imbalance_ratio,
        }
        for part, indices in self.parts().items():
            data[part] = indices.tolist()
            if smiles is not None:
                data[f"{part}_smiles"] = [smiles[index] for index in indices]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], smiles: Sequence[str] | None = None) -> Split:
        """Inverse of :meth:`to_dict`.

        With ``smiles``, checks that the stored SMILES of each part (when stored) are the ones
        at its indices, and raises ``ValueError`` naming the first mismatch.
        """
        split = cls(
            train=data["train"],
            valid=data["valid"],
            test=data["test"],
            kind=data["kind"],
            seed=data.get("seed"),
            fractions=tuple(data["fractions"]),
            imbalance_ratio=data.get("imbalance_ratio"),
        )
        if smiles is not None:
            for part, indices in split.parts().items():
                if indices.size and indices.max() >= len(smiles):
                    raise ValueError(
                        f"{part} index {int(indices.max())} is beyond the {len(smiles)} molecules"
                    )
                stored = data.get(f"{part}_smiles")
                if stored is None:
                    continue
                for index, expected in zip(indices.tolist(), stored, strict=True):
                    if smiles[index] != expected:
                        raise ValueError(
                            f"split does not fit this table: {part} molecule {index} is "
                            f"{smiles[index]!r}, the saved split says {expected!r}"
                        )
        return split

    def save(self, path: str | Path, smiles: Sequence[str] | None = None) -> Path:
        """Write :meth:`to_dict` as JSON and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(smiles), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, smiles: Sequence[str] | None = None) -> Split:
        """Read a split written by :meth:`save`, checking it against ``smiles`` when given."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), smiles)


def stratified_split(
    labels: np.ndarray,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> Split:
    """Split every level in the given fractions after a seeded shuffle.

    Within a level of ``n`` members the first ``round(n * f_train)`` shuffled members go to
    train and the next up to ``round(n * (f_train + f_valid))`` to validation (halves round up),
    the rest to test; a level with any members always puts at least one in train.
    """
    fractions = _check_fractions(fractions)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(labels.size)
    order = shuffled[np.argsort(labels[shuffled], kind="stable")]
    counts = np.bincount(labels, minlength=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_labels = labels[order]
    rank = np.arange(labels.size) - starts[sorted_labels]
    size = counts[sorted_labels]
    train_end = np.maximum(1, np.floor(size * fractions[0] + 0.5))
    valid_end = np.maximum(train_end, np.floor(size * (fractions[0] + fractions[1]) + 0.5))
    return Split(
        train=np.sort(order[rank < train_end]),
        valid=np.sort(order[(rank >= train_end) & (rank < valid_end)]),
        test=np.sort(order[rank >= valid_end]),
        kind="stratified",
        seed=seed,
        fractions=fractions,
    )


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES without chirality (``""`` for an acyclic molecule)."""
    try:
        mol = parse_smiles(smiles, max_length=None, max_heavy_atoms=None)
    except InvalidMoleculeError as error:
        raise ValueError(
            f"cannot compute the scaffold of invalid SMILES {smiles!r} ({error.reason})"
        ) from None
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(smiles: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """Split by Bemis-Murcko scaffold, deterministically (no seed).

    Scaffold sets are ordered largest first (equal sizes: the set whose first member comes
    later goes first, as in deepchem); a set goes to train unless that would take train past
    ``f_train * n`` molecules, then to validation unless that would take train + validation
    past ``(f_train + f_valid) * n``, else to test.
    """
    fractions = _check_fractions(fractions)
    members: dict[str, list[int]] = {}
    for index, text in enumerate(smiles):
        members.setdefault(murcko_scaffold(text), []).append(index)
    scaffold_sets = sorted(members.values(), key=lambda group: (len(group), group[0]), reverse=True)
    train_cutoff = fractions[0] * len(smiles)
    valid_cutoff = (fractions[0] + fractions[1]) * len(smiles)
    parts: dict[str, list[int]] = {part: [] for part in PARTS}
    for group in scaffold_sets:
        if len(parts["train"]) + len(group) <= train_cutoff:
            parts["train"] += group
        elif len(parts["train"]) + len(parts["valid"]) + len(group) <= valid_cutoff:
            parts["valid"] += group
        else:
            parts["test"] += group
    return Split(
        train=np.sort(parts["train"]),
        valid=np.sort(parts["valid"]),
        test=np.sort(parts["test"]),
        kind="scaffold",
        seed=None,
        fractions=fractions,
    )


def long_tail_sizes(train_counts: np.ndarray, imbalance_ratio: float) -> np.ndarray:
    """How many training samples of each level the long-tailed subset keeps.

    Levels are ranked by training count (largest first, ties by level); rank ``r`` of ``C``
    keeps ``max(1, floor(n_max * IR ** (-r / (C - 1))))``, at most what it has; an empty level
    stays empty.
    """
    counts = np.asarray(train_counts, dtype=np.int64)
    if not math.isfinite(imbalance_ratio) or imbalance_ratio < 1:
        raise ValueError(f"imbalance ratio must be a finite number >= 1, got {imbalance_ratio}")
    num_classes = counts.size
    if num_classes < 2:
        return counts.copy()
    ranking = np.lexsort((np.arange(num_classes), -counts))
    rank = np.empty(num_classes, dtype=np.int64)
    rank[ranking] = np.arange(num_classes)
    target = counts.max() * float(imbalance_ratio) ** (-rank / (num_classes - 1))
    keep = np.maximum(1, np.floor(target * (1 + _FLOOR_TOLERANCE))).astype(np.int64)
    return np.minimum(keep, counts)


def long_tail_subsample(
    labels: np.ndarray,
    train_idx: np.ndarray,
    imbalance_ratio: float,
    num_classes: int,
    seed: int = 0,
) -> np.ndarray:
    """Sorted subset of ``train_idx`` with the long-tailed class sizes of
    :func:`long_tail_sizes`, each level's members drawn with ``numpy.random.default_rng(seed)``
    (levels drawn in order 0, 1, ...)."""
    labels = np.asarray(labels, dtype=np.int64)
    train_idx = np.sort(_as_indices(train_idx))
    train_labels = labels[train_idx]
    sizes = long_tail_sizes(class_counts(train_labels, num_classes), imbalance_ratio)
    rng = np.random.default_rng(seed)
    kept = [
        rng.choice(train_idx[train_labels == level], size=int(sizes[level]), replace=False)
        for level in range(num_classes)
    ]
    return np.sort(np.concatenate(kept)).astype(np.int64)


def make_split(
    table: MoleculeTable,
    kind: str = "stratified",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    imbalance_ratio: float | None = None,
    usable: np.ndarray | None = None,
) -> Split:
    """Split ``table`` and, with ``imbalance_ratio``, subsample its training part into a long
    tail (validation and test are left as they are).

    ``usable`` (a boolean mask over the table, e.g. the molecules the featuriser could handle)
    leaves the other molecules out of every part; the fractions then apply to the usable ones.
    """
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {', '.join(SPLIT_KINDS)}")
    labels = np.asarray(table.labels, dtype=np.int64)
    if usable is None:
        kept = np.arange(labels.size, dtype=np.int64)
    else:
        usable = np.asarray(usable, dtype=bool)
        if usable.shape != labels.shape:
            raise ValueError(f"usable has {usable.size} entries for {labels.size} molecules")
        kept = np.flatnonzero(usable).astype(np.int64)
    if kind == "stratified":
        split = stratified_split(labels[kept], fractions, seed)
    else:
        split = scaffold_split([table.smiles[index] for index in kept], fractions)
    split.train, split.valid, split.test = kept[split.train], kept[split.valid], kept[split.test]
    if imbalance_ratio is None:
        return split
    split.train = long_tail_subsample(
        labels, split.train, imbalance_ratio, table.scheme.num_classes, seed
    )
    split.imbalance_ratio = float(imbalance_ratio)
    split.seed = seed
    return split
