"""Metrics checked against values worked out by hand."""

import json
import math

import numpy as np
import pytest
import torch

from zincfluor.train.metrics import (
    GroupThresholds,
    assign_groups,
    balanced_accuracy,
    class_groups,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    fewest_sample_classes,
    format_fraction,
    format_metric,
    group_accuracy,
    last_k_accuracy,
    macro_f1,
    per_class_accuracy,
    tail_top_k_accuracy,
    thirds_groups,
    top1_accuracy,
)

# Three classes, ten samples. By hand:
#   true 0: 4 samples, all predicted 0
#   true 1: 3 samples, predicted 0, 0, 1
#   true 2: 3 samples, predicted 0, 1, 2
TARGETS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PREDICTIONS = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 2])
HAND_CM = np.array(
    [
        [4, 0, 0],
        [2, 1, 0],
        [1, 1, 1],
    ]
)


def onehot_probs(predictions, num_classes, confidence=0.9):
    """Probabilities whose argmax is ``predictions``, rest spread evenly."""
    rest = (1.0 - confidence) / (num_classes - 1)
    probs = np.full((len(predictions), num_classes), rest)
    probs[np.arange(len(predictions)), predictions] = confidence
    return probs


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    cm = confusion_matrix(TARGETS, PREDICTIONS, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, HAND_CM)


def test_confusion_matrix_accepts_torch_tensors():
    cm = confusion_matrix(torch.from_numpy(TARGETS), torch.from_numpy(PREDICTIONS), 3)
    np.testing.assert_array_equal(cm, HAND_CM)


def test_confusion_matrix_rejects_out_of_range_and_float_labels():
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(TARGETS, PREDICTIONS + 1, 3)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix(TARGETS.astype(float), PREDICTIONS, 3)
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(TARGETS, PREDICTIONS[:-1], 3)


# ------------------------------------------------------------------------- hand-computed 3 classes


def test_per_class_accuracy_is_recall():
    # 4/4, 1/3, 1/3
    np.testing.assert_allclose(per_class_accuracy(HAND_CM), [1.0, 1 / 3, 1 / 3])


def test_top1_accuracy():
    # trace 6 of 10 samples
    assert top1_accuracy(HAND_CM) == pytest.approx(0.6)


def test_balanced_accuracy():
    # (1 + 1/3 + 1/3) / 3 = 5/9
    assert balanced_accuracy(HAND_CM) == pytest.approx(5 / 9)


def test_macro_f1():
    # precision = TP / column sum = [4/7, 1/2, 1/1]; recall = [1, 1/3, 1/3]
    # F1_0 = 2 (4/7)(1) / (4/7 + 1)     = 8/11
    # F1_1 = 2 (1/2)(1/3) / (1/2 + 1/3) = 2/5
    # F1_2 = 2 (1)(1/3) / (1 + 1/3)     = 1/2
    expected = (8 / 11 + 2 / 5 + 1 / 2) / 3  # = 179/330
    assert macro_f1(HAND_CM) == pytest.approx(expected)
    assert macro_f1(HAND_CM) == pytest.approx(179 / 330)


# --------------------------------------------------------------------------- absent classes


@pytest.mark.filterwarnings("error")
def test_class_absent_from_targets_is_nan_and_not_averaged():
    # Class 2 never occurs in the targets but is predicted once.
    targets = np.array([0, 0, 1, 1])
    predictions = np.array([0, 2, 1, 0])
    cm = confusion_matrix(targets, predictions, 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [1, 1, 0], [0, 0, 0]])

    accuracy = per_class_accuracy(cm)
    assert accuracy[:2].tolist() == [0.5, 0.5]
    assert math.isnan(accuracy[2])
    assert balanced_accuracy(cm) == pytest.approx(0.5)  # not (0.5 + 0.5 + 0) / 3
    # F1_0 = 2*1 / (2 + 2) = 1/2, F1_1 = 2*1 / (2 + 1) = 2/3; class 2 is left out
    assert macro_f1(cm) == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.filterwarnings("error")
def test_f1_is_zero_when_precision_and_recall_are_zero():
    cm = confusion_matrix(np.array([0, 1]), np.array([1, 0]), 2)
    assert macro_f1(cm) == 0.0
    assert balanced_accuracy(cm) == 0.0


@pytest.mark.filterwarnings("error")
def test_empty_confusion_matrix_gives_nan_without_warnings():
    cm = np.zeros((3, 3), dtype=np.int64)
    assert math.isnan(top1_accuracy(cm))
    assert math.isnan(balanced_accuracy(cm))
    assert math.isnan(macro_f1(cm))


