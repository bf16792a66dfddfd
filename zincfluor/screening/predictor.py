"""Load a checkpoint once and turn SMILES (or RDKit molecules) into level probabilities.

Invalid molecules never stop a batch: their row gets a status saying what is wrong and NaN
probabilities, and every other row is predicted as usual.

An input is a SMILES string or an RDKit ``Chem.Mol`` (e.g. an SDF record: its own structure is
standardised, stereo as drawn, not a SMILES round trip). Each input is parsed exactly once: the
same RDKit molecule gives the graph features, the canonical SMILES and (on request) the
InChIKey. The graphs of a batch go to the network as one
concatenated batch built straight from the packed feature arrays (no per-molecule ``Data``).

**Trust.** A model folder with trust files (``trust/``, :mod:`zincfluor.trust.store`, written by
``zincfluor model trust``) gives every prediction four more fields (:class:`TrustFields`): the
90 % Mondrian conformal prediction set over the levels, the conformalised 90 % emission
interval (wavelength models), the Tanimoto similarity to the nearest training molecule and the
``in_domain`` flag. The query fingerprint is made from the same standardised molecule as the
graph (in :func:`prepare_molecules`, so in ``screen``'s worker processes too) and only the top-1
similarity is searched, one vectorised call per batch.

**Solvents.** A model folder with a solvent-aware model in ``solvent/``
(:mod:`zincfluor.screening.solvent_model`) answers inputs given with a solvent
(``predict(smiles, solvents=...)``) from that model: its levels, probabilities (the Gaussian
head's bin masses), rare score, ``emission_nm`` and interval; inputs without a solvent get the
folder model's answer, unchanged. Such rows have no ``rare_score_std`` (the spread is the
folder ensemble's), and their trust fields keep ``nearest_similarity`` and ``in_domain`` (about
the molecule) but not the conformal calibration, made for the folder's model: the prediction set
holds only the predicted level and there is no 90 % interval. A solvent given to a folder
without a solvent-aware model is an error (:data:`~zincfluor.screening.solvent_model.
NO_SOLVENT_MODEL`), never ignored.
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
from zincfluor.screening.fastgcn import fast_features, fast_forward
from zincfluor.screening.solvent_model import (
    NO_SOLVENT_MODEL,
    SolventFields,
    SolventModel,
    resolve_row_solvents,
)
from zincfluor.train.checkpoint import (
    WAVELENGTH_FOLDER,
    load_checkpoint,
    model_from_checkpoint,
    resolve_companion_paths,
    resolve_member_paths,
    resolve_solvent_model_paths,
)
from zincfluor.train.seeding import resolve_device
from zincfluor.trust.fingerprints import FingerprintSettings, mol_for_fingerprint
from zincfluor.trust.fingerprints import morgan_fingerprints as morgan_fingerprints_of
from zincfluor.trust.store import TrustFiles, load_trust

__all__ = [
    "INTERVAL_COVERAGE",
    "WAVELENGTH_FOLDER",
    "TRUST_ALPHA",
    "ModelOutputs",
    "TrustFields",
    "Predictor",
    "PredictionBatch",
    "PreparedMolecules",
    "StandardizedMolecules",
    "prepare_molecules",
    "standardize_molecules",
    "featurize_molecules",
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
    ``trust``: the :class:`TrustFields` of each input, for a model with trust files.
    ``solvent``: the :class:`~zincfluor.screening.solvent_model.SolventFields` of each input,
    for a model folder with a solvent-aware model (``None`` otherwise).
    """

    smiles: list[str]
    canonical: list[str | None]
    status: list[str]
    probs: np.ndarray
    inchikey: list[str | None] | None = None
    notes: list[tuple[str, ...]] = field(default_factory=list)
    emission_nm: np.ndarray | None = None
    member_probs: np.ndarray | None = None
    trust: TrustFields | None = None
    solvent: SolventFields | None = None

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
    fingerprints : uint64 [len(positions), words] packed Morgan fingerprints of the graphs'
        molecules, when asked for (a model with trust files; ``None`` otherwise)
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
    fingerprints: np.ndarray | None = None

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


