"""One prediction record: the fields every front end writes, and the writers of CSV, Parquet, SDF.

``predict``, ``screen`` and the service write the same fields with the same names and meanings:

1. the input's own columns, unchanged and in order (a column whose name is one of zincfluor's
   fields below is written as ``input_<name>``, the only renaming);
2. zincfluor's fields, in this order: ``row``, ``rank`` (ranked outputs only), ``status``
   (``ok`` | ``invalid`` | ``out_of_scope``), ``reason`` (why not ok; empty when ok), ``notes``
   (what standardisation changed, ``; ``-separated), ``canonical_smiles``, then, for a model
   folder with a solvent-aware model only (``solvent/``,
   :mod:`zincfluor.screening.solvent_model`), ``solvent`` (the canonical SMILES of the solvent
   the row was predicted in; empty: none given, the solvent-free model's answer) and
   ``solvent_seen`` (``true`` | ``false``: whether that solvent was among the solvent-aware
   model's training solvents; empty without a solvent), then ``level`` (level name),
   ``level_index``, ``rare_score`` (the summed probability of the target levels), ``p_<level>`` for
   each level, then ``emission_nm``, ``emission_nm_low``, ``emission_nm_high`` for a model with a
   wavelength head (median and central 80 % interval, nm), then, for a model folder with trust
   files (``trust/``, ``zincfluor model trust``), the trust fields: ``prediction_set`` (the levels
   of the 90 % class-conditional conformal prediction set, always holding the predicted level,
   ``|``-joined in text, a list in JSON),
   ``emission_nm_low_90`` and ``emission_nm_high_90`` (wavelength models: the conformalised 90 %
   interval of the emission maximum, nm), ``nearest_similarity`` (Morgan Tanimoto similarity to
   the nearest training molecule, 3 decimals) and ``in_domain`` (``true`` | ``false``: that
   similarity reaches the threshold chosen on validation); then ``rare_score_std`` for an
   ensemble (the rare score's spread over its members) and ``inchikey`` where a front end asks
   for it. A model without trust files has none of the trust fields. The measured neighbours and
   atom attributions are not in the record: ``zincfluor explain`` and the service's per-molecule
   routes give them.

Counting convention: ``row`` and ``rank`` count from 1 like spreadsheet lines (``row`` is the
record's position among the input's molecules, a header line not counted; ``rank`` the position
among scored rows by rare score, empty for unscored ones); ``level_index`` counts from 0 like the
model's classes.

A record's one form is its *text row*: every value as text, probabilities and rare scores with 6
decimals, wavelengths with 1 decimal, empty where there is nothing to say. CSV and SDF properties
are text rows as they are; Parquet and JSON read numbers back from them (:func:`typed_row`,
empty fields as null), so every output carries the same rounded numbers.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FORMATS",
    "STATUSES",
    "TRUST_FIELDS",
    "SOLVENT_FIELDS",
    "TrustValues",
    "trust_text",
    "RecordLayout",
    "RecordWriter",
    "zincfluor_fields",
    "input_column_names",
    "split_status",
    "format_record",
    "prediction_rows",
    "typed_row",
    "resolve_format",
    "open_record_writer",
]

FORMATS = ("csv", "parquet", "sdf")
"""Output formats of :class:`RecordWriter`."""

STATUSES = ("ok", "invalid", "out_of_scope")
"""A record's ``status``: scored, not a molecule, or a molecule the model cannot score."""

_SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".sdf": "sdf",
                   ".sd": "sdf"}
_INT_FIELDS = frozenset({"row", "rank", "level_index"})
_NM_FIELDS = ("emission_nm", "emission_nm_low", "emission_nm_high")
_NM_90_FIELDS = ("emission_nm_low_90", "emission_nm_high_90")
TRUST_FIELDS = ("prediction_set", *_NM_90_FIELDS, "nearest_similarity", "in_domain")
"""The trust fields (the two ``_90`` ones for wavelength models only)."""
SET_SEPARATOR = "|"
SOLVENT_FIELDS = ("solvent", "solvent_seen")
"""The solvent fields (a model folder with a solvent-aware model only)."""


@dataclass(frozen=True)
class TrustValues:
    """One scored record's trust fields (see the module docstring): the level names of its
    90 % prediction set, its 90 % emission interval (low, high nm; ``None`` without one), its
    nearest-training-molecule similarity and its ``in_domain`` flag."""

    prediction_set: tuple[str, ...]
    emission_interval: tuple[float, float] | None
    nearest_similarity: float | None
    in_domain: bool


