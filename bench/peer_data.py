"""The data a peer trains on: zincfluor's own table and split, so every model sees the same
molecules in train, validation and test, with the same labels.

The split is made exactly as ``zincfluor train --split KIND --seed SEED`` makes it (same table
reader, same featuriser-usable mask, same :func:`zincfluor.data.make_split`, natural split: no
imbalance ratio), so a peer's test set is the zincfluor run's test set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.data import DataOptions, MoleculeTable, Split, make_split
from zincfluor.runs.common import resolve_cache_dir, usable_mask
from zincfluor.runs.train import check_split

__all__ = [
    "PeerTask", "require_data_file", "read_table", "zincfluor_split", "make_task",
    "check_split_file",
]


@dataclass
class PeerTask:
    """One (table, split) pair as the peers see it.

    Attributes
    ----------
    table : zincfluor's molecule table (canonical SMILES, levels, median emission in nm)
    split : zincfluor's split of it
    """

    table: MoleculeTable
    split: Split

    def smiles(self, part: str) -> list[str]:
        """SMILES of ``part`` (``"train"``, ``"valid"`` or ``"test"``)."""
        return [self.table.smiles[index] for index in self.split.parts()[part]]

    def labels(self, part: str) -> np.ndarray:
        """Levels of ``part``."""
        return self.table.labels[self.split.parts()[part]]

    def values(self, part: str) -> np.ndarray:
        """Emission maxima (nm) of ``part``.

        Raises
        ------
        ValueError
            When the table has given levels instead of measured values (no regression target).
        """
        if self.table.values is None:
            raise ValueError(
                f"{self.table.source} gives levels, not emission values: the regression peers "
                "need a value column (read the table with value_column, not label_column)"
            )
        return self.table.values[self.split.parts()[part]]


def require_data_file(path: str | Path) -> Path:
    """``path`` as a Path; ``SystemExit`` naming it and the fix when it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(
            f"data file {path} not found: pass --data with the Deep4Chem CSV "
            "(../shared/data/deep4chem/DB_for_chromophore_deep4chem.csv) or set ZINCFLUOR_DATA_DIR"
        )
    return path


def read_table(path: str | Path) -> MoleculeTable:
    """The table ``zincfluor train --data PATH`` reads (Deep4Chem layout, emission8 levels);
    ``SystemExit`` when the file is missing."""
    return DataOptions(path=str(require_data_file(path))).read()


def zincfluor_split(
    table: MoleculeTable,
    kind: str,
    seed: int,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    cache_dir: str | None = None,
    featurizer: str = "zincfluor",
) -> Split:
    """The split ``zincfluor train --split KIND --seed SEED`` trains on.

    Molecules zincfluor's featuriser cannot handle are left out of every part, as in a run;
    the featurised set comes from zincfluor's graph cache (``cache_dir`` as ``--cache-dir``).
    """
    featurized = featurize_cached(
        table.smiles, FeaturizerConfig(backend=featurizer), resolve_cache_dir(cache_dir)
    )
    split = make_split(
        table,
        kind=kind,
        fractions=fractions,
        seed=seed,
        usable=usable_mask(len(table.smiles), featurized.valid_indices),
    )
    check_split(split)
    return split


def make_task(table: MoleculeTable, kind: str, seed: int, cache_dir: str | None = None) -> PeerTask:
    """:class:`PeerTask` of ``table`` under :func:`zincfluor_split`."""
    return PeerTask(table, zincfluor_split(table, kind, seed, cache_dir=cache_dir))


def check_split_file(split: Split, path: str | Path, smiles: list[str]) -> None:
    """Raise ``ValueError`` unless ``split`` has the parts of a run's ``split.json``.

    The file's stored SMILES are checked against ``smiles`` (the table) first, so a split of
    another table is reported as such rather than as an index mismatch.
    """
    path = Path(path)
    saved = Split.from_dict(json.loads(path.read_text(encoding="utf-8")), smiles)
    for part, indices in split.parts().items():
        other = saved.parts()[part]
        if not np.array_equal(indices, other):
            raise ValueError(
                f"{path}: the {part} part differs from the peers' split ({other.size} vs "
                f"{indices.size} molecules); was that run made with another --split, --seed, "
                "--imbalance-ratio or data file?"
            )
