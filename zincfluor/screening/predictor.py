"""Load a checkpoint once and turn SMILES into level probabilities, in batches.

Invalid molecules never stop a batch: their row gets a status saying what is wrong and NaN
probabilities, and every other row is predicted as usual.

Each SMILES is parsed exactly once: the same RDKit molecule gives the graph features, the
canonical SMILES and (on request) the InChIKey. The graphs of a batch go to the network as one
concatenated batch built straight from the packed feature arrays (no per-molecule ``Data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.featurizer import make_featurizer
from zincfluor.chem.packing import PackedGraphs
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import standardize_smiles
from zincfluor.data import LabelScheme
from zincfluor.screening.fastgcn import fast_forward
from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint
from zincfluor.train.seeding import resolve_device

__all__ = ["Predictor", "PredictionBatch", "PreparedMolecules", "prepare_molecules"]


@dataclass
class PredictionBatch:
    """Predictions for a list of inputs, aligned with it.

    ``status`` is "ok", "invalid: <reason>" (not a molecule) or "out_of_scope: <reason>" (a
    molecule the model cannot score: no carbon, a lone ion, an element unseen in training);
    ``probs`` is [n, C] with NaN rows where not ok; ``levels`` is -1 there. ``canonical`` is the
    canonical SMILES of the standardised molecule the model saw, ``notes`` what standardisation
    changed in each input (empty tuple when nothing). ``inchikey`` is ``None`` unless asked for,
    else one key per input (``None`` where invalid or where RDKit cannot make one).
    """

    smiles: list[str]
    canonical: list[str | None]
    status: list[str]
    probs: np.ndarray
    inchikey: list[str | None] | None = None
    notes: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def levels(self) -> np.ndarray:
        levels = np.full(len(self.smiles), -1, dtype=np.int64)
        ok = ~np.isnan(self.probs).any(axis=1)
        levels[ok] = self.probs[ok].argmax(axis=1)
        return levels

    @property
    def ok(self) -> np.ndarray:
        return np.array([s == "ok" for s in self.status], dtype=bool)


@dataclass
class PreparedMolecules:
    """What RDKit makes of a list of SMILES, ready for the network (picklable, numpy only).

    Attributes
    ----------
    n : number of inputs
    graphs : packed graphs of the scored inputs, in input order
    positions : int64 input position of each graph
    canonical : canonical SMILES of each graph's standardised molecule (aligned with
        ``positions``): exactly what the model sees, so the key of a prediction cache
    inchikey : InChIKey of each graph, or ``None`` when not asked for
    failures : ``(position, reason)`` of every invalid input
    out_of_scope : ``(position, reason)`` of every valid molecule the model cannot score
    notes : per input, what standardisation changed (empty tuples where nothing or invalid)
    """

    n: int
    graphs: PackedGraphs
    positions: np.ndarray
    canonical: list[str]
    inchikey: list[str | None] | None = None
    failures: list[tuple[int, str]] = field(default_factory=list)
    out_of_scope: list[tuple[int, str]] = field(default_factory=list)
    notes: list[tuple[str, ...]] = field(default_factory=list)

    def status(self) -> list[str]:
        status = ["ok"] * self.n
        for position, reason in self.failures:
            status[position] = f"invalid: {reason}"
        for position, reason in self.out_of_scope:
            status[position] = f"out_of_scope: {reason}"
        return status


def _inchikey(mol: Chem.Mol) -> str | None:
    try:
        key = Chem.MolToInchiKey(mol)
    except Exception:  # noqa: BLE001 - InChI refuses some valid RDKit molecules
        return None
    return key or None


def prepare_molecules(
    smiles: Sequence[object],
    config: FeaturizerConfig,
    *,
    inchikey: bool = False,
) -> PreparedMolecules:
    """Parse and standardise each SMILES once; derive graph features, canonical SMILES and
    InChIKey from the standardised molecule (see :mod:`zincfluor.chem.standardize`)."""
    featurizer = _featurizer(config)
    mols, texts, positions, failures, out_of_scope = [], [], [], [], []
    notes: list[tuple[str, ...]] = [()] * len(smiles)
    for position, text in enumerate(smiles):
        try:
            molecule = standardize_smiles(text, config)
        except InvalidMoleculeError as error:
            failures.append((position, error.reason))
            continue
        notes[position] = molecule.notes
        if molecule.out_of_scope is not None:
            out_of_scope.append((position, molecule.out_of_scope))
            continue
        mols.append(molecule.mol)
        texts.append(molecule.smiles)
        positions.append(position)

    if config.backend == "zincfluor":
        graphs = featurizer.encode_many(mols, texts)
    else:  # deepchem works from SMILES one at a time and may refuse more molecules
        graphs, mols, texts, positions, failures = _deepchem_pack(featurizer, mols, texts,
                                                                  positions, failures)
    keys = [_inchikey(mol) for mol in mols] if inchikey else None
    return PreparedMolecules(
        len(smiles), graphs, np.asarray(positions, np.int64), texts, keys, failures,
        out_of_scope, notes,
    )


def _deepchem_pack(featurizer, mols, texts, positions, failures):
    packed = featurizer.pack(texts)
    kept = set(packed.positions)
    extra = [(positions[k], reason) for k, reason in packed.failures]
    mols = [mol for k, mol in enumerate(mols) if k in kept]
    texts = [text for k, text in enumerate(texts) if k in kept]
    positions = [p for k, p in enumerate(positions) if k in kept]
    return packed.graphs, mols, texts, positions, sorted(failures + extra)


_FEATURIZERS: dict = {}


def _featurizer(config: FeaturizerConfig):
    """The zincfluor backend's encoder (fed parsed molecules) or the deepchem featurizer."""
    if config not in _FEATURIZERS:
        backend = GraphEncoder(config) if config.backend == "zincfluor" else make_featurizer(config)
        _FEATURIZERS[config] = backend
    return _FEATURIZERS[config]


