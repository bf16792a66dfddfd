"""bench/vision.py: command lines, archiving of finished runs and the CIFAR-10-LT table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_loader import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("vision")


def _fake_run(folder: Path, seed: int, tail: float, seconds: float = 100.0) -> None:
    folder.mkdir(parents=True)
    groups = {"head": 0.9, "medium": 0.6, "tail": tail, "all": 0.7}
    metrics = {
        "best_epoch": 3, "seconds": seconds, "seconds_per_epoch": seconds / 4, "device": "cuda",
        "test": groups, "valid": groups,
        "history": [{"epoch": e, "epoch_seconds": seconds / 4} for e in range(1, 5)],
    }
    config = {"seed": seed, "method": "bcl", "imbalance_ratio": 1000.0,
              "trainer": {"epochs": 4}, "resolved": {"train_class_counts": [300, 100, 100]}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps(config))


def test_command_follows_the_paper_grid(bench, tmp_path):
    args = bench.parse_args(["--epochs", "3", "--data-root", str(tmp_path / "c.zip")])
    assert args.settings == ["ir100", "ir1000"] and args.methods == ["ce", "bcl", "bscl-sor"]
    command = bench.train_command(args, "ir1000", "bcl", 1, tmp_path / "o")
    assert command[:3] == ["zincfluor", "vision", "train"]
    assert command[command.index("--imbalance-ratio") + 1] == "1000"
    assert command[command.index("--groups") + 1] == "thirds"
    assert command[command.index("--epochs") + 1] == "3"
    with pytest.raises(SystemExit):
        bench.parse_args(["--settings", "ir7"])


def test_finished_runs_are_archived_skipped_and_tabled(bench, tmp_path, monkeypatch):
    runs, archive = tmp_path / "runs", tmp_path / "archive"
    _fake_run(runs / "ir1000" / "bcl" / "seed0", 0, 0.2)
    _fake_run(runs / "ir1000" / "bcl" / "seed1", 1, 0.4)
    assert bench.archive_finished(runs, archive) == 2
    summary = json.loads((archive / "ir1000" / "bcl" / "seed0.json").read_text())
    assert summary["images_per_second"] == pytest.approx(500 * 4 / 100.0)
    args = bench.parse_args([
        "--runs-dir", str(runs), "--archive", str(archive), "--results", str(tmp_path / "v.md"),
        "--data-root", str(tmp_path), "--settings", "ir1000", "--methods", "bcl,ce",
        "--seeds", "0,1",
    ])
    started = []
    monkeypatch.setattr(bench, "run_one", lambda cmd, out, threads: (started.append(out) or
                                                                     (out, 0, 1.0)))
    assert bench.train_grid(args) == 0
    assert started == [runs / "ir1000" / "ce" / "seed0", runs / "ir1000" / "ce" / "seed1"]
    text = bench.report(args)
    row = next(line for line in text.splitlines() if line.startswith("| bcl | 2 |"))
    assert "30.00 ± 14.14" in row and "| 20 | cuda |" in row
    assert "| ce | 0 | not run" in text
    paper = next(line for line in text.splitlines() if line.startswith("| bcl | 28.55"))
    assert "30.00 ± 14.14" in paper and "No 200-epoch run yet" not in text


def test_report_says_the_table_is_owed_without_runs(bench, tmp_path):
    args = bench.parse_args(["--archive", str(tmp_path / "none"),
                             "--results", str(tmp_path / "v.md")])
    text = bench.report(args)
    assert "No 200-epoch run yet" in text and "| bscl-sor | 38.99 | 69.20 | not run" in text
