"""``screen`` streams: what it holds in memory does not grow with the number of input rows
(chunks of input, sorted runs on disk, a top-K buffer), checked with tracemalloc."""

import tracemalloc

import pytest

import zincfluor.screening.screen as screen_module
from zincfluor.screening import Predictor
from zincfluor.screening.inputs import InputRecord, MoleculeInput
from zincfluor.screening.screen import screen_library

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "c1ccncc1C#N", "OCC(O)CO",
             "C1CCCCC1N", "CC(C)Cl", "FC(F)(F)c1ccccc1", "COC(=O)c1ccccc1"]


def _input(rows: int) -> MoleculeInput:
    """``rows`` generated rows; the peak is reset when the first one is read, so the set-up
    before it (the screen's one-off allocations) does not count."""

    def records():
        for i in range(rows):
            if i == 0:
                tracemalloc.reset_peak()
            smiles, ident = MOLECULES[i % len(MOLECULES)], f"M{i:06d}"
            yield InputRecord(i + 1, smiles, ident, (smiles, ident))

    return MoleculeInput(name="generated", format="smi", columns=["smiles", "id"],
                         smiles_column="smiles", id_column="id", records=records(),
                         close=lambda: None)


def _peak_bytes(predictor, rows: int, out, **options) -> int:
    tracemalloc.start()
    try:
        screen_library(predictor, _input(rows), out, target_levels=[5, 6, 7], jobs=1,
                       chunk_size=64, **options)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"run_size": 256}, {"top": 20}])
def test_peak_memory_does_not_grow_with_the_input(model_dir, tmp_path, options, monkeypatch):
    """Twice the rows may cost a few bytes a row (counters, the list of run files), not the
    hundreds of bytes of a kept output line (keeping every line fails this test) nor a read
    buffer per sorted run open at the final merge (35 and 71 runs here; at most 8 open). Both
    sizes pass the CSV writer's block of lines, a fixed cost."""
    monkeypatch.setattr(screen_module, "MERGE_FAN_IN", 8)
    predictor = Predictor.load(model_dir, device="cpu")
    small, large = 9000, 18000
    _peak_bytes(predictor, 64, tmp_path / "warm.csv", **options)
    low = _peak_bytes(predictor, small, tmp_path / "small.csv", **options)
    high = _peak_bytes(predictor, large, tmp_path / "large.csv", **options)
    per_row = (high - low) / (large - small)
    assert per_row < 40, (low, high, per_row)
    lines = (tmp_path / "large.csv").read_text().splitlines()
    assert len(lines) == 1 + (options.get("top") or large)


def test_merging_runs_in_passes_keeps_the_ranking(model_dir, tmp_path, monkeypatch):
    """3 rows a run, at most 2 runs open: several merge passes, the same file as one run."""
    predictor = Predictor.load(model_dir, device="cpu")
    whole, passes = tmp_path / "whole.csv", tmp_path / "passes.csv"
    screen_library(predictor, _input(50), whole, target_levels=[5, 6, 7], jobs=1)
    monkeypatch.setattr(screen_module, "MERGE_FAN_IN", 2)
    (tmp_path / "runs").mkdir()
    screen_library(predictor, _input(50), passes, target_levels=[5, 6, 7], jobs=1, chunk_size=4,
                   run_size=3, tmp_dir=tmp_path / "runs")
    assert passes.read_text() == whole.read_text()
    assert not list((tmp_path / "runs").iterdir())
