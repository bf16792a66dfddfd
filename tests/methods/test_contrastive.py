"""The shared contrastive losses against hand computation, and every contrastive method trained
for an epoch on the tiny measurement fixture."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from method_training import train_one_epoch_and_reload

from zincfluor.methods.contrastive import (
    balanced_contrastive_loss,
    rebalanced_contrastive_loss,
    supcon_loss,
)

# ------------------------------------------------------------------ reference loops


def _supcon_loop(z, labels, tau, weights=None, key_bias=None):
    """Khosla et al.'s L^sup_out written as loops; ``key_bias[k]`` is added to every logit of
    key k (numerator and denominator); anchors without positives are left out of the mean."""
    z = np.asarray(z, dtype=np.float64)
    n = len(labels)
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    key_bias = np.zeros(n) if key_bias is None else np.asarray(key_bias, dtype=np.float64)
    total, anchors = 0.0, 0
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        logit = {k: z[i] @ z[k] / tau + key_bias[k] for k in range(n) if k != i}
        log_denominator = math.log(sum(math.exp(v) for v in logit.values()))
        loss_i = -sum(logit[p] - log_denominator for p in positives) / len(positives)
        total += weights[i] * loss_i
        anchors += 1
    return total / anchors


def _unit(*angles_deg):
    return torch.tensor(
        [[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in angles_deg],
        dtype=torch.float64,
    )


# ------------------------------------------------------------------ SupCon


def test_supcon_on_four_embeddings_by_hand():
    # z0 = (1, 0), z1 = (0, 1), z2 = (-1, 0), z3 = (0, -1); labels 0, 0, 1, 1; τ = 1
    # z0: positive z1 (dot 0), keys z1, z2, z3 with dots 0, -1, 0
    #     ℓ0 = -(0 - log(e^0 + e^-1 + e^0)) = log(2 + e^-1); by symmetry all four anchors agree
    z = _unit(0, 90, 180, 270)
    labels = torch.tensor([0, 0, 1, 1])
    expected = math.log(2 + math.exp(-1))
    assert supcon_loss(z, labels, temperature=1.0).item() == pytest.approx(expected, rel=1e-12)
    # τ = 0.5 doubles every logit: log(2 + e^-2)
    assert supcon_loss(z, labels, temperature=0.5).item() == pytest.approx(
        math.log(2 + math.exp(-2)), rel=1e-12
    )


def test_supcon_matches_the_loop_on_random_embeddings():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(10, 5, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 3])  # class 3 has no positive
    expected = _supcon_loop(z.numpy(), labels.tolist(), 0.1)
    assert supcon_loss(z, labels, 0.1).item() == pytest.approx(expected, rel=1e-10)


def test_weighted_supcon_with_uniform_weights_is_supcon():
    torch.manual_seed(1)
    z = F.normalize(torch.randn(8, 4, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])
    plain = supcon_loss(z, labels, 0.2)
    torch.testing.assert_close(supcon_loss(z, labels, 0.2, weights=torch.ones(8)), plain)
    torch.testing.assert_close(supcon_loss(z, labels, 0.2, weights=torch.full((8,), 3.0)),
                               3 * plain)
    weights = torch.rand(8, dtype=torch.float64)
    expected = _supcon_loop(z.numpy(), labels.tolist(), 0.2, weights=weights.numpy())
    assert supcon_loss(z, labels, 0.2, weights=weights).item() == pytest.approx(expected)


def test_anchor_without_positive_is_left_out_of_the_mean():
    # labels 0, 0, 1: anchor 2 has no positive; the mean is over anchors 0 and 1 only
    z = _unit(0, 90, 180)
    labels = torch.tensor([0, 0, 1])
    # anchor 0 = (1, 0): positive z1 (dot 0), keys z1, z2 (dots 0, -1) -> ℓ0 = log(1 + e^-1)
    # anchor 1 = (0, 1): positive z0 (dot 0), keys z0, z2 (dots 0, 0)  -> ℓ1 = log 2
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert supcon_loss(z, labels, 1.0).item() == pytest.approx(expected, rel=1e-12)


def test_supcon_without_any_positive_is_zero_with_finite_gradient():
    z = F.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    loss = supcon_loss(z, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(z.grad).all()
    single = torch.randn(1, 4, requires_grad=True)
    supcon_loss(F.normalize(single, dim=1), torch.tensor([0])).backward()
    assert torch.isfinite(single.grad).all()


# ------------------------------------------------------------------ BCL


def test_balanced_contrastive_class_averaged_denominator_by_hand():
    # rows z0 = (1,0) [class 0], z1 = (0,1) [class 0], z2 = (-1,0) [class 1]
    # prototypes p0 = (1,0), p1 = (0,-1); τ = 1
    # keys: z0 z1 z2 p0 p1 with classes 0 0 1 0 1 -> |B_0| = 3, |B_1| = 2
    z = _unit(0, 90, 180)
    prototypes = _unit(0, 270)
    labels = torch.tensor([0, 0, 1])
    e = math.exp
    # anchor z0 (class 0): own class keys z1, p0 (dots 0, 1), averaged over 3 - 1 = 2;
    # class 1 keys z2, p1 (dots -1, 0), averaged over 2
    d0 = (e(0) + e(1)) / 2 + (e(-1) + e(0)) / 2
    l0 = -((0 - math.log(d0)) + (1 - math.log(d0))) / 2
    # anchor z1: own class keys z0, p0 (dots 0, 0); class 1 keys z2, p1 (dots 0, -1)
    d1 = (e(0) + e(0)) / 2 + (e(0) + e(-1)) / 2
    l1 = -((0 - math.log(d1)) + (0 - math.log(d1))) / 2
    # anchor z2 (class 1): own class key p1 (dot 0), averaged over 2 - 1 = 1;
    # class 0 keys z0, z1, p0 (dots -1, 0, -1), averaged over 3
    d2 = e(0) / 1 + (e(-1) + e(0) + e(-1)) / 3
    l2 = -(0 - math.log(d2))
    expected = (l0 + l1 + l2) / 3
    got = balanced_contrastive_loss(z, labels, prototypes, temperature=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_balanced_contrastive_loss_loop_on_random_data():
    torch.manual_seed(2)
    z = F.normalize(torch.randn(8, 3, dtype=torch.float64), dim=1)
    prototypes = F.normalize(torch.randn(3, 3, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    keys = torch.cat([z, prototypes]).numpy()
    key_labels = labels.tolist() + [0, 1, 2]
    tau, total = 0.1, 0.0
    for i in range(8):
        seen = [k for k in range(11) if k != i]
        counts = {c: sum(key_labels[k] == c for k in seen) for c in range(3)}
        denominator = sum(
            math.exp(z[i].numpy() @ keys[k] / tau) / counts[key_labels[k]] for k in seen
        )
        positives = [k for k in seen if key_labels[k] == key_labels[i]]
        total += -np.mean([z[i].numpy() @ keys[p] / tau - math.log(denominator)
                           for p in positives])
    got = balanced_contrastive_loss(z, labels, prototypes, tau)
    assert got.item() == pytest.approx(total / 8, rel=1e-10)


# ------------------------------------------------------------------ RCL


def test_rebalanced_contrastive_loss_weights_keys_by_class_count():
    torch.manual_seed(3)
    z = F.normalize(torch.randn(6, 3, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    counts = torch.tensor([100.0, 10.0, 1.0], dtype=torch.float64)
    log_prior = (counts / counts.sum()).log()
    expected = _supcon_loop(z.numpy(), labels.tolist(), 0.1,
                            key_bias=counts.log()[labels].numpy())
    got = rebalanced_contrastive_loss(z, labels, log_prior, 0.1)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    # equal counts: exactly SupCon
    torch.testing.assert_close(
        rebalanced_contrastive_loss(z, labels, torch.zeros(3, dtype=torch.float64), 0.1),
        supcon_loss(z, labels, 0.1),
    )


def test_rebalanced_contrastive_loss_scales_rows_after_normalisation():
    torch.manual_seed(4)
    z = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    log_prior = torch.tensor([0.0, math.log(0.25)], dtype=torch.float64)
    scale = torch.tensor([1.0, 1.0, 0.005, 0.005], dtype=torch.float64)
    expected = _supcon_loop((z * scale[:, None]).numpy(), labels.tolist(), 0.1,
                            key_bias=log_prior[labels].numpy())
    got = rebalanced_contrastive_loss(z, labels, log_prior, 0.1, scale=scale)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    torch.testing.assert_close(
        rebalanced_contrastive_loss(z, labels, log_prior, 0.1, scale=torch.ones(4)),
        rebalanced_contrastive_loss(z, labels, log_prior, 0.1),
    )


# ------------------------------------------------------------------ training runs


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, hparams, parts",
    [
        ("bscl-sor", {}, {"ce", "ce_aug", "bsc", "sor"}),
        ("bscl-sor", {"no_bscl": True}, {"ce", "ce_aug", "sor"}),
        ("bscl-sor", {"no_sor": True}, {"ce", "ce_aug", "bsc"}),
        ("bcl", {}, {"la_ce", "bcl"}),
        ("rcl", {"compact_start": 0.0}, {"la_ce", "rcl"}),
        ("bcl-rcl", {"compact_start": 0.0}, {"la_ce", "bcl", "rcl"}),
    ],
)
def test_method_trains_an_epoch_and_its_checkpoint_reloads(
    monkeypatch, tmp_path, deep4chem_fixture, method, hparams, parts
):
    # the shared helper trains with projection_dim=None: the method must add its projection
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", method, **hparams
    )
    row = result.fit.history[0]
    assert {k for k in row if k.startswith("train_")} == {"train_loss"} | {
        f"train_{p}" for p in parts
    }
    assert math.isfinite(row["train_loss"])
    config = json.loads((result.out / "config.json").read_text())
    assert config["edge_drop"] == 0.2 and config["feature_mask"] == 0.2
    for key, value in hparams.items():
        assert checkpoint["method"]["hparams"][key] == value
    assert (checkpoint["model_spec"]["projection"] is None) == (hparams == {"no_bscl": True})
