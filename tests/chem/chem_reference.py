"""A slow, obvious featurizer to check the fast one against: one RDKit call per property.

It reads every property straight from RDKit atom by atom and bond by bond, with none of the
fast encoder's shortcuts, and writes the columns named by the same FeatureLayout.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.layout import (
    BOND_STEREOS,
    BOND_TYPES,
    CHIRAL_TAGS,
    FeatureBlock,
    FeatureLayout,
)


def _set(row: np.ndarray, block: FeatureBlock, label: str) -> None:
    labels = block.labels
    row[block.offset + (labels.index(label) if label in labels else len(labels) - 1)] = 1.0


def _count_label(value: int, highest: int) -> str:
    return str(value) if value <= highest else f">{highest}"


def _charge_label(charge: int) -> str:
    return f"{charge:+d}" if charge else "0"


def reference_arrays(mol: Chem.Mol, config: FeaturizerConfig = FeaturizerConfig()):
    """``(x, edge_index, edge_attr)`` of ``mol``, edges sorted by (source, target)."""
    layout = FeatureLayout.from_config(config)
    block = layout.atom_block
    x = np.zeros((mol.GetNumAtoms(), layout.atom_dim), np.float32)
    for atom in mol.GetAtoms():
        row = x[atom.GetIdx()]
        _set(row, block("element"), atom.GetSymbol())
        _set(row, block("degree"), _count_label(atom.GetDegree(), config.max_degree))
        _set(row, block("formal_charge"), _charge_label(atom.GetFormalCharge()))
        _set(row, block("hybridisation"), str(atom.GetHybridization()))
        row[block("aromatic").offset] = atom.GetIsAromatic()
        row[block("in_ring").offset] = atom.IsInRing()
        _set(row, block("num_hs"), _count_label(atom.GetTotalNumHs(), config.max_hydrogens))
        tag = str(atom.GetChiralTag())
        labels = block("chirality").labels
        chirality = labels[CHIRAL_TAGS.index(tag)] if tag in CHIRAL_TAGS else "other"
        _set(row, block("chirality"), chirality)

    bond_block = layout.bond_block
    edges = []
    for bond in mol.GetBonds():
        row = np.zeros(layout.bond_dim, np.float32)
        kind = str(bond.GetBondType())
        type_labels = bond_block("bond_type").labels
        _set(row, bond_block("bond_type"),
             type_labels[BOND_TYPES.index(kind)] if kind in BOND_TYPES else "other")
        row[bond_block("conjugated").offset] = bond.GetIsConjugated()
        row[bond_block("in_ring").offset] = bond.IsInRing()
        stereo = str(bond.GetStereo())
        stereo_labels = bond_block("stereo").labels
        _set(row, bond_block("stereo"),
             stereo_labels[BOND_STEREOS.index(stereo)] if stereo in BOND_STEREOS else "other")
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        edges += [(begin, end, row), (end, begin, row)]
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    edge_index = np.array([[e[0] for e in edges], [e[1] for e in edges]], np.int64).reshape(2, -1)
    edge_attr = np.array([e[2] for e in edges], np.float32).reshape(-1, layout.bond_dim)
    return x, edge_index, edge_attr
