"""Turn sanitised RDKit molecules into feature arrays, quickly.

RDKit's per-atom Python calls are the irreducible cost, so the encoder asks RDKit only
what it alone knows and does everything else with a few numpy operations per *batch*:

* atom properties are read with ``map`` over unbound RDKit methods (no Python loop per
  atom) into flat lists for the whole batch; numpy lookup tables turn them into column
  indices and one fancy-indexed assignment sets every one-hot column;
* bonds come from one ``GetAdjacencyMatrix(useBO=True)`` call per molecule. An order of
  1.5 is an aromatic bond (SMILES cannot express RDKit's ONEANDAHALF), which RDKit always
  marks conjugated and in a ring and never gives stereo, so only non-aromatic bonds (about
  a third in dyes) are looked up one by one;
* an atom is aromatic (in a ring) exactly when one of its bonds is, and its degree is its
  number of edges, so those come from the edge arrays;
* chirality tags and bond stereo are only read when the SMILES can carry them (``@``,
  ``/``, ``\\`` or a CXSMILES ``|`` extension): RDKit never invents them otherwise.

A molecule whose bond-order matrix misses a bond (order zero) has all its bonds looked up.
Edges are sorted by (source, target) within each graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import numpy as np
from rdkit import Chem

from zincfluor.chem.config import ATOMIC_NUMBERS, FeaturizerConfig
from zincfluor.chem.layout import (
    BOND_STEREOS,
    BOND_TYPES,
    CHIRAL_TAGS,
    HYBRIDISATIONS,
    FeatureLayout,
)
from zincfluor.chem.packing import GraphArrays, PackedGraphs

__all__ = ["GraphEncoder"]

_Atom = Chem.Atom
_Bond = Chem.Bond
_AROMATIC_ORDER = 1.5
_LOOK_UP_ORDER = 1.0  # any non-aromatic order: the bond is looked up individually
_CHIRALITY_MARKS = ("@", "|")
_BOND_STEREO_MARKS = ("/", "\\", "|")
_UNSPECIFIED_CHIRALITY = int(Chem.ChiralType.CHI_UNSPECIFIED)
_NO_STEREO = int(Chem.BondStereo.STEREONONE)


def _enum_columns(enum_type: type, names: tuple[str, ...], offset: int) -> np.ndarray:
    """Lookup table: RDKit enum value -> column, unlisted members -> the "other" column."""
    table = np.full(max(enum_type.values) + 1, offset + len(names), dtype=np.int64)
    for position, name in enumerate(names):
        table[int(enum_type.names[name])] = offset + position
    return table


def _capped_columns(values: np.ndarray, highest: int, offset: int) -> np.ndarray:
    """Columns for counts 0..highest, with everything above sharing the last column."""
    return offset + np.minimum(values, highest + 1)


def _may_carry(smiles: str | None, marks: tuple[str, ...]) -> bool:
    return smiles is None or any(mark in smiles for mark in marks)


def _every_bond_matrix(mol: Chem.Mol) -> np.ndarray:
    """Adjacency matrix with every bond present and marked for individual look-up."""
    n_atoms = mol.GetNumAtoms()
    matrix = np.zeros((n_atoms, n_atoms))
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        matrix[begin, end] = matrix[end, begin] = _LOOK_UP_ORDER
    return matrix


class _AtomReadings:
    """Raw per-atom values read from RDKit for a batch, in atom order."""

    def __init__(self) -> None:
        self.atomic_numbers: list[int] = []
        self.charges: list[int] = []
        self.hybridisations: list[int] = []
        self.hydrogens: list[int] = []
        self.chiral_tags: list[int] = []

    def read(self, atoms: list, with_chirality: bool) -> None:
        self.atomic_numbers.extend(map(_Atom.GetAtomicNum, atoms))
        self.charges.extend(map(_Atom.GetFormalCharge, atoms))
        self.hybridisations.extend(map(_Atom.GetHybridization, atoms))
        self.hydrogens.extend(map(_Atom.GetTotalNumHs, atoms))
        if with_chirality:
            self.chiral_tags.extend(map(_Atom.GetChiralTag, atoms))
        else:
            self.chiral_tags.extend(repeat(_UNSPECIFIED_CHIRALITY, len(atoms)))


class _BondReadings:
    """Raw per-bond values read from RDKit for the looked-up bonds of a batch."""

    def __init__(self) -> None:
        self.types: list[int] = []
        self.conjugated: list[bool] = []
        self.in_ring: list[bool] = []
        self.stereo: list[int] = []

    def read(self, bonds: list, with_stereo: bool) -> None:
        self.types.extend(map(_Bond.GetBondType, bonds))
        self.conjugated.extend(map(_Bond.GetIsConjugated, bonds))
        self.in_ring.extend(map(_Bond.IsInRing, bonds))
        if with_stereo:
            self.stereo.extend(map(_Bond.GetStereo, bonds))
        else:
            self.stereo.extend(repeat(_NO_STEREO, len(bonds)))


def _as_int(values: list) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=len(values))


class GraphEncoder:
    """Feature arrays for sanitised RDKit molecules, in the layout of one configuration."""

    def __init__(self, config: FeaturizerConfig = FeaturizerConfig()):
        self.config = config
        self.layout = layout = FeatureLayout.from_config(config)
        self.atom_dim, self.bond_dim = layout.atom_dim, layout.bond_dim

        element = layout.atom_block("element")
        self._element_columns = np.full(256, element.offset + len(config.elements), np.int64)
        for position, symbol in enumerate(config.elements):
            self._element_columns[ATOMIC_NUMBERS[symbol]] = element.offset + position
        self._degree_offset = layout.atom_block("degree").offset
        self._charge_offset = layout.atom_block("formal_charge").offset
        self._hybridisation_columns = _enum_columns(
            Chem.HybridizationType, HYBRIDISATIONS, layout.atom_block("hybridisation").offset
        )
        self._aromatic_atom_column = layout.atom_block("aromatic").offset
        self._ring_atom_column = layout.atom_block("in_ring").offset
        self._hydrogen_offset = layout.atom_block("num_hs").offset
        self._chirality_columns = _enum_columns(
            Chem.ChiralType, CHIRAL_TAGS, layout.atom_block("chirality").offset
        )

        bond_type = layout.bond_block("bond_type")
        self._bond_type_columns = _enum_columns(Chem.BondType, BOND_TYPES, bond_type.offset)
        self._aromatic_bond_column = bond_type.offset + BOND_TYPES.index("AROMATIC")
        self._conjugated_column = layout.bond_block("conjugated").offset
        self._ring_bond_column = layout.bond_block("in_ring").offset
        stereo = layout.bond_block("stereo")
        self._stereo_columns = _enum_columns(Chem.BondStereo, BOND_STEREOS, stereo.offset)
        no_stereo_column = stereo.offset + BOND_STEREOS.index("STEREONONE")
        self._aromatic_bond_row = np.zeros(self.bond_dim, np.float32)
        aromatic_bond_columns = [
            self._aromatic_bond_column,
            self._conjugated_column,
            self._ring_bond_column,
            no_stereo_column,
        ]
        self._aromatic_bond_row[aromatic_bond_columns] = 1.0

    def encode(self, mol: Chem.Mol, smiles: str | None = None) -> GraphArrays:
        """Feature arrays of one molecule; see :meth:`encode_many`."""
        packed = self.encode_many([mol], [smiles])
        return GraphArrays(packed.x, packed.edge_index, packed.edge_attr)

    def encode_many(
        self, mols: Sequence[Chem.Mol], smiles: Sequence[str | None] | None = None
    ) -> PackedGraphs:
        """Feature arrays of many molecules, packed.

        Parameters
        ----------
        mols : sanitised molecules
        smiles : the SMILES each molecule was parsed from, if known; without stereo marks the
            chirality and bond-stereo look-ups are skipped. ``None`` looks everything up.
        """
        if smiles is None:
            smiles = [None] * len(mols)
        atoms = _AtomReadings()
        atom_counts, matrices = [], []
        for mol, text in zip(mols, smiles, strict=True):
            n_atoms = mol.GetNumAtoms()
            atom_counts.append(n_atoms)
            atom_list = list(map(mol.GetAtomWithIdx, range(n_atoms)))
            atoms.read(atom_list, _may_carry(text, _CHIRALITY_MARKS))
            matrix = Chem.GetAdjacencyMatrix(mol, useBO=True)
            if np.count_nonzero(matrix) != 2 * mol.GetNumBonds():  # a bond of order zero
                matrix = _every_bond_matrix(mol)
            matrices.append(matrix.ravel())

        counts = np.array(atom_counts, np.int64)
        if len(mols) == 1:
            edges = _MoleculeEdges(matrices[0], atom_counts[0])
        else:
            edges = _BatchEdges(matrices, counts)
        edge_attr = self._edge_features(mols, smiles, edges)
        x = self._atom_features(atoms, edges, edge_attr, int(counts.sum()))
        return PackedGraphs(
            x, np.stack((edges.source, edges.target)), edge_attr, counts, edges.counts
        )

    def _edge_features(
        self, mols: Sequence[Chem.Mol], smiles: Sequence[str | None], edges: _BatchEdges
    ) -> np.ndarray:
        edge_attr = np.zeros((len(edges.order), self.bond_dim), np.float32)
        aromatic = edges.order == _AROMATIC_ORDER
        edge_attr[aromatic] = self._aromatic_bond_row
        forward = np.flatnonzero(~aromatic & (edges.source < edges.target))
        if not forward.size:
            return edge_attr

        bonds = _BondReadings()
        begin, end = edges.source[forward].tolist(), edges.target[forward].tolist()
        bounds = edges.molecule_bounds(forward)
        for k, (mol, text) in enumerate(zip(mols, smiles, strict=True)):
            first, last = bounds[k], bounds[k + 1]
            if first < last:
                found = map(mol.GetBondBetweenAtoms, begin[first:last], end[first:last])
                bonds.read(list(found), _may_carry(text, _BOND_STEREO_MARKS))

        rows = np.zeros((forward.size, self.bond_dim), np.float32)
        index = np.arange(forward.size)
        rows[index, self._bond_type_columns[_as_int(bonds.types)]] = 1.0
        rows[index, self._stereo_columns[_as_int(bonds.stereo)]] = 1.0
        rows[:, self._conjugated_column] = bonds.conjugated
        rows[:, self._ring_bond_column] = bonds.in_ring
        edge_attr[forward] = rows
        edge_attr[edges.reverse(forward)] = rows
        return edge_attr

    def _atom_features(
        self, atoms: _AtomReadings, edges: _BatchEdges, edge_attr: np.ndarray, n_atoms: int
    ) -> np.ndarray:
        low_charge, high_charge = self.config.formal_charges
        charges = _as_int(atoms.charges)
        charge_slot = np.where(
            (charges >= low_charge) & (charges <= high_charge),
            charges - low_charge,
            high_charge - low_charge + 1,
        )
        degree = np.bincount(edges.global_source, minlength=n_atoms)
        columns = np.stack(
            (
                self._element_columns[_as_int(atoms.atomic_numbers)],
                _capped_columns(degree, self.config.max_degree, self._degree_offset),
                self._charge_offset + charge_slot,
                self._hybridisation_columns[_as_int(atoms.hybridisations)],
                _capped_columns(
                    _as_int(atoms.hydrogens), self.config.max_hydrogens, self._hydrogen_offset
                ),
                self._chirality_columns[_as_int(atoms.chiral_tags)],
            ),
            axis=1,
        )
        x = np.zeros((n_atoms, self.atom_dim), np.float32)
        x[np.arange(n_atoms)[:, None], columns] = 1.0
        aromatic_edges = edge_attr[:, self._aromatic_bond_column] == 1.0
        x[edges.global_source[aromatic_edges], self._aromatic_atom_column] = 1.0
        ring_edges = edge_attr[:, self._ring_bond_column] == 1.0
        x[edges.global_source[ring_edges], self._ring_atom_column] = 1.0
        return x


class _BatchEdges:
    """Directed edges of a batch, read from the molecules' flattened bond-order matrices.

    Edges are grouped by molecule and sorted by (source, target) within each, which is the
    order of their entries in the concatenated row-major matrices.

    Attributes
    ----------
    graph : molecule of each edge
    source, target : atom numbers within the molecule
    global_source : atom number within the whole batch
    order : bond order of each edge
    counts : number of edges per molecule
    """

    def __init__(self, flat_matrices: list[np.ndarray], atom_counts: np.ndarray):
        self._starts = np.zeros(len(atom_counts) + 1, np.int64)
        np.cumsum(atom_counts * atom_counts, out=self._starts[1:])
        flat = np.concatenate(flat_matrices) if flat_matrices else np.zeros(0)
        self._entries = np.flatnonzero(flat)
        self.graph = np.searchsorted(self._starts, self._entries, side="right") - 1
        self._width = atom_counts[self.graph]
        self.source, self.target = np.divmod(self._entries - self._starts[self.graph], self._width)
        self.order = flat[self._entries]
        atom_starts = np.cumsum(atom_counts) - atom_counts
        self.global_source = self.source + atom_starts[self.graph]
        self.counts = np.bincount(self.graph, minlength=len(atom_counts))

    def molecule_bounds(self, edges: np.ndarray) -> list[int]:
        """``bounds[k]:bounds[k + 1]`` are the positions in ``edges`` of molecule ``k``."""
        return np.searchsorted(self.graph[edges], np.arange(len(self.counts) + 1)).tolist()

    def reverse(self, edges: np.ndarray) -> np.ndarray:
        """Position of the opposite direction of each edge in ``edges``."""
        start, width = self._starts[self.graph[edges]], self._width[edges]
        opposite = start + self.target[edges] * width + self.source[edges]
        return np.searchsorted(self._entries, opposite)


class _MoleculeEdges:
    """:class:`_BatchEdges` of a batch of one molecule, with a third of the numpy calls."""

    def __init__(self, flat_matrix: np.ndarray, n_atoms: int):
        self._entries = np.flatnonzero(flat_matrix)
        self.source, self.target = np.divmod(self._entries, n_atoms)
        self.global_source = self.source
        self.order = flat_matrix[self._entries]
        self.counts = np.array([len(self._entries)])
        self._n_atoms = n_atoms

    def molecule_bounds(self, edges: np.ndarray) -> list[int]:
        return [0, len(edges)]

    def reverse(self, edges: np.ndarray) -> np.ndarray:
        opposite = self.target[edges] * self._n_atoms + self.source[edges]
        return np.searchsorted(self._entries, opposite)
