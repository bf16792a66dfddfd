"""Emission-wavelength metrics of a model with a distributional (Gaussian) head.

Such a model predicts the emission maximum λ (nm) as well as the levels: its median and a
central interval (see :meth:`zincfluor.nn.heads.GaussianHead.emission_nm`). Training and
evaluation report, beside the level metrics, ``wavelength``::

    {"mae_nm": ..., "n_known": ..., "interval": 0.8, "interval_coverage": ...}

MAE of the median against the measured maximum, and the empirical coverage of the central
:data:`INTERVAL` interval (the share of molecules whose measured maximum lies inside it; close
to 0.8 when the predicted spread is honest). Classification heads get no such block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from zincfluor.train.metrics import GroupThresholds, evaluate_predictions, interval_coverage
from zincfluor.train.trainer import move_to_device, unpack_batch

__all__ = ["INTERVAL", "has_wavelength_head", "predict_emission_nm", "evaluate_with_wavelength"]

INTERVAL = 0.8
"""Coverage of the reported wavelength interval (the Predictor's ``INTERVAL_COVERAGE``)."""


def has_wavelength_head(model: torch.nn.Module) -> bool:
    """True when ``model``'s head predicts a distribution over the emission maximum."""
    return hasattr(getattr(model, "head", None), "log_nm_distribution")


@torch.no_grad()
def predict_emission_nm(
    model: torch.nn.Module, loader: Iterable, device: torch.device | str = "cpu",
    coverage: float = INTERVAL,
) -> np.ndarray | None:
    """[N, 3] (median, low, high) emission maximum in nm over ``loader``'s graphs, in order, with
    the central ``coverage`` interval; ``None`` for a model without a wavelength head."""
    if not has_wavelength_head(model):
        return None
    model.eval()
    device = torch.device(device)
    rows = []
    for batch in loader:
        inputs, _ = unpack_batch(move_to_device(batch, device))
        median, low, high = model.emission_nm(inputs, coverage)
        rows.append(torch.stack([median, low, high], dim=1).float().cpu())
    return torch.cat(rows).numpy()


def evaluate_with_wavelength(
    probs: Any,
    targets: Any,
    train_counts: Any,
    class_names: Sequence[str],
    *,
    thresholds: GroupThresholds = GroupThresholds(),
    group_rule: str = "thresholds",
    emission_nm: np.ndarray | None = None,
    true_nm: np.ndarray | None = None,
    coverage: float = INTERVAL,
) -> dict[str, Any]:
    """:func:`~zincfluor.train.metrics.evaluate_predictions`, plus the ``wavelength`` block when
    the model predicts the emission maximum (``emission_nm`` [N, 3]: median, low, high) and the
    measured maxima ``true_nm`` [N] are known (NaN where a molecule has none).

    Without ``emission_nm`` or ``true_nm`` (a classification head; a table of given labels) the
    result is exactly ``evaluate_predictions``'s.
    """
    if emission_nm is None or true_nm is None:
        return evaluate_predictions(probs, targets, train_counts, class_names,
                                    thresholds=thresholds, group_rule=group_rule)
    emission_nm = np.asarray(emission_nm, dtype=np.float64)
    true_nm = np.asarray(true_nm, dtype=np.float64)
    metrics = evaluate_predictions(
        probs, targets, train_counts, class_names, thresholds=thresholds,
        group_rule=group_rule, predicted_nm=emission_nm[:, 0], true_nm=true_nm,
    )
    covered = interval_coverage(emission_nm[:, 1], emission_nm[:, 2], true_nm)
    metrics["wavelength"]["interval"] = coverage
    metrics["wavelength"]["interval_coverage"] = None if np.isnan(covered) else covered
    return metrics
