"""Evaluate a trained molecular model on a measurement table with the metrics training reports.

``evaluate_run`` labels the table with the model's own scheme, leaves out (or counts) the
molecules the model was trained or selected on, predicts, and returns
:func:`zincfluor.train.metrics.evaluate_predictions`'s dict (with the ``wavelength`` block of
:mod:`zincfluor.runs.wavelength` for a model that predicts the emission maximum and a table with
measured values); with ``out`` it also writes ``metrics.json``, ``per_level.md``/``per_level.csv``
and ``confusion_matrix.png``.

The model is a run folder, a checkpoint or an ensemble folder: predictions come from the
:class:`~zincfluor.screening.predictor.Predictor`, so an ensemble is evaluated exactly as
``predict`` and ``screen`` use it (its members' mean probabilities, its mixture's interval).
:func:`evaluate_molecules` evaluates a loaded predictor on given molecules (e.g. one part of a
split).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import attach_model_features
from zincfluor.chem.packing import GraphArrays, PackedGraphs
from zincfluor.data import DataOptions
from zincfluor.runs.common import log, resolve_cache_dir, seen_molecules
from zincfluor.runs.wavelength import evaluate_with_wavelength
from zincfluor.screening.predictor import Predictor
from zincfluor.train.metrics import GroupThresholds
from zincfluor.train.report import per_level_markdown, plot_confusion_matrix, write_per_level_csv

__all__ = ["evaluate_run", "evaluate_molecules"]


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
    predictor = Predictor.load(model, device=device)
    scheme = predictor.scheme
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
    metrics = evaluate_molecules(
        predictor,
        [table.smiles[i] for i in rows],
        table.labels[rows],
        None if table.values is None else table.values[rows],
        cache_dir=cache_dir,
        console=console,
        progress=progress,
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


def evaluate_molecules(
    predictor: Predictor,
    smiles: Sequence[str],
    labels: np.ndarray,
    values: np.ndarray | None = None,
    *,
    cache_dir: str | None = None,
    console=None,
    progress: bool = False,
) -> dict[str, Any]:
    """Metrics of ``predictor`` on molecules with known levels (and, optionally, values).

    Molecules the model's featuriser refuses are left out (and logged). ``values`` (nm, NaN
    where unknown) add the ``wavelength`` block for a model that predicts the emission maximum.
    Training counts and the head/medium/tail rule are the model's own (thirds of the levels
    for a model that records none, the molecule default).
    """
    metadata = predictor.checkpoint["metadata"]
    featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
    featurized = featurize_cached(
        list(smiles), featurizer, resolve_cache_dir(cache_dir), progress=progress
    )
    for error in featurized.errors:
        log(console, f"[yellow]left out[/yellow] {error}")
    keep = np.array(featurized.valid_indices, dtype=np.int64)
    if keep.size == 0:
        raise ValueError("none of the molecules could be featurized; nothing to evaluate")
    graphs = [featurized.graphs[i] for i in keep]
    attach_model_features(graphs, [smiles[i] for i in keep], metadata)
    first = graphs[0]
    packed = PackedGraphs.from_arrays(
        [GraphArrays(g.x.numpy(), g.edge_index.numpy(), g.edge_attr.numpy()) for g in graphs],
        first.x.shape[1], first.edge_attr.shape[1],
    )
    mol_x = (np.concatenate([g.mol_x.numpy() for g in graphs]).astype(np.float32)
             if getattr(first, "mol_x", None) is not None else None)
    outputs = predictor.outputs(packed, mol_x)
    head, tail = metadata.get("group_thresholds", (100, 20))
    return evaluate_with_wavelength(
        outputs.probs, np.asarray(labels, dtype=np.int64)[keep], predictor.class_counts,
        predictor.level_names, thresholds=GroupThresholds(head, tail),
        group_rule=metadata.get("group_rule", "thirds"),
        emission_nm=outputs.emission_nm,
        true_nm=None if values is None else np.asarray(values, dtype=np.float64)[keep],
    )
