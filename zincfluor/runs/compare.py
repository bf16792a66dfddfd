"""Runs side by side: the settings that differ and the main metrics, for ``zincfluor compare``.

A run folder (written by ``zincfluor train``, ``vision train``, ``model calibrate`` or
``model ensemble``) holds ``metrics.json`` (``valid`` and ``test`` blocks, ``best_epoch``, ...)
and ``config.json`` (everything the run was started with; an ensemble has ``ensemble.json`` and
its members' ``member-<k>/config.json`` instead). :func:`compare_runs` reads them and gives

* ``config``: the flattened settings (``trainer.epochs``, ``resolved.method_hparams.tau``, ...)
  whose values are not the same in every run, the run folder itself left out;
* ``metrics``: the metrics of one split that at least one run has, in one unit each (stated in
  the row's label: fractions as percentages, MAE in nm).

Both are :class:`Row` lists that the command prints as a table or writes as Markdown or CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RunRecord", "Row", "Comparison", "load_run", "compare_runs", "run_labels",
    "comparison_markdown", "comparison_csv", "METRIC_ROWS", "format_value", "format_setting",
    "flatten",
]

IGNORED_CONFIG_KEYS = ("out", "resolved.model_spec", "resolved.train_class_counts")
"""Settings never shown: the run folder (each run's own) and long derived values."""

RENAMED_PREFIXES = (("resolved.method_hparams.", "method."),)
"""The hyperparameters a method ran with (defaults filled in) read as ``method.<name>``; the
ones given on the command line (``method_hparams.*``, a subset) are then left out."""


@dataclass
class RunRecord:
    """One run folder as read: its path, flattened settings and metrics file."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class Row:
    """One line of the comparison: a label, one value per run (None: not there), and which
    way is better (``"high"``, ``"low"`` or None) for marking the best run."""

    label: str
    values: list[Any]
    better: str | None = None

    def best(self) -> set[int]:
        """Indices of the runs with the best value (none when fewer than two have one)."""
        numbers = [(i, v) for i, v in enumerate(self.values) if _is_number(v)]
        if self.better is None or len(numbers) < 2:
            return set()
        pick = max if self.better == "high" else min
        target = pick(v for _, v in numbers)
        return {i for i, v in numbers if v == target}


@dataclass
class Comparison:
    """What :func:`compare_runs` returns: run labels, differing settings, metrics."""

    labels: list[str]
    split: str
    config: list[Row]
    metrics: list[Row]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": value}``; lists become compact JSON text."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    if isinstance(value, list | tuple):
        value = json.dumps(value, separators=(",", ":"))
    return {prefix[:-1]: value}


def load_run(path: str | Path) -> RunRecord:
    """Read a run folder (or its ``metrics.json``); a missing or unreadable file is a
    ``FileNotFoundError``/``ValueError`` naming it and what to pass instead."""
    path = Path(path)
    if path.is_file() and path.name == "metrics.json":
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(
            f"run folder {path} does not exist; pass folders written by `zincfluor train`"
            if not path.exists() else
            f"{path} is a file, not a run folder; pass folders written by `zincfluor train`"
        )
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        raise FileNotFoundError(
            f"{path} has no metrics.json (not a finished run); pass folders written by "
            "`zincfluor train`, `vision train`, `model calibrate` or `model ensemble`"
        )
    metrics = _read_json(metrics_file)
    config: dict[str, Any] = {}
    if (path / "config.json").is_file():
        config = _read_json(path / "config.json")
    elif (path / "ensemble.json").is_file():
        members = _read_json(path / "ensemble.json").get("members") or []
        first = path / "member-0" / "config.json"
        config = _read_json(first) if first.is_file() else {}
        config["ensemble_members"] = len(members)
    flat = {
        key: value for key, value in flatten(config).items()
        if not any(key == k or key.startswith(k + ".") for k in IGNORED_CONFIG_KEYS)
    }
    if any(key.startswith("resolved.method_hparams") for key in flat):
        flat = {key: value for key, value in flat.items()
                if not (key == "method_hparams" or key.startswith("method_hparams."))}
    for old, new in RENAMED_PREFIXES:
        flat = {(new + key[len(old):] if key.startswith(old) else key): value
                for key, value in flat.items()}
    return RunRecord(path=path, config=flat, metrics=metrics)


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the fewest trailing path parts that tell the runs apart."""
    parts = [Path(p).resolve().parts for p in paths]
    longest = max(len(p) for p in parts)
    for k in range(1, longest + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {'/'.join(p[-2:])}" for i, p in enumerate(parts)]  # the same folder twice


def _get(block: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(block, dict):
            return None
        block = block.get(key)
    return block


def _percent(value: Any) -> Any:
    return 100.0 * value if _is_number(value) else None


def _plain(value: Any) -> Any:
    return value if _is_number(value) else None


MetricSpec = tuple[str, Callable[[dict[str, Any], dict[str, Any]], Any], str | None]
"""(label, value of (split block, whole metrics file), which way is better)."""

METRIC_ROWS: list[MetricSpec] = [
    ("n (evaluated)", lambda s, m: _plain(s.get("n")), None),
    ("best epoch", lambda s, m: _plain(m.get("best_epoch")), None),
    ("balanced accuracy (%)", lambda s, m: _percent(s.get("balanced_accuracy")), "high"),
    ("top-1 (%)", lambda s, m: _percent(s.get("top1")), "high"),
    ("macro-F1 (%)", lambda s, m: _percent(s.get("macro_f1")), "high"),
    ("head accuracy (%)", lambda s, m: _percent(s.get("head")), "high"),
    ("medium accuracy (%)", lambda s, m: _percent(s.get("medium")), "high"),
    ("tail accuracy (%)", lambda s, m: _percent(s.get("tail")), "high"),
    ("tail top-2 (%)", lambda s, m: _percent(s.get("tail_top_2")), "high"),
]
"""The metric rows before the retrieval groups (whose names come from the runs)."""

TRAILING_ROWS: list[MetricSpec] = [
    ("MAE (nm)", lambda s, m: _plain(_get(s, "wavelength", "mae_nm")), "low"),
    ("interval coverage (%)", lambda s, m: _percent(_get(s, "wavelength", "interval_coverage")),
     None),
    ("ECE (fraction)", lambda s, m: _plain(s.get("ece")), "low"),
    ("seconds per epoch", lambda s, m: _plain(m.get("seconds_per_epoch")), None),
]


def _retrieval_specs(blocks: Sequence[dict[str, Any]]) -> list[MetricSpec]:
    """``AP <group> (%)`` for every retrieval group any run has (red+, far-red+, ...)."""
    groups: list[str] = []
    for block in blocks:
        for group in _get(block, "retrieval", "groups") or {}:
            if group not in groups:
                groups.append(group)

    def average_precision(group: str):
        return lambda s, m: _percent(_get(s, "retrieval", "groups", group, "average_precision"))

    return [(f"AP {group} (%)", average_precision(group), "high") for group in groups]


def compare_runs(paths: Sequence[str | Path], split: str = "test") -> Comparison:
    """Read the runs and line them up: the settings that differ, the metrics of ``split``."""
    if split not in ("test", "valid"):
        raise ValueError(f"--split {split}: choose test or valid")
    runs = [load_run(path) for path in paths]
    blocks = []
    for run in runs:
        block = run.metrics.get(split)
        if not isinstance(block, dict):
            raise ValueError(f"{run.path}/metrics.json has no {split!r} metrics; try --split "
                             f"{'valid' if split == 'test' else 'test'}")
        blocks.append(block)

    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.config if key not in keys]
    config_rows = []
    for key in keys:
        values = [run.config.get(key) for run in runs]
        if any(json.dumps(v, sort_keys=True) != json.dumps(values[0], sort_keys=True)
               for v in values[1:]):
            config_rows.append(Row(key, values))

    metric_rows = []
    for label, value_of, better in METRIC_ROWS + _retrieval_specs(blocks) + TRAILING_ROWS:
        values = [value_of(block, run.metrics) for block, run in zip(blocks, runs, strict=True)]
        if any(v is not None for v in values):
            metric_rows.append(Row(label, values, better))
    return Comparison(run_labels([run.path for run in runs]), split, config_rows, metric_rows)


def format_value(value: Any, digits: int = 2) -> str:
    """A metric's text: floats with ``digits`` decimals, None as an em dash."""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return format_setting(value)


def format_setting(value: Any) -> str:
    """A setting's text, as JSON writes it (``true``, ``null``, ``0.0005``), None as an em
    dash (a setting the run does not have)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def comparison_markdown(comparison: Comparison) -> str:
    """Two Markdown tables: the differing settings and the metrics (best values in bold)."""

    def table(title: str, rows: list[Row], mark_best: bool) -> list[str]:
        lines = [f"### {title}", "", "| | " + " | ".join(comparison.labels) + " |",
                 "|---|" + "---:|" * len(comparison.labels)]
        for row in rows:
            best = row.best() if mark_best else set()
            text = format_value if mark_best else format_setting
            cells = [_markdown_cell(text(v), i in best) for i, v in enumerate(row.values)]
            lines.append(f"| {_escape_markdown(row.label)} | " + " | ".join(cells) + " |")
        return lines + [""]

    lines = []
    if comparison.config:
        lines += table("Settings that differ", comparison.config, mark_best=False)
    else:
        lines += ["### Settings", "", "The runs' settings are the same.", ""]
    lines += table(f"Metrics ({comparison.split} split)", comparison.metrics, mark_best=True)
    return "\n".join(lines)


def _escape_markdown(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_cell(text: str, bold: bool) -> str:
    text = _escape_markdown(text)
    return f"**{text}**" if bold else text


def comparison_csv(comparison: Comparison) -> str:
    """CSV text: ``section,name,<run>...``; numbers unrounded, in each row's stated unit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "name", *comparison.labels])
    for section, rows in (("setting", comparison.config),
                          (f"{comparison.split} metric", comparison.metrics)):
        for row in rows:
            writer.writerow([section, row.label, *(_csv_cell(v) for v in row.values)])
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value
