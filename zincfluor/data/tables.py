"""Read a measurements CSV into one labelled row per molecule, reporting every skipped row.

Deep4Chem (columns ``Chromophore`` and ``Emission max (nm)``) is recognised without options.
Each row is one measurement; rows of the same molecule (same canonical SMILES of the
standardised molecule, :mod:`zincfluor.chem.standardize`: a salt and its free base, or two
resonance forms of a dye cation, are one molecule) are merged into one molecule whose value is
the median of its rows. Molecules outside a model's scope (no carbon, a lone ion) are bad rows.
Rows that cannot be used are kept in :attr:`MoleculeTable.bad_rows` with their spreadsheet row
number (header = row 1, first data row = row 2) and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import StandardizerConfig, standardize_smiles
from zincfluor.data.labels import EMISSION8, LabelScheme, categorical_scheme
from zincfluor.data.stats import class_counts

__all__ = [
    "standardise_smiles_column",
    "BadRow",
    "MoleculeTable",
    "read_measurements",
    "DEEP4CHEM_SMILES_COLUMN",
    "DEEP4CHEM_VALUE_COLUMN",
]

DEEP4CHEM_SMILES_COLUMN = "Chromophore"
DEEP4CHEM_VALUE_COLUMN = "Emission max (nm)"
AGGREGATES = ("median", "mean")
_MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "none", "null"})
_FIRST_DATA_ROW = 2  # spreadsheet numbering: the header is row 1
_ROWS_SHOWN = 5


@dataclass(frozen=True)
class BadRow:
    """A row that was not used: its spreadsheet row number, its SMILES text and why."""

    row: int
    smiles: str
    reason: str


@dataclass
class MoleculeTable:
    """One labelled entry per distinct molecule.

    Attributes
    ----------
    smiles : canonical isomeric RDKit SMILES, in order of first appearance in the file
    labels : level of each molecule (int64)
    values : aggregated value of each molecule (e.g. median emission in nm), or ``None`` when
        the levels were given by a label column
    n_measurements : number of rows merged into each molecule
    scheme : the label scheme the levels belong to
    source : where the table was read from
    n_rows : number of data rows in the file
    bad_rows : rows that were skipped, with reasons
    n_conflicting : molecules whose rows disagree on the given label (label-column mode)
    """

    smiles: list[str]
    labels: np.ndarray
    values: np.ndarray | None
    n_measurements: np.ndarray
    scheme: LabelScheme
    source: str
    n_rows: int
    bad_rows: list[BadRow] = field(default_factory=list)
    n_conflicting: int = 0

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.n_measurements = np.asarray(self.n_measurements, dtype=np.int64)
        if self.values is not None:
            self.values = np.asarray(self.values, dtype=float)
        sizes = {len(self.smiles), len(self.labels), len(self.n_measurements)}
        if self.values is not None:
            sizes.add(len(self.values))
        if len(sizes) != 1:
            raise ValueError(f"molecule table columns differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.smiles)

    def class_counts(self) -> np.ndarray:
        """Number of molecules of each level of :attr:`scheme`."""
        return class_counts(self.labels, self.scheme.num_classes)

    def summary(self) -> str:
        """A few lines: rows read and used, molecules, and skipped rows grouped by reason."""
        n_used = int(self.n_measurements.sum())
        lines = [
            f"{self.source}: {self.n_rows:,} rows, {n_used:,} used, "
            f"{len(self.bad_rows):,} skipped -> {len(self):,} molecules "
            f"({self.scheme.name}, {self.scheme.num_classes} levels)"
        ]
        rows_by_reason: dict[str, list[int]] = {}
        for bad in self.bad_rows:
            rows_by_reason.setdefault(bad.reason, []).append(bad.row)
        for reason, rows in rows_by_reason.items():
            shown = ", ".join(str(row) for row in rows[:_ROWS_SHOWN])
            more = ", ..." if len(rows) > _ROWS_SHOWN else ""
            noun = "row" if len(rows) == 1 else "rows"
            lines.append(f"  skipped {len(rows):,} {noun}: {reason} ({noun} {shown}{more})")
        if self.n_conflicting:
            lines.append(
                f"  {self.n_conflicting:,} molecules have conflicting labels across rows; "
                "kept the most frequent (ties: the lowest level)"
            )
        return "\n".join(lines)

    def bad_rows_frame(self) -> pd.DataFrame:
        """Skipped rows as a frame with columns ``row``, ``smiles``, ``reason``."""
        return pd.DataFrame(
            {
                "row": [bad.row for bad in self.bad_rows],
                "smiles": [bad.smiles for bad in self.bad_rows],
                "reason": [bad.reason for bad in self.bad_rows],
            }
        )

    def write_bad_rows(self, path: str | Path) -> Path:
        """Write :meth:`bad_rows_frame` to a CSV file and return its path."""
        path = Path(path)
        self.bad_rows_frame().to_csv(path, index=False)
        return path


def _separator(path: Path) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    return "\t" if ".tsv" in suffixes or ".tab" in suffixes else ","


def _pick_columns(
    path: Path,
    columns: list[str],
    smiles_column: str | None,
    value_column: str | None,
    label_column: str | None,
) -> tuple[str, str | None, str | None]:
    """Check the requested columns exist, filling in Deep4Chem's when none are given."""
    available = ", ".join(repr(column) for column in columns)
    if value_column is not None and label_column is not None:
        raise ValueError("give either value_column or label_column, not both")
    if smiles_column is None:
        lowered = {column.strip().lower(): column for column in columns}
        if DEEP4CHEM_SMILES_COLUMN in columns:
            smiles_column = DEEP4CHEM_SMILES_COLUMN
        elif "smiles" in lowered:
            smiles_column = lowered["smiles"]
        else:
            raise ValueError(
                f"{path}: no SMILES column found (neither Deep4Chem's "
                f"{DEEP4CHEM_SMILES_COLUMN!r} nor 'smiles'); pass smiles_column. "
                f"Available columns: {available}"
            )
    if value_column is None and label_column is None:
        if DEEP4CHEM_VALUE_COLUMN not in columns:
            raise ValueError(
                f"{path}: no {DEEP4CHEM_VALUE_COLUMN!r} column (not the Deep4Chem file); pass "
                "value_column (a value binned by the label scheme) or label_column (levels "
                f"given). Available columns: {available}"
            )
        value_column = DEEP4CHEM_VALUE_COLUMN
    for role, column in (
        ("SMILES", smiles_column),
        ("value", value_column),
        ("label", label_column),
    ):
        if column is not None and column not in columns:
            raise ValueError(f"{path}: no {role} column {column!r}. Available columns: {available}")
    return smiles_column, value_column, label_column


