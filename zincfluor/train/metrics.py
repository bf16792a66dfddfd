"""Classification metrics for long-tailed label distributions.

Everything here works on plain class indices ``0 .. C-1`` and knows nothing about what the
classes mean. Inputs may be numpy arrays, sequences or torch tensors (converted on entry).
All accuracies are fractions in ``[0, 1]``; :func:`format_metric` turns them into percent text.
The expected calibration error (``ece``) is a fraction in ``[0, 1]`` everywhere, in files and on
screen alike: :func:`format_fraction` prints it (``0.123``), never as a percentage.

Head / medium / tail groups (:func:`assign_groups`) follow one of :data:`GROUP_RULES`:

* ``"thirds"`` (the default of molecule runs): levels sorted by descending training count and
  cut into three near-equal parts, the extra levels going to the head, then the medium part
  (:func:`thirds_groups`). With 8 levels that is 3 head, 3 medium, 2 tail; on Deep4Chem's
  emission8 counts (ultraviolet 728, violet 1489, blue 1264, green 1252, yellow-orange 754,
  red 579, far-red 238, near-infrared 68) head is violet, blue and green, medium is
  yellow-orange, ultraviolet and red, tail is far-red and near-infrared. Every group holds a
  level whenever there are at least 3.
* ``"thresholds"`` (the image default, CIFAR-LT's convention): head has more than 100 training
  samples, medium 20 to 100, tail fewer than 20 (:class:`GroupThresholds`). On Deep4Chem's
  training split it puts 7 of the 8 levels in the head, near-infrared alone in medium and none
  in the tail, whose accuracy is then undefined ("n/a").

Conventions shared by every function:

* A class "present" in an evaluation set has at least one target sample there. Class-averaged
  metrics (balanced accuracy, macro-F1, tail and group accuracies) average over present classes
  only; a class with no evaluation samples has an undefined (NaN) accuracy and is skipped.
* An average over nothing is NaN (never a warning, never 0).
* Predictions are ``argmax`` over probabilities; ties go to the lowest class index.

Retrieval metrics (:func:`retrieval_metrics`) measure what a screen is used for: ranking a
library by the probability of the rare levels. A target is a set of levels (``red+``: every
level from red up) or one level against the rest; its score is the summed probability of its
levels. For every target: ROC-AUC, average precision, precision at k and the enrichment factor.
They are NaN (None in JSON) when the set holds no positive molecule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "GROUP_NAMES",
    "GROUP_RULES",
    "GroupThresholds",
    "DEFAULT_RETRIEVAL_GROUPS",
    "RETRIEVAL_SUMMARY_COLUMNS",
    "assign_groups",
    "average_precision",
    "balanced_accuracy",
    "class_groups",
    "confusion_matrix",
    "enrichment_factor",
    "evaluate_predictions",
    "evaluate_per_subset",
    "expected_calibration_error",
    "fewest_sample_classes",
    "format_fraction",
    "format_metric",
    "group_accuracy",
    "interval_coverage",
    "last_k_accuracy",
    "macro_f1",
    "mean_absolute_error_nm",
    "per_class_accuracy",
    "precision_at_k",
    "retrieval_metrics",
    "retrieval_summary_rows",
    "roc_auc",
    "tail_top_k_accuracy",
    "thirds_groups",
    "top1_accuracy",
    "top_fraction_size",
]

GROUP_NAMES = ("head", "medium", "tail")
GROUP_RULES = ("thirds", "thresholds")
"""How levels are grouped into head / medium / tail (see the module docstring)."""

# Rows of a probability matrix must sum to 1 within this tolerance. Loose enough for float16
# softmax output, tight enough to catch logits passed by mistake.
_PROBABILITY_SUM_TOLERANCE = 1e-2


# --------------------------------------------------------------------------- input handling


def _to_numpy(values: Any) -> np.ndarray:
    """Return ``values`` as a numpy array; torch tensors are detached and moved to the CPU."""
    if hasattr(values, "detach"):
        tensor = values.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # dtypes numpy lacks, e.g. bfloat16
            return tensor.float().numpy()
    return np.asarray(values)


def _class_indices(values: Any, num_classes: int, name: str) -> np.ndarray:
    """Validate a 1-D array of integer class indices in ``[0, num_classes)``."""
    indices = _to_numpy(values)
    if indices.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {indices.shape}")
    if indices.size and not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {indices.dtype}")
    indices = indices.astype(np.int64, copy=False)
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got range [{indices.min()}, {indices.max()}]"
        )
    return indices


def _probability_matrix(probs: Any) -> np.ndarray:
    """Validate an ``[N, C]`` matrix whose rows are probability distributions."""
    matrix = _to_numpy(probs)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"probs must have shape [N, C] with C >= 1, got {matrix.shape}")
    if not matrix.size:
        return matrix
    if not np.isfinite(matrix).all() or matrix.min() < 0:
        raise ValueError("probs must be finite and non-negative (probabilities, not logits)")
    row_sums = matrix.sum(axis=1, dtype=np.float64)
    if np.abs(row_sums - 1.0).max() > _PROBABILITY_SUM_TOLERANCE:
        raise ValueError("rows of probs must sum to 1 (pass softmax probabilities, not logits)")
    return matrix


def _counts(train_counts: Any) -> np.ndarray:
    """Validate per-class sample counts as a 1-D non-negative integer array."""
    counts = _to_numpy(train_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"train_counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("train_counts must be non-negative whole numbers")
    return counts.astype(np.int64)


def _square_matrix(cm: Any) -> np.ndarray:
    matrix = _to_numpy(cm)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {matrix.shape}")
    return matrix


def _mean_or_nan(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without a RuntimeWarning) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix(targets: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """Count (true class, predicted class) pairs.

    ``cm[i, j]`` is the number of samples of true class ``i`` predicted as class ``j``,
    computed in one pass as ``bincount(C * target + prediction)`` reshaped to ``[C, C]``.

    Returns
    -------
    np.ndarray of int64, shape ``[num_classes, num_classes]``
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    true = _class_indices(targets, num_classes, "targets")
    predicted = _class_indices(predictions, num_classes, "predictions")
    if true.shape != predicted.shape:
        raise ValueError(f"targets {true.shape} and predictions {predicted.shape} differ")
    flat = np.bincount(true * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def per_class_accuracy(cm: Any) -> np.ndarray:
    """Per-class accuracy (recall): ``acc_c = cm[c, c] / sum_j cm[c, j]``.

    NaN for a class with no samples (an all-zero row).
    """
    matrix = _square_matrix(cm)
    support = matrix.sum(axis=1)
    correct = np.diag(matrix).astype(np.float64)
    accuracy = np.full(len(support), np.nan)
    np.divide(correct, support, out=accuracy, where=support > 0)
    return accuracy


def top1_accuracy(cm: Any) -> float:
    """Overall accuracy: ``trace(cm) / sum(cm)``; NaN for an empty matrix."""
    matrix = _square_matrix(cm)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else math.nan


def balanced_accuracy(cm: Any) -> float:
    """Mean per-class accuracy over the classes present in the targets.

    ``BA = (1 / |P|) * sum_{c in P} acc_c`` with ``P = {c : sum_j cm[c, j] > 0}``.
    """
    return _mean_or_nan(per_class_accuracy(cm))


def macro_f1(cm: Any) -> float:
    """Mean F1 over the classes present in the targets.

    ``F1_c = 2 * TP_c / (2 * TP_c + FP_c + FN_c) = 2 * cm[c, c] / (row_c + col_c)``, which
    equals ``2 * precision * recall / (precision + recall)`` and is 0 where
    ``precision + recall = 0``. A class that is predicted but absent from the targets is not
    averaged (its false positives already count as false negatives of the true classes).
    """
    matrix = _square_matrix(cm)
    support = matrix.sum(axis=1)
    present = support > 0
    if not present.any():
        return math.nan
    true_positive = np.diag(matrix)[present].astype(np.float64)
    denominator = support[present] + matrix.sum(axis=0)[present]
    return float(np.mean(2.0 * true_positive / denominator))


# --------------------------------------------------------------------------- calibration


def _calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    """ECE from per-sample confidences and 0/1 correctness (see expected_calibration_error)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if confidence.size == 0:
        return math.nan
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") puts c in the bin (edges[b], edges[b+1]]; c = 0 joins bin 0.
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    confidence_per_bin = np.bincount(bins, weights=confidence, minlength=n_bins)
    correct_per_bin = np.bincount(bins, weights=correct, minlength=n_bins)
    return float(np.abs(correct_per_bin - confidence_per_bin).sum() / confidence.size)


def expected_calibration_error(probs: Any, targets: Any, n_bins: int = 15) -> float:
    """Expected calibration error of the top-1 prediction over equal-width confidence bins.

    ``ECE = sum_b (|B_b| / N) * |acc(B_b) - conf(B_b)|``, where confidence is the maximum
    probability, bin ``b`` holds confidences in ``(b / n_bins, (b + 1) / n_bins]`` (the first
    bin also takes 0), ``acc`` is the fraction of correct argmax predictions in the bin and
    ``conf`` its mean confidence. Empty bins contribute 0; NaN when there are no samples.
    """
    matrix = _probability_matrix(probs)
    true = _class_indices(targets, matrix.shape[1], "targets")
    if len(true) != len(matrix):
        raise ValueError(f"probs has {len(matrix)} rows but targets has {len(true)} entries")
    predictions = matrix.argmax(axis=1)
    confidence = matrix[np.arange(len(matrix)), predictions].astype(np.float64)
    return _calibration_error(confidence, predictions == true, n_bins)


# --------------------------------------------------------------------------- tail classes


def fewest_sample_classes(train_counts: Any, k: int) -> list[int]:
    """The ``k`` classes with the fewest training samples, rarest first.

    Sorted by ascending training count; ties go to the higher class index first, because in
    ordered label schemes (e.g. increasing intensity levels) the later classes are the rarer
    ones, so a tie is broken towards the class that is "more tail" by position.
    """
    counts = _counts(train_counts)
    if not 1 <= k <= len(counts):
        raise ValueError(f"k must be in [1, {len(counts)}], got {k}")
    class_index = np.arange(len(counts))
    order = np.lexsort((-class_index, counts))  # primary key: count; secondary: -index
    return [int(c) for c in order[:k]]


def tail_top_k_accuracy(per_class_acc: Any, train_counts: Any, k: int) -> float:
    """Mean per-class accuracy over the ``k`` classes with the fewest training samples.

    ``(1 / |T'|) * sum_{c in T'} acc_c`` where ``T = fewest_sample_classes(train_counts, k)``
    and ``T'`` drops classes absent from the evaluation set (NaN accuracy). NaN if all are.
    """
    accuracy = np.asarray(_to_numpy(per_class_acc), dtype=np.float64)
    if len(accuracy) != len(_counts(train_counts)):
        raise ValueError("per_class_acc and train_counts must have one entry per class")
    return _mean_or_nan(accuracy[fewest_sample_classes(train_counts, k)])


def last_k_accuracy(per_class_acc: Any, k: int) -> float:
    """Mean per-class accuracy over the last ``k`` class indices (``C-k .. C-1``).

    The seed paper's tail metric: it assumes the highest indices are the rarest classes, which
    :func:`tail_top_k_accuracy` does not. Classes absent from the evaluation set are skipped.
    """
    accuracy = np.asarray(_to_numpy(per_class_acc), dtype=np.float64)
    if not 1 <= k <= len(accuracy):
        raise ValueError(f"k must be in [1, {len(accuracy)}], got {k}")
    return _mean_or_nan(accuracy[-k:])


# --------------------------------------------------------------------------- head/medium/tail


@dataclass(frozen=True)
class GroupThresholds:
    """Training-count thresholds for head / medium / tail classes.

    head: more than ``many`` samples; medium: ``few`` to ``many`` inclusive;
    tail: fewer than ``few``.
    """

    many: int = 100
    few: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.few <= self.many:
            raise ValueError(f"need 0 <= few <= many, got few={self.few}, many={self.many}")


def class_groups(train_counts: Any, thresholds: GroupThresholds = GroupThresholds()) -> list[str]:
    """Assign every class to "head", "medium" or "tail" by its training count."""
    return [
        "head" if count > thresholds.many else "tail" if count < thresholds.few else "medium"
        for count in _counts(train_counts).tolist()
    ]


def thirds_groups(train_counts: Any) -> list[str]:
    """Split classes into thirds by training count: "head", "medium", "tail".

    Classes are ordered by descending count (ties: lower index first, consistent with
    :func:`fewest_sample_classes`) and cut into three near-equal parts; when ``C`` is not a
    multiple of 3 the extra classes go to the head, then the medium part (``numpy.array_split``).
    """
    counts = _counts(train_counts)
    descending = np.lexsort((np.arange(len(counts)), -counts))
    groups = [""] * len(counts)
    for name, members in zip(GROUP_NAMES, np.array_split(descending, 3), strict=True):
        for class_index in members:
            groups[int(class_index)] = name
    return groups


def assign_groups(
    train_counts: Any, rule: str = "thresholds", thresholds: GroupThresholds = GroupThresholds()
) -> list[str]:
    """Every class's group under ``rule``: :func:`thirds_groups` for ``"thirds"``,
    :func:`class_groups` with ``thresholds`` for ``"thresholds"``."""
    if rule == "thirds":
        return thirds_groups(train_counts)
    if rule == "thresholds":
        return class_groups(train_counts, thresholds)
    raise ValueError(f"group rule must be one of {', '.join(GROUP_RULES)}, got {rule!r}")


def group_accuracy(per_class_acc: Any, groups: Sequence[str]) -> dict[str, float]:
    """Class-averaged accuracy per group: the mean of per-class accuracies in each group.

    Every class counts once regardless of its number of evaluation samples. Classes absent
    from the evaluation set (NaN) are skipped; a group with no evaluated class is NaN. Keys
    are "head", "medium", "tail" followed by any other group names, in order of appearance.
    """
    accuracy = np.asarray(_to_numpy(per_class_acc), dtype=np.float64)
    labels = np.asarray(groups, dtype=object)
    if len(labels) != len(accuracy):
        raise ValueError("per_class_acc and groups must have one entry per class")
    names = list(dict.fromkeys([*GROUP_NAMES, *labels.tolist()]))
    return {name: _mean_or_nan(accuracy[labels == name]) for name in names}


# --------------------------------------------------------------------------- retrieval


DEFAULT_RETRIEVAL_GROUPS: dict[str, str] = {"red+": "red", "far-red+": "far-red"}
"""Targets a screen ranks by: each name covers its level and every later (longer-wavelength)
level; with the emission8 scheme red+ is emission >= 625 nm and far-red+ is >= 700 nm."""

RETRIEVAL_KS: tuple[int, ...] = (25, 50, 100)
RETRIEVAL_FRACTIONS: tuple[float, ...] = (0.01,)
ENRICHMENT_FRACTIONS: tuple[float, ...] = (0.01, 0.05)


def _scores_and_positives(scores: Any, positives: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a 1-D finite score array and a same-length 0/1 (boolean) relevance array."""
    score = np.asarray(_to_numpy(scores), dtype=np.float64)
    relevant = _to_numpy(positives)
    if score.ndim != 1 or relevant.ndim != 1 or len(score) != len(relevant):
        raise ValueError(
            f"scores and positives must be 1-D of one length, got {score.shape} and "
            f"{relevant.shape}"
        )
    if not np.isfinite(score).all():
        raise ValueError("scores must be finite")
    if relevant.size and not np.isin(relevant, (0, 1)).all():
        raise ValueError("positives must be booleans (or 0/1): is each molecule a target?")
    return score, relevant.astype(bool)


def roc_auc(scores: Any, positives: Any) -> float:
    """Area under the ROC curve of ranking by ``scores`` (``sklearn.metrics.roc_auc_score``).

    Equals the probability that a random positive scores above a random negative, ties
    counting one half. NaN when the set lacks positives or negatives.
    """
    return _roc_auc(*_scores_and_positives(scores, positives))


def average_precision(scores: Any, positives: Any) -> float:
    """Average precision of ranking by ``scores`` (``sklearn.metrics.average_precision_score``).

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, i.e. the mean of the
    precision at each positive's rank when scores are distinct; tied molecules enter together
    (a constant score gives the prevalence). NaN when there are no positives.
    """
    return _average_precision(*_scores_and_positives(scores, positives))


def precision_at_k(scores: Any, positives: Any, k: int) -> float:
    """Fraction of positives among the ``k`` highest-scoring molecules.

    ``P@k = hits(k') / k'`` with ``k' = min(k, N)`` (a list shorter than ``k`` is read whole).
    Molecules tied with the ``k'``-th score share the remaining places in proportion (the
    expected hits under a random order of the ties), so the value does not depend on the input
    order. NaN when there are no positives.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _Ranking(*_scores_and_positives(scores, positives)).precision_at(k)


def top_fraction_size(n: int, fraction: float) -> int:
    """Molecules in the top ``fraction`` of ``n``: ``ceil(fraction * n)``, at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * n - 1e-9))


