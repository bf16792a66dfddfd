"""``zincfluor vision stats|train``: long-tailed CIFAR and Places with the shared long-tail
methods."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from zincfluor.commands.common import (
    DEVICE_HELP,
    DeviceChoice,
    GroupRule,
    check_device,
    check_output_folder,
    console,
    fail,
    friendly_errors,
    out_console,
    parse_method_params,
    removed_on_failure,
)

__all__ = ["register", "vision_app"]

vision_app = typer.Typer(
    help="Long-tailed image classification (CIFAR-10/100-LT, Places-LT) with ResNets.",
    no_args_is_help=True,
)

DATA_ROOT_HELP = (
    "CIFAR data: the python-pickle folder (cifar-10-batches-py / cifar-100-python) or its "
    "parent, or an image folder train/<class>/*.jpg + test/<class>/*.jpg as a folder or a .zip. "
    "Places-LT: the folder with Places_LT_train.txt, Places_LT_val.txt, Places_LT_test.txt "
    "(or with a Places_LT/ folder holding them) and optionally categories_places365.txt."
)
IMAGE_ROOT_HELP = (
    "Places-LT only: the folder the list paths are resolved in ('/a/airfield/1.jpg' -> "
    "IMAGE_ROOT/a/airfield/1.jpg); default: the data root."
)
DATASET_HELP = (
    "cifar10-lt / cifar100-lt: CIFAR with an exponential long tail (--imbalance-ratio); "
    "places-lt: Places-LT's 365 classes; places-lt-10/50/100: that many of its classes."
)
CLASS_SEED_HELP = (
    "places-lt-10/50/100: seeds the draw of the kept classes (besides the most and the least "
    "frequent); fixed across --seed so that seeds compare the same classes."
)


class VisionDataset(StrEnum):
    cifar10_lt = "cifar10-lt"
    cifar100_lt = "cifar100-lt"
    places_lt = "places-lt"
    places_lt_10 = "places-lt-10"
    places_lt_50 = "places-lt-50"
    places_lt_100 = "places-lt-100"


class Arch(StrEnum):
    resnet32 = "resnet32"
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"


class Scheduler(StrEnum):
    step = "step"
    cosine = "cosine"


class Precision(StrEnum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


@vision_app.command("stats")
@friendly_errors
def stats(
    dataset: VisionDataset = typer.Option(VisionDataset.cifar10_lt, "--dataset", help=DATASET_HELP),
    imbalance_ratio: float = typer.Option(
        None, "--imbalance-ratio", min=1.0, help="CIFAR-LT only (default 100)."
    ),
    data_root: Path = typer.Option(None, "--data-root", help=DATA_ROOT_HELP),
    valid_fraction: float = typer.Option(
        None, "--valid-fraction", min=0.0, max=0.9,
        help="CIFAR-LT only (default 0.1): stratified share of the long-tailed training set "
        "held out for validation.",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seeds the CIFAR-LT data as `vision train --seed` does."
    ),
    class_seed: int = typer.Option(0, "--class-seed", help=CLASS_SEED_HELP),
) -> None:
    """Per-class image counts of the train / valid / test splits.

    CIFAR-LT without --data-root: only the long-tail formula's training counts (before the
    validation hold-out). Places-LT: read from the list files (no image is opened).
    """
    from zincfluor.vision.datasets import DATASETS, load_long_tailed, long_tail_counts
    from zincfluor.vision.pipeline import CIFAR_DATASETS, VISION_DATASETS

    if VISION_DATASETS[dataset.value].family == "places":
        if imbalance_ratio is not None or valid_fraction is not None:
            fail("--imbalance-ratio and --valid-fraction apply to CIFAR-LT only")
        _places_stats(dataset.value, data_root, class_seed)
        return
    imbalance_ratio = 100.0 if imbalance_ratio is None else imbalance_ratio
    valid_fraction = 0.1 if valid_fraction is None else valid_fraction
    name = CIFAR_DATASETS[dataset.value][0]
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


def _places_stats(name: str, data_root: Path | None, class_seed: int) -> None:
    from zincfluor.train.metrics import class_groups
    from zincfluor.vision.places import PLACES_VARIANTS, load_places_lt

    if data_root is None:
        fail(f"{name} stats need --data-root: the folder with the Places_LT_*.txt lists")
    splits = load_places_lt(data_root, num_classes=PLACES_VARIANTS[name], class_seed=class_seed)
    counts = {
        "train": splits.train.class_counts(),
        "val": splits.valid.class_counts(),
        "test": splits.test.class_counts(),
    }
    groups = class_groups(counts["train"])
    table = Table(title=f"{name}: {len(splits.class_names)} classes, imbalance ratio "
                        f"{splits.imbalance_ratio:g}")
    table.add_column("class", justify="right")
    table.add_column("name")
    table.add_column("label", justify="right")
    for part in counts:
        table.add_column(part, justify="right")
    table.add_column("group")
    for i, class_name in enumerate(splits.class_names):
        table.add_row(str(i), class_name, str(splits.original_labels[i]),
                      *(str(int(c[i])) for c in counts.values()), groups[i])
    table.add_row("total", "", "", *(str(int(c.sum())) for c in counts.values()), "")
    out_console.print(table)
    sizes = {g: groups.count(g) for g in ("head", "medium", "tail")}
    out_console.print(
        f"head (>100 training images) {sizes['head']} classes, medium (20-100) "
        f"{sizes['medium']}, tail (<20) {sizes['tail']}; label: the class's label in the lists"
    )


@vision_app.command("train")
@friendly_errors
def train(
    dataset: VisionDataset = typer.Option(..., "--dataset", help=DATASET_HELP),
    data_root: Path = typer.Option(..., "--data-root", help=DATA_ROOT_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder to write (created if missing)."),
    image_root: Path = typer.Option(None, "--image-root", help=IMAGE_ROOT_HELP),
    imbalance_ratio: float = typer.Option(
        None, "--imbalance-ratio", min=1.0, help="CIFAR-LT only (default 100)."
    ),
    method: str = typer.Option("ce", "--method", help="Long-tail method; see `zincfluor methods`."),
    method_param: list[str] = typer.Option(
        [], "--method-param",
        help="Method hyperparameter key=value, repeatable; `zincfluor methods NAME` lists them.",
    ),
    arch: Arch = typer.Option(
        None, "--arch", help="Backbone (default: resnet32 for CIFAR, resnet18 for Places)."
    ),
    stem: str = typer.Option(
        None, "--stem", help="resnet18/34/50 only: imagenet (7x7 + max-pool) or cifar (3x3)."
    ),
    weights: Path = typer.Option(
        None, "--weights", help="resnet18/34/50 only: local state dict to start from."
    ),
    image_size: int = typer.Option(
        None, "--image-size", min=8,
        help="Places-LT only: training/evaluation crop size (default 224; CIFAR is 32).",
    ),
    epochs: int = typer.Option(
        None, "--epochs", min=1, help="Training epochs (default: CIFAR 200, Places 30)."
    ),
    batch_size: int = typer.Option(128, "--batch-size", min=2, help="Images per batch."),
    lr: float = typer.Option(
        None, "--lr", help="SGD learning rate (default: CIFAR 0.1, Places 0.05)."
    ),
    weight_decay: float = typer.Option(
        None, "--weight-decay", help="Default: CIFAR 2e-4, Places 5e-4."
    ),
    warmup_epochs: int = typer.Option(
        None, "--warmup-epochs", min=0, help="Linear warm-up epochs (default 5, < epochs)."
    ),
    scheduler: Scheduler = typer.Option(
        None, "--scheduler",
        help="step: x0.1 at 80% and 90% of the epochs (160, 180 of 200; the CIFAR default); "
        "cosine: annealing (the Places default).",
    ),
    valid_fraction: float = typer.Option(
        None, "--valid-fraction", min=0.0, max=0.9,
        help="CIFAR-LT only (default 0.1): stratified share of the long-tailed training set "
        "held out for model choice. Places-LT validates on Places_LT_val.txt.",
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
    workers: int = typer.Option(
        None, "--workers", min=0,
        help="Places-LT only: image decoding processes (default min(8, CPUs); 0: in the main "
        "process). CIFAR sits on the device and ignores it.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds subsampling, hold-out, init, batch order."),
    class_seed: int = typer.Option(0, "--class-seed", help=CLASS_SEED_HELP),
    device: DeviceChoice = typer.Option(
        DeviceChoice.auto, "--device", help=DEVICE_HELP
    ),
    precision: Precision = typer.Option(
        Precision.auto, "--precision",
        help="bf16: bfloat16 autocast for training (float32 weights); auto: bf16 on CUDA, "
        "fp32 on the CPU.",
    ),
    channels_last: bool = typer.Option(
        None, "--channels-last/--no-channels-last",
        help="NHWC images and convolution weights (default: on CUDA only).",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress",
        help="Show live progress bars (plain epoch lines when not a terminal).",
    ),
) -> None:
    """Train a ResNet on long-tailed CIFAR or Places and write a run folder."""
    import dataclasses

    from zincfluor.commands.methods import check_method_params
    from zincfluor.vision.pipeline import VisionRunConfig, trainer_config_for, vision_train_run

    # every check that needs no data first: a mistake costs nothing and writes nothing
    method_hparams = parse_method_params(method_param)
    check_method_params(method, method_hparams)
    check_device(device.value)
    check_output_folder(out, "--out")
    overrides = {
        key: value
        for key, value in (("lr", lr), ("weight_decay", weight_decay),
                           ("scheduler", scheduler.value if scheduler else None))
        if value is not None
    }
    trainer = trainer_config_for(dataset.value, epochs, **overrides)
    if warmup_epochs is not None:
        trainer = dataclasses.replace(
            trainer, warmup_epochs=min(warmup_epochs, max(0, trainer.epochs - 1))
        )
    config = VisionRunConfig(
        dataset=dataset.value,
        data_root=str(data_root),
        out=str(out),
        imbalance_ratio=imbalance_ratio,
        method=method,
        method_hparams=method_hparams,
        arch=arch.value if arch else None,
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
        image_size=image_size,
        image_root=str(image_root) if image_root else None,
        workers=workers,
        class_seed=class_seed,
        precision=precision.value,
        channels_last=channels_last,
    )
    with removed_on_failure(out):
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
