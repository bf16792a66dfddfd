"""``zincfluor compare RUN...``: runs side by side (settings that differ, main metrics)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from zincfluor.commands.common import fail, friendly_errors, out_console

__all__ = ["compare", "register"]


class SplitChoice(StrEnum):
    test = "test"
    valid = "valid"


def _check_writable(path: Path, option: str) -> None:
    if path.is_dir():
        fail(f"{option} {path} is a folder; give a file name, e.g. {path / 'comparison'}")
    if not path.parent.is_dir():
        fail(f"{option} {path}: the folder {path.parent} does not exist; create it first")


def compare(
    runs: list[Path] = typer.Argument(
        ..., help="Run folders (from `zincfluor train`, `vision train`, `model calibrate` or "
        "`model ensemble`), or their metrics.json files."
    ),
    split: SplitChoice = typer.Option(
        SplitChoice.test, "--split", help="Whose metrics: the test or the validation split."
    ),
    markdown: Path = typer.Option(
        None, "--markdown", help="Also write the comparison as Markdown tables to this file."
    ),
    csv: Path = typer.Option(
        None, "--csv",
        help="Also write it as CSV (section, name, one column per run) to this file.",
    ),
) -> None:
    """Print runs side by side: the settings that differ and the main metrics.

    Metrics: balanced accuracy, top-1, macro-F1, head/medium/tail accuracy, tail top-2, average
    precision of each target group (red+, far-red+), MAE in nm and interval coverage (wavelength
    heads), ECE; percentages unless the row says otherwise; the best value of a row in bold.
    """
    from zincfluor.runs.compare import (
        compare_runs,
        comparison_csv,
        comparison_markdown,
        format_setting,
        format_value,
    )

    for path, option in ((markdown, "--markdown"), (csv, "--csv")):
        if path is not None:
            _check_writable(path, option)
    comparison = compare_runs(runs, split=split.value)
    table = Table(title=f"{len(runs)} runs, {comparison.split} split")
    table.add_column("", overflow="fold")
    for label in comparison.labels:
        table.add_column(escape(label), justify="right")
    if comparison.config:
        for row in comparison.config:
            table.add_row(escape(row.label), *(escape(format_setting(v)) for v in row.values))
    else:
        table.add_row("[dim]settings[/dim]", *(["the same"] * len(comparison.labels)))
    table.add_section()
    for row in comparison.metrics:
        best = row.best()
        table.add_row(row.label, *(
            f"[bold]{format_value(v)}[/bold]" if i in best else format_value(v)
            for i, v in enumerate(row.values)
        ))
    out_console.print(table)
    if markdown is not None:
        markdown.write_text(comparison_markdown(comparison))
        out_console.print(f"Markdown written to {markdown}", highlight=False, soft_wrap=True)
    if csv is not None:
        csv.write_text(comparison_csv(comparison))
        out_console.print(f"CSV written to {csv}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the ``zincfluor`` command."""
    app.command("compare")(friendly_errors(compare))
