"""A tiny untrained GCN model folder for the ``predict`` and ``screen`` command tests."""

import pytest
import torch

from zincfluor.chem import FeaturizerConfig
from zincfluor.data import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.train.checkpoint import save_checkpoint


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A small untrained GCN checkpoint: red, far-red and near-infrared are the least-trained
    levels (so the default rare score is p_red + p_far-red + p_near-infrared)."""
    torch.manual_seed(3)
    config = FeaturizerConfig()
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2)
    model = build_classifier(spec).eval()
    folder = tmp_path_factory.mktemp("model")
    save_checkpoint(
        folder / "checkpoint.pt",
        model=model,
        model_spec=spec,
        class_counts=[50, 90, 80, 70, 40, 30, 20, 10],
        method={"name": "ce", "hparams": {}},
        metadata={
            "kind": "molecules",
            "featurizer": config.to_dict(),
            "label_scheme": EMISSION8.to_dict(),
        },
    )
    return folder
