import math

import pytest
import torch
from torch import nn

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn.heads import LinearHead
from zincfluor.nn.model import Classifier


def _context(counts=(5, 3, 1)) -> MethodContext:
    return MethodContext(class_counts=torch.tensor(counts, dtype=torch.float32), num_epochs=10)


def test_registry_lists_ce_with_a_summary():
    assert "ce" in METHODS
    assert METHODS["ce"].summary


def test_unknown_method_names_the_choices():
    with pytest.raises(KeyError, match="choose one of: .*ce"):
        build_method("no-such-method", _context())


def test_unknown_hyperparameter_is_an_error():
    with pytest.raises(TypeError):
        build_method("ce", _context(), temperature=0.1)


def test_cross_entropy_matches_hand_computation():
    # logits for one sample: [2, 1, 0], target 0 -> -log(e^2 / (e^2 + e^1 + e^0))
    model = Classifier(nn.Identity(), nn.Identity())
    method = build_method("ce", _context())
    out = method.training_loss(model, torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0]))
    expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(1) + 1))
    torch.testing.assert_close(out.loss, torch.tensor(expected))
    torch.testing.assert_close(out.parts["ce"], torch.tensor(expected))


def test_method_keeps_class_counts_in_a_buffer_that_moves_with_it():
    method = build_method("ce", _context((4, 2)))
    assert "class_counts" in dict(method.named_buffers())
    torch.testing.assert_close(method.class_counts, torch.tensor([4.0, 2.0]))
    assert method.hparams == {"label_smoothing": 0.0}


def test_ce_trains_a_linear_model():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = Classifier(nn.Identity(), LinearHead(4, 2))
    method = build_method("ce", _context((32, 32)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for _ in range(50):
        loss = method.training_loss(model, x, y).loss
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.5 * first
