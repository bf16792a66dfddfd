import pytest
import torch

import zincfluor.chem.batch as batch
from zincfluor.chem import FeaturizationError, FeaturizerConfig, MoleculeFeaturizer
from zincfluor.chem.batch import featurize_many

MIXED = ["CCO", "C1CC", None, "c1ccccc1", "", "C(C)(C)(C)(C)C", "[Na+]", "  ", "C/C=C/C"]


def same_graph(a, b) -> bool:
    return all(torch.equal(a[key], b[key]) for key in ("x", "edge_index", "edge_attr"))


def test_results_stay_aligned_and_errors_name_their_rows():
    result = featurize_many(MIXED, n_jobs=1)
    assert len(result) == len(MIXED)
    assert result.valid_indices == [0, 3, 6, 8]
    assert [e.index for e in result.errors] == [1, 2, 4, 5, 7]
    assert [e.smiles for e in result.errors] == ["C1CC", "None", "", "C(C)(C)(C)(C)C", "  "]
    assert "unclosed ring" in result.errors[0].reason
    featurize = MoleculeFeaturizer()
    for i in result.valid_indices:
        assert same_graph(result.graphs[i], featurize(MIXED[i]))


def test_error_message_reads_like_a_report_line():
    error = FeaturizationError(12, "C1CC", "unclosed ring")
    assert str(error) == "row 12: 'C1CC' is not a valid SMILES (unclosed ring)"
    long = FeaturizationError(3, "C" * 500, "too long")
    assert len(str(long)) < 130 and str(long).endswith("(too long)")


def test_several_processes_give_identical_results(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_SIZE", 2)  # five chunks for two workers
    serial = featurize_many(MIXED, n_jobs=1)
    parallel = featurize_many(MIXED, n_jobs=2)
    assert parallel.errors == serial.errors
    for a, b in zip(serial.graphs, parallel.graphs, strict=True):
        assert (a is None and b is None) or same_graph(a, b)


def test_small_inputs_stay_in_process_by_default(monkeypatch):
    def refuse(*args):
        raise AssertionError("worker processes started for a small input")

    monkeypatch.setattr(batch, "CHUNK_SIZE", 2)
    monkeypatch.setattr(batch, "_pack_in_processes", refuse)
    assert len(featurize_many(MIXED).graphs) == len(MIXED)


def test_large_inputs_use_every_core_by_default(monkeypatch):
    monkeypatch.setattr(batch, "PARALLEL_MIN_INPUTS", 3)
    monkeypatch.setattr(batch, "_available_cores", lambda: 7)
    assert batch._worker_count(None, 3) == 7
    assert batch._worker_count(None, 2) == 1
    assert batch._worker_count(2, 1) == 2


@pytest.mark.parametrize("n_jobs", [0, -1, 1.5])
def test_bad_n_jobs(n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        featurize_many(["C"], n_jobs=n_jobs)


def test_empty_input():
    result = featurize_many([])
    assert result.graphs == [] and result.errors == []


def test_other_settings_are_used():
    result = featurize_many(["CCO"], FeaturizerConfig(elements=("O",)), n_jobs=1)
    assert result.graphs[0].x.shape == (3, FeaturizerConfig(elements=("O",)).atom_dim)


def test_progress_bar_goes_to_stderr(capsys):
    featurize_many(["CCO", "C"], progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "featurizing" in captured.err
