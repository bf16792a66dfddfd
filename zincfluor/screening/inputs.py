"""Read molecules to predict from .csv, .smi/.txt files or standard input, row by row.

Every input row yields exactly one record, so outputs line up with inputs: blank lines inside a
.smi file become records with an empty SMILES (reported as invalid), not silently skipped.
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles

__all__ = [
    "InputRecord",
    "read_molecule_inputs",
    "is_smiles_file",
    "detect_smiles_column",
    "detect_id_column",
    "SMILES_COLUMN_NAMES",
    "ID_COLUMN_NAMES",
]

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "chromophore", "smile", "mol", "molecule")
ID_COLUMN_NAMES = ("id", "name", "identifier")


@dataclass(frozen=True)
class InputRecord:
    """One input row: its 1-based row number in the input, its SMILES text and optional id."""

    row: int
    smiles: str
    id: str | None = None


def detect_smiles_column(header: list[str], sample_rows: list[list[str]]) -> str:
    """The SMILES column of a CSV: by name first, else the column whose sample values parse."""
    lowered = {name.strip().lower(): name for name in header}
    for candidate in SMILES_COLUMN_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    best, best_hits = None, 0
    for index, name in enumerate(header):
        values = [row[index] for row in sample_rows if index < len(row) and row[index].strip()]
        hits = sum(_parses(v) for v in values[:20])
        numeric = sum(_is_number(v) for v in values[:20])
        if hits > best_hits and hits > numeric:
            best, best_hits = name, hits
    if best is None:
        raise ValueError(
            f"no SMILES column found among {header}; name it with --smiles-column"
        )
    return best


def detect_id_column(header: list[str], smiles_column: str | None = None) -> str | None:
    """The id column of a CSV: the first of :data:`ID_COLUMN_NAMES` (any case) in ``header``
    that is not the SMILES column, or ``None``."""
    lowered = {name.strip().lower(): name for name in header if name != smiles_column}
    for candidate in ID_COLUMN_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _parses(text: str) -> bool:
    try:
        parse_smiles(text)
    except InvalidMoleculeError:
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _open_text(source: str | Path) -> io.TextIOBase:
    if str(source) == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
    return open(source, encoding="utf-8-sig", newline="")


def is_smiles_file(source: str | Path) -> bool:
    """True for .smi/.smiles/.txt paths, whose lines may carry an id after the SMILES."""
    return Path(str(source)).suffix.lower() in (".smi", ".smiles", ".txt")


def _is_csv(source: str | Path, first_line: str) -> bool:
    suffix = Path(str(source)).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return True
    if suffix in (".smi", ".smiles", ".txt"):
        return False
    return "," in first_line  # standard input: a comma means CSV (SMILES never contain commas)


def read_molecule_inputs(
    source: str | Path,
    *,
    smiles_column: str | None = None,
    id_column: str | None = None,
    detect_id: bool = False,
) -> Iterator[InputRecord]:
    """Yield one :class:`InputRecord` per input row of ``source`` (a path, or ``-`` for stdin).

    CSV/TSV: the SMILES column is ``smiles_column`` or detected; ids come from ``id_column``, or
    with ``detect_id`` from a column named id, name or identifier (any case), else there are
    none; row numbers follow spreadsheet numbering (header = row 1). SMILES files (.smi/.txt):
    one molecule per line, SMILES then an optional id separated by whitespace; a first line
    ``smiles ...`` is taken as a header.
    """
    handle = _open_text(source)
    try:
        first = handle.readline()
        if not first:
            return
        if _is_csv(source, first):
            yield from _read_csv(first, handle, source, smiles_column, id_column, detect_id)
        else:
            yield from _read_smi(first, handle)
    finally:
        if str(source) != "-":
            handle.close()


def _read_csv(first, handle, source, smiles_column, id_column=None,
              detect_id=False) -> Iterator[InputRecord]:
    delimiter = "\t" if Path(str(source)).suffix.lower() == ".tsv" or "\t" in first else ","
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(csv.reader([first], delimiter=delimiter))
    sample: list[list[str]] = []
    if smiles_column is None:
        for row in reader:
            sample.append(row)
            if len(sample) >= 20:
                break
        smiles_column = detect_smiles_column(header, sample)
    if smiles_column not in header:
        raise ValueError(f"column {smiles_column!r} not in the input; columns are {header}")
    index = header.index(smiles_column)
    if id_column is None and detect_id:
        id_column = detect_id_column(header, smiles_column)
    if id_column is not None and id_column not in header:
        raise ValueError(f"id column {id_column!r} not in the input; columns are {header}")
    id_index = header.index(id_column) if id_column is not None else None
    row_number = 1
    for row in itertools.chain(sample, reader):
        row_number += 1
        ident = row[id_index].strip() if id_index is not None and id_index < len(row) else ""
        yield InputRecord(row_number, row[index] if index < len(row) else "", ident or None)


def _read_smi(first: str, handle) -> Iterator[InputRecord]:
    row_number = 0
    for line in itertools.chain([first], handle):
        row_number += 1
        parts = line.strip().split(maxsplit=1)
        if row_number == 1 and parts and parts[0].lower() == "smiles":
            continue  # header line
        smiles = parts[0] if parts else ""
        yield InputRecord(row_number, smiles, parts[1] if len(parts) > 1 else None)