class _GraphBatch:
    """The concatenated batch the GCN reads (``x``, ``edge_index``, ``batch``, ``num_graphs``)."""

    def __init__(self, graphs: PackedGraphs):
        counts = torch.from_numpy(graphs.atom_counts)
        edge_counts = torch.from_numpy(graphs.edge_counts)
        self.num_graphs = len(graphs)
        starts = torch.cumsum(counts, 0) - counts
        self.x = torch.from_numpy(graphs.x)
        self.edge_index = torch.from_numpy(graphs.edge_index) + torch.repeat_interleave(
            starts, edge_counts
        )
        self.edge_attr = torch.from_numpy(graphs.edge_attr)
        self.batch = torch.repeat_interleave(torch.arange(self.num_graphs), counts)
        self.ptr = torch.cat([starts, counts.sum().reshape(1)])

    def to(self, device):
        for name in ("x", "edge_index", "edge_attr", "batch", "ptr"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def _slice_graphs(graphs: PackedGraphs, start: int, stop: int) -> PackedGraphs:
    atom_bounds = np.concatenate([[0], np.cumsum(graphs.atom_counts)])
    edge_bounds = np.concatenate([[0], np.cumsum(graphs.edge_counts)])
    a0, a1 = atom_bounds[start], atom_bounds[stop]
    e0, e1 = edge_bounds[start], edge_bounds[stop]
    return PackedGraphs(
        graphs.x[a0:a1],
        graphs.edge_index[:, e0:e1],
        graphs.edge_attr[e0:e1],
        graphs.atom_counts[start:stop],
        graphs.edge_counts[start:stop],
    )


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
        self._forward = fast_forward(self.model)
        self.batch_size = batch_size
        self.class_counts = list(checkpoint["class_counts"])

    @classmethod
    def load(cls, model: str | Path, *, device: str = "auto", batch_size: int = 256):
        """Load a run folder or checkpoint file (``torch.load(weights_only=True)``)."""
        return cls(load_checkpoint(model), device=device, batch_size=batch_size)

    @property
    def level_names(self) -> list[str]:
        return list(self.scheme.names)

    def predict(self, smiles: Sequence[str], *, inchikey: bool = False) -> PredictionBatch:
        """Probabilities for each SMILES in ``smiles`` (invalid ones flagged, not dropped).

        With ``inchikey=True`` the result also carries each valid molecule's InChIKey, computed
        from the same parsed molecule as its features and canonical SMILES.
        """
        prepared = prepare_molecules(smiles, self.featurizer_config, inchikey=inchikey)
        probs = self.predict_prepared(prepared)
        canonical: list[str | None] = [None] * prepared.n
        keys: list[str | None] | None = [None] * prepared.n if inchikey else None
        for k, position in enumerate(prepared.positions.tolist()):
            canonical[position] = prepared.canonical[k]
            if keys is not None:
                keys[position] = prepared.inchikey[k]
        return PredictionBatch(list(smiles), canonical, prepared.status(), probs, keys,
                               prepared.notes)

    def predict_prepared(self, prepared: PreparedMolecules) -> np.ndarray:
        """[n, C] probabilities of prepared molecules, NaN rows for the invalid inputs."""
        probs = np.full((prepared.n, self.scheme.num_classes), np.nan, dtype=np.float32)
        if len(prepared.positions):
            probs[prepared.positions] = self.probabilities(prepared.graphs)
        return probs

    def probabilities(self, graphs: PackedGraphs) -> np.ndarray:
        """[len(graphs), C] probabilities of packed graphs, ``batch_size`` graphs per pass."""
        out = np.empty((len(graphs), self.scheme.num_classes), np.float32)
        for start in range(0, len(graphs), self.batch_size):
            stop = min(start + self.batch_size, len(graphs))
            part = graphs if (start, stop) == (0, len(graphs)) else _slice_graphs(
                graphs, start, stop
            )
            out[start:stop] = self._probabilities(_GraphBatch(part))
        return out

    @torch.inference_mode()
    def _probabilities(self, batch) -> np.ndarray:
        logits = self._forward(batch.to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()
