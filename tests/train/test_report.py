"""Reports: markdown and CSV tables, PNG figures."""

import csv

import matplotlib.pyplot as plt
import numpy as np
import pytest

from zincfluor.train.metrics import evaluate_predictions
from zincfluor.train.report import (
    PER_LEVEL_COLUMNS,
    history_series,
    loss_part_keys,
    per_level_markdown,
    per_level_rows,
    plot_confusion_matrix,
    plot_training_curves,
    row_normalize,
    write_per_level_csv,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["dark", "dim", "mid|bright", "bright"]  # a pipe must not break the markdown table
TRAIN_COUNTS = [300, 60, 15, 5]


@pytest.fixture
def metrics():
    # class 3 is absent from the evaluation set
    targets = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    probs = np.full((len(targets), 4), 0.1)
    probs[np.arange(len(targets)), predictions] = 0.7
    return evaluate_predictions(probs, targets, TRAIN_COUNTS, NAMES, tail_ks=(2, 4))


def test_per_level_rows(metrics):
    rows = per_level_rows(metrics)
    assert [row["name"] for row in rows] == NAMES
    assert rows[0] == {
        "level": 0,
        "name": "dark",
        "train_count": 300,
        "eval_count": 4,
        "group": "head",
        "top1_accuracy": 0.75,
    }
    assert rows[3]["eval_count"] == 0
    assert rows[3]["top1_accuracy"] is None
    assert [row["group"] for row in rows] == ["head", "medium", "tail", "tail"]


def _markdown_tables(text):
    """Split markdown into tables: lists of data rows (header and rule dropped); paragraphs
    that are not tables are left out."""
    tables = [block.splitlines() for block in text.strip().split("\n\n")]
    return [table[2:] for table in tables if table[0].startswith("|")]


def test_markdown_has_one_row_per_class_then_a_summary(metrics):
    per_level, summary = _markdown_tables(per_level_markdown(metrics))
    assert len(per_level) == len(NAMES)
    assert per_level[0] == "| 0 | dark | 300 | 4 | head | 75.00 |"
    assert per_level[2] == r"| 2 | mid\|bright | 15 | 2 | tail | 50.00 |"
    assert per_level[3].endswith("| n/a |")

    summary_text = "\n".join(summary)
    assert f"| Top-1 accuracy (%) | {100 * metrics['top1']:.2f} |" in summary_text
    assert "| Balanced accuracy (%) | 58.33 |" in summary_text  # (3/4 + 1/2 + 1/2) / 3
    for label in ("Macro-F1", "Tail top-2", "Tail top-4", "Last-2", "Head", "Medium", "ECE"):
        assert f"| {label}" in summary_text
    # only class 2 of the two tail classes was evaluated
    assert "| Tail classes (2, class-averaged) (%) | 50.00 |" in summary_text


def test_ece_is_written_as_the_fraction_that_metrics_json_holds(metrics):
    # every prediction has confidence 0.7 and 5 of 8 are right: ECE = |5/8 - 0.7| = 0.075
    assert metrics["ece"] == pytest.approx(0.075)
    text = per_level_markdown(metrics)
    assert "| ECE (fraction, 0-1) | 0.075 |" in text
    assert "7.50" not in text  # not in percent


def test_markdown_names_the_group_rule():
    probs = np.eye(3)[[0, 1, 2]] * 0.8 + 0.2 / 3
    thirds = evaluate_predictions(probs, [0, 1, 2], [500, 300, 200], ["a", "b", "c"],
                                  group_rule="thirds")
    assert "Head / medium / tail: thirds of the levels by training count" in (
        per_level_markdown(thirds))
    threshold = evaluate_predictions(probs, [0, 1, 2], [500, 300, 200], ["a", "b", "c"])
    assert "training-count thresholds" in per_level_markdown(threshold)


def test_csv_round_trips(metrics, tmp_path):
    path = write_per_level_csv(metrics, tmp_path / "sub" / "per_level.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == PER_LEVEL_COLUMNS
        read_back = list(reader)

    expected = per_level_rows(metrics)
    assert len(read_back) == len(expected)
    for got, want in zip(read_back, expected, strict=True):
        assert int(got["level"]) == want["level"]
        assert got["name"] == want["name"]
        assert int(got["train_count"]) == want["train_count"]
        assert int(got["eval_count"]) == want["eval_count"]
        assert got["group"] == want["group"]
        accuracy = float(got["top1_accuracy"]) if got["top1_accuracy"] else None
        assert accuracy == want["top1_accuracy"]


def _assert_png(path):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_row_normalize_keeps_empty_rows_zero():
    normalized = row_normalize(np.array([[3, 1], [0, 0]]))
    np.testing.assert_allclose(normalized, [[0.75, 0.25], [0.0, 0.0]])


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_matrix_png(metrics, tmp_path, normalize):
    path = plot_confusion_matrix(
        np.array(metrics["confusion_matrix"]),
        metrics["class_names"],
        tmp_path / "plots" / "cm.png",
        normalize=normalize,
        title="test split",
    )
    _assert_png(path)
    assert plt.get_fignums() == []  # nothing left open in pyplot


def test_confusion_matrix_rejects_mismatched_names(tmp_path):
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"], tmp_path / "cm.png")


HISTORY = [
    {"epoch": 1, "train_loss": 2.0, "val_balanced_accuracy": 0.30, "lr": 1e-3},
    {"epoch": 2, "train_loss": 1.5},  # no validation this epoch
    {"epoch": 3, "train_loss": 1.2, "val_balanced_accuracy": None},
    {"epoch": 4, "train_loss": 1.0, "val_balanced_accuracy": 0.45, "val_loss": 1.4},
]


def test_history_series_skips_missing_and_undefined_values():
    assert history_series(HISTORY, "train_loss") == ([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.0])
    assert history_series(HISTORY, "val_balanced_accuracy") == ([1, 4], [0.30, 0.45])
    assert history_series(HISTORY, "val_loss") == ([4], [1.4])
    assert history_series([{"train_loss": 0.5}, {"train_loss": float("nan")}], "train_loss") == (
        [1],
        [0.5],
    )


def _drawn(monkeypatch):
    """Record every figure plot_training_curves saves (its axes survive the later clear())."""
    import zincfluor.train.report as report

    saved = []
    original = report._save_png

    def keep(figure, path):
        saved.append({
            "suptitle": figure._suptitle.get_text() if figure._suptitle else None,
            "axes": [
                {
                    "title": axes.get_title(),
                    "lines": {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                              for line in axes.get_lines()},
                }
                for axes in figure.axes
            ],
        })
        return original(figure, path)

    monkeypatch.setattr(report, "_save_png", keep)
    return saved


PARTS_HISTORY = [
    {"epoch": 1, "lr": 0.1, "train_loss": 3.0, "train_ce": 1.0, "train_ce_aug": 1.1,
     "train_bsc": 0.5, "train_sor": 0.4, "epoch_seconds": 1.0, "val_balanced_accuracy": 0.2},
    {"epoch": 2, "lr": 0.1, "train_loss": 2.0, "train_ce": 0.8, "train_ce_aug": 0.9,
     "train_bsc": 0.2, "train_sor": 0.1, "epoch_seconds": 1.0, "val_balanced_accuracy": 0.5},
    {"epoch": 3, "lr": 0.1, "train_loss": 1.5, "train_ce": 0.6, "train_ce_aug": 0.7,
     "train_bsc": 0.1, "train_sor": 0.1, "epoch_seconds": 1.0, "val_balanced_accuracy": 0.4},
]


def test_training_curves_draw_every_loss_part_title_and_chosen_epoch(tmp_path, monkeypatch):
    saved = _drawn(monkeypatch)
    _assert_png(plot_training_curves(
        PARTS_HISTORY, tmp_path / "curves.png", title="natural/bscl-sor/seed0 · method bscl-sor",
        best_epoch=2,
    ))
    figure = saved[0]
    assert figure["suptitle"] == "natural/bscl-sor/seed0 · method bscl-sor"
    total, parts, valid = figure["axes"]
    assert parts["title"].startswith("loss parts")
    assert {"ce", "ce_aug", "bsc", "sor"} <= set(parts["lines"])
    assert parts["lines"]["bsc"] == ([1, 2, 3], [0.5, 0.2, 0.1])
    assert "lr" not in parts["lines"] and "epoch_seconds" not in parts["lines"]
    for axes in (total, parts, valid):
        xs, _ = axes["lines"]["chosen epoch 2"]
        assert set(xs) == {2}  # a vertical line at the chosen epoch on every panel


def test_loss_part_keys_are_the_trainers_train_prefixed_parts():
    assert loss_part_keys(PARTS_HISTORY) == ["train_ce", "train_ce_aug", "train_bsc",
                                             "train_sor"]
    assert loss_part_keys(HISTORY) == []


def test_training_curves_png(tmp_path):
    _assert_png(plot_training_curves(HISTORY, tmp_path / "curves.png"))
    # a history without any validation still plots
    _assert_png(plot_training_curves([{"epoch": 1, "train_loss": 1.0}], tmp_path / "loss.png"))
    assert plt.get_fignums() == []


def test_training_curves_reject_empty_history(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves([], tmp_path / "curves.png")


def test_markdown_ends_with_the_retrieval_table_when_the_scheme_has_red_levels():
    names = ["green", "red", "far-red"]
    targets = np.array([0, 1, 2, 0])
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    text = per_level_markdown(evaluate_predictions(probs, targets, [10, 5, 2], names))
    tables = _markdown_tables(text)
    assert len(tables) == 3
    assert "Head / medium / tail: training-count thresholds" in text
    assert "| Target | positives | AP | ROC-AUC | P@100 | EF 1% |" in text
    # red+ scores 0.2, 0.8, 0.9, 0.4 rank both positives first; far-red+ likewise
    assert tables[2] == [
        "| red+ | 2 | 1.000 | 1.000 | 0.500 | 2.00 |",
        "| far-red+ | 1 | 1.000 | 1.000 | 0.250 | 4.00 |",
    ]


def test_run_reports_title_the_run_and_method_and_mark_the_chosen_epochs(
    metrics, tmp_path, monkeypatch
):
    import json
    from types import SimpleNamespace

    from zincfluor.train.report import run_title, write_run_reports

    out = tmp_path / "runs" / "natural" / "los" / "seed1"
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"method": "los"}))
    assert run_title(out, None) == "natural/los/seed1 · method los"
    assert run_title(out, "ce") == "natural/los/seed1 · method ce"
    saved = _drawn(monkeypatch)
    fit = SimpleNamespace(best_epoch=3, best_score=0.4, seconds=3.0, seconds_per_epoch=1.0,
                          stage1_best_epoch=2, stage1_best_score=0.5, history=PARTS_HISTORY)
    write_run_reports(out, fit, metrics, metrics, "cpu")
    confusion, curves = saved
    assert confusion["axes"][0]["title"] == "natural/los/seed1 · method los: test split"
    assert curves["suptitle"] == "natural/los/seed1 · method los"
    lines = curves["axes"][0]["lines"]
    assert set(lines["chosen epoch 3"][0]) == {3}
    assert set(lines["stage-1 choice (epoch 2)"][0]) == {2}


def test_headline_line_gives_percent_accuracies_and_the_ece_fraction(metrics):
    from zincfluor.train.report import headline_line

    line = headline_line(metrics)
    assert line.startswith(f"top-1 {100 * metrics['top1']:.2f}%  balanced accuracy 58.33%")
    assert "tail top-2 50.00%" in line and "tail 50.00%" in line
    assert "tail top-6 n/a" in line  # tail_ks=(2, 4): no tail_top_6 in these metrics
    assert line.endswith("  ECE 0.075")
