import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.contrastive import rebalanced_contrastive_loss
from zincfluor.methods.rcl import CompactnessScaling
from zincfluor.nn.heads import LinearHead, ProjectionHead
from zincfluor.nn.model import Classifier

COUNTS = (60.0, 20.0, 4.0)


def _view(x: torch.Tensor) -> torch.Tensor:
    return 0.8 * x + 0.1


def _context(epochs: int = 10) -> MethodContext:
    return MethodContext(torch.tensor(COUNTS), num_epochs=epochs, augment=_view)


def _model(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(nn.Sequential(nn.Linear(4, 6), nn.Tanh()), LinearHead(6, 3),
                      ProjectionHead(6, 6, 5))


def _data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=generator), torch.tensor([0, 0, 0, 1, 1, 2])


# validation accuracies 0.8, 0.2 (not above 20 %), and no samples of class 2
CONFUSION = np.array([[8, 2, 0], [1, 1, 3], [0, 0, 0]])


def test_registered_with_summaries():
    assert METHODS["rcl"].summary and METHODS["bcl-rcl"].summary


def test_compactness_scaling_picks_classes_above_the_threshold_from_half_of_training():
    scaling = CompactnessScaling(3, num_epochs=10, factor=0.005, threshold=0.2, start=0.5)
    assert scaling.start_epoch == 5
    labels = torch.tensor([0, 1, 2, 0])
    scaling.update(CONFUSION)
    assert scaling.compact.tolist() == [True, False, False]
    assert scaling.scale(labels, epoch=4) is None
    torch.testing.assert_close(scaling.scale(labels, epoch=5),
                               torch.tensor([0.005, 1.0, 1.0, 0.005]))
    scaling.update(np.array([[0, 1, 0], [0, 3, 0], [0, 0, 1]]))  # later validations replace it
    assert scaling.compact.tolist() == [False, True, True]


def _expected_rcl_loss(method, model, x, y, scale):
    h, h_aug = model.features(x), model.features(_view(x))
    prior = torch.tensor(COUNTS) / sum(COUNTS)
    la = F.cross_entropy(model.head(h) + 1.3 * prior.log(), y)
    z = torch.cat([model.project(h), model.project(h_aug)])
    rcl = rebalanced_contrastive_loss(z, torch.cat([y, y]), prior.log(), 0.1, scale)
    return la, rcl


def test_rcl_loss_before_and_after_the_compactness_start():
    x, y = _data()
    model = _model()
    method = build_method("rcl", _context(epochs=10))
    method.on_epoch_start(0)
    method.on_validation_end(0, CONFUSION)
    out = method.training_loss(model, x, y)
    la, rcl = _expected_rcl_loss(method, model, x, y, None)
    assert out.loss.item() == pytest.approx(2.0 * la.item() + 1.0 * rcl.item(), rel=1e-5)
    assert set(out.parts) == {"la_ce", "rcl"}

    method.on_epoch_start(5)  # class 0 (80 % validation accuracy) is now scaled by 0.005
    scaled = method.training_loss(model, x, y)
    labels = torch.cat([y, y])
    scale = torch.where(labels == 0, torch.tensor(0.005), torch.tensor(1.0))
    la, rcl_scaled = _expected_rcl_loss(method, model, x, y, scale)
    torch.testing.assert_close(scaled.parts["rcl"], rcl_scaled.detach())
    assert scaled.parts["rcl"].item() != pytest.approx(out.parts["rcl"].item())


def test_bcl_rcl_is_bcl_plus_the_rcl_term():
    x, y = _data()
    model = _model()
    both = build_method("bcl-rcl", _context(), rcl_weight=0.5, la_tau=1.3)
    bcl = build_method("bcl", _context(), la_tau=1.3)
    both.configure_model(model)
    bcl.configure_model(model)
    bcl.prototype_head.load_state_dict(both.prototype_head.state_dict())
    reference = bcl.training_loss(model, x, y)
    out = both.training_loss(model, x, y)
    _, rcl = _expected_rcl_loss(both, model, x, y, None)
    assert set(out.parts) == {"la_ce", "bcl", "rcl"}
    torch.testing.assert_close(out.parts["rcl"], rcl.detach())
    torch.testing.assert_close(out.parts["bcl"], reference.parts["bcl"])
    assert out.loss.item() == pytest.approx(reference.loss.item() + 0.5 * rcl.item(), rel=1e-5)


def test_bcl_rcl_follows_the_validation_confusion():
    both = build_method("bcl-rcl", _context(epochs=4))
    both.on_validation_end(1, CONFUSION)
    assert both.rcl.scaling.compact.tolist() == [True, False, False]
    assert both.rcl.scaling.start_epoch == 2


def test_hparams_are_recorded():
    assert build_method("rcl", _context()).hparams == {
        "alpha": 2.0, "beta": 1.0, "temperature": 0.1, "la_tau": 1.3, "compression": 0.005,
        "compact_threshold": 0.2, "compact_start": 0.5, "compact_side": "above", "view": None,
        "view_rates": None,
    }
    assert build_method("bcl-rcl", _context()).hparams == {
        "alpha": 2.0, "beta": 0.6, "temperature": 0.1, "la_tau": 1.0, "rcl_weight": 1.0,
        "compression": 0.005, "compact_threshold": 0.2, "compact_start": 0.5,
        "compact_side": "above", "view": None, "view_rates": None,
    }
