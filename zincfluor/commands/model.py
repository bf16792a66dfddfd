"""``zincfluor model calibrate|ship|ensemble|solvent|trust|show``: calibrate a trained run,
package it (or several runs on one split, as an ensemble) as a model folder with a model card,
give a copy of a folder a solvent-aware model, build its trust files (conformal sets,
applicability domain, measured neighbours), and inspect one."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from zincfluor.commands.common import (
    DEVICE_HELP,
    check_device,
    check_output_folder,
    fail,
    friendly_errors,
    out_console,
    removed_on_failure,
)

PROGRESS_HELP = "Show a progress bar while featurizing."
WAVELENGTH_HELP = (
    "Training run of a wavelength model (--head gaussian) on the same split, shipped in "
    "OUT/wavelength/ to supply emission_nm and its interval; repeat it for an ensemble of them."
)
SOLVENT_MODEL_HELP = (
    "Training run of a solvent-aware model (zincfluor train-solvent, with its Gaussian "
    "wavelength head), shipped in OUT/solvent/ to answer inputs given with a solvent "
    "(predict/screen --solvent); repeat it for an ensemble of them."
)

__all__ = ["register", "model_app"]

model_app = typer.Typer(
    help="Calibrate a trained run, ship it as a model folder (checkpoint + card), inspect it.",
    no_args_is_help=True,
)


@model_app.command("calibrate")
@friendly_errors
def calibrate(
    run_dir: Path = typer.Argument(..., help="Molecular training run folder."),
    out: Path = typer.Option(..., "--out", help="Calibrated run folder to write."),
    data: Path = typer.Option(
        None, "--data", help="Measurement table, if the run's recorded path is not here."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    cache_dir: str = typer.Option(None, "--cache-dir", help="Graph cache folder ('none')."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
) -> None:
    """Temperature-scale a run on its validation split (Guo et al. 2017) into a new run folder.

    One scalar T minimises the validation negative log-likelihood of softmax(logits / T); levels
    and accuracies do not change, the probabilities become honest. Ship the new folder with
    `zincfluor model ship`.
    """
    from zincfluor.runs.calibrate import calibrate_run

    if not run_dir.exists():
        fail(f"run folder {run_dir} does not exist")
    check_device(device)
    check_output_folder(out, "--out")
    with removed_on_failure(out):
        result = calibrate_run(
            run_dir, out, data_path=data, device=device, cache_dir=cache_dir, progress=progress
        )
    out_console.print(
        f"T = {result['temperature']:.4f}: validation NLL {result['valid_nll_before']:.4f} -> "
        f"{result['valid_nll_after']:.4f}, ECE {result['valid_ece_before']:.3f} -> "
        f"{result['valid_ece_after']:.3f}; test ECE {result['test_ece_before']:.3f} -> "
        f"{result['test_ece_after']:.3f}. Calibrated run: {out}"
    )


@model_app.command("ship")
@friendly_errors
def ship(
    run_dir: Path = typer.Argument(..., help="Training run folder (or its checkpoint.pt)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    name: str = typer.Option(..., "--name", help="Model name for the card."),
    description: str = typer.Option("", "--description", help="One or two sentences."),
    target_levels: str = typer.Option(
        None, "--target-levels",
        help="Levels a screen ranks by, e.g. red,far-red (default: the 3 least-trained).",
    ),
    command: str = typer.Option(
        None, "--command",
        help="How the model was made (default: the train command rebuilt from config.json).",
    ),
    data: Path = typer.Option(
        None, "--data", help="Measurement table for the trust files (default: the run's "
        "recorded table, else Deep4Chem where zincfluor finds it)."
    ),
    trust: bool = typer.Option(
        True, "--trust/--no-trust",
        help="Build the trust files (zincfluor model trust) when the measurement table is at "
        "hand (--no-trust: ship without them).",
    ),
    wavelength: list[Path] = typer.Option(None, "--wavelength", help=WAVELENGTH_HELP),
    solvent_model: list[Path] = typer.Option(None, "--solvent-model", help=SOLVENT_MODEL_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
) -> None:
    """Copy a run's checkpoint into OUT with card.json and a README.md model card, and build
    its trust files when the measurement table is at hand.

    With --wavelength, a model with a Gaussian wavelength head trained on the same split
    rides along in OUT/wavelength/: predictions keep this run's levels and rare score and gain
    the companion's emission_nm (bench/rare.py's rule 5 chooses the pair on validation).
    """
    from zincfluor.commands.screen import split_names
    from zincfluor.screening.card import build_model_trust, ship_model, trust_table

    if not run_dir.exists():
        fail(f"run folder {run_dir} does not exist")
    if data is not None and not data.is_file():
        fail(f"--data {data} is not a file; give the measurement table the run was trained on")
    _check_runs(wavelength or [], "--wavelength")
    _check_runs(solvent_model or [], "--solvent-model")
    check_output_folder(out, "--out")
    table = trust_table(run_dir, data) if trust else None
    with removed_on_failure(out):
        card = ship_model(
            run_dir, out, name=name, description=description, command=command,
            target_levels=split_names(target_levels), trust=table is not None and not wavelength,
            data_path=table, device="auto", progress=progress,
        )
        if wavelength:
            card = _attach_companion(out, wavelength, data, progress)
            if table is not None:
                card = build_model_trust(out, table, device="auto", progress=progress) or card
        if solvent_model:
            card = _attach_solvent_model(out, solvent_model, "auto")
    out_console.print(
        f"shipped {card.name} -> {out} (target levels {', '.join(card.target_levels)}; "
        f"checkpoint sha256 {card.checkpoint_sha256[:12]}...)"
    )
    if card.trust:
        _print_trust(card.trust, out)
    elif trust:
        out_console.print("no trust files: the measurement table was not found; build them "
                          f"with `zincfluor model trust {out} --data TABLE`")


@model_app.command("trust")
@friendly_errors
def trust(
    model: Path = typer.Argument(..., help="Model folder (or run folder) to build trust for."),
    data: Path = typer.Option(
        None, "--data", help="The measurement table the model was trained on (default: the "
        "run's recorded table, else Deep4Chem where zincfluor finds it)."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
) -> None:
    """Build or refresh a model folder's trust files: conformal prediction sets and intervals
    calibrated on the validation split, the applicability-domain threshold, the reference set
    of measured training molecules; draws the domain plot and adds coverage to the model card.

    Writes MODEL/trust/{conformal.json, domain.json, reference_set.npz}, MODEL/domain.png and
    refreshes card.json and README.md. predict, screen, explain and the service then add
    prediction_set, nearest_similarity and in_domain to every record.
    """
    from zincfluor.screening.card import build_model_trust
    from zincfluor.trust.store import load_trust

    if not model.exists():
        fail(f"model folder {model} does not exist")
    if data is not None and not data.is_file():
        fail(f"--data {data} is not a file; give the measurement table the model was trained on")
    check_device(device)
    card = build_model_trust(model, data, device=device, progress=progress)
    if card is not None and card.trust:
        _print_trust(card.trust, model)
    else:
        report = load_trust(model).report
        out_console.print(f"trust files written to {model}/trust (built in "
                          f"{report.get('build_seconds')} s)")


def _check_runs(runs: list[Path], option: str) -> None:
    for run in runs:
        if not run.exists():
            fail(f"{option} {run} does not exist; give a training run folder")


def _attach_companion(out: Path, runs: list[Path], data: Path | None, progress: bool):
    """Ship ``runs`` as OUT's wavelength companion and print its validation and test MAE."""
    from zincfluor.runs.companion import attach_wavelength_companion

    card = attach_wavelength_companion(out, runs, data_path=data, device="auto",
                                       progress=progress)
    valid = (card.wavelength or {}).get("valid") or {}
    test = card.test_metrics.get("wavelength") or {}
    out_console.print(
        f"wavelength companion ({card.wavelength['method']}, {len(runs)} run(s)) -> "
        f"{out}/wavelength: emission maximum MAE {_nm(valid.get('mae_nm'))} validation, "
        f"{_nm(test.get('mae_nm'))} test"
    )
    return card


