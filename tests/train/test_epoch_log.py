"""The plain per-epoch log lines that replace the progress bar in logs and CI."""

from __future__ import annotations

import io

from rich.console import Console

from zincfluor.train.report import epoch_logger as _epoch_logger


def _lines(rows, epochs):
    stream = io.StringIO()
    log = _epoch_logger(Console(file=stream, force_terminal=False, width=200), epochs)
    for row in rows:
        log(row)
    return stream.getvalue().splitlines()


def test_stage1_logs_about_ten_lines_and_the_last_epoch():
    rows = [{"epoch": e, "train_loss": 1.0, "epoch_seconds": 0.5} for e in range(1, 21)]
    lines = _lines(rows, 20)
    assert lines[0].startswith("epoch 2/20: loss 1.0000")
    assert lines[-1].startswith("epoch 20/20")
    assert len(lines) == 10


def test_stage2_rows_are_numbered_within_stage2():
    row = {"epoch": 23, "stage": 2, "stage_epoch": 3, "train_loss": 0.25,
           "val_balanced_accuracy": 0.5, "epoch_seconds": 0.1}
    assert _lines([row], 20) == ["stage 2, epoch 3: loss 0.2500, val bal-acc 50.0%"]


def test_no_log_on_a_terminal():
    assert _epoch_logger(Console(file=io.StringIO(), force_terminal=True), 10) is None
