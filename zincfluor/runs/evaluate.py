"""Evaluate a trained molecular model on a measurement table with the metrics training reports.

``evaluate_run`` labels the table with the model's own scheme, leaves out (or counts) the
molecules the model was trained or selected on, predicts, and returns
:func:`zincfluor.train.metrics.evaluate_predictions`'s dict; with ``out`` it also writes
``metrics.json``, ``per_level.md``/``per_level.csv`` and ``confusion_matrix.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import attach_model_features
from zincfluor.data import DataOptions, LabelScheme
from zincfluor.runs.common import (
    attach_labels,
    graph_loader,
    log,
    resolve_cache_dir,
    seen_molecules,
)
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.metrics import GroupThresholds, evaluate_predictions
from zincfluor.train.report import per_level_markdown, plot_confusion_matrix, write_per_level_csv
from zincfluor.train.seeding import resolve_device
from zincfluor.train.trainer import predict_proba

__all__ = ["evaluate_run"]


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
    log(console, table.summary())
    rows = np.arange(len(table.smiles), dtype=np.int64)
    seen = seen_molecules(model)
    if seen is not None:
        is_seen = np.array([smiles in seen for smiles in table.smiles], dtype=bool)
        log(
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
    featurized = featurize_cached(
        smiles, featurizer, resolve_cache_dir(cache_dir), progress=progress
    )
    for error in featurized.errors:
        log(console, f"[yellow]left out[/yellow] {error}")
    attach_model_features(featurized.graphs, smiles, metadata)
    keep = np.array(featurized.valid_indices, dtype=np.int64)
    graphs = attach_labels(featurized.graphs, table.labels[rows], keep)
    torch_device = resolve_device(device)
    net = model_from_checkpoint(checkpoint).to(torch_device)
    probs, targets = predict_proba(
        net, graph_loader(graphs, 512, torch_device, shuffle=False), torch_device
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