def enrichment_factor(scores: Any, positives: Any, fraction: float) -> float:
    """Enrichment factor of the top ``fraction`` of the ranking.

    ``EF_x = (hits(k) / k) / (P / N)`` with ``k = top_fraction_size(N, x)``: the precision of
    the top ``k`` over the prevalence, so 1 is a random ranking and ``1 / prevalence`` (capped
    by ``N / k``) the best possible. Ties at the cut as in :func:`precision_at_k`. NaN when
    there are no positives.
    """
    top_fraction_size(1, fraction)  # checks the fraction
    return _Ranking(*_scores_and_positives(scores, positives)).enrichment(fraction)


def _roc_auc(score: np.ndarray, relevant: np.ndarray) -> float:
    if relevant.all() or not relevant.any():
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(relevant, score))


def _average_precision(score: np.ndarray, relevant: np.ndarray) -> float:
    if not relevant.any():
        return math.nan
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(relevant, score))


class _Ranking:
    """Validated scores sorted once (descending), answering hits in the top ``k`` with ties at
    the cut shared in proportion."""

    def __init__(self, score: np.ndarray, relevant: np.ndarray) -> None:
        order = np.argsort(-score, kind="stable")
        self.negated = -score[order]  # ascending, so searchsorted finds a tie block
        self.cumulative = np.concatenate(([0], np.cumsum(relevant[order])))
        self.n = len(score)
        self.n_positive = int(self.cumulative[-1])

    def hits(self, k: int) -> float:
        """Expected positives among the first ``k`` (1 <= k <= n)."""
        cut = self.negated[k - 1]
        low = int(np.searchsorted(self.negated, cut, side="left"))
        high = int(np.searchsorted(self.negated, cut, side="right"))
        tied = self.cumulative[high] - self.cumulative[low]
        return float(self.cumulative[low] + (k - low) * tied / (high - low))

    def precision_at(self, k: int) -> float:
        if not self.n_positive:
            return math.nan
        top = min(k, self.n)
        return self.hits(top) / top

    def enrichment(self, fraction: float) -> float:
        if not self.n_positive:
            return math.nan
        top = top_fraction_size(self.n, fraction)
        return (self.hits(top) / top) / (self.n_positive / self.n)


