"""LDS weights and the LDS-weighted Gaussian NLL against hand arithmetic."""

import math

import pytest
import torch
from regression_models import batch, gaussian_model, nll

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.lds import gaussian_kernel

TRAIN_NM = [400.0, 402.0, 406.0, 500.0]  # 5 nm bins from 400: 0, 0, 1, 20 (21 bins)
A = math.exp(-0.5)  # kernel_size 3, sigma 1: k = [A, 1, A] / (1 + 2A)


def _context(values=TRAIN_NM) -> MethodContext:
    return MethodContext(class_counts=torch.tensor([2.0, 1.0, 1.0]), num_epochs=2,
                         target_values=torch.tensor(values))


def _smoothed() -> tuple[float, float, float]:
    """ñ of bins 0, 1 and 20: counts 2, 1 and 1, the neighbours of bin 20 empty."""
    z = 1 + 2 * A
    return (2 + A) / z, (2 * A + 1) / z, 1 / z


def test_registered_and_kernel_is_normalised_gaussian():
    assert "lds" in METHODS and "gaussian-nll" in METHODS and METHODS["lds"].summary
    torch.testing.assert_close(
        gaussian_kernel(3, 1.0), torch.tensor([A, 1, A], dtype=torch.float64) / (1 + 2 * A)
    )
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(4, 1.0)


@pytest.mark.parametrize("reweight, power", [("inverse", 1.0), ("sqrt_inv", 0.5)])
def test_lds_weighted_nll_matches_hand_computation(reweight, power):
    n0, n1, n20 = _smoothed()
    raw = {0: n0**-power, 1: n1**-power, 20: n20**-power}
    scale = 4 / (2 * raw[0] + raw[1] + raw[20])  # mean weight 1 over the training values
    # batch: 401 nm (bin 0), 406 (bin 1), 500 (bin 20), 700 (beyond: clamped to bin 20)
    nm = [401.0, 406.0, 500.0, 700.0]
    weights = [raw[0] * scale, raw[1] * scale, raw[20] * scale, raw[20] * scale]
    mean, log_var = [6.0, 6.1, 6.2, 6.5], [0.0, -1.0, 0.5, -0.2]
    expected = sum(w * nll(m, v, y) for w, m, v, y in zip(weights, mean, log_var, nm,
                                                          strict=True)) / 4
    method = build_method("lds", _context(), kernel_size=3, sigma=1.0, reweight=reweight)
    assert method.hparams["reweight"] == reweight
    torch.testing.assert_close(method.sample_weights(torch.tensor(nm)), torch.tensor(weights))
    out = method.training_loss(gaussian_model(), batch(mean, log_var, nm), None)
    torch.testing.assert_close(out.loss, torch.tensor(expected, dtype=torch.float32))


def test_unweighted_lds_is_the_gaussian_nll():
    mean, log_var, nm = [6.0, 6.3], [0.2, -0.4], [410.0, 480.0]
    expected = (nll(6.0, 0.2, 410.0) + nll(6.3, -0.4, 480.0)) / 2
    inputs = batch(mean, log_var, nm)
    plain = build_method("gaussian-nll", _context()).training_loss(gaussian_model(), inputs, None)
    flat = build_method("lds", _context(), reweight="none").training_loss(
        gaussian_model(), inputs, None
    )
    torch.testing.assert_close(plain.loss, torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(flat.loss, plain.loss)


def test_regression_methods_say_what_they_need():
    with pytest.raises(ValueError, match="--target emission_nm"):
        build_method("lds", MethodContext(class_counts=torch.ones(3), num_epochs=1))
    method = build_method("lds", _context())
    with pytest.raises(ValueError, match="--head gaussian"):
        method.adjust_model_spec({"head": {"name": "linear", "num_classes": 3}})
    inputs = batch([6.0], [0.0], [410.0])
    del inputs.y_nm
    with pytest.raises(ValueError, match="no y_nm"):
        method.training_loss(gaussian_model(), inputs, None)
