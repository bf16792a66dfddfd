import sys

import pytest
import torch

from zincfluor.chem import DeepChemFeaturizer, FeaturizerConfig, featurize_many, make_featurizer
from zincfluor.chem.deepchem_backend import import_deepchem
from zincfluor.chem.smiles import InvalidMoleculeError

DEEPCHEM = FeaturizerConfig(backend="deepchem")


@pytest.fixture
def deepchem_missing(monkeypatch):
    import_deepchem.cache_clear()
    monkeypatch.setitem(sys.modules, "deepchem", None)  # makes `import deepchem` fail
    yield
    import_deepchem.cache_clear()


def test_missing_deepchem_says_how_to_install_it(deepchem_missing):
    with pytest.raises(ImportError, match=r"pip install 'zincfluor\[deepchem\]'"):
        make_featurizer(DEEPCHEM)


@pytest.mark.slow
def test_first_import_is_quiet(capsys):
    if "deepchem" in sys.modules:
        pytest.skip("deepchem was imported before this test")
    import_deepchem()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.slow
def test_dims_are_measured():
    assert (DEEPCHEM.atom_dim, DEEPCHEM.bond_dim) == (30, 11)


@pytest.mark.slow
def test_graphs_follow_the_call_contract():
    featurize = make_featurizer(DEEPCHEM)
    assert isinstance(featurize, DeepChemFeaturizer)
    graph = featurize("c1ccccc1O")
    assert graph.x.shape == (7, 30) and graph.x.dtype == torch.float32
    assert graph.edge_index.shape == (2, 14) and graph.edge_index.dtype == torch.int64
    assert graph.edge_attr.shape == (14, 11) and graph.edge_attr.dtype == torch.float32
    assert set(graph.keys()) == {"x", "edge_index", "edge_attr"}


@pytest.mark.slow
@pytest.mark.parametrize("smiles, reason", [("C1CC", "unclosed ring"), ("C", "two atoms")])
def test_invalid_input_raises(smiles, reason):
    with pytest.raises(InvalidMoleculeError, match=reason):
        make_featurizer(DEEPCHEM)(smiles)


@pytest.mark.slow
def test_featurize_many_with_deepchem():
    result = featurize_many(["CCO", "C1CC", "CC#N"], DEEPCHEM, n_jobs=1)
    assert [g is None for g in result.graphs] == [False, True, False]
    assert result.graphs[2].x.shape == (3, 30) and [e.index for e in result.errors] == [1]