def zincfluor_fields(level_names: Sequence[str], *, wavelength: bool = False,
                     ensemble: bool = False, ranked: bool = False,
                     inchikey: bool = False, trust: bool = False,
                     solvent: bool = False) -> list[str]:
    """zincfluor's fields of a record, in order (see the module docstring).

    ``wavelength``: the model has a wavelength head; ``ensemble``: it has more than one member;
    ``ranked``: the output is ranked (``screen``), so it has ``rank``; ``inchikey``: add it;
    ``trust``: the model folder has trust files (the trust fields follow the wavelength ones);
    ``solvent``: it has a solvent-aware model (the solvent fields follow ``canonical_smiles``).
    """
    fields = ["row"] + (["rank"] if ranked else [])
    fields += ["status", "reason", "notes", "canonical_smiles"]
    fields += list(SOLVENT_FIELDS) if solvent else []
    fields += ["level", "level_index", "rare_score"]
    fields += [f"p_{name}" for name in level_names]
    fields += list(_NM_FIELDS) if wavelength else []
    if trust:
        fields += [name for name in TRUST_FIELDS if wavelength or name not in _NM_90_FIELDS]
    fields += ["rare_score_std"] if ensemble else []
    return fields + (["inchikey"] if inchikey else [])


def input_column_names(columns: Sequence[str], fields: Sequence[str]) -> list[str]:
    """The output names of the input's ``columns``: unchanged, except a name that is one of
    ``fields`` (or an earlier output name) gets ``input_`` in front until it is unique."""
    taken = set(fields)
    names = []
    for column in columns:
        name = str(column)
        while name in taken:
            name = f"input_{name}"
        taken.add(name)
        names.append(name)
    return names


@dataclass(frozen=True)
class RecordLayout:
    """The columns of one output: the input's columns, then zincfluor's fields.

    Parameters
    ----------
    level_names : the model's level names, in level order
    input_columns : the input's own column names, in order (``MoleculeInput.columns``)
    wavelength, ensemble, ranked, inchikey, trust, solvent : which optional fields there are
        (:func:`zincfluor_fields`)
    id_column : the input column holding each molecule's id (the SDF record name), if any
    """

    level_names: tuple[str, ...]
    input_columns: tuple[str, ...] = ()
    wavelength: bool = False
    ensemble: bool = False
    ranked: bool = False
    inchikey: bool = False
    id_column: str | None = None
    trust: bool = False
    solvent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "level_names", tuple(self.level_names))
        object.__setattr__(self, "input_columns", tuple(self.input_columns))

    @property
    def fields(self) -> list[str]:
        """zincfluor's fields (:func:`zincfluor_fields`)."""
        return zincfluor_fields(self.level_names, wavelength=self.wavelength,
                                ensemble=self.ensemble, ranked=self.ranked,
                                inchikey=self.inchikey, trust=self.trust,
                                solvent=self.solvent)

    @property
    def columns(self) -> list[str]:
        """Every output column: the input's (renamed where they clash), then :attr:`fields`."""
        fields = self.fields
        return input_column_names(self.input_columns, fields) + fields

    @property
    def id_index(self) -> int | None:
        """Position of :attr:`id_column` in a text row, or ``None``."""
        if self.id_column is None or self.id_column not in self.input_columns:
            return None
        return self.input_columns.index(self.id_column)

    def kinds(self) -> list[str]:
        """Per column: ``"int"``, ``"float"``, ``"bool"`` (``in_domain``, ``solvent_seen``),
        ``"set"`` (``prediction_set``: a list of level names) or ``"text"`` (input columns are
        text)."""
        numbers = {f"p_{name}" for name in self.level_names}
        numbers |= {"rare_score", "rare_score_std", "nearest_similarity", *_NM_FIELDS,
                    *_NM_90_FIELDS}
        special = {"in_domain": "bool", "solvent_seen": "bool", "prediction_set": "set"}
        kinds = ["text"] * len(self.input_columns)
        for name in self.fields:
            kinds.append("int" if name in _INT_FIELDS else "float" if name in numbers
                         else special.get(name, "text"))
        return kinds


