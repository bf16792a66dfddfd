"""bench/solvent.py: every model (zincfluor's three, chemprop with two SMILES columns) on the
same grouped split, scored per solvent class, reported as mean ± std over seeds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from bench_loader import load_bench

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "runs"))
from solvent_rows import write_solvent_rows  # noqa: E402


@pytest.fixture(scope="module")
def bench():
    return load_bench("solvent")


def _cell(model: str, seed: int, digest: str, mae: float) -> dict:
    block = {"n": 10, "mae_nm": mae, "top1": 0.5, "balanced_accuracy": 0.25, "macro_f1": 0.2,
             "tail_top_2": None, "retrieval": {"red+": {"average_precision": 0.4,
                                                        "roc_auc": 0.7, "n_positive": 3}}}
    return {"model": model, "seed": seed, "split_digest": digest,
            "test": {"all": block, "polar protic": None, "polar aprotic": block,
                     "non-polar": block},
            "valid": {"all": {**block, "mae_nm": mae + 1}, "polar protic": None,
                      "polar aprotic": None, "non-polar": None}}


def _write(out: Path, cell: dict) -> None:
    path = out / cell["model"] / f"seed-{cell['seed']}" / "cell.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cell))


def test_report_gives_mean_and_std_over_seeds_and_skips_empty_classes(bench, tmp_path):
    _write(tmp_path, _cell("none", 0, "a", 40.0))
    _write(tmp_path, _cell("none", 1, "b", 50.0))
    text = bench.report(tmp_path, ["none"])
    rows = [line for line in text.splitlines() if line.startswith("| none")]
    assert [row.split(" | ")[1] for row in rows] == ["all", "polar aprotic", "non-polar"]
    assert "| 2 | 10 | 45.0 ± 5.0 | 50.0 ± 0.0 |" in rows[0]
    assert "40.0 ± 0.0" in rows[0]  # red+ AP in percent
    assert "n/a" in rows[0]  # tail top-2 undefined
    valid = [line for line in bench.report(tmp_path, ["none"], "valid").splitlines()
             if line.startswith("| none")]
    assert len(valid) == 1 and "46.0 ± 5.0" in valid[0]


def test_report_refuses_cells_of_one_seed_on_different_splits(bench, tmp_path):
    _write(tmp_path, _cell("none", 0, "a", 40.0))
    _write(tmp_path, _cell("descriptors", 0, "b", 40.0))
    with pytest.raises(ValueError, match="different splits"):
        bench.report(tmp_path, ["descriptors", "none"])


def test_unknown_model_is_refused(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.parse_args(["--out", str(tmp_path), "--models", "descriptors,fingerprint"])


def _installed(module: str) -> bool:

    return importlib.util.find_spec(module) is not None


@pytest.mark.slow
def test_smoke_grid_runs_every_model_on_one_split(bench, tmp_path):
    """Every model on one split; chemprop's only where the `bench` extra is installed (the test
    command installs `test`, not `bench`)."""
    models = bench.MODELS if _installed("chemprop") else bench.ZINCFLUOR_MODELS
    data = write_solvent_rows(tmp_path / "rows.csv")
    out = tmp_path / "cells"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--chemprop-epochs", "1",
            "--seeds", "0", "--hidden-dim", "8", "--num-layers", "2", "--cache-dir", "none",
            "--workers", "1", "--device", "cpu", "--models", ",".join(models)]
    assert bench.main(args) == 0
    cells = {model: json.loads(bench.cell_path(out, model, 0).read_text()) for model in models}
    assert len({cell["split_digest"] for cell in cells.values()}) == 1
    assert len({json.dumps(cell["rows"]) for cell in cells.values()}) == 1
    for cell in cells.values():
        assert cell["valid"]["all"]["n"] == cell["rows"]["valid"]
        total = cell["test"]["all"]["n"]
        assert total == cell["rows"]["test"]
        assert sum(cell["test"][c]["n"] for c in ("polar protic", "polar aprotic",
                                                  "non-polar")) == total
        assert cell["test"]["all"]["mae_nm"] > 0
    assert (out / "descriptors" / "seed-0" / "run" / "checkpoint.pt").is_file()
    text = bench.report(out, list(models))
    for model in models:
        assert f"| {model} | all | 1 |" in text
    assert bench.main(args + ["--models", "none"]) == 0  # finished cells are skipped


def _valid_cell(model: str, seed: int, mae: float, ap_red: float) -> dict:
    cell = _cell(model, seed, f"split-{seed}", mae)
    cell["valid"]["all"] = {**cell["valid"]["all"], "mae_nm": mae,
                            "retrieval": {"red+": {"average_precision": ap_red}}}
    return cell


@pytest.mark.parametrize(("graph_mae", "graph_ap", "ships"), [
    ([40.0, 41.0, 42.0], [0.80, 0.80, 0.80], True),    # 4 nm better, margin 1.6 (none's std)
    ([43.0, 44.0, 45.0], [0.80, 0.80, 0.80], False),   # 1 nm better: within the seed std
    ([40.0, 41.0, 42.0], [0.77, 0.77, 0.77], False),   # better MAE, AP red+ 3 points down
])
def test_ship_rule_reads_validation_means_stds_and_the_ap_guard(bench, tmp_path, graph_mae,
                                                               graph_ap, ships):
    for seed in range(3):
        _write(tmp_path, _valid_cell("none", seed, [43.0, 45.0, 47.0][seed], 0.80))
        _write(tmp_path, _valid_cell("descriptors", seed, 50.0, 0.90))
        _write(tmp_path, _valid_cell("graph", seed, graph_mae[seed], graph_ap[seed]))
    decision = bench.ship_decision(tmp_path)
    assert decision["complete"] and decision["encoder"] == "graph"
    assert decision["ships"] is ships
    assert decision["models"]["none"]["mae_std"] == pytest.approx(1.633, abs=1e-3)
    text = bench.format_decision(decision)
    assert text.startswith("Ship rule: graph ships" if ships else "Ship rule: nothing ships")


def test_ship_rule_waits_for_every_seed(bench, tmp_path):
    for model in ("none", "descriptors", "graph"):
        _write(tmp_path, _valid_cell(model, 0, 40.0, 0.8))
    decision = bench.ship_decision(tmp_path)
    assert not decision["complete"] and not decision["ships"]
    assert "graph seed 2" in decision["reasons"][0]


@pytest.mark.parametrize(("dmpnn_mae", "ships"), [([38.0, 39.0, 40.0], True),
                                                  ([44.0, 45.0, 46.0], False)])
def test_backbone_rule_reads_the_backbones_own_cells(bench, tmp_path, dmpnn_mae, ships):
    """descriptors-dmpnn against none-dmpnn; the GCN cells (here a GCN none far worse) and
    the absent graph-dmpnn play no part."""
    for seed in range(3):
        _write(tmp_path, _valid_cell("none", seed, 90.0, 0.80))
        _write(tmp_path, _valid_cell("none-dmpnn", seed, [43.0, 45.0, 47.0][seed], 0.80))
        _write(tmp_path, _valid_cell("descriptors-dmpnn", seed, dmpnn_mae[seed], 0.80))
    decision = bench.ship_decision(tmp_path, backbone="dmpnn")
    assert decision["complete"] and decision["encoder"] == "descriptors-dmpnn"
    assert decision["baseline"] == "none-dmpnn" and decision["ships"] is ships
    assert set(decision["models"]) == {"descriptors-dmpnn", "none-dmpnn"}
    text = bench.format_decision(decision)
    assert text.startswith("Ship rule: descriptors-dmpnn ships" if ships else
                           "Ship rule: nothing ships (descriptors-dmpnn does not beat none-dmpnn)")
    assert not bench.ship_decision(tmp_path)["complete"]  # the GCN rule lacks its cells


def test_backbone_cells_have_their_own_folders(bench, tmp_path):
    assert bench.cell_name("descriptors", "gcn") == "descriptors"
    assert bench.cell_name("descriptors", "dmpnn") == "descriptors-dmpnn"
    assert bench.cell_name("chemprop-2smiles", "dmpnn") == "chemprop-2smiles"
    assert bench.cell_path(tmp_path, "none", 2, "gine") == tmp_path / "none-gine/seed-2/cell.json"
    with pytest.raises(SystemExit):
        bench.parse_args(["--out", str(tmp_path), "--backbone", "transformer"])


@pytest.mark.slow
def test_a_dmpnn_cell_trains_that_backbone_and_stays_outside_the_ship_rule(bench, tmp_path):
    data = write_solvent_rows(tmp_path / "rows.csv")
    out = tmp_path / "cells"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--seeds", "0",
            "--hidden-dim", "8", "--num-layers", "2", "--cache-dir", "none", "--workers", "1",
            "--device", "cpu", "--models", "descriptors", "--backbone", "dmpnn"]
    assert bench.main(args) == 0
    cell = json.loads((out / "descriptors-dmpnn" / "seed-0" / "cell.json").read_text())
    assert cell["backbone"] == "dmpnn" and cell["test"]["all"]["mae_nm"] > 0
    config = json.loads((out / "descriptors-dmpnn/seed-0/run/config.json").read_text())
    assert config["backbone"] == "dmpnn"
    assert not (out / "descriptors").exists()
    assert "cells missing: descriptors seed 0" in bench.format_decision(bench.ship_decision(out))
