"""ResidentGraphLoader builds exactly the batches PyG's DataLoader collates, on the device."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.loader import DataLoader

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.train.resident_loader import ResidentGraphLoader

FIELDS = ("x", "edge_index", "edge_attr", "y", "batch", "ptr")
SMILES = ["CCO", "c1ccccc1O", "C", "[Na+].[Cl-]", "CC(=O)Nc1ccc(O)cc1", "N#CC#N", "O", "CCCCCCCC",
          "c1ccc2ccccc2c1", "C1CC1", "FC(F)(F)c1ccccc1", "OCCO"] * 3


@pytest.fixture(scope="module")
def graphs():
    featurized = featurize_many(SMILES, FeaturizerConfig()).graphs
    for i, graph in enumerate(featurized):
        graph.y = torch.tensor([i % 5])
    return featurized


def assert_same_batches(expected, actual) -> None:
    for want, got in zip(expected, actual, strict=True):
        assert got.num_graphs == want.num_graphs
        for key in FIELDS:
            assert torch.equal(got[key].cpu(), want[key]), key


@pytest.mark.parametrize("batch_size", [1, 5, 7, 64])
def test_shuffled_batches_equal_pyg_collation_over_epochs(graphs, batch_size):
    pyg = DataLoader(graphs, batch_size=batch_size, shuffle=True,
                     generator=torch.Generator().manual_seed(11))
    resident = ResidentGraphLoader(graphs, batch_size, shuffle=True,
                                   generator=torch.Generator().manual_seed(11))
    assert len(resident) == len(pyg)
    for _ in range(3):  # the generator advances identically from epoch to epoch
        assert_same_batches(pyg, resident)


def test_ordered_batches_equal_pyg_collation(graphs):
    assert_same_batches(DataLoader(graphs, batch_size=8), ResidentGraphLoader(graphs, 8))


def test_batches_feed_the_gcn_like_collated_ones(graphs):
    from zincfluor.nn import build_classifier, gcn_spec

    model = build_classifier(gcn_spec(graphs[0].x.size(1), 5, hidden_dim=16, num_layers=2)).eval()
    with torch.no_grad():
        for want, got in zip(DataLoader(graphs, batch_size=9), ResidentGraphLoader(graphs, 9),
                             strict=True):
            assert torch.equal(model(got), model(want))


def test_rejects_unknown_attributes_and_bad_sizes(graphs):
    odd = graphs[0].clone()
    odd.charge = torch.zeros(1)
    with pytest.raises(ValueError, match="charge"):
        ResidentGraphLoader([odd], 4)
    with pytest.raises(ValueError, match="batch_size"):
        ResidentGraphLoader(graphs, 0)
    with pytest.raises(ValueError, match="no graphs"):
        ResidentGraphLoader([], 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_are_built_on_the_gpu(graphs):
    resident = ResidentGraphLoader(graphs, 7, shuffle=True, device="cuda",
                                   generator=torch.Generator().manual_seed(3))
    batches = list(resident)
    assert all(batch.x.is_cuda and batch.edge_index.is_cuda for batch in batches)
    pyg = DataLoader(graphs, batch_size=7, shuffle=True, generator=torch.Generator().manual_seed(3))
    assert_same_batches(pyg, batches)


def test_contrastive_views_of_resident_batches_equal_those_of_collated_ones(graphs):
    """GraphAugment (bond drop, feature mask) draws the same views from both kinds of batch."""
    from zincfluor.nn.graph_augment import GraphAugment

    augment = GraphAugment(edge_drop=0.3, feature_mask=0.3)
    for want, got in zip(DataLoader(graphs, batch_size=10), ResidentGraphLoader(graphs, 10),
                         strict=True):
        torch.manual_seed(5)
        want_view = augment(want)
        torch.manual_seed(5)
        got_view = augment(got)
        for key in ("x", "edge_index", "edge_attr", "batch"):
            assert torch.equal(got_view[key], want_view[key]), key


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ce", "bscl-sor"])
def test_training_runs_agree_to_the_last_digit_with_either_loader(tmp_path, method):
    """On the CPU the resident loader changes nothing but speed: same history, same metrics."""
    from molecule_fixtures import write_deep4chem_csv

    from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
    from zincfluor.train.trainer import TrainerConfig

    data = write_deep4chem_csv(tmp_path / "deep4chem.csv")
    results = {}
    for kind in ("resident", "pyg"):
        config = TrainRunConfig(
            data=DataOptions(path=str(data)), out=str(tmp_path / kind), method=method,
            hidden_dim=16, num_layers=2, batch_size=16, loader=kind, device="cpu",
            cache_dir="none", n_jobs=1, trainer=TrainerConfig(epochs=2),
        )
        results[kind] = train_run(config, progress=False)
    resident, pyg = results["resident"], results["pyg"]
    losses = [[row["train_loss"] for row in r.fit.history] for r in (resident, pyg)]
    assert losses[0] == losses[1]
    assert resident.test_metrics["balanced_accuracy"] == pyg.test_metrics["balanced_accuracy"]


def test_unknown_loader_kind_is_refused(graphs):
    from zincfluor.runs.common import graph_loader

    with pytest.raises(ValueError, match="loader must be one of"):
        graph_loader(graphs, 4, torch.device("cpu"), shuffle=False, kind="fast")
