"""balanced-softmax and logit-adjust against hand arithmetic; τ = 1 is balanced softmax."""

import math

import pytest
import torch
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn.model import Classifier

COUNTS = (6.0, 3.0, 1.0)
LOGITS = [[2.0, 1.0, 0.0], [0.5, -1.0, 1.0]]
TARGETS = [0, 2]


def _context(counts=COUNTS) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts), num_epochs=10)


def _identity() -> Classifier:
    """A 'model' whose logits are its inputs."""
    return Classifier(nn.Identity(), nn.Identity())


def _mean_ce(rows, targets) -> float:
    """-(1/n) Σ_i [z_i,y_i − log Σ_c exp z_ic], by hand."""
    total = 0.0
    for z, y in zip(rows, targets, strict=True):
        total += -z[y] + math.log(sum(math.exp(v) for v in z))
    return total / len(rows)


def test_registered_with_summaries():
    for name in ("balanced-softmax", "logit-adjust"):
        assert name in METHODS and METHODS[name].summary


def test_balanced_softmax_matches_hand_computation():
    # z + log N, N = (6, 3, 1)
    adjusted = [[z + math.log(n) for z, n in zip(row, COUNTS, strict=True)] for row in LOGITS]
    # sample 0: [2 + ln 6, 1 + ln 3, 0 + 0], target 0
    # sample 1: [0.5 + ln 6, -1 + ln 3, 1 + 0], target 2
    expected = _mean_ce(adjusted, TARGETS)
    method = build_method("balanced-softmax", _context())
    out = method.training_loss(_identity(), torch.tensor(LOGITS), torch.tensor(TARGETS))
    torch.testing.assert_close(out.loss, torch.tensor(expected))
    torch.testing.assert_close(out.parts["balanced_ce"], torch.tensor(expected))
    assert out.parts["balanced_ce"].requires_grad is False and out.parts["balanced_ce"].dim() == 0


@pytest.mark.parametrize("tau", [0.0, 0.5, 2.0])
def test_logit_adjust_matches_hand_computation(tau):
    total = sum(COUNTS)  # 10
    adjusted = [
        [z + tau * math.log(n / total) for z, n in zip(row, COUNTS, strict=True)] for row in LOGITS
    ]
    expected = _mean_ce(adjusted, TARGETS)
    method = build_method("logit-adjust", _context(), tau=tau)
    assert method.hparams == {"tau": tau}
    out = method.training_loss(_identity(), torch.tensor(LOGITS), torch.tensor(TARGETS))
    torch.testing.assert_close(out.loss, torch.tensor(expected))


def test_logit_adjust_tau_zero_is_plain_cross_entropy():
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    out = build_method("logit-adjust", _context(), tau=0.0).training_loss(
        _identity(), logits, targets
    )
    torch.testing.assert_close(out.loss, torch.tensor(_mean_ce(LOGITS, TARGETS)))


def test_logit_adjust_default_tau_is_one():
    assert build_method("logit-adjust", _context()).hparams == {"tau": 1.0}


def test_logit_adjust_tau_one_equals_balanced_softmax_loss_and_gradient():
    torch.manual_seed(0)
    base = torch.randn(7, 3)
    targets = torch.tensor([0, 1, 2, 0, 0, 1, 2])
    losses, grads = [], []
    for name in ("logit-adjust", "balanced-softmax"):
        logits = base.clone().requires_grad_(True)
        loss = build_method(name, _context()).training_loss(_identity(), logits, targets).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(logits.grad)
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1])


def test_empty_class_counts_as_one_and_stays_finite():
    method = build_method("balanced-softmax", _context((4.0, 0.0, 2.0)))
    torch.testing.assert_close(method.adjustment, torch.tensor([math.log(4), 0.0, math.log(2)]))
    logits = torch.zeros(2, 3, requires_grad=True)
    loss = method.training_loss(_identity(), logits, torch.tensor([0, 2])).loss
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_adjustment_is_a_buffer_that_moves_with_the_method():
    method = build_method("logit-adjust", _context(), tau=1.0)
    assert "adjustment" in dict(method.named_buffers())
    method = method.to(torch.float64)
    assert method.adjustment.dtype == torch.float64


@pytest.mark.parametrize("method", ["balanced-softmax", "logit-adjust"])
def test_trains_one_epoch_and_the_checkpoint_reloads(
    method, deep4chem_fixture, tmp_path, monkeypatch
):
    result, checkpoint, _ = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", method
    )
    assert len(result.fit.history) == 1
    assert checkpoint["model_spec"]["head"]["name"] == "linear"
