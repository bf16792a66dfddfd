import numpy as np
import torch

from zincfluor.chem.featurizer import MoleculeFeaturizer
from zincfluor.chem.packing import PackedGraphs

FEATURIZE = MoleculeFeaturizer()
SMILES = ["CCO", "[Na+]", "c1ccccc1", "C#N"]


def pack(smiles):
    arrays = [FEATURIZE.arrays(s) for s in smiles]
    return arrays, PackedGraphs.from_arrays(arrays, FEATURIZE.atom_dim, FEATURIZE.bond_dim)


def test_from_arrays_keeps_each_graph():
    arrays, packed = pack(SMILES)
    assert len(packed) == 4
    assert packed.atom_counts.tolist() == [3, 1, 6, 2]
    assert packed.edge_counts.tolist() == [4, 0, 12, 2]
    for i, original in enumerate(arrays):
        for got, want in zip(packed.graph(i), original, strict=True):
            np.testing.assert_array_equal(got, want)


def test_concat_equals_packing_everything_at_once():
    _, whole = pack(SMILES)
    joined = PackedGraphs.concat([pack(SMILES[:1])[1], pack(SMILES[1:])[1]])
    for name in ("x", "edge_index", "edge_attr", "atom_counts", "edge_counts"):
        np.testing.assert_array_equal(getattr(joined, name), getattr(whole, name))


def test_to_data_list_gives_contiguous_independent_graphs():
    _, packed = pack(SMILES)
    graphs = packed.to_data_list()
    assert [g.num_nodes for g in graphs] == [3, 1, 6, 2]
    for graph, smiles in zip(graphs, SMILES, strict=True):
        expected = FEATURIZE(smiles)
        assert torch.equal(graph.edge_index, expected.edge_index)
        assert torch.equal(graph.edge_attr, expected.edge_attr)
        assert graph.edge_index.is_contiguous() and graph.x.is_contiguous()
    graphs[0].x.zero_()
    assert graphs[1].x.sum() > 0 and graphs[2].x.sum() > 0


def test_empty_pack():
    packed = PackedGraphs.empty(FEATURIZE.atom_dim, FEATURIZE.bond_dim)
    assert len(packed) == 0 and packed.to_data_list() == []
    assert len(PackedGraphs.from_arrays([], FEATURIZE.atom_dim, FEATURIZE.bond_dim)) == 0
