"""``zincfluor screen``: rank a compound library by the probability of the rare levels."""

from __future__ import annotations

import csv
from enum import StrEnum
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

__all__ = ["register", "screen", "model_targets", "split_names", "OutputFormat",
           "documented_solvents", "SOLVENT_HELP", "SOLVENT_COLUMN_HELP"]

MODEL_HELP = "Model folder (from `zincfluor model ship`), run folder or checkpoint.pt. " \
    "Default: $ZINCFLUOR_MODEL, else the shipped models/emission8-default."
INPUT_HELP = "Molecules: .smi/.txt (SMILES \\[id] per line), .csv/.tsv, .sdf, .parquet (any of " \
    "them .gz), or - for standard input; with --engine ray: many files or folders of them."
ID_COLUMN_HELP = "Id column of a table (default: a column named id, name or identifier)."
FORMAT_HELP = "Output format (default: from --out's suffix; csv for -)."
TARGET_LEVELS_HELP = "Comma-separated levels whose probabilities make the rare score, e.g. " \
    "red,far-red. Default: the model card's, else the 3 least-trained levels."
ENGINE_HELP = "local: this machine's processes; ray: Ray Data actors over many input files " \
    "or a folder (pip install 'zincfluor\\[ray]'), writing --out as a folder of Parquet shards, " \
    "top.csv and a manifest; rerun the same command to resume."
HELP_SOLVENTS = 16  # solvent names the --help text shows


def documented_solvents(limit: int = HELP_SOLVENTS) -> list[str]:
    """The first ``limit`` names of zincfluor's solvent table (``zincfluor/data/solvents.csv``,
    most frequent in Deep4Chem first; :func:`zincfluor.data.solvents.solvent_names` is their
    home). Read here from the file itself so that ``--help`` imports neither pandas nor RDKit."""
    import zincfluor

    path = Path(zincfluor.__file__).parent / "data" / "solvents.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [row["name"] for _, row in zip(range(limit), rows, strict=False)]


SOLVENT_HELP = (
    "Solvent of every input molecule, by name or SMILES (a model folder with a solvent-aware "
    "model in solvent/ only; `zincfluor model ship --solvent-model`): its answer replaces the "
    "solvent-free model's, and records gain solvent and solvent_seen. Names (any case, common "
    "synonyms such as MeCN, DCM, EtOH too): " + ", ".join(documented_solvents())
    + ", and more (zincfluor.data.solvents.solvent_names()); any other solvent as SMILES."
)
SOLVENT_COLUMN_HELP = (
    "Column of a .csv/.sdf/.parquet input holding each row's solvent (name or SMILES; empty: no "
    "solvent). Default: a column named solvent, when the model has a solvent-aware model."
)
ADDRESS_HELP = "Ray cluster to join with --engine ray (e.g. ray://head:10001 or auto; " \
    "default: a new local Ray instance)."


class Engine(StrEnum):
    local = "local"
    ray = "ray"


class OutputFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    sdf = "sdf"


def split_names(text: str | None) -> list[str] | None:
    """``"red,far-red"`` -> ``["red", "far-red"]``; ``None``/empty -> ``None``."""
    if not text:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


def domain_line(out_of_domain: int, scored: int) -> str:
    """The summary line of a model with trust files: how many scored molecules are out of its
    applicability domain (``predict`` and ``screen`` print it alike)."""
    return (f"{out_of_domain} of {scored} scored molecules are outside the model's "
            "applicability domain (in_domain false: no training molecule similar enough)")


def model_targets(predictor, model_path: Path, requested: str | None = None) -> list[int]:
    """Indices of the levels whose probabilities make the rare score, for ``predict`` and
    ``screen`` alike (:func:`zincfluor.screening.table.model_target_levels`; ``requested``
    as ``"red,far-red"``)."""
    from zincfluor.screening.table import model_target_levels

    return model_target_levels(predictor, model_path, split_names(requested))


