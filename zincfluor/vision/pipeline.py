"""The image training pipeline: CIFAR-LT -> run folder, mirroring :mod:`zincfluor.pipeline`.

``vision_train_run`` does::

    load_long_tailed (train / stratified validation hold-out / balanced test)
        -> DeviceImageLoader x3 -> ResNet classifier + method (ContrastiveView as view maker)
        -> Trainer.fit (model choice on validation) -> one test evaluation -> run folder

The run folder holds ``config.json``, ``checkpoint.pt``, ``metrics.json`` (validation at the chosen
epoch, test with head/medium/tail/all accuracy, per-epoch history), ``per_class.md`` /
``per_class.csv``, ``confusion_matrix.png`` and ``training_curves.png``.

Defaults are the seed paper's CIFAR settings: 200 epochs, batch 128, SGD momentum 0.9, weight
decay 2e-4, lr 0.1 with 5 linear warm-up epochs and step decay x0.1 at epochs 160 and 180.
``groups`` "thresholds" splits classes by training count (head > 100, tail < 20, the usual
CIFAR-LT convention); "thirds" cuts the classes sorted by count into three near-equal parts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
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
from zincfluor.train.trainer import FitResult, Trainer, TrainerConfig, predict_proba
from zincfluor.vision import resnet  # noqa: F401  (registers the backbones)
from zincfluor.vision.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    ContrastiveView,
    DeviceImageLoader,
)
from zincfluor.vision.datasets import VisionSplits, load_long_tailed

__all__ = ["VISION_DATASETS", "VisionRunConfig", "VisionRunResult", "vision_train_run",
           "cifar_trainer_config", "image_classifier_spec"]

# CLI dataset name -> (dataset, normalisation mean, std)
VISION_DATASETS: dict[str, tuple[str, tuple, tuple]] = {
    "cifar10-lt": ("cifar10", CIFAR10_MEAN, CIFAR10_STD),
    "cifar100-lt": ("cifar100", CIFAR100_MEAN, CIFAR100_STD),
}


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
    """Everything an image training run is started with; written to ``config.json``."""

    dataset: str
    data_root: str
    out: str
    imbalance_ratio: float = 100.0
    method: str = "ce"
    method_hparams: dict[str, Any] = field(default_factory=dict)
    arch: str = "resnet32"
    stem: str | None = None
    weights: str | None = None
    projection_dim: int | None = 128
    valid_fraction: float = 0.1
    seed: int = 0
    batch_size: int = 128
    trainer: TrainerConfig = field(default_factory=cifar_trainer_config)
    device: str = "auto"
    groups: str = "thresholds"
    head_threshold: int = 100
    tail_threshold: int = 20
    max_per_class: int | None = None  # smoke runs: cap every split at this many per class

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class VisionRunResult:
    out: Path
    fit: FitResult
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    splits: VisionSplits
    device: str


def _log(console, message: str) -> None:
    if console is not None:
        console.print(message)


def _cap(splits: VisionSplits, cap: int, seed: int) -> VisionSplits:
    rng = np.random.default_rng(seed)

    def cap_set(data):
        keep = [rng.permutation(np.flatnonzero(data.labels == c))[:cap]
                for c in range(data.num_classes)]
        return data.subset(np.sort(np.concatenate(keep)))

    return VisionSplits(cap_set(splits.train), cap_set(splits.valid), cap_set(splits.test))


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
    if config.dataset not in VISION_DATASETS:
        raise ValueError(
            f"unknown dataset {config.dataset!r}; choose one of: {', '.join(VISION_DATASETS)}"
        )
    if config.groups not in ("thresholds", "thirds"):
        raise ValueError(f"groups must be thresholds or thirds, got {config.groups!r}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    name, mean, std = VISION_DATASETS[config.dataset]

    splits = load_long_tailed(
        config.data_root, name, config.imbalance_ratio, seed=config.seed,
        valid_fraction=config.valid_fraction,
    )
    if config.max_per_class:
        splits = _cap(splits, config.max_per_class, config.seed)
    if len(splits.valid) == 0:
        raise ValueError("the validation hold-out is empty; raise --valid-fraction")
    names = splits.class_names
    train_counts = splits.train.class_counts()

    train_loader = DeviceImageLoader(
        splits.train.images, splits.train.labels, batch_size=config.batch_size, device=device,
        mean=mean, std=std, shuffle=True, augment=True, seed=config.seed,
    )
    valid_loader = DeviceImageLoader(
        splits.valid.images, splits.valid.labels, batch_size=1024, device=device,
        mean=mean, std=std,
    )
    test_loader = DeviceImageLoader(
        splits.test.images, splits.test.labels, batch_size=1024, device=device,
        mean=mean, std=std,
    )
    context = MethodContext(
        class_counts=torch.as_tensor(train_counts, dtype=torch.float32),
        num_epochs=config.trainer.epochs,
        steps_per_epoch=len(train_loader),
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

    run_config = config.to_dict()
    run_config["resolved"] = {
        "device": str(device),
        "class_names": names,
        "train_class_counts": train_counts.tolist(),
        "valid_class_counts": splits.valid.class_counts().tolist(),
        "test_class_counts": splits.test.class_counts().tolist(),
        "method_hparams": method.hparams,
        "model_spec": spec,
        "normalization": {"mean": list(mean), "std": list(std)},
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    _log(
        console,
        f"training {config.method} ({config.arch}) on {len(splits.train)} images "
        f"({len(splits.valid)} validation, {len(splits.test)} test) on {device}",
    )

    trainer = Trainer(
        model, method, config.trainer, device=device,
        progress=progress and (console is None or console.is_terminal),
        on_epoch_end=epoch_logger(console, config.trainer.epochs),
    )
    fit = trainer.fit(train_loader, valid_loader)
    model = trainer.model

    valid_probs, valid_targets = predict_proba(model, valid_loader, device)
    valid_metrics = _metrics(valid_probs, valid_targets, train_counts, names, config)
    test_probs, test_targets = predict_proba(model, test_loader, device)  # the one test look
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
            "imbalance_ratio": config.imbalance_ratio,
            "normalization": {"mean": list(mean), "std": list(std)},
            "group_rule": config.groups,
            "group_thresholds": [config.head_threshold, config.tail_threshold],
            "seed": config.seed,
            "best_epoch": fit.best_epoch,
            "valid_balanced_accuracy": fit.best_score,
            "test_metrics": test_accuracy,
        },
    )
    write_run_reports(out, fit, valid_metrics, test_metrics, device, table_stem="per_class",
                      extra={"test_accuracy": test_accuracy})
    return VisionRunResult(out, fit, valid_metrics, test_metrics, splits, str(device))
