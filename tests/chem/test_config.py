import json

import pytest
import torch

from zincfluor.chem.config import FEATURE_LAYOUT_VERSION, FeaturizerConfig


def test_default_dims():
    config = FeaturizerConfig()
    assert (config.atom_dim, config.bond_dim) == (45, 14)


def test_dims_follow_settings():
    config = FeaturizerConfig(elements=("C", "N"), max_degree=3, formal_charges=(0, 1))
    # 3 elements+other, 5 degrees, 3 charges, 7 hybridisations, 2 flags, 6 H counts, 4 tags
    assert config.atom_dim == 3 + 5 + 3 + 7 + 2 + 6 + 4


def test_to_dict_holds_only_json_types_and_round_trips():
    config = FeaturizerConfig(elements=("C", "O", "Se"), formal_charges=(-1, 1), max_hydrogens=3)
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["elements"] == ["C", "O", "Se"] and data["version"] == FEATURE_LAYOUT_VERSION
    assert FeaturizerConfig.from_dict(data) == config


def test_dict_survives_a_weights_only_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"featurizer": FeaturizerConfig().to_dict()}, path)
    loaded = torch.load(path, weights_only=True)["featurizer"]
    assert FeaturizerConfig.from_dict(loaded) == FeaturizerConfig()


def test_from_dict_fills_missing_settings_with_defaults():
    assert FeaturizerConfig.from_dict({"backend": "zincfluor"}) == FeaturizerConfig()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"colour": "blue"}, "unknown featurizer settings"),
        ({"version": FEATURE_LAYOUT_VERSION + 1}, "feature layout version"),
        ({"backend": "morgan"}, "backend must be one of"),
        ({"elements": ["C", "Xx"]}, "unknown element"),
        ({"elements": ["C", "C"]}, "distinct"),
        ({"elements": []}, "non-empty"),
        ({"formal_charges": [2, -2]}, "lowest, highest"),
        ({"max_degree": -1}, "max_degree"),
        ({"max_heavy_atoms": 0}, "max_heavy_atoms"),
    ],
)
def test_bad_settings_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        FeaturizerConfig.from_dict(data)


def test_configs_are_hashable_and_compare_by_value():
    assert hash(FeaturizerConfig(elements=["C"])) == hash(FeaturizerConfig(elements=("C",)))