@friendly_errors
def screen(
    library: list[str] = typer.Argument(..., help=INPUT_HELP),
    out: str = typer.Option(
        ..., "--out", help="Ranked file to write (.csv, .parquet, .sdf), or - for standard output; "
        "with --engine ray: the output folder (shards, top K, manifest)."
    ),
    format: OutputFormat = typer.Option(None, "--format", help=FORMAT_HELP),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    top: int = typer.Option(
        None, "--top", min=1, help="Write only the K best-scored molecules (default: all rows; "
        "with --engine ray: a top K of 1000 beside the shards)."
    ),
    target_levels: str = typer.Option(None, "--target-levels", help=TARGET_LEVELS_HELP),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of a table."),
    id_column: str = typer.Option(None, "--id-column", help=ID_COLUMN_HELP),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Molecules per forward pass."),
    jobs: int = typer.Option(
        None, "--jobs", min=1, help="Featurization processes (default: every core; 1: none); with "
        "--engine ray: scoring actors (default: every CPU of the cluster)."
    ),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    engine: Engine = typer.Option(Engine.local, "--engine", help=ENGINE_HELP),
    address: str = typer.Option(None, "--address", help=ADDRESS_HELP),
    trust: bool = typer.Option(
        True, "--trust/--no-trust",
        help="Add the trust fields (prediction_set, nearest_similarity, in_domain) when the "
        "model folder has trust files (--no-trust: leave them out).",
    ),
    solvent: str = typer.Option(None, "--solvent", help=SOLVENT_HELP),
    solvent_column: str = typer.Option(None, "--solvent-column", help=SOLVENT_COLUMN_HELP),
) -> None:
    """Score every molecule and rank the library by its rare-level probability.

    Every input row is kept with every input column: scored molecules sorted by rare score
    (highest first, ties in input order), invalid and out-of-scope ones last, with `status`
    and `reason`. With --engine ray: many input files or folders, one Parquet shard per file
    and a top K in the --out folder; the same command again resumes (docs/scale.md).
    """
    from zincfluor.screening.card import resolve_model_path
    from zincfluor.screening.inputs import open_molecule_inputs
    from zincfluor.screening.predictor import Predictor
    from zincfluor.screening.record import resolve_format
    from zincfluor.screening.screen import screen_library

    if engine == Engine.ray:
        if solvent is not None or solvent_column is not None:
            raise ValueError("--engine ray does not take a solvent yet; use the local engine "
                             "for --solvent or --solvent-column")
        _screen_on_ray(library, out, format, model, top, target_levels, smiles_column,
                       id_column, batch_size, jobs, device, progress, address)
        return
    if address is not None:
        raise ValueError("--address needs --engine ray")
    if len(library) != 1:
        raise ValueError(f"the local engine reads one input, got {len(library)}; pass one file, "
                         "or --engine ray for many files or a folder")
    library = library[0]
    fmt = resolve_format(out, format.value if format else None)
    model_path = resolve_model_path(model)
    # the input first: a wrong path, format or column stops before the model loads
    with open_molecule_inputs(library, smiles_column=smiles_column,
                              id_column=id_column) as inputs:
        predictor = Predictor.load(model_path, device=device.value, batch_size=batch_size,
                                   trust=trust)
        targets = model_targets(predictor, model_path, target_levels)
        summary = screen_library(
            predictor, inputs, out, target_levels=targets, top=top, format=fmt, jobs=jobs,
            progress=progress and library != "-",
            **_solvent_options(solvent, solvent_column),
        )
    workers = "in-process" if summary.jobs == 1 else f"{summary.jobs} worker processes"
    console.print(
        f"ranked by p({' + '.join(summary.target_levels)}); featurized {workers}; "
        f"{summary.rows} molecules in {summary.seconds:.1f} s "
        f"({summary.molecules_per_second:,.0f} molecules/s)"
    )
    report = console if out == "-" else out_console
    report.print(
        f"{summary.rows} rows ({summary.ok} scored, {summary.invalid} invalid, "
        f"{summary.out_of_scope} out of scope) -> {'standard output' if out == '-' else out}"
        + (f" (top {summary.written})" if top is not None else "")
    )
    if summary.out_of_domain is not None:
        report.print(domain_line(summary.out_of_domain, summary.ok))


def _solvent_options(solvent: str | None, column: str | None) -> dict:
    """``screen_library``'s solvent keywords, left out when neither option is given."""
    options = {"solvent": solvent, "solvent_column": column}
    return {key: value for key, value in options.items() if value is not None}


def _screen_on_ray(library, out, format, model, top, target_levels, smiles_column, id_column,
                   batch_size, jobs, device, progress, address) -> None:
    """``screen --engine ray``: :func:`zincfluor.screening.ray_engine.screen_on_ray`."""
    from zincfluor.screening.card import resolve_model_path
    from zincfluor.screening.predictor import Predictor
    from zincfluor.screening.ray_engine import DEFAULT_TOP, screen_on_ray

    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'zincfluor[ray]'") from None
    if device == DeviceChoice.cuda:
        raise ValueError("--engine ray scores on CPU actors (one per CPU of the cluster); leave "
                         "out --device cuda, or use the local engine on a GPU machine")
    model_path = resolve_model_path(model)
    predictor = Predictor.load(model_path, device="cpu", batch_size=batch_size)
    targets = model_targets(predictor, model_path, target_levels)
    summary = screen_on_ray(
        model_path, library, out, target_levels=targets, top=top or DEFAULT_TOP,
        smiles_column=smiles_column, id_column=id_column,
        format=format.value if format else None, address=address, workers=jobs,
        batch_size=batch_size, device="cpu", progress=progress,
    )
    console.print(
        f"ranked by p({' + '.join(summary.target_levels)}); {summary.shards} shards "
        f"({summary.scored_shards} scored by {summary.workers} Ray actors, "
        f"{summary.skipped_shards} finished before); {summary.scored_rows} molecules in "
        f"{summary.seconds:.1f} s ({summary.molecules_per_second:,.0f} molecules/s)"
    )
    out_console.print(
        f"{summary.rows} rows ({summary.ok} scored, {summary.invalid} invalid, "
        f"{summary.out_of_scope} out of scope) -> {summary.out}/shards; "
        f"top {summary.written} -> {summary.top_path}"
    )


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
