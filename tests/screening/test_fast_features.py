"""The fast inference backbones (FastGCN.features, FastDMPNN) give the module's graph vectors,
and a wavelength model's emission interval does not move when the predictor uses them."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.nn.heads import head_spec
from zincfluor.nn.model import backbone_spec, build_classifier, model_spec
from zincfluor.screening.fastdmpnn import FastDMPNN
from zincfluor.screening.fastgcn import FastGCN, fast_features

SMILES = ["c1ccc(O)cc1C(=O)N", "CC(C)(C)C#N", "C1CC2CCC1C2",
          "CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "F/C=C/c1ccccc1", "CC"]
CONFIG = FeaturizerConfig()


def _model(name: str, head="linear", layers: int = 4):
    torch.manual_seed(3)
    spec = model_spec(backbone_spec(name, CONFIG.atom_dim, CONFIG.bond_dim, hidden_dim=32,
                                    num_layers=layers), 8, head=head)
    model = build_classifier(spec).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics for the GCN
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


def _batch() -> Batch:
    return Batch.from_data_list(featurize_many(SMILES, CONFIG).graphs)


@pytest.mark.parametrize("layers", [1, 2, 6])
def test_fast_dmpnn_gives_the_backbones_graph_vectors(layers):
    model = _model("dmpnn", layers=layers)
    batch = _batch()
    fast = fast_features(model)
    assert isinstance(fast, FastDMPNN)
    with torch.inference_mode():
        torch.testing.assert_close(fast(batch), model.features(batch), rtol=1e-5, atol=1e-6)


def test_fast_dmpnn_masks_a_missing_reverse_edge_like_the_module():
    """3→0 has no 0→3: its reverse state must not be subtracted (module: ``keep_reverse``)."""
    model = _model("dmpnn", layers=3)
    data = Data(x=torch.rand(4, CONFIG.atom_dim),
                edge_index=torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 0]]),
                edge_attr=torch.rand(5, CONFIG.bond_dim))
    with torch.inference_mode():
        torch.testing.assert_close(FastDMPNN(model.backbone)(data), model.features(data),
                                   rtol=1e-5, atol=1e-6)


def test_fast_gcn_features_are_the_backbones_and_its_call_the_models_logits():
    model = _model("gcn", layers=3)
    batch = _batch()
    fast = FastGCN(model)
    with torch.inference_mode():
        torch.testing.assert_close(fast.features(batch), model.features(batch),
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fast(batch), model(batch), rtol=1e-5, atol=1e-6)
    assert fast_features(model).__self__.__class__ is FastGCN


def test_models_without_a_fast_path_use_their_own_features():
    model = _model("gine")
    assert fast_features(model) == model.features
    training = _model("dmpnn").train()
    assert fast_features(training) == training.features


def test_predictor_wavelength_outputs_unchanged_by_the_fast_dmpnn(tmp_path):
    """A D-MPNN wavelength model's probabilities and emission interval, through the predictor
    (fast path) and through the module's own forward, agree to 1e-6."""
    from zincfluor.data import EMISSION8
    from zincfluor.nn.distribution import mixture_quantiles
    from zincfluor.screening.predictor import INTERVAL_COVERAGE, Predictor
    from zincfluor.train.checkpoint import save_checkpoint

    head = head_spec("gaussian", 8, edges=list(EMISSION8.edges), train_nm=[420.0, 510.0, 650.0])
    torch.manual_seed(5)
    spec = model_spec(backbone_spec("dmpnn", CONFIG.atom_dim, CONFIG.bond_dim, hidden_dim=32,
                                    num_layers=4), 8, head=head)
    model = build_classifier(spec).eval()
    metadata = {"kind": "molecules", "featurizer": CONFIG.to_dict(),
                "label_scheme": EMISSION8.to_dict()}
    save_checkpoint(tmp_path / "checkpoint.pt", model=model, model_spec=spec,
                    class_counts=[10] * 8, method={"name": "gaussian-nll", "hparams": {}},
                    metadata=metadata)
    predictor = Predictor.load(tmp_path, device="cpu", batch_size=4)
    result = predictor.predict(SMILES)
    assert result.ok.all()
    loaded = predictor.model
    graphs = [g for g in featurize_many(result.canonical, CONFIG).graphs]
    with torch.inference_mode():
        features = loaded.features(Batch.from_data_list(graphs))
        probs = torch.softmax(loaded.head(features), dim=1).numpy()
        mean, std = loaded.head.log_nm_distribution(features)
        tail = (1 - INTERVAL_COVERAGE) / 2
        nm = torch.exp(mixture_quantiles(mean[None], std[None], (0.5, tail, 1 - tail))).t()
    np.testing.assert_allclose(result.probs, probs, atol=1e-6)
    np.testing.assert_allclose(result.emission_nm, nm.numpy(), rtol=1e-6)
