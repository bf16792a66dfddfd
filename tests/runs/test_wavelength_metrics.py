"""A run whose model predicts the emission maximum reports MAE in nm and the coverage of its
80 % interval, in training (validation and test) and in ``evaluate``; classifier heads do not."""

from __future__ import annotations

import json
import math

import pytest

from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
from zincfluor.train.trainer import TrainerConfig


def _config(data, out, **overrides) -> TrainRunConfig:
    settings = dict(
        data=DataOptions(str(data)), out=str(out), hidden_dim=8, num_layers=2,
        projection_dim=None, batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu",
        cache_dir="none", n_jobs=1,
    )
    settings.update(overrides)
    return TrainRunConfig(**settings)


def _check_wavelength(block: dict, n: int) -> None:
    assert block["n_known"] == n
    assert math.isfinite(block["mae_nm"]) and block["mae_nm"] >= 0
    assert block["interval"] == 0.8
    assert 0.0 <= block["interval_coverage"] <= 1.0


@pytest.mark.slow
def test_gaussian_run_reports_mae_and_interval_coverage(deep4chem_fixture, tmp_path):
    run = tmp_path / "run"
    train_run(_config(deep4chem_fixture, run, method="lds", head="gaussian",
                      target="emission_nm"), progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    for part in ("valid", "test"):
        _check_wavelength(metrics[part]["wavelength"], metrics[part]["n"])

    evaluated = evaluate_run(run, DataOptions(str(deep4chem_fixture)), device="cpu",
                             cache_dir="none", exclude_seen=True, progress=False)
    _check_wavelength(evaluated["wavelength"], evaluated["n"])
    # the evaluation of the test split goes through the Predictor: the same numbers
    assert evaluated["wavelength"]["mae_nm"] == pytest.approx(
        metrics["test"]["wavelength"]["mae_nm"], rel=1e-4)
    assert evaluated["wavelength"]["interval_coverage"] == pytest.approx(
        metrics["test"]["wavelength"]["interval_coverage"])


@pytest.mark.slow
def test_classifier_run_has_no_wavelength_block(deep4chem_fixture, tmp_path):
    run = tmp_path / "run"
    train_run(_config(deep4chem_fixture, run, method="ce"), progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "wavelength" not in metrics["valid"] and "wavelength" not in metrics["test"]
    evaluated = evaluate_run(run, DataOptions(str(deep4chem_fixture)), device="cpu",
                             cache_dir="none", exclude_seen=True, progress=False)
    assert "wavelength" not in evaluated