def _attach_solvent_model(out: Path, runs: list[Path], device: str):
    """Ship ``runs`` as OUT's solvent-aware model and print what it was trained on."""
    from zincfluor.runs.solvent_companion import attach_solvent_model

    card = attach_solvent_model(out, runs, device=device)
    section = card.solvent or {}
    valid = ", ".join(_nm(v) for v in section.get("valid_mae_nm") or [])
    out_console.print(
        f"solvent-aware model ({section.get('encoder')} encoder, {len(runs)} run(s), "
        f"{len(section.get('train_solvents') or [])} training solvents) -> {out}/solvent: "
        f"emission maximum MAE {valid or 'n/a'} on its validation rows"
    )
    return card


def _nm(value) -> str:
    return "n/a" if value is None else f"{float(value):.1f} nm"


def _print_trust(section: dict, folder: Path) -> None:
    """One table of the test coverage per level, then the domain line."""
    coverage = section.get("level_coverage") or {}
    table = Table(title=f"prediction-set coverage on the test split ({folder}/trust)")
    table.add_column("level")
    table.add_column("test n", justify="right")
    for key in coverage:
        table.add_column(f"{float(key):.0%} set", justify="right")
    rows = zip(*(block["per_level"] for block in coverage.values()), strict=True)
    for levels in rows:
        table.add_row(levels[0]["name"], str(levels[0]["n"]),
                      *(_pct(row.get("coverage")) for row in levels))
    table.add_row("all", "", *(_pct(block.get("coverage")) for block in coverage.values()))
    out_console.print(table)
    domain = section.get("domain")
    if domain:
        test = domain.get("test") or {}
        plot = f"; plot {folder / section['plot']}" if section.get("plot") else ""
        out_console.print(
            f"in domain: nearest training molecule similarity >= {domain['threshold']:.3f}; "
            f"{test.get('in_domain')} of {test.get('n')} test molecules in the domain{plot}"
        )