def split_status(status: str) -> tuple[str, str]:
    """``"invalid: unclosed ring"`` -> ``("invalid", "unclosed ring")``; ``"ok"`` -> ``("ok", "")``
    (the predictor's status strings as a record's ``status`` and ``reason``)."""
    kind, _, reason = status.partition(":")
    return kind.strip(), reason.strip()


def _number(value: float | None, decimals: int) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    return f"{value:.{decimals}f}"


def trust_text(trust: TrustValues | None, wavelength: bool) -> list[str]:
    """The trust fields of a record as text (empty ones for ``None``: a row not scored)."""
    if trust is None:
        return [""] * (5 if wavelength else 3)
    text = [SET_SEPARATOR.join(trust.prediction_set)]
    if wavelength:
        low, high = trust.emission_interval or (None, None)
        text += [_number(low, 1), _number(high, 1)]
    return text + [_number(trust.nearest_similarity, 3), "true" if trust.in_domain else "false"]


def format_record(
    layout: RecordLayout,
    *,
    values: Sequence[str],
    row: int,
    status: str,
    reason: str = "",
    notes: Sequence[str] = (),
    canonical_smiles: str | None = None,
    probs: Sequence[float] | None = None,
    rare_score: float | None = None,
    rank: int | None = None,
    emission_nm: Sequence[float] | None = None,
    rare_score_std: float | None = None,
    inchikey: str | None = None,
    trust: TrustValues | None = None,
    solvent: str | None = None,
    solvent_seen: bool | None = None,
) -> list[str]:
    """One record as a text row of ``layout`` (aligned with ``layout.columns``).

    ``values``: the input's own fields (padded with empty ones to the input's columns);
    ``probs``: the level probabilities, ``None`` (or NaN) for a row that was not scored, which
    then gets empty level, probability, wavelength, trust and score fields whatever else is
    passed; ``trust``: its trust fields (for a layout with ``trust``); ``solvent``,
    ``solvent_seen``: the row's solvent (canonical SMILES) and whether the solvent-aware model
    was trained on it (for a layout with ``solvent``; written whether scored or not).
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    n_inputs = len(layout.input_columns)
    text = [str(v) for v in values[:n_inputs]] + [""] * max(0, n_inputs - len(values))
    text.append(str(row))
    if layout.ranked:
        text.append("" if rank is None else str(rank))
    scored = status == "ok" and probs is not None and not np.isnan(np.asarray(probs)).any()
    text += [status, reason, "; ".join(notes), canonical_smiles or ""]
    if layout.solvent:
        text += [solvent or "", "" if solvent_seen is None or not solvent
                 else ("true" if solvent_seen else "false")]
    n_levels = len(layout.level_names)
    if scored:
        index = int(np.argmax(probs))
        text += [layout.level_names[index], str(index), _number(rare_score, 6)]
        text += [f"{float(p):.6f}" for p in probs]
    else:
        text += ["", "", ""] + [""] * n_levels
    if layout.wavelength:
        nm = list(emission_nm) if scored and emission_nm is not None else [None] * 3
        text += [_number(v, 1) for v in nm]
    if layout.trust:
        text += trust_text(trust if scored else None, layout.wavelength)
    if layout.ensemble:
        text.append(_number(rare_score_std, 6) if scored else "")
    if layout.inchikey:
        text.append(inchikey or "")
    return text


def prediction_rows(layout: RecordLayout, records: Sequence, batch,
                    target_indices: Sequence[int]) -> list[list[str]]:
    """Text rows of ``records`` (``InputRecord``s: ``row``, ``values``, ``problem``) and the
    :class:`~zincfluor.screening.predictor.PredictionBatch` ``batch`` predicted for them, in
    order. ``target_indices``: the levels whose probabilities make the rare score. A record with
    a ``problem`` (the reader could not read it) is ``invalid`` with that reason. The solvent
    fields come from the batch's ``solvent`` (for a layout with ``solvent``)."""
    from zincfluor.screening.rare import rare_scores

    scores = rare_scores(batch.probs, target_indices)
    trust = getattr(batch, "trust", None) if layout.trust else None
    solvent = getattr(batch, "solvent", None) if layout.solvent else None
    spread = None
    if layout.ensemble and batch.member_probs is not None:
        spread = np.stack([rare_scores(p, target_indices) for p in batch.member_probs]).std(0)
    rows = []
    for i, record in enumerate(records):
        status, reason = split_status(batch.status[i])
        problem = getattr(record, "problem", None)
        if problem:
            status, reason = "invalid", problem
        rows.append(format_record(
            layout,
            values=getattr(record, "values", ()),
            row=record.row,
            status=status,
            reason=reason,
            notes=batch.notes[i] if batch.notes else (),
            canonical_smiles=None if problem else batch.canonical[i],
            probs=None if problem else batch.probs[i],
            rare_score=float(scores[i]),
            emission_nm=batch.emission_nm[i] if batch.emission_nm is not None else None,
            rare_score_std=float(spread[i]) if spread is not None else None,
            inchikey=batch.inchikey[i] if batch.inchikey is not None else None,
            trust=None if trust is None or problem else trust.values(i, layout.level_names),
            solvent=None if solvent is None else solvent.smiles[i],
            solvent_seen=None if solvent is None else solvent.seen[i],
        ))
    return rows


