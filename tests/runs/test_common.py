"""The helpers the molecular runs share, and the old import paths that still lead to them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from zincfluor.runs.common import (
    attach_labels,
    headline_metrics,
    resolve_cache_dir,
    seen_molecules,
    usable_mask,
)


def test_usable_mask_marks_the_featurised_molecules():
    assert usable_mask(5, [0, 3]).tolist() == [True, False, False, True, False]
    assert not usable_mask(3, []).any()


def test_attach_labels_sets_y_on_the_chosen_graphs_only():
    graphs = [Data(x=torch.zeros(1, 2)) for _ in range(4)]
    chosen = attach_labels(graphs, np.array([7, 1, 2, 5]), np.array([3, 1]))
    assert [int(g.y) for g in chosen] == [5, 1]
    assert chosen[0] is graphs[3]


def test_resolve_cache_dir_none_folder_and_default(monkeypatch, tmp_path):
    assert resolve_cache_dir("none") is None
    assert resolve_cache_dir(str(tmp_path)) == tmp_path
    assert isinstance(resolve_cache_dir(None), Path)


def test_headline_metrics_keeps_the_named_keys_with_none_for_missing():
    head = headline_metrics({"top1": 0.5, "ece": 0.1, "per_level_top1": {}})
    assert head["top1"] == 0.5 and head["ece"] == 0.1 and head["macro_f1"] is None
    assert "per_level_top1" not in head


def test_seen_molecules_reads_train_and_valid_of_a_run_folder(tmp_path):
    assert seen_molecules(tmp_path) is None
    (tmp_path / "split.json").write_text(json.dumps({"train": [0]}))
    assert seen_molecules(tmp_path) is None  # an old split.json without SMILES
    (tmp_path / "split.json").write_text(
        json.dumps({"train_smiles": ["CCO"], "valid_smiles": ["CCN"], "test_smiles": ["CCC"]})
    )
    assert seen_molecules(tmp_path) == {"CCO", "CCN"}
    assert seen_molecules(tmp_path / "checkpoint.pt") == {"CCO", "CCN"}


def test_the_old_pipeline_module_re_exports_the_runs():
    import zincfluor.pipeline as old
    from zincfluor import runs

    assert old.TrainRunConfig is runs.TrainRunConfig
    assert old.train_run is runs.train_run
    assert old.evaluate_run is runs.evaluate_run
    assert old.usable_mask is usable_mask

