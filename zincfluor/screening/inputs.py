"""Read molecules to predict from a file or standard input, record by record, in any format.

:func:`open_molecule_inputs` opens a source and knows its columns before the first record is
read; iterating it yields one :class:`InputRecord` per input record, so outputs line up with
inputs. Nothing is dropped: a blank .smi line is a record with an empty SMILES, and a record the
reader cannot read is yielded with ``problem`` set (it becomes an ``invalid`` row). Memory stays
bounded for every format: records stream one at a time, after at most :data:`SDF_PROPERTY_SCAN`
SDF records read ahead to learn the columns (Parquet: one batch at a time).

Formats (by the name's suffix, after an optional ``.gz``; by content for standard input, a
name without suffix, or a ``.gz`` name without a known suffix before it):

- **SMILES** (.smi, .smiles, .txt): one molecule a line, the SMILES then an optional id after
  whitespace; a first line ``smiles ...`` is a header. Columns: ``smiles``, ``id``.
- **CSV** (.csv, .tsv, .tab): a header line, then one record a line (quoted fields may hold the
  delimiter or line breaks). The delimiter is ``\\t`` for .tsv/.tab, otherwise sniffed among
  comma, semicolon and tab: the one that splits the header into most fields with the sample rows
  agreeing on that count. A UTF-8 byte-order mark is ignored. A row with fewer fields than the
  header is padded with empty fields; one with more non-empty fields is kept with a ``problem``.
- **SDF** (.sdf, .sd): RDKit reads each record's own molfile block (coordinates, wedges and
  3D stereo as drawn; explicit hydrogens removed after sanitisation). Columns: ``smiles``
  (RDKit's SMILES of the record), ``id`` (the title line, ``_Name``), then the SD property names
  found in the first :data:`SDF_PROPERTY_SCAN` records (their union, in first-seen order; a
  property named like ``smiles`` or ``id`` in any case becomes ``sd_<name>``). A property that
  first appears after those records is not a column. A record RDKit cannot read or sanitise is
  yielded with ``problem`` and no ``mol`` (with its id, its properties and RDKit's SMILES of
  what it read, where it could read them). Text that is not UTF-8 in a record's title or
  properties is read with U+FFFD in place of the bytes that are not.
  The record's ``mol`` keeps its coordinates; :func:`~zincfluor.chem.smiles.parse_mol`
  assigns their stereo as the SMILES parser would before standardisation.
- **Parquet** (.parquet, .pq): read in batches of :data:`PARQUET_BATCH_ROWS` rows with pyarrow;
  values are written as text (missing values and NaN as empty text). Parquet needs to seek, so
  a gzipped or piped Parquet input is first copied to a temporary file.
- Any of them compressed with gzip (a ``.gz`` suffix or gzip's magic bytes, on standard input
  too).

Column choice: ``smiles_column`` and ``id_column`` match a column name exactly, else ignoring
case and surrounding whitespace. Without ``smiles_column`` the SMILES column is found by name
(:data:`SMILES_COLUMN_NAMES`), else as the column whose sample values parse as SMILES; without
``id_column`` the id column is found by name (:data:`ID_COLUMN_NAMES`). A SMILES file's
SMILES and an SDF's structures cannot come from another column (``smiles_column`` may only name
``smiles``); an SDF's id may come from any of its properties. ``row`` counts a
record's position among the input's records from 1 (a header is not counted), in every format.

Mistakes (no such file, a directory, an empty file, an unknown format, a missing column, text
that is not UTF-8, a corrupt gzip or Parquet file) raise ``ValueError`` with one line that names
the input and the fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rdkit import Chem

from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles

__all__ = [
    "InputRecord",
    "MoleculeInput",
    "open_molecule_inputs",
    "read_molecule_inputs",
    "is_smiles_file",
    "input_format",
    "detect_smiles_column",
    "detect_id_column",
    "SMILES_COLUMN_NAMES",
    "ID_COLUMN_NAMES",
    "FORMATS",
    "SDF_PROPERTY_SCAN",
    "PARQUET_BATCH_ROWS",
]

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "chromophore", "smile", "mol", "molecule")
ID_COLUMN_NAMES = ("id", "name", "identifier")

FORMATS = {
    ".smi": "smi", ".smiles": "smi", ".txt": "smi",
    ".csv": "csv", ".tsv": "csv", ".tab": "csv",
    ".sdf": "sdf", ".sd": "sdf",
    ".parquet": "parquet", ".pq": "parquet",
}
"""File suffix -> format (the suffix before an optional ``.gz``)."""

SDF_PROPERTY_SCAN = 1000
"""An SDF's columns are the SD properties found in its first this many records."""

