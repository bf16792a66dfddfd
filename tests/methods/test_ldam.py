"""ldam-drw: margins by hand (max 0.5, ∝ N^-1/4), the loss by hand, DRW switch, cosine head."""

import math

import numpy as np
import pytest
import torch
from method_training import train_one_epoch_and_reload
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.heads import CosineHead
from zincfluor.nn.model import Classifier

# N^(1/4) = 2, 3, 1 -> N^(-1/4) = 1/2, 1/3, 1 -> margins 0.5 * (1/2, 1/3, 1)
COUNTS = (16.0, 81.0, 1.0)
HAND_MARGINS = [0.25, 0.5 / 3, 0.5]
COSINES = [[0.8, 0.1, -0.3], [0.2, 0.4, 0.6]]
TARGETS = [0, 2]


def _context(counts=COUNTS, epochs=10) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts), num_epochs=epochs)


def _identity() -> Classifier:
    return Classifier(nn.Identity(), nn.Identity())


def _sample_ce(z, y) -> float:
    return -z[y] + math.log(sum(math.exp(v) for v in z))


def _hand_ldam(scale=30.0, weights=None) -> float:
    losses, ws = [], []
    for cos, y in zip(COSINES, TARGETS, strict=True):
        z = [scale * (c - (HAND_MARGINS[y] if j == y else 0.0)) for j, c in enumerate(cos)]
        losses.append(_sample_ce(z, y))
        ws.append(1.0 if weights is None else weights[y])
    return sum(w * v for w, v in zip(ws, losses, strict=True)) / sum(ws)


def test_registered_with_a_summary():
    assert METHODS["ldam-drw"].summary


def test_margins_by_hand_max_half_and_proportional_to_n_to_minus_quarter():
    method = build_method("ldam-drw", _context())
    torch.testing.assert_close(method.margins, torch.tensor(HAND_MARGINS))
    assert float(method.margins.max()) == pytest.approx(0.5)
    # m_c · N_c^(1/4) = K = 0.5 · min_c N_c^(1/4) = 0.5 for every class
    products = method.margins * torch.tensor(COUNTS) ** 0.25
    torch.testing.assert_close(products, torch.full((3,), 0.5))


def test_max_margin_hparam_rescales_margins():
    method = build_method("ldam-drw", _context(), max_margin=0.3)
    torch.testing.assert_close(method.margins, torch.tensor(HAND_MARGINS) * 0.6)


def test_loss_by_hand_before_and_after_the_deferred_epoch():
    method = build_method("ldam-drw", _context(), drw_epoch=2, head_scale=1.0)
    cos, targets = torch.tensor(COSINES), torch.tensor(TARGETS)
    raw = [(1 - 0.9999) / (1 - 0.9999**n) for n in COUNTS]
    weights = [w * 3 / sum(raw) for w in raw]
    method.on_epoch_start(1)
    out = method.training_loss(_identity(), cos, targets)
    torch.testing.assert_close(out.loss, torch.tensor(_hand_ldam()))
    torch.testing.assert_close(out.parts["ldam"], torch.tensor(_hand_ldam()))
    method.on_epoch_start(2)
    weighted = method.training_loss(_identity(), cos, targets).loss
    torch.testing.assert_close(weighted, torch.tensor(_hand_ldam(weights=weights)))
    assert abs(_hand_ldam() - _hand_ldam(weights=weights)) > 1e-2


def test_default_hparams():
    assert build_method("ldam-drw", _context(epochs=200)).hparams == {
        "max_margin": 0.5, "scale": 30.0, "drw_epoch": 160, "beta": 0.9999, "head_scale": 30.0,
    }


def test_spec_gets_a_cosine_head_that_the_loss_reads_as_cosines():
    method = build_method("ldam-drw", _context(), drw_epoch=100)
    spec = method.adjust_model_spec(gcn_spec(8, 3, hidden_dim=16, num_layers=1))
    assert spec["head"] == {"name": "cosine", "num_classes": 3, "scale": 30.0}
    assert isinstance(build_classifier(spec).head, CosineHead)

    # a cosine head with scale 30 on hand-picked features: cos computed with numpy
    head = CosineHead(2, 3, scale=30.0)
    w = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
    h = np.array([[3.0, 4.0], [1.0, -1.0]])
    with torch.no_grad():
        head.weight.copy_(torch.tensor(w, dtype=torch.float32))
    cos = (h / np.linalg.norm(h, axis=1, keepdims=True)) @ (
        w / np.linalg.norm(w, axis=1, keepdims=True)
    ).T
    expected = 0.0
    for row, y in zip(cos, TARGETS, strict=True):
        z = [30.0 * (c - (HAND_MARGINS[y] if j == y else 0.0)) for j, c in enumerate(row)]
        expected += _sample_ce(z, y) / 2
    model = Classifier(nn.Identity(), head)
    loss = method.training_loss(model, torch.tensor(h, dtype=torch.float32), torch.tensor(TARGETS))
    torch.testing.assert_close(loss.loss, torch.tensor(expected, dtype=torch.float32))


def test_trains_one_epoch_and_the_checkpoint_reloads(deep4chem_fixture, tmp_path, monkeypatch):
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "ldam-drw"
    )
    assert trainer.method.drw_active  # int(0.8 * 1) = 0
    assert checkpoint["model_spec"]["head"] == {"name": "cosine", "num_classes": 8, "scale": 30.0}
    assert math.isfinite(result.fit.history[0]["train_ldam"])
