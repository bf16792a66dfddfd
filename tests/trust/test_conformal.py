"""Split-conformal sets and intervals: the rank formula by hand, the guarantee by simulation."""

import math

import numpy as np
import pytest

from zincfluor.trust.conformal import (
    IntervalConformal,
    LevelConformal,
    conformal_quantile,
    conformal_rank,
    fit_interval_conformal,
    fit_level_conformal,
    interval_coverage,
    interval_scores,
    level_coverage,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("n", "alpha", "rank"),
    [(4, 0.2, 4), (4, 0.5, 3), (4, 0.1, 5), (9, 0.1, 9), (19, 0.05, 19), (50, 0.1, 46)],
)
def test_rank_is_the_ceiling_of_n_plus_one_times_one_minus_alpha(n, alpha, rank):
    assert conformal_rank(n, alpha) == rank


def test_quantile_on_hand_computed_cases():
    scores = np.array([0.4, 0.1, 0.3, 0.2])
    assert conformal_quantile(scores, 0.2) == 0.4  # rank ceil(5 * 0.8) = 4
    assert conformal_quantile(scores, 0.5) == 0.3  # rank ceil(5 * 0.5) = 3
    assert conformal_quantile(scores, 0.1) == math.inf  # rank 5 > 4 scores
    assert conformal_quantile(np.arange(1, 10) / 10, 0.1) == 0.9  # rank exactly 9 of 9


def test_bad_alpha_and_nan_scores_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        conformal_rank(10, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        conformal_quantile(np.array([0.1, np.nan]), 0.1)


def test_level_sets_on_a_tiny_hand_computed_case():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.5, 0.5]])
    labels = np.array([0, 0, 1, 1, 1])
    conformal = fit_level_conformal(probs, labels, ["a", "b"], alphas=(0.5,))
    # level a: scores [0.1, 0.4], rank ceil(3 * 0.5) = 2 -> 0.4
    # level b: scores [0.3, 0.2, 0.5], rank ceil(4 * 0.5) = 2 -> 0.3
    np.testing.assert_allclose(conformal.threshold(0.5), [0.4, 0.3])
    sets = conformal.prediction_sets(np.array([[0.65, 0.35], [0.55, 0.45], [0.2, 0.8]]), 0.5)
    # 1 - 0.55 = 0.45 > 0.4 and 1 - 0.45 = 0.55 > 0.3: class-conditional sets may be empty
    assert sets.tolist() == [[True, False], [False, False], [False, True]]
    assert conformal.counts == [2, 3]


def test_a_level_with_too_few_calibration_molecules_is_in_every_set():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    conformal = fit_level_conformal(probs, np.array([0, 0, 1]), ["a", "b"], alphas=(0.1,))
    assert conformal.threshold(0.1)[1] == 1.0  # one molecule: rank 2 > 1, q = +inf -> 1
    assert conformal.prediction_sets(np.array([[1.0, 0.0]]), 0.1)[0, 1]


def test_nan_rows_get_empty_sets_and_round_trip_through_a_dict():
    conformal = fit_level_conformal(np.eye(3)[[0, 1, 2] * 5], np.array([0, 1, 2] * 5),
                                    ["a", "b", "c"])
    again = LevelConformal.from_dict(conformal.to_dict())
    probs = np.array([[np.nan] * 3, [0.2, 0.5, 0.3]])
    assert not again.prediction_sets(probs, 0.2)[0].any()
    assert (again.prediction_sets(probs, 0.2) == conformal.prediction_sets(probs, 0.2)).all()
    with pytest.raises(ValueError, match="alpha=0.3"):
        again.prediction_sets(probs, 0.3)