def mean_absolute_error_nm(predicted_nm: Any, true_nm: Any) -> float:
    """Mean absolute error in nm over the molecules whose true wavelength is known.

    ``MAE = (1 / |K|) * sum_{i in K} |pred_i - true_i|`` with ``K = {i : true_i is not NaN}``.
    A prediction must exist (be finite) wherever the truth is known. NaN when ``K`` is empty.
    """
    predicted = np.asarray(_to_numpy(predicted_nm), dtype=np.float64)
    true = np.asarray(_to_numpy(true_nm), dtype=np.float64)
    if predicted.ndim != 1 or predicted.shape != true.shape:
        raise ValueError(
            f"predicted_nm and true_nm must be 1-D of one length, got {predicted.shape} and "
            f"{true.shape}"
        )
    known = ~np.isnan(true)
    if not np.isfinite(predicted[known]).all():
        raise ValueError("predicted_nm must be finite wherever true_nm is known")
    if not known.any():
        return math.nan
    return float(np.abs(predicted[known] - true[known]).mean())


def interval_coverage(low_nm: Any, high_nm: Any, true_nm: Any) -> float:
    """Empirical coverage of predicted intervals: the share of molecules whose true wavelength
    is known and lies inside their interval.

    ``coverage = |{i in K : low_i <= true_i <= high_i}| / |K|`` with
    ``K = {i : true_i is not NaN}``. For a calibrated 80 % interval it is close to 0.8. The
    interval must exist (finite, ``low <= high``) wherever the truth is known. NaN when ``K`` is
    empty.
    """
    low = np.asarray(_to_numpy(low_nm), dtype=np.float64)
    high = np.asarray(_to_numpy(high_nm), dtype=np.float64)
    true = np.asarray(_to_numpy(true_nm), dtype=np.float64)
    if true.ndim != 1 or low.shape != true.shape or high.shape != true.shape:
        raise ValueError(
            f"low_nm, high_nm and true_nm must be 1-D of one length, got {low.shape}, "
            f"{high.shape} and {true.shape}"
        )
    known = ~np.isnan(true)
    low, high, true = low[known], high[known], true[known]
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError("low_nm and high_nm must be finite wherever true_nm is known")
    if (low > high).any():
        raise ValueError("every interval needs low_nm <= high_nm")
    if not known.any():
        return math.nan
    return float(((low <= true) & (true <= high)).mean())


