"""bench/rare.py: the issue-11 grid end to end on a fixture, its report, and the ship rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench_loader import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rare():
    return load_bench("rare")


def _metrics(ap_red: float, ap_far: float, balanced: float) -> dict:
    groups = {"red+": {"average_precision": ap_red}, "far-red+": {"average_precision": ap_far}}
    return {"balanced_accuracy": balanced, "top1": 0.5, "retrieval": {"groups": groups}}


def _summary(seed: int, ap_red: float, ap_far: float, balanced: float) -> dict:
    valid = _metrics(ap_red, ap_far, balanced)
    return {"config": {"seed": seed, "trainer": {"epochs": 60}},
            "metrics": {"valid": valid, "test": dict(valid), "seconds_per_epoch": 1.0,
                        "device": "cpu"}}


def test_guard_excludes_a_config_with_high_ap_and_low_balanced_accuracy(rare):
    cells = {
        # the highest AP, but balanced accuracy 5 points under the best: fails the guard
        "collapsed": [_summary(s, 0.9, 0.8, 0.30) for s in (0, 1, 2)],
        "best-bal": [_summary(s, 0.5, 0.4, 0.35) for s in (0, 1, 2)],
        # 1.5 points under the best balanced accuracy: passes the guard, best AP among those
        "winner": [_summary(0, 0.7, 0.6, 0.335), _summary(1, 0.6, 0.5, 0.335),
                   _summary(2, 0.65, 0.55, 0.335)],
        # better still, but one seed short: not a candidate
        "incomplete": [_summary(s, 0.95, 0.95, 0.36) for s in (0, 1)],
    }
    rows, winner = rare.choose_config(cells, [0, 1, 2])
    assert winner == "winner"
    by_name = {row["name"]: row for row in rows}
    assert by_name["collapsed"]["guard"] is False and by_name["winner"]["guard"] is True
    assert by_name["winner"]["primary"] == pytest.approx((0.65 + 0.55 + 0.6) / 3)
    assert by_name["incomplete"]["complete"] is False and by_name["incomplete"]["primary"] is None
    # without the low-balanced-accuracy rival... the collapsed config wins once it is the best
    _, alone = rare.choose_config({"collapsed": cells["collapsed"]}, [0, 1, 2])
    assert alone == "collapsed"


def test_ensemble_ships_only_with_a_higher_validation_primary(rare):
    single = _metrics(0.6, 0.4, 0.3)
    assert rare.ensemble_decision(single, _metrics(0.7, 0.4, 0.1))["ships"] == "ensemble"
    assert rare.ensemble_decision(single, _metrics(0.6, 0.4, 0.9))["ships"] == "single"
    assert rare.ensemble_decision(single, _metrics(0.5, 0.4, 0.9))["ships"] == "single"


def test_the_rule_is_in_the_docstring_and_printed_first(rare):
    assert rare.SHIP_RULE.startswith("Ship rule (fixed before the grid ran;")
    assert "within 2 points" in rare.SHIP_RULE and "4. The winner's 3-member" in rare.SHIP_RULE
    assert "Examples::" not in rare.SHIP_RULE


def test_docs_section_goes_after_the_title_and_is_replaced_in_place(rare):
    document = "# Results\n\nOlder text.\n"
    first = rare.replace_section(document, "## rare v1")
    assert first.splitlines()[0] == "# Results"
    assert first.index("<!-- rare:start -->") < first.index("Older text.")
    second = rare.replace_section(first, "## rare v2")
    assert "## rare v2" in second and "## rare v1" not in second
    assert second.count("<!-- rare:start -->") == 1 and second.endswith("Older text.\n")


def test_report_from_hand_made_archives_names_the_winner(rare, tmp_path, capsys):
    archive = tmp_path / "archive"
    for config, (red, far, bal) in {"gcn-kps": (0.9, 0.9, 0.20),
                                     "dmpnn-kps": (0.5, 0.5, 0.31),
                                     "gcn-ce": (0.4, 0.4, 0.30)}.items():
        for seed in (0, 1, 2):
            path = archive / "scaffold" / config / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_summary(seed, red, far, bal)))
    code = rare.main(["--no-train", "--report", "--configs", "gcn-kps,dmpnn-kps,gcn-ce",
                      "--runs-dir", str(tmp_path / "runs"), "--archive", str(archive),
                      "--peers-dir", str(tmp_path / "peers")])
    assert code == 0
    out = capsys.readouterr().out
    assert "Rules 1-3 choose `dmpnn-kps`." in out
    assert "| gcn-kps | 3 | 90.00 | 20.00 | fails the guard |" in out
    assert "| dmpnn-kps | 3 | 50.00 | 31.00 | **winner** |" in out
    assert "| gcn-ce | 3 | 40.00 | 30.00 | passes the guard |" in out
    assert "Rule 4 is pending" in out


@pytest.fixture(scope="module")
def grid(rare, tmp_path_factory):
    """2 configurations x 2 splits x 1 seed x 1 epoch on the scaffold fixture, then --report."""
    sys.path.insert(0, str(ROOT / "tests"))
    from molecule_fixtures import write_scaffold_csv

    root = tmp_path_factory.mktemp("rare")
    data = write_scaffold_csv(root / "scaffold.csv")
    peer = root / "peers" / "scaffold" / "lightgbm-reg" / "seed0.json"
    peer.parent.mkdir(parents=True)
    metrics = dict(_metrics(0.3, 0.2, 0.25), mae_nm=41.5)
    peer.write_text(json.dumps({"peer": "lightgbm-reg", "split": "scaffold", "seed": 0,
                                "valid": metrics, "test": metrics}))
    results = root / "results.md"
    results.write_text("# Results: long-tail methods\n\nThe methods tables.\n")
    args = ["--data", str(data), "--configs", "gcn-ce,dmpnn-gaussian-lds", "--seeds", "0",
            "--epochs", "1", "--device", "cpu", "--jobs", "2", "--threads", "1",
            "--runs-dir", str(root / "runs"), "--archive", str(root / "archive"),
            "--peers-dir", str(root / "peers"), "--results", str(results)]
    return root, args


@pytest.mark.slow
def test_grid_end_to_end(rare, grid, capsys):
    root, args = grid
    assert rare.main(args + ["--report", "--write-docs"]) == 0
    out = capsys.readouterr().out
    for split in ("scaffold", "stratified"):
        for config in ("gcn-ce", "dmpnn-gaussian-lds"):
            assert f"{split}/{config}/seed0: ok" in out
            archived = json.loads((root / "archive" / split / config / "seed0.json").read_text())
            assert archived["config"]["split"] == split
            assert archived["metrics"]["valid"]["retrieval"]["groups"]["red+"]
            assert archived["metrics"]["seconds_per_epoch"] > 0
    gaussian = json.loads((root / "archive" / "scaffold" / "dmpnn-gaussian-lds" / "seed0.json")
                          .read_text())
    assert gaussian["metrics"]["test"]["wavelength"]["mae_nm"] > 0

    rule, scaffold, stratified = (out.index("Ship rule"), out.index("### scaffold split"),
                                  out.index("### stratified split"))
    assert rule < scaffold < stratified
    assert "| gcn-ce | 1 (incomplete) |" in out
    assert "| peer: lightgbm-reg | 1 (incomplete) |" in out and "| 41.50 |" in out
    assert "Rules 1-3 choose `" in out and "Rule 4 is pending" in out

    document = (root / "results.md").read_text()
    assert document.startswith("# Results: long-tail methods\n\n<!-- rare:start -->\n")
    assert document.rstrip().endswith("The methods tables.")
    assert "fewer than 3 seeds is incomplete" in document

    # resuming trains nothing
    assert rare.main(args) == 0
    assert "every run of the grid is finished" in capsys.readouterr().out


@pytest.mark.slow
def test_ensemble_of_the_winner(rare, grid, capsys):
    root, args = grid
    assert rare.main(args + ["--splits", "scaffold"]) == 0  # the scaffold grid (reused if run)
    _, winner = rare.scaffold_choice(rare.parse_args(args))
    capsys.readouterr()
    assert rare.main(args + ["--splits", "scaffold", "--ensemble", "--ensemble-seeds", "0,1",
                             "--report"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((root / "archive" / "ship" / winner / "ensemble.json").read_text())
    assert len(summary["members"]) == 2 and "model ensemble" in summary["command"]
    for seed in (0, 1):
        member = json.loads((root / "runs" / "ship" / winner / f"seed{seed}" / "config.json")
                            .read_text())
        assert (member["seed"], member["split_seed"], member["split"]) == (seed, 0, "scaffold")
    assert "Rule 4: the 2-member ensemble's validation primary is" in out
    assert "**Ships: the " in out


def _with_mae(summary: dict, mae: float) -> dict:
    summary["metrics"]["valid"]["wavelength"] = {"mae_nm": mae, "n_known": 10}
    return summary


def test_wavelength_companion_is_the_lowest_validation_mae_among_complete_configs(rare):
    cells = {
        "classifier": [_summary(s, 0.9, 0.8, 0.4) for s in (0, 1, 2)],  # no wavelength head
        "gaussian-a": [_with_mae(_summary(s, 0.5, 0.4, 0.3), 50.0 + s) for s in (0, 1, 2)],
        "gaussian-b": [_with_mae(_summary(s, 0.5, 0.4, 0.3), 45.0 + 3 * s) for s in (0, 1, 2)],
        "gaussian-c": [_with_mae(_summary(s, 0.5, 0.4, 0.3), 20.0) for s in (0, 1)],
    }
    rows, companion = rare.choose_wavelength_companion(cells, [0, 1, 2])
    assert companion == "gaussian-b"  # mean 48 nm against 51; gaussian-c lacks a seed
    by_name = {row["name"]: row for row in rows}
    assert "classifier" not in by_name
    assert by_name["gaussian-a"]["mae"] == pytest.approx(51.0)
    assert by_name["gaussian-c"]["complete"] is False and by_name["gaussian-c"]["mae"] is None
    assert rare.choose_wavelength_companion({"classifier": cells["classifier"]}, [0, 1, 2]) \
        == ([], None)


def test_the_choice_is_provisional_while_a_configuration_lacks_seeds(rare, monkeypatch):
    import argparse

    cells = {"done": [_summary(s, 0.5, 0.4, 0.3) for s in (0, 1, 2)],
             "half": [_summary(0, 0.5, 0.4, 0.3)], "none": []}
    monkeypatch.setattr(rare, "load_cell", lambda args, split, config: cells[config])
    args = argparse.Namespace(configs=["done", "half", "none"], seeds=[0, 1, 2])
    assert rare.unfinished_configs(args) == [("half", 1), ("none", 0)]
    args.configs = ["done"]
    assert rare.unfinished_configs(args) == []
