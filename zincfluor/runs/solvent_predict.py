"""A solvent-aware run's emission maximum for (molecule, solvent) pairs, straight from its
checkpoint: what a check or a benchmark needs without the full Predictor.

:func:`load_emission_model` reads ``checkpoint.pt`` and returns ``predict(molecules, solvents)``
-> [N, 3] (median, low, high) nm with the central :data:`~zincfluor.runs.wavelength.INTERVAL`
interval. It reads the inputs the way the run trained: molecules featurised with the
checkpoint's ``featurizer`` (and ``molecule_features``), each solvent (a name or SMILES,
:func:`~zincfluor.data.solvents.resolve_solvent`) given to the model as its checkpoint's
``metadata["solvent"]["encoder"]`` says: descriptors in ``sol_x``; or ``sol_id`` and the graphs
of the distinct solvents of the call (featurised with ``metadata["solvent"]["featurizer"]``);
or nothing for the median-over-solvents model (``"none"``, or a checkpoint without a solvent
block), which answers the same for every solvent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from zincfluor.chem import FeaturizerConfig, make_featurizer
from zincfluor.chem.molecule_features import attach_model_features
from zincfluor.data.solvent_inputs import (
    SolventGraphBatches,
    attach_solvent_descriptors,
    attach_solvent_ids,
    solvent_graph_batch,
)
from zincfluor.data.solvents import resolve_solvent
from zincfluor.runs.common import graph_loader
from zincfluor.runs.wavelength import predict_emission_nm
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.seeding import resolve_device

__all__ = ["EmissionPredictor", "load_emission_model", "solvent_encoder_of"]

EmissionPredictor = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def solvent_encoder_of(metadata: dict) -> str:
    """The checkpoint's solvent encoder: "descriptors", "graph" or "none"."""
    return (metadata.get("solvent") or {}).get("encoder", "none")


def load_emission_model(model: str | Path, device: str = "cpu") -> EmissionPredictor:
    """``predict(molecules, solvents)`` -> [N, 3] float (median, low, high) emission nm of each
    pair, from the run folder or checkpoint ``model`` (module docstring). Raises ValueError for
    a model without a wavelength head, an invalid molecule or an unknown solvent name."""
    torch_device = resolve_device(device)
    checkpoint = load_checkpoint(model, map_location=torch_device)
    network = model_from_checkpoint(checkpoint).to(torch_device)
    metadata = checkpoint["metadata"]
    featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
    encoder = solvent_encoder_of(metadata)
    graph_featurizer = None
    if encoder == "graph":
        graph_featurizer = FeaturizerConfig.from_dict(metadata["solvent"]["featurizer"])
    make_graph = make_featurizer(featurizer)

    def predict(molecules: Sequence[str], solvents: Sequence[str]) -> np.ndarray:
        molecules, solvents = list(molecules), [resolve_solvent(s) for s in solvents]
        if len(molecules) != len(solvents):
            raise ValueError(f"{len(molecules)} molecules but {len(solvents)} solvents: give "
                             "one solvent per molecule")
        graphs = []
        for smiles in molecules:
            graph = make_graph(smiles)
            graph.y = torch.zeros(1, dtype=torch.long)
            graphs.append(graph)
        attach_model_features(graphs, molecules, metadata)
        if encoder == "descriptors":
            attach_solvent_descriptors(graphs, solvents)
        vocabulary = sorted(set(solvents))
        if encoder == "graph":
            attach_solvent_ids(graphs, solvents, vocabulary)
        loader = graph_loader(graphs, 512, torch_device, shuffle=False)
        if encoder == "graph":
            loader = SolventGraphBatches(
                loader, solvent_graph_batch(vocabulary, graph_featurizer, torch_device)
            )
        emission = predict_emission_nm(network, loader, torch_device)
        if emission is None:
            raise ValueError(f"{model}: this model has no wavelength head (train it with "
                             "--head gaussian --target emission_nm)")
        return emission

    return predict
