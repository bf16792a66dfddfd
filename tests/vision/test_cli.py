import json

import pytest
import torch
from cifar_fixtures import write_cifar10_pickle
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.vision.datasets import long_tail_counts

runner = CliRunner()


def test_stats_without_data_prints_formula():
    result = runner.invoke(app, ["vision", "stats", "--dataset", "cifar10-lt",
                                 "--imbalance-ratio", "100"])
    assert result.exit_code == 0, result.output
    for n in ("5000", "2997", "1796", "1077", "645", "387", "232", "139", "83", "50", "12406"):
        assert n in result.output


def test_stats_with_data(cifar10_zip):
    result = runner.invoke(app, ["vision", "stats", "--imbalance-ratio", "10",
                                 "--data-root", str(cifar10_zip)])
    assert result.exit_code == 0, result.output
    assert "truck" in result.output and "valid" in result.output
    assert "long-tailed" in result.output  # the counts before the validation hold-out


def test_train_missing_data_is_friendly(tmp_path):
    result = runner.invoke(app, ["vision", "train", "--dataset", "cifar10-lt", "--data-root",
                                 str(tmp_path / "none"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "does not exist" in " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.parametrize("method, extra", [
    ("ce", []),
    ("bcl", []),
    ("bscl-sor", ["--precision", "bf16", "--channels-last"]),  # the GPU settings, on the CPU
])
def test_train_one_epoch_smoke(tmp_path, method, extra):
    write_cifar10_pickle(tmp_path / "data")
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "vision", "train", "--dataset", "cifar10-lt", "--imbalance-ratio", "10",
        "--data-root", str(tmp_path / "data"), "--out", str(run), "--method", method,
        "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--no-progress",
        "--groups", "thirds", "--seed", "1", *extra,
    ])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    for name in ("config.json", "checkpoint.pt", "metrics.json", "per_class.md",
                 "confusion_matrix.png", "training_curves.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test_accuracy"]) == {"head", "medium", "tail", "all"}
    assert metrics["test"]["n"] == 40 and metrics["test"]["group_rule"] == "thirds"
    config = json.loads((run / "config.json").read_text())
    assert config["trainer"]["milestones"] == [1, 1]
    assert sum(config["resolved"]["train_class_counts"]) + sum(
        config["resolved"]["valid_class_counts"]) == sum(long_tail_counts(20, 10, 10))
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    model = model_from_checkpoint(checkpoint)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    if method == "bcl":
        assert "train_bcl" in metrics["history"][0]
    # auto on the CPU: fp32, contiguous; asked for: bf16 autocast, channels-last
    assert config["trainer"]["precision"] == ("bf16" if extra else "fp32")
    assert config["channels_last"] is bool(extra)
