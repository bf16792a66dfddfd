"""Human-readable reports of an evaluation: per-class tables, CSV, confusion matrix and curves.

The tables read the dict produced by :func:`zincfluor.train.metrics.evaluate_predictions`.
Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas and never touch
``pyplot``: no display is needed, no global backend is switched, and no figure stays registered
(and alive) after a plot function returns.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zincfluor.train.metrics import (
    GROUP_NAMES,
    RETRIEVAL_SUMMARY_COLUMNS,
    format_fraction,
    format_metric,
    retrieval_summary_rows,
)

__all__ = [
    "PER_LEVEL_COLUMNS",
    "epoch_logger",
    "headline_line",
    "write_run_reports",
    "history_series",
    "loss_part_keys",
    "per_level_markdown",
    "per_level_rows",
    "plot_confusion_matrix",
    "plot_training_curves",
    "row_normalize",
    "run_title",
    "write_per_level_csv",
]

PER_LEVEL_COLUMNS = ("level", "name", "train_count", "eval_count", "group", "top1_accuracy")

PNG_DPI = 150
# Above this many classes the per-cell count annotations would be unreadable, so they are left
# out and only the colours remain.
MAX_ANNOTATED_CLASSES = 20


# --------------------------------------------------------------------------- tables


def per_level_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per class: level index, name, train/eval counts, group and top-1 accuracy.

    ``top1_accuracy`` is a fraction, or None for a class absent from the evaluation set.
    """
    names = metrics["class_names"]
    return [
        {
            "level": level,
            "name": name,
            "train_count": metrics["train_counts"][level],
            "eval_count": metrics["eval_counts"][level],
            "group": metrics["groups"][name],
            "top1_accuracy": metrics["per_level_top1"][name],
        }
        for level, name in enumerate(names)
    ]


def _markdown_cell(value: Any) -> str:
    return str(value).replace("|", r"\|")


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _ks_with_prefix(metrics: Mapping[str, Any], prefix: str) -> list[int]:
    """The ``k`` of every ``{prefix}{k}`` key in ``metrics``, ascending."""
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)")
    return sorted(int(m.group(1)) for key in metrics if (m := pattern.fullmatch(key)))


GROUP_RULE_TEXT = {
    "thirds": "thirds of the levels by training count (most molecules first; extra levels go "
              "to head, then medium)",
    "thresholds": "training-count thresholds (head > 100, medium 20-100, tail < 20 unless the "
                  "run set others)",
}
"""How the per-class report describes each head/medium/tail rule of ``metrics["group_rule"]``."""


