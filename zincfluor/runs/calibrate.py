"""Calibrate a trained molecular run by temperature scaling: run folder -> calibrated run folder.

``calibrate_run`` rebuilds the run's validation and test molecules (its ``split.json``, or the
same seeded split rebuilt from ``config.json`` when the file was not kept), fits one temperature T
on the validation logits (:func:`zincfluor.train.calibration.fit_temperature`), and writes a new
run folder whose checkpoint divides the logits by T (``model_spec["temperature"]``). Its
``metrics.json`` holds the validation and test metrics of the calibrated model (accuracies are
unchanged, since T keeps every argmax; ECE changes) and a ``calibration`` block with T and the
before/after negative log-likelihood and ECE. ``zincfluor model ship`` takes that folder as it
takes any run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import attach_model_features
from zincfluor.data import DataOptions, LabelScheme, Split, make_split
from zincfluor.runs.common import (
    attach_labels,
    graph_loader,
    headline_metrics,
    resolve_cache_dir,
    usable_mask,
)
from zincfluor.train.calibration import fit_temperature, mean_nll
from zincfluor.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    model_from_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)
from zincfluor.train.metrics import GroupThresholds, evaluate_predictions
from zincfluor.train.seeding import resolve_device
from zincfluor.train.trainer import predict_logits

__all__ = ["calibrate_run", "run_split", "split_seed_of"]


def calibrate_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    data_path: str | Path | None = None,
    device: str = "auto",
    cache_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit a temperature on the run's validation split and write the calibrated run to ``out``.

    Parameters
    ----------
    run_dir : a molecular training run folder (``checkpoint.pt``, ``config.json``,
        ``metrics.json``; ``split.json`` if kept)
    out : the calibrated run folder to write (must differ from ``run_dir``)
    data_path : the measurement table, when the run's recorded path does not exist here
    device, cache_dir, progress : as for ``zincfluor train``

    Returns the ``calibration`` block: temperature, validation NLL and ECE before and after,
    test ECE before and after.
    """
    run = resolve_checkpoint_path(run_dir).parent
    out = Path(out)
    if out.resolve() == run.resolve():
        raise ValueError("write the calibrated run to a new folder, not over the original")
    checkpoint = load_checkpoint(run)
    metadata = checkpoint.get("metadata", {})
    if metadata.get("kind") != "molecules":
        raise ValueError(f"{run} is not a molecular run; only those can be calibrated here")
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())

    data = DataOptions(**config["data"])
    if data_path is not None:
        data.path = str(data_path)
    if not Path(data.path).is_file():
        raise FileNotFoundError(f"the run's data file {data.path} is not here; pass --data")
    table = data.read(LabelScheme.from_dict(metadata["label_scheme"]))
    featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
    featurized = featurize_cached(
        table.smiles, featurizer, resolve_cache_dir(cache_dir), progress=progress
    )
    attach_model_features(featurized.graphs, table.smiles, metadata)
    split = run_split(run, config, metadata, table, featurized.valid_indices)

    device = resolve_device(device)
    model = model_from_checkpoint(checkpoint).to(device)
    if model.temperature != 1.0:
        raise ValueError(f"{run} is calibrated already (T = {model.temperature:g})")
    logits = {}
    for part in ("valid", "test"):
        graphs = attach_labels(featurized.graphs, table.labels, getattr(split, part))
        part_logits, targets = predict_logits(
            model, graph_loader(graphs, 512, device, shuffle=False), device
        )
        logits[part] = (part_logits.double().cpu().numpy(), targets)

    temperature = fit_temperature(*logits["valid"])
    head, tail = metadata.get("group_thresholds", (100, 20))
    evaluate = {
        part: {
            t: evaluate_predictions(
                _softmax(z / t), y, checkpoint["class_counts"], list(table.scheme.names),
                thresholds=GroupThresholds(head, tail),
                group_rule=metadata.get("group_rule", "thirds"),
            )
            for t in (1.0, temperature)
        }
        for part, (z, y) in logits.items()
    }
    calibration = {
        "method": "temperature scaling (Guo et al. 2017), fitted on the validation split",
        "temperature": temperature,
        "valid_nll_before": mean_nll(*logits["valid"]),
        "valid_nll_after": mean_nll(*logits["valid"], temperature),
        "valid_ece_before": evaluate["valid"][1.0]["ece"],
        "valid_ece_after": evaluate["valid"][temperature]["ece"],
        "test_ece_before": evaluate["test"][1.0]["ece"],
        "test_ece_after": evaluate["test"][temperature]["ece"],
        "source_run": str(run),
    }

    out.mkdir(parents=True, exist_ok=True)
    spec = dict(checkpoint["model_spec"], temperature=temperature)
    model.temperature = temperature
    new_metadata = dict(metadata, calibration=calibration)
    new_metadata["test_metrics"] = headline_metrics(evaluate["test"][temperature])
    save_checkpoint(
        out / CHECKPOINT_NAME, model=model, model_spec=spec,
        class_counts=checkpoint["class_counts"], method=checkpoint["method"],
        metadata=new_metadata,
    )
    metrics = dict(metrics, valid=evaluate["valid"][temperature],
                   test=evaluate["test"][temperature], calibration=calibration)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    shutil.copyfile(run / "config.json", out / "config.json")
    split.save(out / "split.json", smiles=table.smiles)
    return calibration


def split_seed_of(config: dict) -> int:
    """The seed a run's split was made with: ``split_seed`` when the run set one (ensemble
    members share it), else ``seed`` (``resolved.split_seed`` records the answer in newer runs).
    """
    resolved = (config.get("resolved") or {}).get("split_seed")
    if resolved is not None:
        return int(resolved)
    return int(config["seed"] if config.get("split_seed") is None else config["split_seed"])


def run_split(run: Path, config: dict, metadata: dict, table, usable_indices) -> Split:
    """The run's split: its ``split.json``, else rebuilt from the seed as training made it."""
    if (run / "split.json").is_file():
        return Split.from_dict(json.loads((run / "split.json").read_text()), smiles=table.smiles)
    split = make_split(
        table, kind=config["split"], fractions=tuple(config["fractions"]),
        seed=split_seed_of(config),
        imbalance_ratio=config.get("imbalance_ratio"),
        usable=usable_mask(len(table.smiles), usable_indices),
    )
    recorded = (metadata.get("split") or {}).get("sizes")
    if recorded is not None and split.sizes() != recorded:
        raise ValueError(f"the rebuilt split {split.sizes()} differs from the run's {recorded}")
    return split


def _softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits), dim=1).numpy()
