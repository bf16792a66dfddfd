"""The CLI end to end: train 2 epochs on a fixture, then evaluate and predict with the run."""

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from zincfluor.cli import app

runner = CliRunner()

SMI = """\
CCO ethanol
C1CC broken-ring

c1ccccc1CCC propylbenzene
not_a_smiles typo
N#CCCC butyronitrile
"""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("e2e")
    data = write_deep4chem_csv(root / "measurements.csv")
    run = root / "run"
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(run), "--epochs", "2", "--seed", "1",
         "--hidden-dim", "16", "--batch-size", "16", "--cache-dir", "none", "--workers", "1",
         "--no-progress", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    return data, run, result.output


def test_train_writes_a_complete_run_folder(trained_run):
    _, run, output = trained_run
    for name in ("config.json", "split.json", "checkpoint.pt", "metrics.json", "per_level.md",
                 "per_level.csv", "confusion_matrix.png", "training_curves.png", "bad_rows.csv"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "ce" and config["trainer"]["epochs"] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert metrics["test"]["n"] > 0 and 0.0 <= metrics["test"]["balanced_accuracy"] <= 1.0
    assert "balanced accuracy" in output and "run folder" in output
    # not a terminal: plain progress lines instead of a live bar
    assert "epoch 1/2: loss" in output and "epoch 2/2: loss" in output


def test_checkpoint_holds_everything_needed_to_predict(trained_run):
    _, run, _ = trained_run
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    metadata = checkpoint["metadata"]
    assert metadata["label_scheme"]["names"][7] == "near-infrared"
    assert metadata["featurizer"]["backend"] == "zincfluor"
    assert len(checkpoint["class_counts"]) == 8
    assert checkpoint["method"]["name"] == "ce"
    assert checkpoint["model_spec"]["backbone"]["hidden_dim"] == 16
    assert {"torch", "rdkit", "torch_geometric", "zincfluor"} <= set(checkpoint["versions"])


def test_predict_smi_keeps_every_row_in_order(trained_run, tmp_path):
    _, run, _ = trained_run
    source = tmp_path / "library.smi"
    source.write_text(SMI)
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["predict", "--model", str(run), str(source), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["smiles"] for r in rows] == [
        "CCO", "C1CC", "", "c1ccccc1CCC", "not_a_smiles", "N#CCCC"
    ]
    assert [r["id"] for r in rows] == [
        "ethanol", "broken-ring", "", "propylbenzene", "typo", "butyronitrile"
    ]
    statuses = [r["status"] for r in rows]
    assert statuses == ["ok", "invalid", "invalid", "ok", "invalid", "ok"]
    assert rows[1]["reason"] == "unclosed ring"
    assert [r["row"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    prob_columns = [c for c in rows[0] if c.startswith("p_")]
    assert len(prob_columns) == 8 and "p_near-infrared" in prob_columns
    for row in rows:
        if row["status"] == "ok":
            assert sum(float(row[c]) for c in prob_columns) == pytest.approx(1.0, abs=1e-4)
            assert row["level"] == prob_columns[int(row["level_index"])].removeprefix("p_")
            assert row["canonical_smiles"] and float(row["rare_score"]) > 0
        else:
            assert row["level"] == "" and row[prob_columns[0]] == "" and row["reason"]
    assert "6 rows" in result.output and "3 invalid" in result.output


def test_predict_csv_and_stdin_agree(trained_run, tmp_path):
    _, run, _ = trained_run
    source = tmp_path / "library.csv"
    source.write_text("name,SMILES\nethanol,CCO\nbad,C1CC\nnitrile,N#CCCC\n")
    out_csv = tmp_path / "from_csv.csv"
    result = runner.invoke(
        app, ["predict", "--model", str(run), str(source), "--out", str(out_csv), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    out_stdin = tmp_path / "from_stdin.csv"
    result = runner.invoke(
        app,
        ["predict", "--model", str(run / "checkpoint.pt"), "-", "--out", str(out_stdin)],
        input="CCO\nC1CC\nN#CCCC\n",
    )
    assert result.exit_code == 0, result.output
    from_csv = list(csv.DictReader(out_csv.open()))
    from_stdin = list(csv.DictReader(out_stdin.open()))
    assert [r["SMILES"] for r in from_csv] == ["CCO", "C1CC", "N#CCCC"]
    for a, b in zip(from_csv, from_stdin, strict=True):
        assert a["status"] == b["status"] and a["p_blue"] == b["p_blue"]
    assert [r["name"] for r in from_csv] == ["ethanol", "bad", "nitrile"]  # columns kept


def test_evaluate_on_a_data_set(trained_run, tmp_path):
    data, run, _ = trained_run
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(run), "--data", str(data), "--out", str(out),
         "--cache-dir", "none", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 80
    assert (out / "confusion_matrix.png").is_file()
    red = metrics["retrieval"]["groups"]["red+"]
    assert red["levels"] == ["red", "far-red", "near-infrared"] and red["n_positive"] > 0
    assert 0.0 <= red["average_precision"] <= 1.0
    assert "ranking the rare levels" in result.output
    for column in ("AP", "ROC-AUC", "P@100", "EF 1%", "far-red+"):
        assert column in result.output, column
    assert "| red+ |" in (out / "per_level.md").read_text()


def test_version_names_the_packages_predictions_depend_on():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    for package in ("zincfluor", "torch", "torch_geometric", "rdkit", "python"):
        assert package in result.output


def test_methods_lists_ce():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    assert "ce" in result.output and "cross-entropy" in result.output


def test_data_stats_prints_counts_and_t(deep4chem_fixture):
    result = runner.invoke(app, ["data", "stats", "--data", str(deep4chem_fixture)])
    assert result.exit_code == 0, result.output
    assert "near-infrared" in result.output
    assert "T =" in result.output and "imbalance ratio" in result.output


def test_predict_on_an_empty_file_is_an_error_not_an_empty_result(trained_run, tmp_path):
    _, run, _ = trained_run
    source = tmp_path / "empty.smi"
    source.write_text("")
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", "--model", str(run), str(source), "--out", str(out)])
    assert result.exit_code == 2
    assert "holds no molecules" in result.output
    assert not out.exists()


def test_errors_are_one_clear_line(tmp_path):
    result = runner.invoke(
        app, ["predict", "--model", str(tmp_path), "x.smi", "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
    source = tmp_path / "in.smi"
    source.write_text("CCO\n")
    result = runner.invoke(
        app, ["predict", "--model", str(tmp_path), str(source), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "no checkpoint" in result.output
    assert "Traceback" not in result.output


def test_evaluate_excluding_seen_molecules_reproduces_the_test_split(trained_run, tmp_path):
    data, run, _ = trained_run
    out = tmp_path / "eval_unseen"
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(run), "--data", str(data), "--out", str(out),
         "--exclude-seen", "--cache-dir", "none", "--no-progress", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert "were in this model's training or validation split" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    run_test = json.loads((run / "metrics.json").read_text())["test"]
    assert metrics["n"] == run_test["n"]
    assert metrics["confusion_matrix"] == run_test["confusion_matrix"]
    assert metrics["balanced_accuracy"] == pytest.approx(run_test["balanced_accuracy"])


@pytest.mark.slow
def test_train_with_deepchem_features_and_scaffold_split(tmp_path):
    """The alternative featurizer trains on a scaffold split and is recorded in the checkpoint."""
    from molecule_fixtures import write_scaffold_csv

    data = write_scaffold_csv(tmp_path / "measurements.csv")
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(run), "--epochs", "1", "--featurizer",
         "deepchem", "--split", "scaffold", "--hidden-dim", "8", "--cache-dir", "none",
         "--workers", "1", "--no-progress", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["metadata"]["featurizer"]["backend"] == "deepchem"
    assert checkpoint["model_spec"]["backbone"]["in_dim"] == 30
    split = json.loads((run / "split.json").read_text())
    assert split["kind"] == "scaffold"
    assert split["valid"] and split["test"]


def test_single_atom_molecules_are_skipped_as_out_of_scope_before_featurization(tmp_path):
    """Methane, water, a lone ion: out of a model's scope, reported as skipped rows (DeepChem,
    which cannot featurize a single atom, never sees them)."""
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "measurements.csv")
    with open(data, "a", encoding="utf-8") as handle:
        handle.write("999,C,O,300,420" + ",NaN" * 8 + ",test\n")
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
         "--featurizer", "deepchem", "--hidden-dim", "8", "--cache-dir", "none", "--workers",
         "1", "--no-progress", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert "3 skipped" in result.output
    bad_rows = (tmp_path / "run" / "bad_rows.csv").read_text()
    assert "out of scope: a lone atom or ion" in bad_rows
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert "C" not in split["train_smiles"] + split["valid_smiles"] + split["test_smiles"]


def test_a_split_with_an_empty_part_is_a_clear_error(tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "measurements.csv")  # nearly all acyclic: 1 scaffold
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
         "--split", "scaffold", "--cache-dir", "none", "--no-progress"],
    )
    assert result.exit_code == 2
    assert "scaffold split left" in result.output and "--split stratified" in result.output
