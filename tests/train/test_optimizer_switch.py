"""The optimizer switch (SGD | AdamW) and chemprop's Noam-like schedule in the Trainer, the
``zincfluor train`` options that set them, and the command line a model card rebuilds."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.methods import MethodContext, build_method
from zincfluor.nn.heads import LinearHead
from zincfluor.nn.model import Classifier
from zincfluor.screening.card import train_command
from zincfluor.train.optim import build_optimizer, noam_factor
from zincfluor.train.seeding import seed_everything
from zincfluor.train.trainer import Trainer, TrainerConfig

runner = CliRunner()


def _trainer(config: TrainerConfig, n_train: int = 40, batch_size: int = 8):
    """A two-layer classifier on random points; ``n_train / batch_size`` steps per epoch."""
    generator = seed_everything(0)
    x = torch.randn(n_train, 2, generator=generator)
    y = torch.arange(n_train) % 3
    train = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                       generator=generator)
    valid = DataLoader(TensorDataset(x[:12], y[:12]), batch_size=64)
    model = Classifier(nn.Sequential(nn.Linear(2, 8), nn.ReLU()), LinearHead(8, 3))
    method = build_method("ce", MethodContext(torch.tensor([14.0, 13.0, 13.0]),
                                              num_epochs=config.epochs))
    return Trainer(model, method, config, progress=False), train, valid


def _step_lrs(trainer: Trainer) -> list[float]:
    """The learning rate of every optimisation step, recorded as it is taken."""
    seen: list[float] = []
    trainer.optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: seen.append(optimizer.param_groups[0]["lr"])
    )
    return seen


def test_adamw_is_used_when_asked():
    config = TrainerConfig(epochs=1, optimizer="adamw", lr=1e-3, weight_decay=0.02,
                           momentum=0.5, nesterov=True)
    trainer, _, _ = _trainer(config)
    optimizer = trainer.optimizer
    assert type(optimizer) is torch.optim.AdamW
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["betas"]) == (1e-3, 0.02, (0.9, 0.999))
    assert "momentum" not in group and "nesterov" not in group


def test_the_default_optimizer_is_the_former_sgd():
    """The default builds exactly what the Trainer built before the switch."""
    trainer, _, _ = _trainer(TrainerConfig(epochs=1))
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    former = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-3, nesterov=False)
    assert type(trainer.optimizer) is torch.optim.SGD
    assert trainer.optimizer.state_dict() == former.state_dict()
    assert trainer.step_scheduler is None


def test_build_optimizer_passes_the_sgd_settings():
    weight = nn.Parameter(torch.zeros(2))
    sgd = build_optimizer([weight], "sgd", lr=0.1, weight_decay=1e-4, momentum=0.8, nesterov=True)
    group = sgd.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["momentum"], group["nesterov"]) == (
        0.1, 1e-4, 0.8, True)
    with pytest.raises(ValueError, match="unknown optimizer 'adam2'.*sgd, adamw"):
        build_optimizer([weight], "adam2", lr=0.1, weight_decay=0.0)


def test_noam_schedule_per_step_matches_the_formula():
    """lr 1e-3, r0 = rf = 0.1, 5 steps per epoch, 2 warm-up epochs of 10: W = 10, T = 50."""
    config = TrainerConfig(epochs=10, optimizer="adamw", lr=1e-3, weight_decay=0.0,
                           scheduler="noam", warmup_epochs=2)
    trainer, train, valid = _trainer(config, n_train=40, batch_size=8)
    lrs = _step_lrs(trainer)
    result = trainer.fit(train, valid)
    assert len(lrs) == 50
    assert lrs[0] == pytest.approx(1e-4, rel=1e-12)  # lr * r0
    assert lrs[5] == pytest.approx(5.5e-4, rel=1e-12)  # halfway: 1e-4 + 0.9e-3 / 2
    assert lrs[10] == pytest.approx(1e-3, rel=1e-12)  # end of warm-up: lr
    # t = 30: 1e-3 * 0.1 ** (20 / 40) = 1e-3 / sqrt(10)
    assert lrs[30] == pytest.approx(3.1622776601683794e-4, rel=1e-12)
    # the last step, t = T - 1 = 49: 1e-3 * 0.1 ** (39 / 40) = 1e-3 * 10 ** -0.975
    assert lrs[49] == pytest.approx(1.0592537251772889e-4, rel=1e-12)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-12)  # t = T
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11], strict=True))  # rising warm-up
    assert all(a > b for a, b in zip(lrs[10:49], lrs[11:50], strict=True))  # then decaying
    # each history row reports its epoch's first step, as lr_factor does
    assert [row["lr"] for row in result.history] == pytest.approx(lrs[::5], rel=1e-12)
    assert [config.lr * config.lr_factor(e) for e in range(10)] == pytest.approx(lrs[::5])


def test_noam_without_warmup_starts_at_lr():
    assert noam_factor(0, 0, 4, 0.1, 0.1) == 1.0
    assert noam_factor(2, 0, 4, 0.1, 0.1) == pytest.approx(0.1 ** 0.5)
    assert noam_factor(4, 0, 4, 0.1, 0.1) == pytest.approx(0.1)
    assert noam_factor(9, 0, 4, 0.1, 0.1) == pytest.approx(0.1)  # held after the end


def test_noam_drives_sgd_too():
    """The schedule is the optimiser's business: noam also drives SGD's rate per step."""
    config = TrainerConfig(epochs=2, lr=0.05, scheduler="noam", warmup_epochs=1,
                           lr_init_ratio=0.2, lr_final_ratio=0.5)
    trainer, train, valid = _trainer(config, n_train=16, batch_size=8)
    lrs = _step_lrs(trainer)
    trainer.fit(train, valid)
    # W = 2, T = 4: 0.05 * [0.2, 0.6, 1, 0.5 ** 0.5]
    assert lrs == pytest.approx([0.01, 0.03, 0.05, 0.05 * 0.5 ** 0.5], rel=1e-12)
    assert type(trainer.optimizer) is torch.optim.SGD


@pytest.mark.parametrize(("settings", "message"), [
    ({"optimizer": "adam2"}, "unknown optimizer 'adam2'"),
    ({"scheduler": "linear"}, "unknown scheduler 'linear'"),
    ({"scheduler": "noam", "epochs": 2, "warmup_epochs": 2}, "--warmup-epochs 2 must be below"),
    ({"lr_final_ratio": 0.0}, "must be above 0"),
])
def test_bad_trainer_settings_fail_with_one_line(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**settings)


def test_card_command_names_optimizer_and_schedule_only_when_changed():
    config = {"data": {"path": "d.csv"}, "method": "ce",
              "trainer": {"epochs": 5, "lr": 0.01, "optimizer": "sgd", "scheduler": "cosine",
                          "warmup_epochs": 0}}
    default = train_command(config)
    for option in ("--optimizer", "--scheduler", "--warmup-epochs"):
        assert option not in default
    assert "--optimizer" not in train_command({**config, "trainer": {"epochs": 5}})  # old runs
    changed = train_command({**config, "trainer": {
        "epochs": 5, "lr": 0.001, "optimizer": "adamw", "scheduler": "noam", "warmup_epochs": 2}})
    assert "--optimizer adamw --scheduler noam --warmup-epochs 2" in changed


def _train_args(data, out, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--hidden-dim", "8",
            "--num-layers", "2", "--device", "cpu", "--cache-dir", "none", "--workers", "1",
            "--no-progress", *extra]


@pytest.mark.slow
def test_train_command_with_adamw_and_noam_records_them(tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "fixture.csv")
    out = tmp_path / "run"
    result = runner.invoke(app, _train_args(
        data, out, "--epochs", "2", "--optimizer", "adamw", "--scheduler", "noam",
        "--warmup-epochs", "1", "--lr", "1e-3"))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    trainer = config["trainer"]
    assert (trainer["optimizer"], trainer["scheduler"], trainer["warmup_epochs"]) == (
        "adamw", "noam", 1)
    assert (trainer["lr_init_ratio"], trainer["lr_final_ratio"]) == (0.1, 0.1)
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["metadata"]["trainer"] == trainer
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [row["lr"] for row in history] == pytest.approx([1e-4, 1e-3])  # r0 * lr, then lr
    assert "--optimizer adamw --scheduler noam --warmup-epochs 1" in train_command(config)


@pytest.mark.parametrize(("extra", "phrase"), [
    (["--optimizer", "adam2"], "unknown optimizer 'adam2': choose one of sgd, adamw"),
    (["--scheduler", "linear"], "unknown scheduler 'linear'"),
    (["--scheduler", "step"], "--scheduler step needs milestones"),
    (["--scheduler", "noam", "--epochs", "2", "--warmup-epochs", "2"],
     "--warmup-epochs 2 must be below --epochs 2"),
])
def test_train_command_refuses_bad_optimizer_settings(tmp_path, extra, phrase):
    out = tmp_path / "run"
    result = runner.invoke(app, _train_args(tmp_path / "missing.csv", out, *extra))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and phrase in lines[0], lines
    assert not out.exists()
