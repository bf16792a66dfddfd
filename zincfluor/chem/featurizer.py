"""SMILES -> PyTorch Geometric graph, with the featurizer chosen by a :class:`FeaturizerConfig`.

>>> featurize = make_featurizer(FeaturizerConfig())
>>> graph = featurize("c1ccccc1O")
>>> graph.x.shape, graph.edge_index.shape
(torch.Size([7, 45]), torch.Size([2, 14]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from torch_geometric.data import Data

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.deepchem_backend import DeepChemFeaturizer
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.packing import GraphArrays, PackedBatch
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import StandardizedMolecule, standardize_smiles

__all__ = [
    "FeaturizerConfig",
    "MoleculeFeaturizer",
    "DeepChemFeaturizer",
    "Featurizer",
    "make_featurizer",
]


class Featurizer(Protocol):
    """What every backend offers: a graph per SMILES, or many graphs packed."""

    config: FeaturizerConfig

    def __call__(self, smiles: str) -> Data: ...

    def arrays(self, smiles: str) -> GraphArrays: ...

    def pack(self, smiles: Sequence[object]) -> PackedBatch: ...


class MoleculeFeaturizer:
    """This package's fast RDKit featurizer (``backend="zincfluor"``).

    Calling it with a SMILES returns a graph with ``x`` [n_atoms, atom_dim] float32,
    ``edge_index`` [2, 2 * n_bonds] int64 (both directions, sorted) and ``edge_attr``
    [2 * n_bonds, bond_dim] float32. Invalid, empty or oversized input raises
    :class:`~zincfluor.chem.smiles.InvalidMoleculeError`. The graph is that of the standardised
    molecule in canonical atom order (``config.standardizer``), so every way of writing a
    molecule gives the same graph. The columns are described by
    :class:`~zincfluor.chem.layout.FeatureLayout` (``featurizer.layout``).
    """

    def __init__(self, config: FeaturizerConfig = FeaturizerConfig()):
        if config.backend != "zincfluor":
            raise ValueError(
                f"MoleculeFeaturizer builds backend 'zincfluor', not {config.backend!r}; "
                "use make_featurizer(config)"
            )
        self.config = config
        self._encoder = GraphEncoder(config)
        self.layout = self._encoder.layout

    @property
    def atom_dim(self) -> int:
        return self._encoder.atom_dim

    @property
    def bond_dim(self) -> int:
        return self._encoder.bond_dim

    def _standardize(self, smiles: object) -> StandardizedMolecule:
        return standardize_smiles(smiles, self.config)

    def arrays(self, smiles: str) -> GraphArrays:
        """Feature arrays (numpy) of ``smiles``."""
        molecule = self._standardize(smiles)
        return self._encoder.encode(molecule.mol, molecule.smiles)

    def __call__(self, smiles: str) -> Data:
        return self.arrays(smiles).to_data()

    def pack(self, smiles: Sequence[object]) -> PackedBatch:
        """Graphs of all valid ``smiles`` at once (faster than one call each), packed."""
        mols, texts, positions, failures = [], [], [], []
        for position, text in enumerate(smiles):
            try:
                molecule = self._standardize(text)
            except InvalidMoleculeError as error:
                failures.append((position, error.reason))
                continue
            mols.append(molecule.mol)
            texts.append(molecule.smiles)
            positions.append(position)
        return PackedBatch(self._encoder.encode_many(mols, texts), positions, failures)

    def __repr__(self) -> str:
        return f"MoleculeFeaturizer(atom_dim={self.atom_dim}, bond_dim={self.bond_dim})"


def make_featurizer(config: FeaturizerConfig = FeaturizerConfig()) -> Featurizer:
    """The featurizer that ``config.backend`` names, built from ``config``."""
    if config.backend == "deepchem":
        return DeepChemFeaturizer(config)
    return MoleculeFeaturizer(config)
