"""The molecular run as one package: train, evaluate, calibrate.

- :mod:`zincfluor.runs.train`: ``TrainRunConfig`` -> ``train_run`` -> a run folder
- :mod:`zincfluor.runs.evaluate`: ``evaluate_run``, a trained model on a measurement table
- :mod:`zincfluor.runs.calibrate`: ``calibrate_run``, temperature scaling into a new run folder
- :mod:`zincfluor.runs.common`: what they share (usable molecules, labelled graphs, loaders,
  the graph cache, headline metrics, the molecules a run has seen)

Shipping a run as a model folder is :func:`zincfluor.screening.card.ship_model`.
"""

from zincfluor.runs.calibrate import calibrate_run
from zincfluor.runs.evaluate import evaluate_run
from zincfluor.runs.train import DataOptions, TrainRunConfig, TrainRunResult, train_run

__all__ = [
    "DataOptions", "TrainRunConfig", "TrainRunResult", "train_run", "evaluate_run",
    "calibrate_run",
]
