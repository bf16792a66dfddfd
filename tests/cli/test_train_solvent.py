"""``zincfluor train-solvent``: a solvent-aware run from the command line, and its errors."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zincfluor.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runs"))
from solvent_rows import write_solvent_rows  # noqa: E402

runner = CliRunner()


@pytest.mark.slow
def test_train_solvent_writes_a_run_and_prints_per_class_mae(tmp_path):
    data = write_solvent_rows(tmp_path / "rows.csv")
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "train-solvent", "--data", str(data), "--out", str(out), "--epochs", "1",
        "--hidden-dim", "8", "--num-layers", "2", "--solvent-dim", "4", "--batch-size", "16",
        "--device", "cpu", "--cache-dir", "none", "--workers", "1", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "non-polar:" in result.output and "nm MAE" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["solvent_encoder"] == "descriptors" and config["split"] == "scaffold-seeded"
    assert config["trainer"]["grad_clip"] == 1.0
    assert (out / "checkpoint.pt").is_file()


def test_train_solvent_refuses_an_unknown_encoder_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "train-solvent", "--out", str(out), "--solvent-encoder", "fingerprint",
    ])
    assert result.exit_code == 2
    assert "fingerprint" in result.output and not out.exists()
