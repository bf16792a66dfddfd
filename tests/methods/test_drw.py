"""ce-drw: class-balanced weights by hand, and the switch at exactly the deferred epoch."""

import math

import pytest
import torch
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn.model import Classifier

COUNTS = (100.0, 10.0, 1.0)
BETA = 0.9999
LOGITS = [[2.0, 1.0, 0.0], [2.0, -1.0, -1.0], [0.0, 0.3, -0.2]]
TARGETS = [0, 2, 1]


def _context(counts=COUNTS, epochs=10) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts), num_epochs=epochs)


def _identity() -> Classifier:
    return Classifier(nn.Identity(), nn.Identity())


def _hand_weights(counts=COUNTS, beta=BETA) -> list[float]:
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    return [w * len(raw) / sum(raw) for w in raw]


def _sample_ce(z, y) -> float:
    return -z[y] + math.log(sum(math.exp(v) for v in z))


def test_registered_with_a_summary():
    assert METHODS["ce-drw"].summary


def test_weights_match_hand_computation_and_sum_to_c():
    method = build_method("ce-drw", _context())
    expected = _hand_weights()
    # N = 100: 1e-4 / (1 - 0.9999^100) ≈ 0.0100; N = 1: 1e-4 / 1e-4 = 1
    assert expected[2] > expected[1] > expected[0]
    torch.testing.assert_close(method.drw_weights, torch.tensor(expected))
    assert float(method.drw_weights.sum()) == pytest.approx(3.0)


def test_default_drw_epoch_is_80_percent_and_recorded():
    assert build_method("ce-drw", _context(epochs=10)).hparams == {"drw_epoch": 8, "beta": BETA}
    assert build_method("ce-drw", _context(epochs=200)).drw_epoch == 160
    assert build_method("ce-drw", _context(epochs=1)).drw_epoch == 0


def test_weights_switch_on_at_exactly_the_deferred_epoch():
    method = build_method("ce-drw", _context(), drw_epoch=3)
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    plain = sum(_sample_ce(z, y) for z, y in zip(LOGITS, TARGETS, strict=True)) / 3
    w = _hand_weights()
    weighted = sum(
        w[y] * _sample_ce(z, y) for z, y in zip(LOGITS, TARGETS, strict=True)
    ) / sum(w[y] for y in TARGETS)
    assert abs(plain - weighted) > 0.1  # the switch is visible in the loss

    seen = {}
    for epoch in range(6):
        method.on_epoch_start(epoch)
        seen[epoch] = method.class_weights is not None
        loss = method.training_loss(_identity(), logits, targets).loss
        expected = weighted if epoch >= 3 else plain
        torch.testing.assert_close(loss, torch.tensor(expected))
    assert seen == {0: False, 1: False, 2: False, 3: True, 4: True, 5: True}


def test_beta_zero_gives_equal_weights():
    method = build_method("ce-drw", _context(), beta=0.0, drw_epoch=0)
    torch.testing.assert_close(method.drw_weights, torch.ones(3))


def test_invalid_settings_are_errors():
    with pytest.raises(ValueError, match="beta"):
        build_method("ce-drw", _context(), beta=1.0)
    with pytest.raises(ValueError, match="drw_epoch"):
        build_method("ce-drw", _context(), drw_epoch=-1)


def test_trains_one_epoch_and_the_checkpoint_reloads(deep4chem_fixture, tmp_path, monkeypatch):
    # 1 epoch: the default deferred epoch is int(0.8) = 0, so the weighted branch runs
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "ce-drw"
    )
    assert trainer.method.drw_active
    assert checkpoint["method"]["hparams"] == {"drw_epoch": 0, "beta": BETA}
    assert "train_ce" in result.fit.history[0]
