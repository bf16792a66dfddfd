"""Temperature scaling: one scalar that makes a classifier's probabilities honest.

Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017): with logits z_i and labels y_i
of held-out data, fit

    T* = argmin_{T > 0}  (1/n) Σ_i −log softmax(z_i / T)_{y_i}

and predict softmax(z / T*). Dividing by T > 0 keeps every argmax, so accuracy, balanced accuracy
and the tail metrics do not move; only the confidence does. The negative log-likelihood is convex
in β = 1/T (a log-sum-exp of functions linear in β, minus a linear term), so a golden-section
search over β finds the one minimum (no optimiser library needed for one convex scalar).

Fit T on the validation split only; the test split then measures how well it worked.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["fit_temperature", "mean_nll"]

MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 100.0


def mean_nll(logits: torch.Tensor | np.ndarray, targets, temperature: float = 1.0) -> float:
    """(1/n) Σ −log softmax(z_i / T)_{y_i}, in float64."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    y = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    return float(torch.nn.functional.cross_entropy(z, y))


def fit_temperature(logits: torch.Tensor | np.ndarray, targets) -> float:
    """The temperature T in [0.05, 100] minimising the mean NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : [n, C] held-out logits (validation split)
    targets : [n] their class indices
    """
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if z.ndim != 2 or z.shape[0] != y.shape[0] or z.shape[0] == 0:
        raise ValueError(f"need [n, C] logits and n targets, got {tuple(z.shape)} and "
                         f"{tuple(y.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError("logits must be finite")

    def nll(beta: float) -> float:
        return float(torch.nn.functional.cross_entropy(z * beta, y))

    return 1.0 / _golden_section_minimum(nll, 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE)


def _golden_section_minimum(f, low: float, high: float, tolerance: float = 1e-7) -> float:
    """The minimiser of a convex (unimodal) ``f`` on [low, high]."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2.0