def _typed(kind: str, text: str, input_column: bool, scored: bool = False):
    if input_column:
        return text
    if kind == "set":  # a scored row's empty set is [], an unscored row's null
        return text.split(SET_SEPARATOR) if text else ([] if scored else None)
    if text == "":
        return None
    if kind == "bool":
        return text == "true"
    return int(text) if kind == "int" else float(text) if kind == "float" else text


def typed_row(layout: RecordLayout, row: Sequence[str]) -> dict[str, object]:
    """A text row as ``{column: value}`` with numbers as numbers, ``in_domain`` as a boolean,
    ``prediction_set`` as a list of level names and zincfluor's empty fields as ``None``
    (JSON's null); the input's own values stay text."""
    n_inputs = len(layout.input_columns)
    scored = bool(row[_level_at(layout)])
    return {
        column: _typed(kind, text, k < n_inputs, scored)
        for k, (column, kind, text) in enumerate(
            zip(layout.columns, layout.kinds(), row, strict=True)
        )
    }


def _level_at(layout: RecordLayout) -> int:
    """Position of ``level`` in a text row (a row was scored when it has one)."""
    return len(layout.input_columns) + layout.fields.index("level")


def resolve_format(out: str | Path, format: str | None = None) -> str:
    """The output format: ``format`` if given, else from ``out``'s suffix (.csv, .parquet/.pq,
    .sdf/.sd); ``csv`` for standard output (``-``)."""
    if format is not None:
        chosen = str(format).lower()
        if chosen not in FORMATS:
            raise ValueError(f"unknown output format {format!r}; use one of {', '.join(FORMATS)}")
        return chosen
    if str(out) == "-":
        return "csv"
    suffix = Path(str(out)).suffix.lower()
    if suffix not in _SUFFIX_FORMATS:
        raise ValueError(
            f"cannot tell the output format of {out} from its suffix; name it .csv, .parquet or "
            f".sdf, or give --format {'|'.join(FORMATS)}"
        )
    return _SUFFIX_FORMATS[suffix]


