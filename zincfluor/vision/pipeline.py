"""The image training pipeline: long-tailed images -> run folder (cf. :mod:`zincfluor.pipeline`).

``vision_train_run`` does::

    VISION_DATASETS[config.dataset]: resolve the defaults, then prepare
        (splits + train / validation / test loaders + normalisation)
        -> ResNet classifier + method (ContrastiveView as view maker)
        -> Trainer.fit (model choice on validation) -> one test evaluation -> run folder

Two families of data sets, one entry each in :data:`VISION_DATASETS`:

* ``cifar10-lt`` / ``cifar100-lt``: :func:`~zincfluor.vision.datasets.load_long_tailed` (the
  long-tailed training set minus a stratified validation hold-out, the balanced test set),
  kept on the device as uint8 by :class:`~zincfluor.vision.augment.DeviceImageLoader`
  (crop + flip on the device, CIFAR mean/std).
* ``places-lt`` and its reduced variants ``places-lt-10|50|100``:
  :func:`~zincfluor.vision.places.load_places_lt` (validation is ``Places_LT_val.txt``, not a
  hold-out), streamed from disk by :class:`~zincfluor.vision.stream.StreamingImageLoader`
  (Pillow decoding and uint8 transforms on the host in ``workers`` processes, float conversion
  and ImageNet mean/std normalisation on the device).

On CUDA the defaults are the fast path: training under bfloat16 autocast (``precision``, into
:class:`~zincfluor.train.trainer.TrainerConfig`; weights, optimiser and evaluation stay float32)
and channels-last images and convolution weights; CIFAR sits on the GPU as uint8 and is
augmented there, and the Trainer reads losses back to the host once per epoch, not per batch.
On the CPU both default to off (``--precision`` and ``--channels-last`` force them).

The run folder holds ``config.json``, ``checkpoint.pt``, ``metrics.json`` (validation at the chosen
epoch, test with head/medium/tail/all accuracy, per-epoch history), ``per_class.md`` /
``per_class.csv``, ``confusion_matrix.png`` and ``training_curves.png``. ``config.json`` (under
``resolved``) and the checkpoint metadata name the data set, the classes (names and their labels
in the original data) and the image size.

CIFAR defaults are the seed paper's: ResNet-32, 32 px, 200 epochs, batch 128, SGD momentum 0.9,
weight decay 2e-4, lr 0.1 with 5 linear warm-up epochs and step decay x0.1 at epochs 160 and 180;
imbalance ratio 100, 10% validation hold-out.

Places defaults are our choice (the issue gives none), the usual ImageNet-style recipe scaled to
Places-LT: ResNet-18 with the ImageNet stem, 224 px (random resized crop + flip for training;
short side to 256, centre 224 for evaluation), batch 128, SGD momentum 0.9, weight decay 5e-4,
lr 0.05 with cosine annealing over 30 epochs after 5 linear warm-up epochs (fewer when there are
5 epochs or fewer: ``min(5, epochs - 1)``), evaluation batches of 256, ``min(8, CPUs)`` loader
workers; reduced variants draw their classes with ``class_seed`` 0 (fixed across training seeds,
so that seeds differ only in training).

``groups`` "thresholds" splits classes by training count (head > 100, tail < 20, the usual
CIFAR-LT and Places-LT convention); "thirds" cuts the classes sorted by count into three
near-equal parts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zincfluor.methods import MethodContext, build_method
from zincfluor.nn.model import build_classifier
from zincfluor.train.checkpoint import CHECKPOINT_NAME, save_checkpoint
from zincfluor.train.metrics import (
    GroupThresholds,
    evaluate_predictions,
    group_accuracy,
    thirds_groups,
)
from zincfluor.train.report import epoch_logger, write_run_reports
from zincfluor.train.seeding import resolve_device, seed_everything
from zincfluor.train.trainer import (
    PRECISIONS,
    FitResult,
    Trainer,
    TrainerConfig,
    predict_proba,
)
from zincfluor.vision import resnet  # noqa: F401  (registers the backbones)
from zincfluor.vision.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ContrastiveView,
    DeviceImageLoader,
)
from zincfluor.vision.datasets import load_long_tailed
from zincfluor.vision.places import PLACES_VARIANTS, check_files, load_places_lt
from zincfluor.vision.stream import StreamingImageLoader, eval_resize_size

__all__ = [
    "VISION_DATASETS", "CIFAR_DATASETS", "VisionDatasetEntry", "PreparedData", "VisionRunConfig",
    "VisionRunResult", "vision_train_run", "resolve_config", "trainer_config_for",
    "cifar_trainer_config", "places_trainer_config", "image_classifier_spec",
]

CIFAR_EVAL_BATCH = 1024
PLACES_EVAL_BATCH = 256


def cifar_trainer_config(epochs: int = 200, **overrides: Any) -> TrainerConfig:
    """The seed paper's CIFAR optimisation; the step milestones scale with ``epochs``
    (160 and 180 of 200)."""
    settings: dict[str, Any] = dict(
        epochs=epochs, lr=0.1, momentum=0.9, weight_decay=2e-4, scheduler="step",
        warmup_epochs=min(5, max(0, epochs - 1)), gamma=0.1,
        milestones=(int(round(epochs * 0.8)), int(round(epochs * 0.9))),
    )
    settings.update(overrides)
    return TrainerConfig(**settings)


def places_trainer_config(epochs: int = 30, **overrides: Any) -> TrainerConfig:
    """Our Places-LT optimisation: SGD lr 0.05, momentum 0.9, weight decay 5e-4, cosine
    annealing after ``min(5, epochs - 1)`` linear warm-up epochs."""
    settings: dict[str, Any] = dict(
        epochs=epochs, lr=0.05, momentum=0.9, weight_decay=5e-4, scheduler="cosine",
        warmup_epochs=min(5, max(0, epochs - 1)),
    )
    settings.update(overrides)
    return TrainerConfig(**settings)


_OUT_DIMS = {"resnet32": 64, "resnet18": 512, "resnet34": 512, "resnet50": 2048}


def image_classifier_spec(
    arch: str, num_classes: int, *, projection_dim: int | None = 128, stem: str | None = None
) -> dict:
    """Spec of a ResNet classifier with a linear head and (optionally) a projection head
    (hidden width max(512, backbone features), output ``projection_dim``)."""
    if arch not in _OUT_DIMS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(_OUT_DIMS)}")
    backbone: dict[str, Any] = {"name": arch}
    if stem and arch == "resnet32":
        raise ValueError("resnet32 has a fixed CIFAR stem; --stem applies to resnet18/34/50")
    if stem:
        backbone["stem"] = stem
    spec: dict[str, Any] = {
        "backbone": backbone,
        "head": {"name": "linear", "num_classes": num_classes},
        "projection": None,
    }
    if projection_dim:
        hidden = max(512, _OUT_DIMS[arch])
        spec["projection"] = {"hidden_dim": hidden, "out_dim": projection_dim}
    return spec


@dataclass
class VisionRunConfig:
    """Everything an image training run is started with; written to ``config.json``.

    Fields left None take the data set's defaults (:func:`resolve_config`; ``config.json``
    holds the resolved values). ``imbalance_ratio`` and ``valid_fraction`` are CIFAR-LT's only;
    ``image_root``, ``workers`` and ``class_seed`` Places-LT's only; ``image_size`` is 32 for
    CIFAR.
    """

    dataset: str
    data_root: str
    out: str
    imbalance_ratio: float | None = None  # CIFAR-LT: 100
    method: str = "ce"
    method_hparams: dict[str, Any] = field(default_factory=dict)
    arch: str | None = None  # CIFAR: resnet32; Places: resnet18
    stem: str | None = None
    weights: str | None = None
    projection_dim: int | None = 128
    valid_fraction: float | None = None  # CIFAR-LT: 0.1
    seed: int = 0
    batch_size: int = 128
    trainer: TrainerConfig | None = None  # cifar_trainer_config() / places_trainer_config()
    device: str = "auto"
    groups: str = "thresholds"
    head_threshold: int = 100
    tail_threshold: int = 20
    max_per_class: int | None = None  # smoke runs: cap every split at this many per class
    image_size: int | None = None  # CIFAR: 32; Places: 224
    image_root: str | None = None  # Places: where list paths are resolved (default data_root)
    workers: int | None = None  # Places: DataLoader processes (default min(8, CPUs))
    class_seed: int = 0  # reduced Places variants: which classes are drawn
    precision: str = "auto"  # "bf16" autocast for training, "fp32", or auto: bf16 on CUDA
    channels_last: bool | None = None  # NHWC images and convolution weights; None: on CUDA

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class PreparedData:
    """What a data set entry hands the run: the splits (``.train``/``.valid``/``.test`` with
    ``class_counts()``, ``class_names``), the three ``(x, y)`` loaders, the normalisation and
    facts about the data for ``config.json`` and the checkpoint (``info``: at least
    ``image_size``, ``original_labels`` and ``imbalance_ratio``)."""

    splits: Any
    train_loader: Iterable
    valid_loader: Iterable
    test_loader: Iterable
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any]


@dataclass(frozen=True)
class VisionDatasetEntry:
    """One ``--dataset`` choice: its defaults for the None fields of :class:`VisionRunConfig`,
    a check of the resolved config, its optimisation defaults and how to prepare the data."""

    family: str  # "cifar" | "places"
    defaults: dict[str, Any]
    trainer_config: Callable[..., TrainerConfig]
    check: Callable[[VisionRunConfig], None]
    prepare: Callable[[VisionRunConfig, torch.device], PreparedData]


@dataclass
class VisionRunResult:
    out: Path
    fit: FitResult
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    splits: Any
    device: str


def _log(console, message: str) -> None:
    if console is not None:
        console.print(message)


def _cap(splits, cap: int, seed: int):
    rng = np.random.default_rng(seed)

    def cap_set(data):
        keep = [rng.permutation(np.flatnonzero(data.labels == c))[:cap]
                for c in range(data.num_classes)]
        return data.subset(np.sort(np.concatenate(keep)))

    return dataclasses.replace(
        splits, train=cap_set(splits.train), valid=cap_set(splits.valid),
        test=cap_set(splits.test),
    )


# --------------------------------------------------------------------------- data sets


def _check_cifar(config: VisionRunConfig) -> None:
    if config.image_size != 32:
        raise ValueError(
            f"CIFAR images are 32 px; --image-size {config.image_size} applies to Places-LT only"
        )
    if config.image_root is not None:
        raise ValueError("--image-root applies to Places-LT only")


def _prepare_cifar(
    name: str, mean: tuple, std: tuple, config: VisionRunConfig, device: torch.device
) -> PreparedData:
    splits = load_long_tailed(
        config.data_root, name, config.imbalance_ratio, seed=config.seed,
        valid_fraction=config.valid_fraction,
    )
    if config.max_per_class:
        splits = _cap(splits, config.max_per_class, config.seed)
    if len(splits.valid) == 0:
        raise ValueError("the validation hold-out is empty; raise --valid-fraction")
    train_loader = DeviceImageLoader(
        splits.train.images, splits.train.labels, batch_size=config.batch_size, device=device,
        mean=mean, std=std, shuffle=True, augment=True, seed=config.seed,
        channels_last=config.channels_last,
    )
    valid_loader = DeviceImageLoader(
        splits.valid.images, splits.valid.labels, batch_size=CIFAR_EVAL_BATCH, device=device,
        mean=mean, std=std, channels_last=config.channels_last,
    )
    test_loader = DeviceImageLoader(
        splits.test.images, splits.test.labels, batch_size=CIFAR_EVAL_BATCH, device=device,
        mean=mean, std=std, channels_last=config.channels_last,
    )
    info = {
        "image_size": 32,
        "original_labels": list(range(splits.train.num_classes)),
        "imbalance_ratio": config.imbalance_ratio,
        "validation": f"stratified hold-out of {config.valid_fraction:g} of the training set",
    }
    return PreparedData(splits, train_loader, valid_loader, test_loader, mean, std, info)


def _default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def _check_places(config: VisionRunConfig) -> None:
    if config.imbalance_ratio is not None:
        raise ValueError(
            "Places-LT has its own imbalance (the max/min training count, 996 for the full "
            "lists); --imbalance-ratio applies to CIFAR-LT only"
        )
    if config.valid_fraction is not None:
        raise ValueError(
            "Places-LT validates on Places_LT_val.txt; --valid-fraction applies to CIFAR-LT only"
        )
    if config.image_size < 8:
        raise ValueError(f"--image-size must be at least 8, got {config.image_size}")
    if config.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {config.workers}")


def _prepare_places(
    num_kept: int | None, config: VisionRunConfig, device: torch.device
) -> PreparedData:
    splits = load_places_lt(
        config.data_root, image_root=config.image_root, num_classes=num_kept,
        class_seed=config.class_seed,
    )
    imbalance_ratio = splits.imbalance_ratio  # before any --max-per-class cap
    if config.max_per_class:
        splits = _cap(splits, config.max_per_class, config.seed)
    for part in (splits.train, splits.valid, splits.test):
        if len(part) == 0:
            raise ValueError(f"{part.source} lists no image of the kept classes")
        check_files(part)
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    common = dict(image_size=config.image_size, device=device, mean=mean, std=std,
                  num_workers=config.workers, channels_last=config.channels_last)
    train_loader = StreamingImageLoader(
        splits.train, batch_size=config.batch_size, train=True, seed=config.seed, **common
    )
    valid_loader = StreamingImageLoader(splits.valid, batch_size=PLACES_EVAL_BATCH, **common)
    test_loader = StreamingImageLoader(splits.test, batch_size=PLACES_EVAL_BATCH, **common)
    resize = eval_resize_size(1, 1, config.image_size)[0]
    info = {
        "image_size": config.image_size,
        "original_labels": list(splits.original_labels),
        "imbalance_ratio": imbalance_ratio,
        "validation": str(splits.valid.source),
        "lists": {"train": str(splits.train.source), "valid": str(splits.valid.source),
                  "test": str(splits.test.source)},
        "image_root": str(splits.train.root),
        "class_seed": None if num_kept is None else config.class_seed,
        "train_transform": f"random resized crop to {config.image_size} (area 0.08-1, "
                           "aspect 3/4-4/3) + horizontal flip",
        "eval_transform": f"short side to {resize}, centre crop {config.image_size}",
        "workers": config.workers,
    }
    return PreparedData(splits, train_loader, valid_loader, test_loader, mean, std, info)


_CIFAR_DEFAULTS = {"arch": "resnet32", "image_size": 32, "imbalance_ratio": 100.0,
                   "valid_fraction": 0.1}
# CLI dataset name -> (dataset of zincfluor.vision.datasets, normalisation mean, std)
CIFAR_DATASETS: dict[str, tuple[str, tuple, tuple]] = {
    "cifar10-lt": ("cifar10", CIFAR10_MEAN, CIFAR10_STD),
    "cifar100-lt": ("cifar100", CIFAR100_MEAN, CIFAR100_STD),
}
# CLI dataset name -> how to resolve, check and prepare it
VISION_DATASETS: dict[str, VisionDatasetEntry] = {
    **{
        name: VisionDatasetEntry(
            "cifar", _CIFAR_DEFAULTS, cifar_trainer_config, _check_cifar,
            partial(_prepare_cifar, *cifar),
        )
        for name, cifar in CIFAR_DATASETS.items()
    },
    **{
        name: VisionDatasetEntry(
            "places", {"arch": "resnet18", "image_size": 224, "workers": _default_workers},
            places_trainer_config, _check_places, partial(_prepare_places, kept),
        )
        for name, kept in PLACES_VARIANTS.items()
    },
}


def _entry(dataset: str) -> VisionDatasetEntry:
    if dataset not in VISION_DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; choose one of: {', '.join(VISION_DATASETS)}"
        )
    return VISION_DATASETS[dataset]


def trainer_config_for(dataset: str, epochs: int | None = None, **overrides: Any) -> TrainerConfig:
    """The optimisation defaults of ``dataset`` (its default epochs when ``epochs`` is None),
    with ``overrides`` (TrainerConfig fields) applied."""
    factory = _entry(dataset).trainer_config
    return factory(**overrides) if epochs is None else factory(epochs, **overrides)


def resolve_config(config: VisionRunConfig) -> VisionRunConfig:
    """A copy of ``config`` with the None fields set to the data set's defaults, checked."""
    entry = _entry(config.dataset)
    if config.groups not in ("thresholds", "thirds"):
        raise ValueError(f"groups must be thresholds or thirds, got {config.groups!r}")
    changes: dict[str, Any] = {}
    for key, value in entry.defaults.items():
        if getattr(config, key) is None:
            changes[key] = value() if callable(value) else value
    if config.trainer is None:
        changes["trainer"] = entry.trainer_config()
    resolved = dataclasses.replace(config, **changes)
    entry.check(resolved)
    return resolved


