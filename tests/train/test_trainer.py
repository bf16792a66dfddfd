import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from zincfluor.methods import MethodContext, build_method
from zincfluor.nn.heads import LinearHead
from zincfluor.nn.model import Classifier
from zincfluor.train.seeding import resolve_device, seed_everything
from zincfluor.train.trainer import Trainer, TrainerConfig, unpack_batch


def _toy_loaders(seed: int = 0):
    """Three Gaussian blobs in 2-D with a long tail (60 / 20 / 6 training points)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])

    def sample(counts):
        parts = zip(centres, counts, strict=True)
        x = np.concatenate([rng.normal(c, 0.7, size=(n, 2)) for c, n in parts])
        y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
        return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))

    generator = seed_everything(seed)
    train = DataLoader(sample([60, 20, 6]), batch_size=16, shuffle=True, generator=generator)
    valid = DataLoader(sample([10, 10, 10]), batch_size=64)
    return train, valid


def _fit(seed: int, epochs: int = 8):
    train, valid = _toy_loaders(seed)
    torch.manual_seed(seed)
    model = Classifier(nn.Sequential(nn.Linear(2, 16), nn.ReLU()), LinearHead(16, 3))
    context = MethodContext(torch.tensor([60.0, 20.0, 6.0]), num_epochs=epochs)
    method = build_method("ce", context)
    config = TrainerConfig(epochs=epochs, lr=0.05, weight_decay=0.0)
    trainer = Trainer(model, method, config, progress=False)
    return trainer, trainer.fit(train, valid), valid


def test_trainer_learns_and_records_history():
    trainer, result, valid = _fit(seed=0)
    assert len(result.history) == 8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_score > 0.8
    assert {"epoch", "lr", "train_loss", "train_ce", "val_balanced_accuracy"} <= set(
        result.history[0]
    )
    probs, targets = trainer.predict_proba(valid)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert probs.shape == (30, 3) and targets.shape == (30,)


def test_trainer_restores_the_best_validation_epoch():
    trainer, result, valid = _fit(seed=1)
    best = max(row["val_balanced_accuracy"] for row in result.history)
    assert result.best_score == best
    first_best = next(r["epoch"] for r in result.history if r["val_balanced_accuracy"] == best)
    assert result.best_epoch == first_best
    from zincfluor.train.metrics import balanced_accuracy, confusion_matrix

    probs, targets = trainer.predict_proba(valid)
    restored = balanced_accuracy(confusion_matrix(targets, probs.argmax(1), 3))
    assert restored == pytest.approx(best)


def test_same_seed_same_run():
    _, first, _ = _fit(seed=3, epochs=3)
    _, second, _ = _fit(seed=3, epochs=3)
    for a, b in zip(first.history, second.history, strict=True):
        assert a["train_loss"] == b["train_loss"]


def test_cosine_schedule_with_warmup():
    config = TrainerConfig(epochs=10, warmup_epochs=2)
    assert config.lr_factor(0) == pytest.approx(0.5)
    assert config.lr_factor(1) == pytest.approx(1.0)
    assert config.lr_factor(2) == pytest.approx(1.0)
    assert config.lr_factor(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    step = TrainerConfig(epochs=200, scheduler="step", milestones=(160, 180), gamma=0.01)
    assert step.lr_factor(159) == 1.0
    assert step.lr_factor(160) == pytest.approx(0.01)
    assert step.lr_factor(199) == pytest.approx(1e-4)


def test_unpack_batch_handles_pairs_and_objects_with_y():
    x, y = torch.zeros(2, 3), torch.tensor([0, 1])
    assert unpack_batch((x, y))[1] is y

    class GraphBatch:
        def __init__(self):
            self.y = y

    batch = GraphBatch()
    inputs, targets = unpack_batch(batch)
    assert inputs is batch and targets is y


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")


def test_bf16_precision_autocasts_training_forward_only():
    train, valid = _toy_loaders(0)
    torch.manual_seed(0)
    model = Classifier(nn.Sequential(nn.Linear(2, 16), nn.ReLU()), LinearHead(16, 3))
    seen = []
    model.backbone.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    method = build_method("ce", MethodContext(torch.tensor([60.0, 20.0, 6.0]), num_epochs=2))
    config = TrainerConfig(epochs=2, lr=0.05, weight_decay=0.0, precision="bf16")
    result = Trainer(model, method, config, progress=False).fit(train, valid)
    assert torch.bfloat16 in seen and torch.float32 in seen  # training bf16, validation fp32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(math.isfinite(row["train_loss"]) for row in result.history)
    with pytest.raises(ValueError, match="precision"):
        TrainerConfig(precision="fp16")
