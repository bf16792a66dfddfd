"""Trainer hooks: ``on_validation_end`` and stage 2 (classifier re-training on frozen features)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from zincfluor.methods import LongTailMethod, LossOutput, MethodContext, Stage2Config
from zincfluor.nn.heads import LinearHead
from zincfluor.nn.model import Classifier
from zincfluor.train.metrics import balanced_accuracy, confusion_matrix
from zincfluor.train.seeding import seed_everything
from zincfluor.train.trainer import Trainer, TrainerConfig


def _loaders(seed: int = 0):
    """Three Gaussian blobs in 2-D with a long tail (60 / 20 / 6 training, 10 each validation)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])

    def sample(counts):
        parts = zip(centres, counts, strict=True)
        x = np.concatenate([rng.normal(c, 0.9, size=(n, 2)) for c, n in parts])
        y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
        return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))

    generator = seed_everything(seed)
    train = DataLoader(sample([60, 20, 6]), batch_size=16, shuffle=True, generator=generator)
    valid = DataLoader(sample([10, 10, 10]), batch_size=64)
    return train, valid


class CountingBackbone(nn.Module):
    """Linear + batch norm + dropout, counting its forward calls."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


class Recorder(LongTailMethod):
    """CE in stage 1, smoothed CE in stage 2; records what the Trainer hands it."""

    summary = "test method"

    def __init__(self, context, stage2: Stage2Config | None = None):
        super().__init__(context)
        self.stage2 = stage2
        self.confusions: list[tuple[int, np.ndarray]] = []
        self.stage2_batches: list[int] = []
        self.snapshot: dict | None = None
        self._model: list[nn.Module] = []

    def configure_model(self, model):
        self._model.append(model)  # a plain list: not registered as a submodule
        return model

    def training_loss(self, model, inputs, targets):
        loss = F.cross_entropy(model(inputs), targets)
        return LossOutput(loss, {"ce": loss.detach()})

    def on_validation_end(self, epoch, confusion):
        self.confusions.append((epoch, confusion.copy()))

    def stage2_loss(self, logits, targets):
        if self.snapshot is None:  # first stage-2 batch: features cached, nothing stepped yet
            model = self._model[0]
            self.snapshot = {
                "backbone": {k: v.clone() for k, v in model.backbone.state_dict().items()},
                "head": {k: v.clone() for k, v in model.head.state_dict().items()},
                "calls": model.backbone.calls,
                "backbone_training": model.backbone.training,
            }
        self.stage2_batches.append(int(targets.shape[0]))
        loss = F.cross_entropy(logits, targets, label_smoothing=0.5)
        return LossOutput(loss, {"smoothed": loss.detach()})


def _trainer(stage2=None, epochs=3, validate_every=1, seed=0):
    torch.manual_seed(seed)
    model = Classifier(CountingBackbone(), LinearHead(16, 3))
    method = Recorder(MethodContext(torch.tensor([60.0, 20.0, 6.0]), num_epochs=epochs), stage2)
    config = TrainerConfig(epochs=epochs, lr=0.05, weight_decay=0.0, validate_every=validate_every)
    return Trainer(model, method, config, progress=False), method


def test_on_validation_end_gets_each_validation_confusion_matrix():
    train, valid = _loaders()
    trainer, method = _trainer(epochs=4, validate_every=2)
    result = trainer.fit(train, valid)
    assert [epoch for epoch, _ in method.confusions] == [1, 3]  # 0-based, validated epochs only
    rows = [result.history[1], result.history[3]]
    for (_, cm), row in zip(method.confusions, rows, strict=True):
        assert cm.shape == (3, 3) and cm.sum() == 30
        assert cm.sum(axis=1).tolist() == [10, 10, 10]  # rows are the true classes
        assert np.trace(cm) / cm.sum() == pytest.approx(row["val_top1"])
        assert balanced_accuracy(cm) == pytest.approx(row["val_balanced_accuracy"])
    assert result.stage1_best_epoch is None and "stage" not in result.history[0]


def test_stage2_trains_only_the_head_on_features_computed_once():
    train, valid = _loaders()
    trainer, method = _trainer(Stage2Config(epochs=3, lr=0.05, batch_size=32), epochs=2)
    trainer.fit(train, valid)
    model = trainer.model
    snap = method.snapshot
    assert snap is not None and snap["backbone_training"] is False  # eval mode: BN/dropout fixed
    # backbone (weights and batch-norm statistics) bit-identical; head moved
    after = model.backbone.state_dict()
    assert all(torch.equal(after[k], v) for k, v in snap["backbone"].items())
    assert not torch.equal(model.head.weight, snap["head"]["weight"])
    # features were computed once (before the first stage-2 batch): no backbone call since
    assert model.backbone.calls == snap["calls"]
    # 86 training samples in batches of 32, three epochs
    assert method.stage2_batches == [32, 32, 22] * 3
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    # only stage-1 validations reach on_validation_end
    assert [epoch for epoch, _ in method.confusions] == [0, 1]


def test_stage2_history_and_best_stage2_epoch():
    train, valid = _loaders(seed=1)
    trainer, _ = _trainer(Stage2Config(epochs=4, lr=0.05), epochs=2, seed=1)
    result = trainer.fit(train, valid)
    history = result.history
    assert len(history) == 6
    assert [row.get("stage") for row in history] == [None, None, 2, 2, 2, 2]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert [row["stage_epoch"] for row in history[2:]] == [1, 2, 3, 4]
    assert {"train_loss", "train_smoothed", "val_balanced_accuracy", "lr"} <= set(history[2])
    assert history[2]["lr"] == pytest.approx(0.05)  # cosine over stage 2 starts at its lr
    assert history[3]["lr"] == pytest.approx(0.05 * 0.5 * (1 + np.cos(np.pi / 4)))
    stage2_scores = [row["val_balanced_accuracy"] for row in history[2:]]
    assert result.best_score == max(stage2_scores)
    assert result.best_epoch == 3 + stage2_scores.index(max(stage2_scores))
    assert result.stage1_best_epoch in (1, 2)
    assert result.stage1_best_score == max(r["val_balanced_accuracy"] for r in history[:2])
    probs, targets = trainer.predict_proba(valid)
    restored = balanced_accuracy(confusion_matrix(targets, probs.argmax(1), 3))
    assert restored == pytest.approx(result.best_score)


def test_stage2_batch_size_defaults_to_the_loader_batch_size():
    train, valid = _loaders()
    trainer, method = _trainer(Stage2Config(epochs=1), epochs=1)
    trainer.fit(train, valid)
    assert method.stage2_batches == [16] * 5 + [6]


def test_stage2_config_checks_its_values():
    with pytest.raises(ValueError):
        Stage2Config(epochs=0)
    with pytest.raises(ValueError):
        Stage2Config(batch_size=0)


def test_method_with_stage2_but_no_loss_is_an_error():
    class NoLoss(LongTailMethod):
        stage2 = Stage2Config(epochs=1)

        def training_loss(self, model, inputs, targets):
            return LossOutput(F.cross_entropy(model(inputs), targets))

    train, valid = _loaders()
    model = Classifier(nn.Linear(2, 4), LinearHead(4, 3))
    method = NoLoss(MethodContext(torch.tensor([60.0, 20.0, 6.0]), num_epochs=1))
    trainer = Trainer(model, method, TrainerConfig(epochs=1), progress=False)
    with pytest.raises(NotImplementedError, match="stage2_loss"):
        trainer.fit(train, valid)
    assert all(p.requires_grad for p in trainer.model.parameters())
