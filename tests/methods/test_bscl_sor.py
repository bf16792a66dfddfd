import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.bscl_sor import balanced_class_weights
from zincfluor.methods.contrastive import supcon_loss
from zincfluor.nn.heads import LinearHead, ProjectionHead
from zincfluor.nn.model import Classifier

COUNTS = (100.0, 10.0, 1.0)


def _view(x: torch.Tensor) -> torch.Tensor:
    """A deterministic 'augmentation', so each term can be recomputed exactly."""
    return 0.8 * x + 0.1


def _context(counts=COUNTS, augment=_view) -> MethodContext:
    return MethodContext(torch.tensor(counts), num_epochs=4, augment=augment)


def _model(seed: int = 0, projection: bool = True) -> Classifier:
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    return Classifier(backbone, LinearHead(6, 3), ProjectionHead(6, 6, 5) if projection else None)


def _data(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, generator=generator)
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    return x, y


def _terms(model, x, y, lambda_bsc=1.0, temperature=0.1, gamma=1.0):
    """L_CE,orig, L_CE,aug and L_B-SC computed independently of the method."""
    h, h_aug = model.features(x), model.features(_view(x))
    ce = F.cross_entropy(model.head(h), y)
    ce_aug = F.cross_entropy(model.head(h_aug), y)
    z = torch.cat([model.project(h), model.project(h_aug)])
    labels = torch.cat([y, y])
    weights = balanced_class_weights(torch.tensor(COUNTS), gamma)[labels]
    return [ce, ce_aug, lambda_bsc * supcon_loss(z, labels, temperature, weights=weights)]


def test_registered_with_summary():
    assert "bscl-sor" in METHODS and METHODS["bscl-sor"].summary


def test_class_weights_by_hand():
    # N = 100, 10, 1; γ = 1: N^-1 = 0.01, 0.1, 1 (sum 1.11); w = 3 · N^-1 / 1.11
    expected = [3 * 0.01 / 1.11, 3 * 0.1 / 1.11, 3 * 1 / 1.11]
    got = balanced_class_weights(torch.tensor(COUNTS), gamma=1.0)
    torch.testing.assert_close(got, torch.tensor(expected))
    assert got.mean().item() == pytest.approx(1.0)
    assert got[2] > got[1] > got[0]  # the tail weighs most
    # γ = 0.5: N^-0.5 = 0.1, 0.316..., 1
    root = [100 ** -0.5, 10 ** -0.5, 1.0]
    torch.testing.assert_close(
        balanced_class_weights(torch.tensor(COUNTS), 0.5),
        torch.tensor([3 * r / sum(root) for r in root]),
    )
    torch.testing.assert_close(balanced_class_weights(torch.tensor(COUNTS), 0.0), torch.ones(3))
    # a class without training samples counts as one: finite weights
    assert torch.isfinite(balanced_class_weights(torch.tensor([5.0, 0.0]))).all()


def test_loss_is_the_sum_of_its_terms():
    model, (x, y) = _model(), _data()
    method = build_method("bscl-sor", _context(), lambda_bsc=0.5, lambda_sor=0.7, tau_sor=2.0)
    out = method.training_loss(model, x, y)
    terms = _terms(model, x, y, lambda_bsc=0.5)
    for name, term in zip(("ce", "ce_aug", "bsc"), terms, strict=True):
        torch.testing.assert_close(out.parts[name], term.detach())
    values = [t.item() for t in terms]
    sor = 0.7 * 2.0 * math.log(sum(math.exp(v / 2.0) for v in values))
    assert out.parts["sor"].item() == pytest.approx(sor, rel=1e-5)
    assert out.loss.item() == pytest.approx(sum(values) + sor, rel=1e-5)
    assert all(p.dim() == 0 and not p.requires_grad for p in out.parts.values())


