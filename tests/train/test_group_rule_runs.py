"""Molecule runs group levels by thirds of their training counts unless told otherwise."""

from __future__ import annotations

import json

import pytest

from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
from zincfluor.train.checkpoint import load_checkpoint
from zincfluor.train.trainer import TrainerConfig


def _config(data, out, **extra) -> TrainRunConfig:
    return TrainRunConfig(
        data=DataOptions(str(data)), out=str(out), hidden_dim=8, num_layers=2, batch_size=16,
        trainer=TrainerConfig(epochs=1), device="cpu", cache_dir="none", n_jobs=1, **extra,
    )


@pytest.mark.slow
def test_a_molecule_run_reports_thirds_and_its_model_keeps_the_rule(deep4chem_fixture, tmp_path):
    out = tmp_path / "run"
    train_run(_config(deep4chem_fixture, out), progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    for part in ("valid", "test"):
        assert metrics[part]["group_rule"] == "thirds"
        groups = list(metrics[part]["groups"].values())
        # 8 levels with 8 training molecules each: ties keep the lower level nearer the head
        assert groups == ["head"] * 3 + ["medium"] * 3 + ["tail"] * 2
        assert metrics[part]["tail"] is not None  # the thresholds put all 8 levels in the tail
    assert "thirds of the levels by training count" in (out / "per_level.md").read_text()
    assert load_checkpoint(out / "checkpoint.pt")["metadata"]["group_rule"] == "thirds"
    assert json.loads((out / "config.json").read_text())["group_rule"] == "thirds"

    evaluated = evaluate_run(out, DataOptions(str(deep4chem_fixture)), device="cpu",
                             cache_dir="none", progress=False)
    assert evaluated["group_rule"] == "thirds"
    assert list(evaluated["groups"].values()) == groups


@pytest.mark.slow
def test_the_thresholds_stay_an_option(deep4chem_fixture, tmp_path):
    """`zincfluor train --groups thresholds` reaches the run (config, metrics)."""
    from typer.testing import CliRunner

    from zincfluor.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--data", str(deep4chem_fixture), "--out", str(out), "--epochs", "1",
        "--hidden-dim", "8", "--num-layers", "2", "--batch-size", "16", "--device", "cpu",
        "--cache-dir", "none", "--workers", "1", "--no-progress", "--groups", "thresholds"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["group_rule"] == "thresholds"
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["group_rule"] == "thresholds"
    assert set(test["groups"].values()) == {"tail"}  # 8 training molecules a level, fewer than 20


def test_an_unknown_group_rule_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="group rule must be one of thirds, thresholds, got 'x'"):
        _config(tmp_path / "none.csv", tmp_path / "run", group_rule="x")
    assert not (tmp_path / "run").exists()
