"""reb-supcon: ω in both forms, Sinkhorn, the centre SupCon and its gradient norms, the losses."""

import math

import pytest
import torch
import torch.nn.functional as F
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.reb_supcon import (
    anchor_gradient_norms,
    centre_supcon_terms,
    rebalancing_factor,
    sinkhorn,
)
from zincfluor.nn.heads import LinearHead, ProjectionHead
from zincfluor.nn.model import Classifier

COUNTS = (80.0, 15.0, 5.0)


def _context(augment=None) -> MethodContext:
    return MethodContext(torch.tensor(COUNTS), num_epochs=2, steps_per_epoch=3, augment=augment)


def _model(dim=8) -> Classifier:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
    return Classifier(backbone, LinearHead(16, 3), ProjectionHead(16, 16, dim))


def test_registered_with_summary_and_hparams():
    assert "reb-supcon" in METHODS and METHODS["reb-supcon"].summary
    method = build_method("reb-supcon", _context())
    hp = method.hparams
    assert (hp["alpha"], hp["beta"], hp["omega"]) == (0.5, 0.1, "text")
    assert (hp["sinkhorn_iterations"], hp["sinkhorn_epsilon"]) == (3, 0.05)
    assert (hp["swap_weight"], hp["aggregation_weight"], hp["separation_weight"]) == (
        0.5, 0.3, 0.2
    )
    assert hp["margin"] == 1.0
    assert method.prototypes.shape == (6, 128) and method.centres.shape == (3, 128)
    with pytest.raises(ValueError, match="omega"):
        build_method("reb-supcon", _context(), omega="inverse")


def test_rebalancing_factor_both_forms_by_hand():
    # f = (0.8, 0.15, 0.05), ḡ = (0.2, 0.4, 1.0): α ḡ β / f = 0.05 · (0.25, 2.6667, 20)
    g = torch.tensor([0.2, 0.4, 1.0])
    f = torch.tensor([0.8, 0.15, 0.05])
    boost = [0.0125, 0.05 * 0.4 / 0.15, 1.0]
    text = rebalancing_factor(g, f, 0.5, 0.1, eps=0.0, form="text")
    printed = rebalancing_factor(g, f, 0.5, 0.1, eps=0.0, form="printed")
    torch.testing.assert_close(text, torch.tensor([1 + b for b in boost]))
    torch.testing.assert_close(printed, torch.tensor([1 / (1 + b) for b in boost]))
    assert text[2] == pytest.approx(2.0) and printed[2] == pytest.approx(0.5)
    # "text" raises the rare class's weight, "printed" lowers it
    assert text.argmax() == 2 and printed.argmin() == 2


def test_sinkhorn_on_a_symmetric_matrix_is_the_row_softmax():
    scores = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q = sinkhorn(scores, epsilon=1.0, iterations=3)
    a = math.e / (math.e + 1)  # already balanced: only the rows are normalised
    torch.testing.assert_close(q, torch.tensor([[a, 1 - a], [1 - a, a]]))


def test_sinkhorn_rows_sum_to_one_and_prototypes_get_equal_shares():
    torch.manual_seed(0)
    # 12 samples that all lean to prototype 0 of 3
    scores = torch.randn(12, 3) * 0.1 + torch.tensor([0.5, 0.0, -0.2])
    q = sinkhorn(scores, epsilon=0.05, iterations=3)
    torch.testing.assert_close(q.sum(1), torch.ones(12))  # rows: exactly 1
    assert (q >= 0).all()
    columns = q.sum(0)
    torch.testing.assert_close(columns.sum(), torch.tensor(12.0))
    plain = torch.softmax(scores / 0.05, dim=1).sum(0)
    assert (columns - 4.0).abs().max() < 0.25 * (plain - 4.0).abs().max()  # near n/K = 4
    q_many = sinkhorn(scores, epsilon=0.05, iterations=50)
    torch.testing.assert_close(q_many.sum(0), torch.full((3,), 4.0), atol=1e-3, rtol=0)


def test_centre_supcon_by_hand():
    # τ = 1; anchor 0 = (1, 0): keys z_1 (s = 0), μ_0 (s = 1), μ_1 (s = 0); positive μ_0 only
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    per_anchor, _, positives, keys = centre_supcon_terms(z, torch.tensor([0, 1]), centres, 1.0)
    expected = -math.log(math.e / (math.e + 2))
    torch.testing.assert_close(per_anchor, torch.tensor([expected, expected]))
    assert positives.tolist() == [[False, False, True, False], [False, False, False, True]]
    assert keys.tolist() == [[False, True, True, True], [True, False, True, True]]


