"""Score a peer's predictions with zincfluor's own metrics (:mod:`zincfluor.train.metrics`).

A classifier's probabilities go through
:func:`~zincfluor.train.metrics.evaluate_predictions`, exactly what a zincfluor run reports,
its ``retrieval`` block included (each rare group ranked by the summed probability of its
levels). A regressor's predicted nm is binned into levels by the label scheme and scored with
the same confusion-matrix functions; a point regressor has no probability, so it ranks each
rare group by predicted nm, scored with the same retrieval functions (ROC-AUC, average
precision, precision at k, enrichment factor) at the same k and fractions, and its error is
:func:`~zincfluor.train.metrics.mean_absolute_error_nm`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zincfluor.data import LabelScheme
from zincfluor.train.metrics import (
    DEFAULT_RETRIEVAL_GROUPS,
    ENRICHMENT_FRACTIONS,
    RETRIEVAL_FRACTIONS,
    RETRIEVAL_KS,
    average_precision,
    balanced_accuracy,
    confusion_matrix,
    enrichment_factor,
    evaluate_predictions,
    macro_f1,
    mean_absolute_error_nm,
    per_class_accuracy,
    precision_at_k,
    roc_auc,
    tail_top_k_accuracy,
    top1_accuracy,
    top_fraction_size,
)

__all__ = ["rare_groups", "classifier_metrics", "regressor_metrics", "ranking_block"]

TAIL_KS = (2, 4, 6)


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def rare_groups(scheme: LabelScheme) -> dict[str, int]:
    """First level of each of zincfluor's retrieval groups that ``scheme`` has
    (emission8: red+ from red, far-red+ from far-red)."""
    names = list(scheme.names)
    return {
        group: names.index(level)
        for group, level in DEFAULT_RETRIEVAL_GROUPS.items()
        if level in names
    }


def ranking_block(score: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    """The retrieval metrics of ranking by ``score`` (any number, e.g. predicted nm), with the
    k and fractions of :func:`zincfluor.train.metrics.retrieval_metrics`'s blocks."""
    n = len(score)
    precision = {str(k): precision_at_k(score, positive, k) for k in RETRIEVAL_KS}
    for fraction in RETRIEVAL_FRACTIONS:
        precision[f"{100 * fraction:g}%"] = precision_at_k(
            score, positive, top_fraction_size(n, fraction) if n else 1
        )
    return {
        "n_positive": int(np.sum(positive)),
        "prevalence": _number(float(np.mean(positive)) if n else math.nan),
        "roc_auc": _number(roc_auc(score, positive)),
        "average_precision": _number(average_precision(score, positive)),
        "precision_at_k": {key: _number(value) for key, value in precision.items()},
        "enrichment_factor": {
            f"{100 * fraction:g}%": _number(enrichment_factor(score, positive, fraction))
            for fraction in ENRICHMENT_FRACTIONS
        },
    }


def classifier_metrics(
    probs: np.ndarray, labels: np.ndarray, train_counts: np.ndarray, scheme: LabelScheme
) -> dict[str, Any]:
    """zincfluor's evaluation dict of a classifier (its ``retrieval`` ranks each rare group by
    the summed probability of the group's levels)."""
    result = evaluate_predictions(
        np.asarray(probs, dtype=np.float64), labels, train_counts, list(scheme.names)
    )
    result["rare_score"] = "P(group levels)"
    return result


def regressor_metrics(
    predicted_nm: np.ndarray,
    labels: np.ndarray,
    values: np.ndarray,
    train_counts: np.ndarray,
    scheme: LabelScheme,
) -> dict[str, Any]:
    """Level metrics of the levels binned from ``predicted_nm``, ``mae_nm`` against the measured
    ``values``, and ``retrieval`` of each rare group ranked by predicted nm."""
    predicted_nm = np.asarray(predicted_nm, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    names = list(scheme.names)
    cm = confusion_matrix(labels, scheme.assign(predicted_nm), scheme.num_classes)
    accuracy = per_class_accuracy(cm)
    result: dict[str, Any] = {
        "n": int(labels.size),
        "top1": _number(top1_accuracy(cm)),
        "balanced_accuracy": _number(balanced_accuracy(cm)),
        "macro_f1": _number(macro_f1(cm)),
        "per_level_top1": {name: _number(a) for name, a in zip(names, accuracy, strict=True)},
    }
    for k in TAIL_KS:
        defined = k <= scheme.num_classes
        tail = tail_top_k_accuracy(accuracy, train_counts, k) if defined else math.nan
        result[f"tail_top_{k}"] = _number(tail)
    result["mae_nm"] = _number(mean_absolute_error_nm(predicted_nm, values))
    result["retrieval"] = {
        "n": int(labels.size),
        "groups": {
            group: {"levels": names[start:], **ranking_block(predicted_nm, labels >= start)}
            for group, start in rare_groups(scheme).items()
        },
    }
    result["rare_score"] = "predicted nm"
    result.update(
        confusion_matrix=cm.tolist(),
        class_names=names,
        train_counts=np.asarray(train_counts).tolist(),
        eval_counts=cm.sum(axis=1).tolist(),
    )
    return result
