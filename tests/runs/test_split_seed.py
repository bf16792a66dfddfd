"""``--split-seed``: runs with their own ``--seed`` share one split (ensemble members)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.train.checkpoint import load_checkpoint

runner = CliRunner()


def _train(data, out, *extra: str) -> None:
    result = runner.invoke(app, [
        "train", "--data", str(data), "--out", str(out), "--epochs", "1", "--hidden-dim", "8",
        "--num-layers", "2", "--device", "cpu", "--cache-dir", "none", "--workers", "1",
        "--no-progress", *extra,
    ])
    assert result.exit_code == 0, result.output


def _parts(run) -> dict:
    split = json.loads((run / "split.json").read_text())
    return {part: split[f"{part}_smiles"] for part in ("train", "valid", "test")}


@pytest.mark.slow
def test_same_split_seed_same_split_other_weights(deep4chem_fixture, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _train(deep4chem_fixture, a, "--seed", "0", "--split-seed", "7")
    _train(deep4chem_fixture, b, "--seed", "1", "--split-seed", "7")
    _train(deep4chem_fixture, c, "--seed", "1")  # no --split-seed: the split follows --seed

    assert _parts(a) == _parts(b)
    assert _parts(c) != _parts(b)
    weights_a = load_checkpoint(a)["state_dict"]
    weights_b = load_checkpoint(b)["state_dict"]
    assert any(not torch.equal(weights_a[k], weights_b[k]) for k in weights_a)

    for run, seed in ((a, 0), (b, 1)):
        config = json.loads((run / "config.json").read_text())
        assert (config["seed"], config["split_seed"]) == (seed, 7)
        assert config["resolved"]["split_seed"] == 7
        assert load_checkpoint(run)["metadata"]["split"]["seed"] == 7
        assert json.loads((run / "split.json").read_text())["seed"] == 7
    config_c = json.loads((c / "config.json").read_text())
    assert config_c["split_seed"] is None and config_c["resolved"]["split_seed"] == 1


def test_calibration_rebuilds_a_members_split_from_its_split_seed():
    """A member trained with --seed 2 --split-seed 0 was split with seed 0; calibrating it
    without split.json must rebuild that split, not one from seed 2."""
    from zincfluor.runs.calibrate import split_seed_of

    assert split_seed_of({"seed": 2, "split_seed": 0}) == 0
    assert split_seed_of({"seed": 2, "split_seed": None}) == 2
    assert split_seed_of({"seed": 2, "split_seed": None, "resolved": {"split_seed": 5}}) == 5
