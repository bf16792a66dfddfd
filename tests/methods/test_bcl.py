"""BCL; its class-averaged denominator is checked by hand in test_contrastive.py."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.contrastive import balanced_contrastive_loss
from zincfluor.nn.heads import LinearHead, ProjectionHead
from zincfluor.nn.model import Classifier
from zincfluor.train.trainer import Trainer, TrainerConfig

COUNTS = (60.0, 20.0, 4.0)


def _view(x: torch.Tensor) -> torch.Tensor:
    return 0.8 * x + 0.1


def _context(augment=_view) -> MethodContext:
    return MethodContext(torch.tensor(COUNTS), num_epochs=4, augment=augment)


def _model(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(nn.Sequential(nn.Linear(4, 6), nn.Tanh()), LinearHead(6, 3),
                      ProjectionHead(6, 6, 5))


def _data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=generator), torch.tensor([0, 0, 0, 1, 1, 2])


def test_registered_with_summary():
    assert "bcl" in METHODS and METHODS["bcl"].summary


def test_prototypes_come_from_the_classifier_weights():
    model = _model()
    method = build_method("bcl", _context())
    with pytest.raises(RuntimeError, match="configure_model"):
        method.prototypes(model)
    assert method.configure_model(model) is model
    prototypes = method.prototypes(model)
    assert prototypes.shape == (3, 5)
    torch.testing.assert_close(prototypes.norm(dim=1), torch.ones(3))
    prototypes.sum().backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_loss_is_alpha_la_plus_beta_bcl():
    x, y = _data()
    model = _model()
    method = build_method("bcl", _context(), alpha=2.0, beta=0.6, temperature=0.2, la_tau=1.0)
    method.configure_model(model)
    out = method.training_loss(model, x, y)

    h, h_aug = model.features(x), model.features(_view(x))
    prior = torch.tensor(COUNTS) / sum(COUNTS)
    la = F.cross_entropy(model.head(h) + prior.log(), y)
    z = torch.cat([model.project(h), model.project(h_aug)])
    bcl = balanced_contrastive_loss(z, torch.cat([y, y]), method.prototypes(model), 0.2)
    torch.testing.assert_close(out.parts["la_ce"], la.detach())
    torch.testing.assert_close(out.parts["bcl"], bcl.detach())
    assert out.loss.item() == pytest.approx(2.0 * la.item() + 0.6 * bcl.item(), rel=1e-5)
    assert set(out.parts) == {"la_ce", "bcl"}


def test_logit_adjustment_by_hand():
    # one sample, logits 0, prior 60/84, 20/84, 4/84, target 2, τ_LA = 1:
    # CE(log π, 2) = -log(π_2 / Σπ) = -log(4/84)
    method = build_method("bcl", _context())
    expected = -math.log(4 / 84)
    got = F.cross_entropy(torch.zeros(1, 3) + method.adjustment, torch.tensor([2]))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_trainer_optimises_the_prototype_mlp():
    model = _model()
    method = build_method("bcl", _context())
    trainer = Trainer(model, method, TrainerConfig(epochs=1), progress=False)
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in method.prototype_head.parameters())


def test_needs_a_view_maker_and_gives_the_model_a_projection_head():
    with pytest.raises(ValueError, match="view maker"):
        build_method("bcl", _context(augment=None))
    spec = build_method("bcl", _context()).adjust_model_spec({"backbone": {}, "projection": None})
    assert spec["projection"] == {"hidden_dim": 128, "out_dim": 128}
    with pytest.raises(ValueError, match="projection head"):
        build_method("bcl", _context()).configure_model(
            Classifier(nn.Linear(4, 6), LinearHead(6, 3))
        )


def test_hparams_are_recorded():
    assert build_method("bcl", _context()).hparams == {
        "alpha": 2.0, "beta": 0.6, "temperature": 0.1, "la_tau": 1.0, "view": None,
        "view_rates": None,
    }