# --------------------------------------------------------------------------- calibration


def test_ece_two_bins_by_hand():
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # target 0: conf 0.90, correct
            [0.70, 0.20, 0.10],  # target 1: conf 0.70, wrong
            [0.40, 0.35, 0.25],  # target 0: conf 0.40, correct
            [0.20, 0.45, 0.35],  # target 2: conf 0.45, wrong
        ]
    )
    targets = np.array([0, 1, 0, 2])
    # bin (0, 0.5]:  samples 3, 4 -> acc 1/2, conf 0.425 -> gap 0.075, weight 2/4
    # bin (0.5, 1]:  samples 1, 2 -> acc 1/2, conf 0.800 -> gap 0.300, weight 2/4
    expected = 0.5 * 0.075 + 0.5 * 0.3  # 0.1875
    assert expected_calibration_error(probs, targets, n_bins=2) == pytest.approx(expected)


def test_ece_bins_are_closed_on_the_right():
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    targets = np.array([0, 0])  # first: argmax tie -> 0, correct; second: wrong
    # 0.5 belongs to (0, 0.5]: |1 - 0.5| / 2 + |0 - 1| / 2 = 0.75
    # (were it in (0.5, 1], the single bin would give |0.5 - 0.75| = 0.25)
    assert expected_calibration_error(probs, targets, n_bins=2) == pytest.approx(0.75)


def test_ece_is_zero_when_perfectly_calibrated():
    probs = np.tile([0.75, 0.25], (4, 1))
    targets = np.array([0, 0, 0, 1])  # 3 of 4 right at confidence 0.75
    assert expected_calibration_error(probs, targets) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_a_confidently_wrong_model_is_its_confidence():
    probs = onehot_probs(np.array([1, 2, 0]), 3, confidence=0.8)
    assert expected_calibration_error(probs, np.array([0, 0, 1])) == pytest.approx(0.8)


@pytest.mark.parametrize("logits", [[[2.0, -1.0, 0.5]], [[2.0, 3.0, 0.5]]])
def test_ece_rejects_logits(logits):
    with pytest.raises(ValueError, match="logits"):
        expected_calibration_error(np.array(logits), np.array([0]))


# --------------------------------------------------------------------------- tail classes


def test_fewest_sample_classes_breaks_ties_towards_higher_index():
    counts = [50, 5, 5, 30, 5]
    assert fewest_sample_classes(counts, 1) == [4]
    assert fewest_sample_classes(counts, 2) == [4, 2]
    assert fewest_sample_classes(counts, 4) == [4, 2, 1, 3]
    with pytest.raises(ValueError):
        fewest_sample_classes(counts, 6)


def test_tail_top_k_and_last_k_differ_when_a_rare_class_is_not_last():
    counts = [1000, 10, 500, 200, 5]
    accuracy = np.array([0.9, 0.1, 0.8, 0.6, 0.3])
    # fewest samples: classes 4 (5) and 1 (10) -> (0.3 + 0.1) / 2
    assert tail_top_k_accuracy(accuracy, counts, 2) == pytest.approx(0.2)
    # last two indices: classes 3 and 4 -> (0.6 + 0.3) / 2
    assert last_k_accuracy(accuracy, 2) == pytest.approx(0.45)


@pytest.mark.filterwarnings("error")
def test_tail_accuracies_skip_classes_absent_from_evaluation():
    counts = [1000, 10, 500, 200, 5]
    accuracy = np.array([0.9, 0.1, 0.8, 0.6, np.nan])
    assert tail_top_k_accuracy(accuracy, counts, 2) == pytest.approx(0.1)
    assert last_k_accuracy(accuracy, 2) == pytest.approx(0.6)
    all_absent = np.array([0.9, np.nan, 0.8, 0.6, np.nan])
    assert math.isnan(tail_top_k_accuracy(all_absent, counts, 2))


# --------------------------------------------------------------------------- groups


def test_group_threshold_boundaries():
    assert class_groups([101, 100, 20, 19]) == ["head", "medium", "medium", "tail"]
    assert class_groups([11, 10, 2, 1], GroupThresholds(many=10, few=2)) == [
        "head",
        "medium",
        "medium",
        "tail",
    ]
    with pytest.raises(ValueError):
        GroupThresholds(many=10, few=20)


