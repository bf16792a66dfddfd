"""bench/methods.py: the grid's command lines, resuming, and the aggregated tables."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_methods", ROOT / "bench" / "methods.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _fake_run(
    folder: Path, seed: int, tail2: float, per_level: dict[str, float], valid_bal: float = 0.4
) -> None:
    folder.mkdir(parents=True)
    test = {
        "top1": 0.5, "balanced_accuracy": 0.4, "macro_f1": 0.3, "ece": 0.1,
        "tail_top_2": tail2, "tail_top_4": 0.2, "tail_top_6": 0.25,
        "per_level_top1": per_level, "class_names": ["a", "b"], "train_counts": [10, 1],
    }
    valid = dict(test, balanced_accuracy=valid_bal)
    metrics = {"test": test, "valid": valid, "seconds_per_epoch": 2.0, "device": "cpu",
               "history": [{"epoch": 1}]}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps({"seed": seed}))


def test_every_config_names_a_registered_method(bench):
    from zincfluor.methods import METHODS

    missing = {c.method for c in bench.CONFIGS.values()} - set(METHODS)
    assert not missing, f"bench configs name unregistered methods: {missing}"


def test_command_carries_setting_and_hparams(bench, tmp_path):
    args = bench.parse_args(["--epochs", "7", "--data", str(tmp_path / "d.csv")])
    config = bench.CONFIGS["bscl-sor--no-sor"]
    command = bench.train_command(args, bench.SETTINGS["ir1100"], config, 2, tmp_path / "o")
    assert command[:2] == ["zincfluor", "train"]
    assert command[command.index("--imbalance-ratio") + 1] == "1100"
    assert command[command.index("--seed") + 1] == "2"
    assert command[command.index("--epochs") + 1] == "7"
    assert "no_sor=true" in command
    natural = bench.train_command(args, bench.SETTINGS["natural"], config, 0, tmp_path / "o")
    assert "--imbalance-ratio" not in natural


def test_mean_std_uses_sample_std_in_percent(bench):
    assert bench.mean_std([0.1, 0.2, 0.3]) == "20.00 ± 10.00"
    assert bench.mean_std([0.5]) == "50.00"
    assert bench.mean_std([0.5, None]) == "n/a"


def test_finished_runs_are_skipped_and_reported(bench, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    _fake_run(runs / "natural" / "ce" / "seed0", 0, 0.30, {"a": 0.9, "b": 0.1})
    _fake_run(runs / "natural" / "ce" / "seed1", 1, 0.50, {"a": 0.7, "b": 0.3})
    data = tmp_path / "d.csv"
    data.write_text("x")
    started = []

    def fake_run_one(command, out, threads):
        started.append(out)
        return out, 0, 1.0

    monkeypatch.setattr(bench, "run_one", fake_run_one)
    args = bench.parse_args([
        "--runs-dir", str(runs), "--results", str(tmp_path / "results.md"), "--data", str(data),
        "--archive", str(tmp_path / "archive"),
        "--settings", "natural", "--methods", "ce", "--seeds", "0,1,2",
    ])
    natural, ce = [bench.SETTINGS["natural"]], [bench.CONFIGS["ce"]]
    assert bench.train_grid(args, natural, ce, args.seeds) == 0
    assert started == [runs / "natural" / "ce" / "seed2"]
    (tmp_path / "vision.md").write_text("## Images: CIFAR-10-LT\n")  # from bench/vision.py
    text = bench.write_report(args, natural, ce)
    assert text.rstrip().endswith("## Images: CIFAR-10-LT")
    row = next(line for line in text.splitlines() if line.startswith("| ce |"))
    assert "| 2 |" in row and "40.00 ± 14.14" in row  # tail top-2 of 0.3 and 0.5
    assert "80.00 ± 14.14" in text  # per-level top-1 of level a
    assert "No finished runs" not in text


def test_archived_runs_count_as_finished_and_are_reported(bench, tmp_path, monkeypatch):
    runs, archive = tmp_path / "runs", tmp_path / "archive"
    _fake_run(runs / "ir1100" / "bcl" / "seed0", 0, 0.25, {"a": 0.5, "b": 0.5})
    assert bench.archive_finished(runs, archive) == 1
    assert bench.archive_finished(runs, archive) == 0  # up to date: nothing rewritten
    summary = json.loads((archive / "ir1100" / "bcl" / "seed0.json").read_text())
    assert "history" not in summary["metrics"] and summary["config"]["seed"] == 0
    shutil.rmtree(runs)  # a new machine: the run folders are gone, the archive is committed
    assert bench.is_finished(runs / "ir1100" / "bcl" / "seed0", archive / "ir1100" / "bcl" /
                             "seed0.json")
    monkeypatch.setattr(bench, "ARCHIVE", archive)
    loaded = bench.load_runs(runs, "ir1100", "bcl")
    assert [r["metrics"]["test"]["tail_top_2"] for r in loaded] == [0.25]


def test_tuning_family_row_is_chosen_on_validation_not_test(bench, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    level = {"a": 0.5, "b": 0.5}
    # τ = 2 is best on validation but worst on test; τ = 0.5 is the reverse
    for seed in (0, 1):
        _fake_run(runs / "ir1100" / "logit-adjust--tau0.5" / f"seed{seed}", seed, 0.9, level, 0.2)
        _fake_run(runs / "ir1100" / "logit-adjust--tau2" / f"seed{seed}", seed, 0.1, level, 0.6)
        _fake_run(runs / "ir1100" / "balanced-softmax" / f"seed{seed}", seed, 0.5, level, 0.4)
    monkeypatch.setattr(bench, "ARCHIVE", None)
    setting = bench.SETTINGS["ir1100"]
    configs = list(bench.CONFIGS.values())
    rows = dict(bench.table_rows(runs, setting, configs))
    assert "balanced-softmax" in rows
    chosen = next(name for name in rows if name.startswith("logit-adjust"))
    assert "τ = 2" in chosen and "chosen on validation" in chosen
    assert [r["metrics"]["test"]["tail_top_2"] for r in rows[chosen]] == [0.1, 0.1]
    table = bench.tuning_table(runs, setting, configs)
    marked = [line for line in table.splitlines() if line.endswith("| chosen |")]
    assert len(marked) == 1 and "τ = 2" in marked[0]
    assert "τ = 1 (= balanced-softmax)" in table and "| 60.00 ± 0.00 |" in table


def test_headline_carries_average_precision_of_red_and_far_red_where_recorded(bench, tmp_path,
                                                                           monkeypatch):
    runs = tmp_path / "runs"
    level = {"a": 0.5, "b": 0.5}
    _fake_run(runs / "natural" / "ce" / "seed0", 0, 0.3, level)
    _fake_run(runs / "natural" / "ce" / "seed1", 1, 0.3, level)
    for seed, ap in ((0, 0.4), (1, 0.6)):
        path = runs / "natural" / "ce" / f"seed{seed}" / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["test"]["retrieval"] = {"groups": {"red+": {"average_precision": ap},
                                                   "far-red+": {"average_precision": None}}}
        path.write_text(json.dumps(metrics))
    _fake_run(runs / "natural" / "bcl" / "seed0", 0, 0.3, level)  # before retrieval metrics
    monkeypatch.setattr(bench, "ARCHIVE", None)
    configs = [bench.CONFIGS["ce"], bench.CONFIGS["bcl"]]
    text = bench.setting_tables(runs, bench.SETTINGS["natural"], configs)
    header = next(line for line in text.splitlines() if line.startswith("| method |"))
    assert "| AP red+ | AP far-red+ |" in header
    ce = next(line for line in text.splitlines() if line.startswith("| ce |"))
    assert "| 50.00 ± 14.14 | n/a |" in ce
    bcl = next(line for line in text.splitlines() if line.startswith("| bcl |"))
    assert "| n/a | n/a |" in bcl


def test_rebuilding_the_report_keeps_other_scripts_marked_sections(bench, tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Old title\n\n<!-- rare:start -->\nrare tables\n<!-- rare:end -->\n\n"
                       "old method tables\n<!-- peers:start -->\npeer rows\n<!-- peers:end -->\n")
    text = bench.keep_marked_sections("# Results\n\nnew method tables\n", results)
    assert text.startswith("# Results\n\n<!-- rare:start -->\nrare tables\n<!-- rare:end -->")
    assert "peer rows" in text and "new method tables" in text
    assert "old method tables" not in text and "Old title" not in text
    assert bench.keep_marked_sections("# R\nx\n", tmp_path / "missing.md") == "# R\nx\n"
