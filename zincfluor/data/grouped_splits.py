"""Grouped train/validation/test splits: every member of a group lands in the same part.

Solvent-aware data has several rows per molecule (one per solvent). A row-level split would
put Nile red in toluene in train and Nile red in water in test, and a model could score by
remembering the dye. These splits assign *molecules* (the distinct molecules of a
:class:`~zincfluor.data.measurements.SolventMeasurementTable`, :attr:`molecules`), so all rows
of a molecule share a part:

- ``"molecule"``: each molecule is its own group;
- ``"scaffold-seeded"``: molecules sharing a Bemis-Murcko scaffold
  (:func:`zincfluor.data.splits.murcko_scaffold`) are one group, so no scaffold crosses parts.
  Unlike the deterministic :func:`zincfluor.data.splits.scaffold_split` (deepchem's order,
  largest first), the groups are ordered by a seeded shuffle, so seeds give different splits.

Assignment (:func:`group_split`), with ``n`` molecules and fractions ``(f_train, f_valid,
f_test)``: groups larger than half the validation or test target are "big" and are placed
first, the big ones and then the rest each in seeded random order (the balanced scaffold split
of chemprop v1, Yang et al., J. Chem. Inf. Model. 59:3370, 2019, so that one huge scaffold
cannot fill the test part alone); a group goes to train if train then holds at most
``f_train * n`` molecules, else to validation if it then holds at most ``f_valid * n``, else to
test. The fractions are fractions of molecules, not rows.

The result is a :class:`zincfluor.data.splits.Split` of molecule indices: save it with
``split.save(path, smiles=table.molecules)`` and read it back with
``Split.load(path, smiles=table.molecules)`` (the same ``split.json`` format, which checks
that the saved molecules still match); :func:`split_rows` turns it into row indices.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from zincfluor.data.splits import Split, murcko_scaffold

if TYPE_CHECKING:
    from zincfluor.data.measurements import SolventMeasurementTable

__all__ = [
    "GROUPED_SPLIT_KINDS",
    "group_split",
    "grouped_split",
    "split_measurements",
    "split_rows",
    "crossing_groups",
]

GROUPED_SPLIT_KINDS = ("molecule", "scaffold-seeded")


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(fraction) for fraction in fractions)
    if len(values) != 3:
        raise ValueError(f"give three fractions (train, valid, test), got {values}")
    if any(not np.isfinite(f) or f < 0 for f in values) or values[0] == 0:
        raise ValueError(f"fractions must be >= 0 with train > 0, got {values}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {values} (sum {sum(values):g})")
    return values


def group_split(
    groups: Sequence[Hashable],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    kind: str = "group",
) -> Split:
    """Split items ``0 .. n-1`` so that items with equal ``groups[i]`` share a part
    (assignment rule in the module docstring).

    Parameters
    ----------
    groups : the group of each item (a scaffold SMILES, a molecule SMILES, ...)
    fractions : target (train, valid, test) fractions of the items
    seed : seed of the group order (``numpy.random.default_rng``)
    kind : stored as :attr:`Split.kind`
    """
    fractions = _check_fractions(fractions)
    members: dict[Hashable, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    sets = list(members.values())
    n = len(groups)
    targets = np.array(fractions) * n
    big_size = min(targets[1], targets[2]) / 2
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sets))
    big = [sets[i] for i in order if len(sets[i]) > big_size]
    small = [sets[i] for i in order if len(sets[i]) <= big_size]
    parts: list[list[int]] = [[], [], []]
    for group in big + small:
        if len(parts[0]) + len(group) <= targets[0]:
            parts[0] += group
        elif len(parts[1]) + len(group) <= targets[1]:
            parts[1] += group
        else:
            parts[2] += group
    return Split(
        train=np.sort(parts[0]),
        valid=np.sort(parts[1]),
        test=np.sort(parts[2]),
        kind=kind,
        seed=seed,
        fractions=fractions,
    )


def grouped_split(
    molecules: Sequence[str],
    kind: str = "molecule",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    usable: np.ndarray | None = None,
) -> Split:
    """Split distinct molecules (SMILES) by molecule or by seeded Bemis-Murcko scaffold.

    ``usable`` (a boolean mask over ``molecules``, e.g. those a featuriser can handle) leaves
    the other molecules out of every part; the fractions then apply to the usable ones. A
    molecule whose SMILES RDKit cannot read back (so has no scaffold) is its own group.

    Raises
    ------
    ValueError
        For an unknown kind, a molecule listed twice (give the distinct molecules, e.g.
        ``table.molecules``), or a mask of the wrong length.
    """
    if kind not in GROUPED_SPLIT_KINDS:
        raise ValueError(
            f"unknown grouped split kind {kind!r}; choose one of {', '.join(GROUPED_SPLIT_KINDS)}"
        )
    molecules = list(molecules)
    if len(set(molecules)) != len(molecules):
        raise ValueError(
            "molecules repeat: give each molecule once (e.g. table.molecules), not one per row"
        )
    if usable is None:
        kept = np.arange(len(molecules), dtype=np.int64)
    else:
        usable = np.asarray(usable, dtype=bool)
        if usable.shape != (len(molecules),):
            raise ValueError(f"usable has {usable.size} entries for {len(molecules)} molecules")
        kept = np.flatnonzero(usable).astype(np.int64)
    chosen = [molecules[index] for index in kept]
    groups = chosen if kind == "molecule" else [_scaffold_group(s) for s in chosen]
    split = group_split(groups, fractions, seed, kind=kind)
    split.train, split.valid, split.test = kept[split.train], kept[split.valid], kept[split.test]
    return split


def _scaffold_group(smiles: str) -> str:
    """The molecule's Bemis-Murcko scaffold, or, when RDKit cannot read the SMILES back, the
    molecule itself (its own group)."""
    try:
        return murcko_scaffold(smiles)
    except ValueError:
        return f"unreadable:{smiles}"


def split_measurements(
    table: SolventMeasurementTable,
    kind: str = "molecule",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    usable: np.ndarray | None = None,
) -> Split:
    """:func:`grouped_split` of ``table.molecules`` (indices into that list)."""
    return grouped_split(table.molecules, kind, fractions, seed, usable)


def split_rows(table: SolventMeasurementTable, split: Split) -> dict[str, np.ndarray]:
    """Row indices of ``table.frame`` in each part of a molecule split."""
    return {part: table.rows_of(indices) for part, indices in split.parts().items()}


def crossing_groups(split: Split, groups: Sequence[Hashable]) -> list[Hashable]:
    """Groups (``groups[i]`` of item ``i``) with members in more than one part; ``[]`` when
    the split respects the grouping."""
    seen: dict[Hashable, set[str]] = {}
    for part, indices in split.parts().items():
        for index in indices.tolist():
            seen.setdefault(groups[index], set()).add(part)
    return [group for group, parts in seen.items() if len(parts) > 1]
