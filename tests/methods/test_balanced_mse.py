"""Balanced MSE (BMC) against hand arithmetic."""

import math

import pytest
import torch
from regression_models import batch, gaussian_model, nll

from zincfluor.methods import METHODS, MethodContext, build_method

MEAN = [0.1, 0.5, 1.0]
TARGET_Z = [0.0, 0.6, 1.2]
NM = [math.exp(z) for z in TARGET_Z]  # the test head's z is log λ
LOG_VAR = [0.0, -0.5, 0.3]


def _bmc_by_hand(sigma: float) -> float:
    total = 0.0
    for i, m in enumerate(MEAN):
        logits = [-((m - y) ** 2) / (2 * sigma**2) for y in TARGET_Z]
        total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    return total / len(MEAN) * 2 * sigma**2


def _context():
    return MethodContext(class_counts=torch.ones(3), num_epochs=1)


@pytest.mark.parametrize("variance_weight", [0.0, 1.0])
def test_bmc_matches_hand_computation(variance_weight):
    assert "balanced-mse" in METHODS
    method = build_method("balanced-mse", _context(), init_noise_sigma=0.7, learn_noise=False,
                          variance_weight=variance_weight)
    variance = sum(nll(m, v, y) for m, v, y in zip(MEAN, LOG_VAR, NM, strict=True)) / 3
    expected = _bmc_by_hand(0.7) + variance_weight * variance
    out = method.training_loss(gaussian_model(), batch(MEAN, LOG_VAR, NM), None)
    torch.testing.assert_close(out.loss, torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(out.parts["bmc"], torch.tensor(_bmc_by_hand(0.7)))


def test_learnt_noise_gets_a_gradient_and_the_mean_only_bmc_gradient():
    learnt = build_method("balanced-mse", _context(), init_noise_sigma=0.7)
    assert isinstance(learnt.log_noise_sigma, torch.nn.Parameter)
    model = gaussian_model()
    inputs = batch(MEAN, LOG_VAR, NM)
    inputs.x.requires_grad_(True)
    learnt.training_loss(model, inputs, None).loss.backward()
    assert learnt.log_noise_sigma.grad is not None and learnt.log_noise_sigma.grad != 0
    with_variance = inputs.x.grad[:, 0].clone()
    # the variance term does not move the mean: the mean's gradient is BMC's alone
    inputs.x.grad = None
    bmc_only = build_method("balanced-mse", _context(), init_noise_sigma=0.7, variance_weight=0)
    bmc_only.training_loss(model, inputs, None).loss.backward()
    torch.testing.assert_close(with_variance, inputs.x.grad[:, 0])
