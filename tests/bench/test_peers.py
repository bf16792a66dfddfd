"""bench/peers.py: peers train on zincfluor's exact splits and are scored with its metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_loader import load_bench

from zincfluor.data import EMISSION8, DataOptions, Split
from zincfluor.train.metrics import (
    balanced_accuracy,
    confusion_matrix,
    retrieval_metrics,
    top1_accuracy,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peers():
    return load_bench("peers")


@pytest.fixture
def fixture_csv(tmp_path: Path) -> Path:
    from molecule_fixtures import write_deep4chem_csv

    return write_deep4chem_csv(tmp_path / "fixture.csv", per_level=12)


def _pipeline_split(data: Path, out: Path, kind: str, seed: int, cache: Path) -> Path:
    """split.json of a one-epoch ``zincfluor train`` run (the pipeline's own split)."""
    from zincfluor.runs.train import TrainRunConfig, train_run
    from zincfluor.train.trainer import TrainerConfig

    config = TrainRunConfig(
        data=DataOptions(path=str(data)), out=str(out), split=kind, seed=seed,
        trainer=TrainerConfig(epochs=1), device="cpu", cache_dir=str(cache), hidden_dim=16,
        num_layers=1,
    )
    train_run(config, progress=False)
    return out / "split.json"


# ----------------------------------------------------------------------------- the split


@pytest.mark.slow
@pytest.mark.parametrize("kind, seed, fixture", [
    ("stratified", 3, "series"), ("scaffold", 1, "scaffolds"),
])
def test_split_is_the_one_zincfluor_train_makes(peers, tmp_path, kind, seed, fixture):
    from molecule_fixtures import write_deep4chem_csv, write_scaffold_csv
    from peer_data import check_split_file, make_task, read_table

    if fixture == "series":
        data = write_deep4chem_csv(tmp_path / "d.csv", per_level=12)
    else:
        data = write_scaffold_csv(tmp_path / "d.csv")
    cache = tmp_path / "cache"
    split_json = _pipeline_split(data, tmp_path / "run", kind, seed, cache)
    table = read_table(data)
    task = make_task(table, kind, seed, cache_dir=str(cache))
    check_split_file(task.split, split_json, table.smiles)  # raises on any difference
    saved = Split.load(split_json, table.smiles)
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(task.split.parts()[part], saved.parts()[part])
    # the command-line check agrees, and a different seed is caught
    assert peers.main(["--check-split", str(split_json), "--data", str(data),
                       "--cache-dir", str(cache)]) == 0
    if kind == "stratified":
        other = make_task(table, kind, seed + 1, cache_dir=str(cache))
        with pytest.raises(ValueError, match="differs from the peers' split"):
            check_split_file(other.split, split_json, table.smiles)


def test_check_split_file_rejects_a_split_of_another_table(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from peer_data import check_split_file

    split = Split(train=[0, 1], valid=[2], test=[3], kind="stratified", seed=0,
                  fractions=(0.5, 0.25, 0.25))
    path = split.save(tmp_path / "split.json", smiles=["C", "CC", "CCC", "CCCC"])
    with pytest.raises(ValueError, match="does not fit this table"):
        check_split_file(split, path, ["C", "CC", "CCO", "CCCC"])


# ----------------------------------------------------------------------------- scoring


def test_regressor_scores_levels_binned_from_nm_and_ranks_by_nm(peers):
    from peer_scoring import regressor_metrics

    true_nm = np.array([380.0, 420.0, 470.0, 530.0, 600.0, 650.0, 720.0, 800.0, 660.0, 430.0])
    labels = EMISSION8.assign(true_nm)
    predicted = true_nm + np.array([5, 5, 5, 5, 5, 5, 5, 5, -50, 40.0])  # two cross a level edge
    result = regressor_metrics(predicted, labels, true_nm, np.ones(8), EMISSION8)
    cm = confusion_matrix(labels, EMISSION8.assign(predicted), 8)
    assert result["top1"] == pytest.approx(top1_accuracy(cm)) == pytest.approx(0.8)
    assert result["balanced_accuracy"] == pytest.approx(balanced_accuracy(cm))
    assert result["mae_nm"] == pytest.approx(np.abs(predicted - true_nm).mean())
    red = result["retrieval"]["groups"]["red+"]
    assert red["levels"] == ["red", "far-red", "near-infrared"]
    assert red["n_positive"] == 4  # 650, 720, 800, 660 nm
    # 660 nm predicted as 610 nm leaves red, but still outranks every negative (<= 605 nm)
    assert red["roc_auc"] == pytest.approx(1.0)
    far = result["retrieval"]["groups"]["far-red+"]
    assert far["n_positive"] == 2 and far["average_precision"] == pytest.approx(1.0)


def test_ranking_block_matches_zincfluors_retrieval_block(peers):
    """The regressors' ranking block must be zincfluor's block for the same scores."""
    from peer_scoring import ranking_block

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(8), size=300)
    labels = rng.integers(0, 8, size=300)
    expected = retrieval_metrics(probs, labels, list(EMISSION8.names))["groups"]["red+"]
    red = EMISSION8.names.index("red")
    block = ranking_block(probs[:, red:].sum(axis=1), labels >= red)
    assert {"levels": expected["levels"], **block} == expected


def test_classifier_metrics_are_zincfluors(peers):
    from peer_scoring import classifier_metrics

    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(8), size=50)
    labels = rng.integers(0, 8, size=50)
    result = classifier_metrics(probs, labels, np.arange(1, 9), EMISSION8)
    cm = confusion_matrix(labels, probs.argmax(axis=1), 8)
    assert result["balanced_accuracy"] == pytest.approx(balanced_accuracy(cm))
    assert result["retrieval"] == retrieval_metrics(probs, labels, list(EMISSION8.names))


