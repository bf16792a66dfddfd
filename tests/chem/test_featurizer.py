import numpy as np
import pytest
import torch

from zincfluor.chem import (
    FeaturizerConfig,
    InvalidMoleculeError,
    MoleculeFeaturizer,
    make_featurizer,
)
from zincfluor.chem.standardize import StandardizerConfig

FEATURIZE = MoleculeFeaturizer()
UNSTANDARDIZED = MoleculeFeaturizer(
    FeaturizerConfig(standardizer=StandardizerConfig(enabled=False))
)
LAYOUT = FEATURIZE.layout
VARIED = [
    "c1ccccc1",
    "CCO",
    "[NH4+]",
    "C[C@H](N)O",
    "C/C=C/C",
    "[Na+].[Cl-]",
    "C",
    "O=[N+]([O-])c1ccc(N2CCOCC2)cc1",
    "CC(C)(C)C#N",
    "FC(F)(F)S(=O)(=O)O",
    "[2H]C",
    "Cc1cc2ccc3cccc4ccc(c1)c2c34",
    "F[B-]1(F)n2cccc2C=C2C=CC=[N+]21",
    "CN(C)c1[se]c(-c2ccccc2)nc1",
    "C[Si](C)(C)C#C[Se]C",
]


def atom_value(x: torch.Tensor, atom: int, block: str) -> str:
    b = LAYOUT.atom_block(block)
    (column,) = torch.nonzero(x[atom, b.columns]).flatten().tolist()
    return b.labels[column]


def bond_value(edge_attr: torch.Tensor, edge: int, block: str) -> str:
    b = LAYOUT.bond_block(block)
    (column,) = torch.nonzero(edge_attr[edge, b.columns]).flatten().tolist()
    return b.labels[column]


def flag(row: torch.Tensor, block) -> bool:
    value = row[block.offset].item()
    assert value in (0.0, 1.0)
    return value == 1.0


def test_benzene():
    graph = FEATURIZE("c1ccccc1")
    assert graph.x.shape == (6, FEATURIZE.atom_dim) and graph.edge_index.shape == (2, 12)
    assert all(flag(row, LAYOUT.atom_block("aromatic")) for row in graph.x)
    assert all(flag(row, LAYOUT.atom_block("in_ring")) for row in graph.x)
    assert {atom_value(graph.x, i, "hybridisation") for i in range(6)} == {"SP2"}
    assert {atom_value(graph.x, i, "num_hs") for i in range(6)} == {"1"}
    assert {bond_value(graph.edge_attr, e, "bond_type") for e in range(12)} == {"aromatic"}
    assert all(flag(row, LAYOUT.bond_block("conjugated")) for row in graph.edge_attr)


def test_ethanol():
    graph = FEATURIZE("CCO")
    assert [atom_value(graph.x, i, "element") for i in range(3)] == ["C", "C", "O"]
    assert [atom_value(graph.x, i, "num_hs") for i in range(3)] == ["3", "2", "1"]
    assert [atom_value(graph.x, i, "degree") for i in range(3)] == ["1", "2", "1"]
    assert {atom_value(graph.x, i, "hybridisation") for i in range(3)} == {"SP3"}
    assert graph.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert {bond_value(graph.edge_attr, e, "bond_type") for e in range(4)} == {"single"}
    assert not any(flag(row, LAYOUT.atom_block("aromatic")) for row in graph.x)


def test_charged_species():
    # Standardisation off: both ions stay (atoms in canonical order, so compare as multisets).
    graph = UNSTANDARDIZED("C[N+](C)(C)C.[O-]C(=O)C")
    charges = [atom_value(graph.x, i, "formal_charge") for i in range(graph.num_nodes)]
    assert sorted(charges) == sorted(["0", "+1", "0", "0", "0", "-1", "0", "0", "0"])


@pytest.mark.parametrize("smiles, tag", [("C[C@H](N)O", "CCW"), ("C[C@@H](N)O", "CW")])
def test_chiral_centre(smiles, tag):
    graph = FEATURIZE(smiles)
    tags = [atom_value(graph.x, i, "chirality") for i in range(4)]
    assert tags == ["unspecified", tag, "unspecified", "unspecified"]