def _retrieval_block(score: np.ndarray, relevant: np.ndarray) -> dict[str, Any]:
    """Every retrieval metric of one target, JSON-ready (NaN -> None)."""
    n = len(score)
    ranking = _Ranking(score, relevant)
    precision = {str(k): ranking.precision_at(k) for k in RETRIEVAL_KS}
    for fraction in RETRIEVAL_FRACTIONS:
        precision[f"{100 * fraction:g}%"] = ranking.precision_at(top_fraction_size(n, fraction))
    enrichment = {
        f"{100 * fraction:g}%": ranking.enrichment(fraction) for fraction in ENRICHMENT_FRACTIONS
    }
    return {
        "n_positive": ranking.n_positive,
        "prevalence": _json_number(ranking.n_positive / n if n else math.nan),
        "roc_auc": _json_number(_roc_auc(score, relevant)),
        "average_precision": _json_number(_average_precision(score, relevant)),
        "precision_at_k": {key: _json_number(value) for key, value in precision.items()},
        "enrichment_factor": {key: _json_number(value) for key, value in enrichment.items()},
    }


def _group_start(level: int | str, names: list[str], group: str) -> int:
    """The first level index of a ``level+`` group, given as an index or a level name."""
    if isinstance(level, str):
        if level not in names:
            raise ValueError(
                f"retrieval group {group!r} starts at level {level!r}, which is not one of "
                f"{names}; name an existing level"
            )
        return names.index(level)
    if not 0 <= int(level) < len(names):
        raise ValueError(
            f"retrieval group {group!r} starts at level {level}, outside 0..{len(names) - 1}"
        )
    return int(level)


