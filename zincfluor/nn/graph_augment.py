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

The batch surgery is public so that other view makers (the label-preserving molecular views of
:mod:`zincfluor.nn.views`) share it: :func:`bond_ids` (one id per bond, shared by its two
directed edges), :func:`keep_edges` (filter every edge-level tensor and the per-graph edge
boundaries) and :func:`remove_nodes` (delete atoms and their edges, renumbering the rest).

This view is registered as ``legacy`` in :data:`zincfluor.nn.views.VIEWS`: it is what every
contrastive run used before the label-preserving views existed (``edge_drop = feature_mask =
0.2``), kept so that old results reproduce.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

__all__ = ["GraphAugment", "bond_ids", "graph_index", "keep_edges", "num_graphs",
           "remove_nodes"]


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
        graph_of_node = graph_index(batch)
        if self.edge_drop > 0.0 and batch.edge_index.numel() > 0:
            group = bond_ids(batch.edge_index, x.size(0))
            draws = torch.rand(group.numel(), device=group.device)  # n_edges >= n_bonds draws
            keep_edges(out, batch, ~(draws[group] < self.edge_drop))
        if self.feature_mask > 0.0:
            masked = torch.rand(num_graphs(batch), x.size(1), device=x.device) < self.feature_mask
            out.x = x.masked_fill(masked[graph_of_node], 0.0)
        return out


def bond_ids(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Long [E]: a bond id in [0, n_bonds) per directed edge; the two directions of a bond share it.

    A bond's key is min(u, v) * n + max(u, v); sorting the keys groups the two directed edges of
    each bond (no ``torch.unique``, so no device synchronisation). Drawing ``torch.rand(E)`` and
    indexing it with these ids gives one draw per bond, taken by both of its edges.
    """
    source, target = edge_index
    key = torch.minimum(source, target) * num_nodes + torch.maximum(source, target)
    sorted_key, order = torch.sort(key, stable=True)
    starts = torch.ones_like(sorted_key, dtype=torch.bool)
    starts[1:] = sorted_key[1:] != sorted_key[:-1]
    group = torch.empty_like(order)
    group[order] = torch.cumsum(starts, 0) - 1
    return group


def keep_edges(out: Any, batch: Any, keep: torch.Tensor) -> None:
    """Set on ``out`` (a shallow copy of ``batch``) the edges of ``batch`` where ``keep`` [E].

    ``edge_index`` and every edge-level attribute are filtered with the same mask, and a
    ``Batch``'s per-graph edge boundaries follow, so ``to_data_list`` still works.
    """
    for key in _edge_keys(batch):
        value = batch[key]
        out[key] = value[:, keep] if key == "edge_index" else value[keep]
    _update_edge_slices(out, batch, keep, graph_index(batch), num_graphs(batch))


def remove_nodes(batch: Any, remove: torch.Tensor) -> Any:
    """A shallow copy of ``batch`` without the nodes where ``remove`` [N] is True.

    ``x`` and ``batch`` lose those rows; every edge touching a removed node goes (with its
    edge-level attributes); the other edges are renumbered; ``ptr`` and a ``Batch``'s per-graph
    boundaries are recomputed. Per-graph fields (``y``, ``mol_x``, ...) are shared. The graphs'
    only node-level tensor must be ``x`` (as for featurized molecules); another one is an error.
    """
    extra = [key for key, value in batch if isinstance(value, torch.Tensor)
             and key not in ("x", "batch", "ptr") and "edge" not in key and batch.is_node_attr(key)
             and value.size(0) == batch.x.size(0) and value.size(0) != num_graphs(batch)]
    if extra:
        raise ValueError(f"remove_nodes filters x only; the batch also has node-level {extra}")
    out = copy.copy(batch)
    keep = ~remove
    graph_of_node = graph_index(batch)
    count = num_graphs(batch)
    new_id = torch.cumsum(keep, 0) - 1
    if batch.edge_index.numel() > 0:
        source, target = batch.edge_index
        edge_keep = keep[source] & keep[target]
        keep_edges(out, batch, edge_keep)
        out.edge_index = new_id[out.edge_index]
    out.x = batch.x[keep]
    if getattr(batch, "batch", None) is None:
        return out
    new_graph = graph_of_node[keep]
    out.batch = new_graph
    counts = torch.zeros(count, dtype=torch.long, device=keep.device)
    counts.index_add_(0, new_graph, torch.ones_like(new_graph))
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    if getattr(batch, "ptr", None) is not None:
        out.ptr = ptr
    slices = getattr(batch, "_slice_dict", None)
    if slices and "x" in slices:
        out._slice_dict = {**out._slice_dict, "x": ptr}
    increments = getattr(batch, "_inc_dict", None)
    if increments and "edge_index" in increments:
        out._inc_dict = {**increments, "edge_index": ptr[:-1]}
    return out


def graph_index(batch: Any) -> torch.Tensor:
    """The graph of each node (all zeros for a single ``Data``)."""
    index = getattr(batch, "batch", None)
    if index is None:
        return torch.zeros(batch.x.size(0), dtype=torch.long, device=batch.x.device)
    return index


def num_graphs(batch: Any) -> int:
    """The number of graphs of a ``Batch`` (1 for a single ``Data``)."""
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
