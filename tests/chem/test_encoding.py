"""The fast encoder against the one-call-per-property reference in chem_reference.py."""

import numpy as np
import pytest
from chem_reference import reference_arrays
from rdkit import Chem

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.smiles import parse_smiles

TRICKY = [
    "c1ccc2cccc2cc1",  # azulene: aromatic fused system
    "[O-][N+](=O)c1ccc(cc1)/C=C/c1ccc(N(C)C)cc1",  # push-pull stilbene with E double bond
    "C/C=C(/F)\\C=C\\C",  # two stereo double bonds
    "C1=C/CCCCCC/1",  # ring double bond with stereo marks
    "OC(=O)[C@@H]1CCCN1",  # chiral ring atom
    "C[S@@](=O)c1ccccc1",  # chiral sulfur
    "F[S](F)(F)(F)(F)F",  # degree 6, SP3D2
    "CC->[Pt]",  # dative bond: "other" bond type
    "[2H]C([2H])c1ccccc1",  # explicit isotope hydrogens stay atoms
    "[Fe+2].c1cc[cH-]c1.c1cc[cH-]c1",  # fragments, metal
    "C#CC#N",  # triple bonds
    "[CH2]C",  # radical
    "*c1ccccc1",  # dummy atom
    "c1ccccc1-c1ccccc1",  # non-aromatic bond between aromatic rings
    "C=C=C",  # allene (SP carbon)
    "C[C@H](N)/C=C/[C@@H](O)C",  # chirality and stereo together
]


def assert_same(arrays, reference):
    for name, fast, slow in zip(("x", "edge_index", "edge_attr"), arrays, reference, strict=True):
        assert fast.dtype == slow.dtype, name
        np.testing.assert_array_equal(fast, slow, err_msg=name)


@pytest.mark.parametrize("smiles", TRICKY)
def test_matches_reference(smiles):
    mol = parse_smiles(smiles)
    assert_same(GraphEncoder().encode(mol, smiles), reference_arrays(mol))


@pytest.mark.parametrize("smiles", TRICKY)
def test_matches_reference_without_the_smiles_text(smiles):
    mol = parse_smiles(smiles)
    assert_same(GraphEncoder().encode(mol), reference_arrays(mol))


def test_matches_reference_for_custom_settings():
    config = FeaturizerConfig(
        elements=("C", "O"), max_degree=2, formal_charges=(-1, 0), max_hydrogens=1
    )
    for smiles in TRICKY:
        mol = parse_smiles(smiles)
        assert_same(GraphEncoder(config).encode(mol, smiles), reference_arrays(mol, config))


def test_bond_of_order_zero_is_kept():
    mol = Chem.RWMol(parse_smiles("CC.[Na+]"))
    mol.AddBond(1, 2, Chem.BondType.ZERO)
    mol = mol.GetMol()
    Chem.SanitizeMol(mol)
    arrays = GraphEncoder().encode(mol)
    assert arrays.edge_index.shape == (2, 4)
    assert_same(arrays, reference_arrays(mol))
    in_a_batch = GraphEncoder().encode_many([parse_smiles("c1ccccc1"), mol]).graph(1)
    assert_same(in_a_batch, reference_arrays(mol))


def test_batch_equals_one_by_one():
    encoder = GraphEncoder()
    mols = [parse_smiles(s) for s in TRICKY]
    packed = encoder.encode_many(mols, TRICKY)
    assert len(packed) == len(TRICKY)
    for i, (mol, smiles) in enumerate(zip(mols, TRICKY, strict=True)):
        assert_same(packed.graph(i), encoder.encode(mol, smiles))


def test_empty_batch():
    packed = GraphEncoder().encode_many([], [])
    assert len(packed) == 0 and packed.x.shape == (0, 45) and packed.edge_attr.shape == (0, 14)


@pytest.mark.slow
@pytest.mark.shared_data
def test_matches_reference_on_deep4chem_chromophores(shared_deep4chem):
    import pandas as pd

    column = pd.read_csv(shared_deep4chem, encoding="utf-8-sig", usecols=["Chromophore"])
    smiles = column["Chromophore"].dropna().unique().tolist()[::4]  # a quarter keeps it ~5 s
    mols = [parse_smiles(s) for s in smiles]
    packed = GraphEncoder().encode_many(mols, smiles)
    for i, mol in enumerate(mols):
        assert_same(packed.graph(i), reference_arrays(mol))