@dataclass
class StandardizedMolecules:
    """The first half of :func:`prepare_molecules`: each input parsed and standardised once.

    ``mols``/``canonical``/``positions`` are aligned: the standardised molecule, its canonical
    SMILES (the model's input) and its input position, for every valid in-scope input;
    ``failures``, ``out_of_scope`` and ``notes`` as in :class:`PreparedMolecules`.
    """

    n: int
    mols: list[Chem.Mol]
    canonical: list[str]
    positions: list[int]
    failures: list[tuple[int, str]]
    out_of_scope: list[tuple[int, str]]
    notes: list[tuple[str, ...]]

    def subset(self, rows: Sequence[int]) -> StandardizedMolecules:
        """The molecules at ``rows`` (indices into ``mols``) alone, same ``n`` and notes, no
        failures: what :func:`featurize_molecules` needs for only some of them."""
        return StandardizedMolecules(self.n, [self.mols[k] for k in rows],
                                     [self.canonical[k] for k in rows],
                                     [self.positions[k] for k in rows], [], [], self.notes)


def standardize_molecules(smiles: Sequence[str | Chem.Mol],
                          config: FeaturizerConfig) -> StandardizedMolecules:
    """Parse and standardise each input (a SMILES string or an RDKit molecule) once
    (:func:`zincfluor.chem.standardize.standardize_input`); no features yet."""
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
    return StandardizedMolecules(len(smiles), mols, texts, positions, failures, out_of_scope,
                                 notes)


def featurize_molecules(
    standardized: StandardizedMolecules,
    config: FeaturizerConfig,
    *,
    inchikey: bool = False,
    molecule_features: MoleculeFeatureConfig | None = None,
    fingerprint: FingerprintSettings | None = None,
) -> PreparedMolecules:
    """The second half of :func:`prepare_molecules`: graph features, (on request) InChIKeys,
    molecule-level features and packed Morgan fingerprints of standardised molecules."""
    featurizer = _featurizer(config)
    mols, texts = standardized.mols, standardized.canonical
    positions, failures = standardized.positions, standardized.failures
    if config.backend == "zincfluor":
        graphs = featurizer.encode_many(mols, texts)
    else:  # deepchem works from SMILES one at a time and may refuse more molecules
        graphs, mols, texts, positions, failures = _deepchem_pack(featurizer, mols, texts,
                                                                  positions, failures)
    keys = [_inchikey(mol) for mol in mols] if inchikey else None
    mol_x = None
    if molecule_features is not None and molecule_features.dim:
        mol_x = molecule_features_of(mols, molecule_features)
    fingerprints = None
    if fingerprint is not None:
        # the standardised molecule itself: the same bits as its canonical SMILES read back
        # (how the reference set and stored predictions are fingerprinted; tested), no re-parse
        fingerprints = morgan_fingerprints_of(mols, fingerprint)
    return PreparedMolecules(
        standardized.n, graphs, np.asarray(positions, np.int64), texts, keys, failures,
        standardized.out_of_scope, standardized.notes, mol_x, fingerprints,
    )


def prepare_molecules(
    smiles: Sequence[str | Chem.Mol],
    config: FeaturizerConfig,
    *,
    inchikey: bool = False,
    molecule_features: MoleculeFeatureConfig | None = None,
    fingerprint: FingerprintSettings | None = None,
) -> PreparedMolecules:
    """Parse and standardise each input (a SMILES string or an RDKit molecule) once; derive
    graph features, canonical SMILES, InChIKey, (for models that read them) molecule-level
    features and (with ``fingerprint`` settings) packed Morgan fingerprints from the
    standardised molecule (see :func:`zincfluor.chem.standardize.standardize_input`):
    :func:`standardize_molecules` then :func:`featurize_molecules`."""
    return featurize_molecules(standardize_molecules(smiles, config), config,
                               inchikey=inchikey, molecule_features=molecule_features,
                               fingerprint=fingerprint)


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

TRUST_ALPHA = 0.1
"""Miscoverage of the prediction sets and intervals that records carry: 90 % coverage."""


