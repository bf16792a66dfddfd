"""Screening: load a checkpoint, stream SMILES in, probabilities out."""

from zincfluor.screening.inputs import InputRecord, read_molecule_inputs
from zincfluor.screening.predictor import PredictionBatch, Predictor
from zincfluor.screening.writer import prediction_columns, write_predictions

__all__ = [
    "InputRecord",
    "PredictionBatch",
    "Predictor",
    "prediction_columns",
    "read_molecule_inputs",
    "write_predictions",
]