def _draw(rng, n, n_levels=3):
    """Exchangeable molecules: a level, and noisy probabilities that favour it."""
    labels = rng.integers(0, n_levels, size=n)
    logits = rng.normal(size=(n, n_levels)) * 1.5
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True), labels


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_per_level_coverage_holds_over_many_calibration_draws(alpha):
    rng = np.random.default_rng(0)
    trials, coverages = 300, []
    for _ in range(trials):
        cal_probs, cal_labels = _draw(rng, 150)  # about 50 calibration molecules per level
        test_probs, test_labels = _draw(rng, 600)
        conformal = fit_level_conformal(cal_probs, cal_labels, ["a", "b", "c"], alphas=(alpha,))
        report = level_coverage(conformal, test_probs, test_labels)[f"{1 - alpha:g}"]
        coverages.append([row["coverage"] for row in report["per_level"]])
    mean = np.mean(coverages, axis=0)
    # the guarantee: E[coverage | level] >= 1 - alpha; without the (n + 1) correction the mean
    # is k/(n+1) with k = ceil(n(1 - alpha)), about 0.88 for alpha 0.1 and n = 50, and fails
    assert (mean >= 1 - alpha - 0.008).all(), mean
    # and it is not bought with sets that are too big: E[coverage] < 1 - alpha + 1/(n_y + 1)
    assert (mean <= 1 - alpha + 1 / 40).all(), mean


def test_interval_margins_give_the_coverage_and_shrink_a_too_wide_interval():
    rng = np.random.default_rng(1)
    means = rng.uniform(400, 700, size=(400, 2000))
    true = means * np.exp(rng.normal(scale=0.08, size=means.shape))
    # a head twice too narrow (under-covers) and one four times too wide (over-covers)
    z = 1.2816
    inside = []
    for spread, sign in ((0.04, 1), (0.32, -1)):
        low, high = means * np.exp(-z * spread), means * np.exp(z * spread)
        for t in range(means.shape[0]):
            conformal = fit_interval_conformal(low[t, :100], high[t, :100], true[t, :100],
                                               head_coverage=0.8, alphas=(0.2,))
            assert np.sign(conformal.margin(0.2)) == sign
            lo, hi = conformal.interval(low[t, 100:], high[t, 100:], 0.2)
            inside.append(interval_coverage(lo, hi, true[t, 100:])["coverage"])
    assert np.mean(inside) >= 0.8 - 0.005
    assert np.mean(inside) <= 0.8 + 1 / 101 + 0.005


def test_a_90_percent_interval_widens_the_heads_80_percent_one_and_round_trips():
    rng = np.random.default_rng(2)
    means = rng.uniform(400, 700, size=2000)
    true = means * np.exp(rng.normal(scale=0.08, size=means.shape))
    low, high = means * np.exp(-1.2816 * 0.08), means * np.exp(1.2816 * 0.08)
    conformal = fit_interval_conformal(low[:1000], high[:1000], true[:1000], head_coverage=0.8)
    assert conformal.margin(0.1) > conformal.margin(0.2)
    again = IntervalConformal.from_dict(conformal.to_dict())
    lo, hi = again.interval(low[1000:], high[1000:], 0.1)
    assert abs(interval_coverage(lo, hi, true[1000:])["coverage"] - 0.9) < 0.03


def test_interval_scores_by_hand_and_too_few_molecules():
    scores = interval_scores([400.0, 500.0], [500.0, 600.0], [450.0, 660.0])
    np.testing.assert_allclose(scores, [max(math.log(400 / 450), math.log(450 / 500)),
                                        math.log(660 / 600)])
    with pytest.raises(ValueError, match="too few"):
        fit_interval_conformal([400.0], [500.0], [450.0], head_coverage=0.8, alphas=(0.1,))


def test_wilson_interval_by_hand_and_in_the_coverage_report():
    # 7 of 7: centre (1 + z²/14) / (1 + z²/7), half z sqrt(z²/196) / (1 + z²/7)
    z = 1.959963984540054
    centre, half = (1 + z * z / 14) / (1 + z * z / 7), z * (z / 14) / (1 + z * z / 7)
    assert wilson_interval(7, 7) == pytest.approx([centre - half, 1.0])
    assert wilson_interval(0, 7) == pytest.approx([0.0, 1 - (centre - half)])
    low, high = wilson_interval(2, 7)
    assert low < 2 / 7 < high
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    conformal = fit_level_conformal(probs, np.array([0, 0, 1, 1]), ["a", "b"], alphas=(0.5,))
    row = level_coverage(conformal, probs, np.array([0, 0, 1, 1]))["0.5"]["per_level"][0]
    assert row["calibration_n"] == 2 and row["coverage_ci95"] == wilson_interval(2, 2)
    with pytest.raises(ValueError, match="hits"):
        wilson_interval(3, 2)
