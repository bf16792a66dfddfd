"""``zincfluor vision stats|train``: long-tailed CIFAR with the shared long-tail methods."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from zincfluor.commands.common import (
    DeviceChoice,
    console,
    fail,
    friendly_errors,
    out_console,
    parse_method_params,
)

__all__ = ["register", "vision_app"]

vision_app = typer.Typer(
    help="Long-tailed image classification (CIFAR-10-LT, CIFAR-100-LT) with ResNets.",
    no_args_is_help=True,
)

DATA_ROOT_HELP = (
    "CIFAR data: the python-pickle folder (cifar-10-batches-py / cifar-100-python) or its "
    "parent, or an image folder train/<class>/*.jpg + test/<class>/*.jpg as a folder or a .zip."
)


class VisionDataset(StrEnum):
    cifar10_lt = "cifar10-lt"
    cifar100_lt = "cifar100-lt"


class Arch(StrEnum):
    resnet32 = "resnet32"
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"


class Scheduler(StrEnum):
    step = "step"
    cosine = "cosine"


class GroupRule(StrEnum):
    thresholds = "thresholds"
    thirds = "thirds"


@vision_app.command("stats")
@friendly_errors
def stats(
    dataset: VisionDataset = typer.Option(VisionDataset.cifar10_lt, "--dataset"),
    imbalance_ratio: float = typer.Option(100.0, "--imbalance-ratio", min=1.0),
    data_root: Path = typer.Option(None, "--data-root", help=DATA_ROOT_HELP),
    valid_fraction: float = typer.Option(
        0.1, "--valid-fraction", min=0.0, max=0.9,
        help="Stratified share of the long-tailed training set held out for validation.",
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Per-class image counts of the train / valid / test splits.

    Without --data-root only the long-tail formula's training counts (before the validation
    hold-out) are printed.
    """
    from zincfluor.vision.datasets import DATASETS, load_long_tailed, long_tail_counts
    from zincfluor.vision.pipeline import VISION_DATASETS

    name = VISION_DATASETS[dataset.value][0]
    num_classes, n_max = DATASETS[name]
    title = f"{dataset.value}, imbalance ratio {imbalance_ratio:g}"
    if data_root is None:
        counts = long_tail_counts(n_max, num_classes, imbalance_ratio)
        table = Table(title=f"{title}: int({n_max} * (1/IR)^(i/{num_classes - 1}))")
        table.add_column("class", justify="right")
        table.add_column("train (before hold-out)", justify="right")
        for i, n in enumerate(counts):
            table.add_row(str(i), str(n))
        table.add_row("total", str(sum(counts)))
        out_console.print(table)
        return
    splits = load_long_tailed(
        data_root, name, imbalance_ratio, seed=seed, valid_fraction=valid_fraction
    )
    parts = {"train": splits.train, "valid": splits.valid, "test": splits.test}
    counts = {k: v.class_counts() for k, v in parts.items()}
    # the long-tailed training set as LDAM-DRW builds it, before the validation hold-out
    counts = {"long-tailed": counts["train"] + counts["valid"], **counts}
    table = Table(title=title)
    table.add_column("class", justify="right")
    table.add_column("name")
    for part in counts:
        table.add_column(part, justify="right")
    for i, class_name in enumerate(splits.class_names):
        table.add_row(str(i), class_name, *(str(int(c[i])) for c in counts.values()))
    table.add_row("total", "", *(str(int(c.sum())) for c in counts.values()))
    out_console.print(table)
    train = counts["train"]
    out_console.print(
        f"training imbalance ratio after the hold-out: {train.max() / max(1, train.min()):.1f}"
    )


@vision_app.command("train")
@friendly_errors
def train(
    dataset: VisionDataset = typer.Option(..., "--dataset"),
    data_root: Path = typer.Option(..., "--data-root", help=DATA_ROOT_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder to write (created if missing)."),
    imbalance_ratio: float = typer.Option(100.0, "--imbalance-ratio", min=1.0),
    method: str = typer.Option("ce", "--method", help="Long-tail method; see `zincfluor methods`."),
    method_param: list[str] = typer.Option(
        [], "--method-param", help="Method hyperparameter key=value (repeatable)."
    ),
    arch: Arch = typer.Option(Arch.resnet32, "--arch", help="Backbone."),
    stem: str = typer.Option(
        None, "--stem", help="resnet18/34/50 only: imagenet (7x7 + max-pool) or cifar (3x3)."
    ),
    weights: Path = typer.Option(
        None, "--weights", help="resnet18/34/50 only: local state dict to start from."
    ),
    epochs: int = typer.Option(200, "--epochs", min=1, help="Training epochs (paper: 200)."),
    batch_size: int = typer.Option(128, "--batch-size", min=2),
    lr: float = typer.Option(0.1, "--lr", help="SGD learning rate."),
    weight_decay: float = typer.Option(2e-4, "--weight-decay"),
    warmup_epochs: int = typer.Option(5, "--warmup-epochs", min=0),
    scheduler: Scheduler = typer.Option(
        Scheduler.step, "--scheduler",
        help="step: x0.1 at 80% and 90% of the epochs (160, 180 of 200); cosine: annealing.",
    ),
    valid_fraction: float = typer.Option(
        0.1, "--valid-fraction", min=0.0, max=0.9,
        help="Stratified share of the long-tailed training set held out for model choice.",
    ),
    groups: GroupRule = typer.Option(
        GroupRule.thresholds, "--groups",
        help="head/medium/tail: by training count (>100, 20-100, <20) or thirds of the classes.",
    ),
    max_per_class: int = typer.Option(
        None, "--max-per-class", min=1,
        help="Smoke runs: keep at most this many images per class in every split.",
    ),
    projection_dim: int = typer.Option(128, "--projection-dim", min=0, help="0: no projection."),
    seed: int = typer.Option(0, "--seed", help="Seeds subsampling, hold-out, init, batch order."),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train a ResNet on long-tailed CIFAR and write a run folder."""
    from zincfluor.train.seeding import resolve_device
    from zincfluor.vision.pipeline import VisionRunConfig, cifar_trainer_config, vision_train_run

    if warmup_epochs >= epochs:
        warmup_epochs = max(0, epochs - 1)
    trainer = cifar_trainer_config(
        epochs, lr=lr, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
        scheduler=scheduler.value,
    )
    config = VisionRunConfig(
        dataset=dataset.value,
        data_root=str(data_root),
        out=str(out),
        imbalance_ratio=imbalance_ratio,
        method=method,
        method_hparams=parse_method_params(method_param),
        arch=arch.value,
        stem=stem,
        weights=str(weights) if weights else None,
        projection_dim=projection_dim or None,
        valid_fraction=valid_fraction,
        seed=seed,
        batch_size=batch_size,
        trainer=trainer,
        device=device.value,
        groups=groups.value,
        max_per_class=max_per_class,
    )
    try:
        resolve_device(device.value)
    except RuntimeError as error:  # --device cuda without a GPU
        fail(str(error))
    result = vision_train_run(config, console=console, progress=progress)
    test = result.test_metrics

    def pct(value):
        return "n/a" if value is None else f"{100 * value:.2f}%"

    out_console.print(
        f"test accuracy: all {pct(test['all'])}, head {pct(test['head'])}, "
        f"medium {pct(test['medium'])}, tail {pct(test['tail'])} "
        f"(best epoch {result.fit.best_epoch}); run folder {result.out}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(vision_app, name="vision")
