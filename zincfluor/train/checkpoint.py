"""Checkpoints that hold everything needed to predict, loadable with ``weights_only=True``.

A checkpoint is one ``torch.save``'d dict of tensors and plain Python values::

    {"format": 1,
     "model_spec": {...},          # rebuilds the network (zincfluor.nn.build_classifier)
     "state_dict": {...},          # its weights
     "class_counts": [...],        # training samples per class
     "method": {"name": ..., "hparams": {...}},
     "metadata": {...},            # the modality's own settings: featurizer, label scheme, ...
     "versions": {...}, "created": "2026-11-23T..."}

No pickled classes, so ``torch.load(path, weights_only=True)`` is safe on files from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import pickle
import platform
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zincfluor.nn.model import Classifier, build_classifier

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "resolve_checkpoint_path",
    "resolve_member_paths",
    "resolve_companion_paths",
    "model_checkpoint_paths",
    "ENSEMBLE_FILE",
    "WAVELENGTH_FOLDER",
    "SOLVENT_FOLDER",
    "resolve_solvent_model_paths",
    "package_versions",
    "CheckpointError",
]

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"
ENSEMBLE_FILE = "ensemble.json"
"""A model folder holding this file is an ensemble: ``{"members": ["member-0/checkpoint.pt",
...]}``, paths relative to the folder. Its first member stands for the ensemble where one
checkpoint's settings are read (featurizer, label scheme, split)."""
WAVELENGTH_FOLDER = "wavelength"
"""The sub-folder of a model folder that holds its *wavelength companion*: a model (or an
ensemble folder) with a wavelength head that supplies ``emission_nm`` for a model without one
(see :class:`zincfluor.screening.predictor.Predictor` and :mod:`zincfluor.runs.companion`)."""
SOLVENT_FOLDER = "solvent"
"""The sub-folder of a model folder that holds its *solvent-aware model*: a ``zincfluor
train-solvent`` run (or an ensemble folder of them) with a wavelength head that answers for
inputs given with a solvent (see :mod:`zincfluor.screening.solvent_model` and
:mod:`zincfluor.runs.solvent_companion`)."""


REQUIRED_KEYS = ("model_spec", "state_dict", "class_counts", "method", "metadata")
MODEL_HINT = (
    "pass a model folder, a run folder written by `zincfluor train`, or its checkpoint.pt"
)


class CheckpointError(ValueError):
    """A file given as a model that is not a readable zincfluor checkpoint."""


def package_versions() -> dict[str, str]:
    """Versions of the packages a prediction depends on (recorded in every checkpoint).

    A package that is not imported yet is read from its installed metadata, so recording
    versions never imports RDKit into an image run.
    """
    import zincfluor

    return {
        "zincfluor": zincfluor.__version__,
        "torch": str(torch.__version__),
        "torch_geometric": _version("torch_geometric", "torch-geometric"),
        "rdkit": _version("rdkit", "rdkit"),
        "python": platform.python_version(),
    }


def _version(module: str, distribution: str) -> str:
    if module in sys.modules:
        return str(getattr(sys.modules[module], "__version__", "unknown"))
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    model_spec: dict,
    class_counts: list[int],
    method: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint atomically (temporary file, then rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_spec": _plain(model_spec),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_counts": [int(c) for c in class_counts],
        "method": _plain(method),
        "metadata": _plain(metadata or {}),
        "versions": package_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types (what ``weights_only=True`` accepts without allow-lists).

    Tuples become lists and numpy scalars Python numbers; anything that JSON cannot hold is an
    error here rather than a checkpoint that later refuses to load.
    """
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint: {value!r}")


def resolve_member_paths(model: str | Path) -> list[Path]:
    """The checkpoint files of a model: an ensemble folder's members, else the one checkpoint."""
    path = Path(model)
    ensemble = path / ENSEMBLE_FILE
    if path.is_dir() and ensemble.is_file():
        try:
            members = json.loads(ensemble.read_text())["members"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{ensemble} is not an ensemble file ({error})") from None
        if not isinstance(members, list) or not members:
            raise ValueError(f"{ensemble} lists no members")
        paths = [path / str(member) for member in members]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{ensemble} names missing checkpoints: {', '.join(missing)}")
        return paths
    return [resolve_checkpoint_path(path)]


def resolve_companion_paths(model: str | Path) -> list[Path]:
    """The checkpoint files of a model folder's wavelength companion (``[]`` when it has none)."""
    companion = Path(model) / WAVELENGTH_FOLDER
    return resolve_member_paths(companion) if companion.is_dir() else []


def resolve_solvent_model_paths(model: str | Path) -> list[Path]:
    """The checkpoint files of a model folder's solvent-aware model (``[]`` when it has none)."""
    folder = Path(model) / SOLVENT_FOLDER
    return resolve_member_paths(folder) if folder.is_dir() else []


def model_checkpoint_paths(model: str | Path) -> list[Path]:
    """Every checkpoint file a model's predictions come from, in a fixed order: its members,
    then its wavelength companion's, then its solvent-aware model's. A model's identity (its
    hash) covers all of them."""
    return (resolve_member_paths(model) + resolve_companion_paths(model)
            + resolve_solvent_model_paths(model))


def resolve_checkpoint_path(model: str | Path) -> Path:
    """A run folder (holding ``checkpoint.pt``), an ensemble folder (its first member) or a
    checkpoint file -> the checkpoint file."""
    path = Path(model)
    if path.is_dir() and (path / ENSEMBLE_FILE).is_file():
        return resolve_member_paths(path)[0]
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; {MODEL_HINT}")
    return path


def load_checkpoint(model: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format.

    Raises
    ------
    FileNotFoundError
        When ``model`` holds no checkpoint.
    CheckpointError
        When the file is not a zincfluor checkpoint (another file type, an empty, truncated or
        damaged file, a pickle of Python objects, an unknown format or missing parts).
    """
    path = resolve_checkpoint_path(model)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except EOFError:
        raise CheckpointError(
            f"{path} is empty, not a zincfluor checkpoint; {MODEL_HINT}"
        ) from None
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} is not a zincfluor checkpoint (not a PyTorch file of plain data); "
            f"{MODEL_HINT}"
        ) from None
    except (RuntimeError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:80] if str(error).strip() else "unreadable"
        raise CheckpointError(
            f"{path} is not a readable zincfluor checkpoint (damaged, truncated or another kind "
            f"of archive: {reason}); {MODEL_HINT}"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint)
        raise CheckpointError(
            f"{path} is not a zincfluor checkpoint of format {CHECKPOINT_FORMAT} (found {found}); "
            f"{MODEL_HINT}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path} is an incomplete zincfluor checkpoint (no {', '.join(missing)}); {MODEL_HINT}"
        )
    return checkpoint


def model_from_checkpoint(checkpoint: dict[str, Any]) -> Classifier:
    """Rebuild the trained network of a loaded checkpoint, in eval mode."""
    model = build_classifier(checkpoint["model_spec"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