def retrieval_metrics(
    probs: Any,
    targets: Any,
    level_names: Sequence[str],
    *,
    groups: dict[str, int | str] | None = None,
) -> dict[str, Any]:
    """Ranking metrics for the target levels and for every level one-vs-rest, JSON-ready.

    Parameters
    ----------
    probs : ``[N, C]`` level probabilities.
    targets : ``[N]`` true level indices.
    level_names : ``C`` level names, in level order.
    groups : ``{name: first level}`` (an index or a level name); the group holds that level
        and every later one, and its score is their summed probability. ``None``:
        :data:`DEFAULT_RETRIEVAL_GROUPS`, keeping those whose level the scheme has.

    Returns
    -------
    ``{"n": N, "groups": {name: block}, "per_level": {level: block}}``; a group block also
    names its ``levels``. A block holds ``n_positive``, ``prevalence``, ``roc_auc``,
    ``average_precision``, ``precision_at_k`` ({"25", "50", "100", "1%"}: fractions) and
    ``enrichment_factor`` ({"1%", "5%"}). Metrics of a target without positives are None.
    """
    matrix = _probability_matrix(probs)
    names = [str(name) for name in level_names]
    if len(names) != matrix.shape[1]:
        raise ValueError(f"probs has {matrix.shape[1]} levels but level_names has {len(names)}")
    true = _class_indices(targets, len(names), "targets")
    if len(true) != len(matrix):
        raise ValueError(f"probs has {len(matrix)} rows but targets has {len(true)} entries")
    if groups is None:
        groups = {g: level for g, level in DEFAULT_RETRIEVAL_GROUPS.items() if level in names}
    matrix = matrix.astype(np.float64, copy=False)

    result: dict[str, Any] = {"n": len(true), "groups": {}, "per_level": {}}
    for group, level in groups.items():
        start = _group_start(level, names, group)
        block = _retrieval_block(matrix[:, start:].sum(axis=1), true >= start)
        result["groups"][group] = {"levels": names[start:], **block}
    for index, name in enumerate(names):
        result["per_level"][name] = _retrieval_block(matrix[:, index], true == index)
    return result


