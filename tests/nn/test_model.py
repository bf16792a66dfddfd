import pytest
import torch
from torch_geometric.data import Batch, Data

from zincfluor.nn import GCNConfig, build_classifier, gcn_spec
from zincfluor.nn.gcn import gcn_propagation


def _batch(in_dim: int) -> Batch:
    ring = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    return Batch.from_data_list(
        [
            Data(x=torch.randn(3, in_dim), edge_index=ring),
            Data(x=torch.randn(1, in_dim), edge_index=torch.zeros(2, 0, dtype=torch.long)),
        ]
    )


@pytest.mark.parametrize("pooling, width", [("mean", 16), ("mean+max", 32)])
def test_gcn_classifier_shapes(pooling, width):
    model = build_classifier(
        gcn_spec(7, 8, hidden_dim=16, num_layers=6, pooling=pooling, projection_dim=4)
    ).eval()
    batch = _batch(7)
    features = model.features(batch)
    assert features.shape == (2, width)
    assert model(batch).shape == (2, 8)
    z = model.project(features)
    assert z.shape == (2, 4)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2))


def test_default_spec_has_six_layers_and_builds_the_same_network_twice():
    spec = gcn_spec(7, 8)
    assert spec["backbone"]["num_layers"] == 6
    torch.manual_seed(0)
    first = build_classifier(spec)
    torch.manual_seed(0)
    second = build_classifier(spec)
    assert len(first.backbone.convs) == 6
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_model_without_projection_head_says_so():
    model = build_classifier(gcn_spec(7, 3, projection_dim=None))
    with pytest.raises(RuntimeError, match="projection head"):
        model.project(torch.randn(2, 128))


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="pooling"):
        GCNConfig(in_dim=3, pooling="sum-of-squares")
    spec = gcn_spec(7, 3)
    spec["head"]["name"] = "banana"
    with pytest.raises(KeyError, match="unknown head"):
        build_classifier(spec)


def test_shared_normalisation_equals_pyg_gcnconv_defaults():
    """One Â per batch for all layers gives what GCNConv computes with its own normalisation."""
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    model = build_classifier(gcn_spec(7, 3, hidden_dim=8, num_layers=1)).eval()
    reference = GCNConv(7, 8)
    reference.load_state_dict(model.backbone.convs[0].state_dict())
    batch = _batch(7)
    ours = model.backbone.convs[0](
        batch.x, *gcn_propagation(batch.edge_index, batch.num_nodes)
    )
    torch.testing.assert_close(ours, reference(batch.x, batch.edge_index))


def _dense(edge_index, weight, num_nodes):
    return torch.sparse_coo_tensor(edge_index, weight, (num_nodes, num_nodes)).to_dense()


def test_propagation_matrix_equals_pyg_gcn_norm():
    """Bit-identical edges and weights without self loops (molecules); the same Â with them."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    batch = _batch(3)
    want = gcn_norm(batch.edge_index, None, batch.num_nodes, add_self_loops=True)
    got = gcn_propagation(batch.edge_index, batch.num_nodes)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])

    looped = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 1, 2, 1]])  # self loops at 1 and 2
    want = gcn_norm(looped, None, 4, add_self_loops=True)
    got = gcn_propagation(looped, 4)
    torch.testing.assert_close(_dense(*got, 4), _dense(*want, 4))
