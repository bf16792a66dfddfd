"""Every molecular backbone of the registry: invariance, bond features, batching, training and the
checkpoint round trip; the molecule-feature readout on top of any of them."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.nn import (
    BACKBONES,
    backbone_setting_names,
    backbone_spec,
    build_classifier,
    gcn_spec,
    model_spec,
)
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

FEATURIZER = FeaturizerConfig()
NAMES = ("gcn", "dmpnn", "gine", "attentivefp")
EDGE_AWARE = ("dmpnn", "gine", "attentivefp")
SMILES = ["C", "CCO", "c1ccc(O)cc1C(=O)N", "N#Cc1ccc(cc1)N(C)C", "ClC=CBr", "O=C1C=CC(=O)C=C1"]


def _graphs(smiles=SMILES) -> list[Data]:
    return featurize_many(smiles, FEATURIZER).graphs


def _model(name: str, seed: int = 0, **spec_options):
    torch.manual_seed(seed)
    backbone = backbone_spec(name, FEATURIZER.atom_dim, FEATURIZER.bond_dim, hidden_dim=16,
                             num_layers=3)
    return build_classifier(model_spec(backbone, 8, **spec_options))


def _permuted(graph: Data, seed: int) -> Data:
    """The same molecule with its atoms renumbered; edges re-sorted by (source, target)."""
    n = graph.num_nodes
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # new -> old
    new_of_old = torch.empty_like(order)
    new_of_old[order] = torch.arange(n)
    edge_index = new_of_old[graph.edge_index]
    edge_order = torch.argsort(edge_index[0] * n + edge_index[1])
    return Data(x=graph.x[order], edge_index=edge_index[:, edge_order],
                edge_attr=graph.edge_attr[edge_order])


def test_registry_and_spec_helpers():
    assert set(NAMES) <= set(BACKBONES)
    assert "edge_dim" not in backbone_setting_names("gcn")
    assert backbone_spec("gcn", 45, 14, hidden_dim=16)["hidden_dim"] == 16
    with pytest.raises(ValueError, match="bond_dim"):
        backbone_spec("dmpnn", 45)
    with pytest.raises(ValueError, match=r"no settings \['pooling'\]"):
        backbone_spec("attentivefp", 45, 14, pooling="mean")
    with pytest.raises(KeyError, match="unknown backbone 'mpnn'"):
        backbone_spec("mpnn", 45, 14)
    # the generic helper builds the same GCN spec as gcn_spec
    assert model_spec(backbone_spec("gcn", 45), 8) == gcn_spec(45, 8)


@pytest.mark.parametrize("name", NAMES)
def test_graph_output_does_not_depend_on_atom_order(name):
    model = _model(name).eval()
    graphs = _graphs()
    with torch.no_grad():
        reference = model(Batch.from_data_list(graphs))
        for seed in range(3):
            permuted = model(Batch.from_data_list([_permuted(g, seed) for g in graphs]))
            torch.testing.assert_close(permuted, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", EDGE_AWARE)
def test_edge_aware_backbones_read_bond_features(name):
    model = _model(name).eval()
    batch = Batch.from_data_list(_graphs())
    changed = batch.clone()
    changed.edge_attr = changed.edge_attr.flip(1)  # other bond types, flags and stereo
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(changed), atol=1e-4)


def test_the_gcn_ignores_bond_features():
    model = _model("gcn").eval()
    batch = Batch.from_data_list(_graphs())
    changed = batch.clone()
    changed.edge_attr = torch.randn_like(changed.edge_attr)
    with torch.no_grad():
        torch.testing.assert_close(model(batch), model(changed))


@pytest.mark.parametrize("name", NAMES)
def test_a_mixed_batch_gives_each_molecule_its_own_output(name):
    """Methane (one atom, no bonds) beside larger molecules: every row equals that molecule
    alone, so nothing leaks between graphs and a bond-less graph works."""
    model = _model(name).eval()
    graphs = _graphs()
    assert graphs[0].num_nodes == 1 and graphs[0].edge_index.numel() == 0
    with torch.no_grad():
        together = model(Batch.from_data_list(graphs))
        for row, graph in enumerate(graphs):
            alone = model(Batch.from_data_list([graph]))
            torch.testing.assert_close(together[row : row + 1], alone, atol=1e-5, rtol=1e-5)
    assert together.shape == (len(graphs), 8) and torch.isfinite(together).all()
    if name != "gcn":  # the new backbones also take a bare Data without ``batch``
        with torch.no_grad():
            single = model(graphs[0])
        torch.testing.assert_close(single, together[:1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_training_steps_reduce_the_loss(name):
    model = _model(name).train()
    batch = Batch.from_data_list(_graphs())
    targets = torch.arange(len(SMILES)) % 8
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(batch), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _readout_spec(dim: int) -> dict:
    return {"dim": dim, "mean": [0.5] * dim, "scale": [2.0] * dim, "clip": 3.0}


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_spec_rebuilds_the_same_model(tmp_path, name):
    graphs = _graphs()
    for graph in graphs:
        graph.mol_x = torch.randn(1, 5)
    batch = Batch.from_data_list(graphs)
    model = _model(name, molecule_features=_readout_spec(5))
    model.train()
    F.cross_entropy(model(batch), torch.zeros(len(graphs), dtype=torch.long)).backward()
    model.eval()  # batch-norm statistics have moved away from their initial values
    spec = model_spec(
        backbone_spec(name, FEATURIZER.atom_dim, FEATURIZER.bond_dim, hidden_dim=16,
                      num_layers=3),
        8, molecule_features=_readout_spec(5),
    )
    path = save_checkpoint(tmp_path / "checkpoint.pt", model=model, model_spec=spec,
                           class_counts=[1] * 8, method={"name": "ce", "hparams": {}})
    checkpoint = load_checkpoint(path)
    assert checkpoint["model_spec"]["backbone"]["name"] == name
    rebuilt = model_from_checkpoint(checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(batch), model(batch))


def test_molecule_features_join_the_readout_scaled_and_clipped():
    model = _model("dmpnn", molecule_features=_readout_spec(3)).eval()
    assert model.backbone.out_dim == 16 + 3
    graphs = _graphs(["CCO", "c1ccccc1"])
    graphs[0].mol_x = torch.tensor([[0.5, 100.0, float("nan")]])
    graphs[1].mol_x = torch.tensor([[2.5, -100.0, 1.5]])
    batch = Batch.from_data_list(graphs)
    features = model.features(batch)
    inner = model.backbone.backbone(batch)
    torch.testing.assert_close(features[:, :16], inner)
    # (m - 0.5) / 2, NaN -> 0 (the training mean), clamped to [-3, 3]
    torch.testing.assert_close(features[:, 16:], torch.tensor([[0.0, 3.0, 0.0], [1.0, -3.0, 0.5]]))
    batch.mol_x = batch.mol_x + 1.0
    assert not torch.allclose(model(batch), model(Batch.from_data_list(graphs)))


def test_a_molecule_feature_model_says_what_it_needs():
    model = _model("gine", molecule_features=_readout_spec(3)).eval()
    batch = Batch.from_data_list(_graphs(["CCO"]))
    with pytest.raises(ValueError, match="no mol_x"):
        model(batch)
    batch.mol_x = torch.zeros(1, 4)
    with pytest.raises(ValueError, match=r"expects \[num_graphs, 3\]"):
        model(batch)
    with pytest.raises(ValueError, match="needs 3 means"):
        model_spec(backbone_spec("gcn", 45), 8,
                   molecule_features={"dim": 3, "mean": [0.0], "scale": [1.0]})


@pytest.mark.parametrize("name, features", [(n, None) for n in EDGE_AWARE] + [("gcn", 3)])
def test_other_models_go_through_their_own_forward_when_screening(name, features):
    """The fast GCN path takes only a plain GCN; every other model runs its own forward."""
    from zincfluor.screening.fastgcn import FastGCN, fast_forward

    readout = _readout_spec(features) if features else None
    model = _model(name, molecule_features=readout).eval()
    assert fast_forward(model) is model
    assert isinstance(fast_forward(_model("gcn").eval()), FastGCN)
