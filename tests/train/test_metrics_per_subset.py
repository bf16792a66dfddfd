"""evaluate_per_subset: evaluate_predictions on each subset's rows (e.g. per solvent class)."""

import numpy as np
import pytest

from zincfluor.train.metrics import evaluate_per_subset, evaluate_predictions

PROBS = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
TARGETS = np.array([0, 1, 1, 1, 0])
COUNTS = [10, 5]
NAMES = ["blue", "red"]
SUBSETS = ["polar protic", "non-polar", "polar protic", "non-polar", "non-polar"]


def test_each_subset_gets_the_metrics_of_its_own_rows_in_the_given_order():
    result = evaluate_per_subset(
        PROBS, TARGETS, COUNTS, NAMES, SUBSETS,
        order=["polar protic", "polar aprotic", "non-polar"],
        predicted_nm=[400.0, 600.0, 500.0, 650.0, 450.0],
        true_nm=[410.0, 620.0, 640.0, 650.0, 430.0],
    )
    assert list(result) == ["polar protic", "polar aprotic", "non-polar"]
    assert result["polar aprotic"] is None
    protic = result["polar protic"]
    assert protic["n"] == 2 and protic["top1"] == 0.5
    assert protic["wavelength"]["mae_nm"] == pytest.approx((10 + 140) / 2)
    apolar = result["non-polar"]
    assert apolar == evaluate_predictions(
        PROBS[[1, 3, 4]], TARGETS[[1, 3, 4]], COUNTS, NAMES,
        predicted_nm=[600.0, 650.0, 450.0], true_nm=[620.0, 650.0, 430.0],
    )
    assert apolar["wavelength"]["mae_nm"] == pytest.approx((20 + 0 + 20) / 3)


def test_default_order_is_first_appearance_and_bad_lengths_fail():
    assert list(evaluate_per_subset(PROBS, TARGETS, COUNTS, NAMES, SUBSETS)) == [
        "polar protic", "non-polar"]
    with pytest.raises(ValueError, match="subsets has 2 entries for 5 rows"):
        evaluate_per_subset(PROBS, TARGETS, COUNTS, NAMES, SUBSETS[:2])
    with pytest.raises(ValueError, match="together"):
        evaluate_per_subset(PROBS, TARGETS, COUNTS, NAMES, SUBSETS, predicted_nm=[1.0] * 5)
