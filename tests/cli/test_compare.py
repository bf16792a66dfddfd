"""``zincfluor compare RUN...``: settings that differ and main metrics side by side (issue 15)."""

import csv
import json

import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.runs.compare import compare_runs, comparison_markdown, run_labels

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- two real runs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two one-epoch runs on the Deep4Chem fixture: ce, and balanced-softmax at another lr."""
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("compare")
    data = write_deep4chem_csv(root / "measurements.csv")
    runs = []
    for name, extra in (("ce", []), ("bs", ["--method", "balanced-softmax", "--lr", "0.05"])):
        run = root / name
        result = runner.invoke(app, [
            "train", "--data", str(data), "--out", str(run), "--epochs", "1", "--hidden-dim",
            "8", "--num-layers", "1", "--batch-size", "16", "--cache-dir", "none", "--workers",
            "1", "--no-progress", "--device", "cpu", *extra,
        ])
        assert result.exit_code == 0, result.output
        runs.append(run)
    return runs


@pytest.mark.slow
def test_compare_two_trained_runs(two_runs, tmp_path):
    md, table = tmp_path / "cmp.md", tmp_path / "cmp.csv"
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--markdown", str(md),
                                 "--csv", str(table)], env=WIDE)
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    # the settings that differ, and only those
    assert "method │ ce │ balanced-softmax" in text
    assert "trainer.lr │ 0.01 │ 0.05" in text
    assert "hidden_dim" not in text and "trainer.epochs" not in text and "│ out" not in text
    for label in ("balanced accuracy (%)", "head accuracy (%)", "AP red+ (%)",
                  "AP far-red+ (%)", "ECE (fraction)"):
        assert label in text, label
    assert "MAE (nm)" not in text  # no wavelength head in either run

    metrics = [json.loads((run / "metrics.json").read_text())["test"] for run in two_runs]
    rows = {row["name"]: row for row in csv.DictReader(table.open())}
    assert list(rows["method"].values()) == ["setting", "method", "ce", "balanced-softmax"]
    for k, run in enumerate(two_runs):
        value = float(rows["balanced accuracy (%)"][run.name])
        assert value == pytest.approx(100 * metrics[k]["balanced_accuracy"])
        ap = metrics[k]["retrieval"]["groups"]["red+"]["average_precision"]
        assert float(rows["AP red+ (%)"][run.name]) == pytest.approx(100 * ap)
    markdown = md.read_text()
    assert "| | ce | bs |" in markdown and "| method | ce | balanced-softmax |" in markdown
    assert "### Metrics (test split)" in markdown


# --- hand-written run folders ------------------------------------------------------------------


def _block(balanced, ece, ap_red=None, mae=None):
    block = {"n": 100, "top1": balanced, "balanced_accuracy": balanced, "macro_f1": balanced,
             "head": 0.9, "medium": 0.5, "tail": None, "tail_top_2": 0.25, "ece": ece}
    if ap_red is not None:
        block["retrieval"] = {"groups": {"red+": {"average_precision": ap_red}}}
    if mae is not None:
        block["wavelength"] = {"mae_nm": mae, "n_known": 100, "interval": 0.8,
                               "interval_coverage": 0.75}
    return block


def _write_run(folder, config, test, valid=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    metrics = {"best_epoch": 3, "test": test, "valid": valid or test}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def written_runs(tmp_path):
    base = {"out": "x", "method": "kps", "seed": 0, "trainer": {"epochs": 60, "lr": 0.01},
            "method_hparams": {}, "resolved": {"method_hparams": {"scale": 15.0},
                                              "model_spec": {"huge": 1}}}
    other = json.loads(json.dumps(base))
    other["out"] = "y"
    other["seed"] = 1
    other["method_hparams"] = {"scale": 30.0}
    other["resolved"]["method_hparams"]["scale"] = 30.0
    a = _write_run(tmp_path / "gcn-kps" / "seed0", base, _block(0.5, 0.10, ap_red=0.6),
                   valid=_block(0.7, 0.2))
    b = _write_run(tmp_path / "gcn-kps" / "seed1", other, _block(0.6, 0.05, ap_red=0.4, mae=40.0))
    return a, b


def test_compare_runs_reads_differences_and_metrics(written_runs):
    comparison = compare_runs(written_runs)
    assert comparison.labels == ["seed0", "seed1"]
    config = {row.label: row.values for row in comparison.config}
    assert config == {"seed": [0, 1], "method.scale": [15.0, 30.0]}  # no out, no model_spec
    metrics = {row.label: row for row in comparison.metrics}
    assert metrics["balanced accuracy (%)"].values == [50.0, 60.0]
    assert metrics["balanced accuracy (%)"].best() == {1}
    assert metrics["ECE (fraction)"].values == [0.1, 0.05]
    assert metrics["ECE (fraction)"].best() == {1}
    assert metrics["AP red+ (%)"].best() == {0}
    assert metrics["MAE (nm)"].values == [None, 40.0]
    assert "tail accuracy (%)" not in metrics  # no run has it


def test_markdown_marks_the_best_value(written_runs):
    markdown = comparison_markdown(compare_runs(written_runs))
    assert "| balanced accuracy (%) | 50.00 | **60.00** |" in markdown
    assert "| MAE (nm) | — | 40.00 |" in markdown
    assert "| method.scale | 15.0 | 30.0 |" in markdown


def test_the_validation_split(written_runs):
    comparison = compare_runs(written_runs, split="valid")
    rows = {row.label: row.values for row in comparison.metrics}
    assert rows["balanced accuracy (%)"] == [70.0, 60.0]


def test_same_settings_are_said_so(tmp_path):
    config = {"method": "ce", "seed": 0}
    a = _write_run(tmp_path / "a", config, _block(0.5, 0.1))
    b = _write_run(tmp_path / "b", config, _block(0.6, 0.1))
    result = runner.invoke(app, ["compare", str(a), str(b), "--markdown", str(tmp_path / "m.md")],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    assert "the same" in result.output
    assert "The runs' settings are the same." in (tmp_path / "m.md").read_text()


def test_an_ensemble_folder_reads_its_first_member(tmp_path):
    ensemble = tmp_path / "ens"
    (ensemble / "member-0").mkdir(parents=True)
    (ensemble / "ensemble.json").write_text('{"members": ["member-0/checkpoint.pt", "m1"]}')
    (ensemble / "member-0" / "config.json").write_text('{"method": "kps"}')
    (ensemble / "metrics.json").write_text(json.dumps({"test": _block(0.7, 0.1)}))
    single = _write_run(tmp_path / "single", {"method": "kps"}, _block(0.6, 0.1))
    config = {row.label: row.values for row in compare_runs([ensemble, single]).config}
    assert config == {"ensemble_members": [2, None]}


def test_labels_are_the_shortest_unique_tails(tmp_path):
    paths = [tmp_path / "a" / "kps" / "seed0", tmp_path / "b" / "kps" / "seed0",
             tmp_path / "b" / "ce" / "seed0"]
    assert run_labels(paths) == ["a/kps/seed0", "b/kps/seed0", "b/ce/seed0"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda root: root / "missing", "run folder {path} does not exist"),
    (lambda root: root, "{path} has no metrics.json (not a finished run)"),
])
def test_not_a_run(tmp_path, make, message):
    path = make(tmp_path)
    result = runner.invoke(app, ["compare", str(path)], env=WIDE)
    assert result.exit_code == 2
    assert result.output.strip() == "error: " + message.format(path=path) + (
        "; pass folders written by `zincfluor train`"
        + (", `vision train`, `model calibrate` or `model ensemble`"
           if "metrics" in message else "")
    )


def test_a_damaged_metrics_file(tmp_path):
    (tmp_path / "metrics.json").write_text("{not json")
    result = runner.invoke(app, ["compare", str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and "metrics.json is not valid JSON" in result.output


def test_the_output_folder_must_exist(written_runs, tmp_path):
    result = runner.invoke(app, ["compare", *map(str, written_runs), "--markdown",
                                 str(tmp_path / "nowhere" / "c.md")], env=WIDE)
    assert result.exit_code == 2 and "does not exist; create it first" in result.output