# ----------------------------------------------------------------------------- report, docs


def test_format_mean_std(peers):
    from peer_report import format_mean_std

    assert format_mean_std([0.5, 0.7]) == "60.00 ± 14.14"
    assert format_mean_std([30.5], scale=1.0) == "30.50"
    assert format_mean_std([0.5, None]) == "n/a"


def test_replace_section_appends_then_replaces_in_place(peers):
    from peer_report import DOCS_BEGIN, DOCS_END, replace_section

    document = "# Results\n\nother text\n"
    once = replace_section(document, "table v1")
    assert once.startswith(document.rstrip("\n")) and "table v1" in once
    twice = replace_section(once + "\n## after\n", "table v2")
    assert "table v1" not in twice and "table v2" in twice
    assert twice.count(DOCS_BEGIN) == 1 and twice.count(DOCS_END) == 1
    assert twice.index("table v2") < twice.index("## after")


def test_clear_errors_for_bad_arguments(peers, tmp_path):
    with pytest.raises(SystemExit, match="unknown peer"):
        peers.parse_args(["--peers", "lightgbm-cls,gpt"])
    with pytest.raises(SystemExit, match="unknown split"):
        peers.parse_args(["--splits", "random"])
    with pytest.raises(SystemExit, match="add --report"):
        peers.parse_args(["--write-docs"])
    with pytest.raises(SystemExit, match="not found"):
        peers.main(["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"),
                    "--peers", "lightgbm-cls", "--seeds", "0", "--splits", "stratified"])


def test_a_chemprop_cell_of_other_max_epochs_is_not_finished(peers, tmp_path):
    path = tmp_path / "seed0.json"
    assert not peers.is_finished(path, peers.PEERS["chemprop-cls"], None)
    path.write_text(json.dumps({"fit": {"settings": {"max_epochs": 3}}}))
    assert not peers.is_finished(path, peers.PEERS["chemprop-cls"], None)  # default 50
    assert not peers.is_finished(path, peers.PEERS["chemprop-reg"], 5)
    assert peers.is_finished(path, peers.PEERS["chemprop-cls"], 3)
    assert peers.is_finished(path, peers.PEERS["lightgbm-cls"], None)  # no epochs


# ----------------------------------------------------------------------------- end to end


def _check_cell(peers, out: Path, peer: str, seed: int, data: Path, cache: Path) -> dict:
    from peer_data import make_task, read_table

    path = peers.cell_path(out, "stratified", peer, seed)
    result = json.loads(path.read_text())
    table = read_table(data)
    task = make_task(table, "stratified", seed, cache_dir=str(cache))
    assert result["split_digest"] == peers.split_digest(task)
    assert result["split_sizes"] == task.split.sizes()
    saved = np.load(path.with_suffix(".npz"))
    np.testing.assert_array_equal(saved["test_index"], task.split.test)
    np.testing.assert_array_equal(saved["valid_index"], task.split.valid)
    prediction = saved["test_prediction"]
    if result["objective"] == "classification":
        assert prediction.shape == (task.split.test.size, 8)
        np.testing.assert_allclose(prediction.sum(axis=1), 1.0, atol=1e-5)
        predicted_levels = prediction.argmax(axis=1)
    else:
        assert prediction.shape == (task.split.test.size,)
        predicted_levels = EMISSION8.assign(prediction)
        assert result["test"]["mae_nm"] == pytest.approx(
            np.abs(prediction - task.values("test")).mean())
    cm = confusion_matrix(task.labels("test"), predicted_levels, 8)
    assert result["test"]["balanced_accuracy"] == pytest.approx(balanced_accuracy(cm))
    assert result["test"]["top1"] == pytest.approx(top1_accuracy(cm))
    assert set(result["test"]["retrieval"]["groups"]) == {"red+", "far-red+"}
    assert "valid" in result and result["fit"]["seconds"] > 0
    return result


