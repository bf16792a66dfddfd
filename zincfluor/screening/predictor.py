"""Load a checkpoint once and turn SMILES (or RDKit molecules) into level probabilities.

Invalid molecules never stop a batch: their row gets a status saying what is wrong and NaN
probabilities, and every other row is predicted as usual.

An input is a SMILES string or an RDKit ``Chem.Mol`` (e.g. an SDF record: its own structure is
standardised, stereo as drawn, not a SMILES round trip). Each input is parsed exactly once: the
same RDKit molecule gives the graph features, the canonical SMILES and (on request) the
InChIKey. The graphs of a batch go to the network as one
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
from zincfluor.chem.molecule_features import MoleculeFeatureConfig
from zincfluor.chem.molecule_features import molecule_features as molecule_features_of
from zincfluor.chem.packing import PackedGraphs
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import standardize_input
from zincfluor.data import LabelScheme
from zincfluor.nn.distribution import mixture_quantiles
from zincfluor.screening.fastgcn import fast_forward
from zincfluor.train.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    resolve_member_paths,
)
from zincfluor.train.seeding import resolve_device

__all__ = [
    "INTERVAL_COVERAGE",
    "ModelOutputs",
    "Predictor",
    "PredictionBatch",
    "PreparedMolecules",
    "prepare_molecules",
]


@dataclass
class PredictionBatch:
    """Predictions for a list of inputs, aligned with it.

    ``status`` is "ok", "invalid: <reason>" (not a molecule) or "out_of_scope: <reason>" (a
    molecule the model cannot score: no carbon, a lone ion, an element unseen in training);
    ``probs`` is [n, C] with NaN rows where not ok; ``levels`` is -1 there. ``canonical`` is the
    canonical SMILES of the standardised molecule the model saw, ``notes`` what standardisation
    changed in each input (empty tuple when nothing). ``inchikey`` is ``None`` unless asked for,
    else one key per input (``None`` where invalid or where RDKit cannot make one).
    ``emission_nm`` [n, 3] (median, low, high of the central 80 % interval) for a model with a
    wavelength head; ``member_probs`` [K, n, C] for an ensemble (see :class:`ModelOutputs`).
    """

    smiles: list[str]
    canonical: list[str | None]
    status: list[str]
    probs: np.ndarray
    inchikey: list[str | None] | None = None
    notes: list[tuple[str, ...]] = field(default_factory=list)
    emission_nm: np.ndarray | None = None
    member_probs: np.ndarray | None = None

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
    mol_x : float32 [len(positions), d] molecule-level features of the graphs, for models that
        read them (``None`` otherwise)
    """

    n: int
    graphs: PackedGraphs
    positions: np.ndarray
    canonical: list[str]
    inchikey: list[str | None] | None = None
    failures: list[tuple[int, str]] = field(default_factory=list)
    out_of_scope: list[tuple[int, str]] = field(default_factory=list)
    notes: list[tuple[str, ...]] = field(default_factory=list)
    mol_x: np.ndarray | None = None

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


def _input_text(item: object) -> object:
    """An input as text: a SMILES as given, RDKit's SMILES of a molecule."""
    if not isinstance(item, Chem.Mol):
        return item
    try:
        return Chem.MolToSmiles(item)
    except Exception:  # noqa: BLE001 - a molecule RDKit cannot sanitise may not write
        return ""


