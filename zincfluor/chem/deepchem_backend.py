"""DeepChem's ``MolGraphConvFeaturizer(use_edges=True)`` behind the zincfluor call contract.

DeepChem is optional (``pip install 'zincfluor[deepchem]'``) and slow to import (seconds, plus
a screenful of notices about missing TensorFlow/JAX models), so it is imported on first use
with that chatter swallowed.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from zincfluor.chem.packing import GraphArrays, PackedBatch, PackedGraphs
from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from zincfluor.chem.config import FeaturizerConfig

__all__ = ["DeepChemFeaturizer", "deepchem_feature_dims", "import_deepchem"]

INSTALL_HINT = "pip install 'zincfluor[deepchem]'"


@cache
def import_deepchem() -> ModuleType:
    """Import deepchem quietly; a clear ImportError says how to install it when missing."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            import deepchem
        except ImportError as error:
            raise ImportError(
                f"the 'deepchem' featurizer backend needs deepchem: {INSTALL_HINT}"
            ) from error
    return deepchem


@cache
def deepchem_feature_dims() -> tuple[int, int]:
    """``(atom_dim, bond_dim)`` of DeepChem's featurizer, measured on ethane."""
    from zincfluor.chem.config import FeaturizerConfig

    arrays = DeepChemFeaturizer(FeaturizerConfig(backend="deepchem")).arrays("CC")
    return arrays.x.shape[1], arrays.edge_attr.shape[1]


class DeepChemFeaturizer:
    """Graphs from DeepChem's ``MolGraphConvFeaturizer(use_edges=True)`` (``backend="deepchem"``).

    Same contract as :class:`~zincfluor.chem.featurizer.MoleculeFeaturizer` (float32 ``x`` and
    ``edge_attr``, int64 ``edge_index``, :class:`InvalidMoleculeError` for bad input) except
    that DeepChem refuses single-atom molecules, which are therefore invalid here.
    """

    def __init__(self, config: FeaturizerConfig):
        if config.backend != "deepchem":
            raise ValueError(f"DeepChemFeaturizer needs backend 'deepchem', not {config.backend!r}")
        self.config = config
        self._featurizer = import_deepchem().feat.MolGraphConvFeaturizer(use_edges=True)

    @property
    def atom_dim(self) -> int:
        return self.config.atom_dim

    @property
    def bond_dim(self) -> int:
        return self.config.bond_dim

    def arrays(self, smiles: str) -> GraphArrays:
        mol = parse_smiles(
            smiles,
            max_length=self.config.max_smiles_length,
            max_heavy_atoms=self.config.max_heavy_atoms,
        )
        if mol.GetNumAtoms() < 2:
            raise InvalidMoleculeError(
                smiles, "the deepchem backend needs at least two atoms (DeepChem refuses one)"
            )
        # The arrays that GraphData.to_pyg_graph() would wrap, kept as numpy for packing.
        graph = self._featurizer.featurize([mol])[0]
        if not hasattr(graph, "node_features"):  # DeepChem returns an empty array on failure
            raise InvalidMoleculeError(smiles, "DeepChem could not featurize it")
        n_edges = graph.edge_index.shape[1]
        return GraphArrays(
            np.ascontiguousarray(graph.node_features, dtype=np.float32),
            np.ascontiguousarray(graph.edge_index, dtype=np.int64),
            np.ascontiguousarray(graph.edge_features, dtype=np.float32).reshape(n_edges, -1),
        )

    def __call__(self, smiles: str) -> Data:
        return self.arrays(smiles).to_data()

    def pack(self, smiles: Sequence[object]) -> PackedBatch:
        """Graphs of all valid ``smiles``, packed; DeepChem works one molecule at a time."""
        graphs, positions, failures = [], [], []
        for position, text in enumerate(smiles):
            try:
                graphs.append(self.arrays(text))
            except InvalidMoleculeError as error:
                failures.append((position, error.reason))
                continue
            except Exception as error:  # DeepChem's own failures must not stop a batch
                failures.append((position, f"DeepChem failed: {type(error).__name__}: {error}"))
                continue
            positions.append(position)
        packed = PackedGraphs.from_arrays(graphs, self.atom_dim, self.bond_dim)
        return PackedBatch(packed, positions, failures)
