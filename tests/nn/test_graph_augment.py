import pytest
import torch
from torch_geometric.data import Batch, Data

from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.graph_augment import GraphAugment


def _random_graph(generator: torch.Generator, n_features: int = 6) -> Data:
    """A random tree plus a few extra bonds; each bond's edge_attr row is unique and is shared by
    its two directions; features are positive, so a zero marks a masked entry."""
    n = int(torch.randint(2, 12, (1,), generator=generator))
    bonds = {(int(torch.randint(0, i, (1,), generator=generator)), i) for i in range(1, n)}
    for _ in range(n // 3):
        u, v = torch.randint(0, n, (2,), generator=generator).tolist()
        if u != v:
            bonds.add((min(u, v), max(u, v)))
    bonds = sorted(bonds)
    source = [u for u, v in bonds] + [v for u, v in bonds]
    target = [v for u, v in bonds] + [u for u, v in bonds]
    bond_attr = torch.rand(len(bonds), 3, generator=generator)
    return Data(
        x=torch.rand(n, n_features, generator=generator) + 0.5,
        edge_index=torch.tensor([source, target]),
        edge_attr=torch.cat([bond_attr, bond_attr]),
        y=torch.tensor([n % 3]),
    )


def _batch(n_graphs: int, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([_random_graph(generator) for _ in range(n_graphs)])


def _edge_map(edge_index: torch.Tensor, edge_attr: torch.Tensor) -> dict:
    return {
        (u, v): tuple(row)
        for (u, v), row in zip(edge_index.t().tolist(), edge_attr.tolist(), strict=True)
    }


def test_shapes_and_alignment():
    batch = _batch(20)
    torch.manual_seed(0)
    view = GraphAugment(edge_drop=0.3, feature_mask=0.3)(batch)
    assert view.x.shape == batch.x.shape
    assert view.edge_index.shape[0] == 2
    assert view.edge_attr.shape == (view.edge_index.shape[1], batch.edge_attr.shape[1])
    assert view.edge_index.shape[1] < batch.edge_index.shape[1]
    assert view.y is batch.y and view.batch is batch.batch and view.num_graphs == 20
    # every kept edge is an original edge carrying its original attributes
    original = _edge_map(batch.edge_index, batch.edge_attr)
    for edge, attr in _edge_map(view.edge_index, view.edge_attr).items():
        assert original[edge] == attr


def test_both_directions_of_a_bond_are_dropped_together():
    batch = _batch(50, seed=1)
    torch.manual_seed(1)
    view = GraphAugment(edge_drop=0.5, feature_mask=0.0)(batch)
    kept = {tuple(e) for e in view.edge_index.t().tolist()}
    assert kept and all((v, u) in kept for u, v in kept)
    assert view.edge_index.shape[1] % 2 == 0


def test_drop_and_mask_rates_match_the_probabilities():
    batch = _batch(1000, seed=2)
    torch.manual_seed(2)
    view = GraphAugment(edge_drop=0.2, feature_mask=0.2)(batch)
    kept = view.edge_index.shape[1] / batch.edge_index.shape[1]
    assert kept == pytest.approx(0.8, abs=0.02)
    masked = view.x == 0  # the inputs are positive
    # one mask per (graph, column): a column is zeroed for all atoms of a graph or for none
    per_graph = torch.zeros(batch.num_graphs, batch.x.shape[1]).index_add_(
        0, batch.batch, masked.float()
    )
    sizes = torch.bincount(batch.batch).float()[:, None]
    assert torch.all((per_graph == 0) | (per_graph == sizes))
    assert (per_graph > 0).float().mean().item() == pytest.approx(0.2, abs=0.02)
    unmasked = ~masked
    torch.testing.assert_close(view.x[unmasked], batch.x[unmasked])


def test_same_seed_same_view_and_different_seed_different_view():
    batch = _batch(30, seed=3)
    augment = GraphAugment()
    views = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        views.append(augment(batch))
    assert torch.equal(views[0].x, views[1].x)
    assert torch.equal(views[0].edge_index, views[1].edge_index)
    assert torch.equal(views[0].edge_attr, views[1].edge_attr)
    same_x = torch.equal(views[0].x, views[2].x)
    assert not (same_x and torch.equal(views[0].edge_index, views[2].edge_index))


def test_input_batch_is_not_modified():
    batch = _batch(10, seed=4)
    before = {key: value.clone() for key, value in batch if torch.is_tensor(value)}
    slices = {key: value.clone() for key, value in batch._slice_dict.items()}
    torch.manual_seed(0)
    GraphAugment(edge_drop=0.5, feature_mask=0.5)(batch)
    for key, value in before.items():
        assert torch.equal(batch[key], value), key
    for key, value in slices.items():
        assert torch.equal(batch._slice_dict[key], value), key


def test_view_splits_back_into_consistent_graphs():
    batch = _batch(8, seed=5)
    torch.manual_seed(0)
    view = GraphAugment(edge_drop=0.4, feature_mask=0.0)(batch)
    graphs = view.to_data_list()
    assert sum(g.edge_index.shape[1] for g in graphs) == view.edge_index.shape[1]
    for graph in graphs:
        assert graph.edge_attr.shape[0] == graph.edge_index.shape[1]
        if graph.edge_index.numel():
            assert graph.edge_index.min() >= 0 and graph.edge_index.max() < graph.num_nodes


def test_zero_probabilities_give_an_identical_view():
    batch = _batch(5)
    view = GraphAugment(edge_drop=0.0, feature_mask=0.0)(batch)
    assert torch.equal(view.x, batch.x) and torch.equal(view.edge_index, batch.edge_index)


def test_probabilities_outside_the_unit_interval_are_rejected():
    with pytest.raises(ValueError, match="edge_drop"):
        GraphAugment(edge_drop=1.5)
    with pytest.raises(ValueError, match="feature_mask"):
        GraphAugment(feature_mask=-0.1)


def test_views_of_featurized_molecules_feed_the_gcn():
    from zincfluor.chem.featurizer import FeaturizerConfig, make_featurizer

    featurize = make_featurizer(FeaturizerConfig())
    graphs = [featurize(s) for s in ("c1ccccc1O", "CCN(CC)c1ccc2ccc(=O)oc2c1", "CCO")]
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    view = GraphAugment(edge_drop=0.5)(batch)
    kept = {tuple(e) for e in view.edge_index.t().tolist()}
    assert all((v, u) in kept for u, v in kept)
    model = build_classifier(gcn_spec(batch.x.shape[1], 8, hidden_dim=8, num_layers=2)).eval()
    assert model(view).shape == (3, 8)
