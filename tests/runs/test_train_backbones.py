"""Training runs with the edge-aware backbones and molecule-level features, end to end.

Two epochs on the tiny Deep4Chem fixture: the run folder's checkpoint names the backbone and
the molecule-feature settings, and the model rebuilt from it (with features recomputed from the
SMILES, as a predictor would) gives the trained model's logits.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Batch
from typer.testing import CliRunner

import zincfluor.runs.train
from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import MoleculeFeatureConfig, attach_molecule_features
from zincfluor.runs.calibrate import calibrate_run
from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.trainer import Trainer, TrainerConfig

PROBE_SMILES = ["CCO", "c1ccccc1CCC", "N#CCCC", "OC(=O)CCC", "C"]


def _probe_batch(checkpoint) -> Batch:
    featurizer = FeaturizerConfig.from_dict(checkpoint["metadata"]["featurizer"])
    graphs = featurize_cached(PROBE_SMILES, featurizer, None).graphs
    features = MoleculeFeatureConfig.from_dict(checkpoint["metadata"]["molecule_features"])
    if features.dim:
        attach_molecule_features(graphs, PROBE_SMILES, features, featurizer)
    return Batch.from_data_list(graphs)


@pytest.mark.slow
@pytest.mark.parametrize(
    "backbone, molecule_features", [("dmpnn", "both"), ("gine", "rdkit2d"), ("gcn", "morgan")]
)
def test_two_epoch_run_saves_a_model_that_rebuilds(
    monkeypatch, deep4chem_fixture, tmp_path, backbone, molecule_features
):
    trainers: list[Trainer] = []

    class RecordingTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(zincfluor.runs.train, "Trainer", RecordingTrainer)
    out = tmp_path / "run"
    config = TrainRunConfig(
        data=DataOptions(str(deep4chem_fixture)), out=str(out), backbone=backbone,
        molecule_features=molecule_features, morgan_bits=64, hidden_dim=16, num_layers=3,
        batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu", cache_dir="none",
        n_jobs=1,
    )
    result = train_run(config, progress=False)
    assert len(result.fit.history) == 2
    checkpoint = load_checkpoint(out)
    spec = checkpoint["model_spec"]
    assert spec["backbone"]["name"] == backbone
    assert checkpoint["metadata"]["molecule_features"]["kind"] == molecule_features
    expected_dim = MoleculeFeatureConfig(molecule_features, 64).dim
    assert spec["molecule_features"]["dim"] == expected_dim
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["backbone"] == backbone and resolved["resolved"]["model_spec"] == spec

    batch = _probe_batch(checkpoint)
    trained = trainers[0].model.eval()
    rebuilt = model_from_checkpoint(checkpoint)
    with torch.no_grad():
        expected, got = trained(batch), rebuilt(batch)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(got, expected)
    if molecule_features == "both":  # evaluation and calibration recompute the features
        metrics = evaluate_run(out, DataOptions(str(deep4chem_fixture)), device="cpu",
                               cache_dir="none", progress=False)
        assert metrics["n"] == sum(result.split.sizes().values())
        calibrated = tmp_path / "calibrated"
        calibrate_run(out, calibrated, device="cpu", cache_dir="none", progress=False)
        assert load_checkpoint(calibrated)["model_spec"]["temperature"] > 0


def test_unknown_backbone_or_feature_kind_is_refused_before_any_work(tmp_path):
    data = DataOptions(str(tmp_path / "missing.csv"))  # never read: the settings fail first
    with pytest.raises(KeyError, match="unknown backbone 'mpnn'; choose one of"):
        train_run(TrainRunConfig(data=data, out=str(tmp_path / "a"), backbone="mpnn"))
    with pytest.raises(ValueError, match="molecule features must be one of"):
        train_run(TrainRunConfig(data=data, out=str(tmp_path / "b"), molecule_features="maccs"))


@pytest.mark.slow
def test_train_command_takes_backbone_and_molecule_features(deep4chem_fixture, tmp_path):
    from zincfluor.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--data", str(deep4chem_fixture), "--out", str(out), "--epochs", "2",
        "--backbone", "gine", "--molecule-features", "morgan", "--morgan-bits", "32",
        "--hidden-dim", "16", "--num-layers", "2", "--device", "cpu", "--cache-dir", "none",
        "--workers", "1", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint(out)
    assert checkpoint["model_spec"]["backbone"]["name"] == "gine"
    assert checkpoint["model_spec"]["molecule_features"]["dim"] == 32