PARQUET_BATCH_ROWS = 4096
"""Rows read from a Parquet file at a time."""

_SAMPLE_ROWS = 20  # rows looked at to find the SMILES column by content
_SNIFF_LINES = 50  # lines looked at to choose a CSV's delimiter
_HEAD_BYTES = 1 << 16  # bytes looked at to tell the format of an input without suffix
_MAX_SDF_RECORD_BYTES = 64 << 20  # an SDF record this long is not an SDF record
_GZIP_MAGIC = b"\x1f\x8b"
_SUFFIXES = ", ".join(FORMATS)


@dataclass(frozen=True)
class InputRecord:
    """One input record.

    Attributes
    ----------
    row : 1-based position of the record among the input's records (a header is not counted)
    smiles : the record's SMILES text (for SDF: RDKit's SMILES of the record's structure)
    id : the record's id, or ``None``
    values : the input's own fields as text, aligned with :attr:`MoleculeInput.columns`
    mol : the record's own structure (SDF only), sanitised, to be standardised as it is
    problem : why the reader could not read the record (it is still yielded), else ``None``
    """

    row: int
    smiles: str
    id: str | None = None
    values: tuple[str, ...] = ()
    mol: Chem.Mol | None = None
    problem: str | None = None


class MoleculeInput:
    """An opened molecule input: its format and columns, then its records (one pass).

    Use it as a context manager (the file is closed on exit) and iterate it for
    :class:`InputRecord` objects. Errors found while reading (text that is not UTF-8, a
    truncated gzip stream) are raised as ``ValueError`` naming the input.

    Attributes
    ----------
    name : how the input is named in messages (its path, or "standard input")
    format : "smi", "csv", "sdf" or "parquet"
    columns : the input's own column names, in order (see the module docstring per format)
    smiles_column : the column the SMILES come from (``None`` for SDF: the structures)
    id_column : the column ids come from, or ``None``
    """

    def __init__(self, *, name: str, format: str, columns: list[str],
                 smiles_column: str | None, id_column: str | None,
                 records: Iterator[InputRecord], close: Callable[[], None]):
        self.name = name
        self.format = format
        self.columns = columns
        self.smiles_column = smiles_column
        self.id_column = id_column
        self._records = records
        self._close = close

    def __iter__(self) -> Iterator[InputRecord]:
        try:
            yield from self._records
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{self.name}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); save it "
                "as UTF-8 (Excel: 'CSV UTF-8')"
            ) from None
        except csv.Error as error:
            raise ValueError(f"{self.name}: cannot read it as CSV ({error})") from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ValueError(f"{self.name}: the gzip data is corrupt or cut short ({error})") \
                from None

    def close(self) -> None:
        self._close()

    def __enter__(self) -> MoleculeInput:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_molecule_inputs(
    source: str | Path,
    *,
    smiles_column: str | None = None,
    id_column: str | None = None,
    detect_id: bool = True,
    name: str | None = None,
) -> MoleculeInput:
    """Open ``source`` (a path, or ``-`` for standard input) as a :class:`MoleculeInput`.

    ``smiles_column`` / ``id_column`` name the columns to read (any case); without them the
    SMILES column is detected, and with ``detect_id`` the id column too (see the module
    docstring). ``name`` names the input in messages (default: ``source`` as given).
    Raises ``ValueError`` (one line naming the input and the fix) for every unusable input.
    """
    label = name or ("standard input" if str(source) == "-" else str(source))
    raw, stem_suffix, path = _open_binary(source, label)

    def close_raw() -> None:
        if raw is not sys.stdin.buffer:
            raw.close()

    try:
        stream, compressed = _decompressed(raw, label)
        fmt = FORMATS.get(stem_suffix)
        named_gz = path is not None and path.suffix.lower() == ".gz"
        if fmt is None and stem_suffix and not named_gz:
            raise ValueError(f"{label}: unknown input format {stem_suffix!r}; use one of "
                             f"{_SUFFIXES} (optionally .gz)")
        if fmt is None:
            stream, fmt = _sniff_format(stream, label)
        opened = _READERS[fmt](stream, label, path if not compressed else None,
                               stem_suffix, smiles_column, id_column, detect_id)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        close_raw()
        raise ValueError(f"{label}: the gzip data is corrupt or cut short ({error})") from None
    except UnicodeDecodeError:
        close_raw()
        raise ValueError(f"{label}: not UTF-8 text; save it as UTF-8 (Excel: 'CSV UTF-8')") \
            from None
    except BaseException:
        close_raw()
        raise
    columns, smiles_col, id_col, records, extra_close = opened

    def close() -> None:
        extra_close()
        close_raw()

    return MoleculeInput(name=label, format=fmt, columns=columns, smiles_column=smiles_col,
                         id_column=id_col, records=records, close=close)


