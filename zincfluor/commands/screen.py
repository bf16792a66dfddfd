"""``zincfluor screen``: rank a compound library by the probability of the rare levels."""

from __future__ import annotations

from pathlib import Path

import typer

from zincfluor.commands.common import DeviceChoice, console, fail, friendly_errors, out_console

__all__ = ["register", "screen"]

MODEL_HELP = "Model folder (from `zincfluor model ship`), run folder or checkpoint.pt. " \
    "Default: $ZINCFLUOR_MODEL, else the shipped models/emission8-default."


def split_names(text: str | None) -> list[str] | None:
    """``"red,far-red"`` -> ``["red", "far-red"]``; ``None``/empty -> ``None``."""
    if not text:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


@friendly_errors
def screen(
    library: str = typer.Argument(
        ..., help="Molecules: .csv/.tsv, .smi/.txt (SMILES \\[id] per line), or - for stdin."
    ),
    out: Path = typer.Option(..., "--out", help="Ranked CSV to write."),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    top: int = typer.Option(
        None, "--top", min=1, help="Write only the K best-scored molecules (default: all rows)."
    ),
    target_levels: str = typer.Option(
        None, "--target-levels",
        help="Comma-separated levels whose probabilities make the rare score, e.g. "
        "red,far-red. Default: the model card's, else the 3 least-trained levels.",
    ),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of a CSV."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Molecules per forward pass."),
    jobs: int = typer.Option(
        None, "--jobs", min=1, help="Featurization processes (default: every core; 1: none)."
    ),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Score every molecule and rank the library by its rare-level probability.

    Every input row is kept: valid molecules sorted by rare score (highest first, ties in
    input order), invalid ones last with the reason in `status`.
    """
    from zincfluor.screening.card import load_model_card, resolve_model_path
    from zincfluor.screening.predictor import Predictor
    from zincfluor.screening.rare import resolve_target_levels
    from zincfluor.screening.screen import screen_library

    if library != "-" and not Path(library).is_file():
        fail(f"input file {library} does not exist")
    model_path = resolve_model_path(model)
    predictor = Predictor.load(model_path, device=device.value, batch_size=batch_size)
    card = load_model_card(model_path)
    targets = resolve_target_levels(
        predictor.level_names,
        predictor.class_counts,
        split_names(target_levels),
        card.target_levels if card else None,
    )
    summary = screen_library(
        predictor, library, out, target_levels=targets, top=top, smiles_column=smiles_column,
        jobs=jobs, progress=progress and library != "-",
    )
    workers = "in-process" if summary.jobs == 1 else f"{summary.jobs} worker processes"
    console.print(
        f"ranked by p({' + '.join(summary.target_levels)}); featurized {workers}; "
        f"{summary.rows} molecules in {summary.seconds:.1f} s "
        f"({summary.molecules_per_second:,.0f} molecules/s)"
    )
    out_console.print(
        f"{summary.rows} rows ({summary.ok} scored, {summary.invalid} invalid, "
        f"{summary.out_of_scope} out of scope) -> {out}"
        + (f" (top {summary.written})" if top is not None else "")
    )


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
