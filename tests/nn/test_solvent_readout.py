"""The solvent readout: f = [h ⊙ (1 + tanh(W_γ e)) + W_β e || e], e from descriptors or a graph."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from zincfluor.nn import backbone_spec, build_classifier, model_spec
from zincfluor.nn.solvent_readout import SolventReadout, SolventReadoutConfig

IN_DIM, SOL_DIM = 5, 4


def _molecules(n: int = 3, **extra) -> Batch:
    ring = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    graphs = []
    for i in range(n):
        graph = Data(x=torch.randn(3, IN_DIM), edge_index=ring)
        for key, values in extra.items():
            setattr(graph, key, values[i : i + 1])
        graphs.append(graph)
    return Batch.from_data_list(graphs)


def _descriptor_spec(**overrides) -> dict:
    solvent = SolventReadoutConfig(
        "descriptors", dim=SOL_DIM, mean=[1.0] * SOL_DIM, scale=[2.0] * SOL_DIM,
        hidden_dim=8, out_dim=6, dropout=0.0, **overrides,
    ).to_dict()
    backbone = backbone_spec("gcn", IN_DIM, hidden_dim=16, num_layers=2)
    return model_spec(backbone, 3, projection_dim=None, solvent=solvent)


def test_descriptor_readout_scales_then_encodes_and_starts_as_plain_concatenation():
    torch.manual_seed(0)
    model = build_classifier(_descriptor_spec()).eval()
    readout = model.backbone
    assert isinstance(readout, SolventReadout) and readout.out_dim == 16 + 6
    sol_x = torch.tensor([[3.0, 1.0, float("nan"), 1e6]]).repeat(3, 1)
    torch.testing.assert_close(readout.scaled(sol_x[:1]), torch.tensor([[1.0, 0.0, 0.0, 10.0]]))
    batch = _molecules(sol_x=sol_x)
    features = model.features(batch)
    h = readout.backbone(batch)
    e = readout.encoder(readout.scaled(sol_x))
    # gamma and beta start at zero: f = [h || e]
    torch.testing.assert_close(features, torch.cat([h, e], dim=1))
    assert model(batch).shape == (3, 3)


def test_modulation_makes_the_solvent_effect_depend_on_the_molecule():
    torch.manual_seed(0)
    model = build_classifier(_descriptor_spec()).eval()
    readout = model.backbone
    with torch.no_grad():
        readout.gamma.weight.normal_()
        readout.beta.weight.normal_()
    polar, apolar = torch.full((3, SOL_DIM), 4.0), torch.full((3, SOL_DIM), -2.0)
    torch.manual_seed(1)
    batch = _molecules(sol_x=polar)
    h = readout.backbone(batch)
    e = readout.encoder(readout.scaled(polar))
    expected = torch.cat([h * (1 + torch.tanh(readout.gamma(e))) + readout.beta(e), e], dim=1)
    torch.testing.assert_close(readout(batch), expected)
    batch.sol_x = apolar
    shift = readout(batch)[:, :16] - expected[:, :16]
    # the shift between the two solvents differs from molecule to molecule
    assert not torch.allclose(shift[0], shift[1])


def test_missing_or_misshapen_solvent_inputs_are_one_clear_error():
    model = build_classifier(_descriptor_spec()).eval()
    with pytest.raises(ValueError, match="no sol_x"):
        model(_molecules())
    with pytest.raises(ValueError, match=r"expects \[3, 4\]"):
        model(_molecules(sol_x=torch.zeros(3, SOL_DIM + 1)))


def test_graph_encoder_encodes_each_solvent_and_gathers_by_row():
    solvent = SolventReadoutConfig(
        "graph", backbone=backbone_spec("gcn", IN_DIM, hidden_dim=8, num_layers=1),
        hidden_dim=8, out_dim=6, dropout=0.0,
    ).to_dict()
    spec = model_spec(backbone_spec("gcn", IN_DIM, hidden_dim=16, num_layers=2), 3,
                      projection_dim=None, solvent=solvent)
    torch.manual_seed(0)
    model = build_classifier(spec).eval()
    readout = model.backbone
    solvents = Batch.from_data_list([
        Data(x=torch.randn(1, IN_DIM), edge_index=torch.zeros(2, 0, dtype=torch.long)),
        Data(x=torch.randn(2, IN_DIM), edge_index=torch.tensor([[0, 1], [1, 0]])),
    ])
    batch = _molecules(sol_id=torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="no solvent_graphs"):
        model(batch)
    batch.solvent_graphs = solvents
    e = readout.encoder(readout.solvent_backbone(solvents))
    features = readout(batch)
    torch.testing.assert_close(features[:, 16:], e[[1, 0, 1]])
    assert model(batch).shape == (3, 3)
    # rebuilt from its spec and weights, the model answers the same
    again = build_classifier(spec).eval()
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again(batch), model(batch))


def test_bad_settings_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="solvent encoder must be one of"):
        SolventReadoutConfig("fingerprint")
    with pytest.raises(ValueError, match="needs 2 means"):
        SolventReadoutConfig("descriptors", dim=2, mean=[0.0], scale=[1.0, 1.0])
    with pytest.raises(ValueError, match="scale"):
        SolventReadoutConfig("descriptors", dim=1, mean=[0.0], scale=[0.0])
    with pytest.raises(ValueError, match="backbone spec"):
        SolventReadoutConfig("graph")
    with pytest.raises(ValueError, match="unknown solvent readout settings"):
        SolventReadoutConfig.from_dict({"encoder": "descriptors", "colour": 1})


def test_the_gain_of_each_feature_stays_between_zero_and_two():
    torch.manual_seed(0)
    model = build_classifier(_descriptor_spec()).eval()
    readout = model.backbone
    with torch.no_grad():
        readout.gamma.weight.fill_(1e4)
    sol_x = torch.full((3, SOL_DIM), 5.0)
    batch = _molecules(sol_x=sol_x)
    h = readout.backbone(batch)
    e = readout.encoder(readout.scaled(sol_x))
    modulated = readout(batch)[:, :16] - readout.beta(e)
    assert torch.all(modulated.abs() <= 2 * h.abs() + 1e-5)
    assert torch.isfinite(modulated).all()