RETRIEVAL_SUMMARY_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positives", ("n_positive",)),
    ("AP", ("average_precision",)),
    ("ROC-AUC", ("roc_auc",)),
    ("P@100", ("precision_at_k", "100")),
    ("EF 1%", ("enrichment_factor", "1%")),
)
"""The compact retrieval table: column label and the path to its value in a target's block."""


def retrieval_summary_rows(retrieval: dict[str, Any] | None) -> list[list[str]]:
    """One text row per target group of a ``retrieval`` block: the target name, then the
    :data:`RETRIEVAL_SUMMARY_COLUMNS` (fractions to 3 decimals, enrichment to 2, "n/a" for
    None). Empty when there is no block or it has no groups (old metrics files)."""
    rows = []
    for group, block in ((retrieval or {}).get("groups") or {}).items():
        row = [group]
        for label, path in RETRIEVAL_SUMMARY_COLUMNS:
            value: Any = block
            for key in path:
                value = (value or {}).get(key)
            if value is None:
                row.append("n/a")
            elif label == "positives":
                row.append(str(value))
            else:
                row.append(f"{value:.2f}" if label.startswith("EF") else f"{value:.3f}")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- report dict


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _json_numbers(values: Iterable[float]) -> list[float | None]:
    return [_json_number(float(v)) for v in values]


