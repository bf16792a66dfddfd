"""On-disk cache of featurized datasets, keyed by the inputs and the featurizer settings.

A cache file holds one featurized SMILES list, packed (a few concatenated tensors plus
per-graph counts, the errors as plain lists; 0/1 features stored as bytes, a quarter of their
float32 size), written with ``torch.save`` and read back with
``torch.load(weights_only=True)``. Its name is the sha256 of everything that decides its
content: the featurizer settings, the feature layout version, the RDKit (and DeepChem)
version, the cache format and the SMILES themselves. An unreadable or inconsistent file is
rebuilt; files are written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import rdkit
import torch

from zincfluor.chem.batch import FeaturizedSet, PackedSet, featurize_many, featurize_packed
from zincfluor.chem.config import FEATURE_LAYOUT_VERSION, FeaturizerConfig
from zincfluor.chem.errors import FeaturizationError
from zincfluor.chem.packing import PackedGraphs

__all__ = ["CACHE_FORMAT", "cache_key", "cache_path", "default_cache_dir", "featurize_cached"]

CACHE_FORMAT = 1
"""Bumped whenever the layout of a cache file changes."""

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$ZINCFLUOR_CACHE_DIR`` if set, else ``~/.cache/zincfluor``."""
    configured = os.environ.get("ZINCFLUOR_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "zincfluor"


def cache_key(smiles: Sequence[object], config: FeaturizerConfig) -> str:
    """Hex sha256 of the settings, versions and SMILES that determine a featurized set."""
    settings = {
        "config": config.to_dict(),
        "feature_layout_version": FEATURE_LAYOUT_VERSION,
        "cache_format": CACHE_FORMAT,
        "rdkit": rdkit.__version__,
    }
    if config.backend == "deepchem":
        settings["deepchem"] = _installed_version("deepchem")
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(b"\n")
    digest.update(json.dumps(list(smiles), default=repr).encode())
    return digest.hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / f"featurized-{key}.pt"


def featurize_cached(
    smiles: Sequence[str],
    config: FeaturizerConfig = FeaturizerConfig(),
    cache_dir: Path | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
) -> FeaturizedSet:
    """:func:`~zincfluor.chem.batch.featurize_many`, remembered on disk.

    Parameters
    ----------
    smiles, config, n_jobs, progress : as for ``featurize_many``
    cache_dir : folder for cache files (created if missing); ``None`` disables caching.
        See :func:`default_cache_dir`.
    """
    items = list(smiles)
    if cache_dir is None:
        return featurize_many(items, config, n_jobs=n_jobs, progress=progress)
    key = cache_key(items, config)
    path = cache_path(cache_dir, key)
    packed = _load(path, key, len(items))
    if packed is None:
        packed = featurize_packed(items, config, n_jobs=n_jobs, progress=progress)
        _save(packed, path, key, config)
    return packed.to_featurized_set()


def _installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _compact(features: np.ndarray) -> torch.Tensor:
    """float32 features as uint8 when they are all 0 or 1 (one-hot and flags), else as is."""
    as_bytes = features.astype(np.uint8)
    if np.array_equal(as_bytes, features):
        return torch.from_numpy(as_bytes)
    return torch.from_numpy(features)


def _expand(features: torch.Tensor) -> np.ndarray:
    return features.numpy().astype(np.float32, copy=False)


def _to_state(packed: PackedSet, key: str, atom_dim: int, bond_dim: int) -> dict[str, Any]:
    if packed.parts:
        graphs = PackedGraphs.concat(packed.parts)
    else:
        graphs = PackedGraphs.empty(atom_dim, bond_dim)
    return {
        "format": CACHE_FORMAT,
        "key": key,
        "n_inputs": packed.n_inputs,
        "x": _compact(graphs.x),
        "edge_index": torch.from_numpy(graphs.edge_index),
        "edge_attr": _compact(graphs.edge_attr),
        "atom_counts": torch.from_numpy(graphs.atom_counts),
        "edge_counts": torch.from_numpy(graphs.edge_counts),
        "valid_indices": torch.from_numpy(packed.valid_indices),
        "error_indices": [error.index for error in packed.errors],
        "error_smiles": [error.smiles for error in packed.errors],
        "error_reasons": [error.reason for error in packed.errors],
    }


def _from_state(state: dict[str, Any], key: str, n_inputs: int) -> PackedSet:
    """Rebuild a packed set, raising ValueError if the file does not describe one."""
    if state["format"] != CACHE_FORMAT or state["key"] != key or state["n_inputs"] != n_inputs:
        raise ValueError("cache file written for other inputs or by another version")
    graphs = PackedGraphs(
        _expand(state["x"]),
        state["edge_index"].numpy(),
        _expand(state["edge_attr"]),
        state["atom_counts"].numpy(),
        state["edge_counts"].numpy(),
    )
    errors = [
        FeaturizationError(int(index), str(text), str(reason))
        for index, text, reason in zip(
            state["error_indices"], state["error_smiles"], state["error_reasons"], strict=True
        )
    ]
    valid = state["valid_indices"].numpy()
    n_edges = int(graphs.edge_counts.sum())
    consistent = (
        int(graphs.atom_counts.sum()) == len(graphs.x)
        and graphs.edge_index.shape == (2, n_edges)
        and len(graphs.edge_attr) == n_edges
        and len(valid) == len(graphs) == len(graphs.edge_counts)
        and len(valid) + len(errors) == n_inputs
    )
    if not consistent:
        raise ValueError("cache file is inconsistent")
    return PackedSet([graphs], valid.astype(np.int64, copy=False), errors, n_inputs)


def _load(path: Path, key: str, n_inputs: int) -> PackedSet | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=True)
        return _from_state(state, key, n_inputs)
    except Exception as error:  # truncated, corrupt or foreign file: rebuild it
        logger.warning("rebuilding unreadable featurization cache %s (%s)", path, error)
        return None


def _save(packed: PackedSet, path: Path, key: str, config: FeaturizerConfig) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            torch.save(_to_state(packed, key, config.atom_dim, config.bond_dim), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:  # caching is an optimisation; a read-only disk is not fatal
        logger.warning("could not write featurization cache %s (%s)", path, error)
    finally:
        temporary.unlink(missing_ok=True)
