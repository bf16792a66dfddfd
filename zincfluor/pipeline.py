"""Moved: the molecular train and evaluate runs now live in :mod:`zincfluor.runs`.

This module only re-exports their public names so that older imports keep working; import from
:mod:`zincfluor.runs` (or :mod:`zincfluor.runs.train` / :mod:`zincfluor.runs.evaluate`) instead.
"""

from zincfluor.runs.common import LOADERS, usable_mask
from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions, TrainRunConfig, TrainRunResult, train_run

__all__ = [
    "DataOptions", "TrainRunConfig", "TrainRunResult", "train_run", "evaluate_run",
    "usable_mask", "LOADERS",
]