def standardise_smiles_column(
    raw: pd.Series, standardizer: StandardizerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised canonical SMILES and failure reason of each row, each distinct text once."""
    config = FeaturizerConfig(standardizer=standardizer)
    canonical: dict[str, str | None] = {}
    reasons: dict[str, str | None] = {}
    for text in pd.unique(raw):
        canonical[text] = None
        if text.lower() in _MISSING_TEXT:
            reasons[text] = "no SMILES"
            continue
        try:
            molecule = standardize_smiles(text, config)
        except InvalidMoleculeError as error:
            reasons[text] = f"invalid SMILES: {error.reason}"
            continue
        if molecule.out_of_scope is not None:
            reasons[text] = f"out of scope: {molecule.out_of_scope}"
            continue
        canonical[text], reasons[text] = molecule.smiles, None
    return raw.map(canonical).to_numpy(object), raw.map(reasons).to_numpy(object)


def _value_reasons(text: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Numeric values and, where a value is unusable, the reason."""
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    reasons = np.full(len(text), None, dtype=object)
    missing = text.str.lower().isin(_MISSING_TEXT).to_numpy()
    reasons[np.isnan(numbers) & ~missing] = f"non-numeric value in {column!r}"
    reasons[np.isinf(numbers)] = f"infinite value in {column!r}"
    reasons[missing] = f"no value in {column!r}"
    return numbers, reasons


def _label_levels(
    text: pd.Series, column: str, scheme: LabelScheme
) -> tuple[np.ndarray, np.ndarray, LabelScheme]:
    """Levels of given labels, the reason where a label is unusable, and their scheme.

    Whole numbers are levels ``0 .. K-1`` of ``scheme``; names are levels of ``scheme`` when
    they are all among its names, otherwise levels of their sorted unique names.
    """
    levels = np.full(len(text), -1, dtype=np.int64)
    reasons = np.full(len(text), None, dtype=object)
    missing = text.str.lower().isin(_MISSING_TEXT).to_numpy()
    reasons[missing] = f"no label in {column!r}"
    present = ~missing
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    if np.isfinite(numbers[present]).all():
        k = scheme.num_classes
        whole = present & (numbers == np.round(numbers))
        reasons[present & ~whole] = f"label in {column!r} is not a whole number"
        in_range = whole & (numbers >= 0) & (numbers < k)
        reasons[whole & ~in_range] = f"label in {column!r} outside 0..{k - 1}"
        levels[in_range] = numbers[in_range].astype(np.int64)
        return levels, reasons, categorical_scheme(scheme.names, name=scheme.name)
    names = text.str.strip().to_numpy(object)
    found = set(names[present])
    if found <= set(scheme.names):
        given = categorical_scheme(scheme.names, name=scheme.name)
    else:
        given = categorical_scheme(sorted(found), name=f"classes of {column!r}")
    index = {name: level for level, name in enumerate(given.names)}
    levels[present] = [index[name] for name in names[present]]
    return levels, reasons, given


def _read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    return pd.read_csv(
        path,
        sep=_separator(path),
        encoding="utf-8-sig",
        usecols=columns,
        dtype=str,
        na_filter=False,
    )


def read_measurements(
    path: str | Path,
    *,
    smiles_column: str | None = None,
    value_column: str | None = None,
    label_column: str | None = None,
    scheme: LabelScheme = EMISSION8,
    aggregate: str = "median",
    standardizer: StandardizerConfig = StandardizerConfig(),
) -> MoleculeTable:
    """Read a measurements CSV into a :class:`MoleculeTable` (one label per molecule).

    Parameters
    ----------
    path : CSV (or ``.tsv``) file, UTF-8 with or without a byte-order mark
    smiles_column : column with the SMILES; default Deep4Chem's ``Chromophore`` or ``smiles``
    value_column : column with a measured value binned by ``scheme``; default Deep4Chem's
        ``Emission max (nm)`` when no ``label_column`` is given
    label_column : column with given levels (whole numbers ``0 .. K-1`` or level names);
        each molecule gets its most frequent level, ties going to the lowest
    scheme : label scheme for ``value_column``, or whose names the given labels use
    aggregate : ``"median"`` or ``"mean"`` of a molecule's values
    standardizer : how each SMILES is standardised before molecules are merged (the
        settings a model trained on the table then uses at prediction time)

    Raises
    ------
    ValueError
        For a missing column (the message lists the available ones), an unknown aggregate,
        a categorical scheme with a value column, or a file without a single usable row.
    """
    path = Path(path)
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    header = pd.read_csv(path, sep=_separator(path), encoding="utf-8-sig", nrows=0)
    smiles_column, value_column, label_column = _pick_columns(
        path, list(header.columns), smiles_column, value_column, label_column
    )
    if value_column is not None and scheme.is_categorical:
        raise ValueError(
            f"label scheme {scheme.name!r} is categorical; it cannot bin {value_column!r}"
        )
    data_column = value_column if value_column is not None else label_column
    frame = _read_columns(path, list(dict.fromkeys([smiles_column, data_column])))
    raw_smiles = frame[smiles_column].str.strip()
    canonical, reasons = standardise_smiles_column(raw_smiles, standardizer)

    data_text = frame[data_column].str.strip()
    if value_column is not None:
        data, data_reasons = _value_reasons(data_text, value_column)
        result_scheme = scheme
    else:
        data, data_reasons, result_scheme = _label_levels(data_text, label_column, scheme)
    reasons = np.where(pd.isna(reasons), data_reasons, reasons)
    good = pd.isna(reasons)
    bad_rows = [
        BadRow(row=int(i) + _FIRST_DATA_ROW, smiles=raw_text, reason=str(reasons[i]))
        for i, raw_text in zip(
            np.flatnonzero(~good), frame[smiles_column].to_numpy(object)[~good], strict=True
        )
    ]
    if not good.any():
        empty = MoleculeTable(
            [], np.zeros(0), None, np.zeros(0), result_scheme, str(path), len(frame), bad_rows
        )
        raise ValueError(f"no usable rows in {path}\n{empty.summary()}")
    codes, molecules = pd.factorize(pd.Series(canonical[good]), sort=False)
    if value_column is not None:
        values = _aggregate(codes, data[good], aggregate)
        labels, n_conflicting = result_scheme.assign(values), 0
        n_measurements = np.bincount(codes, minlength=len(molecules))
    else:
        values = None
        labels, n_measurements, n_conflicting = _vote(codes, data[good], result_scheme)
    return MoleculeTable(
        smiles=[str(smiles) for smiles in molecules],
        labels=labels,
        values=values,
        n_measurements=n_measurements,
        scheme=result_scheme,
        source=str(path),
        n_rows=len(frame),
        bad_rows=bad_rows,
        n_conflicting=n_conflicting,
    )


def _aggregate(codes: np.ndarray, values: np.ndarray, aggregate: str) -> np.ndarray:
    """Median (or mean) of the values of each molecule code ``0 .. M-1``."""
    grouped = pd.Series(values).groupby(codes, sort=True)
    return (grouped.median() if aggregate == "median" else grouped.mean()).to_numpy(float)


def _vote(
    codes: np.ndarray, levels: np.ndarray, scheme: LabelScheme
) -> tuple[np.ndarray, np.ndarray, int]:
    """Most frequent level of each molecule (ties: the lowest), its row count, and how many
    molecules have rows that disagree."""
    votes = np.zeros((codes.max() + 1, scheme.num_classes), dtype=np.int64)
    np.add.at(votes, (codes, levels), 1)
    n_conflicting = int(((votes > 0).sum(axis=1) > 1).sum())
    return votes.argmax(axis=1), votes.sum(axis=1), n_conflicting