def prepare_molecules(
    smiles: Sequence[str | Chem.Mol],
    config: FeaturizerConfig,
    *,
    inchikey: bool = False,
    molecule_features: MoleculeFeatureConfig | None = None,
) -> PreparedMolecules:
    """Parse and standardise each input (a SMILES string or an RDKit molecule) once; derive
    graph features, canonical SMILES, InChIKey and (for models that read them) molecule-level
    features from the standardised molecule (see
    :func:`zincfluor.chem.standardize.standardize_input`)."""
    featurizer = _featurizer(config)
    mols, texts, positions, failures, out_of_scope = [], [], [], [], []
    notes: list[tuple[str, ...]] = [()] * len(smiles)
    for position, text in enumerate(smiles):
        try:
            molecule = standardize_input(text, config)
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
    mol_x = None
    if molecule_features is not None and molecule_features.dim:
        mol_x = molecule_features_of(mols, molecule_features)
    return PreparedMolecules(
        len(smiles), graphs, np.asarray(positions, np.int64), texts, keys, failures,
        out_of_scope, notes, mol_x,
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

    def __init__(self, graphs: PackedGraphs, mol_x: np.ndarray | None = None):
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
        self.mol_x = torch.from_numpy(mol_x) if mol_x is not None else None

    def to(self, device):
        for name in ("x", "edge_index", "edge_attr", "batch", "ptr", "mol_x"):
            if getattr(self, name) is not None:
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


@dataclass
class ModelOutputs:
    """What the model says about a set of graphs (rows aligned with the graphs or inputs).

    ``probs`` [n, C]: level probabilities (an ensemble's mean). ``emission_nm`` [n, 3]: median,
    low and high of the central :data:`INTERVAL_COVERAGE` interval of the emission maximum in
    nm, for models with a wavelength head (``None`` otherwise). ``member_probs`` [K, n, C]:
    each member's probabilities, for an ensemble of K > 1 members (``None`` otherwise).
    """

    probs: np.ndarray
    emission_nm: np.ndarray | None = None
    member_probs: np.ndarray | None = None


INTERVAL_COVERAGE = 0.8
"""Coverage of the emission-wavelength interval that predictions report (central 80 %)."""


class _Member:
    """One trained network of a model, with its fast inference path."""

    def __init__(self, checkpoint: dict, device):
        self.model = model_from_checkpoint(checkpoint).to(device)
        self.forward = fast_forward(self.model)
        self.has_wavelength = hasattr(self.model.head, "log_nm_distribution")

    def outputs(self, batch) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """(probabilities [B, C], (mean, std) of log nm or None), from one backbone pass."""
        if not self.has_wavelength:
            return torch.softmax(self.forward(batch).float(), dim=1), None
        features = self.model.features(batch)
        logits = self.model.head(features) / self.model.temperature
        return torch.softmax(logits.float(), dim=1), self.model.head.log_nm_distribution(features)


def _same_settings(checkpoints: list[dict]) -> None:
    first = checkpoints[0]["metadata"]
    for k, checkpoint in enumerate(checkpoints[1:], start=1):
        metadata = checkpoint["metadata"]
        for key in ("featurizer", "label_scheme", "molecule_features"):
            if metadata.get(key) != first.get(key):
                raise ValueError(
                    f"ensemble member {k} has other {key} settings than member 0; an ensemble's "
                    "members must read molecules and levels the same way"
                )


class Predictor:
    """The trained model of a checkpoint (or the members of an ensemble), ready to predict.

    Parameters
    ----------
    checkpoint : a loaded checkpoint dict (see :mod:`zincfluor.train.checkpoint`), or a list of
        them: an ensemble, whose level probabilities are the mean of its members' (the mixture
        of their distributions) and whose emission interval is that of the mixture
    device : "auto", "cpu" or "cuda"
    batch_size : molecules per forward pass
    """

    def __init__(self, checkpoint: dict | list[dict], *, device: str = "auto",
                 batch_size: int = 256):
        checkpoints = checkpoint if isinstance(checkpoint, list) else [checkpoint]
        metadata = checkpoints[0]["metadata"]
        if metadata.get("kind") != "molecules":
            raise ValueError("this checkpoint is not a molecular model")
        _same_settings(checkpoints)
        self.checkpoint = checkpoints[0]
        self.scheme = LabelScheme.from_dict(metadata["label_scheme"])
        self.featurizer_config = FeaturizerConfig.from_dict(metadata["featurizer"])
        settings = metadata.get("molecule_features")
        self.molecule_features = MoleculeFeatureConfig.from_dict(settings) if settings else None
        self.device = resolve_device(device)
        self.members = [_Member(c, self.device) for c in checkpoints]
        if len({member.has_wavelength for member in self.members}) > 1:
            raise ValueError("an ensemble's members must all have a wavelength head, or none")
        self.model = self.members[0].model
        self.batch_size = batch_size
        self.class_counts = list(self.checkpoint["class_counts"])

    @classmethod
    def load(cls, model: str | Path, *, device: str = "auto", batch_size: int = 256):
        """Load a run folder, an ensemble folder or a checkpoint file
        (``torch.load(weights_only=True)``)."""
        checkpoints = [load_checkpoint(path) for path in resolve_member_paths(model)]
        return cls(checkpoints, device=device, batch_size=batch_size)

    @property
    def level_names(self) -> list[str]:
        return list(self.scheme.names)

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def predicts_wavelength(self) -> bool:
        """True when predictions carry ``emission_nm`` (the model has a wavelength head)."""
        return self.members[0].has_wavelength

    def prepare(self, smiles: Sequence[str | Chem.Mol], *,
                inchikey: bool = False) -> PreparedMolecules:
        """:func:`prepare_molecules` with this model's featurizer and molecule-feature settings."""
        return prepare_molecules(smiles, self.featurizer_config, inchikey=inchikey,
                                 molecule_features=self.molecule_features)

    def predict(self, smiles: Sequence[str | Chem.Mol], *,
                inchikey: bool = False) -> PredictionBatch:
        """Probabilities for each input in ``smiles``, a SMILES string or an RDKit molecule
        (invalid ones flagged, not dropped). The batch's ``smiles`` holds the SMILES as given,
        and RDKit's SMILES of each molecule given.

        With ``inchikey=True`` the result also carries each valid molecule's InChIKey, computed
        from the same parsed molecule as its features and canonical SMILES.
        """
        prepared = self.prepare(smiles, inchikey=inchikey)
        outputs = self.predict_prepared(prepared)
        canonical: list[str | None] = [None] * prepared.n
        keys: list[str | None] | None = [None] * prepared.n if inchikey else None
        for k, position in enumerate(prepared.positions.tolist()):
            canonical[position] = prepared.canonical[k]
            if keys is not None:
                keys[position] = prepared.inchikey[k]
        texts = [_input_text(item) for item in smiles]
        return PredictionBatch(texts, canonical, prepared.status(), outputs.probs, keys,
                               prepared.notes, outputs.emission_nm, outputs.member_probs)

    def predict_prepared(self, prepared: PreparedMolecules) -> ModelOutputs:
        """Outputs aligned with the inputs of ``prepared``: NaN rows where not scored."""
        n, positions = prepared.n, prepared.positions
        probs = np.full((n, self.scheme.num_classes), np.nan, dtype=np.float32)
        nm = np.full((n, 3), np.nan, dtype=np.float32) if self.predicts_wavelength else None
        members = None
        if self.n_members > 1:
            members = np.full((self.n_members, n, self.scheme.num_classes), np.nan, np.float32)
        if len(positions):
            outputs = self.outputs(prepared.graphs, prepared.mol_x)
            probs[positions] = outputs.probs
            if nm is not None:
                nm[positions] = outputs.emission_nm
            if members is not None:
                members[:, positions] = outputs.member_probs
        return ModelOutputs(probs, nm, members)

    def probabilities(self, graphs: PackedGraphs, mol_x: np.ndarray | None = None) -> np.ndarray:
        """[len(graphs), C] probabilities of packed graphs, ``batch_size`` graphs per pass."""
        return self.outputs(graphs, mol_x).probs

    def outputs(self, graphs: PackedGraphs, mol_x: np.ndarray | None = None) -> ModelOutputs:
        """:class:`ModelOutputs` of packed graphs, ``batch_size`` graphs per pass."""
        n, k, c = len(graphs), self.n_members, self.scheme.num_classes
        members = np.empty((k, n, c), np.float32)
        nm = np.empty((n, 3), np.float32) if self.predicts_wavelength else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            part = graphs if (start, stop) == (0, n) else _slice_graphs(graphs, start, stop)
            part_x = mol_x[start:stop] if mol_x is not None else None
            member_probs, interval = self._batch_outputs(_GraphBatch(part, part_x))
            members[:, start:stop] = member_probs
            if nm is not None:
                nm[start:stop] = interval
        return ModelOutputs(members.mean(axis=0), nm, members if k > 1 else None)

    @torch.inference_mode()
    def _batch_outputs(self, batch) -> tuple[np.ndarray, np.ndarray | None]:
        batch = batch.to(self.device)
        probs, means, stds = [], [], []
        for member in self.members:
            p, distribution = member.outputs(batch)
            probs.append(p)
            if distribution is not None:
                means.append(distribution[0])
                stds.append(distribution[1])
        member_probs = torch.stack(probs).cpu().numpy()
        if not means:
            return member_probs, None
        tail = (1 - INTERVAL_COVERAGE) / 2
        log_nm = mixture_quantiles(torch.stack(means), torch.stack(stds),
                                   (0.5, tail, 1 - tail))
        return member_probs, torch.exp(log_nm).t().float().cpu().numpy()