@dataclass
class TrustFields:
    """The trust fields of n predictions (rows aligned with the inputs).

    ``prediction_set`` bool [n, C]: the levels of the 90 % class-conditional conformal set,
    always with the predicted level in it (adding it can only raise the coverage; empty rows
    where not scored; only the predicted level where the folder has no conformal calibration);
    ``emission_interval`` float [n, 2] (low, high nm) of the conformalised 90 % interval, for a
    wavelength model with a calibrated interval (``None`` otherwise); ``nearest_similarity``
    float [n]: Tanimoto similarity to the nearest training molecule (NaN where not scored);
    ``in_domain`` bool [n]: ``nearest_similarity`` >= the stored domain threshold; ``scored``
    bool [n]: which rows have fields at all.
    """

    prediction_set: np.ndarray
    emission_interval: np.ndarray | None
    nearest_similarity: np.ndarray
    in_domain: np.ndarray
    scored: np.ndarray

    def values(self, i: int, level_names: Sequence[str]):
        """Row ``i`` as the record's :class:`~zincfluor.screening.record.TrustValues`
        (``None`` where not scored)."""
        from zincfluor.screening.record import TrustValues

        if not self.scored[i]:
            return None
        interval = None
        if self.emission_interval is not None and not np.isnan(self.emission_interval[i]).any():
            interval = (float(self.emission_interval[i, 0]), float(self.emission_interval[i, 1]))
        similarity = float(self.nearest_similarity[i])
        return TrustValues(
            prediction_set=tuple(name for name, inside in
                                 zip(level_names, self.prediction_set[i], strict=True) if inside),
            emission_interval=interval,
            nearest_similarity=None if similarity != similarity else similarity,
            in_domain=bool(self.in_domain[i]),
        )


class _Member:
    """One trained network of a model, with its fast inference path."""

    def __init__(self, checkpoint: dict, device):
        self.model = model_from_checkpoint(checkpoint).to(device)
        self.forward = fast_forward(self.model)
        self.has_wavelength = hasattr(self.model.head, "log_nm_distribution")
        self.features = fast_features(self.model) if self.has_wavelength else None

    def outputs(self, batch) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """(probabilities [B, C], (mean, std) of log nm or None), from one backbone pass."""
        if not self.has_wavelength:
            return torch.softmax(self.forward(batch).float(), dim=1), None
        features = self.features(batch)
        logits = self.model.head(features) / self.model.temperature
        return torch.softmax(logits.float(), dim=1), self.model.head.log_nm_distribution(features)


