"""Two-epoch runs of the wavelength heads through ``train_run`` on the small fixture: the losses
and outputs are finite, the level probabilities sum to 1, and the checkpoint rebuilds the head."""

import pytest
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.data.labels import EMISSION8
from zincfluor.nn.heads import GaussianHead, OrdinalHead
from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.trainer import TrainerConfig

PROBE_SMILES = ["CCO", "c1ccccc1CCC", "N#CCCC", "OC(=O)CCC", "CCCCl"]


def _config(data, out, **overrides) -> TrainRunConfig:
    settings = dict(
        data=DataOptions(str(data)), out=str(out), hidden_dim=16, num_layers=2,
        projection_dim=None, batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu",
        cache_dir="none", n_jobs=1,
    )
    settings.update(overrides)
    return TrainRunConfig(**settings)


def _probe(checkpoint):
    featurizer = FeaturizerConfig.from_dict(checkpoint["metadata"]["featurizer"])
    return Batch.from_data_list(featurize_cached(PROBE_SMILES, featurizer, None).graphs)


def _check_history(result) -> None:
    assert len(result.fit.history) == 2
    for row in result.fit.history:
        assert torch.isfinite(torch.tensor(row["train_loss"]))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lds", "fds"])
def test_gaussian_head_trains_with_a_wavelength_method(deep4chem_fixture, tmp_path, method):
    result = train_run(
        _config(deep4chem_fixture, tmp_path / "run", method=method, head="gaussian",
                target="emission_nm"),
        progress=False,
    )
    _check_history(result)
    checkpoint = load_checkpoint(tmp_path / "run")
    head_spec = checkpoint["model_spec"]["head"]
    assert head_spec["name"] == "gaussian" and head_spec["edges"] == list(EMISSION8.edges)
    assert checkpoint["metadata"]["target"] == "emission_nm"
    model = model_from_checkpoint(checkpoint).eval()
    assert isinstance(model.head, GaussianHead)
    with torch.no_grad():
        probs = torch.softmax(model(_probe(checkpoint)), dim=1)
        median, low, high = model.emission_nm(_probe(checkpoint))
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(len(PROBE_SMILES)))
    assert torch.isfinite(median).all() and bool((low < median).all() and (median < high).all())


@pytest.mark.slow
def test_ordinal_head_trains_with_cross_entropy(deep4chem_fixture, tmp_path):
    result = train_run(
        _config(deep4chem_fixture, tmp_path / "run", method="ce", head="ordinal"), progress=False
    )
    _check_history(result)
    checkpoint = load_checkpoint(tmp_path / "run")
    model = model_from_checkpoint(checkpoint).eval()
    assert isinstance(model.head, OrdinalHead)
    with torch.no_grad():
        probs = torch.softmax(model(_probe(checkpoint)), dim=1)
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(len(PROBE_SMILES)))
    assert model.emission_nm(_probe(checkpoint)) is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"method": "lds", "head": "gaussian"}, "--target emission_nm"),
        ({"method": "ce", "target": "emission_nm"}, "trains on levels"),
        ({"head": "softmax"}, "head must be one of"),
        ({"method": "ldam-drw", "head": "ordinal"}, "sets its own head"),
    ],
)
def test_mismatched_target_head_and_method_are_refused(deep4chem_fixture, tmp_path, overrides,
                                                       message):
    with pytest.raises(ValueError, match=message):
        train_run(_config(deep4chem_fixture, tmp_path / "run", **overrides), progress=False)
