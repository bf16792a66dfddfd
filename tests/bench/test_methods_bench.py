"""bench/methods.py: the grid's command lines, run keys, resuming, and the aggregated tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_loader import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    return load_bench("methods")


def _args(bench, tmp_path, *extra):
    data = tmp_path / "d.csv"
    data.write_text("x")
    return bench.parse_args([
        "--runs-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "results.md"),
        "--data", str(data), "--archive", str(tmp_path / "archive"), *extra,
    ])


def _fake_run(
    bench, args, setting: str, config: str, seed: int, tail2: float, per_level: dict[str, float],
    valid_bal: float = 0.4, *, epochs: int | None = None,
) -> Path:
    """A finished run folder as ``zincfluor train`` leaves it, trained with the configuration
    ``args`` asks for (or ``epochs`` instead of its epochs)."""
    requested = bench.requested_config(args, bench.SETTINGS[setting], bench.CONFIGS[config], seed)
    if epochs is not None:
        requested["trainer"]["epochs"] = epochs
    key = bench.config_hash(requested)
    folder = args.runs_dir / setting / config / f"seed{seed}-{key}"
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
    (folder / "config.json").write_text(json.dumps(dict(requested, out=str(folder))))
    return folder


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
    assert bench.mean_std_fraction([0.05, 0.07]) == "0.060 ± 0.014"
    assert bench.mean_std_fraction([0.05, None]) == "n/a"


# ----------------------------------------------------------------------------- run keys


def test_the_key_covers_every_setting_that_changes_a_run(bench, tmp_path):
    args = _args(bench, tmp_path)
    natural, ce = bench.SETTINGS["natural"], bench.CONFIGS["ce"]
    base = bench.requested_config(args, natural, ce, 0)
    key = bench.config_hash(base)
    changed = [
        dict(base, seed=1),
        dict(base, method="kps"),
        dict(base, method_hparams={"label_smoothing": 0.1}),
        dict(base, imbalance_ratio=1100.0),
        dict(base, split="scaffold"),
        dict(base, featurizer="deepchem"),
        dict(base, backbone="dmpnn"),
        dict(base, hidden_dim=64),
        dict(base, trainer=dict(base["trainer"], epochs=5)),
        dict(base, trainer=dict(base["trainer"], lr=0.1)),
        dict(base, data=dict(base["data"], path=str(tmp_path / "other.csv"))),
        dict(base, data=dict(base["data"], scheme="emission4")),
    ]
    keys = [bench.config_hash(config) for config in changed]
    assert key not in keys and len(set(keys)) == len(keys)
    # where and how it ran does not change what it learnt; nor does the data file's folder
    same = [
        dict(base, out="/elsewhere/run", device="cuda", cache_dir="none", n_jobs=4,
             loader="pyg", group_rule="thresholds", resolved={"device": "cuda"}),
        dict(base, data=dict(base["data"], path="/another/machine/d.csv")),
    ]
    assert {bench.config_hash(config) for config in same} == {key}


def test_a_config_written_before_a_setting_existed_has_that_settings_default(bench, tmp_path):
    args = _args(bench, tmp_path)
    current = bench.requested_config(args, bench.SETTINGS["natural"], bench.CONFIGS["ce"], 0)
    older = {k: v for k, v in current.items() if k not in ("backbone", "edge_drop", "target")}
    older["trainer"] = {k: v for k, v in current["trainer"].items() if k != "precision"}
    assert bench.config_hash(older) == bench.config_hash(current)
    assert bench.config_hash(dict(older, backbone="gine")) != bench.config_hash(current)


def test_the_archived_grid_is_keyed_as_the_default_request(bench):
    """The committed 100-epoch summaries are what the default command asks for."""
    archived = ROOT / "docs" / "results" / "runs" / "natural" / "ce" / "seed0.json"
    if not archived.is_file():
        pytest.skip("no archived ce run")
    args = bench.parse_args([])
    requested = bench.requested_config(args, bench.SETTINGS["natural"], bench.CONFIGS["ce"], 0)
    assert bench.config_hash(json.loads(archived.read_text())["config"]) == (
        bench.config_hash(requested))


# ----------------------------------------------------------------------------- training


def test_finished_runs_are_skipped_and_reported(bench, tmp_path, monkeypatch):
    args = _args(bench, tmp_path, "--settings", "natural", "--methods", "ce", "--seeds", "0,1,2")
    _fake_run(bench, args, "natural", "ce", 0, 0.30, {"a": 0.9, "b": 0.1})
    _fake_run(bench, args, "natural", "ce", 1, 0.50, {"a": 0.7, "b": 0.3})
    started = []

    def fake_run_one(command, out, threads):
        started.append(out)
        return out, 0, 1.0

    monkeypatch.setattr(bench, "run_one", fake_run_one)
    natural, ce = [bench.SETTINGS["natural"]], [bench.CONFIGS["ce"]]
    assert bench.train_grid(args, natural, ce, args.seeds) == 0
    assert started == [bench.Grid(args).out(natural[0], ce[0], 2)]
    assert started[0].name.startswith("seed2-")
    (tmp_path / "vision.md").write_text("## Images: CIFAR-10-LT\n")  # from bench/vision.py
    text = bench.build_report(args, natural, ce)
    assert text.rstrip().endswith("## Images: CIFAR-10-LT")
    row = next(line for line in text.splitlines() if line.startswith("| ce |"))
    assert "| 2 |" in row and "40.00 ± 14.14" in row  # tail top-2 of 0.3 and 0.5
    assert "| 0.100 ± 0.000 |" in row  # ECE as the fraction metrics.json holds
    assert "80.00 ± 14.14" in text  # per-level top-1 of level a
    assert "No finished runs" not in text


def test_runs_of_other_settings_are_neither_reused_nor_reported(bench, tmp_path, monkeypatch):
    """Issue 15: ``--seeds 0 --epochs 5`` must train 5-epoch runs, not report 100-epoch ones."""
    grid_args = _args(bench, tmp_path, "--seeds", "0,1,2")
    for seed in (0, 1, 2):
        _fake_run(bench, grid_args, "natural", "ce", seed, 0.3, {"a": 0.9, "b": 0.1})
    args = _args(bench, tmp_path, "--seeds", "0", "--epochs", "5", "--settings", "natural",
                 "--methods", "ce")
    started = []
    monkeypatch.setattr(bench, "run_one",
                        lambda command, out, threads: (started.append(command), (out, 1, 1.0))[1])
    natural, ce = [bench.SETTINGS["natural"]], [bench.CONFIGS["ce"]]
    assert bench.train_grid(args, natural, ce, args.seeds) == 1  # the stand-in run "failed"
    assert len(started) == 1 and started[0][started[0].index("--epochs") + 1] == "5"
    text = bench.build_report(args, natural, ce)
    assert "5 epochs, seeds 0" in text
    assert "No finished runs yet" in text and "| ce | 3 |" not in text

    _fake_run(bench, args, "natural", "ce", 0, 0.7, {"a": 0.5, "b": 0.5}, epochs=5)
    text = bench.build_report(args, natural, ce)
    row = next(line for line in text.splitlines() if line.startswith("| ce |"))
    assert "| 1 |" in row and "| 70.00 |" in row  # the 5-epoch run only
    assert bench.Grid(grid_args).runs(natural[0], ce[0])[0]["metrics"]["test"]["tail_top_2"] == 0.3


def test_archived_runs_count_as_finished_and_are_reported(bench, tmp_path):
    args = _args(bench, tmp_path, "--seeds", "0")
    _fake_run(bench, args, "ir1100", "bcl", 0, 0.25, {"a": 0.5, "b": 0.5})
    assert bench.archive_finished(args.runs_dir, args.archive) == 1
    assert bench.archive_finished(args.runs_dir, args.archive) == 0  # up to date: nothing rewritten
    (archived,) = (args.archive / "ir1100" / "bcl").glob("seed0-*.json")
    summary = json.loads(archived.read_text())
    assert "history" not in summary["metrics"] and summary["config"]["seed"] == 0
    assert archived.stem == f"seed0-{summary['config_hash']}"
    shutil.rmtree(args.runs_dir)  # a new machine: the run folders are gone, the archive is kept
    setting, bcl = bench.SETTINGS["ir1100"], bench.CONFIGS["bcl"]
    grid = bench.Grid(args)
    assert grid.is_finished(setting, bcl, 0)
    assert [r["metrics"]["test"]["tail_top_2"] for r in grid.runs(setting, bcl)] == [0.25]
    # bench/rare.py's reader: every run of a cell, whatever its key
    bench.ARCHIVE = args.archive
    try:
        assert [r["config"]["seed"] for r in bench.load_runs(args.runs_dir, "ir1100", "bcl")] == [0]
    finally:
        bench.ARCHIVE = None


# ----------------------------------------------------------------------------- docs and help


def test_the_report_is_printed_and_docs_are_written_only_when_asked(bench, tmp_path, capsys):
    common = ["--runs-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "results.md"),
              "--archive", str(tmp_path / "archive"), "--settings", "natural",
              "--methods", "ce", "--seeds", "0"]
    args = bench.parse_args(common)
    _fake_run(bench, args, "natural", "ce", 0, 0.3, {"a": 0.9, "b": 0.1})
    assert bench.main([*common, "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "| ce | 1 |" in out and "--write-docs" in out
    assert not (tmp_path / "results.md").exists() and not (tmp_path / "archive").exists()
    assert bench.main([*common, "--report-only", "--write-docs"]) == 0
    assert "| ce | 1 |" in (tmp_path / "results.md").read_text()
    assert list((tmp_path / "archive" / "natural" / "ce").glob("seed0-*.json"))


def test_help_shows_every_default(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 100)", "(default: 0,1,2)", "(default: natural,ir1100)",
                    "(default: auto)", "(default: 1)"):
        assert default in text
    assert "Nothing under docs/ is written without --write-docs" in text


def test_bad_seeds_are_one_clear_line(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--seeds", "0,a"])
    assert "--seeds takes whole numbers" in capsys.readouterr().err


# ----------------------------------------------------------------------------- tables


def test_tuning_family_row_is_chosen_on_validation_not_test(bench, tmp_path):
    args = _args(bench, tmp_path, "--seeds", "0,1")
    level = {"a": 0.5, "b": 0.5}
    # τ = 2 is best on validation but worst on test; τ = 0.5 is the reverse
    for seed in (0, 1):
        _fake_run(bench, args, "ir1100", "logit-adjust--tau0.5", seed, 0.9, level, 0.2)
        _fake_run(bench, args, "ir1100", "logit-adjust--tau2", seed, 0.1, level, 0.6)
        _fake_run(bench, args, "ir1100", "balanced-softmax", seed, 0.5, level, 0.4)
    grid = bench.Grid(args)
    setting = bench.SETTINGS["ir1100"]
    configs = list(bench.CONFIGS.values())
    rows = dict(bench.table_rows(grid, setting, configs))
    assert "balanced-softmax" in rows
    chosen = next(name for name in rows if name.startswith("logit-adjust"))
    assert "τ = 2" in chosen and "chosen on validation" in chosen
    assert [r["metrics"]["test"]["tail_top_2"] for r in rows[chosen]] == [0.1, 0.1]
    table = bench.tuning_table(grid, setting, configs)
    marked = [line for line in table.splitlines() if line.endswith("| chosen |")]
    assert len(marked) == 1 and "τ = 2" in marked[0]
    assert "τ = 1 (= balanced-softmax)" in table and "| 60.00 ± 0.00 |" in table


def test_headline_carries_average_precision_of_red_and_far_red_where_recorded(bench, tmp_path):
    args = _args(bench, tmp_path, "--seeds", "0,1")
    level = {"a": 0.5, "b": 0.5}
    for seed, ap in ((0, 0.4), (1, 0.6)):
        folder = _fake_run(bench, args, "natural", "ce", seed, 0.3, level)
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["test"]["retrieval"] = {"groups": {"red+": {"average_precision": ap},
                                                   "far-red+": {"average_precision": None}}}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    _fake_run(bench, args, "natural", "bcl", 0, 0.3, level)  # before retrieval metrics
    configs = [bench.CONFIGS["ce"], bench.CONFIGS["bcl"]]
    text = bench.setting_tables(bench.Grid(args), bench.SETTINGS["natural"], configs)
    header = next(line for line in text.splitlines() if line.startswith("| method |"))
    assert "| ECE (fraction) | AP red+ | AP far-red+ |" in header
    ce = next(line for line in text.splitlines() if line.startswith("| ce |"))
    assert "| 50.00 ± 14.14 | n/a |" in ce
    bcl = next(line for line in text.splitlines() if line.startswith("| bcl |"))
    assert "| n/a | n/a |" in bcl


def test_ablation_table_reads_nested_columns(bench, tmp_path):
    args = _args(bench, tmp_path, "--seeds", "0")
    _fake_run(bench, args, "natural", "los", 0, 0.3, {"a": 0.5, "b": 0.5})
    table = bench.ablation_table(bench.Grid(args), bench.SETTINGS["natural"])
    assert table.splitlines()[-1].startswith("| los (stage-2 label over-smoothing")
    assert table.splitlines()[-1].endswith("| n/a | n/a |")  # no retrieval block recorded


def test_rebuilding_the_report_keeps_other_scripts_marked_sections(bench, tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Old title\n\n<!-- rare:start -->\nrare tables\n<!-- rare:end -->\n\n"
                       "old method tables\n<!-- peers:start -->\npeer rows\n<!-- peers:end -->\n")
    text = bench.keep_marked_sections("# Results\n\nnew method tables\n", results)
    assert text.startswith("# Results\n\n<!-- rare:start -->\nrare tables\n<!-- rare:end -->")
    assert "peer rows" in text and "new method tables" in text
    assert "old method tables" not in text and "Old title" not in text
    assert bench.keep_marked_sections("# R\nx\n", tmp_path / "missing.md") == "# R\nx\n"


@pytest.mark.slow
def test_a_one_epoch_run_is_keyed_as_requested(bench, tmp_path, deep4chem_fixture, capsys):
    """A real ``zincfluor train`` run: the key of the config.json it writes is the key of the
    request, so the next call finds it finished and trains nothing."""
    common = ["--data", str(deep4chem_fixture), "--runs-dir", str(tmp_path / "runs"),
              "--results", str(tmp_path / "results.md"), "--archive", str(tmp_path / "archive"),
              "--settings", "natural", "--methods", "ce", "--seeds", "0", "--epochs", "1",
              "--device", "cpu", "--threads", "1"]
    assert bench.main(common) == 0
    assert "1 runs to train" in capsys.readouterr().out
    (run,) = (tmp_path / "runs" / "natural" / "ce").iterdir()
    config = json.loads((run / "config.json").read_text())
    assert run.name == f"seed0-{bench.config_hash(config)}"
    assert config["trainer"]["epochs"] == 1
    assert bench.main(common) == 0
    out = capsys.readouterr().out
    assert "0 runs to train" in out and "| ce | 1 |" in out
    assert not (tmp_path / "archive").exists() and not (tmp_path / "results.md").exists()