def _same_settings(checkpoints: list[dict], *, companion: bool = False) -> None:
    first = checkpoints[0]["metadata"]
    for k, checkpoint in enumerate(checkpoints[1:], start=1):
        metadata = checkpoint["metadata"]
        for key in ("featurizer", "label_scheme", "molecule_features"):
            if metadata.get(key) == first.get(key):
                continue
            if companion:
                raise ValueError(
                    f"the wavelength companion has other {key} settings than the model; it "
                    "must read molecules and levels the same way"
                )
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
    wavelength : checkpoints of a *wavelength companion* (bench/rare.py's rule 5): a model with a
        wavelength head that supplies ``emission_nm`` and its interval for a model that has
        none, while the levels, probabilities and rare score stay this model's. It must read
        molecules the same way (featurizer, levels, molecule features), so one preparation
        serves both. A model folder keeps it in ``wavelength/`` (:data:`WAVELENGTH_FOLDER`).
    solvent : checkpoints of a solvent-aware model (``solvent/``,
        :class:`~zincfluor.screening.solvent_model.SolventModel`) that answers inputs given
        with a solvent (see the module docstring); it must predict this model's levels.
    """

    def __init__(self, checkpoint: dict | list[dict], *, device: str = "auto",
                 batch_size: int = 256, wavelength: list[dict] | None = None,
                 solvent: list[dict] | None = None):
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
        self.wavelength_members = [_Member(c, self.device) for c in wavelength or []]
        if self.wavelength_members:
            if self.members[0].has_wavelength:
                raise ValueError("this model predicts the wavelength itself; a wavelength "
                                 "companion would contradict it")
            if not all(member.has_wavelength for member in self.wavelength_members):
                raise ValueError("a wavelength companion needs a wavelength head (zincfluor "
                                 "train --head gaussian --target emission_nm)")
            _same_settings(checkpoints[:1] + list(wavelength), companion=True)
        self.model = self.members[0].model
        self.batch_size = batch_size
        self.class_counts = list(self.checkpoint["class_counts"])
        self.trust: TrustFiles | None = None
        self.solvent_model: SolventModel | None = None
        if solvent:
            self.solvent_model = SolventModel(solvent, device=self.device, batch_size=batch_size)
            self.solvent_model.check_compatible(self.level_names, self.featurizer_config,
                                                self.molecule_features)

    @classmethod
    def load(cls, model: str | Path, *, device: str = "auto", batch_size: int = 256,
             trust: bool = True):
        """Load a run folder, an ensemble folder or a checkpoint file
        (``torch.load(weights_only=True)``), with the folder's trust files when it has them
        (``trust=False``: never)."""
        checkpoints = [load_checkpoint(path) for path in resolve_member_paths(model)]
        wavelength = [load_checkpoint(path) for path in resolve_companion_paths(model)] or None
        solvent = [load_checkpoint(path) for path in resolve_solvent_model_paths(model)] or None
        predictor = cls(checkpoints, device=device, batch_size=batch_size, wavelength=wavelength,
                        solvent=solvent)
        if trust:
            predictor.use_trust(load_trust(model))
        return predictor

    def use_trust(self, trust: TrustFiles | None) -> None:
        """Attach trust files (:func:`zincfluor.trust.store.load_trust`); ``None`` or files
        with no part detach them. Raises ``ValueError`` when their levels are not this
        model's."""
        parts = (None if trust is None else
                 (trust.levels, trust.interval, trust.domain, trust.reference_set))
        if parts is None or all(part is None for part in parts):
            self.trust = None
            return
        for part in (trust.levels, trust.reference_set):
            if part is not None and list(part.level_names) != self.level_names:
                raise ValueError(
                    f"the trust files are for levels {', '.join(part.level_names)}, this model "
                    f"predicts {', '.join(self.level_names)}; rebuild them with `zincfluor "
                    "model trust MODEL`"
                )
        self.trust = trust

    @property
    def has_trust(self) -> bool:
        """True when predictions carry the trust fields (the folder had trust files)."""
        return self.trust is not None

    @property
    def trust_fingerprint(self) -> FingerprintSettings | None:
        """The fingerprint settings queries are fingerprinted with (``None``: no search)."""
        if self.trust is None or self.trust.reference_set is None:
            return None
        return self.trust.reference_set.fingerprint

    def trust_fields(self, probs: np.ndarray, emission_nm: np.ndarray | None,
                     fingerprints: np.ndarray | None,
                     positions: np.ndarray | None = None,
                     uncalibrated: np.ndarray | None = None,
                     similarity: np.ndarray | None = None) -> TrustFields:
        """:class:`TrustFields` of n predictions.

        ``probs`` [n, C] (NaN rows: not scored); ``emission_nm`` [n, 3] or ``None``;
        ``fingerprints`` [m, words] of the scored rows at ``positions`` (default: every row),
        as :func:`prepare_molecules` makes them. Only the nearest training molecule is looked
        up (:meth:`~zincfluor.trust.neighbours.ReferenceSet.index`). ``uncalibrated``: bool [n],
        rows answered by the solvent-aware model, which the conformal calibration is not for
        (their set is the predicted level alone, and they have no 90 % interval).
        ``similarity``: float32 [n] nearest similarities already known (e.g. kept by canonical
        SMILES, :meth:`nearest_similarity`), used instead of searching ``fingerprints``.
        """
        if self.trust is None:
            raise ValueError("this model folder has no trust files; build them with "
                             "`zincfluor model trust MODEL`")
        trust = self.trust
        probs = np.asarray(probs)
        n = len(probs)
        scored = ~np.isnan(probs).any(axis=1)
        sets = np.zeros((n, len(self.level_names)), dtype=bool)
        if trust.levels is not None:
            sets = trust.levels.prediction_sets(probs, TRUST_ALPHA) & scored[:, None]
        if uncalibrated is not None:
            sets[np.asarray(uncalibrated, bool)] = False
        # the predicted level always belongs: a superset keeps the coverage guarantee
        rows = np.flatnonzero(scored)
        sets[rows, probs[rows].argmax(axis=1)] = True
        interval = None
        if trust.interval is not None and emission_nm is not None:
            low, high = trust.interval.interval(emission_nm[:, 1], emission_nm[:, 2],
                                                TRUST_ALPHA)
            interval = np.stack([low, high], axis=1)
            if uncalibrated is not None:
                interval[np.asarray(uncalibrated, bool)] = np.nan
        if similarity is not None:
            similarity = np.array(similarity, dtype=np.float32)
            similarity[~scored] = np.nan
        else:
            similarity = np.full(n, np.nan, dtype=np.float32)
            if trust.reference_set is not None and fingerprints is not None and len(fingerprints):
                rows = np.arange(n) if positions is None else np.asarray(positions)
                similarity[rows] = trust.reference_set.index.similarity(fingerprints).max(axis=1)
                similarity[~scored] = np.nan
        in_domain = np.zeros(n, dtype=bool)
        if trust.domain is not None:
            in_domain = trust.domain.in_domain(similarity)
        return TrustFields(sets, interval, similarity, in_domain, scored)

    def nearest_similarity(self, canonical: Sequence[str]) -> np.ndarray:
        """float32 [len(canonical)]: the Tanimoto similarity of each canonical SMILES's
        molecule to its nearest training molecule, fingerprinted as
        :meth:`trust_fields_of_smiles` does (NaN without a reference set). Each value depends
        on its SMILES alone, so a caller may keep it."""
        settings = self.trust_fingerprint
        if settings is None or not canonical:
            return np.full(len(canonical), np.nan, dtype=np.float32)
        fingerprints = morgan_fingerprints_of([mol_for_fingerprint(text) for text in canonical],
                                              settings)
        return self.trust.reference_set.index.similarity(fingerprints).max(axis=1)

    def trust_fields_of_smiles(self, probs: np.ndarray, emission_nm: np.ndarray | None,
                               canonical: Sequence[str | None],
                               uncalibrated: np.ndarray | None = None) -> TrustFields:
        """:meth:`trust_fields` from the canonical SMILES of each prediction (``None`` where
        not scored), as a store of predictions keeps them."""
        settings = self.trust_fingerprint
        rows = [i for i, text in enumerate(canonical) if text]
        fingerprints = None
        if settings is not None and rows:
            fingerprints = morgan_fingerprints_of(
                [mol_for_fingerprint(canonical[i]) for i in rows], settings)
        return self.trust_fields(probs, emission_nm, fingerprints, np.asarray(rows, np.int64),
                                 uncalibrated)

    @property
    def level_names(self) -> list[str]:
        return list(self.scheme.names)

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def predicts_wavelength(self) -> bool:
        """True when predictions carry ``emission_nm`` (the model has a wavelength head, or a
        wavelength companion)."""
        return self.members[0].has_wavelength or bool(self.wavelength_members)

    @property
    def records_wavelength(self) -> bool:
        """True when records have the emission fields: :attr:`predicts_wavelength`, or a
        solvent-aware model answers the rows given with a solvent (the others' fields are
        empty when the folder's model has no wavelength)."""
        return self.predicts_wavelength or self.solvent_model is not None

    @property
    def has_solvent_model(self) -> bool:
        """True when the folder has a solvent-aware model: inputs may come with a solvent and
        records carry ``solvent`` and ``solvent_seen``."""
        return self.solvent_model is not None

    def apply_solvents(self, prepared: PreparedMolecules, outputs: ModelOutputs,
                       solvents: Sequence[str | None] | None,
                       ) -> tuple[ModelOutputs, SolventFields | None, dict[int, str]]:
        """``outputs`` with the rows that have a solvent answered by the solvent-aware model.

        ``solvents``: per input of ``prepared``, a canonical solvent SMILES or ``None``
        (:func:`~zincfluor.screening.solvent_model.resolve_row_solvents`), or ``None`` for no
        solvent at all. Returns the outputs (new arrays where changed), the rows'
        :class:`~zincfluor.screening.solvent_model.SolventFields` (``None`` without a
        solvent-aware model) and ``{position: status}`` for rows the solvent model cannot
        score (``out_of_scope: ...``). Raises ``ValueError`` for a solvent given to a model
        without a solvent-aware model.
        """
        n = prepared.n
        if solvents is not None and len(solvents) != n:
            raise ValueError(f"{len(solvents)} solvents for {n} molecules; give one solvent "
                             "(or None) per molecule")
        given = solvents is not None and any(s is not None for s in solvents)
        if self.solvent_model is None:
            if given:
                raise ValueError(NO_SOLVENT_MODEL)
            return outputs, None, {}
        if not given:
            return outputs, SolventFields.empty(n), {}
        model = self.solvent_model
        fields = model.fields(solvents)
        chosen, rows, changed = [], [], {}
        for k, position in enumerate(prepared.positions.tolist()):
            if solvents[position] is None:
                continue
            reason = model.out_of_scope(prepared.canonical[k])
            if reason is not None:
                changed[position] = f"out_of_scope: {reason}"
                continue
            chosen.append(k)
            rows.append(position)
        probs = outputs.probs.copy()
        nm = (outputs.emission_nm.copy() if outputs.emission_nm is not None
              else np.full((n, 3), np.nan, np.float32))
        members = None if outputs.member_probs is None else outputs.member_probs.copy()
        dropped = list(changed) + rows
        probs[list(changed)] = np.nan
        nm[dropped] = np.nan
        if members is not None:
            members[:, dropped] = np.nan  # the spread is the folder ensemble's
        if chosen:
            probs[rows], nm[rows] = model.outputs(
                prepared.graphs, prepared.mol_x, chosen, [solvents[p] for p in rows],
                INTERVAL_COVERAGE)
        return ModelOutputs(probs, nm, members), fields, changed

    def prepare(self, smiles: Sequence[str | Chem.Mol], *,
                inchikey: bool = False) -> PreparedMolecules:
        """:func:`prepare_molecules` with this model's featurizer and molecule-feature settings."""
        return prepare_molecules(smiles, self.featurizer_config, inchikey=inchikey,
                                 molecule_features=self.molecule_features,
                                 fingerprint=self.trust_fingerprint)

    def predict(self, smiles: Sequence[str | Chem.Mol], *, inchikey: bool = False,
                solvents: Sequence[str | None] | None = None) -> PredictionBatch:
        """Probabilities for each input in ``smiles``, a SMILES string or an RDKit molecule
        (invalid ones flagged, not dropped). The batch's ``smiles`` holds the SMILES as given,
        and RDKit's SMILES of each molecule given.

        With ``inchikey=True`` the result also carries each valid molecule's InChIKey, computed
        from the same parsed molecule as its features and canonical SMILES. ``solvents``: one
        solvent per input (a name or SMILES; ``None`` or empty: no solvent), answered by the
        folder's solvent-aware model (module docstring); ``ValueError`` for an unknown solvent
        or a folder without a solvent-aware model.
        """
        resolved = None if solvents is None else resolve_row_solvents(
            solvents, rows=range(1, len(solvents) + 1))
        prepared = self.prepare(smiles, inchikey=inchikey)
        outputs, solvent, changed = self.apply_solvents(prepared, self.predict_prepared(prepared),
                                                        resolved)
        status = prepared.status()
        for position, text in changed.items():
            status[position] = text
        canonical: list[str | None] = [None] * prepared.n
        keys: list[str | None] | None = [None] * prepared.n if inchikey else None
        for k, position in enumerate(prepared.positions.tolist()):
            canonical[position] = prepared.canonical[k]
            if keys is not None:
                keys[position] = prepared.inchikey[k]
        texts = [_input_text(item) for item in smiles]
        trust = None
        if self.has_trust:
            trust = self.trust_fields(outputs.probs, outputs.emission_nm, prepared.fingerprints,
                                      prepared.positions, _solvent_rows(solvent))
        return PredictionBatch(texts, canonical, status, outputs.probs, keys,
                               prepared.notes, outputs.emission_nm, outputs.member_probs, trust,
                               solvent)

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
        for member in self.wavelength_members:  # a companion's levels are not used
            distribution = member.outputs(batch)[1]
            means.append(distribution[0])
            stds.append(distribution[1])
        member_probs = torch.stack(probs).cpu().numpy()
        if not means:
            return member_probs, None
        tail = (1 - INTERVAL_COVERAGE) / 2
        log_nm = mixture_quantiles(torch.stack(means), torch.stack(stds),
                                   (0.5, tail, 1 - tail))
        return member_probs, torch.exp(log_nm).t().float().cpu().numpy()


def _solvent_rows(solvent: SolventFields | None) -> np.ndarray | None:
    """bool [n]: rows with a solvent (answered by the solvent-aware model), or ``None``."""
    if solvent is None:
        return None
    return np.array([smiles is not None for smiles in solvent.smiles], dtype=bool)