def resolve_device_settings(config: VisionRunConfig, device: torch.device) -> VisionRunConfig:
    """``precision`` "auto" -> bf16 on CUDA, fp32 elsewhere (into the trainer config too) and
    ``channels_last`` None -> on CUDA only (on the CPU it is not reliably faster)."""
    if config.precision not in ("auto", *PRECISIONS):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {config.precision!r}")
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    channels_last = device.type == "cuda" if config.channels_last is None else config.channels_last
    trainer = dataclasses.replace(config.trainer, precision=precision)
    return dataclasses.replace(
        config, precision=precision, channels_last=channels_last, trainer=trainer
    )


def _metrics(probs, targets, counts, names, config: VisionRunConfig) -> dict[str, Any]:
    thresholds = GroupThresholds(config.head_threshold, config.tail_threshold)
    metrics = evaluate_predictions(probs, targets, counts, names, thresholds=thresholds)
    if config.groups == "thirds":
        groups = thirds_groups(counts)
        accuracy = [math.nan if v is None else v for v in metrics["per_level_top1"].values()]
        for name, value in group_accuracy(accuracy, groups).items():
            metrics[name] = None if math.isnan(value) else value
        metrics["groups"] = dict(zip(names, groups, strict=True))
    metrics["all"] = metrics["top1"]
    metrics["group_rule"] = config.groups
    return metrics