def read_molecule_inputs(
    source: str | Path,
    *,
    smiles_column: str | None = None,
    id_column: str | None = None,
    detect_id: bool = False,
) -> Iterator[InputRecord]:
    """Yield the :class:`InputRecord` objects of ``source``; a thin generator over
    :func:`open_molecule_inputs` for callers that need only the records (the file opens at the
    first ``next``). Ids come from ``id_column``, or with ``detect_id`` from a detected column;
    SMILES files and SDF always carry theirs."""
    with open_molecule_inputs(source, smiles_column=smiles_column, id_column=id_column,
                              detect_id=detect_id) as inputs:
        yield from inputs


def is_smiles_file(source: str | Path) -> bool:
    """True for .smi/.smiles/.txt paths (optionally .gz), whose lines may carry an id."""
    return input_format(source) == "smi"


def input_format(source: str | Path) -> str | None:
    """The format a path's suffix names ("smi", "csv", "sdf", "parquet"), else ``None``."""
    return FORMATS.get(_stem_suffix(Path(str(source))))


# --- opening ------------------------------------------------------------------------------


def _stem_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        return suffixes[-2] if len(suffixes) > 1 else ".gz"
    return suffixes[-1] if suffixes else ""


def _open_binary(source: str | Path, label: str) -> tuple[BinaryIO, str, Path | None]:
    if str(source) == "-":
        return sys.stdin.buffer, "", None
    path = Path(source)
    if path.is_dir():
        raise ValueError(f"{label}: is a directory; give one input file ({_SUFFIXES}, "
                         "optionally .gz)")
    if not path.exists():
        raise ValueError(f"{label}: does not exist (check the path)")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by MoleculeInput.close
    except OSError as error:
        raise ValueError(f"{label}: cannot be opened ({error.strerror})") from None
    return handle, _stem_suffix(path), path


class _Replay(io.RawIOBase):
    """A binary stream whose first bytes were read already: serves them again, then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _peek(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes of ``stream`` (fewer at its end) and a stream of all of it."""
    head = stream.read(size)
    return head, io.BufferedReader(_Replay(head, stream))


def _decompressed(raw: BinaryIO, label: str) -> tuple[BinaryIO, bool]:
    """``raw``, ungzipped when it starts with gzip's magic bytes, and whether it was."""
    magic, stream = _peek(raw, 2)
    if magic == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb"), True
    if not magic:
        raise ValueError(f"{label}: the input is empty; it holds no molecules")
    return stream, False


def _nothing() -> None:
    """Nothing more to close."""


def _sniff_format(stream: BinaryIO, label: str) -> tuple[BinaryIO, str]:
    head, stream = _peek(stream, _HEAD_BYTES)
    if not head.strip():
        raise ValueError(f"{label}: the input is empty; it holds no molecules")
    if head.startswith(b"PAR1"):
        return stream, "parquet"
    if b"\x00" in head:
        raise ValueError(f"{label}: cannot tell its format (binary data); give a file named "
                         f"with one of {_SUFFIXES} (optionally .gz)")
    lines = head.splitlines()
    if b"$$$$" in lines or b"M  END" in lines or (
        len(lines) > 3 and (b"V2000" in lines[3] or b"V3000" in lines[3])
    ):
        return stream, "sdf"
    first = next((line for line in lines if line.strip()), b"").decode("utf-8", "replace")
    if "," in first or ";" in first:
        return stream, "csv"  # a SMILES never holds a comma or a semicolon
    if "\t" in first and not _parses(first.split("\t", 1)[0].strip()):
        return stream, "csv"  # a tab-separated header, not a SMILES followed by its id
    return stream, "smi"


