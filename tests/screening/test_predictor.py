import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.data import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.screening import Predictor
from zincfluor.train.checkpoint import load_checkpoint, save_checkpoint

SMILES = ["CCO", "c1ccccc1C(=O)O", "C1CC", "", "CN(C)c1ccc(C=Cc2ccccc2)cc1"]


@pytest.fixture
def checkpoint_path(tmp_path):
    torch.manual_seed(0)
    config = FeaturizerConfig()
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2)
    model = build_classifier(spec).eval()
    path = save_checkpoint(
        tmp_path / "checkpoint.pt",
        model=model,
        model_spec=spec,
        class_counts=[5, 9, 8, 7, 4, 3, 2, 1],
        method={"name": "ce", "hparams": {}},
        metadata={
            "kind": "molecules",
            "featurizer": config.to_dict(),
            "label_scheme": EMISSION8.to_dict(),
        },
    )
    return path, model


def test_round_trip_gives_identical_predictions(checkpoint_path):
    path, model = checkpoint_path
    predictor = Predictor.load(path, device="cpu")
    result = predictor.predict(SMILES)
    graphs = featurize_many(["CCO", "c1ccccc1C(=O)O", "CN(C)c1ccc(C=Cc2ccccc2)cc1"]).graphs
    with torch.no_grad():
        expected = torch.softmax(model(Batch.from_data_list(graphs)), dim=1).numpy()
    # the fast inference path equals the module's forward up to float rounding
    np.testing.assert_allclose(result.probs[[0, 1, 4]], expected, rtol=1e-5, atol=1e-6)
    again = Predictor.load(path, device="cpu").predict(SMILES)
    np.testing.assert_array_equal(again.probs[[0, 1, 4]], result.probs[[0, 1, 4]])


def test_invalid_rows_are_flagged_in_place(checkpoint_path):
    path, _ = checkpoint_path
    result = Predictor.load(path, device="cpu").predict(SMILES)
    assert result.status[0] == result.status[1] == result.status[4] == "ok"
    assert result.status[2] == "invalid: unclosed ring"
    assert result.status[3] == "invalid: empty SMILES"
    assert np.isnan(result.probs[[2, 3]]).all()
    assert list(result.levels[[2, 3]]) == [-1, -1]
    assert result.canonical[1] == "O=C(O)c1ccccc1"
    np.testing.assert_allclose(result.probs[[0, 1, 4]].sum(axis=1), 1.0, rtol=1e-5)


def test_checkpoint_loads_with_weights_only_and_rejects_other_files(checkpoint_path, tmp_path):
    path, _ = checkpoint_path
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["format"] == 1 and checkpoint["class_counts"][-1] == 1
    assert load_checkpoint(path.parent)["metadata"]["kind"] == "molecules"
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not a zincfluor checkpoint"):
        load_checkpoint(other)


def test_inchikey_comes_from_the_same_molecule(checkpoint_path):
    from rdkit import Chem

    path, _ = checkpoint_path
    predictor = Predictor.load(path, device="cpu")
    assert predictor.predict(SMILES).inchikey is None
    result = predictor.predict(SMILES, inchikey=True)
    for i in (0, 1, 4):
        assert result.inchikey[i] == Chem.MolToInchiKey(Chem.MolFromSmiles(SMILES[i]))
        assert result.canonical[i] == Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[i]))
    assert result.inchikey[2] is None and result.inchikey[3] is None
    assert result.inchikey[0] == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"  # ethanol


def test_fast_path_matches_per_molecule_graphs_at_any_batch_size(checkpoint_path):
    path, model = checkpoint_path
    smiles = [f"{'C' * n}N(C)c1ccc(C=Cc2ccc(O)cc2)cc1" for n in range(1, 40)] + ["C1CC"]
    graphs = [g for g in featurize_many(smiles).graphs if g is not None]
    with torch.no_grad():
        expected = torch.softmax(model(Batch.from_data_list(graphs)), dim=1).numpy()
    for batch_size in (7, 256):
        result = Predictor.load(path, device="cpu", batch_size=batch_size).predict(smiles)
        np.testing.assert_allclose(result.probs[:-1], expected, rtol=1e-5, atol=1e-6)
        assert np.isnan(result.probs[-1]).all()
