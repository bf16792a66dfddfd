"""What the molecular runs share: usable molecules, labelled graphs, loaders, the graph cache,
headline metrics and the molecules a run has seen.

Used by :mod:`zincfluor.runs.train`, :mod:`zincfluor.runs.evaluate` and
:mod:`zincfluor.runs.calibrate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from zincfluor.chem import default_cache_dir
from zincfluor.train.resident_loader import ResidentGraphLoader

__all__ = [
    "LOADERS",
    "HEADLINE_KEYS",
    "usable_mask",
    "attach_labels",
    "graph_loader",
    "resolve_cache_dir",
    "headline_metrics",
    "seen_molecules",
    "log",
]

LOADERS = ("resident", "pyg")
HEADLINE_KEYS = (
    "top1", "balanced_accuracy", "macro_f1", "tail_top_2", "tail_top_4", "tail_top_6", "ece",
)


def usable_mask(n: int, valid_indices) -> np.ndarray:
    """Boolean mask over ``n`` molecules, True where the featuriser made a graph."""
    usable = np.zeros(n, dtype=bool)
    usable[np.asarray(valid_indices, dtype=np.int64)] = True
    return usable


def attach_labels(graphs, labels: np.ndarray, indices: np.ndarray) -> list:
    """The graphs at ``indices`` with their label as ``y`` (graphs that failed are excluded)."""
    out = []
    for i in indices:
        graph = graphs[i]
        graph.y = torch.tensor([int(labels[i])], dtype=torch.long)
        out.append(graph)
    return out


def graph_loader(
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


def resolve_cache_dir(cache_dir: str | None) -> Path | None:
    """``--cache-dir``: a folder, "none" for no cache, or unset for the default cache."""
    if cache_dir == "none":
        return None
    return Path(cache_dir) if cache_dir else default_cache_dir()


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few test metrics a checkpoint's metadata and a model card carry."""
    return {k: metrics.get(k) for k in HEADLINE_KEYS}


def seen_molecules(model: str | Path) -> set[str] | None:
    """Canonical SMILES of the training and validation parts of a run folder, if recorded."""
    model = Path(model)
    split_file = (model if model.is_dir() else model.parent) / "split.json"
    if not split_file.is_file():
        return None
    stored = json.loads(split_file.read_text())
    if "train_smiles" not in stored:
        return None
    return set(stored["train_smiles"]) | set(stored.get("valid_smiles", []))


def log(console, message: str) -> None:
    """Print ``message`` on ``console`` when there is one."""
    if console is not None:
        console.print(message)
