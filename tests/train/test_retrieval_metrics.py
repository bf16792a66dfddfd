"""Retrieval metrics (ranking a library by the rare levels) against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from zincfluor.data.labels import EMISSION8
from zincfluor.train.metrics import (
    average_precision,
    enrichment_factor,
    evaluate_predictions,
    mean_absolute_error_nm,
    precision_at_k,
    retrieval_metrics,
    roc_auc,
    top_fraction_size,
)

# Six molecules ranked by a score; positives at ranks 1, 3 and 6.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
POSITIVES = np.array([1, 0, 1, 0, 0, 1], dtype=bool)


def test_average_precision_is_the_mean_precision_at_each_positive():
    assert average_precision(SCORES, POSITIVES) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_roc_auc_counts_the_positive_negative_pairs_in_order():
    # 0.9 beats all 3 negatives, 0.7 beats 0.6 and 0.5, 0.4 beats none: 5 of 9 pairs
    assert roc_auc(SCORES, POSITIVES) == pytest.approx(5 / 9)


def test_precision_at_k_and_a_k_larger_than_the_set():
    assert precision_at_k(SCORES, POSITIVES, 1) == 1.0
    assert precision_at_k(SCORES, POSITIVES, 2) == 0.5
    assert precision_at_k(SCORES, POSITIVES, 3) == pytest.approx(2 / 3)
    assert precision_at_k(SCORES, POSITIVES, 25) == 0.5  # read whole: 3 of 6
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(SCORES, POSITIVES, 0)


def test_enrichment_factor_is_top_precision_over_prevalence():
    assert enrichment_factor(SCORES, POSITIVES, 0.01) == pytest.approx(1 / 0.5)  # top 1
    assert enrichment_factor(SCORES, POSITIVES, 0.5) == pytest.approx((2 / 3) / 0.5)  # top 3
    assert enrichment_factor(SCORES, POSITIVES, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fraction"):
        enrichment_factor(SCORES, POSITIVES, 0.0)


def test_top_fraction_size_rounds_up_to_at_least_one():
    assert top_fraction_size(6, 0.01) == 1
    assert top_fraction_size(100, 0.01) == 1
    assert top_fraction_size(20, 0.05) == 1  # 0.05 * 20 is 1.0000000000000002 in floats
    assert top_fraction_size(101, 0.01) == 2
    assert top_fraction_size(1000, 0.05) == 50


def test_ties_share_the_places_at_the_cut_and_ignore_input_order():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.1])
    positives = np.array([0, 1, 0, 0, 1, 1], dtype=bool)
    # top 2: the 0.9 negative, then 1 of the three tied 0.5s (1 positive among them): 1/3 hit
    assert precision_at_k(scores, positives, 2) == pytest.approx((1 / 3) / 2)
    assert enrichment_factor(scores, positives, 2 / 6) == pytest.approx((1 / 6) / 0.5)
    # thresholds 0.9 (P 0, R 0), 0.5 (P 1/4, R 1/3), 0.1 (P 1/2, R 1)
    assert average_precision(scores, positives) == pytest.approx(1 / 3 * 1 / 4 + 2 / 3 * 1 / 2)
    # pairs: the 0.5 positive ties two negatives (1), loses to 0.9; the 0.1s lose all
    assert roc_auc(scores, positives) == pytest.approx(1 / 9)
    order = np.random.default_rng(0).permutation(6)
    for metric in (average_precision, roc_auc):
        assert metric(scores[order], positives[order]) == pytest.approx(metric(scores, positives))
    assert precision_at_k(scores[order], positives[order], 2) == pytest.approx(1 / 6)


def test_a_constant_score_is_a_random_ranking():
    flat = np.full(6, 0.3)
    assert average_precision(flat, POSITIVES) == pytest.approx(0.5)
    assert roc_auc(flat, POSITIVES) == pytest.approx(0.5)
    assert precision_at_k(flat, POSITIVES, 2) == pytest.approx(0.5)
    assert enrichment_factor(flat, POSITIVES, 0.01) == pytest.approx(1.0)


def test_no_positives_gives_nan_and_all_positives_leaves_only_auc_undefined():
    none = np.zeros(6, dtype=bool)
    for value in (
        average_precision(SCORES, none), roc_auc(SCORES, none),
        precision_at_k(SCORES, none, 3), enrichment_factor(SCORES, none, 0.05),
    ):
        assert math.isnan(value)
    every = np.ones(6, dtype=bool)
    assert math.isnan(roc_auc(SCORES, every))
    assert average_precision(SCORES, every) == 1.0
    assert math.isnan(average_precision([], []))


def test_bad_scores_or_positives_are_refused():
    with pytest.raises(ValueError, match="one length"):
        average_precision(SCORES, POSITIVES[:-1])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="booleans"):
        precision_at_k(SCORES, [0, 2, 1, 0, 0, 1], 2)


def test_mean_absolute_error_nm_over_the_known_wavelengths():
    predicted = np.array([500.0, 610.0, 700.0, 450.0])
    measured = np.array([510.0, np.nan, 680.0, np.nan])
    assert mean_absolute_error_nm(predicted, measured) == pytest.approx((10 + 20) / 2)
    assert math.isnan(mean_absolute_error_nm(predicted, np.full(4, np.nan)))
    with pytest.raises(ValueError, match="finite wherever"):
        mean_absolute_error_nm([np.nan, 1.0], [500.0, np.nan])
    with pytest.raises(ValueError, match="one length"):
        mean_absolute_error_nm(predicted, measured[:3])


# Six molecules on the emission8 levels. Mass on green (3), red (5) and far-red (6) only, so the
# red+ score is SCORES and the far-red+ score is FAR_RED.
LEVELS = list(EMISSION8.names)
TARGETS = np.array([5, 0, 6, 2, 3, 7])  # red+: molecules 0, 2, 5; far-red+: 2, 5
FAR_RED = np.array([0.1, 0.6, 0.5, 0.2, 0.3, 0.4])


def emission_probs() -> np.ndarray:
    probs = np.zeros((6, 8))
    probs[:, 3] = 1 - SCORES
    probs[:, 5] = SCORES - FAR_RED
    probs[:, 6] = FAR_RED
    return probs


def test_retrieval_metrics_on_the_red_and_far_red_groups():
    result = retrieval_metrics(emission_probs(), TARGETS, LEVELS)
    assert result["n"] == 6
    red = result["groups"]["red+"]
    assert red["levels"] == ["red", "far-red", "near-infrared"]
    assert red["n_positive"] == 3 and red["prevalence"] == pytest.approx(0.5)
    assert red["average_precision"] == pytest.approx(13 / 18)
    assert red["roc_auc"] == pytest.approx(5 / 9)
    assert red["precision_at_k"] == pytest.approx({"25": 0.5, "50": 0.5, "100": 0.5, "1%": 1.0})
    assert red["enrichment_factor"] == pytest.approx({"1%": 2.0, "5%": 2.0})

    far = result["groups"]["far-red+"]
    assert far["levels"] == ["far-red", "near-infrared"]
    # ranked 0.6 (no), 0.5 (yes), 0.4 (yes), ...: AP = (1/2 + 2/3) / 2; 6 of 8 pairs in order
    assert far["average_precision"] == pytest.approx(7 / 12)
    assert far["roc_auc"] == pytest.approx(6 / 8)
    assert far["precision_at_k"]["100"] == pytest.approx(2 / 6)
    assert far["enrichment_factor"]["1%"] == 0.0  # the top molecule is not far-red+


def test_retrieval_metrics_per_level_one_vs_rest():
    per_level = retrieval_metrics(emission_probs(), TARGETS, LEVELS)["per_level"]
    assert list(per_level) == LEVELS
    red = per_level["red"]  # scores 0.8, 0.2, 0.2, 0.4, 0.2, 0.0; molecule 0 is the one
    assert red["n_positive"] == 1
    assert red["average_precision"] == pytest.approx(1.0) and red["roc_auc"] == 1.0
    assert red["enrichment_factor"]["1%"] == pytest.approx(6.0)
    ultraviolet = per_level["ultraviolet"]  # probability 0 everywhere: a random ranking
    assert ultraviolet["average_precision"] == pytest.approx(1 / 6)
    assert ultraviolet["roc_auc"] == pytest.approx(0.5)
    violet = per_level["violet"]  # no violet molecule: nothing to find
    assert violet["n_positive"] == 0
    assert violet["average_precision"] is None and violet["roc_auc"] is None
    assert violet["precision_at_k"]["25"] is None and violet["enrichment_factor"]["5%"] is None


def test_retrieval_metrics_is_strict_json():
    result = retrieval_metrics(emission_probs(), TARGETS, LEVELS)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_groups_by_index_or_name_and_only_existing_levels_by_default():
    by_name = retrieval_metrics(emission_probs(), TARGETS, LEVELS, groups={"x": "far-red"})
    by_index = retrieval_metrics(emission_probs(), TARGETS, LEVELS, groups={"x": 6})
    assert by_name["groups"] == by_index["groups"]
    assert by_index["groups"]["x"]["average_precision"] == pytest.approx(7 / 12)
    with pytest.raises(ValueError, match="'deep-red'.*name an existing level"):
        retrieval_metrics(emission_probs(), TARGETS, LEVELS, groups={"x": "deep-red"})
    with pytest.raises(ValueError, match="outside 0..7"):
        retrieval_metrics(emission_probs(), TARGETS, LEVELS, groups={"x": 8})
    three = retrieval_metrics(np.full((4, 3), 1 / 3), [0, 1, 2, 2], ["a", "b", "c"])
    assert three["groups"] == {} and list(three["per_level"]) == ["a", "b", "c"]


def test_evaluate_predictions_carries_retrieval_and_nm_only_when_given():
    probs = emission_probs()
    counts = [10] * 8
    metrics = evaluate_predictions(probs, TARGETS, counts, LEVELS)
    assert metrics["retrieval"] == retrieval_metrics(probs, TARGETS, LEVELS)
    assert "wavelength" not in metrics
    measured = np.array([650.0, 380.0, 720.0, np.nan, 540.0, np.nan])
    predicted = np.array([640.0, 400.0, 700.0, 480.0, 545.0, 800.0])
    with_nm = evaluate_predictions(
        probs, TARGETS, counts, LEVELS, predicted_nm=predicted, true_nm=measured
    )
    assert with_nm["wavelength"] == {"mae_nm": pytest.approx((10 + 20 + 20 + 5) / 4),
                                     "n_known": 4}
    json.dumps(with_nm, allow_nan=False)
    with pytest.raises(ValueError, match="together"):
        evaluate_predictions(probs, TARGETS, counts, LEVELS, predicted_nm=predicted)


def test_retrieval_summary_rows_are_the_compact_table():
    from zincfluor.train.metrics import RETRIEVAL_SUMMARY_COLUMNS, retrieval_summary_rows

    rows = retrieval_summary_rows(retrieval_metrics(emission_probs(), TARGETS, LEVELS))
    assert [label for label, _ in RETRIEVAL_SUMMARY_COLUMNS] == [
        "positives", "AP", "ROC-AUC", "P@100", "EF 1%"
    ]
    assert rows == [
        ["red+", "3", "0.722", "0.556", "0.500", "2.00"],
        ["far-red+", "2", "0.583", "0.750", "0.333", "0.00"],
    ]
    empty = retrieval_metrics(emission_probs(), [0, 0, 1, 2, 3, 4], LEVELS)
    assert retrieval_summary_rows(empty)[0] == ["red+", "0", "n/a", "n/a", "n/a", "n/a"]
    assert retrieval_summary_rows(None) == [] and retrieval_summary_rows({}) == []
