"""los and lort: stage-1 CE, stage-2 targets by hand, one run through the pipeline."""

import math

import pytest
import torch
import torch.nn.functional as F
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, Stage2Config, build_method
from zincfluor.methods.logit_retargeting import default_delta
from zincfluor.nn.model import Classifier

COUNTS = (5.0, 3.0, 1.0, 1.0)
LOGITS = [[2.0, 1.0, 0.0, 0.0], [0.0, 0.5, -1.0, 1.0]]
TARGETS = [0, 3]


def _context(counts=COUNTS) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts), num_epochs=10)


def _soft_ce(rows, target_rows) -> float:
    """-(1/n) Σ_i Σ_c t_ic log softmax(z_i)_c, by hand."""
    total = 0.0
    for z, t in zip(rows, target_rows, strict=True):
        log_norm = math.log(sum(math.exp(v) for v in z))
        total += -sum(tc * (zc - log_norm) for zc, tc in zip(z, t, strict=True))
    return total / len(rows)


def test_registered_with_summaries_and_stage2_defaults():
    for name in ("los", "lort"):
        assert name in METHODS and METHODS[name].summary
        method = build_method(name, _context())
        assert method.stage2 == Stage2Config(epochs=20, lr=5e-4, weight_decay=0.0, momentum=0.9)
        assert method.hparams["stage2_epochs"] == 20 and method.hparams["stage2_lr"] == 5e-4
    assert build_method("los", _context()).hparams["label_smoothing"] == 0.98
    lort = build_method("lort", _context())
    assert lort.hparams["delta"] is None
    # default: the target ratio t_y / t_c of δ = 0.98 with 100 classes, 0.02 · 99 / 0.98
    ratio = 0.02 * 99 / 0.98
    assert lort.delta == pytest.approx(3 / (3 + ratio))
    target = lort.stage2_target(torch.tensor([0]))[0]
    assert float(target[0] / target[1]) == pytest.approx(ratio, rel=1e-5)
    assert default_delta(100) == pytest.approx(0.98)
    assert default_delta(8) == pytest.approx(0.776, abs=1e-3)


def test_stage1_is_plain_cross_entropy():
    model = Classifier(nn.Identity(), nn.Identity())
    for name in ("los", "lort"):
        out = build_method(name, _context()).training_loss(
            model, torch.tensor(LOGITS), torch.tensor(TARGETS)
        )
        torch.testing.assert_close(out.loss, torch.tensor(_soft_ce(LOGITS, [
            [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
        ])))


def test_los_target_and_loss_by_hand():
    # C = 4, ε = 0.98: true class 0.02 + 0.98/4 = 0.265, the others 0.98/4 = 0.245
    method = build_method("los", _context())
    target = method.stage2_target(torch.tensor(TARGETS))
    expected = [[0.265, 0.245, 0.245, 0.245], [0.245, 0.245, 0.245, 0.265]]
    torch.testing.assert_close(target, torch.tensor(expected))
    out = method.stage2_loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    torch.testing.assert_close(out.loss, torch.tensor(_soft_ce(LOGITS, expected)))
    # the same as torch's label smoothing
    torch.testing.assert_close(
        out.loss, F.cross_entropy(torch.tensor(LOGITS), torch.tensor(TARGETS), label_smoothing=0.98)
    )


def test_lort_target_and_loss_by_hand():
    # C = 4, δ = 0.6: true class 1 − δ = 0.4, each other class δ/3 = 0.2
    method = build_method("lort", _context(), delta=0.6)
    target = method.stage2_target(torch.tensor(TARGETS))
    expected = [[0.4, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.4]]
    torch.testing.assert_close(target, torch.tensor(expected))
    assert torch.allclose(target.sum(1), torch.ones(2))
    out = method.stage2_loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    torch.testing.assert_close(out.loss, torch.tensor(_soft_ce(LOGITS, expected)))
    assert set(out.parts) == {"retarget_ce"}


def test_lort_and_los_share_the_target_family():
    # δ = ε (C − 1)/C gives LOS's target
    los = build_method("los", _context(), label_smoothing=0.5)
    lort = build_method("lort", _context(), delta=0.5 * 3 / 4)
    y = torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(lort.stage2_target(y), los.stage2_target(y))


def test_lort_rejects_a_delta_that_inverts_the_target():
    eight = _context(tuple(float(n) for n in range(1, 9)))
    with pytest.raises(ValueError, match="delta"):
        build_method("lort", eight, delta=0.98)  # 0.02 true vs 0.14 for each wrong class
    with pytest.raises(ValueError, match="delta"):
        build_method("lort", eight, delta=7 / 8)  # all equal
    build_method("lort", eight, delta=0.87)
    with pytest.raises(ValueError):
        build_method("los", eight, label_smoothing=1.0)


def test_stage2_hparams_reach_the_stage2_config():
    method = build_method(
        "los", _context(), stage2_epochs=3, stage2_lr=0.1, stage2_weight_decay=1e-4,
        stage2_momentum=0.5, stage2_batch_size=7,
    )
    assert method.stage2 == Stage2Config(3, 0.1, 1e-4, 0.5, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["los", "lort"])
def test_trains_through_the_pipeline_with_one_stage2_epoch(monkeypatch, deep4chem_fixture,
                                                           tmp_path, name):
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", name, stage2_epochs=1
    )
    history = result.fit.history
    assert len(history) == 2 and history[1]["stage"] == 2 and "train_retarget_ce" in history[1]
    assert result.fit.best_epoch == 2 and result.fit.stage1_best_epoch == 1
    assert checkpoint["method"]["hparams"]["stage2_epochs"] == 1
