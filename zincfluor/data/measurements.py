"""Read a measurements CSV into (molecule, solvent, emission) rows, reporting every dropped row.

Where :func:`zincfluor.data.tables.read_measurements` merges all of a molecule's rows into one
median over solvents, :func:`read_solvent_measurements` keeps the solvent: one row per
(molecule, solvent). Deep4Chem (``Chromophore``, ``Solvent``, ``Emission max (nm)``,
``Reference``) is read without options.

- **Molecule**: standardised as by :func:`~zincfluor.data.tables.read_measurements`
  (:mod:`zincfluor.chem.standardize`: a salt and its free base are one molecule), so the
  ``molecule`` column matches a :class:`~zincfluor.data.tables.MoleculeTable`'s SMILES.
- **Solvent**: read by :func:`zincfluor.data.solvent_kinds.parse_solvent` into a kind
  (``"smiles"``, ``"gas"``, ``"solid"``, ``"unknown"``) and a lightly standardised SMILES
  (``""`` for the gas phase and a neat solid; a host matrix keeps the host's SMILES). Rows of
  an unknown solvent, and of kinds not asked for, are dropped with the reason.
- **Duplicates**: rows of the same molecule, solvent kind and solvent SMILES (the same dye in the
  same solvent, often from several papers) become one row whose emission is the **median** of
  theirs (robust to one paper's outlier; the mean of the middle two for an even count), with
  ``n_measurements`` the number merged and ``references`` their distinct references joined by
  ``"; "``. The level is the scheme's level of that median.

Dropped rows keep their spreadsheet row number (header = row 1) and the reason, as in
:class:`~zincfluor.data.tables.MoleculeTable`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from zincfluor.chem.standardize import StandardizerConfig
from zincfluor.data.labels import EMISSION8, LabelScheme
from zincfluor.data.solvent_kinds import SOLVENT_KINDS, ParsedSolvent, parse_solvent
from zincfluor.data.solvents import solvent_class
from zincfluor.data.tables import (
    DEEP4CHEM_SMILES_COLUMN,
    DEEP4CHEM_VALUE_COLUMN,
    BadRow,
    standardise_smiles_column,
)

__all__ = [
    "DEEP4CHEM_SOLVENT_COLUMN",
    "DEEP4CHEM_REFERENCE_COLUMN",
    "MEASUREMENT_COLUMNS",
    "SolventSpread",
    "SolventMeasurementTable",
    "read_solvent_measurements",
]

DEEP4CHEM_SOLVENT_COLUMN = "Solvent"
DEEP4CHEM_REFERENCE_COLUMN = "Reference"
MEASUREMENT_COLUMNS = (
    "molecule",
    "solvent",
    "solvent_kind",
    "solvent_detail",
    "solvent_class",
    "emission_nm",
    "level",
    "n_measurements",
    "references",
)
_MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "none", "null"})
_FIRST_DATA_ROW = 2
_ROWS_SHOWN = 5
_SPREAD_NM = 50.0


@dataclass(frozen=True)
class SolventSpread:
    """How much a molecule's emission moves with the solvent, over a table's rows.

    Attributes
    ----------
    n_molecules : distinct molecules
    n_multi_solvent : molecules with rows in two or more solvents
    n_multi_level : of those, molecules whose rows span two or more levels
    n_multi_nm : of those, molecules whose emissions span at least ``nm`` nanometres
    nm : the span threshold in nm
    """

    n_molecules: int
    n_multi_solvent: int
    n_multi_level: int
    n_multi_nm: int
    nm: float


@dataclass
class SolventMeasurementTable:
    """One row per (molecule, solvent) measurement, with how the file was read.

    Attributes
    ----------
    frame : one row per measurement, columns :data:`MEASUREMENT_COLUMNS`: ``molecule``
        (standardised canonical SMILES), ``solvent`` (canonical SMILES; ``""`` for the gas
        phase and a neat solid), ``solvent_kind``, ``solvent_detail`` (see
        :class:`~zincfluor.data.solvent_kinds.ParsedSolvent`), ``solvent_class`` (polar protic /
        polar aprotic / non-polar / unknown for solution rows, ``""`` otherwise),
        ``emission_nm`` (median of the merged rows), ``level``, ``n_measurements``,
        ``references``
    scheme : the label scheme of ``level``
    source : where the table was read from
    n_rows : data rows in the file
    kind_counts : data rows of the file by solvent kind (every row, used or not)
    detail_counts : data rows of the file by ``(kind, detail)``, e.g. ``("solid", "neat")``
    bad_rows : dropped rows with reasons
    n_merged : used rows merged into another row of the same molecule and solvent
    """

    frame: pd.DataFrame
    scheme: LabelScheme
    source: str
    n_rows: int
    kind_counts: dict[str, int]
    detail_counts: dict[tuple[str, str], int]
    bad_rows: list[BadRow] = field(default_factory=list)
    n_merged: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def molecules(self) -> list[str]:
        """Distinct molecules, in order of first appearance (a grouped split's indices refer
        to this list)."""
        return [str(smiles) for smiles in pd.unique(self.frame["molecule"])]

    def molecule_codes(self) -> np.ndarray:
        """Index of each row's molecule in :attr:`molecules` (int64)."""
        codes, _ = pd.factorize(self.frame["molecule"], sort=False)
        return codes.astype(np.int64)

    def rows_of(self, molecule_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Sorted row indices of the given molecules (indices into :attr:`molecules`)."""
        wanted = np.asarray(molecule_indices, dtype=np.int64)
        return np.flatnonzero(np.isin(self.molecule_codes(), wanted)).astype(np.int64)

    def solvent_counts(self) -> pd.Series:
        """Rows per solution solvent (kind ``"smiles"``), most frequent first."""
        solution = self.frame[self.frame["solvent_kind"] == "smiles"]
        return solution["solvent"].value_counts()

    def select_kinds(self, kinds: Sequence[str]) -> SolventMeasurementTable:
        """A copy holding only rows of the given solvent kinds (e.g. ``("smiles",)`` for
        solutions); the file-level counts and dropped rows are kept as read."""
        _check_kinds(kinds)
        kept = self.frame[self.frame["solvent_kind"].isin(list(kinds))].reset_index(drop=True)
        return replace(self, frame=kept)

    def spread(self, nm: float = _SPREAD_NM) -> SolventSpread:
        """Molecules measured in two or more solvents (rows of this table, whatever their
        kind), and how many of them span two or more levels or at least ``nm`` nanometres."""
        grouped = self.frame.groupby("molecule", sort=False)
        n_solvents = grouped.size()
        multi = n_solvents[n_solvents > 1].index
        levels = grouped["level"].agg(lambda x: x.max() - x.min())[multi]
        span = grouped["emission_nm"].agg(lambda x: x.max() - x.min())[multi]
        return SolventSpread(
            n_molecules=int(n_solvents.size),
            n_multi_solvent=int(multi.size),
            n_multi_level=int((levels >= 1).sum()),
            n_multi_nm=int((span >= nm).sum()),
            nm=float(nm),
        )

    def summary(self) -> str:
        """Lines a command can print: rows read, solvent kinds, dropped rows by reason,
        merged duplicates and the resulting rows, molecules and solvents."""
        kinds = ", ".join(f"{self.kind_counts.get(kind, 0):,} {kind}" for kind in SOLVENT_KINDS)
        details = ", ".join(
            f"{kind}/{detail} {count:,}"
            for (kind, detail), count in sorted(self.detail_counts.items())
            if kind != "unknown"
        )
        lines = [
            f"{self.source}: {self.n_rows:,} rows; solvent column: {kinds} ({details})",
        ]
        rows_by_reason: dict[str, list[int]] = {}
        for bad in self.bad_rows:
            rows_by_reason.setdefault(bad.reason, []).append(bad.row)
        for reason, rows in sorted(rows_by_reason.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(str(row) for row in rows[:_ROWS_SHOWN])
            more = ", ..." if len(rows) > _ROWS_SHOWN else ""
            noun = "row" if len(rows) == 1 else "rows"
            lines.append(f"  dropped {len(rows):,} {noun}: {reason} ({noun} {shown}{more})")
        by_kind = self.frame["solvent_kind"].value_counts()
        kept = ", ".join(f"{int(by_kind[kind]):,} {kind}" for kind in by_kind.index)
        lines.append(
            f"  merged {self.n_merged:,} duplicate rows (same molecule and solvent; median nm) "
            f"-> {len(self):,} rows ({kept}) of {len(self.molecules):,} molecules in "
            f"{self.solvent_counts().size:,} solvents"
        )
        return "\n".join(lines)

    def bad_rows_frame(self) -> pd.DataFrame:
        """Dropped rows as a frame with columns ``row``, ``smiles``, ``reason``."""
        return pd.DataFrame(
            {
                "row": [bad.row for bad in self.bad_rows],
                "smiles": [bad.smiles for bad in self.bad_rows],
                "reason": [bad.reason for bad in self.bad_rows],
            }
        )


def _check_kinds(kinds: Sequence[str]) -> None:
    unknown = [kind for kind in kinds if kind not in SOLVENT_KINDS[:3]]
    if unknown or not kinds:
        raise ValueError(f"solvent kinds must be among smiles, gas, solid, got {list(kinds)!r}")




def _values(text: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    reasons = np.full(len(text), None, dtype=object)
    missing = text.str.lower().isin(_MISSING_TEXT).to_numpy()
    reasons[np.isnan(numbers) & ~missing] = f"non-numeric value in {column!r}"
    reasons[np.isinf(numbers)] = f"infinite value in {column!r}"
    reasons[missing] = f"no value in {column!r}"
    return numbers, reasons


def _parse_solvents(solvents: pd.Series, solutes: pd.Series) -> list[ParsedSolvent]:
    """:func:`parse_solvent` of each row, each distinct (solvent, solute) pair once."""
    cache: dict[tuple[str, str], ParsedSolvent] = {}
    parsed = []
    for text, solute in zip(solvents.to_numpy(object), solutes.to_numpy(object), strict=True):
        key = (text, solute)
        if key not in cache:
            cache[key] = parse_solvent(text, solute=solute or None)
        parsed.append(cache[key])
    return parsed


def _classes(solvents: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    classes = {smiles: solvent_class(smiles) for smiles in pd.unique(solvents[kinds == "smiles"])}
    return np.array(
        [classes[s] if k == "smiles" else "" for s, k in zip(solvents, kinds, strict=True)],
        dtype=object,
    )


def read_solvent_measurements(
    path: str | Path,
    *,
    smiles_column: str = DEEP4CHEM_SMILES_COLUMN,
    solvent_column: str = DEEP4CHEM_SOLVENT_COLUMN,
    value_column: str = DEEP4CHEM_VALUE_COLUMN,
    reference_column: str | None = DEEP4CHEM_REFERENCE_COLUMN,
    kinds: Sequence[str] = ("smiles", "gas", "solid"),
    scheme: LabelScheme = EMISSION8,
    standardizer: StandardizerConfig = StandardizerConfig(),
) -> SolventMeasurementTable:
    """Read (molecule, solvent, emission) rows (rules in the module docstring).

    Parameters
    ----------
    path : CSV file (``.tsv``: tab-separated), UTF-8 with or without a byte-order mark
    smiles_column, solvent_column, value_column : the molecule, solvent and emission columns
        (Deep4Chem's by default)
    reference_column : the column naming each row's source, or ``None``; a missing
        ``Reference`` column is allowed (the references are then ``""``)
    kinds : solvent kinds to keep, among ``"smiles"``, ``"gas"``, ``"solid"``
    scheme : a binned label scheme for ``level``
    standardizer : how each molecule SMILES is standardised

    Raises
    ------
    ValueError
        For a missing column (the message lists the available ones), a categorical scheme,
        unknown kinds, or a file without a usable row.
    """
    path = Path(path)
    _check_kinds(kinds)
    if scheme.is_categorical:
        raise ValueError(f"label scheme {scheme.name!r} is categorical; it cannot bin emission")
    separator = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    header = list(pd.read_csv(path, sep=separator, encoding="utf-8-sig", nrows=0).columns)
    if reference_column == DEEP4CHEM_REFERENCE_COLUMN and reference_column not in header:
        reference_column = None
    wanted = [smiles_column, solvent_column, value_column]
    if reference_column is not None:
        wanted.append(reference_column)
    missing = [column for column in wanted if column not in header]
    if missing:
        available = ", ".join(repr(column) for column in header)
        raise ValueError(
            f"{path}: no column {missing[0]!r}; pass the column name. "
            f"Available columns: {available}"
        )
    frame = pd.read_csv(
        path, sep=separator, encoding="utf-8-sig", usecols=wanted, dtype=str, na_filter=False
    )
    chromophores = frame[smiles_column].str.strip()
    molecules, reasons = standardise_smiles_column(chromophores, standardizer)
    values, value_reasons = _values(frame[value_column].str.strip(), value_column)
    parsed = _parse_solvents(frame[solvent_column], chromophores)
    solvent_reasons = np.array(
        [
            f"unknown solvent: {p.detail}"
            if p.kind == "unknown"
            else (None if p.kind in kinds else f"solvent kind {p.kind!r} not requested")
            for p in parsed
        ],
        dtype=object,
    )
    for extra in (value_reasons, solvent_reasons):
        reasons = np.where(pd.isna(reasons), extra, reasons)
    good = pd.isna(reasons)
    bad_rows = [
        BadRow(
            row=int(i) + _FIRST_DATA_ROW,
            smiles=str(frame[smiles_column].iat[i]),
            reason=str(reasons[i]),
        )
        for i in np.flatnonzero(~good)
    ]
    kind_counts = dict(Counter(p.kind for p in parsed))
    detail_counts = dict(Counter((p.kind, p.detail) for p in parsed))
    if not good.any():
        raise ValueError(f"no usable rows in {path} ({len(bad_rows):,} rows dropped)")
    used = pd.DataFrame(
        {
            "molecule": molecules[good],
            "solvent": [p.smiles for p, ok in zip(parsed, good, strict=True) if ok],
            "solvent_kind": [p.kind for p, ok in zip(parsed, good, strict=True) if ok],
            "solvent_detail": [p.detail for p, ok in zip(parsed, good, strict=True) if ok],
            "emission_nm": values[good],
            "reference": (
                frame[reference_column].str.strip().to_numpy(object)[good]
                if reference_column is not None
                else ""
            ),
        }
    )
    grouped = used.groupby(["molecule", "solvent_kind", "solvent"], sort=False)
    rows = grouped.agg(
        solvent_detail=("solvent_detail", "first"),
        emission_nm=("emission_nm", "median"),
        n_measurements=("emission_nm", "size"),
        references=("reference", lambda refs: "; ".join(r for r in pd.unique(refs) if r)),
    ).reset_index()
    rows["level"] = scheme.assign(rows["emission_nm"].to_numpy(float))
    rows["solvent_class"] = _classes(
        rows["solvent"].to_numpy(object), rows["solvent_kind"].to_numpy(object)
    )
    rows["n_measurements"] = rows["n_measurements"].astype(np.int64)
    return SolventMeasurementTable(
        frame=rows[list(MEASUREMENT_COLUMNS)],
        scheme=scheme,
        source=str(path),
        n_rows=len(frame),
        kind_counts=kind_counts,
        detail_counts=detail_counts,
        bad_rows=bad_rows,
        n_merged=int(good.sum()) - len(rows),
    )
