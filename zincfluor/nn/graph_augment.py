"""Random views of molecular graphs for the contrastive methods (the ``augment`` of a run).

:class:`GraphAugment` maps a PyG ``Batch`` to a new, randomly perturbed ``Batch`` in one
vectorised pass over the whole batch, on the batch's device, with torch's random number
generator (so ``torch.manual_seed`` makes views reproducible):

* **bond dropping** (``edge_drop``): each bond is removed with probability ``edge_drop``. A bond
  is stored as two directed edges (u→v and v→u); both are kept or both are dropped, and every
  edge-level attribute (``edge_attr``) is filtered with the same mask, so it stays aligned.
* **node-feature masking** (``feature_mask``): for each *graph*, every feature column is zeroed
  with probability ``feature_mask`` for all atoms of that graph (a per-molecule column mask, as
  the attribute masking of GRACE, Zhu et al. 2020, but drawn independently per molecule). Masking
  columns rather than whole atoms keeps every atom distinguishable by its other features; zeroing
  one column of one molecule hides, e.g., "is aromatic" for all of that molecule's atoms.

The input batch is never modified: the result is a shallow copy whose ``x``, ``edge_index`` and
edge-level attributes are new tensors; the other tensors (``y``, ``batch``, ``ptr``) are shared.
Dropping edges changes the number of edges, so it needs one read of a size from the device
(boolean indexing); nothing else synchronises.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

__all__ = ["GraphAugment"]


class GraphAugment:
    """Callable view maker ``batch -> batch'``: drops bonds and masks atom-feature columns.

    Parameters
    ----------
    edge_drop : probability of dropping each bond (both directions together), in [0, 1]
    feature_mask : probability of zeroing each feature column of each graph, in [0, 1]
    """

    def __init__(self, edge_drop: float = 0.2, feature_mask: float = 0.2):
        for name, value in (("edge_drop", edge_drop), ("feature_mask", feature_mask)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        self.edge_drop = float(edge_drop)
        self.feature_mask = float(feature_mask)

    def __repr__(self) -> str:
        return f"GraphAugment(edge_drop={self.edge_drop}, feature_mask={self.feature_mask})"

    def __call__(self, batch: Any) -> Any:
        out = copy.copy(batch)  # new store: setting attributes below leaves ``batch`` untouched
        x = batch.x
        graph_of_node = _graph_index(batch)
        num_graphs = _num_graphs(batch)
        if self.edge_drop > 0.0 and batch.edge_index.numel() > 0:
            keep = ~self._dropped_edges(batch.edge_index, x.size(0))
            for key in _edge_keys(batch):
                value = batch[key]
                out[key] = value[:, keep] if key == "edge_index" else value[keep]
            _update_edge_slices(out, batch, keep, graph_of_node, num_graphs)
        if self.feature_mask > 0.0:
            masked = torch.rand(num_graphs, x.size(1), device=x.device) < self.feature_mask
            out.x = x.masked_fill(masked[graph_of_node], 0.0)
        return out

    def _dropped_edges(self, edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """Bool [E]: the edges of dropped bonds; the two directions of a bond share one draw.

        A bond's key is min(u, v) * n + max(u, v); sorting the keys groups the two directed
        edges of each bond, and one uniform number per group decides (no ``torch.unique``, so no
        device synchronisation here).
        """
        source, target = edge_index
        key = torch.minimum(source, target) * num_nodes + torch.maximum(source, target)
        sorted_key, order = torch.sort(key, stable=True)
        starts = torch.ones_like(sorted_key, dtype=torch.bool)
        starts[1:] = sorted_key[1:] != sorted_key[:-1]
        group = torch.empty_like(order)
        group[order] = torch.cumsum(starts, 0) - 1  # bond id of each edge, in [0, n_bonds)
        draws = torch.rand(key.numel(), device=key.device)  # n_edges >= n_bonds draws
        return draws[group] < self.edge_drop


def _graph_index(batch: Any) -> torch.Tensor:
    """The graph of each node (all zeros for a single ``Data``)."""
    index = getattr(batch, "batch", None)
    if index is None:
        return torch.zeros(batch.x.size(0), dtype=torch.long, device=batch.x.device)
    return index


def _num_graphs(batch: Any) -> int:
    return int(batch.num_graphs) if getattr(batch, "batch", None) is not None else 1


def _edge_keys(batch: Any) -> list[str]:
    """``edge_index`` plus every edge-level attribute: one PyG considers edge-level whose name
    says so (``edge_attr``, ...). PyG judges by size alone, so when a batch holds as many graphs
    as edges a per-graph ``y`` or ``mol_x`` would pass for edge-level; the name rules it out."""
    keys = ["edge_index"]
    for key, value in batch:  # a PyG Data yields (name, value) pairs
        if (key != "edge_index" and "edge" in key and isinstance(value, torch.Tensor)
                and batch.is_edge_attr(key)):
            keys.append(key)
    return keys


def _update_edge_slices(
    out: Any, batch: Any, keep: torch.Tensor, graph_of_node: torch.Tensor, num_graphs: int
) -> None:
    """Keep a ``Batch``'s per-graph edge boundaries right, so ``to_data_list`` still works."""
    slices = getattr(batch, "_slice_dict", None)
    if not slices or "edge_index" not in slices:
        return
    graph_of_edge = graph_of_node[batch.edge_index[0, keep]]
    counts = torch.zeros(num_graphs, dtype=torch.long, device=keep.device)
    counts.index_add_(0, graph_of_edge, torch.ones_like(graph_of_edge))
    bounds = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # stays on the batch's device
    new_slices = dict(slices)
    for key in _edge_keys(batch):
        if key in new_slices:
            new_slices[key] = bounds
    out._slice_dict = new_slices
