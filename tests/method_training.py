"""Train a long-tail method for one epoch on the tiny Deep4Chem fixture and reload its checkpoint.

Shared by the method tests: a method must run through ``zincfluor.runs.train.train_run``, and the
model rebuilt from the checkpoint's spec and weights must give the trained model's logits.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch_geometric.data import Batch

import zincfluor.runs.train
from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.trainer import Trainer, TrainerConfig

PROBE_SMILES = ["CCO", "c1ccccc1CCC", "N#CCCC", "OC(=O)CCC", "CCCCl"]


def train_one_epoch_and_reload(monkeypatch, data: Path, out: Path, method: str, **hparams):
    """Train ``method`` 1 epoch on a small GCN; check the checkpoint rebuilds the model.

    Returns ``(result, checkpoint, trainer)``.
    """
    trainers: list[Trainer] = []

    class RecordingTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(zincfluor.runs.train, "Trainer", RecordingTrainer)
    config = TrainRunConfig(
        data=DataOptions(str(data)),
        out=str(out),
        method=method,
        method_hparams=hparams,
        hidden_dim=16,
        num_layers=2,
        projection_dim=None,
        batch_size=16,
        trainer=TrainerConfig(epochs=1),
        device="cpu",
        cache_dir="none",
        n_jobs=1,
    )
    result = train_run(config, progress=False)
    checkpoint = load_checkpoint(out)
    assert checkpoint["method"]["name"] == method

    featurizer = FeaturizerConfig.from_dict(checkpoint["metadata"]["featurizer"])
    batch = Batch.from_data_list(featurize_cached(PROBE_SMILES, featurizer, None).graphs)
    trained = trainers[0].model.eval()
    rebuilt = model_from_checkpoint(checkpoint)
    with torch.no_grad():
        expected, got = trained(batch), rebuilt(batch)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(got, expected)
    return result, checkpoint, trainers[0]
