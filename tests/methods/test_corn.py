"""The CORN loss by hand, and the ordinal head composed with balanced softmax."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn.heads import OrdinalHead
from zincfluor.nn.model import Classifier

F = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]  # conditional logits, C = 4
TARGETS = [0, 2]
COUNTS = (5.0, 3.0, 2.0, 1.0)


class _TakeX(nn.Module):
    def forward(self, inputs):
        return inputs.x


def _ordinal_model() -> Classifier:
    """conditional logits = the inputs' x."""
    head = OrdinalHead(3, 4)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(3))
        head.linear.bias.zero_()
    return Classifier(_TakeX(), head)


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _context():
    return MethodContext(class_counts=torch.tensor(COUNTS), num_epochs=1)


def test_corn_loss_matches_hand_computation():
    assert "corn" in METHODS
    # sample 0 (y = 0) is in task 0 only, label 0; sample 1 (y = 2) in tasks 0, 1, 2 with
    # labels 1, 1, 0: four binary cross-entropies, averaged
    terms = [
        -math.log(1 - _sig(F[0][0])),
        -math.log(_sig(F[1][0])), -math.log(_sig(F[1][1])), -math.log(1 - _sig(F[1][2])),
    ]
    method = build_method("corn", _context())
    out = method.training_loss(
        _ordinal_model(), SimpleNamespace(x=torch.tensor(F)), torch.tensor(TARGETS)
    )
    torch.testing.assert_close(out.loss, torch.tensor(sum(terms) / 4))
    with pytest.raises(ValueError, match="--head ordinal"):
        method.adjust_model_spec({"head": {"name": "linear", "num_classes": 4}})


def test_ordinal_head_composes_with_balanced_softmax():
    """Balanced softmax on the ordinal head: CE(log P(y = k) + log N_k, y), by hand."""
    total = 0.0
    for f, y in zip(F, TARGETS, strict=True):
        s = [_sig(v) for v in f]
        p = [1 - s[0], s[0] * (1 - s[1]), s[0] * s[1] * (1 - s[2]), s[0] * s[1] * s[2]]
        z = [math.log(pk) + math.log(n) for pk, n in zip(p, COUNTS, strict=True)]
        total += -z[y] + math.log(sum(math.exp(v) for v in z))
    method = build_method("balanced-softmax", _context())
    out = method.training_loss(
        _ordinal_model(), SimpleNamespace(x=torch.tensor(F)), torch.tensor(TARGETS)
    )
    torch.testing.assert_close(out.loss, torch.tensor(total / 2))
