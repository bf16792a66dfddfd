"""The ``zincfluor`` command: thin wrappers over the library (train, evaluate, predict, ...)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from zincfluor.commands.common import (
    DEVICE_HELP,
    GROUPS_HELP,
    DeviceChoice,
    GroupRule,
    check_device,
    check_output_folder,
    console,
    fail,
    friendly_errors,
    hide_flag_types,
    out_console,
    parse_method_params,
    removed_on_failure,
)

hide_flag_types()

app = typer.Typer(
    help="Find rare fluorescent molecules: train, evaluate and apply long-tailed GNN classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and download measurement data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


class SplitKind(StrEnum):
    stratified = "stratified"
    scaffold = "scaffold"


class FeaturizerBackend(StrEnum):
    zincfluor = "zincfluor"
    deepchem = "deepchem"


DATA_HELP = (
    "Measurement CSV (or a folder holding deep4chem/). Default: $ZINCFLUOR_DATA_DIR, "
    "else ../shared/data."
)


_fail = fail


def _data_options(data, smiles_column, value_column, label_column, scheme, level_names):
    from zincfluor.data import DataOptions, resolve_data_path

    path = resolve_data_path(data)
    return DataOptions(
        path=str(path),
        smiles_column=smiles_column,
        value_column=value_column,
        label_column=label_column,
        scheme=scheme,
        level_names=level_names,
    )


@app.command()
@friendly_errors
def train(
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder to write (created if missing)."),
    method: str = typer.Option("ce", "--method", help="Long-tail method; see `zincfluor methods`."),
    method_param: list[str] = typer.Option(
        [], "--method-param",
        help="Method hyperparameter key=value, repeatable; `zincfluor methods NAME` lists them.",
    ),
    head: str = typer.Option(
        "linear", "--head",
        help="Classifier head: linear, cosine, gaussian (a distribution over the emission "
        "maximum; needs a value column), ordinal (CORN).",
    ),
    target: str = typer.Option(
        "level", "--target",
        help="What the loss sees: level, or emission_nm (the measured value, for gaussian-nll, "
        "lds, fds, balanced-mse with --head gaussian).",
    ),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Training epochs (paper: 100)."),
    seed: int = typer.Option(
        0, "--seed", help="Seeds the split, subsampling, initialisation and batch order."
    ),
    split_seed: int = typer.Option(
        None, "--split-seed",
        help="Seeds the split and subsampling instead of --seed (ensemble members: one split, "
        "their own --seed).",
    ),
    split: SplitKind = typer.Option(
        SplitKind.stratified, "--split",
        help="stratified keeps level proportions; scaffold keeps each Bemis-Murcko scaffold "
        "in one part. 80/10/10.",
    ),
    imbalance_ratio: float = typer.Option(
        None, "--imbalance-ratio", min=1.0,
        help="Subsample the training split to this imbalance ratio (pathological long tail).",
    ),
    device: DeviceChoice = typer.Option(
        DeviceChoice.auto, "--device", help=DEVICE_HELP
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Molecules per batch."),
    lr: float = typer.Option(
        0.01, "--lr", help="Learning rate: the peak that --scheduler anneals or warms up to."
    ),
    weight_decay: float = typer.Option(
        5e-3, "--weight-decay", help="Weight decay (L2 for sgd, decoupled for adamw)."
    ),
    optimizer: str = typer.Option(
        "sgd", "--optimizer",
        help="sgd (momentum 0.9; the paper's) or adamw (AdamW, default betas; chemprop trains "
        "with Adam, e.g. --optimizer adamw --lr 1e-3 --scheduler noam --warmup-epochs 2).",
    ),
    scheduler: str = typer.Option(
        "cosine", "--scheduler",
        help="Learning-rate schedule: cosine (annealing over the epochs), constant, or noam "
        "(chemprop's, per step: lr/10 rising linearly to --lr over --warmup-epochs, then "
        "decaying exponentially to lr/10 at the end).",
    ),
    warmup_epochs: int = typer.Option(
        0, "--warmup-epochs", min=0,
        help="Epochs of linear warm-up before the schedule (noam: from lr/10; chemprop: 2).",
    ),
    hidden_dim: int = typer.Option(128, "--hidden-dim", min=1, help="GCN width."),
    num_layers: int = typer.Option(
        6, "--num-layers", min=1, help="Message-passing layers (paper's GCN: 6; dmpnn: depth)."
    ),
    backbone: str = typer.Option(
        "gcn", "--backbone",
        help="Graph network: gcn (the paper's; reads no bond features), dmpnn (directed bond "
        "messages, chemprop's D-MPNN), gine, attentivefp.",
    ),
    molecule_features: str = typer.Option(
        "none", "--molecule-features",
        help="Molecule-level features joined at the readout: none, morgan (count fingerprint, "
        "radius 2), rdkit2d (RDKit descriptors), both.",
    ),
    morgan_bits: int = typer.Option(
        2048, "--morgan-bits", min=1, help="Length of the folded Morgan count fingerprint."
    ),
    edge_drop: float = typer.Option(
        0.2, "--edge-drop", min=0.0, max=1.0,
        help="Contrastive methods' second view of a molecule: probability of dropping each "
        "bond (both directions together).",
    ),
    feature_mask: float = typer.Option(
        0.2, "--feature-mask", min=0.0, max=1.0,
        help="Contrastive methods' second view: probability of zeroing each atom-feature "
        "column, drawn per molecule.",
    ),
    featurizer: FeaturizerBackend = typer.Option(
        FeaturizerBackend.zincfluor, "--featurizer",
        help="Graph features: zincfluor's own, or deepchem's MolGraphConvFeaturizer "
        "(needs zincfluor\\[deepchem]).",
    ),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of a lab CSV."),
    value_column: str = typer.Option(
        None, "--value-column", help="Measured value column (labelled by --scheme)."
    ),
    label_column: str = typer.Option(
        None, "--label-column", help="Column of given classes (e.g. 'Fluor Value')."
    ),
    scheme: str = typer.Option(
        "emission8", "--scheme", help="Label scheme: a name, a JSON file, or edges '400,500,600'."
    ),
    level_names: str = typer.Option(
        None, "--level-names",
        help="Level names a,b,c: for inline --scheme edges, or the classes of --label-column.",
    ),
    cache_dir: str = typer.Option(
        None, "--cache-dir", help="Graph cache folder ('none' disables). Default ~/.cache/zincfluor"
    ),
    workers: int = typer.Option(None, "--workers", help="Featurization processes (default: all)."),
    groups: GroupRule = typer.Option(GroupRule.thirds, "--groups", help=GROUPS_HELP),
    progress: bool = typer.Option(
        True, "--progress/--no-progress",
        help="Show live progress bars (plain epoch lines when not a terminal).",
    ),
) -> None:
    """Train a GCN on fluorescence measurements and write a run folder."""
    from zincfluor.commands.methods import check_method_params
    from zincfluor.runs.train import TrainRunConfig, train_run
    from zincfluor.train.trainer import TrainerConfig

    # every check that needs no data first: a mistake costs nothing and writes nothing
    method_hparams = parse_method_params(method_param)
    check_method_params(method, method_hparams)
    check_device(device.value)
    check_output_folder(out, "--out")
    if scheduler == "step":
        _fail("--scheduler step needs milestones, which `zincfluor train` does not set: use "
              "cosine, constant or noam")
    trainer = TrainerConfig(
        epochs=epochs, lr=lr, weight_decay=weight_decay, optimizer=optimizer,
        scheduler=scheduler, warmup_epochs=warmup_epochs,
    )
    options = _data_options(data, smiles_column, value_column, label_column, scheme, level_names)
    config = TrainRunConfig(
        data=options,
        out=str(out),
        method=method,
        method_hparams=method_hparams,
        target=target,
        head=head,
        split=split.value,
        seed=seed,
        split_seed=split_seed,
        imbalance_ratio=imbalance_ratio,
        featurizer=featurizer.value,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        backbone=backbone,
        molecule_features=molecule_features,
        morgan_bits=morgan_bits,
        edge_drop=edge_drop,
        feature_mask=feature_mask,
        group_rule=groups.value,
        batch_size=batch_size,
        trainer=trainer,
        device=device.value,
        cache_dir=cache_dir,
        n_jobs=workers,
    )
    with removed_on_failure(out):
        result = train_run(config, console=console, progress=progress)
    n_test = result.split.sizes()["test"]
    _print_summary(result.test_metrics, title=f"test split ({n_test} molecules)")
    out_console.print(
        f"best validation balanced accuracy {100 * result.fit.best_score:.2f}% at epoch "
        f"{result.fit.best_epoch}; {result.fit.seconds_per_epoch:.2f} s/epoch on {result.device}"
    )
    out_console.print(f"run folder: {out}")


def _print_summary(metrics: dict, title: str) -> None:
    from zincfluor.train.metrics import format_metric

    table = Table(title=title)
    table.add_column("level")
    table.add_column("train n", justify="right")
    table.add_column("eval n", justify="right")
    table.add_column("group")
    table.add_column("top-1 %", justify="right")
    for i, name in enumerate(metrics["class_names"]):
        table.add_row(
            f"{i} {name}",
            str(metrics["train_counts"][i]),
            str(metrics["eval_counts"][i]),
            metrics["groups"][name],
            format_metric(metrics["per_level_top1"][name]),
        )
    out_console.print(table)
    from zincfluor.train.report import headline_line

    out_console.print(headline_line(metrics))
    _print_retrieval(metrics)


def _print_retrieval(metrics: dict) -> None:
    """The compact retrieval table: how well the model ranks each target group (red+, ...)."""
    from zincfluor.train.metrics import RETRIEVAL_SUMMARY_COLUMNS, retrieval_summary_rows

    rows = retrieval_summary_rows(metrics.get("retrieval"))
    if not rows:
        return
    table = Table(title="ranking the rare levels (score: summed probability of the target)")
    table.add_column("target")
    for label, _ in RETRIEVAL_SUMMARY_COLUMNS:
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(*row)
    out_console.print(table)


@app.command()
@friendly_errors
def evaluate(
    model: Path = typer.Option(..., "--model", help="Run folder or checkpoint.pt."),
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    out: Path = typer.Option(None, "--out", help="Folder for metrics.json, tables and plots."),
    smiles_column: str = typer.Option(
        None, "--smiles-column", help="SMILES column of a lab CSV (default: detected)."
    ),
    value_column: str = typer.Option(
        None, "--value-column",
        help="Measured value column, labelled by the model's own scheme.",
    ),
    label_column: str = typer.Option(
        None, "--label-column",
        help="Column of given classes: the model's level numbers (0..K-1) or names.",
    ),
    exclude_seen: bool = typer.Option(
        False, "--exclude-seen",
        help="Leave out molecules of the model's training and validation split (from its "
        "split.json).",
    ),
    device: DeviceChoice = typer.Option(
        DeviceChoice.auto, "--device", help=DEVICE_HELP
    ),
    cache_dir: str = typer.Option(
        None, "--cache-dir", help="Graph cache folder ('none' disables). Default ~/.cache/zincfluor"
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar while featurizing."
    ),
) -> None:
    """Evaluate a trained model on a measurement table (the same metrics as training)."""
    from zincfluor.runs.evaluate import evaluate_run
    from zincfluor.train.checkpoint import resolve_member_paths

    check_device(device.value)
    resolve_member_paths(model)  # a folder without a model fails here, before the data is read
    if out is not None:
        check_output_folder(out, "--out")
    options = _data_options(data, smiles_column, value_column, label_column, "emission8", None)
    with removed_on_failure(out):
        metrics = evaluate_run(
            model, options, out=out, device=device.value, cache_dir=cache_dir,
            exclude_seen=exclude_seen, console=console, progress=progress,
        )
    _print_summary(metrics, title=f"{Path(options.path).name} ({metrics['n']} molecules)")
    if out is not None:
        out_console.print(f"metrics written to {out}")


@data_app.command("stats")
@friendly_errors
def data_stats(
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    split: SplitKind = typer.Option(
        SplitKind.stratified, "--split",
        help="stratified keeps level proportions; scaffold keeps each Bemis-Murcko scaffold "
        "in one part. 80/10/10.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds the split and the subsampling."),
    imbalance_ratio: float = typer.Option(
        None, "--imbalance-ratio", min=1.0,
        help="Subsample the training split to this imbalance ratio (as `train` would).",
    ),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of a lab CSV."),
    value_column: str = typer.Option(
        None, "--value-column", help="Measured value column (labelled by --scheme)."
    ),
    label_column: str = typer.Option(
        None, "--label-column", help="Column of given classes (e.g. 'Fluor Value')."
    ),
    scheme: str = typer.Option(
        "emission8", "--scheme", help="Label scheme: a name, a JSON file, or edges '400,500,600'."
    ),
    level_names: str = typer.Option(
        None, "--level-names",
        help="Level names a,b,c: for inline --scheme edges, or the classes of --label-column.",
    ),
) -> None:
    """Per-level counts of each split, the imbalance ratio and T = N_max / (N_min * C)."""
    from zincfluor.data import imbalance_summary, make_split, split_count_rows

    options = _data_options(data, smiles_column, value_column, label_column, scheme, level_names)
    table = options.read()
    console.print(table.summary())
    parts = make_split(
        table, kind=split.value, seed=seed, imbalance_ratio=imbalance_ratio
    )
    rows = split_count_rows(table.labels, parts, table.scheme)
    view = Table(title=f"{Path(options.path).name}: {len(table.smiles)} molecules")
    for column in ("level", "name", "range", "train", "valid", "test", "total"):
        view.add_column(column, justify="right" if column not in ("name", "range") else "left")
    for row in rows:
        view.add_row(*(str(row[c]) for c in ("level", "name", "range", "train", "valid", "test",
                                              "total")))
    out_console.print(view)
    num_classes = table.scheme.num_classes
    for part in ("train", "valid", "test", "total"):
        counts = [row[part] for row in rows]
        summary = imbalance_summary(counts, num_classes)
        out_console.print(
            f"{part:>6}: N_max {summary.n_max}, N_min {summary.n_min}, "
            f"imbalance ratio {summary.imbalance_ratio:.1f}, T = {summary.T:.2f}"
        )


@data_app.command("fetch")
@friendly_errors
def data_fetch(
    name: str = typer.Argument("deep4chem", help="Data set to download (deep4chem)."),
    dest: Path = typer.Option(
        Path("data"), "--dest", help="Folder to save into (creates NAME/ inside)."
    ),
) -> None:
    """Download a public data set from its original source and check its sha256."""
    from zincfluor.data import DataFetchError, fetch_dataset

    try:
        path = fetch_dataset(name, dest)
    except DataFetchError as error:
        _fail(str(error))
    out_console.print(f"saved {path}")


@app.command()
def version() -> None:
    """Print the versions zincfluor runs with."""
    from zincfluor.train.checkpoint import package_versions

    for package, value in package_versions().items():
        out_console.print(f"{package} {value}")


def _register_commands() -> None:
    """Add the commands that live in :mod:`zincfluor.commands` modules."""
    from zincfluor.commands import compare as compare_command
    from zincfluor.commands import explain as explain_command
    from zincfluor.commands import methods as methods_command
    from zincfluor.commands import model as model_command
    from zincfluor.commands import predict as predict_command
    from zincfluor.commands import screen as screen_command
    from zincfluor.commands import service as service_command
    from zincfluor.commands import solvent as solvent_command
    from zincfluor.commands import vision as vision_command

    methods_command.register(app)
    compare_command.register(app)
    predict_command.register(app)
    screen_command.register(app)
    explain_command.register(app)
    model_command.register(app)
    service_command.register(app)
    solvent_command.register(app)
    vision_command.register(app)


_register_commands()


def main() -> None:  # pragma: no cover - console entry
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