@pytest.mark.parametrize("lambda_sor, tau_sor", [(1.0, 1.0), (0.7, 2.0)])
def test_sor_gradient_is_the_softmax_weighted_sum_of_the_term_gradients(lambda_sor, tau_sor):
    # ∇L = Σ_k (1 + λ_SOR · p_k) ∇L_k with p = softmax(L / τ_SOR)
    x, y = _data(1)
    model = _model(1)
    method = build_method("bscl-sor", _context(), lambda_sor=lambda_sor, tau_sor=tau_sor)
    out = method.training_loss(model, x, y)
    params = list(model.parameters())
    total = torch.autograd.grad(out.loss, params)

    model = _model(1)  # same weights, fresh graph
    params = list(model.parameters())
    terms = _terms(model, x, y)
    p = torch.softmax(torch.stack([t.detach() for t in terms]) / tau_sor, dim=0)
    expected = [torch.zeros_like(q) for q in params]
    for k, term in enumerate(terms):
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        for acc, g in zip(expected, grads, strict=True):
            if g is not None:  # the CE terms do not reach the projection head
                acc += (1 + lambda_sor * p[k]) * g
    # float32 sums of five gradient terms: 1e-7 absolute was below their rounding on this machine
    for got, want in zip(total, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_ablation_switches_drop_the_right_terms():
    x, y = _data(2)
    model = _model(2)
    ce, ce_aug, bsc = (t.item() for t in _terms(model, x, y))

    out = build_method("bscl-sor", _context(), no_bscl=True).training_loss(model, x, y)
    assert set(out.parts) == {"ce", "ce_aug", "sor"}
    sor = math.log(math.exp(ce) + math.exp(ce_aug))  # SOR over the two CE terms only
    assert out.loss.item() == pytest.approx(ce + ce_aug + sor, rel=1e-5)

    out = build_method("bscl-sor", _context(), no_sor=True).training_loss(model, x, y)
    assert set(out.parts) == {"ce", "ce_aug", "bsc"}
    assert out.loss.item() == pytest.approx(ce + ce_aug + bsc, rel=1e-5)

    out = build_method("bscl-sor", _context(), no_bscl=True, no_sor=True).training_loss(
        model, x, y
    )
    assert set(out.parts) == {"ce", "ce_aug"}
    assert out.loss.item() == pytest.approx(ce + ce_aug, rel=1e-5)


def test_no_bscl_needs_no_projection_head():
    x, y = _data()
    method = build_method("bscl-sor", _context(), no_bscl=True)
    spec = {"projection": None}
    assert method.adjust_model_spec(spec) is spec
    assert torch.isfinite(method.training_loss(_model(projection=False), x, y).loss)
    # with B-SCL a spec without projection gets the default head; one with a head keeps it
    spec = {"backbone": {"hidden_dim": 16}, "projection": None}
    adjusted = build_method("bscl-sor", _context()).adjust_model_spec(spec)
    assert adjusted["projection"] == {"hidden_dim": 16, "out_dim": 128}
    assert spec["projection"] is None
    own = {"backbone": {}, "projection": {"hidden_dim": 4, "out_dim": 3}}
    assert build_method("bscl-sor", _context()).adjust_model_spec(own) is own


def test_needs_a_view_maker():
    with pytest.raises(ValueError, match="view maker"):
        build_method("bscl-sor", _context(augment=None))


def test_hparams_are_recorded():
    method = build_method("bscl-sor", _context(), no_sor=True, gamma=0.5)
    assert method.hparams == {
        "temperature": 0.1, "gamma": 0.5, "lambda_bsc": 1.0, "lambda_sor": 1.0,
        "tau_sor": 1.0, "no_bscl": False, "no_sor": True, "logit_adjust_tau": 0.0,
        "weight_norm": "classes", "view": None, "view_rates": None,
    }


def test_a_few_steps_lower_the_loss():
    x, y = _data(3)
    model = _model(3)
    method = build_method("bscl-sor", _context())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = method.training_loss(model, x, y).loss
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_cli_trains_bscl_sor_with_view_options_and_method_params(tmp_path, deep4chem_fixture):
    from zincfluor.cli import app

    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["train", "--data", str(deep4chem_fixture), "--out", str(run), "--epochs", "1",
         "--method", "bscl-sor", "--method-param", "no_sor=true", "--edge-drop", "0.3",
         "--feature-mask", "0.1", "--hidden-dim", "16", "--num-layers", "2",
         "--batch-size", "16", "--cache-dir", "none", "--workers", "1", "--no-progress",
         "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["edge_drop"] == 0.3 and config["feature_mask"] == 0.1
    assert config["method"] == "bscl-sor"
    assert config["resolved"]["method_hparams"]["no_sor"] is True
    metrics = json.loads((run / "metrics.json").read_text())
    assert "train_bsc" in metrics["history"][0] and "train_sor" not in metrics["history"][0]


def test_cli_help_describes_the_view_options():
    from zincfluor.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "--edge-drop" in result.output and "--feature-mask" in result.output


def test_logit_adjusted_ce_terms_add_tau_log_prior():
    """With logit_adjust_tau = τ the CE terms are CE(logits + τ·log π, y); 0 is plain CE."""
    x, y = _data()
    counts = torch.tensor(COUNTS)
    log_pi = torch.log(counts / counts.sum())
    for tau in (0.0, 1.5):
        method = build_method("bscl-sor", _context(), logit_adjust_tau=tau, no_bscl=True,
                              no_sor=True)
        model = _model()
        out = method.training_loss(model, x, y)
        h = model.features(x)
        expected = F.cross_entropy(model.head(h) + tau * log_pi, y)
        expected_aug = F.cross_entropy(model.head(model.features(_view(x))) + tau * log_pi, y)
        assert torch.allclose(out.parts["ce"], expected.detach(), atol=1e-6)
        assert torch.allclose(out.loss, (expected + expected_aug).detach(), atol=1e-6)
    assert method.hparams["logit_adjust_tau"] == 1.5
