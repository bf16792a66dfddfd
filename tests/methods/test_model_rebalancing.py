"""more: low-rank reparameterisation, α(t), the prior-weighted discrepancy, and the merge."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from method_training import PROBE_SMILES, train_one_epoch_and_reload
from torch import nn
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.model_rebalancing import LowRankWeight, add_low_rank, low_rank
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.heads import LinearHead
from zincfluor.nn.model import Classifier

COUNTS = (6.0, 3.0, 1.0)


def _context(epochs=2, steps=5, counts=COUNTS) -> MethodContext:
    return MethodContext(torch.tensor(counts), num_epochs=epochs, steps_per_epoch=steps)


def _graphs():
    featurizer = FeaturizerConfig()
    batch = Batch.from_data_list(featurize_cached(PROBE_SMILES, featurizer, None).graphs)
    return featurizer, batch


def _gcn(featurizer, num_classes=3, dropout=0.0):
    spec = gcn_spec(featurizer.atom_dim, num_classes, hidden_dim=20, num_layers=3,
                    dropout=dropout, projection_dim=None)
    return spec, build_classifier(spec)


def _perturb_low_rank(model, scale=0.3):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LowRankWeight):
                m.B.normal_(0.0, scale)


def test_registered_with_summary_and_hparams():
    assert "more" in METHODS and METHODS["more"].summary
    method = build_method("more", _context())
    assert method.hparams == {"rank_ratio": 0.1, "amplitude": None, "base": "la", "tau": 1.0}
    assert method.amplitude == 6.0  # A = 2C
    with pytest.raises(ValueError):
        build_method("more", _context(), base="focal")


def test_rank_is_ceil_of_a_tenth_of_the_smaller_side():
    assert low_rank(0.1, 128, 128) == 13  # ceil(12.8)
    assert low_rank(0.1, 130, 300) == 13  # 0.1 · 130 is 13 exactly, not 14
    assert low_rank(0.1, 20, 64) == 2
    assert low_rank(0.1, 3, 8) == 1  # never 0


def test_every_backbone_linear_and_conv_gets_a_zero_initialised_low_rank_part():
    featurizer, batch = _graphs()
    _, model = _gcn(featurizer)
    model.eval()
    with torch.no_grad():
        before = model(batch)
    method = build_method("more", _context())
    model = method.configure_model(model)
    wrappers = [m for m in model.modules() if isinstance(m, LowRankWeight)]
    assert len(wrappers) == 3  # one GCNConv linear per layer; the head is not touched
    assert isinstance(model.head, LinearHead)
    first = model.backbone.convs[0].lin
    assert isinstance(first, LowRankWeight)
    m, k = 20, featurizer.atom_dim
    assert first.B.shape == (m, low_rank(0.1, m, k)) and first.A.shape == (first.rank, k)
    assert torch.count_nonzero(first.B) == 0 and torch.count_nonzero(first.A) > 0
    with torch.no_grad():
        torch.testing.assert_close(model(batch), before)  # B = 0: the same function


def test_linear_and_conv2d_backbones_for_images():
    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 10, 3, padding=1), nn.BatchNorm2d(10), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(10, 12),
    )
    model = Classifier(backbone, LinearHead(12, 3))
    x = torch.randn(4, 3, 6, 6)
    wrappers = add_low_rank(model.backbone, 0.1)
    assert [w.rank for w in wrappers] == [1, 1]  # conv: min(10, 3·3·3) = 10; linear: 10
    conv = wrappers[0]
    assert conv.B.shape == (10, 1) and conv.A.shape == (1, 27)
    _perturb_low_rank(model)
    model.eval()
    with torch.no_grad():
        merged_w = conv.base.weight + (conv.B @ conv.A).view(10, 3, 3, 3)
        expected = F.conv2d(x, merged_w, conv.base.bias, padding=1)
        torch.testing.assert_close(conv(x), expected)
        before = model(x)
    method = build_method("more", _context())
    model = method.finalize(model)
    assert not any(isinstance(m, LowRankWeight) for m in model.modules())
    assert isinstance(model.backbone[0], nn.Conv2d) and isinstance(model.backbone[5], nn.Linear)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)


def test_alpha_follows_a_half_sine_over_all_iterations():
    method = build_method("more", _context(epochs=2, steps=5))  # T = 10, A = 2 · 3 = 6
    assert method.alpha(0) == 0.0
    assert method.alpha(5) == pytest.approx(6.0)
    assert method.alpha(2) == pytest.approx(6.0 * math.sin(math.pi * 2 / 10))
    assert method.alpha(10) == pytest.approx(0.0, abs=1e-12)
    assert method.alpha(13) == pytest.approx(0.0, abs=1e-12)  # clamped after T
    assert build_method("more", _context(), amplitude=1.5).alpha(5) == pytest.approx(1.5)


def test_discrepancy_is_prior_weighted_by_hand():
    # π = (0.6, 0.3, 0.1)
    method = build_method("more", _context())
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    general = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [3.0, 0.0, 1.0]])
    targets = torch.tensor([0, 1, 2])
    # ‖Δ‖² = 1, 4 + 1 = 5, 9;  mean(0.6·1, 0.3·5, 0.1·9) = (0.6 + 1.5 + 0.9) / 3 = 1.0
    got = method.discrepancy(logits, general, targets)
    torch.testing.assert_close(got, torch.tensor(1.0))


def test_training_loss_is_base_plus_alpha_times_discrepancy():
    featurizer, batch = _graphs()
    targets = torch.tensor([0, 1, 2, 0, 0])
    torch.manual_seed(0)
    _, model = _gcn(featurizer)
    method = build_method("more", _context(epochs=2, steps=5))
    model = method.configure_model(model)
    _perturb_low_rank(model)
    model.eval()  # deterministic passes for the hand check
    method.on_epoch_start(0)
    for _ in range(3):  # t = 0, 1, 2
        out = method.training_loss(model, batch, targets)
    with torch.no_grad():
        full = model(batch)
        wrappers = [m for m in model.modules() if isinstance(m, LowRankWeight)]
        for w in wrappers:
            w.enabled = False
        general = model(batch)
        for w in wrappers:
            w.enabled = True
    prior = torch.tensor(COUNTS) / sum(COUNTS)
    base = F.cross_entropy(full + prior.log(), targets)
    disc = (prior[targets] * (full - general).pow(2).sum(1)).mean()
    alpha = 6.0 * math.sin(math.pi * 2 / 10)
    torch.testing.assert_close(out.loss, base + alpha * disc)
    torch.testing.assert_close(out.parts["discrepancy"], disc)
    assert float(out.parts["alpha"]) == pytest.approx(alpha)
    assert disc > 0
    ce = build_method("more", _context(), base="ce")
    torch.testing.assert_close(ce.base_loss(full, targets), F.cross_entropy(full, targets))


def test_general_pass_neither_updates_batch_norm_nor_changes_dropout():
    featurizer, batch = _graphs()
    targets = torch.tensor([0, 1, 2, 0, 0])
    torch.manual_seed(0)
    _, model = _gcn(featurizer, dropout=0.5)
    method = build_method("more", _context())
    model = method.configure_model(model).train()
    reference = copy.deepcopy(model)
    method.on_epoch_start(0)
    out = method.training_loss(model, batch, targets)
    # B = 0: with the same dropout masks both passes agree exactly
    assert float(out.parts["discrepancy"]) == 0.0
    reference(batch)  # one plain training pass
    for got, want in zip(model.backbone.norms, reference.backbone.norms, strict=True):
        torch.testing.assert_close(got.running_mean, want.running_mean)
        torch.testing.assert_close(got.running_var, want.running_var)
        assert int(got.num_batches_tracked) == int(want.num_batches_tracked) == 1


def test_gradients_reach_the_general_and_low_rank_weights():
    featurizer, batch = _graphs()
    torch.manual_seed(1)
    _, model = _gcn(featurizer)
    method = build_method("more", _context())
    model = method.configure_model(model).train()
    _perturb_low_rank(model)
    method.on_epoch_start(1)
    method.training_loss(model, batch, torch.tensor([0, 1, 2, 0, 0])).loss.backward()
    lin = model.backbone.convs[1].lin
    for p in (lin.base.weight, lin.A, lin.B):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_merge_gives_the_same_logits_and_the_plain_spec():
    featurizer, batch = _graphs()
    torch.manual_seed(2)
    spec, model = _gcn(featurizer)
    plain_keys = set(model.state_dict())
    method = build_method("more", _context())
    model = method.configure_model(model)
    assert set(model.state_dict()) != plain_keys
    _perturb_low_rank(model)
    model.eval()
    with torch.no_grad():
        before = model(batch)
    model = method.finalize(model)
    assert not any(isinstance(m, LowRankWeight) for m in model.modules())
    assert set(model.state_dict()) == plain_keys
    with torch.no_grad():
        after = model(batch)
    assert torch.equal(after, before)  # W_g + BA is the same tensor in both
    rebuilt = build_classifier(spec).eval()
    rebuilt.load_state_dict(model.state_dict())  # strict
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(batch), before, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_trains_through_the_pipeline_and_saves_the_merged_model(monkeypatch, deep4chem_fixture,
                                                                tmp_path):
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "more"
    )
    assert not any(isinstance(m, LowRankWeight) for m in trainer.model.modules())
    assert not any(".B" in k or ".base." in k for k in checkpoint["state_dict"])
    assert {"train_base", "train_discrepancy", "train_alpha"} <= set(result.fit.history[0])
