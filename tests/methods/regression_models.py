"""A tiny model and batch for the wavelength-regression method tests: the 'backbone' passes the
batch's ``x`` through and the Gaussian head reads μ = h_0 and log σ² = h_1 (z = log λ)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from zincfluor.nn.heads import GaussianHead
from zincfluor.nn.model import Classifier

EDGES = (450.0, 550.0)


class TakeX(nn.Module):
    def forward(self, inputs):
        return inputs.x


def gaussian_model() -> Classifier:
    head = GaussianHead(2, len(EDGES) + 1, edges=list(EDGES), loc=0.0, scale=1.0)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(2))
        head.linear.bias.zero_()
    return Classifier(TakeX(), head)


def batch(mean, log_var, nm) -> SimpleNamespace:
    """A batch whose Gaussian is N(mean, exp(log_var)) in z = log λ, with targets ``nm``."""
    x = torch.tensor([mean, log_var], dtype=torch.float32).t().contiguous()
    return SimpleNamespace(x=x, y_nm=torch.tensor(nm, dtype=torch.float32))


def nll(mean: float, log_var: float, nm: float) -> float:
    """½ [log σ² + (log λ − μ)²/σ² + log 2π], by hand."""
    import math

    return 0.5 * (log_var + (math.log(nm) - mean) ** 2 / math.exp(log_var)
                  + math.log(2 * math.pi))
