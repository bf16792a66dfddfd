"""Load a checkpoint once and turn SMILES into level probabilities, in batches.

Invalid molecules never stop a batch: their row gets a status saying what is wrong and NaN
probabilities, and every other row is predicted as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.chem.smiles import canonical_smiles
from zincfluor.data import LabelScheme
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.seeding import resolve_device

__all__ = ["Predictor", "PredictionBatch"]


@dataclass
class PredictionBatch:
    """Predictions for a list of inputs, aligned with it.

    ``status`` is "ok" or "invalid: <reason>"; ``probs`` is [n, C] with NaN rows where invalid;
    ``levels`` is -1 where invalid.
    """

    smiles: list[str]
    canonical: list[str | None]
    status: list[str]
    probs: np.ndarray

    @property
    def levels(self) -> np.ndarray:
        levels = np.full(len(self.smiles), -1, dtype=np.int64)
        ok = ~np.isnan(self.probs).any(axis=1)
        levels[ok] = self.probs[ok].argmax(axis=1)
        return levels

    @property
    def ok(self) -> np.ndarray:
        return np.array([s == "ok" for s in self.status], dtype=bool)


class Predictor:
    """The trained model of one checkpoint, ready to predict SMILES.

    Parameters
    ----------
    checkpoint : a loaded checkpoint dict (see :mod:`zincfluor.train.checkpoint`)
    device : "auto", "cpu" or "cuda"
    batch_size : molecules per forward pass
    """

    def __init__(self, checkpoint: dict, *, device: str = "auto", batch_size: int = 256):
        metadata = checkpoint["metadata"]
        if metadata.get("kind") != "molecules":
            raise ValueError("this checkpoint is not a molecular model")
        self.checkpoint = checkpoint
        self.scheme = LabelScheme.from_dict(metadata["label_scheme"])
        self.featurizer_config = FeaturizerConfig.from_dict(metadata["featurizer"])
        self.device = resolve_device(device)
        self.model = model_from_checkpoint(checkpoint).to(self.device)
        self.batch_size = batch_size
        self.class_counts = list(checkpoint["class_counts"])

    @classmethod
    def load(cls, model: str | Path, *, device: str = "auto", batch_size: int = 256):
        """Load a run folder or checkpoint file (``torch.load(weights_only=True)``)."""
        return cls(load_checkpoint(model), device=device, batch_size=batch_size)

    @property
    def level_names(self) -> list[str]:
        return list(self.scheme.names)

    def predict(self, smiles: Sequence[str]) -> PredictionBatch:
        """Probabilities for each SMILES in ``smiles`` (invalid ones flagged, not dropped)."""
        n = len(smiles)
        probs = np.full((n, self.scheme.num_classes), np.nan, dtype=np.float32)
        canonical: list[str | None] = [None] * n
        status = ["ok"] * n
        featurized = featurize_many(list(smiles), self.featurizer_config, n_jobs=1)
        for error in featurized.errors:
            status[error.index] = f"invalid: {error.reason}"
        rows = featurized.valid_indices
        graphs = [featurized.graphs[i] for i in rows]
        for i in rows:
            canonical[i] = canonical_smiles(smiles[i], max_length=None, max_heavy_atoms=None)
        for start in range(0, len(graphs), self.batch_size):
            batch = Batch.from_data_list(graphs[start : start + self.batch_size])
            probs[rows[start : start + self.batch_size]] = self._probabilities(batch)
        return PredictionBatch(list(smiles), canonical, status, probs)

    @torch.no_grad()
    def _probabilities(self, batch: Batch) -> np.ndarray:
        logits = self.model(batch.to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()
