import numpy as np
import pytest

from zincfluor.screening.rare import rare_scores, resolve_target_levels

NAMES = ["ultraviolet", "violet", "blue", "green", "yellow-orange", "red", "far-red",
         "near-infrared"]
COUNTS = [592, 1198, 1015, 1009, 605, 466, 190, 55]


def test_rare_scores_sum_the_target_levels_and_nan_invalid_rows():
    probs = np.array(
        [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [np.nan] * 4], dtype=np.float32
    )
    scores = rare_scores(probs, [1, 3])
    np.testing.assert_allclose(scores[:2], [0.6, 0.5], rtol=1e-6)
    assert np.isnan(scores[2])
    np.testing.assert_allclose(rare_scores(probs, [0])[:2], [0.1, 0.25], rtol=1e-6)
    with pytest.raises(ValueError):
        rare_scores(probs, [])


def test_default_targets_are_the_three_least_trained_levels():
    assert resolve_target_levels(NAMES, COUNTS) == [5, 6, 7]
    # ties: the later level is the rarer one
    assert resolve_target_levels(["a", "b", "c", "d"], [5, 1, 5, 5]) == [1, 2, 3]
    assert resolve_target_levels(["a", "b"], [3, 1]) == [0, 1]


def test_requested_names_beat_card_names_beat_counts():
    card = ["far-red", "near-infrared"]
    assert resolve_target_levels(NAMES, COUNTS, None, card) == [6, 7]
    assert resolve_target_levels(NAMES, COUNTS, ["Red"], card) == [5]
    assert resolve_target_levels(NAMES, COUNTS, ["near-infrared", "blue"], card) == [2, 7]
    assert resolve_target_levels(NAMES, COUNTS, [], card) == [6, 7]


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="'purple'.*valid levels: ultraviolet, violet"):
        resolve_target_levels(NAMES, COUNTS, ["red", "purple"])
    with pytest.raises(ValueError, match="'infrared'"):
        resolve_target_levels(NAMES, COUNTS, None, ["infrared"])
