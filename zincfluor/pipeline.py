"""The molecular training and evaluation pipeline: measurements -> run folder.

``train_run`` wires the pieces in the house plan's order::

    read_measurements -> make_split -> featurize_cached -> loaders
        -> build_classifier + method -> Trainer.fit (model choice on validation)
        -> one test evaluation -> run folder

A run folder holds ``config.json`` (everything the run was started with), ``split.json``,
``bad_rows.csv`` (when the input had any), ``checkpoint.pt``, ``metrics.json`` (validation at the
chosen epoch, test, per-epoch history), ``per_level.md``/``per_level.csv``,
``confusion_matrix.png`` and ``training_curves.png``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from zincfluor.chem import FeaturizerConfig, default_cache_dir, featurize_cached
from zincfluor.data import DataOptions, LabelScheme, MoleculeTable, Split, class_counts, make_split
from zincfluor.methods import MethodContext, build_method
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.graph_augment import GraphAugment
from zincfluor.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from zincfluor.train.metrics import GroupThresholds, evaluate_predictions
from zincfluor.train.report import (
    epoch_logger,
    per_level_markdown,
    plot_confusion_matrix,
    write_per_level_csv,
    write_run_reports,
)
from zincfluor.train.resident_loader import ResidentGraphLoader
from zincfluor.train.seeding import resolve_device, seed_everything
from zincfluor.train.trainer import FitResult, Trainer, TrainerConfig, predict_proba

__all__ = ["DataOptions", "TrainRunConfig", "TrainRunResult", "train_run", "evaluate_run"]


@dataclass
class TrainRunConfig:
    """Everything a training run is started with; written to ``config.json``."""

    data: DataOptions
    out: str
    method: str = "ce"
    method_hparams: dict[str, Any] = field(default_factory=dict)
    split: str = "stratified"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    imbalance_ratio: float | None = None
    featurizer: str = "zincfluor"
    hidden_dim: int = 128
    num_layers: int = 6
    dropout: float = 0.1
    pooling: str = "mean"
    projection_dim: int | None = 128
    edge_drop: float = 0.2  # contrastive methods' graph views: bond drop probability
    feature_mask: float = 0.2  # ... and atom-feature column mask probability (per molecule)
    batch_size: int = 64
    loader: str = "resident"  # "pyg": PyG's DataLoader (same batches, collated on the host)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    device: str = "auto"
    cache_dir: str | None = None
    n_jobs: int | None = None
    head_threshold: int = 100
    tail_threshold: int = 20

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainRunResult:
    out: Path
    fit: FitResult
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    table: MoleculeTable
    split: Split
    device: str


def usable_mask(n: int, valid_indices) -> np.ndarray:
    """Boolean mask over ``n`` molecules, True where the featuriser made a graph."""
    usable = np.zeros(n, dtype=bool)
    usable[np.asarray(valid_indices, dtype=np.int64)] = True
    return usable


def _attach_labels(graphs, labels: np.ndarray, indices: np.ndarray) -> list:
    """The graphs at ``indices`` with their label as ``y`` (graphs that failed are excluded)."""
    out = []
    for i in indices:
        graph = graphs[i]
        graph.y = torch.tensor([int(labels[i])], dtype=torch.long)
        out.append(graph)
    return out


LOADERS = ("resident", "pyg")


def _loader(
    graphs: list, batch_size: int, device: torch.device, *, shuffle: bool, generator=None,
    kind: str = "resident",
):
    """Batches of ``graphs``. "resident": built on ``device`` from one resident copy, the same
    batches as PyG's ``DataLoader`` with the same generator, without per-batch collation on the
    host (the default); "pyg": PyG's ``DataLoader`` (kept to measure the difference)."""
    if kind == "resident":
        return ResidentGraphLoader(
            graphs, batch_size, shuffle=shuffle, generator=generator, device=device
        )
    if kind == "pyg":
        return DataLoader(graphs, batch_size=batch_size, shuffle=shuffle, generator=generator)
    raise ValueError(f"loader must be one of {LOADERS}, got {kind!r}")


def _log(console, message: str) -> None:
    if console is not None:
        console.print(message)


