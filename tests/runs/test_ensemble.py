"""``zincfluor model ensemble``: runs on one split -> one ensemble folder that predict, evaluate
and model show use with every member."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions
from zincfluor.screening.predictor import Predictor

runner = CliRunner()
PROBE = ["CCO", "c1ccccc1CCC", "N#CCCC", "OC(=O)CCC", "CCCCl"]


def _train(data, out, *extra: str) -> None:
    result = runner.invoke(app, [
        "train", "--data", str(data), "--out", str(out), "--epochs", "2", "--hidden-dim", "8",
        "--num-layers", "2", "--device", "cpu", "--cache-dir", "none", "--workers", "1",
        "--no-progress", *extra,
    ])
    assert result.exit_code == 0, result.output


def _ensemble(*args: str):
    return runner.invoke(app, ["model", "ensemble", *args, "--device", "cpu",
                               "--cache-dir", "none", "--no-progress"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("ensemble")
    data = write_deep4chem_csv(root / "fixture.csv")
    for seed in (0, 1):
        _train(data, root / f"seed{seed}", "--seed", str(seed), "--split-seed", "3")
    _train(data, root / "other-split", "--seed", "1")
    return data, root


@pytest.mark.slow
def test_ensemble_folder_predicts_evaluates_and_verifies(runs, tmp_path):
    data, root = runs
    a, b = root / "seed0", root / "seed1"
    out = tmp_path / "ens"
    result = _ensemble(str(a), str(b), "--out", str(out), "--name", "tiny-ensemble")
    assert result.exit_code == 0, result.output
    assert "ensemble of 2" in result.output

    assert json.loads((out / "ensemble.json").read_text()) == {
        "members": ["member-0/checkpoint.pt", "member-1/checkpoint.pt"]}
    assert (out / "member-0" / "checkpoint.pt").read_bytes() == (a / "checkpoint.pt").read_bytes()
    assert (out / "member-1" / "checkpoint.pt").read_bytes() == (b / "checkpoint.pt").read_bytes()
    assert (out / "split.json").read_text() == (a / "split.json").read_text()
    card = json.loads((out / "card.json").read_text())
    assert card["name"] == "tiny-ensemble" and card["split"]["seed"] == 3
    assert "model ensemble" in card["command"] and "red+" in card["test_metrics"]["retrieval"][
        "groups"]
    assert "# tiny-ensemble" in (out / "README.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    split = json.loads((a / "split.json").read_text())
    assert metrics["valid"]["n"] == len(split["valid"]) and metrics["test"]["n"] == len(
        split["test"])

    shown = runner.invoke(app, ["model", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "matches" in shown.output

    # predict: the mean of the members' probabilities
    library = tmp_path / "library.smi"
    library.write_text("\n".join(PROBE) + "\n")
    predictions = tmp_path / "pred.csv"
    done = runner.invoke(app, ["predict", str(library), "--model", str(out), "--out",
                               str(predictions), "--device", "cpu", "--no-progress"])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(predictions.open()))
    columns = [c for c in rows[0] if c.startswith("p_")]
    got = np.array([[float(row[c]) for c in columns] for row in rows])
    members = [Predictor.load(run, device="cpu").predict(PROBE).probs for run in (a, b)]
    np.testing.assert_allclose(got, np.mean(members, axis=0), atol=1e-5)

    # evaluate --exclude-seen: the ensemble's test split, with every member
    evaluated = tmp_path / "eval"
    done = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data),
                               "--exclude-seen", "--out", str(evaluated), "--device", "cpu",
                               "--cache-dir", "none", "--no-progress"])
    assert done.exit_code == 0, done.output
    test = json.loads((evaluated / "metrics.json").read_text())
    assert test["n"] == metrics["test"]["n"]
    assert test["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    assert test["ece"] == pytest.approx(metrics["test"]["ece"])
    alone = evaluate_run(a, DataOptions(str(data)), device="cpu", cache_dir="none",
                         exclude_seen=True, progress=False)
    assert alone["ece"] != pytest.approx(test["ece"], abs=1e-9)


@pytest.mark.slow
def test_members_on_other_splits_are_refused_in_one_line(runs, tmp_path):
    _, root = runs
    result = _ensemble(str(root / "seed0"), str(root / "other-split"), "--out",
                       str(tmp_path / "ens"))
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps the one line at the terminal width
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert "were trained on different splits" in message
    assert "seed0 and" in message and "other-split" in message
    assert not (tmp_path / "ens").exists()


@pytest.mark.slow
def test_members_reading_molecules_differently_are_refused(runs, tmp_path):
    data, root = runs
    morgan = tmp_path / "morgan"
    _train(data, morgan, "--seed", "2", "--split-seed", "3", "--molecule-features", "morgan",
           "--morgan-bits", "64")
    result = _ensemble(str(root / "seed0"), str(morgan), "--out", str(tmp_path / "ens"))
    assert result.exit_code == 2
    assert "different molecule_features settings" in result.output


@pytest.mark.slow
def test_a_single_run_or_an_existing_folder_is_refused(runs, tmp_path):
    _, root = runs
    result = _ensemble(str(root / "seed0"), "--out", str(tmp_path / "ens"))
    assert result.exit_code == 2 and "at least two" in result.output
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "note.txt").write_text("x")
    result = _ensemble(str(root / "seed0"), str(root / "seed1"), "--out", str(taken))
    # rich wraps long lines at the console width, which depends on the temporary path's length
    assert result.exit_code == 2 and "already holds files" in " ".join(result.output.split())


@pytest.mark.slow
def test_gaussian_ensemble_reports_the_mixture_wavelength(runs, tmp_path):
    data, _ = runs
    members = []
    for seed in (0, 1):
        run = tmp_path / f"g{seed}"
        _train(data, run, "--seed", str(seed), "--split-seed", "3", "--head", "gaussian",
               "--target", "emission_nm", "--method", "lds")
        members.append(str(run))
    result = _ensemble(*members, "--out", str(tmp_path / "ens"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    for part in ("valid", "test"):
        block = metrics[part]["wavelength"]
        assert np.isfinite(block["mae_nm"]) and 0.0 <= block["interval_coverage"] <= 1.0
