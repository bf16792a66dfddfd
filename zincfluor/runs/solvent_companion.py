"""Give a model folder a *solvent-aware model* (``zincfluor model ship|ensemble --solvent-model``).

The folder's own model answers for a molecule whatever its solvent (trained on the median
emission over solvents); a ``zincfluor train-solvent`` run answers for a molecule in a given
solvent. A model folder can hold both: its model as usual and, in ``solvent/``
(:data:`~zincfluor.train.checkpoint.SOLVENT_FOLDER`), the solvent-aware one::

    solvent/checkpoint.pt                     one solvent-aware run, or
    solvent/ensemble.json, member-<k>/...     several (their mixture's interval)
    solvent/config.json, solvent/metrics.json the (first) run's config and metrics

The :class:`~zincfluor.screening.predictor.Predictor` then answers inputs given with a solvent
from it (:mod:`zincfluor.screening.solvent_model`). It must read the solvent (encoder
``descriptors`` or ``graph``, not ``none``), have a wavelength head and predict the model's
levels from graphs of the model's layout; all checked here by loading the folder.

It was trained on its own (molecule, solvent) rows and split, so it is not re-evaluated on the
model's split: the card's ``solvent`` section records the runs' own validation and test MAE
(``metrics.json``), the encoder and the training solvents with their row counts
(``metadata["solvent"]["train_solvents"]``), and the README lists them. The model's hash covers
the new checkpoints. Trust files stay: rows with a solvent do not use their conformal
calibration (see :mod:`zincfluor.screening.predictor`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zincfluor.runs.companion import copy_runs, run_checkpoint
from zincfluor.screening.card import (
    load_model_card,
    model_sha256,
    refresh_model_card,
)
from zincfluor.screening.predictor import Predictor
from zincfluor.screening.solvent_model import SOLVENT_ENCODERS
from zincfluor.train.checkpoint import (
    SOLVENT_FOLDER,
    load_checkpoint,
    model_checkpoint_paths,
)

__all__ = ["attach_solvent_model", "solvent_card_section"]

RUN_FILES = ("config.json", "metrics.json")


def _check_solvent_run(source: Path, checkpoint: dict) -> None:
    block = checkpoint.get("metadata", {}).get("solvent") or {}
    if block.get("encoder") not in SOLVENT_ENCODERS:
        found = block.get("encoder", "no solvent input")
        raise ValueError(
            f"--solvent-model {source.parent} is not a solvent-aware run (solvent encoder: "
            f"{found}); train one with zincfluor train-solvent --solvent-encoder "
            "descriptors|graph"
        )


def attach_solvent_model(model_dir: str | Path, runs: Sequence[str | Path], *,
                         device: str = "auto"):
    """Copy the ``zincfluor train-solvent`` run(s) ``runs`` into ``model_dir/solvent/`` and
    refresh the folder's card.

    Parameters
    ----------
    model_dir : a shipped model folder (``card.json``, as ``zincfluor model ship`` or
        ``model ensemble`` write it)
    runs : solvent-aware training run folders (several: an ensemble of them)
    device : where the check loads the folder

    Returns the refreshed :class:`~zincfluor.screening.card.ModelCard`. On any error the
    folder is left without a solvent model.
    """
    folder = Path(model_dir)
    card = load_model_card(folder)
    if card is None:
        raise ValueError(f"{folder} has no card.json; ship the model first (zincfluor model ship)")
    runs = [Path(run) for run in runs]
    if not runs:
        raise ValueError("give at least one solvent-aware run")
    sources = [run_checkpoint(run, "--solvent-model") for run in runs]
    checkpoints = [load_checkpoint(source) for source in sources]
    for source, checkpoint in zip(sources, checkpoints, strict=True):
        _check_solvent_run(source, checkpoint)
    target = folder / SOLVENT_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    try:
        copy_runs(sources, target, RUN_FILES)
        Predictor.load(folder, device=device, trust=False)  # checks levels, layout, head
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    card.solvent = solvent_card_section(checkpoints, runs)
    paths = model_checkpoint_paths(folder)
    card.checkpoint_sha256 = model_sha256(paths)
    card.checkpoint_bytes = sum(path.stat().st_size for path in paths)
    refresh_model_card(folder, card)
    return card


def _mae(metrics: dict[str, Any], part: str) -> float | None:
    value = ((metrics.get(part) or {}).get("wavelength") or {}).get("mae_nm")
    return None if value is None else float(value)


def solvent_card_section(checkpoints: Sequence[dict], runs: Sequence[Path]) -> dict[str, Any]:
    """The card's ``solvent`` section: folder, members, encoder, method, backbone, the runs,
    their data and split, each run's validation and test MAE of the emission maximum (nm; from
    its ``metrics.json``, ``None`` where it recorded none) and the training solvents with their
    rows (the first run's ``metadata["solvent"]["train_solvents"]``)."""
    metadata = checkpoints[0].get("metadata", {})
    block = metadata.get("solvent") or {}
    spec = checkpoints[0].get("model_spec", {})
    metrics = []
    for run in runs:
        path = Path(run) / "metrics.json"
        metrics.append(json.loads(path.read_text()) if path.is_file() else {})
    return {
        "folder": SOLVENT_FOLDER,
        "members": len(checkpoints),
        "encoder": block.get("encoder"),
        "method": checkpoints[0].get("method", {}).get("name", "unknown"),
        "backbone": (spec.get("backbone") or {}).get("name", "unknown"),
        "runs": [str(run) for run in runs],
        "data_source": metadata.get("data_source"),
        "split": metadata.get("split"),
        "valid_mae_nm": [_mae(m, "valid") for m in metrics],
        "test_mae_nm": [_mae(m, "test") for m in metrics],
        "train_solvents": [dict(entry) for entry in block.get("train_solvents") or []],
    }
