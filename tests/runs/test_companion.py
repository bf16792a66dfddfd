"""``zincfluor model ship|ensemble --wavelength RUN``: a classifier shipped with a wavelength
companion serves the classifier's levels with the companion's emission_nm, and the model's
identity covers both."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening.card import file_sha256, model_sha256
from zincfluor.screening.predictor import Predictor
from zincfluor.train.checkpoint import model_checkpoint_paths

runner = CliRunner()
PROBE = ["CCO", "c1ccccc1CCC", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "OC(=O)CCC"]


def _train(data, out, *extra: str) -> None:
    result = runner.invoke(app, [
        "train", "--data", str(data), "--out", str(out), "--epochs", "2", "--hidden-dim", "8",
        "--num-layers", "2", "--device", "cpu", "--cache-dir", "none", "--workers", "1",
        "--no-progress", *extra,
    ])
    assert result.exit_code == 0, result.output


GAUSSIAN = ("--head", "gaussian", "--target", "emission_nm", "--method", "lds")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("companion")
    data = write_deep4chem_csv(root / "fixture.csv")
    _train(data, root / "cls0", "--seed", "0", "--split-seed", "3")
    _train(data, root / "cls1", "--seed", "1", "--split-seed", "3")
    _train(data, root / "nm0", "--seed", "0", "--split-seed", "3", *GAUSSIAN)
    _train(data, root / "nm1", "--seed", "1", "--split-seed", "3", *GAUSSIAN)
    _train(data, root / "nm-other-split", "--seed", "0", "--split-seed", "4", *GAUSSIAN)
    return data, root


def _ship(run, out, *extra: str):
    return runner.invoke(app, ["model", "ship", str(run), "--out", str(out), "--name", "pair",
                               "--no-trust", "--no-progress", *extra])


@pytest.mark.slow
def test_ship_with_companion_serves_its_wavelength_and_the_models_levels(runs, tmp_path):
    data, root = runs
    out = tmp_path / "pair"
    result = _ship(root / "cls0", out, "--wavelength", str(root / "nm0"), "--data", str(data))
    assert result.exit_code == 0, result.output
    assert "wavelength companion" in result.output
    assert (out / "wavelength" / "checkpoint.pt").read_bytes() == (
        root / "nm0" / "checkpoint.pt").read_bytes()

    alone = Predictor.load(root / "cls0", device="cpu").predict(PROBE)
    companion = Predictor.load(root / "nm0", device="cpu").predict(PROBE)
    pair = Predictor.load(out, device="cpu").predict(PROBE)
    np.testing.assert_allclose(pair.probs, alone.probs, atol=1e-6)
    np.testing.assert_allclose(pair.emission_nm, companion.emission_nm, atol=1e-3)

    card = json.loads((out / "card.json").read_text())
    paths = model_checkpoint_paths(out)
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "checkpoint.pt", "wavelength/checkpoint.pt"]
    assert card["checkpoint_sha256"] == model_sha256(paths) != file_sha256(out / "checkpoint.pt")
    assert card["wavelength"]["method"] == "lds" and card["wavelength"]["members"] == 1
    assert np.isfinite(card["wavelength"]["valid"]["mae_nm"])
    assert np.isfinite(card["test_metrics"]["wavelength"]["mae_nm"])
    assert "Emission maximum" in (out / "README.md").read_text()
    shown = runner.invoke(app, ["model", "show", str(out)])
    assert shown.exit_code == 0 and "matches" in shown.output, shown.output
    assert "test emission MAE" in shown.output and "companion" in shown.output

    # the companion is part of the identity: changing it is a mismatch
    (out / "wavelength" / "checkpoint.pt").write_bytes(
        (root / "nm1" / "checkpoint.pt").read_bytes())
    shown = runner.invoke(app, ["model", "show", str(out)])
    assert shown.exit_code == 1 and "MISMATCH" in shown.output

    # shipping another run into the folder drops the old companion
    again = _ship(root / "cls1", out)
    assert again.exit_code == 0, again.output
    assert not (out / "wavelength").exists()
    assert Predictor.load(out, device="cpu").predict(PROBE).emission_nm is None


@pytest.mark.slow
def test_ensemble_with_two_companions(runs, tmp_path):
    data, root = runs
    out = tmp_path / "ens"
    result = runner.invoke(app, [
        "model", "ensemble", str(root / "cls0"), str(root / "cls1"), "--out", str(out),
        "--wavelength", str(root / "nm0"), "--wavelength", str(root / "nm1"),
        "--device", "cpu", "--cache-dir", "none", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "wavelength" / "ensemble.json").read_text())["members"] == [
        "member-0/checkpoint.pt", "member-1/checkpoint.pt"]
    predictor = Predictor.load(out, device="cpu")
    assert predictor.n_members == 2 and len(predictor.wavelength_members) == 2
    assert len(model_checkpoint_paths(out)) == 4
    card = json.loads((out / "card.json").read_text())
    assert card["checkpoint_sha256"] == model_sha256(model_checkpoint_paths(out))
    assert card["wavelength"]["members"] == 2


@pytest.mark.slow
def test_companion_errors_are_one_line_and_leave_no_folder(runs, tmp_path):
    data, root = runs
    out = tmp_path / "bad"
    result = _ship(root / "cls0", out, "--wavelength", str(root / "nm-other-split"))
    assert result.exit_code != 0
    assert "another split" in " ".join(result.output.split())
    assert not out.exists()
    result = _ship(root / "cls0", out, "--wavelength", str(root / "cls1"))
    assert result.exit_code != 0
    assert "wavelength head" in " ".join(result.output.split())
    assert not out.exists()
    result = _ship(root / "cls0", out, "--wavelength", str(tmp_path / "missing"))
    assert result.exit_code != 0 and "does not exist" in result.output