def _text(stream: BinaryIO) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


# --- columns ------------------------------------------------------------------------------


def detect_smiles_column(header: list[str], sample_rows: list[list[str]]) -> str:
    """The SMILES column of a table: by name first, else the column whose sample values parse.

    Raises ``ValueError`` when there is none.
    """
    found = _find_smiles_column(header, sample_rows)
    if found is None:
        raise ValueError(
            f"no SMILES column found among {header}; name it with --smiles-column"
        )
    return header[found]


def _find_smiles_column(header: list[str], sample_rows: list[list[str]]) -> int | None:
    lowered = {}
    for index, name in enumerate(header):
        lowered.setdefault(name.strip().lower(), index)
    for candidate in SMILES_COLUMN_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    best, best_hits = None, 0
    for index in range(len(header)):
        values = [row[index] for row in sample_rows if index < len(row) and row[index].strip()]
        hits = sum(_parses(v) for v in values[:_SAMPLE_ROWS])
        numeric = sum(_is_number(v) for v in values[:_SAMPLE_ROWS])
        if hits > best_hits and hits > numeric:
            best, best_hits = index, hits
    return best


def detect_id_column(header: list[str], smiles_column: str | None = None) -> str | None:
    """The id column of a table: the first of :data:`ID_COLUMN_NAMES` (any case) in ``header``
    that is not the SMILES column, or ``None``."""
    lowered = {name.strip().lower(): name for name in header if name != smiles_column}
    for candidate in ID_COLUMN_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _listing(columns: list[str]) -> str:
    shown = ", ".join(columns[:20])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > 20 else "")


def _resolve(columns: list[str], wanted: str, label: str, what: str, flag: str) -> int:
    """Index of the column named ``wanted``: exact, else ignoring case and outer whitespace."""
    exact = [i for i, name in enumerate(columns) if name == wanted]
    if len(exact) == 1:
        return exact[0]
    key = wanted.strip().casefold()
    matches = [i for i, name in enumerate(columns) if name.strip().casefold() == key]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValueError(f"{label}: {what} {wanted!r} not in the input; columns are "
                         f"{_listing(columns)} (name one of them with {flag})")
    names = ", ".join(repr(columns[i]) for i in matches)
    raise ValueError(f"{label}: {what} {wanted!r} matches several columns ({names}); "
                     "rename them apart")


def _choose_columns(columns, sample, label, smiles_column, id_column, detect_id):
    """(SMILES column index, id column index or None) of a table."""
    if smiles_column is not None:
        smiles_index = _resolve(columns, smiles_column, label, "column", "--smiles-column")
    else:
        smiles_index = _find_smiles_column(columns, sample)
        if smiles_index is None:
            raise ValueError(f"{label}: no SMILES column found; columns are "
                             f"{_listing(columns)} (name it with --smiles-column)")
    id_index = None
    if id_column is not None:
        id_index = _resolve(columns, id_column, label, "id column", "--id-column")
    elif detect_id:
        found = detect_id_column(columns, columns[smiles_index])
        id_index = columns.index(found) if found is not None else None
    return smiles_index, id_index


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


def _field(values: tuple[str, ...], index: int | None) -> str | None:
    if index is None:
        return None
    return values[index].strip() or None


# --- SMILES files -------------------------------------------------------------------------


def _open_smi(stream, label, path, suffix, smiles_column, id_column, detect_id):
    columns = ["smiles", "id"]
    if smiles_column is not None and _resolve(columns, smiles_column, label, "column",
                                              "--smiles-column") != 0:
        raise ValueError(f"{label}: a SMILES file's SMILES are its first field; drop "
                         "--smiles-column")
    if id_column is not None and _resolve(columns, id_column, label, "id column",
                                          "--id-column") != 1:
        raise ValueError(f"{label}: a SMILES file's ids follow the SMILES; drop --id-column")
    text = _text(stream)

    def records() -> Iterator[InputRecord]:
        row = 0
        for number, line in enumerate(text, start=1):
            parts = line.strip().split(maxsplit=1)
            if number == 1 and parts and parts[0].lower() == "smiles":
                continue  # header line
            row += 1
            smiles = parts[0] if parts else ""
            ident = parts[1] if len(parts) > 1 else ""
            yield InputRecord(row, smiles, ident or None, (smiles, ident))

    return columns, "smiles", "id", records(), _nothing