@pytest.mark.slow
def test_lightgbm_peers_end_to_end_and_resume(peers, fixture_csv, tmp_path, capsys):
    pytest.importorskip("lightgbm")
    out, cache = tmp_path / "peers", tmp_path / "cache"
    argv = ["--peers", "lightgbm-cls,lightgbm-reg", "--splits", "stratified", "--seeds", "0",
            "--data", str(fixture_csv), "--out", str(out), "--cache-dir", str(cache),
            "--threads", "1"]
    assert peers.main(argv) == 0
    for peer in ("lightgbm-cls", "lightgbm-reg"):
        result = _check_cell(peers, out, peer, 0, fixture_csv, cache)
        assert result["fit"]["best_iteration"] >= 1
    first = peers.cell_path(out, "stratified", "lightgbm-cls", 0).stat().st_mtime_ns
    capsys.readouterr()
    assert peers.main(argv) == 0  # finished cells are skipped
    assert "0 of 2 cells to train" in capsys.readouterr().out
    assert peers.cell_path(out, "stratified", "lightgbm-cls", 0).stat().st_mtime_ns == first

    assert peers.main(argv + ["--report"]) == 0
    report = capsys.readouterr().out
    assert "| lightgbm-cls | 0 |" in report and "| lightgbm-reg | 0 |" in report
    assert "red+ AP" in report and "#### scaffold split" not in report

    results = tmp_path / "results.md"
    results.write_text("# Results\n")
    assert peers.main(argv + ["--report", "--write-docs", "--results", str(results)]) == 0
    assert "| lightgbm-reg | 0 |" in results.read_text()


@pytest.mark.slow
def test_chemprop_peers_end_to_end(peers, fixture_csv, tmp_path):
    pytest.importorskip("chemprop")
    out, cache = tmp_path / "peers", tmp_path / "cache"
    assert peers.main([
        "--peers", "chemprop-cls,chemprop-reg", "--splits", "stratified", "--seeds", "0",
        "--epochs", "2", "--data", str(fixture_csv), "--out", str(out), "--cache-dir", str(cache),
        "--threads", "1",
    ]) == 0
    for peer in ("chemprop-cls", "chemprop-reg"):
        result = _check_cell(peers, out, peer, 0, fixture_csv, cache)
        assert result["fit"]["epochs_run"] == 2 and len(result["fit"]["history"]) == 2


@pytest.mark.slow
def test_jobs_run_cells_in_subprocesses_with_a_log_each(peers, fixture_csv, tmp_path):
    pytest.importorskip("lightgbm")
    out, cache = tmp_path / "peers", tmp_path / "cache"
    assert peers.main([
        "--peers", "lightgbm-reg", "--splits", "stratified", "--seeds", "0,1", "--jobs", "2",
        "--data", str(fixture_csv), "--out", str(out), "--cache-dir", str(cache),
    ]) == 0
    for seed in (0, 1):
        _check_cell(peers, out, "lightgbm-reg", seed, fixture_csv, cache)
        log = peers.cell_path(out, "stratified", "lightgbm-reg", seed).with_suffix(".log")
        assert "lightgbm regression: best iteration" in log.read_text()


def test_the_solvent_peer_is_bench_solvents_cell(peers, tmp_path):
    """``--peers chemprop-2smiles`` hands bench/solvent.py this run's data, seeds, epochs and
    threads; it is not in the default grid, and --write-docs refuses it."""
    args = peers.parse_args(["--data", str(tmp_path / "d.csv"), "--peers", "chemprop-2smiles",
                             "--seeds", "0,2", "--epochs", "3", "--threads", "1",
                             "--solvent-out", str(tmp_path / "s")])
    assert peers.solvent_peer_argv(args, ["chemprop-2smiles"]) == [
        "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "s"), "--models",
        "chemprop-2smiles", "--seeds", "0,2", "--threads", "1", "--chemprop-epochs", "3"]
    assert "chemprop-2smiles" not in peers.parse_args([]).peers
    with pytest.raises(SystemExit, match="leave chemprop-2smiles out"):
        peers.parse_args(["--peers", "lightgbm-reg,chemprop-2smiles", "--report",
                          "--write-docs"])


def test_the_solvent_peers_report_is_bench_solvents(peers, tmp_path, capsys):
    block = {"n": 4, "mae_nm": 30.0, "top1": 0.5, "balanced_accuracy": 0.4, "macro_f1": 0.3,
             "tail_top_2": None, "retrieval": {}}
    cell = {"model": "chemprop-2smiles", "seed": 0, "split_digest": "x",
            "valid": {"all": block}, "test": {"all": {**block, "mae_nm": 31.5}}}
    path = tmp_path / "s" / "chemprop-2smiles" / "seed-0" / "cell.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(cell))
    assert peers.main(["--peers", "chemprop-2smiles", "--seeds", "0", "--report",
                       "--solvent-out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "| chemprop-2smiles | all | 1 | 4 | 31.5 ± 0.0 |" in out
    assert "| chemprop-2smiles | all | 1 | 4 | 30.0 ± 0.0 |" in out  # validation