@model_app.command("ensemble")
@friendly_errors
def ensemble(
    runs: list[Path] = typer.Argument(
        ..., help="Training run folders trained on one split (same --split and --split-seed)."
    ),
    out: Path = typer.Option(..., "--out", help="Ensemble model folder to write (new)."),
    name: str = typer.Option(None, "--name", help="Model name for the card (default: OUT's)."),
    description: str = typer.Option("", "--description", help="One or two sentences."),
    target_levels: str = typer.Option(
        None, "--target-levels",
        help="Levels a screen ranks by, e.g. red,far-red (default: the 3 least-trained).",
    ),
    command: str = typer.Option(
        None, "--command",
        help="How the model was made (default: this command and the members' train commands).",
    ),
    data: Path = typer.Option(
        None, "--data", help="The members' measurement table, if their recorded path is not here."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    cache_dir: str = typer.Option(None, "--cache-dir", help="Graph cache folder ('none')."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    wavelength: list[Path] = typer.Option(None, "--wavelength", help=WAVELENGTH_HELP),
    solvent_model: list[Path] = typer.Option(None, "--solvent-model", help=SOLVENT_MODEL_HELP),
) -> None:
    """Combine training runs into one ensemble model folder (the mean of their probabilities).

    Copies each run's checkpoint to OUT/member-<k>/, writes OUT/ensemble.json, the runs' common
    split.json, the ensemble's validation and test metrics (metrics.json) and a model card.
    `zincfluor predict|screen|evaluate --model OUT` use every member. --wavelength adds a
    wavelength companion (see `zincfluor model ship --help`). Build trust files afterwards
    with `zincfluor model trust OUT`.
    """
    from zincfluor.commands.screen import split_names
    from zincfluor.runs.ensemble import build_ensemble

    for run in runs:
        if not run.exists():
            fail(f"run folder {run} does not exist")
    _check_runs(wavelength or [], "--wavelength")
    _check_runs(solvent_model or [], "--solvent-model")
    check_device(device)
    check_output_folder(out, "--out")
    with removed_on_failure(out):
        result = build_ensemble(
            runs, out, name=name, description=description, command=command,
            target_levels=split_names(target_levels), data_path=data, device=device,
            cache_dir=cache_dir, progress=progress,
        )
        if wavelength:
            _attach_companion(out, wavelength, data, progress)
        if solvent_model:
            _attach_solvent_model(out, solvent_model, device)
    groups = result.valid_metrics["retrieval"]["groups"]
    ap = ", ".join(f"AP {group} {_pct(block.get('average_precision'))}"
                   for group, block in groups.items())
    out_console.print(
        f"ensemble of {len(result.members)} -> {out}: validation balanced accuracy "
        f"{_pct(result.valid_metrics['balanced_accuracy'])}, {ap}; test balanced accuracy "
        f"{_pct(result.test_metrics['balanced_accuracy'])}"
    )


@model_app.command("solvent")
@friendly_errors
def solvent(
    model: Path = typer.Argument(
        ..., help="Shipped model folder to copy (e.g. models/emission8-default); left as it is."
    ),
    solvent_model: list[Path] = typer.Option(..., "--solvent-model", help=SOLVENT_MODEL_HELP),
    out: Path = typer.Option(
        ..., "--out", help="New model folder: MODEL's files plus OUT/solvent/ (new)."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Copy a shipped model folder and give the copy a solvent-aware model.

    The copy keeps MODEL's members, wavelength companion and trust files; its card gains the
    solvent section and its hash covers the new checkpoints. Use it where the training runs
    behind MODEL are not at hand (`model ship|ensemble --solvent-model` need them), e.g. to try
    a `zincfluor train-solvent` run with the shipped model:
    `zincfluor predict --model OUT --solvent toluene ...`.
    """
    import shutil

    from zincfluor.screening.card import load_model_card

    if not model.is_dir() or load_model_card(model) is None:
        fail(f"{model} is not a model folder (no card.json); give one such as "
             "models/emission8-default")
    _check_runs(solvent_model, "--solvent-model")
    check_device(device)
    check_output_folder(out, "--out")
    if out.exists():
        fail(f"--out {out} exists; give a new folder (MODEL itself is never changed)")
    with removed_on_failure(out):
        shutil.copytree(model, out)
        _attach_solvent_model(out, solvent_model, device)


@model_app.command("show")
@friendly_errors
def show(
    model: Path = typer.Argument(
        None, help="Model folder (default: $ZINCFLUOR_MODEL, else models/emission8-default)."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the sha256."),
) -> None:
    """Print a model folder's card: data, split, method, test metrics."""
    from zincfluor.screening.card import load_model_card, model_sha256, resolve_model_path
    from zincfluor.train.checkpoint import model_checkpoint_paths

    folder = resolve_model_path(model)
    if folder.is_file():
        fail(f"{folder} is a file; `model show` takes a model folder (one holding card.json)")
    card = load_model_card(folder)
    if card is None:
        fail(f"{folder} has no card.json; make one with `zincfluor model ship RUN_DIR --out DIR "
             "--name NAME`")
    table = Table(title=card.name, show_header=False)
    table.add_column("field")
    table.add_column("value")
    metrics = card.test_metrics
    rows = [
        ("description", card.description),
        ("levels", ", ".join(card.level_names)),
        ("target levels", ", ".join(card.target_levels)),
        ("training molecules", ", ".join(map(str, card.train_class_counts))),
        ("data", f"{card.data.get('name')} ({card.data.get('licence')})"),
        ("split", f"{card.split.get('kind')}, seed {card.split.get('seed')}, "
                  f"sizes {card.split.get('sizes')}"),
        ("method", f"{card.method} {card.method_hparams or ''}".strip()),
        ("test balanced accuracy", _pct(metrics.get("balanced_accuracy"))),
        ("test top-1", _pct(metrics.get("top1"))),
        ("test macro-F1", _pct(metrics.get("macro_f1"))),
        ("test tail top-2", _pct(metrics.get("tail_top_2"))),
        *_ranking_rows(metrics),
        *_wavelength_rows(metrics.get("wavelength"), card.wavelength),
        *_solvent_rows(card.solvent),
        ("created", card.created),
        ("command", card.command),
    ]
    if verify:
        try:  # the hash covers every member and the wavelength companion
            ok = model_sha256(model_checkpoint_paths(folder)) == card.checkpoint_sha256
        except FileNotFoundError:
            ok = False
        rows.append(("checkpoint sha256", "matches" if ok else "[red]MISMATCH or missing[/red]"))
    for field, value in rows:
        table.add_row(field, str(value))
    out_console.print(table)
    if verify and not ok:
        raise typer.Exit(code=1)


def _ranking_rows(metrics: dict) -> list[tuple[str, str]]:
    """``test ranking red+``: AP, ROC-AUC, P@100 and EF 1% of each target group, if recorded."""
    from zincfluor.train.metrics import RETRIEVAL_SUMMARY_COLUMNS, retrieval_summary_rows

    labels = [label for label, _ in RETRIEVAL_SUMMARY_COLUMNS]
    return [
        (f"test ranking {row[0]}", ", ".join(f"{k} {v}" for k, v in zip(labels, row[1:],
                                                                      strict=True)))
        for row in retrieval_summary_rows(metrics.get("retrieval"))
    ]


def _wavelength_rows(metrics: dict | None, companion: dict | None) -> list[tuple[str, str]]:
    """``test emission MAE`` (and where the wavelength comes from) for a wavelength model."""
    if not metrics or metrics.get("mae_nm") is None:
        return []
    source = (f" (companion in {companion.get('folder')}/: {companion.get('method')}, "
              f"{companion.get('members')} member(s))" if companion else "")
    return [("test emission MAE", f"{_nm(metrics['mae_nm'])}{source}")]


def _solvent_rows(section: dict | None) -> list[tuple[str, str]]:
    """``solvent model``: its encoder, training solvents and MAE, for a folder with one."""
    if not section:
        return []
    solvents = section.get("train_solvents") or []
    names = ", ".join(entry.get("name") or entry.get("smiles") for entry in solvents[:8])
    more = f" and {len(solvents) - 8} more" if len(solvents) > 8 else ""
    valid = ", ".join(_nm(v) for v in section.get("valid_mae_nm") or []) or "n/a"
    return [("solvent model", f"{section.get('folder')}/: {section.get('encoder')} encoder, "
             f"{section.get('members')} member(s), validation MAE {valid}; trained in "
             f"{names}{more}")]


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
