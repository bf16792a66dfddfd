"""What a solvent-aware model reads about the solvent of each input row.

A model whose spec has ``"solvent"`` (:mod:`zincfluor.nn.solvent_readout`) reads, per graph:

- descriptor encoder: ``sol_x``, float32 [1, 16], the
  :func:`~zincfluor.data.solvent_features.solvent_features` of the row's solvent
  (:func:`attach_solvent_descriptors`);
- graph encoder: ``sol_id``, int64 [1], the row's index into a vocabulary of distinct solvents,
  and, on every batch, ``solvent_graphs``: the PyG ``Batch`` of those solvents' graphs
  (:func:`attach_solvent_ids`, :func:`solvent_graph_batch`, :class:`SolventGraphBatches`).

Solvent graphs are built from the solvent's canonical SMILES
(:func:`~zincfluor.data.solvents.canonical_solvent_smiles`) with the graph encoder of the
featurizer settings given (no dye standardisation: water, a one-atom molecule, is a solvent).
Solvents are given as SMILES or names (:func:`~zincfluor.data.solvents.resolve_solvent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch_geometric.data import Batch

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.smiles import parse_smiles
from zincfluor.data.solvent_features import SOLVENT_FEATURE_NAMES, solvent_features
from zincfluor.data.solvents import canonical_solvent_smiles

__all__ = [
    "solvent_descriptor_rows",
    "attach_solvent_descriptors",
    "attach_solvent_ids",
    "solvent_graph_batch",
    "SolventGraphBatches",
]


def solvent_descriptor_rows(solvents: Sequence[str]) -> np.ndarray:
    """[N, 16] float32 :func:`solvent_features` of each solvent SMILES (each distinct one once)."""
    distinct = {smiles: solvent_features(smiles) for smiles in dict.fromkeys(solvents)}
    if not distinct:
        return np.zeros((0, len(SOLVENT_FEATURE_NAMES)), dtype=np.float32)
    return np.stack([distinct[smiles] for smiles in solvents]).astype(np.float32)


def attach_solvent_descriptors(graphs: Sequence, solvents: Sequence[str]) -> np.ndarray:
    """Set ``sol_x`` ([1, 16] float32) on each graph from its solvent; returns the [N, 16]
    rows (e.g. to fit the scaling on the training rows)."""
    if len(graphs) != len(solvents):
        raise ValueError(f"{len(graphs)} graphs but {len(solvents)} solvents; pass them aligned")
    rows = solvent_descriptor_rows(solvents)
    for i, graph in enumerate(graphs):
        graph.sol_x = torch.from_numpy(rows[i : i + 1].copy())
    return rows


def attach_solvent_ids(
    graphs: Sequence, solvents: Sequence[str], vocabulary: Sequence[str]
) -> None:
    """Set ``sol_id`` ([1] int64) on each graph: the index of its solvent in ``vocabulary``."""
    if len(graphs) != len(solvents):
        raise ValueError(f"{len(graphs)} graphs but {len(solvents)} solvents; pass them aligned")
    index = {smiles: i for i, smiles in enumerate(vocabulary)}
    missing = sorted(set(solvents) - set(index))
    if missing:
        raise ValueError(f"solvents {missing[:3]} are not in the vocabulary; add them to it")
    for graph, smiles in zip(graphs, solvents, strict=True):
        graph.sol_id = torch.tensor([index[smiles]], dtype=torch.long)


def solvent_graph_batch(
    vocabulary: Sequence[str], featurizer: FeaturizerConfig, device: torch.device | str = "cpu"
) -> Batch:
    """The graphs of the ``vocabulary`` solvents, in order, as one PyG ``Batch`` on ``device``."""
    if not vocabulary:
        raise ValueError("no solvents: give at least one solvent SMILES")
    encoder = GraphEncoder(featurizer)
    graphs = []
    for smiles in vocabulary:
        canonical = canonical_solvent_smiles(smiles)
        graphs.append(encoder.encode(parse_smiles(canonical), canonical).to_data())
    return Batch.from_data_list(graphs).to(torch.device(device))


class SolventGraphBatches:
    """``loader``'s batches, each given ``solvent_graphs`` (the vocabulary's graph batch), so a
    graph-encoder model can encode the solvents and gather row ``sol_id``."""

    def __init__(self, loader: Iterable, solvent_graphs: Batch):
        self.loader = loader
        self.solvent_graphs = solvent_graphs

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            batch.solvent_graphs = self.solvent_graphs
            yield batch
