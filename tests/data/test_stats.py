import numpy as np
import pytest

from zincfluor.data.labels import EMISSION8, LabelScheme
from zincfluor.data.splits import Split
from zincfluor.data.stats import (
    ImbalanceSummary,
    class_counts,
    imbalance_summary,
    split_count_rows,
)


def test_class_counts_include_empty_levels():
    counts = class_counts(np.array([0, 2, 2, 5]), 7)
    assert counts.tolist() == [1, 0, 2, 0, 0, 1, 0]
    assert counts.dtype == np.int64
    assert class_counts(np.array([], dtype=int), 3).tolist() == [0, 0, 0]


def test_class_counts_refuse_labels_out_of_range():
    with pytest.raises(ValueError, match=r"0\.\.2"):
        class_counts(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        class_counts(np.array([-1, 1]), 3)


def test_imbalance_of_the_deep4chem_counts():
    summary = imbalance_summary([740, 1497, 1269, 1261, 756, 582, 238, 69], 8)
    assert (summary.n_max, summary.n_min, summary.num_classes) == (1497, 69, 8)
    assert summary.imbalance_ratio == pytest.approx(1497 / 69)
    t = summary.T
    assert t == pytest.approx(1497 / (69 * 8))
    assert summary.empty_classes == ()


def test_empty_levels_are_left_out_of_n_min_but_count_as_classes():
    summary = ImbalanceSummary.from_counts(np.array([100, 0, 4, 0]))
    assert (summary.n_max, summary.n_min) == (100, 4)
    t = summary.T
    assert t == pytest.approx(100 / (4 * 4))
    assert summary.empty_classes == (1, 3)
    assert "empty classes left out of N_min: 1, 3" in summary.describe()


def test_imbalance_needs_a_sample_and_matching_class_count():
    with pytest.raises(ValueError, match="every class is empty"):
        imbalance_summary([0, 0])
    with pytest.raises(ValueError, match="3 counts for 8 classes"):
        imbalance_summary([1, 2, 3], 8)


def test_split_count_rows():
    labels = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    scheme = LabelScheme("three", ("low", "mid", "high"), (10.0, 20.0), unit="s")
    split = Split([0, 1, 3, 4], [2, 5], [6], kind="stratified", seed=0, fractions=(0.5, 0.3, 0.2))
    rows = split_count_rows(labels, split, scheme)
    # index 7 is in no part (left out, e.g. by subsampling)
    assert [(row["level"], row["name"], row["range"]) for row in rows] == [
        (0, "low", "< 10 s"),
        (1, "mid", "10 - 20 s"),
        (2, "high", ">= 20 s"),
    ]
    assert [(row["train"], row["valid"], row["test"], row["total"]) for row in rows] == [
        (2, 0, 0, 2),
        (0, 1, 1, 2),
        (2, 1, 0, 3),
    ]


def test_split_count_rows_names_every_emission8_level():
    split = Split([0], [], [], kind="stratified", seed=0, fractions=(0.8, 0.1, 0.1))
    rows = split_count_rows(np.array([7]), split, EMISSION8)
    assert [row["name"] for row in rows] == list(EMISSION8.names)
    assert rows[7]["range"] == ">= 780 nm" and rows[7]["train"] == 1
