"""``zincfluor predict``: one prediction record per input molecule, in input order."""

from __future__ import annotations

from pathlib import Path

import typer

from zincfluor.commands.common import (
    DEVICE_HELP,
    PROGRESS_HELP,
    DeviceChoice,
    console,
    friendly_errors,
    out_console,
)
from zincfluor.commands.screen import (
    FORMAT_HELP,
    ID_COLUMN_HELP,
    INPUT_HELP,
    MODEL_HELP,
    SOLVENT_COLUMN_HELP,
    SOLVENT_HELP,
    TARGET_LEVELS_HELP,
    OutputFormat,
    domain_line,
    model_targets,
)

__all__ = ["register", "predict"]


@friendly_errors
def predict(
    input: str = typer.Argument(..., help=INPUT_HELP),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    out: str = typer.Option(
        ..., "--out",
        help="File to write, one row per input molecule in input order (.csv, .parquet, .sdf), "
        "or - for standard output.",
    ),
    format: OutputFormat = typer.Option(None, "--format", help=FORMAT_HELP),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of a table."),
    id_column: str = typer.Option(None, "--id-column", help=ID_COLUMN_HELP),
    target_levels: str = typer.Option(None, "--target-levels", help=TARGET_LEVELS_HELP),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Molecules per forward pass."),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    solvent: str = typer.Option(None, "--solvent", help=SOLVENT_HELP),
    solvent_column: str = typer.Option(None, "--solvent-column", help=SOLVENT_COLUMN_HELP),
) -> None:
    """Predict fluorescence levels and the rare score; invalid rows are flagged, never dropped.

    Every input column is kept, then zincfluor's fields (row, status, reason, notes,
    canonical_smiles, level, level_index, rare_score, p_<level>...). With --solvent (or a
    solvent column) and a model folder with a solvent-aware model, each molecule is predicted
    in its solvent, e.g. `zincfluor predict dye.smi --out - --solvent toluene`.
    """
    from zincfluor.screening.card import resolve_model_path
    from zincfluor.screening.inputs import open_molecule_inputs
    from zincfluor.screening.predictor import Predictor
    from zincfluor.screening.record import resolve_format
    from zincfluor.screening.writer import write_predictions

    fmt = resolve_format(out, format.value if format else None)
    model_path = resolve_model_path(model)
    # the input first: a wrong path, format or column stops before the model loads
    with open_molecule_inputs(input, smiles_column=smiles_column, id_column=id_column) as inputs:
        predictor = Predictor.load(model_path, device=device.value, batch_size=batch_size)
        targets = model_targets(predictor, model_path, target_levels)
        counts = write_predictions(
            predictor, inputs, out, target_levels=targets, format=fmt,
            progress=progress and input != "-", solvent=solvent, solvent_column=solvent_column,
        )
    report = console if out == "-" else out_console
    report.print(
        f"{counts['rows']} rows -> {'standard output' if out == '-' else out} "
        f"({counts['ok']} predicted, {counts['invalid']} invalid, "
        f"{counts['out_of_scope']} out of scope)"
    )
    if "out_of_domain" in counts:
        report.print(domain_line(counts["out_of_domain"], counts["ok"]))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
