"""interval_coverage: the share of known true wavelengths inside their predicted interval."""

import math

import numpy as np
import pytest

from zincfluor.train.metrics import interval_coverage


def test_coverage_counts_known_values_inside_their_interval_by_hand():
    low = [400.0, 500.0, 600.0, 700.0, 300.0]
    high = [450.0, 550.0, 650.0, 750.0, 350.0]
    # inside, on the upper edge (counts), below, above, unknown (left out)
    true = [420.0, 550.0, 590.0, 760.0, np.nan]
    assert interval_coverage(low, high, true) == pytest.approx(2 / 4)


def test_coverage_is_nan_when_no_true_value_is_known():
    assert math.isnan(interval_coverage([1.0], [2.0], [np.nan]))


@pytest.mark.parametrize(
    "low, high, true, message",
    [
        ([1.0, 2.0], [3.0], [2.0, 2.0], "1-D of one length"),
        ([np.nan], [3.0], [2.0], "finite wherever"),
        ([4.0], [3.0], [3.5], "low_nm <= high_nm"),
    ],
)
def test_coverage_refuses_bad_intervals(low, high, true, message):
    with pytest.raises(ValueError, match=message):
        interval_coverage(low, high, true)


def test_a_missing_interval_where_truth_is_unknown_is_fine():
    assert interval_coverage([np.nan, 1.0], [np.nan, 3.0], [np.nan, 2.0]) == 1.0