def test_group_accuracy_is_class_averaged_with_nan_for_empty_groups():
    accuracy = np.array([1.0, 0.0, 0.5, 0.7])
    groups = ["head", "head", "medium", "medium"]
    result = group_accuracy(accuracy, groups)
    assert list(result) == ["head", "medium", "tail"]
    assert result["head"] == pytest.approx(0.5)  # whatever the classes' sample counts
    assert result["medium"] == pytest.approx(0.6)
    assert math.isnan(result["tail"])


def test_thirds_groups_splits_by_descending_count():
    counts = [500, 10, 300, 50, 40, 5, 100, 20]  # 8 classes -> 3 / 3 / 2
    # descending: 0 (500), 2 (300), 6 (100) | 3 (50), 4 (40), 7 (20) | 1 (10), 5 (5)
    assert thirds_groups(counts) == [
        "head",
        "tail",
        "head",
        "medium",
        "medium",
        "tail",
        "head",
        "medium",
    ]


def test_thirds_groups_ties_keep_lower_index_nearer_the_head():
    assert thirds_groups([7, 7, 7]) == ["head", "medium", "tail"]


# --------------------------------------------------------------------------- evaluate_predictions


@pytest.fixture
def eight_class_case():
    rng = np.random.default_rng(0)
    num_classes = 8
    targets = rng.integers(0, num_classes - 1, size=400)  # class 7 absent from evaluation
    probs = rng.dirichlet(np.ones(num_classes), size=len(targets))
    train_counts = [900, 400, 150, 101, 100, 40, 20, 19]
    names = [f"level_{i}" for i in range(num_classes)]
    return probs, targets, train_counts, names


def test_evaluate_predictions_is_strict_json(eight_class_case):
    metrics = evaluate_predictions(*eight_class_case)
    decoded = json.loads(json.dumps(metrics, allow_nan=False))
    assert decoded == metrics
    assert metrics["per_level_top1"]["level_7"] is None
    assert metrics["eval_counts"][7] == 0


def test_evaluate_predictions_agrees_with_its_parts(eight_class_case):
    probs, targets, train_counts, names = eight_class_case
    metrics = evaluate_predictions(probs, targets, train_counts, names)
    cm = confusion_matrix(targets, probs.argmax(axis=1), 8)
    accuracy = per_class_accuracy(cm)

    assert metrics["n"] == len(targets)
    assert metrics["confusion_matrix"] == cm.tolist()
    assert metrics["eval_counts"] == cm.sum(axis=1).tolist()
    assert metrics["top1"] == pytest.approx(np.mean(probs.argmax(axis=1) == targets))
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy(cm))
    assert metrics["macro_f1"] == pytest.approx(macro_f1(cm))
    assert metrics["ece"] == pytest.approx(expected_calibration_error(probs, targets))
    assert list(metrics["per_level_top1"].values())[:7] == pytest.approx(accuracy[:7])
    for k in (2, 4, 6):
        expected_tail = tail_top_k_accuracy(accuracy, train_counts, k)
        assert metrics[f"tail_top_{k}"] == pytest.approx(expected_tail)
        assert metrics[f"last_{k}"] == pytest.approx(last_k_accuracy(accuracy, k))
    groups = class_groups(train_counts)
    assert list(metrics["groups"].values()) == groups
    by_group = group_accuracy(accuracy, groups)
    assert metrics["head"] == pytest.approx(by_group["head"])
    assert metrics["medium"] == pytest.approx(by_group["medium"])
    assert math.isnan(by_group["tail"])  # the only tail class (19 samples) is not evaluated
    assert metrics["tail"] is None
    assert metrics["class_names"] == names
    assert metrics["train_counts"] == train_counts


def test_evaluate_predictions_accepts_torch_tensors(eight_class_case):
    probs, targets, train_counts, names = eight_class_case
    from_numpy = evaluate_predictions(probs, targets, train_counts, names)
    from_torch = evaluate_predictions(
        torch.from_numpy(probs).float(), torch.from_numpy(targets), train_counts, names
    )
    assert from_torch["confusion_matrix"] == from_numpy["confusion_matrix"]
    assert from_torch["ece"] == pytest.approx(from_numpy["ece"], abs=1e-6)


