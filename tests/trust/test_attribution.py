"""Integrated gradients over atoms: completeness, atom-order invariance, the SVG drawing."""

from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch import nn

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.nn.model import build_classifier, gcn_spec
from zincfluor.trust.attribution import atom_attributions, explain_smiles, similarity_map_svg

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "emission8-default"
DYE = "CCN(CC)c1ccc2c(C(F)(F)F)cc(=O)oc2c1"  # coumarin 153's open-chain cousin


class _SmoothToy(nn.Module):
    """A smooth graph model: tanh of a linear map of each atom, mean-pooled, then a head."""

    def __init__(self, in_dim: int, classes: int = 3):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.atom = nn.Parameter(torch.randn(in_dim, 16, generator=generator))
        self.head = nn.Parameter(torch.randn(16, classes, generator=generator))

    def forward(self, batch):
        h = torch.tanh(batch.x @ self.atom)
        pooled = torch.zeros(batch.num_graphs, h.size(1), dtype=h.dtype).index_add_(
            0, batch.batch, h) / (batch.x.size(0) // batch.num_graphs)
        return pooled @ self.head


def _graph(smiles: str, config=FeaturizerConfig()):
    return GraphEncoder(config).encode(Chem.MolFromSmiles(smiles), smiles)


def test_attributions_sum_to_the_change_in_the_explained_probability():
    graph = _graph(DYE)
    toy = _SmoothToy(graph.x.shape[1]).double()
    result = atom_attributions(toy, graph, [1, 2], n_steps=64)
    with torch.no_grad():
        x = torch.as_tensor(graph.x, dtype=torch.float64)

        class _One:
            pass

        one = _One()
        one.x, one.num_graphs = x, 1
        one.batch = torch.zeros(x.size(0), dtype=torch.long)
        expected = float(torch.softmax(toy(one), 1)[0, 1:].sum())
    assert result.value == pytest.approx(expected)
    assert result.values.shape == (graph.x.shape[0],)
    assert result.values.sum() == pytest.approx(result.value - result.baseline_value, abs=1e-6)
    assert abs(result.delta) < 1e-6


def test_completeness_on_a_gcn_within_the_integration_error():
    graph = _graph(DYE)
    torch.manual_seed(0)
    spec = gcn_spec(graph.x.shape[1], 8, hidden_dim=32, num_layers=3)
    model = build_classifier(spec).double().eval()
    coarse = atom_attributions(model, graph, [5, 6, 7], n_steps=8)
    fine = atom_attributions(model, graph, [5, 6, 7], n_steps=128)
    assert abs(fine.delta) < 0.02 * abs(fine.value - fine.baseline_value) + 1e-4
    assert abs(fine.delta) <= abs(coarse.delta) + 1e-9


def _by_canonical_rank(smiles: str, values: np.ndarray) -> np.ndarray:
    ranks = list(Chem.CanonicalRankAtoms(Chem.MolFromSmiles(smiles)))
    out = np.empty(len(ranks))
    out[ranks] = values
    return out


def test_attributions_follow_the_atoms_not_their_order():
    """Random SMILES give the graph in another atom order; mapped back through canonical
    ranks, every atom gets the same attribution."""
    torch.manual_seed(1)
    mol = Chem.MolFromSmiles(DYE)
    spec = gcn_spec(_graph(DYE).x.shape[1], 8, hidden_dim=32, num_layers=3)
    model = build_classifier(spec).double().eval()
    reference = _by_canonical_rank(DYE, atom_attributions(model, _graph(DYE), [6]).values)
    for seed in range(3):
        Chem.rdBase.SeedRandomNumberGenerator(seed)  # doRandom below draws from it
        shuffled = Chem.MolToSmiles(mol, doRandom=True, canonical=False)
        graph = GraphEncoder(FeaturizerConfig()).encode(Chem.MolFromSmiles(shuffled), shuffled)
        values = _by_canonical_rank(shuffled, atom_attributions(model, graph, [6]).values)
        assert shuffled != DYE
        np.testing.assert_allclose(values, reference, atol=1e-9)


@pytest.mark.slow
def test_the_shipped_model_explains_random_smiles_of_one_molecule_alike():
    from zincfluor.screening.predictor import Predictor

    predictor = Predictor.load(SHIPPED, device="cpu")
    config = predictor.featurizer_config
    models = [member.model for member in predictor.members]  # the shipped model is an ensemble
    first = explain_smiles(models, config, DYE, [5, 6, 7])
    probs = predictor.predict([DYE]).probs[0]
    np.testing.assert_allclose(first.probabilities, probs, atol=1e-5)
    assert first.rare.value == pytest.approx(probs[5:].sum(), abs=1e-5)
    assert first.predicted_level == probs.argmax()
    assert first.level.value == pytest.approx(probs.max(), abs=1e-5)
    assert first.mol.GetNumAtoms() == first.rare.values.size == first.level.values.size
    mol = Chem.MolFromSmiles(DYE)
    for seed in range(2):
        Chem.rdBase.SeedRandomNumberGenerator(seed)
        other = explain_smiles(models, config,
                               Chem.MolToSmiles(mol, doRandom=True, canonical=False), [5, 6, 7])
        for which in ("rare", "level"):
            np.testing.assert_allclose(
                _by_canonical_rank(other.smiles, getattr(other, which).values),
                _by_canonical_rank(first.smiles, getattr(first, which).values), atol=1e-5)
    assert first.svg("level").startswith("<?xml") and "</svg>" in first.svg()
    with pytest.raises(ValueError, match="out of the model's scope"):
        explain_smiles(models, config, "[Na+].[Cl-]", [5, 6, 7])


def test_similarity_map_needs_one_value_per_atom_and_draws_a_lone_atom_plainly():
    mol = Chem.MolFromSmiles("CCO")
    with pytest.raises(ValueError, match="one value per atom"):
        similarity_map_svg(mol, [0.1, 0.2])
    assert "</svg>" in similarity_map_svg(Chem.MolFromSmiles("C"), [0.5])
    svg = similarity_map_svg(mol, [0.3, -0.2, 0.5])
    assert svg.count("<path") > similarity_map_svg(mol, [0, 0, 0]).count("<path")
