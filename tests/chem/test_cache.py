import logging

import numpy as np
import pytest
import torch

import zincfluor.chem.cache as cache
from zincfluor.chem import FeaturizerConfig, default_cache_dir, featurize_cached, featurize_many
from zincfluor.chem.cache import cache_key, cache_path

SMILES = ["CCO", "C1CC", "c1ccccc1", None, "[Na+]"]


def same_graph(x, y) -> bool:
    if x is None or y is None:
        return x is y
    return all(torch.equal(x[key], y[key]) for key in ("x", "edge_index", "edge_attr"))


def same_sets(a, b) -> bool:
    if a.errors != b.errors or len(a.graphs) != len(b.graphs):
        return False
    return all(same_graph(x, y) for x, y in zip(a.graphs, b.graphs, strict=True))


def forbid_featurizing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("featurized although the cache should have answered")

    monkeypatch.setattr(cache, "featurize_packed", refuse)


def test_second_call_is_answered_from_disk(tmp_path, monkeypatch):
    first = featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    (path,) = tmp_path.iterdir()
    modified = path.stat().st_mtime_ns
    forbid_featurizing(monkeypatch)
    second = featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    assert same_sets(first, second)
    assert same_sets(second, featurize_many(SMILES))
    assert path.stat().st_mtime_ns == modified
    assert [str(e) for e in second.errors] == [str(e) for e in first.errors]


def test_file_is_compact_and_loads_weights_only(tmp_path):
    featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    path = cache_path(tmp_path, cache_key(SMILES, FeaturizerConfig()))
    state = torch.load(path, weights_only=True)
    assert state["x"].shape == (3 + 6 + 1, 45) and state["x"].dtype == torch.uint8
    assert state["atom_counts"].tolist() == [3, 6, 1]
    assert state["error_indices"] == [1, 3]


def test_key_depends_on_settings_smiles_and_their_order():
    key = cache_key(SMILES, FeaturizerConfig())
    assert key == cache_key(list(SMILES), FeaturizerConfig())
    assert key != cache_key(SMILES, FeaturizerConfig(max_degree=4))
    assert key != cache_key(SMILES[:-1], FeaturizerConfig())
    assert key != cache_key(list(reversed(SMILES)), FeaturizerConfig())
    assert cache_key([None], FeaturizerConfig()) != cache_key(["None"], FeaturizerConfig())


def test_other_settings_get_their_own_file(tmp_path):
    featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    other = featurize_cached(SMILES, FeaturizerConfig(elements=("C",)), tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    assert other.graphs[0].x.shape[1] == FeaturizerConfig(elements=("C",)).atom_dim


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_damaged_file_is_rebuilt(tmp_path, damage, caplog):
    expected = featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    (path,) = tmp_path.iterdir()
    if damage == "garbage":
        path.write_bytes(b"not a torch file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        state = torch.load(path, weights_only=True)
        state["key"] = "0" * 64
        torch.save(state, path)
    with caplog.at_level(logging.WARNING, logger="zincfluor.chem.cache"):
        rebuilt = featurize_cached(SMILES, FeaturizerConfig(), tmp_path)
    assert "rebuilding" in caplog.text
    assert same_sets(rebuilt, expected)
    assert torch.load(path, weights_only=True)["key"] == cache_key(SMILES, FeaturizerConfig())


def test_no_cache_dir_means_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = featurize_cached(SMILES, FeaturizerConfig(), None)
    assert len(result.graphs) == len(SMILES) and list(tmp_path.iterdir()) == []


def test_no_temporary_files_are_left(tmp_path):
    featurize_cached(SMILES, FeaturizerConfig(), tmp_path / "new" / "folder")
    assert [p.name for p in (tmp_path / "new" / "folder").iterdir()] == [
        cache_path(tmp_path, cache_key(SMILES, FeaturizerConfig())).name
    ]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ZINCFLUOR_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("ZINCFLUOR_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "zincfluor"


def test_features_that_are_not_zero_or_one_keep_their_values():
    features = np.array([[0.0, 1.0], [0.5, -2.0]], np.float32)
    stored = cache._compact(features)
    assert stored.dtype == torch.float32
    np.testing.assert_array_equal(cache._expand(stored), features)
    binary = np.array([[0.0, 1.0]], np.float32)
    assert cache._compact(binary).dtype == torch.uint8
    np.testing.assert_array_equal(cache._expand(cache._compact(binary)), binary)