def test_evaluate_predictions_on_the_hand_case():
    probs = onehot_probs(PREDICTIONS, 3)
    # class 1 is common; classes 2 and 0 are the rare ones
    metrics = evaluate_predictions(probs, TARGETS, [10, 300, 5], ["a", "b", "c"], tail_ks=(1, 2))
    assert metrics["top1"] == pytest.approx(0.6)
    assert metrics["balanced_accuracy"] == pytest.approx(5 / 9)
    assert metrics["macro_f1"] == pytest.approx(179 / 330)
    # every confidence is 0.9 (one bin), accuracy 0.6
    assert metrics["ece"] == pytest.approx(0.3)
    assert metrics["per_level_top1"] == pytest.approx({"a": 1.0, "b": 1 / 3, "c": 1 / 3})
    assert metrics["tail_top_1"] == pytest.approx(1 / 3)  # class 2
    assert metrics["tail_top_2"] == pytest.approx((1 / 3 + 1) / 2)  # classes 2, 0
    assert metrics["last_2"] == pytest.approx(1 / 3)  # classes 1, 2
    assert metrics["groups"] == {"a": "tail", "b": "head", "c": "tail"}
    assert metrics["head"] == pytest.approx(1 / 3)
    assert metrics["medium"] is None
    assert metrics["tail"] == pytest.approx(2 / 3)


def test_evaluate_predictions_tail_keys_are_none_with_fewer_than_k_classes():
    probs = onehot_probs(PREDICTIONS, 3)
    metrics = evaluate_predictions(probs, TARGETS, [10, 300, 5], ["a", "b", "c"])
    assert metrics["tail_top_2"] == pytest.approx((1 / 3 + 1) / 2)
    assert metrics["tail_top_4"] is None
    assert metrics["last_6"] is None
    json.dumps(metrics, allow_nan=False)


def test_evaluate_predictions_validates_shapes(eight_class_case):
    probs, targets, train_counts, names = eight_class_case
    with pytest.raises(ValueError, match="class_names"):
        evaluate_predictions(probs, targets, train_counts, names[:-1])
    with pytest.raises(ValueError, match="distinct"):
        evaluate_predictions(probs, targets, train_counts, ["x"] * 8)
    with pytest.raises(ValueError, match="rows"):
        evaluate_predictions(probs, targets[:-1], train_counts, names)


# --------------------------------------------------------------------------- formatting


def test_format_metric():
    assert format_metric(0.66844) == "66.84"
    assert format_metric(1.0) == "100.00"
    assert format_metric(None) == "n/a"
    assert format_metric(float("nan")) == "n/a"


# --------------------------------------------------------------------------- group rules

DEEP4CHEM_NAMES = ["ultraviolet", "violet", "blue", "green", "yellow-orange", "red", "far-red",
                   "near-infrared"]
DEEP4CHEM_COUNTS = [728, 1489, 1264, 1252, 754, 579, 238, 68]


def test_thirds_of_deep4chem_emission8_as_documented():
    groups = dict(zip(DEEP4CHEM_NAMES, assign_groups(DEEP4CHEM_COUNTS, "thirds"), strict=True))
    assert [n for n, g in groups.items() if g == "head"] == ["violet", "blue", "green"]
    assert [n for n, g in groups.items() if g == "medium"] == ["ultraviolet", "yellow-orange",
                                                               "red"]
    assert [n for n, g in groups.items() if g == "tail"] == ["far-red", "near-infrared"]
    # the thresholds leave the tail empty on these counts: the "tail n/a" of issue 15
    assert "tail" not in assign_groups(DEEP4CHEM_COUNTS, "thresholds")


def test_evaluate_predictions_groups_by_the_rule_it_is_given_and_names_it():
    rng = np.random.default_rng(1)
    targets = np.arange(400) % 8
    probs = rng.dirichlet(np.ones(8), size=len(targets))
    thirds = evaluate_predictions(probs, targets, DEEP4CHEM_COUNTS, DEEP4CHEM_NAMES,
                                  group_rule="thirds")
    assert thirds["group_rule"] == "thirds"
    assert thirds["tail"] is not None
    accuracy = per_class_accuracy(confusion_matrix(targets, probs.argmax(axis=1), 8))
    assert thirds["tail"] == pytest.approx(accuracy[[6, 7]].mean())
    assert thirds["groups"]["red"] == "medium"
    default = evaluate_predictions(probs, targets, DEEP4CHEM_COUNTS, DEEP4CHEM_NAMES)
    assert default["group_rule"] == "thresholds"  # images keep the CIFAR-LT thresholds
    assert default["tail"] is None
    with pytest.raises(ValueError, match="group rule must be one of thirds, thresholds"):
        evaluate_predictions(probs, targets, DEEP4CHEM_COUNTS, DEEP4CHEM_NAMES,
                             group_rule="counts")


def test_format_fraction_prints_ece_as_stored():
    assert format_fraction(0.04217) == "0.042"
    assert format_fraction(None) == "n/a"
    assert format_fraction(float("nan")) == "n/a"
