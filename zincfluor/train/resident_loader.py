"""Mini-batches of molecular graphs gathered from one copy of the data set kept on the device.

PyG's ``DataLoader`` collates every batch in Python from ``Data`` objects and then copies it to
the device: on a GPU the small GCN waits for the host at every step. :class:`ResidentGraphLoader`
collates the whole set once, moves it to the device once, and builds each batch there with a few
gathers:

* per batch of graphs ``g`` with node counts ``n_g`` and edge counts ``e_g``,
  ``batch = repeat_interleave(arange(B), n_g)``, the node rows are
  ``node_start[g][batch] + (arange(N) - new_start[batch])`` and likewise for edges;
* edge indices are stored relative to their graph's first node and shifted by the batch's node
  offsets, so the result equals PyG's collation of the same graphs in the same order.

The only sizes the device work needs (nodes and edges per batch) are computed on the host from
the host copy of the counts, and the epoch's order reaches the device in one copy, so building a
batch never waits for the device. The order is drawn exactly as ``DataLoader(shuffle=True,
generator=...)`` draws it (the same sampler and the same seed draw), so for a given generator
state both loaders give the same batches, and a CPU run gives the same numbers with either.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Batch, Data

__all__ = ["ResidentGraphLoader"]

_GRAPH_KEYS = ("y", "y_nm", "mol_x", "sol_x", "sol_id")  # one row per graph: gathered by index
_SUPPORTED_KEYS = {"x", "edge_index", "edge_attr", *_GRAPH_KEYS}


class ResidentGraphLoader:
    """Iterable of PyG ``Batch`` objects built on ``device`` from a resident copy of ``graphs``.

    Parameters
    ----------
    graphs : the molecules, PyG ``Data`` with ``x``, ``edge_index``, optional ``edge_attr``,
        ``y``, ``y_nm`` (one emission maximum per graph) and ``mol_x`` (molecule-level
        features, [1, d] per graph), ``sol_x`` and ``sol_id`` (the row's solvent descriptors or
        solvent index: :mod:`zincfluor.data.solvent_inputs`); no other attributes
    batch_size : graphs per batch (the last batch may be smaller)
    shuffle : draw a new order each epoch (with ``generator``), as ``DataLoader`` does
    generator : torch generator of the order; ``None`` draws one from the global seed each epoch
    device : where the data set lives and batches are built
    """

    def __init__(
        self,
        graphs: Sequence[Data],
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if len(graphs) == 0:
            raise ValueError("no graphs to load")
        extra = set(graphs[0].keys()) - _SUPPORTED_KEYS
        if extra:
            raise ValueError(f"ResidentGraphLoader supports {sorted(_SUPPORTED_KEYS)}, "
                             f"the graphs also have {sorted(extra)}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.device = torch.device(device)
        self.num_graphs = len(graphs)

        full = Batch.from_data_list(list(graphs))
        node_counts = np.asarray([g.num_nodes for g in graphs], dtype=np.int64)
        edge_counts = np.asarray([g.edge_index.size(1) for g in graphs], dtype=np.int64)
        self._node_counts_host = node_counts
        self._edge_counts_host = edge_counts
        node_start = np.concatenate([[0], np.cumsum(node_counts)[:-1]])
        edge_start = np.concatenate([[0], np.cumsum(edge_counts)[:-1]])
        edge_graph = np.repeat(np.arange(len(graphs)), edge_counts)

        def put(array) -> torch.Tensor:
            return torch.as_tensor(array).to(self.device)

        self._x = put(full.x)
        self._edge_attr = put(full.edge_attr) if "edge_attr" in full else None
        self._graph_fields = {key: put(full[key]) for key in _GRAPH_KEYS if key in full}
        local = full.edge_index - torch.from_numpy(node_start[edge_graph])
        self._local_edge_index = put(local)
        self._node_counts = put(node_counts)
        self._edge_counts = put(edge_counts)
        self._node_start = put(node_start)
        self._edge_start = put(edge_start)

    def __len__(self) -> int:
        return math.ceil(self.num_graphs / self.batch_size)

    def __repr__(self) -> str:
        return (f"ResidentGraphLoader({self.num_graphs} graphs, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, device={self.device})")

    def epoch_order(self) -> list[torch.Tensor]:
        """This epoch's batches of graph indices (host tensors), drawn as ``DataLoader`` does."""
        indices = DataLoader(
            range(self.num_graphs), batch_size=self.batch_size, shuffle=self.shuffle,
            generator=self.generator,
        )
        return list(indices)

    def __iter__(self) -> Iterator[Batch]:
        batches = self.epoch_order()
        order = torch.cat(batches)
        order_host = order.numpy()
        order_device = order.to(self.device)  # the epoch's one host-to-device copy
        begin = 0
        for indices in batches:
            end = begin + len(indices)
            rows = order_host[begin:end]
            yield self._gather(
                order_device[begin:end],
                int(self._node_counts_host[rows].sum()),
                int(self._edge_counts_host[rows].sum()),
            )
            begin = end

    def _gather(self, graphs: torch.Tensor, num_nodes: int, num_edges: int) -> Batch:
        """The batch of ``graphs`` (device indices) holding ``num_nodes`` and ``num_edges``."""
        size = graphs.numel()
        arange_graphs = torch.arange(size, device=self.device)
        node_counts = self._node_counts[graphs]
        edge_counts = self._edge_counts[graphs]
        new_node_start = torch.cumsum(node_counts, 0) - node_counts
        new_edge_start = torch.cumsum(edge_counts, 0) - edge_counts

        node_graph = torch.repeat_interleave(arange_graphs, node_counts, output_size=num_nodes)
        node_rows = (self._node_start[graphs] - new_node_start)[node_graph]
        node_rows = node_rows + torch.arange(num_nodes, device=self.device)
        edge_graph = torch.repeat_interleave(arange_graphs, edge_counts, output_size=num_edges)
        edge_rows = (self._edge_start[graphs] - new_edge_start)[edge_graph]
        edge_rows = edge_rows + torch.arange(num_edges, device=self.device)

        fields = {
            "x": self._x[node_rows],
            "edge_index": self._local_edge_index[:, edge_rows] + new_node_start[edge_graph],
            "batch": node_graph,
            "ptr": torch.cat([new_node_start, new_node_start[-1:] + node_counts[-1:]]),
        }
        if self._edge_attr is not None:
            fields["edge_attr"] = self._edge_attr[edge_rows]
        for key, value in self._graph_fields.items():
            fields[key] = value[graphs]
        batch = Batch(**fields)
        batch._num_graphs = size
        return batch
