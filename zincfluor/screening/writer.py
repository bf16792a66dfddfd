"""Stream molecules from an input through a :class:`Predictor` into prediction records
(:mod:`zincfluor.screening.record`), chunk by chunk, in input order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from zincfluor.screening.inputs import InputRecord, MoleculeInput, open_molecule_inputs
from zincfluor.screening.predictor import Predictor
from zincfluor.screening.record import (
    RecordLayout,
    open_record_writer,
    prediction_rows,
    resolve_format,
)
from zincfluor.screening.solvent_model import RowSolvents

__all__ = [
    "write_predictions", "prediction_layout", "model_input", "input_structure", "opened_inputs",
]


def prediction_layout(predictor: Predictor, input_columns: Sequence[str], *,
                      ranked: bool = False, id_column: str | None = None) -> RecordLayout:
    """The :class:`RecordLayout` of ``predictor``'s predictions for an input with
    ``input_columns`` (wavelength fields for a wavelength head, the trust fields when the
    model folder has trust files, ``rare_score_std`` for an ensemble, ``rank`` when
    ``ranked``, the solvent fields when it has a solvent-aware model)."""
    return RecordLayout(
        tuple(predictor.level_names), tuple(input_columns),
        wavelength=getattr(predictor, "records_wavelength", predictor.predicts_wavelength),
        ensemble=predictor.n_members > 1, ranked=ranked, id_column=id_column,
        trust=predictor.has_trust, solvent=getattr(predictor, "has_solvent_model", False),
    )


def model_input(record: InputRecord) -> object:
    """What the predictor reads for ``record``: its own structure (SDF), else its SMILES; an
    empty SMILES for a record the reader could not read (an invalid row whatever happens)."""
    if record.problem:
        return ""
    return record.mol if record.mol is not None else record.smiles


def input_structure(record: InputRecord) -> object:
    """The structure an SDF output carries for ``record``: its own Mol, else its SMILES."""
    return record.mol if record.mol is not None else record.smiles


@contextmanager
def opened_inputs(source: str | Path | MoleculeInput, *, smiles_column: str | None = None,
                  id_column: str | None = None) -> Iterator[MoleculeInput]:
    """``source`` as an open :class:`MoleculeInput`: opened here (and closed after) from a path
    or ``-``, or an input the caller opened (and closes) passed through as it is."""
    if isinstance(source, MoleculeInput):
        yield source
        return
    with open_molecule_inputs(source, smiles_column=smiles_column, id_column=id_column) as inputs:
        yield inputs


def _chunks(records: Iterator[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def write_predictions(
    predictor: Predictor,
    source: str | Path | MoleculeInput,
    out: str | Path,
    *,
    target_levels: Sequence[int],
    smiles_column: str | None = None,
    id_column: str | None = None,
    format: str | None = None,
    chunk_size: int = 4096,
    progress: bool = True,
    solvent: str | None = None,
    solvent_column: str | None = None,
) -> dict[str, int]:
    """Predict every record of ``source`` into ``out``, one output row per input record.

    Parameters
    ----------
    predictor : the loaded model
    source : any input :func:`~zincfluor.screening.inputs.open_molecule_inputs` reads, ``-``
        for standard input, or an input opened with it
    out : the file to write, or ``-`` for standard output
    target_levels : indices of the levels whose probabilities make the rare score
    smiles_column, id_column : the input's SMILES and id columns (default: detected; for a
        path)
    format : ``csv``, ``parquet`` or ``sdf`` (default: from ``out``'s suffix, csv for ``-``)
    chunk_size : records per prediction call (memory stays bounded by it)
    progress : a progress line on standard error
    solvent, solvent_column : one solvent (name or SMILES) for every record, or the input
        column holding each record's; default: a column named ``solvent`` when the model
        folder has a solvent-aware model (:class:`~zincfluor.screening.solvent_model.
        RowSolvents`)

    The output is written to a temporary file and renamed when complete, so a failed run
    leaves nothing behind. Returns counts: rows, ok, invalid, out_of_scope, and
    out_of_domain (scored rows with ``in_domain`` false; a model with trust files only). Raises
    ``ValueError`` when the input holds no molecules (nothing is written then).
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    fmt = resolve_format(out, format)
    counts = {"rows": 0, "ok": 0, "invalid": 0, "out_of_scope": 0}
    with opened_inputs(source, smiles_column=smiles_column, id_column=id_column) as inputs:
        layout = prediction_layout(predictor, inputs.columns, id_column=inputs.id_column)
        row_solvents = RowSolvents(inputs.columns, solvent=solvent, column=solvent_column,
                                   has_model=getattr(predictor, "has_solvent_model", False))
        status_at = layout.columns.index("status")
        domain_at = layout.columns.index("in_domain") if layout.trust else None
        if layout.trust:
            counts["out_of_domain"] = 0
        with open_record_writer(out, layout, fmt) as writer, Progress(
            SpinnerColumn(), TextColumn("{task.completed} molecules"), TimeElapsedColumn(),
            console=Console(stderr=True), disable=not progress,
        ) as bar:
            task = bar.add_task("predicting", total=None)
            for chunk in _chunks(iter(inputs), chunk_size):
                batch = predictor.predict([model_input(record) for record in chunk],
                                          **_solvent_argument(row_solvents(chunk)))
                rows = prediction_rows(layout, chunk, batch, target_levels)
                structures = [input_structure(r) for r in chunk] if fmt == "sdf" else None
                writer.write(rows, structures)
                counts["rows"] += len(rows)
                for row in rows:
                    counts[row[status_at]] += 1
                    if domain_at is not None and row[domain_at] == "false":
                        counts["out_of_domain"] += 1
                bar.update(task, advance=len(chunk))
            if counts["rows"] == 0:
                raise ValueError(f"{inputs.name} holds no molecules; nothing written")
    return counts


def _solvent_argument(solvents: list[str | None] | None) -> dict:
    """``predict``'s ``solvents`` keyword, left out when no record has a solvent."""
    return {} if solvents is None else {"solvents": solvents}
