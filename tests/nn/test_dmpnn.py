"""D-MPNN: the directed-bond message update against hand-computed values and a loop reference."""

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.nn import DMPNNBackbone, DMPNNConfig
from zincfluor.nn.dmpnn import reverse_edge_index

PATH_EDGES = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # 0-1-2, both directions, sorted


def _set(linear: nn.Linear, weight, bias=None) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias, dtype=torch.float32))


def test_three_atom_path_matches_hand_computed_messages():
    """x = (1, 2, 3), every bond feature 1, width 1, W_i = [1 1], W_m = [0.5], W_o = [1 1], T = 3.

    h0_vw = relu(x_v + 1): h0_01 = 2, h0_10 = 3, h0_12 = 3, h0_21 = 4.
    Update 1 (m_vw sums the edges into v except w→v):
      h_01 = 2 + 0.5·0 = 2 (atom 0 has no other neighbour), h_10 = 3 + 0.5·h0_21 = 5,
      h_12 = 3 + 0.5·h0_01 = 4, h_21 = 4 + 0 = 4.
    Update 2 gives the same values (an end atom sends only h0), so h^(2) = (2, 5, 4, 4).
    Readout h_v = relu(x_v + Σ_k h_kv): atom 0: 1 + h_10 = 6; atom 1: 2 + h_01 + h_21 = 8;
    atom 2: 3 + h_12 = 7; mean 7, sum 21. (Without removing the reverse edge, h_10 would be
    3 + 0.5·(2 + 4) = 6 and atom 0 would read 7.)
    """
    backbone = DMPNNBackbone(
        DMPNNConfig(in_dim=1, edge_dim=1, hidden_dim=1, num_layers=3, dropout=0.0)
    ).eval()
    _set(backbone.W_i, [[1.0, 1.0]])
    _set(backbone.W_m, [[0.5]])
    _set(backbone.W_o, [[1.0, 1.0]], [0.0])
    data = Data(x=torch.tensor([[1.0], [2.0], [3.0]]), edge_index=PATH_EDGES,
                edge_attr=torch.ones(4, 1))
    torch.testing.assert_close(
        backbone.bond_states(data.x, data.edge_index, data.edge_attr),
        torch.tensor([[2.0], [5.0], [4.0], [4.0]]),
    )
    torch.testing.assert_close(backbone.atom_states(data), torch.tensor([[6.0], [8.0], [7.0]]))
    torch.testing.assert_close(backbone(data), torch.tensor([[7.0]]))
    summed = DMPNNBackbone(DMPNNConfig(1, 1, 1, 3, 0.0, pooling="add")).eval()
    summed.load_state_dict(backbone.state_dict())
    torch.testing.assert_close(summed(data), torch.tensor([[21.0]]))


def _loop_reference(backbone: DMPNNBackbone, data: Data) -> torch.Tensor:
    """The equations, written edge by edge with Python loops over neighbour lists."""
    x, edges, e = data.x, data.edge_index.t().tolist(), data.edge_attr
    relu = torch.relu
    h0 = {(v, w): relu(backbone.W_i(torch.cat([x[v], e[i]]))) for i, (v, w) in enumerate(edges)}
    h = dict(h0)
    width = backbone.config.hidden_dim
    for _ in range(backbone.config.num_layers - 1):
        new = {}
        for v, w in edges:
            message = sum((h[(k, u)] for k, u in edges if u == v and k != w), torch.zeros(width))
            new[(v, w)] = relu(h0[(v, w)] + backbone.W_m(message))
        h = new
    atoms = []
    for v in range(x.size(0)):
        incoming = sum((h[(k, u)] for k, u in edges if u == v), torch.zeros(width))
        atoms.append(relu(backbone.W_o(torch.cat([x[v], incoming]))))
    return torch.stack(atoms).mean(0, keepdim=True)


@pytest.mark.parametrize("smiles", ["c1ccc(O)cc1C(=O)N", "CC(C)(C)C#N", "C1CC2CCC1C2"])
def test_vectorised_forward_equals_the_loop_reference(smiles):
    config = FeaturizerConfig()
    graph = featurize_many([smiles], config).graphs[0]
    torch.manual_seed(0)
    backbone = DMPNNBackbone(
        DMPNNConfig(config.atom_dim, config.bond_dim, hidden_dim=8, num_layers=4, dropout=0.0)
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone(graph), _loop_reference(backbone, graph))


def test_reverse_edge_index_for_any_edge_order_and_a_missing_reverse():
    edges = torch.tensor([[2, 0, 1, 1, 3], [1, 1, 0, 2, 0]])  # 3→0 has no 0→3
    reverse, exists = reverse_edge_index(edges, 4)
    assert exists.tolist() == [True, True, True, True, False]
    assert reverse[:4].tolist() == [3, 2, 1, 0]
    empty_reverse, empty_exists = reverse_edge_index(torch.zeros(2, 0, dtype=torch.long), 1)
    assert empty_reverse.numel() == 0 and empty_exists.numel() == 0


def test_batched_graphs_get_the_reverse_edge_of_their_own_graph():
    graphs = [Data(x=torch.zeros(3, 1), edge_index=PATH_EDGES) for _ in range(2)]
    batch = Batch.from_data_list(graphs)
    reverse, exists = reverse_edge_index(batch.edge_index, batch.num_nodes)
    assert bool(exists.all())
    assert reverse.tolist() == [1, 0, 3, 2, 5, 4, 7, 6]


def test_dmpnn_needs_bond_features():
    backbone = DMPNNBackbone(DMPNNConfig(in_dim=1, edge_dim=1, hidden_dim=2))
    with pytest.raises(ValueError, match="edge_attr"):
        backbone(Data(x=torch.ones(3, 1), edge_index=PATH_EDGES))
    with pytest.raises(ValueError, match="edge_dim"):
        DMPNNConfig(in_dim=1, edge_dim=0)