def train_run(config: TrainRunConfig, *, console=None, progress: bool = True) -> TrainRunResult:
    """Train one model as ``config`` says and write its run folder; returns the metrics."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)

    table = config.data.read()
    _log(console, table.summary())
    if table.bad_rows:
        table.write_bad_rows(out / "bad_rows.csv")
        _log(console, f"rows that were left out are listed in {out / 'bad_rows.csv'}")

    featurizer = FeaturizerConfig(backend=config.featurizer)
    featurized = featurize_cached(
        table.smiles, featurizer, _cache_dir(config.cache_dir), n_jobs=config.n_jobs,
        progress=progress,
    )
    for error in featurized.errors:
        _log(console, f"[yellow]left out[/yellow] {error}")
    split = make_split(
        table,
        kind=config.split,
        fractions=config.fractions,
        seed=config.seed,
        imbalance_ratio=config.imbalance_ratio,
        usable=usable_mask(len(table.smiles), featurized.valid_indices),
    )
    _check_split(split)
    split.save(out / "split.json", smiles=table.smiles)
    num_classes = table.scheme.num_classes
    train_counts = class_counts(table.labels[split.train], num_classes)

    graphs = featurized.graphs
    train_set = _attach_labels(graphs, table.labels, split.train)
    valid_set = _attach_labels(graphs, table.labels, split.valid)
    test_set = _attach_labels(graphs, table.labels, split.test)
    kind = config.loader
    train_loader = _loader(
        train_set, config.batch_size, device, shuffle=True, generator=generator, kind=kind
    )
    valid_loader = _loader(valid_set, 512, device, shuffle=False, kind=kind)
    test_loader = _loader(test_set, 512, device, shuffle=False, kind=kind)

    context = MethodContext(
        class_counts=torch.as_tensor(train_counts, dtype=torch.float32),
        num_epochs=config.trainer.epochs,
        steps_per_epoch=len(train_loader),
        augment=GraphAugment(config.edge_drop, config.feature_mask),
    )
    method = build_method(config.method, context, **config.method_hparams)
    spec = gcn_spec(
        featurizer.atom_dim,
        num_classes,
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
        dropout=config.dropout,
        pooling=config.pooling,
        projection_dim=config.projection_dim,
    )
    spec = method.adjust_model_spec(spec)
    model = build_classifier(spec)

    run_config = config.to_dict()
    run_config["resolved"] = {
        "device": str(device),
        "featurizer": featurizer.to_dict(),
        "label_scheme": table.scheme.to_dict(),
        "train_class_counts": train_counts.tolist(),
        "method_hparams": method.hparams,
        "model_spec": spec,
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    _log(
        console,
        f"training {config.method} on {len(train_set)} molecules "
        f"({len(valid_set)} validation, {len(test_set)} test) on {device}",
    )

    live = progress and (console is None or console.is_terminal)
    trainer = Trainer(
        model, method, config.trainer, device=device, progress=live,
        on_epoch_end=epoch_logger(console, config.trainer.epochs),
    )
    fit = trainer.fit(train_loader, valid_loader)
    model = trainer.model

    thresholds = GroupThresholds(config.head_threshold, config.tail_threshold)
    names = list(table.scheme.names)
    valid_probs, valid_targets = predict_proba(model, valid_loader, device)
    valid_metrics = evaluate_predictions(
        valid_probs, valid_targets, train_counts, names, thresholds=thresholds
    )
    test_probs, test_targets = predict_proba(model, test_loader, device)  # the one test look
    test_metrics = evaluate_predictions(
        test_probs, test_targets, train_counts, names, thresholds=thresholds
    )

    save_checkpoint(
        out / CHECKPOINT_NAME,
        model=model,
        model_spec=spec,
        class_counts=train_counts.tolist(),
        method={"name": config.method, "hparams": method.hparams},
        metadata={
            "kind": "molecules",
            "featurizer": featurizer.to_dict(),
            "label_scheme": table.scheme.to_dict(),
            "group_thresholds": [config.head_threshold, config.tail_threshold],
            "data_source": str(config.data.path),
            "split": {"kind": config.split, "seed": config.seed, "sizes": split.sizes()},
            "imbalance_ratio": config.imbalance_ratio,
            "best_epoch": fit.best_epoch,
            "valid_balanced_accuracy": fit.best_score,
            "test_metrics": _headline(test_metrics),
        },
    )
    write_run_reports(out, fit, valid_metrics, test_metrics, device)
    return TrainRunResult(out, fit, valid_metrics, test_metrics, table, split, str(device))


def _check_split(split: Split) -> None:
    """Every part must hold molecules: training needs train, model choice valid, the report test."""
    empty = [name for name, size in split.sizes().items() if size == 0]
    if not empty:
        return
    hint = (
        "a scaffold split puts whole scaffold sets into one part, so a small or "
        "scaffold-poor table can leave a part empty; use more data or --split stratified"
        if split.kind == "scaffold"
        else "use more data"
    )
    raise ValueError(f"the {split.kind} split left the {' and '.join(empty)} part empty ({hint})")


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("top1", "balanced_accuracy", "macro_f1", "tail_top_2", "tail_top_4", "tail_top_6",
            "ece")
    return {k: metrics.get(k) for k in keys}


def _seen_molecules(model: str | Path) -> set[str] | None:
    """Canonical SMILES of the training and validation parts of a run folder, if recorded."""
    model = Path(model)
    split_file = (model if model.is_dir() else model.parent) / "split.json"
    if not split_file.is_file():
        return None
    stored = json.loads(split_file.read_text())
    if "train_smiles" not in stored:
        return None
    return set(stored["train_smiles"]) | set(stored.get("valid_smiles", []))


def _cache_dir(cache_dir: str | None) -> Path | None:
    """``--cache-dir``: a folder, "none" for no cache, or unset for the default cache."""
    if cache_dir == "none":
        return None
    return Path(cache_dir) if cache_dir else default_cache_dir()


def evaluate_run(
    model: str | Path,
    data: DataOptions,
    *,
    out: str | Path | None = None,
    device: str = "auto",
    cache_dir: str | None = None,
    exclude_seen: bool = False,
    console=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a trained model on a new measurement table with the same metrics as training.

    The table is labelled with the model's own label scheme unless ``data.label_column`` gives
    the classes. Metrics that depend on training counts (tail top-k, head/medium/tail) use the
    model's training counts.

    When the model's run folder holds its ``split.json``, molecules that the model was trained
    or selected on (its training and validation parts) are counted and reported, since metrics
    on them are no test; ``exclude_seen`` leaves them out. On the model's own data set that
    leaves exactly its test split.
    """
    checkpoint = load_checkpoint(model)
    metadata = checkpoint["metadata"]
    scheme = LabelScheme.from_dict(metadata["label_scheme"])
    table = data.read(scheme)
    _log(console, table.summary())
    rows = np.arange(len(table.smiles), dtype=np.int64)
    seen = _seen_molecules(model)
    if seen is not None:
        is_seen = np.array([smiles in seen for smiles in table.smiles], dtype=bool)
        _log(
            console,
            f"{int(is_seen.sum())} of {len(rows)} molecules were in this model's training or "
            "validation split"
            + ("; they are left out (--exclude-seen)" if exclude_seen else
               "; metrics on them are not a test (use --exclude-seen to leave them out)"),
        )
        if exclude_seen:
            rows = rows[~is_seen]
    elif exclude_seen:
        raise ValueError(
            "--exclude-seen needs the model's split.json next to its checkpoint; it is missing"
        )
    if rows.size == 0:
        raise ValueError("no molecules left to evaluate")
    featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
    smiles = [table.smiles[i] for i in rows]
    featurized = featurize_cached(smiles, featurizer, _cache_dir(cache_dir), progress=progress)
    for error in featurized.errors:
        _log(console, f"[yellow]left out[/yellow] {error}")
    keep = np.array(featurized.valid_indices, dtype=np.int64)
    graphs = _attach_labels(featurized.graphs, table.labels[rows], keep)
    torch_device = resolve_device(device)
    net = model_from_checkpoint(checkpoint).to(torch_device)
    probs, targets = predict_proba(
        net, _loader(graphs, 512, torch_device, shuffle=False), torch_device
    )
    head, tail = metadata.get("group_thresholds", (100, 20))
    metrics = evaluate_predictions(
        probs, targets, checkpoint["class_counts"], list(scheme.names),
        thresholds=GroupThresholds(head, tail),
    )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
        (out / "per_level.md").write_text(per_level_markdown(metrics))
        write_per_level_csv(metrics, out / "per_level.csv")
        plot_confusion_matrix(
            np.asarray(metrics["confusion_matrix"]), metrics["class_names"],
            out / "confusion_matrix.png", title=f"evaluation: {Path(data.path).name}",
        )
        if table.bad_rows:
            table.write_bad_rows(out / "bad_rows.csv")
    return metrics