# --- CSV ----------------------------------------------------------------------------------


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter (comma, semicolon or tab) that splits the header into most fields while
    the sample rows agree on that count."""
    best, best_score = ",", (-1.0, 0)
    for delimiter in (",", ";", "\t"):
        try:
            rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = [row for row in rows[1:-1] if row] or [row for row in rows[1:] if row]
        agree = sum(len(row) == width for row in body) / len(body) if body else 1.0
        if (agree, width) > best_score:
            best, best_score = delimiter, (agree, width)
    return best


def _open_csv(stream, label, path, suffix, smiles_column, id_column, detect_id):
    text = _text(stream)
    lines = list(itertools.islice(text, _SNIFF_LINES))
    if not any(line.strip() for line in lines):
        raise ValueError(f"{label}: the input is empty; it holds no molecules")
    delimiter = "\t" if suffix in (".tsv", ".tab") else _sniff_delimiter(lines)
    reader = csv.reader(itertools.chain(lines, text), delimiter=delimiter)
    columns = next(reader)
    sample = list(itertools.islice(reader, _SAMPLE_ROWS))
    smiles_index, id_index = _choose_columns(columns, sample, label, smiles_column, id_column,
                                             detect_id)
    width = len(columns)

    def records() -> Iterator[InputRecord]:
        for row, fields in enumerate(itertools.chain(sample, reader), start=1):
            problem = None
            if len(fields) > width and any(f.strip() for f in fields[width:]):
                problem = (f"the row has {len(fields)} fields, the header {width} (quote "
                           "fields that hold the delimiter)")
            values = tuple(fields[:width]) + ("",) * (width - len(fields))
            yield InputRecord(row, values[smiles_index], _field(values, id_index), values,
                              problem=problem)

    return (columns, columns[smiles_index], None if id_index is None else columns[id_index],
            records(), _nothing)


# --- SDF ----------------------------------------------------------------------------------

_SDF_FIXED = ("smiles", "id")


def _sdf_blocks(stream: BinaryIO, label: str) -> Iterator[bytes]:
    """Each record of an SDF (up to and including its ``$$$$`` line); a last record without
    ``$$$$`` too, unless it is blank."""
    lines: list[bytes] = []
    size = 0
    for line in stream:
        lines.append(line)
        size += len(line)
        if line.rstrip() == b"$$$$":
            yield b"".join(lines)
            lines, size = [], 0
        elif size > _MAX_SDF_RECORD_BYTES:
            raise ValueError(f"{label}: a record runs over {_MAX_SDF_RECORD_BYTES >> 20} MB "
                             "without its '$$$$' end line; is it an SDF? (name the file by its "
                             "format)")
    if any(line.strip() for line in lines):
        yield b"".join(lines)


@dataclass
class _SdfRecord:
    mol: Chem.Mol | None
    name: str
    properties: dict[str, str]
    smiles: str
    problem: str | None


def _read_sdf_block(block: bytes, number: int) -> _SdfRecord:
    """One SDF record read by RDKit as drawn, sanitised, its explicit hydrogens removed.

    Text that is not UTF-8 in the title or the properties is read with U+FFFD in place of the
    bytes that are not.
    """
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        block = block.decode("utf-8", "replace").encode("utf-8")
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(block), sanitize=False, removeHs=False)
    try:
        mol = next(iter(supplier), None)
    except Exception:  # noqa: BLE001 - RDKit raises on some malformed blocks instead of None
        mol = None
    if mol is None:
        title = block.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        return _SdfRecord(None, title, {}, "", f"SDF record {number}: RDKit cannot read its "
                          "molfile block (check its counts, atom and bond lines)")
    name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    properties = {key: mol.GetProp(key) for key in mol.GetPropNames()}
    try:
        Chem.SanitizeMol(mol)
        if mol.GetNumAtoms() != mol.GetNumHeavyAtoms():  # RemoveHs costs a sanitisation
            mol = Chem.RemoveHs(mol)
    except Exception as error:  # noqa: BLE001 - RDKit raises one of several sanitize errors
        reason = str(error).strip() or type(error).__name__
        return _SdfRecord(None, name, properties, _unsanitized_smiles(mol),
                          f"SDF record {number}: {reason[:1].lower() + reason[1:]}")
    return _SdfRecord(mol, name, properties, Chem.MolToSmiles(mol), None)


def _unsanitized_smiles(mol: Chem.Mol) -> str:
    """RDKit's SMILES of a molecule it could not sanitise, to show what was read ("" if none)."""
    try:
        return Chem.MolToSmiles(mol)
    except Exception:  # noqa: BLE001 - some unsanitised molecules cannot be written
        return ""


