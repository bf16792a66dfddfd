"""kps: class scales, margins and GA scales by hand; the loss by hand before and after GA."""

import math

import pytest
import torch
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn import gcn_spec
from zincfluor.nn.model import Classifier

COUNTS = (200.0, 20.0, 10.0)
LN50 = math.log(50)
# a_j = ln(50 N_j / N_min) / ln 50 with N_min = 10
HAND_SCALES = [math.log(1000) / LN50, math.log(100) / LN50, 1.0]
# reflected: ã_j = a_max + a_min − a_j = ln(50 N_max / N_j) / ln 50
HAND_REVERSED = [1.0, math.log(500) / LN50, math.log(1000) / LN50]
COSINES = [[0.8, 0.1, -0.3], [0.2, 0.4, 0.6], [0.1, -0.2, 0.5]]
TARGETS = [0, 2, 1]


def _context(counts=COUNTS, epochs=10) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts), num_epochs=epochs)


def _identity() -> Classifier:
    return Classifier(nn.Identity(), nn.Identity())


def _sample_ce(z, y) -> float:
    return -z[y] + math.log(sum(math.exp(v) for v in z))


def _hand_kps(scales, margins, sample_scale) -> float:
    """mean_i CE(S_i · (a_j cos_ij − m_{y_i} [j = y_i]))."""
    total = 0.0
    for cos, y in zip(COSINES, TARGETS, strict=True):
        s = sample_scale(y)
        z = [s * (a * c - (margins[y] if j == y else 0.0))
             for j, (a, c) in enumerate(zip(scales, cos, strict=True))]
        total += _sample_ce(z, y)
    return total / len(COSINES)


def test_registered_with_a_summary():
    assert METHODS["kps"].summary


def test_class_scales_margins_and_ga_scales_by_hand():
    method = build_method("kps", _context())
    torch.testing.assert_close(method.class_scales, torch.tensor(HAND_SCALES))
    for reflected, a in zip(HAND_REVERSED, HAND_SCALES, strict=True):
        assert reflected == pytest.approx(HAND_SCALES[0] + 1.0 - a)
    a_max = HAND_SCALES[0]  # ≈ 1.766
    hand_margins = [0.2 * r / a_max for r in HAND_REVERSED]
    torch.testing.assert_close(method.margins, torch.tensor(hand_margins))
    assert float(method.margins[2]) == pytest.approx(0.2)  # the rarest class gets max_margin
    # tail classes get larger margins
    assert method.margins[2] > method.margins[1] > method.margins[0]
    # S_c = clamp(15 ã_c, 15, 50): 15, 15 · 1.589, 15 · 1.766
    hand_ga = [min(max(15 * r, 15), 50) for r in HAND_REVERSED]
    torch.testing.assert_close(method.ga_scales, torch.tensor(hand_ga))


def test_ga_scales_are_clamped_at_max_scale():
    method = build_method("kps", _context(), scale=30.0)
    assert float(method.ga_scales.max()) == pytest.approx(50.0)  # 30 · 1.766 > 50
    assert float(method.ga_scales.min()) == pytest.approx(30.0)


def test_loss_by_hand_before_and_after_gradient_adjustment():
    method = build_method("kps", _context(), ga_epoch=4, head_scale=1.0)
    margins = [0.2 * r / HAND_SCALES[0] for r in HAND_REVERSED]
    ga = [min(max(15 * r, 15), 50) for r in HAND_REVERSED]
    cos, targets = torch.tensor(COSINES), torch.tensor(TARGETS)
    before = _hand_kps(HAND_SCALES, margins, lambda y: 15.0)
    after = _hand_kps(HAND_SCALES, margins, lambda y: ga[y])
    assert abs(before - after) > 0.1
    for epoch, expected in [(0, before), (3, before), (4, after), (9, after)]:
        method.on_epoch_start(epoch)
        out = method.training_loss(_identity(), cos, targets)
        torch.testing.assert_close(out.loss, torch.tensor(expected))
        torch.testing.assert_close(out.parts["kps"], torch.tensor(expected))


def test_head_scale_is_divided_out():
    method = build_method("kps", _context(), ga_epoch=100)  # head_scale defaults to s = 15
    margins = [0.2 * r / HAND_SCALES[0] for r in HAND_REVERSED]
    out = method.training_loss(_identity(), 15.0 * torch.tensor(COSINES), torch.tensor(TARGETS))
    torch.testing.assert_close(
        out.loss, torch.tensor(_hand_kps(HAND_SCALES, margins, lambda y: 15.0))
    )
    spec = method.adjust_model_spec(gcn_spec(8, 3, hidden_dim=16, num_layers=1))
    assert spec["head"] == {"name": "cosine", "num_classes": 3, "scale": 15.0}


def test_rank_reversal_is_the_official_flip_for_classes_listed_head_first():
    method = build_method("kps", _context(), reversal="rank")
    flipped = HAND_SCALES[::-1]  # [1, ln100/ln50, ln1000/ln50]
    torch.testing.assert_close(method.margins, torch.tensor([0.2 * f / HAND_SCALES[0]
                                                             for f in flipped]))


def test_rank_reversal_follows_count_order_not_class_order():
    permuted = build_method("kps", _context((10.0, 200.0, 20.0)), reversal="rank")
    listed = build_method("kps", _context((200.0, 20.0, 10.0)), reversal="rank")
    torch.testing.assert_close(permuted.margins, listed.margins[[2, 0, 1]])
    torch.testing.assert_close(permuted.ga_scales, listed.ga_scales[[2, 0, 1]])


def test_log_and_rank_reversals_agree_on_a_geometric_profile():
    counts = (1000.0, 100.0, 10.0)  # exponential profile, as CIFAR-LT
    log = build_method("kps", _context(counts), reversal="log")
    rank = build_method("kps", _context(counts), reversal="rank")
    torch.testing.assert_close(log.margins, rank.margins)
    torch.testing.assert_close(log.ga_scales, rank.ga_scales)


def test_default_hparams_and_errors():
    assert build_method("kps", _context(epochs=200)).hparams == {
        "scale": 15.0, "max_margin": 0.2, "max_scale": 50.0, "count_offset": 50.0,
        "ga_epoch": 120, "reversal": "log", "head_scale": 15.0,
    }
    with pytest.raises(ValueError, match="reversal"):
        build_method("kps", _context(), reversal="flip")
    with pytest.raises(ValueError, match="count_offset"):
        build_method("kps", _context(), count_offset=1.0)
    with pytest.raises(ValueError, match="max_scale"):
        build_method("kps", _context(), scale=60.0)


def test_balanced_counts_give_a_plain_cosface_loss():
    method = build_method("kps", _context((5.0, 5.0, 5.0)), head_scale=1.0)
    torch.testing.assert_close(method.class_scales, torch.ones(3))
    torch.testing.assert_close(method.margins, torch.full((3,), 0.2))
    torch.testing.assert_close(method.ga_scales, torch.full((3,), 15.0))


def test_trains_one_epoch_and_the_checkpoint_reloads(deep4chem_fixture, tmp_path, monkeypatch):
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "kps"
    )
    assert trainer.method.ga_active  # int(0.6 * 1) = 0
    assert checkpoint["model_spec"]["head"] == {"name": "cosine", "num_classes": 8, "scale": 15.0}
    assert math.isfinite(result.fit.history[0]["train_kps"])