@pytest.mark.parametrize("smiles, stereo", [("C/C=C/C", "E"), ("C/C=C\\C", "Z"), ("CC=CC", "none")])
def test_double_bond_stereo(smiles, stereo):
    graph = FEATURIZE(smiles)
    double = [e for e in range(6) if bond_value(graph.edge_attr, e, "bond_type") == "double"]
    assert len(double) == 2  # one bond, both directions
    assert {bond_value(graph.edge_attr, e, "stereo") for e in double} == {stereo}
    others = set(range(6)) - set(double)
    assert {bond_value(graph.edge_attr, e, "stereo") for e in others} == {"none"}


@pytest.mark.parametrize("smiles", ["C", "[Na+]"])
def test_single_atom_has_no_edges(smiles):
    graph = FEATURIZE(smiles)
    assert graph.x.shape == (1, FEATURIZE.atom_dim)
    assert graph.edge_index.shape == (2, 0) and graph.edge_index.dtype == torch.int64
    assert graph.edge_attr.shape == (0, FEATURIZE.bond_dim)


def test_elements_outside_the_list_share_the_other_slot():
    graph = UNSTANDARDIZED("C[Sn](C)(C)C.[Te]")
    elements = [atom_value(graph.x, i, "element") for i in range(6)]
    assert sorted(elements) == ["C", "C", "C", "C", "other", "other"]


def test_counts_above_the_limits_go_to_the_last_slot():
    config = FeaturizerConfig(max_degree=1, max_hydrogens=2, formal_charges=(0, 0))
    featurize = MoleculeFeaturizer(config)
    graph = featurize("C[N+](C)(C)C")
    layout = featurize.layout

    def value(atom, block):
        b = layout.atom_block(block)
        return b.labels[int(torch.argmax(graph.x[atom, b.columns]))]

    assert [value(i, "num_hs") for i in (0, 1)] == [">2", "0"]
    assert [value(i, "degree") for i in (0, 1)] == ["1", ">1"]
    assert [value(i, "formal_charge") for i in (0, 1)] == ["0", "other"]


@pytest.mark.parametrize("smiles", VARIED)
def test_shapes_types_and_one_hot_blocks(smiles):
    graph = FEATURIZE(smiles)
    n_atoms, n_edges = graph.num_nodes, graph.edge_index.shape[1]
    assert graph.x.dtype == torch.float32 and graph.edge_attr.dtype == torch.float32
    assert graph.x.shape == (n_atoms, FEATURIZE.atom_dim)
    assert graph.edge_attr.shape == (n_edges, FEATURIZE.bond_dim)
    for blocks, features in ((LAYOUT.atom_blocks, graph.x), (LAYOUT.bond_blocks, graph.edge_attr)):
        for block in blocks:
            sums = features[:, block.columns].sum(dim=1)
            if block.one_hot:
                assert torch.all(sums == 1), block.name
            else:
                assert torch.all((sums == 0) | (sums == 1)), block.name


@pytest.mark.parametrize("smiles", VARIED)
def test_edges_go_both_ways_sorted_with_equal_features(smiles):
    graph = FEATURIZE(smiles)
    pairs = graph.edge_index.t().tolist()
    assert pairs == sorted(pairs)
    position = {tuple(pair): i for i, pair in enumerate(pairs)}
    for (source, target), i in position.items():
        assert source != target
        assert torch.equal(graph.edge_attr[i], graph.edge_attr[position[(target, source)]])


def test_graph_carries_no_strings():
    assert set(FEATURIZE("CCO").keys()) == {"x", "edge_index", "edge_attr"}


def test_arrays_match_the_graph():
    arrays = FEATURIZE.arrays("c1ccccc1O")
    graph = FEATURIZE("c1ccccc1O")
    assert np.array_equal(arrays.x, graph.x.numpy())
    assert np.array_equal(arrays.edge_index, graph.edge_index.numpy())


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("C1CC", "unclosed ring"),
        ("C(C)(C)(C)(C)C", "valence"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "expected a SMILES string"),
        ("C" * 30, "heavy atoms, more than the limit of 20"),
        ("C" * 41, "more than the limit of 40"),
    ],
)
def test_invalid_input_raises_with_a_reason(smiles, reason):
    featurize = MoleculeFeaturizer(FeaturizerConfig(max_heavy_atoms=20, max_smiles_length=40))
    with pytest.raises(InvalidMoleculeError) as caught:
        featurize(smiles)
    assert reason in caught.value.reason


def test_make_featurizer_picks_the_backend():
    assert isinstance(make_featurizer(FeaturizerConfig()), MoleculeFeaturizer)
    with pytest.raises(ValueError, match="make_featurizer"):
        MoleculeFeaturizer(FeaturizerConfig(backend="deepchem"))