def test_anchor_gradient_norms_match_autograd():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(7, 5), dim=1)
    centres = F.normalize(torch.randn(3, 5), dim=1)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    per_anchor, logits, positives, keys = centre_supcon_terms(z, labels, centres, 0.2)
    norms = anchor_gradient_norms(z, centres, logits, positives, keys, 0.2)
    for i in range(7):  # ∂ℓ(i)/∂z_i with the keys held fixed
        anchor = z[i : i + 1].clone().requires_grad_(True)
        key_vectors = torch.cat([z, centres])
        row = anchor @ key_vectors.t() / 0.2
        very_negative = torch.finfo(row.dtype).min / 4
        log_p = row - torch.logsumexp(row.masked_fill(~keys[i : i + 1], very_negative), dim=1)
        loss = -(log_p[positives[i : i + 1]]).mean()
        torch.testing.assert_close(loss, per_anchor[i])
        (grad,) = torch.autograd.grad(loss, anchor)
        torch.testing.assert_close(norms[i], grad.norm())


def test_gradient_statistics_are_an_ema_per_class():
    method = build_method("reb-supcon", _context(), grad_momentum=0.5)
    method.update_gradient_statistics(torch.tensor([1.0, 3.0, 4.0]), torch.tensor([0, 0, 1]))
    torch.testing.assert_close(method.grad_ema, torch.tensor([2.0, 4.0, 0.0]))  # first: set
    method.update_gradient_statistics(torch.tensor([4.0, 2.0]), torch.tensor([0, 2]))
    torch.testing.assert_close(method.grad_ema, torch.tensor([3.0, 4.0, 2.0]))  # 0.5·2 + 0.5·4
    assert method.grad_seen.tolist() == [True, True, True]
    expected = rebalancing_factor(torch.tensor([3.0, 4.0, 2.0]), torch.tensor([0.8, 0.15, 0.05]))
    torch.testing.assert_close(method.omega(), expected)


def test_separation_is_a_hinge_on_prototype_distances():
    method = build_method("reb-supcon", _context(), num_prototypes=3, projection_dim=2)
    with torch.no_grad():  # at 0°, 90°, 180°: pair distances √2, 2, √2, all above δ = 1
        method.prototypes.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    _, _, separation = method.prototype_losses([F.normalize(torch.randn(4, 2), dim=1)])
    assert float(separation.detach()) == 0.0
    with torch.no_grad():  # 0° and 30°: distance 2 sin 15° = 0.518; other pairs above 1
        method.prototypes.copy_(
            torch.tensor([[1.0, 0.0], [math.cos(math.pi / 6), math.sin(math.pi / 6)], [-1.0, 0.0]])
        )
    _, _, separation = method.prototype_losses([F.normalize(torch.randn(4, 2), dim=1)])
    d = 2 * math.sin(math.pi / 12)
    assert float(separation.detach()) == pytest.approx((1 - d) ** 2 / 3, rel=1e-5)


@pytest.mark.parametrize("two_views", [False, True])
def test_training_loss_trains_model_centres_and_prototypes(two_views):
    augment = (lambda x: x + 0.1 * torch.randn_like(x)) if two_views else None
    method = build_method("reb-supcon", _context(augment), projection_dim=8)
    model = method.configure_model(_model(8))
    x = torch.randn(10, 4)
    y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    out = method.training_loss(model, x, y)
    assert torch.isfinite(out.loss)
    assert set(out.parts) == {"balanced_softmax", "reb_supcon", "swap", "aggregation",
                              "separation", "omega_mean"}
    torch.testing.assert_close(
        out.parts["balanced_softmax"],
        F.cross_entropy(model(x) + torch.tensor(COUNTS).log(), y),
    )
    assert float(out.parts["omega_mean"]) > 1.0  # "text": every weight ≥ 1
    assert method.grad_seen.all() and (method.grad_ema > 0).all()
    out.loss.backward()
    for p in (method.centres, method.prototypes, model.head.weight, model.backbone[0].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_adjust_model_spec_adds_or_resizes_the_projection():
    method = build_method("reb-supcon", _context(), projection_dim=32)
    spec = {"backbone": {"name": "gcn", "hidden_dim": 64}, "head": {}, "projection": None}
    assert method.adjust_model_spec(spec)["projection"] == {"hidden_dim": 64, "out_dim": 32}
    spec["projection"] = {"hidden_dim": 16, "out_dim": 128}
    assert method.adjust_model_spec(spec)["projection"] == {"hidden_dim": 16, "out_dim": 32}
    with pytest.raises(ValueError, match="projection_dim"):
        method.configure_model(_model(8))


@pytest.mark.slow
def test_trains_through_the_pipeline(monkeypatch, deep4chem_fixture, tmp_path):
    result, checkpoint, _ = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "reb-supcon", projection_dim=16
    )
    assert checkpoint["model_spec"]["projection"]["out_dim"] == 16
    assert "train_reb_supcon" in result.fit.history[0]
