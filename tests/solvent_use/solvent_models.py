"""Tiny runs for the solvent-aware front ends: a median-over-solvents classifier and
solvent-aware runs (2 epochs, hidden width 8) on the solvent rows of ``tests/runs/
solvent_rows.py`` (63 dyes in toluene, acetonitrile and methanol), and a model folder shipping
the pair. A few seconds each."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runs"))
from solvent_rows import SOLVENT_SHIFTS, write_solvent_rows  # noqa: E402

from zincfluor.cli import app  # noqa: E402

__all__ = ["NILE_RED", "TRAIN_SOLVENTS", "train_classifier", "train_solvent_model",
           "ship_pair", "runner"]

runner = CliRunner()
NILE_RED = "CCN(CC)c1ccc2nc3c(cc(=O)c4ccccc43)oc2c1"
TRAIN_SOLVENTS = tuple(SOLVENT_SHIFTS)  # toluene, acetonitrile, methanol; water is unseen
TINY = ("--epochs", "2", "--hidden-dim", "8", "--num-layers", "2", "--device", "cpu",
        "--cache-dir", "none", "--workers", "1", "--no-progress")


def _invoke(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def solvent_data(root: Path) -> Path:
    path = root / "rows.csv"
    return path if path.is_file() else write_solvent_rows(path)


def train_classifier(root: Path) -> Path:
    """``zincfluor train`` on the rows (one label per molecule: its median emission)."""
    _invoke(["train", "--data", str(solvent_data(root)), "--out", str(root / "cls"), *TINY])
    return root / "cls"


def train_solvent_model(root: Path, encoder: str = "descriptors", name: str = "sol",
                        seed: int = 0) -> Path:
    """``zincfluor train-solvent`` with a Gaussian head on the rows."""
    _invoke(["train-solvent", "--data", str(solvent_data(root)), "--out", str(root / name),
             "--solvent-encoder", encoder, "--solvent-dim", "4", "--batch-size", "16",
             "--seed", str(seed), *TINY])
    return root / name


def ship_pair(classifier: Path, solvent_runs: list[Path], out: Path) -> Path:
    """``zincfluor model ship CLASSIFIER --solvent-model RUN...`` into ``out``."""
    args = ["model", "ship", str(classifier), "--out", str(out), "--name", "pair",
            "--no-trust", "--no-progress"]
    for run in solvent_runs:
        args += ["--solvent-model", str(run)]
    _invoke(args)
    return out