def evaluate_predictions(
    probs: Any,
    targets: Any,
    train_counts: Any,
    class_names: Sequence[str],
    *,
    thresholds: GroupThresholds = GroupThresholds(),
    group_rule: str = "thresholds",
    tail_ks: Sequence[int] = (2, 4, 6),
    n_bins: int = 15,
    retrieval_groups: dict[str, int | str] | None = None,
    predicted_nm: Any = None,
    true_nm: Any = None,
) -> dict[str, Any]:
    """All metrics for one evaluation set as a JSON-ready dict (plain floats/lists, NaN -> None).

    Parameters
    ----------
    probs : ``[N, C]`` class probabilities; predictions are their argmax.
    targets : ``[N]`` true class indices.
    train_counts : ``[C]`` training samples per class (defines tail and head/medium/tail).
    class_names : ``C`` distinct names, used as keys of ``per_level_top1`` and ``groups``.
    thresholds : training-count thresholds of the ``"thresholds"`` group rule.
    group_rule : one of :data:`GROUP_RULES`: how ``head``, ``medium``, ``tail`` and ``groups``
        are formed (molecule runs pass ``"thirds"``; images keep ``"thresholds"``).
    tail_ks : each ``k`` adds ``tail_top_{k}`` (fewest training samples) and ``last_{k}``
        (last ``k`` indices, the seed paper's variant); both are None when ``k > C``.
    n_bins : confidence bins for ``ece`` (a fraction in ``[0, 1]``, not a percentage).
    retrieval_groups : the target groups of ``retrieval`` (see :func:`retrieval_metrics`;
        None: red+ and far-red+ where the scheme has those levels).
    predicted_nm, true_nm : ``[N]`` predicted and measured emission maxima in nm (true NaN
        where unknown); when both are given, ``wavelength`` holds ``mae_nm`` and ``n_known``.

    Returns
    -------
    dict with ``n``, ``top1``, ``balanced_accuracy``, ``macro_f1``, ``ece``,
    ``per_level_top1`` ({name: acc}), ``tail_top_{k}``, ``last_{k}``, ``head``, ``medium``,
    ``tail``, ``groups`` ({name: group}), ``group_rule``, ``confusion_matrix``, ``class_names``,
    ``train_counts``, ``eval_counts``, ``retrieval`` (:func:`retrieval_metrics`), and
    ``wavelength`` when nm are given. Accuracies are fractions; undefined values are None.
    """
    matrix = _probability_matrix(probs)
    num_classes = matrix.shape[1]
    names = [str(name) for name in class_names]
    counts = _counts(train_counts)
    if len(names) != num_classes or len(counts) != num_classes:
        raise ValueError(
            f"probs has {num_classes} classes but class_names has {len(names)} "
            f"and train_counts {len(counts)}"
        )
    if len(set(names)) != num_classes:
        raise ValueError("class_names must be distinct")
    true = _class_indices(targets, num_classes, "targets")
    if len(true) != len(matrix):
        raise ValueError(f"probs has {len(matrix)} rows but targets has {len(true)} entries")

    predictions = matrix.argmax(axis=1)
    confidence = matrix[np.arange(len(matrix)), predictions].astype(np.float64)
    cm = confusion_matrix(true, predictions, num_classes)
    accuracy = per_class_accuracy(cm)
    groups = assign_groups(counts, group_rule, thresholds)

    result: dict[str, Any] = {
        "n": len(true),
        "top1": _json_number(top1_accuracy(cm)),
        "balanced_accuracy": _json_number(balanced_accuracy(cm)),
        "macro_f1": _json_number(macro_f1(cm)),
        "ece": _json_number(_calibration_error(confidence, predictions == true, n_bins)),
        "per_level_top1": dict(zip(names, _json_numbers(accuracy), strict=True)),
    }
    # With fewer than k classes "the k rarest" is undefined: such keys are present but None.
    defined_ks = [k for k in tail_ks if k <= num_classes]
    for k in tail_ks:
        tail = tail_top_k_accuracy(accuracy, counts, k) if k in defined_ks else math.nan
        result[f"tail_top_{k}"] = _json_number(tail)
    for k in tail_ks:
        last = last_k_accuracy(accuracy, k) if k in defined_ks else math.nan
        result[f"last_{k}"] = _json_number(last)
    by_group = group_accuracy(accuracy, groups)
    result.update({name: _json_number(by_group[name]) for name in GROUP_NAMES})
    result.update(
        groups=dict(zip(names, groups, strict=True)),
        group_rule=group_rule,
        confusion_matrix=cm.tolist(),
        class_names=names,
        train_counts=counts.tolist(),
        eval_counts=cm.sum(axis=1).tolist(),
        retrieval=retrieval_metrics(matrix, true, names, groups=retrieval_groups),
    )
    if (predicted_nm is None) != (true_nm is None):
        raise ValueError("pass predicted_nm and true_nm together (or neither)")
    if predicted_nm is not None:
        measured = np.asarray(_to_numpy(true_nm), dtype=np.float64)
        if measured.shape != true.shape:
            raise ValueError(f"true_nm has shape {measured.shape}, targets {true.shape}")
        result["wavelength"] = {
            "mae_nm": _json_number(mean_absolute_error_nm(predicted_nm, measured)),
            "n_known": int((~np.isnan(measured)).sum()),
        }
    return result