class RecordWriter:
    """Writes text rows of one :class:`RecordLayout` as CSV, Parquet or SDF.

    A file is written to ``OUT.part`` and renamed to ``OUT`` when the ``with`` block ends
    without an error (and removed when it raises), so no partial output is left behind.
    ``out == "-"``: standard output (CSV and SDF stream, a CSV's header with its first rows, so
    a run that fails before any row writes nothing; Parquet is copied there at the end).
    SDF: one record per row with the row's structure (:meth:`write`'s ``structures``) and every
    column as an SD property; the id column, if any, names the record.
    """

    def __init__(self, out: str | Path, layout: RecordLayout, format: str | None = None):
        self.out = out
        self.layout = layout
        self.format = resolve_format(out, format)
        self.to_stdout = str(out) == "-"
        self.rows = 0
        self._columns = layout.columns
        self._tmp: Path | None = None
        self._handle = None
        self._writer = None
        self._header_written = False

    # lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> RecordWriter:
        if self.to_stdout and self.format != "parquet":
            self._handle = sys.stdout
        else:
            if self.to_stdout:
                import tempfile

                fd, name = tempfile.mkstemp(prefix="zincfluor-", suffix=".parquet.part")
                os.close(fd)
                self._tmp = Path(name)
            else:
                out = Path(self.out)
                out.parent.mkdir(parents=True, exist_ok=True)
                self._tmp = out.with_name(out.name + ".part")
            if self.format != "parquet":
                self._handle = open(self._tmp, "w", newline="", encoding="utf-8")
        self._open_writer()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None and self.format == "csv" and not self._header_written:
                self._writer.writerow(self._columns)
            self._close_writer()
            if exc_type is None and self._tmp is not None:
                if self.to_stdout:
                    with open(self._tmp, "rb") as source:
                        shutil.copyfileobj(source, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    os.replace(self._tmp, self.out)
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def _open_writer(self) -> None:
        if self.format == "csv":  # the header goes out with the first rows (or at the end)
            self._writer = csv.writer(self._handle, lineterminator="\n")
        elif self.format == "sdf":
            from rdkit import Chem

            self._writer = Chem.SDWriter(self._handle)
        else:
            import pyarrow.parquet as pq

            self._schema = _arrow_schema(self._columns, self.layout.kinds())
            self._writer = pq.ParquetWriter(str(self._tmp), self._schema)

    def _close_writer(self) -> None:
        if self._writer is not None and self.format != "csv":
            self._writer.close()
        if self._handle is not None:
            if self._handle is sys.stdout:
                sys.stdout.flush()
            else:
                self._handle.close()

    # rows ------------------------------------------------------------------------------

    def write(self, rows: Sequence[Sequence[str]],
              structures: Sequence[object] | None = None) -> None:
        """Append text rows. ``structures`` (SDF only, aligned with ``rows``): each row's input
        structure, an RDKit ``Chem.Mol`` or a SMILES string (``None``/unreadable: an empty
        molecule that still carries the row's properties)."""
        if not rows:
            return
        if self.format == "csv":
            if not self._header_written:
                self._writer.writerow(self._columns)
                self._header_written = True
            self._writer.writerows(rows)
        elif self.format == "sdf":
            self._write_sdf(rows, structures)
        else:
            self._write_parquet(rows)
        self.rows += len(rows)

    def _write_parquet(self, rows: Sequence[Sequence[str]]) -> None:
        import pyarrow as pa

        n_inputs = len(self.layout.input_columns)
        at = _level_at(self.layout)
        scored = [bool(row[at]) for row in rows]
        arrays = []
        for k, kind in enumerate(self.layout.kinds()):
            values = [_typed(kind, row[k], k < n_inputs, ok)
                      for row, ok in zip(rows, scored, strict=True)]
            arrays.append(pa.array(values, type=self._schema.field(k).type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def _write_sdf(self, rows, structures) -> None:
        from rdkit import Chem

        if structures is None:
            structures = [None] * len(rows)
        id_index = self.layout.id_index
        for row, structure in zip(rows, structures, strict=True):
            mol = _molecule(structure)
            if id_index is not None:
                mol.SetProp("_Name", row[id_index])
            for column, value in zip(self._columns, row, strict=True):
                mol.SetProp(column, value)
            try:
                self._writer.write(mol)
            except RuntimeError:  # a structure RDKit cannot write (e.g. not kekulisable)
                empty = Chem.Mol()
                for name in mol.GetPropNames(includePrivate=True):
                    empty.SetProp(name, mol.GetProp(name))
                self._writer.write(empty)


def _molecule(structure: object):
    """A fresh ``Chem.Mol`` (no properties) of a Mol, a SMILES or nothing."""
    from rdkit import Chem

    mol = None
    if isinstance(structure, Chem.Mol):
        mol = Chem.Mol(structure)
        for name in list(mol.GetPropNames()):
            mol.ClearProp(name)
    elif isinstance(structure, str) and structure:
        mol = Chem.MolFromSmiles(structure)
        if mol is None:
            mol = Chem.MolFromSmiles(structure, sanitize=False)
    return mol if mol is not None else Chem.Mol()


def _arrow_schema(columns: Sequence[str], kinds: Sequence[str]):
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64(), "text": pa.string(),
             "bool": pa.bool_(), "set": pa.list_(pa.string())}
    return pa.schema([pa.field(c, types[k]) for c, k in zip(columns, kinds, strict=True)])


def open_record_writer(out: str | Path, layout: RecordLayout,
                       format: str | None = None) -> RecordWriter:
    """A :class:`RecordWriter` for ``out`` (a path or ``-``); use it as a context manager:
    ``with open_record_writer(out, layout) as writer: writer.write(rows)``."""
    return RecordWriter(out, layout, format)