def _summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label with its unit, text) for the headline metrics: accuracies in percent, ECE as the
    fraction it is stored as."""
    rows = [
        ("Top-1 accuracy", metrics["top1"]),
        ("Balanced accuracy", metrics["balanced_accuracy"]),
        ("Macro-F1", metrics["macro_f1"]),
    ]
    rows += [
        (f"Tail top-{k} (fewest training samples)", metrics[f"tail_top_{k}"])
        for k in _ks_with_prefix(metrics, "tail_top_")
    ]
    rows += [
        (f"Last-{k} classes (paper variant)", metrics[f"last_{k}"])
        for k in _ks_with_prefix(metrics, "last_")
    ]
    group_sizes = {name: list(metrics["groups"].values()).count(name) for name in GROUP_NAMES}
    rows += [
        (f"{name.capitalize()} classes ({group_sizes[name]}, class-averaged)", metrics[name])
        for name in GROUP_NAMES
    ]
    text = [(f"{label} (%)", format_metric(value)) for label, value in rows]
    text.append(("ECE (fraction, 0-1)", format_fraction(metrics["ece"])))
    return text


HEADLINE_KEYS = (
    ("top-1", "top1"), ("balanced accuracy", "balanced_accuracy"), ("macro-F1", "macro_f1"),
    ("tail top-2", "tail_top_2"), ("tail top-4", "tail_top_4"), ("tail top-6", "tail_top_6"),
    ("head", "head"), ("medium", "medium"), ("tail", "tail"),
)


def headline_line(metrics: Mapping[str, Any]) -> str:
    """One line of the headline metrics for a terminal: accuracies in percent (``%`` after
    each), ECE as the fraction ``metrics.json`` holds, e.g.
    ``top-1 59.03%  ...  tail 41.20%  ECE 0.069``."""
    parts = []
    for label, key in HEADLINE_KEYS:
        text = format_metric(metrics.get(key))
        parts.append(f"{label} {text}{'' if text == 'n/a' else '%'}")
    parts.append(f"ECE {format_fraction(metrics.get('ece'))}")
    return "  ".join(parts)


def per_level_markdown(metrics: Mapping[str, Any]) -> str:
    """A markdown per-class table followed by a summary table (accuracies in percent with 2
    decimals, ECE as a fraction with 3), the rule that formed the head/medium/tail groups when
    the metrics name it, and the retrieval table of the target groups (red+, far-red+) when the
    metrics hold one."""
    level_rows = [
        (
            row["level"],
            row["name"],
            row["train_count"],
            row["eval_count"],
            row["group"],
            format_metric(row["top1_accuracy"]),
        )
        for row in per_level_rows(metrics)
    ]
    lines = _markdown_table(("Level", "Name", "Train", "Eval", "Group", "Top-1 (%)"), level_rows)
    lines.append("")
    lines += _markdown_table(("Metric", "Value"), _summary_rows(metrics))
    rule = metrics.get("group_rule")
    if rule:
        lines += ["", f"Head / medium / tail: {GROUP_RULE_TEXT.get(rule, rule)}."]
    retrieval = retrieval_summary_rows(metrics.get("retrieval"))
    if retrieval:
        lines.append("")
        header = ("Target", *(label for label, _ in RETRIEVAL_SUMMARY_COLUMNS))
        lines += _markdown_table(header, retrieval)
    return "\n".join(lines) + "\n"


def write_per_level_csv(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write :func:`per_level_rows` as CSV (columns ``PER_LEVEL_COLUMNS``).

    Accuracies are written as fractions at full precision; an undefined accuracy is an empty
    cell. Parent directories are created. Returns the path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PER_LEVEL_COLUMNS)
        writer.writeheader()
        writer.writerows(per_level_rows(metrics))
    return out


# --------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=PNG_DPI)
    figure.clear()  # drop artists now; the figure is not registered anywhere else
    return out


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (fraction of the true class); all-zero rows stay zero."""
    counts = np.asarray(cm, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _annotate_counts(axes: Any, counts: np.ndarray, shades: np.ndarray, vmax: float) -> None:
    """Write each cell's count, white on dark cells and black on light ones."""
    font_size = 9 if len(counts) <= 10 else 7
    for (row, col), count in np.ndenumerate(counts):
        dark = vmax > 0 and shades[row, col] > 0.5 * vmax
        axes.text(
            col,
            row,
            f"{int(count)}",
            ha="center",
            va="center",
            color="white" if dark else "black",
            fontsize=font_size,
        )


def plot_confusion_matrix(
    cm: Any,
    class_names: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Save a confusion-matrix heat map as PNG (150 dpi) and return the path.

    Rows are true classes, columns predicted classes. With ``normalize`` the colours show the
    row-normalised fraction of each true class (so rare classes are as visible as common ones);
    otherwise raw counts. Cells are annotated with raw counts for up to
    ``MAX_ANNOTATED_CLASSES`` classes.
    """
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"cm must be square, got shape {counts.shape}")
    if len(class_names) != len(counts):
        raise ValueError(f"{len(counts)} classes but {len(class_names)} class names")
    shades = row_normalize(counts) if normalize else counts.astype(np.float64)
    vmax = 1.0 if normalize else float(max(shades.max(initial=0.0), 1.0))

    side = max(5.0, 0.6 * len(counts) + 2.5)
    figure = _new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    image = axes.imshow(shades, cmap="Blues", vmin=0.0, vmax=vmax)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of true class" if normalize else "count")
    if len(counts) <= MAX_ANNOTATED_CLASSES:
        _annotate_counts(axes, counts, shades, vmax)

    ticks = np.arange(len(counts))
    axes.set_xticks(ticks, labels=list(class_names))
    axes.set_yticks(ticks, labels=list(class_names))
    axes.tick_params(axis="x", labelrotation=45)
    for label in axes.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    axes.set_xlabel("Predicted class")
    axes.set_ylabel("True class")
    if title:
        axes.set_title(title)
    return _save_png(figure, path)


def history_series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list, list]:
    """(epochs, values) for the rows of ``history`` that hold a finite number under ``key``.

    The epoch is the row's ``epoch`` entry, or its 1-based position when that is missing.
    """
    epochs, values = [], []
    for position, row in enumerate(history, start=1):
        value = row.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        epochs.append(row.get("epoch", position))
        values.append(float(value))
    return epochs, values


TOTAL_LOSS_KEYS = ("train_loss", "val_loss")
# history keys that start like a loss part but are not one
_NOT_LOSS_PARTS = frozenset({"train_loss"})


def loss_part_keys(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The loss parts a method logged, as history keys (``train_<part>``), in first-seen order.

    The Trainer records ``train_loss`` (what was minimised) and, for every part of the method's
    :class:`~zincfluor.methods.base.LossOutput` (e.g. ``ce``, ``ce_aug``, ``bsc``, ``sor``), the
    epoch mean as ``train_<part>``.
    """
    keys: dict[str, None] = {}
    for row in history:
        for key in row:
            if key.startswith("train_") and key not in _NOT_LOSS_PARTS:
                keys[key] = None
    return list(keys)


def _plot_series(
    axes: Any, history: Sequence[Mapping[str, Any]], keys: Sequence[str], ylabel: str,
    *, prefix: str = "",
) -> None:
    """Draw every key of ``keys`` that has data (legend: the key without ``prefix``); say so on
    the axes when none has."""
    drawn = 0
    for key in keys:
        epochs, values = history_series(history, key)
        if epochs:
            label = key[len(prefix):] if prefix and key.startswith(prefix) else key
            axes.plot(epochs, values, marker="o" if len(epochs) < 30 else None, label=label)
            drawn += 1
    if drawn:
        axes.legend()
    else:
        axes.text(
            0.5,
            0.5,
            f"no {' / '.join(keys)} recorded",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)


def _mark_epoch(axes: Any, epoch: int, label: str, style: str) -> None:
    axes.axvline(epoch, color="black", linestyle=style, linewidth=1.0, alpha=0.7, label=label)
    axes.legend()


def plot_training_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str | None = None,
    best_epoch: int | None = None,
    stage1_best_epoch: int | None = None,
) -> Path:
    """Save the per-epoch curves of a run as a PNG with one panel per kind of value.

    Panels: the total loss (``train_loss``, and ``val_loss`` when recorded); the loss parts the
    method logged (:func:`loss_part_keys`, one curve each, named by part), when it logged any;
    validation balanced accuracy. ``title`` heads the figure (the run and its method).
    ``best_epoch``, the epoch whose model was kept, is marked by a solid vertical line on every
    panel; ``stage1_best_epoch`` (two-stage methods) by a dashed one. Rows lacking a key, or
    holding None/NaN there, are skipped for that curve. Raises ValueError for an empty history.
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    parts = loss_part_keys(history)
    figure = _new_figure(16.0 if parts else 11.0, 4.5 if title else 4.0)
    panels = list(figure.subplots(1, 3 if parts else 2))
    _plot_series(panels[0], history, TOTAL_LOSS_KEYS, "loss")
    panels[0].set_title("total loss")
    if parts:
        _plot_series(panels[1], history, parts, "loss part", prefix="train_")
        panels[1].set_title("loss parts (training epoch means)")
    _plot_series(panels[-1], history, ("val_balanced_accuracy",), "balanced accuracy")
    panels[-1].set_title("validation")
    for axes in panels:
        if stage1_best_epoch is not None:
            _mark_epoch(axes, stage1_best_epoch, f"stage-1 choice (epoch {stage1_best_epoch})",
                        "--")
        if best_epoch is not None:
            _mark_epoch(axes, best_epoch, f"chosen epoch {best_epoch}", "-")
    if title:
        figure.suptitle(title)
    return _save_png(figure, path)


def run_title(out: Path, method: str | None) -> str:
    """``"<run> · method <name>"``: the run is named by the last three parts of its folder
    (e.g. ``natural/ce/seed0``); without a method name, the folder's ``config.json`` gives it."""
    if method is None:
        config = out / "config.json"
        if config.is_file():
            method = json.loads(config.read_text()).get("method")
    run = "/".join(out.parts[-3:]) or str(out)
    return f"{run} · method {method}" if method else run


def write_run_reports(
    out: Path, fit: Any, valid_metrics: dict, test_metrics: dict, device: Any, *,
    table_stem: str = "per_level", extra: dict[str, Any] | None = None,
    method: str | None = None,
) -> None:
    """A run folder's reports, the same for molecules and images: ``metrics.json`` (the chosen
    epoch, timings, validation and test metrics, per-epoch history, plus ``extra``), the
    per-class table as ``<table_stem>.md``/``.csv``, and the confusion-matrix and training-curve
    PNGs, titled by the run and ``method`` (None: the method of ``out/config.json``), the curves
    with the chosen epoch marked. ``fit`` is the Trainer's
    :class:`~zincfluor.train.trainer.FitResult`."""
    metrics = {
        "best_epoch": fit.best_epoch,
        "valid_balanced_accuracy_at_best": fit.best_score,
        "seconds": fit.seconds,
        "seconds_per_epoch": fit.seconds_per_epoch,
        "stage1_best_epoch": fit.stage1_best_epoch,
        "stage1_valid_balanced_accuracy": fit.stage1_best_score,
        "device": str(device),
        **(extra or {}),
        "valid": valid_metrics,
        "test": test_metrics,
        "history": fit.history,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    (out / f"{table_stem}.md").write_text(per_level_markdown(test_metrics))
    write_per_level_csv(test_metrics, out / f"{table_stem}.csv")
    title = run_title(out, method)
    plot_confusion_matrix(
        np.asarray(test_metrics["confusion_matrix"]),
        test_metrics["class_names"],
        out / "confusion_matrix.png",
        title=f"{title}: test split",
    )
    plot_training_curves(
        fit.history, out / "training_curves.png", title=title, best_epoch=fit.best_epoch,
        stage1_best_epoch=fit.stage1_best_epoch,
    )


def epoch_logger(console, epochs: int):
    """Plain progress lines where no live progress bar can show (logs, CI): about 10 a run,
    and every stage-2 epoch of two-stage methods. ``None`` on a terminal or without a console."""
    if console is None or console.is_terminal:
        return None
    every = max(1, epochs // 10)

    def log(row: dict[str, float]) -> None:
        score = row.get("val_balanced_accuracy")
        valid = f", val bal-acc {100 * score:.1f}%" if score is not None else ""
        if row.get("stage") == 2:  # classifier re-training of two-stage methods: every epoch
            console.print(
                f"stage 2, epoch {int(row['stage_epoch'])}: loss {row['train_loss']:.4f}{valid}"
            )
            return
        epoch = int(row["epoch"])
        if epoch % every == 0 or epoch == epochs:
            console.print(
                f"epoch {epoch}/{epochs}: loss {row['train_loss']:.4f}{valid} "
                f"({row['epoch_seconds']:.1f} s)"
            )

    return log