def evaluate_per_subset(
    probs: Any,
    targets: Any,
    train_counts: Any,
    class_names: Sequence[str],
    subsets: Sequence[str],
    *,
    order: Sequence[str] | None = None,
    predicted_nm: Any = None,
    true_nm: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`evaluate_predictions` of each subset of the rows, e.g. per solvent class.

    Parameters
    ----------
    probs, targets, train_counts, class_names, predicted_nm, true_nm : as for
        :func:`evaluate_predictions`, over all rows
    subsets : ``[N]`` the subset name of each row ("polar protic", "non-polar", ...)
    order : the subsets to report, in this order (a subset without rows is ``None``);
        default: the distinct names of ``subsets`` in order of first appearance
    options : further keyword arguments of :func:`evaluate_predictions`

    Returns
    -------
    ``{name: metrics | None}``; the train counts (and so head/medium/tail) are the whole
    training set's for every subset.
    """
    names = np.asarray([str(name) for name in subsets], dtype=object)
    matrix = _probability_matrix(probs)
    true = _to_numpy(targets)
    if len(names) != len(matrix) or len(true) != len(matrix):
        raise ValueError(
            f"subsets has {len(names)} entries for {len(matrix)} rows of probs "
            f"and {len(true)} targets"
        )
    if (predicted_nm is None) != (true_nm is None):
        raise ValueError("pass predicted_nm and true_nm together (or neither)")
    wanted = list(dict.fromkeys(names.tolist())) if order is None else [str(o) for o in order]
    result: dict[str, Any] = {}
    for name in wanted:
        rows = np.flatnonzero(names == name)
        if rows.size == 0:
            result[name] = None
            continue
        nm = {}
        if predicted_nm is not None:
            nm = {"predicted_nm": np.asarray(_to_numpy(predicted_nm))[rows],
                  "true_nm": np.asarray(_to_numpy(true_nm))[rows]}
        result[name] = evaluate_predictions(
            matrix[rows], true[rows], train_counts, class_names, **nm, **options
        )
    return result


def format_fraction(value: float | None, digits: int = 3) -> str:
    """A fraction as it is stored, e.g. ECE: 0.04217 -> "0.042"; None/NaN -> "n/a"."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def format_metric(value: float | None, digits: int = 2) -> str:
    """A fraction as percent text: 0.66844 -> "66.84" (``digits`` decimals); None/NaN -> "n/a"."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{100.0 * value:.{digits}f}"
