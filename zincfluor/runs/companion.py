"""Give a model folder a *wavelength companion* (``zincfluor model ship|ensemble --wavelength``).

A classifier ranks the rare levels best, a distributional (Gaussian) model predicts the emission
maximum best (bench/rare.py's rule 5 picks one of each on validation). A model folder can hold
both: the classifier's checkpoint(s) as usual and, in ``wavelength/``, the wavelength model::

    wavelength/checkpoint.pt                      one companion run, or
    wavelength/ensemble.json, member-<k>/...      several (their mixture's interval)
    wavelength/config.json                        the (first) companion run's config

The :class:`~zincfluor.screening.predictor.Predictor` then serves the classifier's levels,
probabilities and rare score with the companion's ``emission_nm`` and interval. The companion
must be trained on the model's split (the same parts, molecule for molecule) and read molecules
the same way (featurizer, label scheme, molecule features); both are checked here.

Attaching a companion re-evaluates the folder on its split's validation and test parts (the
card's ``wavelength`` section and its test ``wavelength`` metrics), updates the model's hash
(every checkpoint, the companion's included) and removes trust files, which were calibrated
without the wavelength interval: rebuild them with ``zincfluor model trust``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zincfluor.runs.ensemble import evaluate_on_split, read_run_split, split_parts
from zincfluor.screening.card import (
    load_model_card,
    model_sha256,
    refresh_model_card,
    remove_trust_files,
    train_command,
)
from zincfluor.screening.predictor import Predictor
from zincfluor.train.checkpoint import (
    CHECKPOINT_NAME,
    ENSEMBLE_FILE,
    WAVELENGTH_FOLDER,
    load_checkpoint,
    model_checkpoint_paths,
    resolve_member_paths,
)

__all__ = ["attach_wavelength_companion", "run_checkpoint", "copy_runs"]


def run_checkpoint(run: Path, option: str) -> Path:
    """The checkpoint of the training run ``run`` given with ``option``; an ensemble folder is
    refused (its members' run folders are what a companion takes)."""
    paths = resolve_member_paths(run)
    if len(paths) != 1:
        raise ValueError(f"{option} {run} is an ensemble folder; pass the training run "
                         "folders of its members")
    return paths[0]


def copy_runs(sources: Sequence[Path], folder: Path,
              run_files: Sequence[str] = ("config.json",)) -> None:
    """``sources`` (checkpoint files) into the new ``folder``: one checkpoint, or an ensemble
    layout, with the first run's ``run_files`` beside it."""
    folder.mkdir(parents=True)
    for name in run_files:
        if (sources[0].parent / name).is_file():
            shutil.copyfile(sources[0].parent / name, folder / name)
    if len(sources) == 1:
        shutil.copyfile(sources[0], folder / CHECKPOINT_NAME)
        return
    members = []
    for k, source in enumerate(sources):
        (folder / f"member-{k}").mkdir()
        shutil.copyfile(source, folder / f"member-{k}" / CHECKPOINT_NAME)
        members.append(f"member-{k}/{CHECKPOINT_NAME}")
    (folder / ENSEMBLE_FILE).write_text(json.dumps({"members": members}, indent=1) + "\n")


def attach_wavelength_companion(
    model_dir: str | Path,
    runs: Sequence[str | Path],
    *,
    data_path: str | Path | None = None,
    device: str = "auto",
    cache_dir: str | None = None,
    console=None,
    progress: bool = False,
):
    """Copy the training run(s) ``runs`` into ``model_dir/wavelength/`` and refresh its card.

    Parameters
    ----------
    model_dir : a shipped model folder (``card.json`` and ``split.json``, as ``zincfluor model
        ship`` or ``model ensemble`` write them) whose model has no wavelength head
    runs : training run folders of a model with a wavelength head, trained on the model's split
    data_path : the measurement table, when it is no longer where the runs recorded it

    Returns the refreshed :class:`~zincfluor.screening.card.ModelCard`. On any error the folder
    is left as it was, without a companion.
    """
    folder = Path(model_dir)
    card = load_model_card(folder)
    if card is None:
        raise ValueError(f"{folder} has no card.json; ship the model first (zincfluor model ship)")
    if not (folder / "split.json").is_file():
        raise ValueError(f"{folder} has no split.json, so the companion's split cannot be "
                         "checked; ship the model from a run folder that has one")
    runs = [Path(run) for run in runs]
    if not runs:
        raise ValueError("give at least one wavelength run")
    sources = [run_checkpoint(run, "--wavelength") for run in runs]
    model_split = split_parts(json.loads((folder / "split.json").read_text()))
    for source in sources:
        if split_parts(read_run_split(source.parent)) != model_split:
            raise ValueError(
                f"--wavelength {source.parent} was trained on another split than {folder}; "
                "train the companion with the model's --split and --split-seed"
            )
    checkpoints = [load_checkpoint(source) for source in sources]
    target = folder / WAVELENGTH_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    try:
        copy_runs(sources, target)
        predictor = Predictor.load(folder, device=device, trust=False)  # checks the settings
        config = json.loads((sources[0].parent / "config.json").read_text()) \
            if (sources[0].parent / "config.json").is_file() else {}
        valid, test = evaluate_on_split(
            predictor, config, read_run_split(sources[0].parent), data_path, cache_dir,
            console, progress,
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    card.wavelength = _companion_section(checkpoints, runs, config, valid)
    if test.get("wavelength"):
        card.test_metrics["wavelength"] = dict(test["wavelength"])
    paths = model_checkpoint_paths(folder)
    card.checkpoint_sha256 = model_sha256(paths)
    card.checkpoint_bytes = sum(path.stat().st_size for path in paths)
    card.trust = None
    remove_trust_files(folder)  # calibrated without the wavelength interval
    refresh_model_card(folder, card)
    return card


def _companion_section(checkpoints: Sequence[dict], runs: Sequence[Path],
                       config: dict[str, Any], valid: dict[str, Any]) -> dict[str, Any]:
    spec = checkpoints[0].get("model_spec", {})
    return {
        "folder": WAVELENGTH_FOLDER,
        "members": len(checkpoints),
        "method": checkpoints[0].get("method", {}).get("name", "unknown"),
        "backbone": (spec.get("backbone") or {}).get("name", "unknown"),
        "head": (spec.get("head") or {}).get("name", "unknown"),
        "runs": [str(run) for run in runs],
        "valid": dict(valid.get("wavelength") or {}),
        "command": train_command(config),
    }
