"""Screening: load a model, stream SMILES in, probabilities and ranked libraries out."""

from zincfluor.screening.inputs import InputRecord, read_molecule_inputs
from zincfluor.screening.predictor import PredictionBatch, Predictor
from zincfluor.screening.rare import rare_scores, resolve_target_levels
from zincfluor.screening.table import predict_frame
from zincfluor.screening.writer import prediction_layout, write_predictions

__all__ = [
    "InputRecord",
    "PredictionBatch",
    "Predictor",
    "predict_frame",
    "prediction_layout",
    "rare_scores",
    "read_molecule_inputs",
    "resolve_target_levels",
    "write_predictions",
]