def _open_sdf(stream, label, path, suffix, smiles_column, id_column, detect_id):
    blocks = _sdf_blocks(stream, label)
    scanned = [_read_sdf_block(block, number) for number, block in
               enumerate(itertools.islice(blocks, SDF_PROPERTY_SCAN), start=1)]
    if not scanned:
        raise ValueError(f"{label}: the input is empty; it holds no molecules")
    names: dict[str, None] = {}
    for record in scanned:
        names.update(dict.fromkeys(record.properties))
    properties = list(names)
    columns = list(_SDF_FIXED) + [
        f"sd_{key}" if key.strip().casefold() in _SDF_FIXED else key for key in properties
    ]
    if smiles_column is not None and _resolve(columns, smiles_column, label, "column",
                                              "--smiles-column") != 0:
        raise ValueError(f"{label}: an SDF's structures come from its molfile blocks; drop "
                         "--smiles-column")
    id_index = 1
    if id_column is not None:
        id_index = _resolve(columns, id_column, label, "id column", "--id-column")

    def records() -> Iterator[InputRecord]:
        rest = (_read_sdf_block(block, number) for number, block in
                enumerate(blocks, start=len(scanned) + 1))
        for row, record in enumerate(itertools.chain(scanned, rest), start=1):
            values = (record.smiles, record.name) + tuple(
                record.properties.get(key, "") for key in properties)
            yield InputRecord(row, record.smiles, _field(values, id_index), values, record.mol,
                              record.problem)

    return columns, None, columns[id_index], records(), _nothing


# --- Parquet ------------------------------------------------------------------------------


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _open_parquet(stream, label, path, suffix, smiles_column, id_column, detect_id):
    import pyarrow as pa
    import pyarrow.parquet as pq

    spool = None
    if path is None:  # compressed or piped: Parquet needs a seekable file
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by MoleculeInput.close
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
    try:
        parquet = pq.ParquetFile(spool if spool is not None else path)
    except (pa.ArrowException, OSError) as error:
        if spool is not None:
            spool.close()
        raise ValueError(f"{label}: not a readable Parquet file ({error})") from None
    columns = list(parquet.schema_arrow.names)
    batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS)

    def rows_of(batch) -> Iterator[tuple[str, ...]]:
        fields = [[_as_text(v) for v in column.to_pylist()] for column in batch.columns]
        return zip(*fields, strict=True) if fields else iter(())

    first = next(batches, None)
    first_rows = list(rows_of(first)) if first is not None else []
    sample = [list(values) for values in first_rows[:_SAMPLE_ROWS]]
    smiles_index, id_index = _choose_columns(columns, sample, label, smiles_column, id_column,
                                             detect_id)

    def records() -> Iterator[InputRecord]:
        rest = itertools.chain.from_iterable(rows_of(batch) for batch in batches)
        for row, values in enumerate(itertools.chain(first_rows, rest), start=1):
            yield InputRecord(row, values[smiles_index], _field(values, id_index), values)

    def close() -> None:
        parquet.close()
        if spool is not None:
            spool.close()

    return (columns, columns[smiles_index], None if id_index is None else columns[id_index],
            records(), close)


_READERS: dict[str, Callable] = {
    "smi": _open_smi,
    "csv": _open_csv,
    "sdf": _open_sdf,
    "parquet": _open_parquet,
}
