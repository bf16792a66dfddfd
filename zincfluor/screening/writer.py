"""Stream molecules from a file through a :class:`Predictor` into a CSV, chunk by chunk."""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from zincfluor.screening.inputs import InputRecord, is_smiles_file, read_molecule_inputs
from zincfluor.screening.predictor import Predictor

__all__ = ["write_predictions", "prediction_columns"]


def prediction_columns(level_names: list[str], *, with_id: bool,
                       wavelength: bool = False) -> list[str]:
    """Output columns: [id,] smiles, canonical_smiles, status, notes, level, level_name,
    [emission_nm, emission_nm_low, emission_nm_high,] prob_<name>... (``notes``: what
    standardisation changed, ``; ``-separated; the emission maximum's median and central 80 %
    interval in nm, for a model with a wavelength head)."""
    columns = ["id"] if with_id else []
    columns += ["smiles", "canonical_smiles", "status", "notes", "level", "level_name"]
    columns += ["emission_nm", "emission_nm_low", "emission_nm_high"] if wavelength else []
    return columns + [f"prob_{name}" for name in level_names]


def _chunks(records: Iterator[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def write_predictions(
    predictor: Predictor,
    source: str | Path,
    out: str | Path,
    *,
    smiles_column: str | None = None,
    chunk_size: int = 4096,
    progress: bool = True,
) -> dict[str, int]:
    """Predict every row of ``source`` into the CSV ``out``, one output row per input row.

    Memory stays bounded by ``chunk_size``. The file is written to a temporary name and renamed
    when complete, so an interrupted run never leaves a truncated CSV behind.
    Returns counts: rows, ok, invalid, out_of_scope.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with_id = str(source) != "-" and is_smiles_file(source)
    names = predictor.level_names
    counts = {"rows": 0, "ok": 0, "invalid": 0, "out_of_scope": 0}
    tmp = out.with_name(out.name + ".part")
    records = read_molecule_inputs(source, smiles_column=smiles_column)
    with open(tmp, "w", newline="") as handle, Progress(
        SpinnerColumn(),
        TextColumn("{task.completed} molecules"),
        TimeElapsedColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task("predicting", total=None)
        writer = csv.writer(handle, lineterminator="\n")  # plain lines for cut/awk/grep
        wavelength = predictor.predicts_wavelength
        writer.writerow(prediction_columns(names, with_id=with_id, wavelength=wavelength))
        for chunk in _chunks(records, chunk_size):
            result = predictor.predict([record.smiles for record in chunk])
            levels = result.levels
            for i, record in enumerate(chunk):
                ok = levels[i] >= 0
                row = [record.id or ""] if with_id else []
                row += [
                    record.smiles,
                    result.canonical[i] or "",
                    result.status[i],
                    "; ".join(result.notes[i]),
                    int(levels[i]) if ok else "",
                    names[levels[i]] if ok else "",
                ]
                if wavelength:
                    row += ([f"{v:.1f}" for v in result.emission_nm[i]] if ok else ["", "", ""])
                row += [f"{p:.6f}" for p in result.probs[i]] if ok else [""] * len(names)
                writer.writerow(row)
            n_ok = int(result.ok.sum())
            n_out = sum(status.startswith("out_of_scope") for status in result.status)
            counts["rows"] += len(chunk)
            counts["ok"] += n_ok
            counts["out_of_scope"] += n_out
            counts["invalid"] += len(chunk) - n_ok - n_out
            bar.update(task, advance=len(chunk))
    os.replace(tmp, out)
    return counts
