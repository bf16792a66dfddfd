"""Many molecule graphs stored as a few concatenated arrays plus per-graph counts.

Packed graphs are what worker processes send back and what the on-disk cache stores: a
handful of numpy arrays pickle and save far faster than thousands of small tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import Data

__all__ = ["GraphArrays", "PackedGraphs", "PackedBatch"]


class GraphArrays(NamedTuple):
    """Feature arrays of one molecule graph.

    Attributes
    ----------
    x : float32 [n_atoms, atom_dim]
    edge_index : int64 [2, n_edges]; each bond appears in both directions
    edge_attr : float32 [n_edges, bond_dim]
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray

    def to_data(self) -> Data:
        """The same arrays as a :class:`~torch_geometric.data.Data` (no copy)."""
        return Data(
            x=torch.from_numpy(self.x),
            edge_index=torch.from_numpy(self.edge_index),
            edge_attr=torch.from_numpy(self.edge_attr),
        )


@dataclass
class PackedGraphs:
    """Graphs concatenated along atoms and edges; ``edge_index`` is local to each graph.

    Attributes
    ----------
    x : float32 [total_atoms, atom_dim]
    edge_index : int64 [2, total_edges], atom numbers counted from 0 in every graph
    edge_attr : float32 [total_edges, bond_dim]
    atom_counts, edge_counts : int64 [n_graphs]
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    atom_counts: np.ndarray
    edge_counts: np.ndarray

    def __len__(self) -> int:
        return len(self.atom_counts)

    @classmethod
    def empty(cls, atom_dim: int, bond_dim: int) -> PackedGraphs:
        return cls(
            np.zeros((0, atom_dim), np.float32),
            np.zeros((2, 0), np.int64),
            np.zeros((0, bond_dim), np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )

    @classmethod
    def from_arrays(cls, graphs: Sequence[GraphArrays], atom_dim: int, bond_dim: int):
        """Pack separately built graphs (all with the given feature sizes)."""
        if not graphs:
            return cls.empty(atom_dim, bond_dim)
        return cls(
            np.concatenate([g.x for g in graphs]),
            np.concatenate([g.edge_index for g in graphs], axis=1),
            np.concatenate([g.edge_attr for g in graphs]),
            np.array([len(g.x) for g in graphs], np.int64),
            np.array([g.edge_index.shape[1] for g in graphs], np.int64),
        )

    @classmethod
    def concat(cls, parts: Sequence[PackedGraphs]) -> PackedGraphs:
        """One pack holding the graphs of ``parts`` in order (``parts`` must not be empty)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.edge_index for p in parts], axis=1),
            np.concatenate([p.edge_attr for p in parts]),
            np.concatenate([p.atom_counts for p in parts]),
            np.concatenate([p.edge_counts for p in parts]),
        )

    def graph(self, i: int) -> GraphArrays:
        """Arrays of graph ``i`` (views, no copy)."""
        atom_start = int(self.atom_counts[:i].sum())
        edge_start = int(self.edge_counts[:i].sum())
        atoms = slice(atom_start, atom_start + int(self.atom_counts[i]))
        edges = slice(edge_start, edge_start + int(self.edge_counts[i]))
        return GraphArrays(self.x[atoms], self.edge_index[:, edges], self.edge_attr[edges])

    def to_data_list(self) -> list[Data]:
        """One :class:`~torch_geometric.data.Data` per graph.

        ``x`` and ``edge_attr`` are views into shared tensors (as PyG's in-memory datasets
        hand them out): cheap to make and safe to modify, but saving one graph on its own with
        ``torch.save`` writes the whole shared storage.
        """
        x = torch.from_numpy(self.x).split(self.atom_counts.tolist())
        edge_index = torch.from_numpy(self.edge_index).split(self.edge_counts.tolist(), dim=1)
        edge_attr = torch.from_numpy(self.edge_attr).split(self.edge_counts.tolist())
        return [
            Data(x=xi, edge_index=ei.contiguous(), edge_attr=ea)
            for xi, ei, ea in zip(x, edge_index, edge_attr, strict=True)
        ]


@dataclass
class PackedBatch:
    """What a featurizer makes of a list of SMILES: the graphs it could build, packed.

    Attributes
    ----------
    graphs : the valid molecules' graphs, in input order
    positions : input position of each graph
    failures : ``(position, reason)`` for every input that could not become a graph
    """

    graphs: PackedGraphs
    positions: list[int] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