def vision_train_run(
    config: VisionRunConfig, *, console=None, progress: bool = True
) -> VisionRunResult:
    """Train one image model as ``config`` says and write its run folder."""
    config = resolve_config(config)
    entry = _entry(config.dataset)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    config = resolve_device_settings(config, device)

    data = entry.prepare(config, device)
    splits, mean, std = data.splits, data.mean, data.std
    names = splits.class_names
    train_counts = splits.train.class_counts()
    context = MethodContext(
        class_counts=torch.as_tensor(train_counts, dtype=torch.float32),
        num_epochs=config.trainer.epochs,
        steps_per_epoch=len(data.train_loader),
        augment=ContrastiveView(mean, std),
    )
    method = build_method(config.method, context, **config.method_hparams)
    spec = image_classifier_spec(
        config.arch, len(names), projection_dim=config.projection_dim, stem=config.stem,
    )
    spec = method.adjust_model_spec(spec)
    build_spec = json.loads(json.dumps(spec))
    if config.weights:  # only the first build reads the file; the checkpoint holds the weights
        build_spec["backbone"]["weights"] = config.weights
    model = build_classifier(build_spec)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)

    run_config = config.to_dict()
    run_config["resolved"] = {
        "device": str(device),
        "class_names": names,
        "original_labels": data.info["original_labels"],
        "image_size": data.info["image_size"],
        "train_class_counts": train_counts.tolist(),
        "valid_class_counts": splits.valid.class_counts().tolist(),
        "test_class_counts": splits.test.class_counts().tolist(),
        "method_hparams": method.hparams,
        "model_spec": spec,
        "normalization": {"mean": list(mean), "std": list(std)},
        "data": data.info,
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    _log(
        console,
        f"training {config.method} ({config.arch}, {data.info['image_size']} px) on "
        f"{len(splits.train)} images of {len(names)} classes ({len(splits.valid)} validation, "
        f"{len(splits.test)} test) on {device}",
    )

    trainer = Trainer(
        model, method, config.trainer, device=device,
        progress=progress and (console is None or console.is_terminal),
        on_epoch_end=epoch_logger(console, config.trainer.epochs),
    )
    fit = trainer.fit(data.train_loader, data.valid_loader)
    model = trainer.model

    valid_probs, valid_targets = predict_proba(model, data.valid_loader, device)
    valid_metrics = _metrics(valid_probs, valid_targets, train_counts, names, config)
    test_probs, test_targets = predict_proba(model, data.test_loader, device)  # the one test look
    test_metrics = _metrics(test_probs, test_targets, train_counts, names, config)

    test_accuracy = {k: test_metrics[k] for k in ("head", "medium", "tail", "all")}
    save_checkpoint(
        out / CHECKPOINT_NAME,
        model=model,
        model_spec=spec,
        class_counts=train_counts.tolist(),
        method={"name": config.method, "hparams": method.hparams},
        metadata={
            "kind": "images",
            "dataset": config.dataset,
            "class_names": names,
            "original_labels": data.info["original_labels"],
            "image_size": data.info["image_size"],
            "imbalance_ratio": data.info["imbalance_ratio"],
            "normalization": {"mean": list(mean), "std": list(std)},
            "group_rule": config.groups,
            "group_thresholds": [config.head_threshold, config.tail_threshold],
            "seed": config.seed,
            "best_epoch": fit.best_epoch,
            "valid_balanced_accuracy": fit.best_score,
            "test_metrics": test_accuracy,
            "data": data.info,
        },
    )
    write_run_reports(out, fit, valid_metrics, test_metrics, device, table_stem="per_class",
                      extra={"test_accuracy": test_accuracy})
    return VisionRunResult(out, fit, valid_metrics, test_metrics, splits, str(device))
