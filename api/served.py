"""The served model and the prediction pipeline shared by ``/v1/predictions`` and workers.

Each SMILES is parsed and standardised once (RDKit): that gives the canonical SMILES of the
standardised structure (exactly what the model reads, and so the key of stored predictions).
Structures for which the caller has already obtained this model's prediction are answered from
the database, at no further cost; only the others get their InChIKey and graph (from the same
standardised molecule), go through the network (under a lock, so one model can serve many
threads) and are stored, once, for everyone. See api/README.md for why
a key is not answered from predictions other keys obtained.

A model folder with a solvent-aware model answers SMILES given with a solvent from it
(:meth:`ServedModel.in_solvent`); those answers are computed on each request and not stored,
since stored predictions are keyed by structure alone.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from api import store
from api.settings import Settings
from api.similarity import NearestSimilarities

__all__ = ["ServedModel", "Identified", "Outcome"]

INCHIKEY_ERROR = "RDKit could not make an InChIKey for this molecule"


@dataclass
class Identified:
    """What RDKit makes of a list of SMILES: per input a structure or an error.

    ``keys[i]`` is the canonical SMILES of input ``i``'s standardised structure, the model's
    input and the key of stored predictions (``None`` when invalid or out of scope, with
    ``errors[i]`` set and ``statuses[i]`` saying which); ``structures[key]`` is the index of
    its first standardised molecule in ``standardized``; ``notes[i]``: what standardisation
    changed in input ``i``. Graphs and InChIKeys are made later, by
    :meth:`ServedModel.predict_new`, for the structures not stored yet only.
    """

    keys: list[str | None]
    errors: list[str | None]
    structures: dict[str, int]
    standardized: object
    statuses: list[str]
    notes: list[tuple[str, ...]]

    def invalidate(self, position: int, reason: str) -> None:
        """Input ``position`` is invalid after all (e.g. no InChIKey for its molecule)."""
        self.keys[position], self.errors[position] = None, reason
        self.statuses[position] = "invalid"


@dataclass(frozen=True)
class Outcome:
    """The answer for one input: a stored prediction, or why there is none (``status``:
    ``ok``, ``invalid`` or ``out_of_scope``), and what standardisation changed in it."""

    prediction: store.StoredPrediction | None
    error: str | None
    status: str = "ok"
    notes: tuple[str, ...] = ()


def _card_dict(card) -> dict | None:
    if card is None:
        return None
    if hasattr(card, "to_dict"):
        return _jsonable(card.to_dict())
    return _jsonable(dataclasses.asdict(card))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def _load_card(model_dir: Path):
    from zincfluor.screening.card import load_model_card

    return load_model_card(model_dir if model_dir.is_dir() else model_dir.parent)


class ServedModel:
    """A loaded :class:`~zincfluor.screening.Predictor` with its identity and rare levels.

    Parameters
    ----------
    predictor : the loaded predictor
    name : display name (the card's, else the model folder's)
    checkpoint_sha256 : content hash of the checkpoint (part of the model's identity)
    target_indices : indices of the rare levels the rare score adds up
    card : the model card as a dict, if the folder has one
    max_smiles_length, max_heavy_atoms : service limits (at most the model's own)
    """

    def __init__(
        self,
        predictor,
        *,
        name: str,
        checkpoint_sha256: str,
        target_indices: Sequence[int],
        card: dict | None = None,
        max_smiles_length: int | None = None,
        max_heavy_atoms: int | None = None,
    ):
        self.predictor = predictor
        self.name = name
        self.checkpoint_sha256 = checkpoint_sha256
        self.target_indices = list(target_indices)
        self.card = card
        config = predictor.featurizer_config
        self.featurizer_config = dataclasses.replace(
            config,
            max_smiles_length=min(config.max_smiles_length, max_smiles_length or 10**9),
            max_heavy_atoms=min(config.max_heavy_atoms, max_heavy_atoms or 10**9),
        )
        self.model_id: int | None = None
        self.similarities = (NearestSimilarities(predictor)
                             if getattr(predictor, "has_trust", False) else None)
        self._lock = threading.Lock()
        self.molecules_predicted = 0
        self.forward_calls = 0

    @classmethod
    def load(cls, settings: Settings, predictor=None) -> ServedModel:
        """Load the model folder of ``settings`` (its checkpoint with ``weights_only=True``).

        ``predictor``: that folder's predictor, already loaded (skips loading it again).
        """
        from zincfluor.screening import Predictor
        from zincfluor.screening.card import model_sha256
        from zincfluor.screening.rare import resolve_target_levels
        from zincfluor.train.checkpoint import model_checkpoint_paths

        model_dir = Path(settings.model_path)
        members = model_checkpoint_paths(model_dir)  # identity: every member and the companion
        if predictor is None:
            predictor = Predictor.load(model_dir, device=settings.device,
                                       batch_size=settings.batch_size)
        card = _load_card(model_dir)
        card_levels = getattr(card, "target_levels", None) if card is not None else None
        target = resolve_target_levels(
            predictor.level_names, predictor.class_counts,
            list(settings.target_levels) or None, card_levels,
        )
        folder = model_dir if model_dir.is_dir() else model_dir.parent
        return cls(
            predictor,
            name=getattr(card, "name", None) or folder.name,
            checkpoint_sha256=model_sha256(members),
            target_indices=target,
            card=_card_dict(card),
            max_smiles_length=settings.max_smiles_length,
            max_heavy_atoms=settings.max_heavy_atoms,
        )

    # --- identity -----------------------------------------------------------------------------

    @property
    def level_names(self) -> list[str]:
        return self.predictor.level_names

    @property
    def target_levels(self) -> list[str]:
        return [self.level_names[i] for i in self.target_indices]

    @property
    def key(self) -> str:
        """Checkpoint hash plus rare levels: a stored rare score depends on both."""
        return f"{self.checkpoint_sha256}:{','.join(self.target_levels)}"

    def register(self, session) -> int:
        """Find or create this model's row; remembers and returns its id."""
        row = store.register_model(
            session, key=self.key, name=self.name, checkpoint_sha256=self.checkpoint_sha256,
            level_names=self.level_names, target_levels=self.target_levels, card=self.card,
            predicts_wavelength=self.predicts_wavelength, members=self.members,
        )
        self.model_id = row.id
        return row.id

    def describe(self) -> dict:
        """What ``GET /v1/models`` shows of this model."""
        checkpoint = self.predictor.checkpoint
        return {
            "id": self.model_id,
            "name": self.name,
            "checkpoint_sha256": self.checkpoint_sha256,
            "levels": self.level_names,
            "target_levels": self.target_levels,
            "class_counts": list(self.predictor.class_counts),
            "method": checkpoint.get("method", {}).get("name"),
            "created": checkpoint.get("created"),
            "versions": checkpoint.get("versions", {}),
            "card": self.card,
        }

    # --- pipeline -----------------------------------------------------------------------------

    def identify(self, smiles: Sequence[str]) -> Identified:
        """Parse and standardise every SMILES once: its structure key, or the reason why not.

        Nothing else is computed here: a structure the caller has stored already costs no
        graph, InChIKey or fingerprint (:meth:`predict_new` makes those for the others)."""
        from zincfluor.screening.predictor import standardize_molecules

        standardized = standardize_molecules(list(smiles), self.featurizer_config)
        keys: list[str | None] = [None] * standardized.n
        errors: list[str | None] = [None] * standardized.n
        statuses = ["ok"] * standardized.n
        for status, failures in (("invalid", standardized.failures),
                                 ("out_of_scope", standardized.out_of_scope)):
            for position, reason in failures:
                errors[position], statuses[position] = reason, status
        structures: dict[str, int] = {}
        for k, (key, position) in enumerate(zip(standardized.canonical, standardized.positions,
                                                strict=True)):
            keys[position] = key
            structures.setdefault(key, k)
        notes = list(standardized.notes) or [()] * standardized.n
        return Identified(keys, errors, structures, standardized, statuses, notes)

    def predict_new(
        self, identified: Identified, known: dict[str, store.StoredPrediction]
    ) -> list[store.NewPrediction]:
        """Predict the structures of ``identified`` missing from ``known`` (each once).

        Their molecules are featurised here, with their InChIKeys: an input whose molecule has
        none (or that the featuriser refuses) is marked invalid in ``identified``, and the
        first of a structure's inputs that has one gives its graph and InChIKey.
        """
        from zincfluor.screening.predictor import featurize_molecules
        from zincfluor.screening.rare import rare_scores

        standardized = identified.standardized
        rows = [k for k, key in enumerate(standardized.canonical) if key not in known]
        if not rows:
            return []
        prepared = featurize_molecules(standardized.subset(rows), self.featurizer_config,
                                       inchikey=True,
                                       molecule_features=self.predictor.molecule_features)
        for position, reason in prepared.failures:  # refused by the (deepchem) featuriser
            identified.invalidate(position, reason)
        graph_of: dict[str, int] = {}
        inchikey: dict[str, str] = {}
        for g, position in enumerate(prepared.positions.tolist()):
            if not prepared.inchikey[g]:
                identified.invalidate(position, INCHIKEY_ERROR)
                continue
            key = prepared.canonical[g]
            if key not in graph_of:
                graph_of[key], inchikey[key] = g, prepared.inchikey[g]
        missing = list(graph_of)
        if not missing:
            return []
        graph_rows = [graph_of[key] for key in missing]
        graphs = _take(prepared.graphs, graph_rows)
        mol_x = prepared.mol_x
        outputs = self.outputs(graphs, mol_x[graph_rows] if mol_x is not None else None)
        probs, nm, members = outputs.probs, outputs.emission_nm, outputs.member_probs
        scores = rare_scores(probs, self.target_indices)
        levels = probs.argmax(axis=1)
        return [
            store.NewPrediction(
                canonical_smiles=key,
                inchikey=inchikey[key],
                probabilities=[round(float(p), 6) for p in probs[i]],
                level=int(levels[i]),
                rare_score=float(scores[i]),
                emission_nm=_nm(nm, i),
                member_probabilities=[[round(float(p), 6) for p in member[i]]
                                      for member in members] if members is not None else None,
            )
            for i, key in enumerate(missing)
        ]

    def chosen_levels(self, names: Sequence[str] | None) -> list[int] | None:
        """Indices of the target levels ``names`` (any case), in level order; ``None`` when
        ``names`` is ``None`` or names the default levels. ``ValueError`` (naming the valid
        levels) for an unknown or empty choice."""
        from zincfluor.screening.rare import resolve_target_levels

        if names is None:
            return None
        if not any(str(name).strip() for name in names):
            raise ValueError(f"name at least one level; valid levels: "
                             f"{', '.join(self.level_names)}")
        indices = resolve_target_levels(self.level_names, None, list(names))
        return None if indices == self.target_indices else indices

    @property
    def members(self) -> int:
        """How many networks the model averages (more than 1: an ensemble)."""
        return int(self.predictor.n_members)

    @property
    def predicts_wavelength(self) -> bool:
        """True when predictions carry ``emission_nm`` (the model has a wavelength head)."""
        return bool(self.predictor.predicts_wavelength)

    def outputs(self, graphs, mol_x: np.ndarray | None = None):
        """:class:`~zincfluor.screening.predictor.ModelOutputs` (level probabilities and, for a
        wavelength model, the emission maximum in nm) of packed graphs and their molecule
        features, for models that read them; one forward pass at a time."""
        with self._lock:
            self.forward_calls += 1
            self.molecules_predicted += len(graphs)
            return self.predictor.outputs(graphs, mol_x)

    @property
    def has_solvent_model(self) -> bool:
        """True when requests may give a solvent (the folder has a solvent-aware model)."""
        return bool(getattr(self.predictor, "has_solvent_model", False))

    def in_solvent(self, outcomes: Sequence[Outcome], smiles: Sequence[str], solvent: str,
                   target_indices: Sequence[int] | None = None):
        """``outcomes`` (of :meth:`evaluate` for ``smiles``) with every scored one answered by
        the solvent-aware model in ``solvent`` (canonical SMILES): its probabilities, level,
        rare score (of ``target_indices``, ``None``: the model's) and emission maximum; no
        member probabilities. A molecule it cannot score becomes ``out_of_scope``. Not stored.
        Returns (outcomes, :class:`~zincfluor.screening.solvent_model.SolventFields`)."""
        from zincfluor.screening.predictor import ModelOutputs, prepare_molecules
        from zincfluor.screening.rare import rare_scores

        prepared = prepare_molecules(list(smiles), self.featurizer_config,
                                     molecule_features=self.predictor.molecule_features)
        n = prepared.n
        blank = ModelOutputs(np.full((n, len(self.level_names)), np.nan, np.float32))
        with self._lock:
            self.forward_calls += 1
            self.molecules_predicted += len(prepared.positions)
            outputs, fields, changed = self.predictor.apply_solvents(prepared, blank,
                                                                     [solvent] * n)
        targets = self.target_indices if target_indices is None else list(target_indices)
        scores = rare_scores(outputs.probs, targets)
        answered = []
        for i, outcome in enumerate(outcomes):
            prediction = outcome.prediction
            if prediction is not None and i in changed:
                _, _, reason = changed[i].partition(": ")
                outcome = Outcome(None, reason, "out_of_scope", outcome.notes)
            elif prediction is not None and not np.isnan(outputs.probs[i]).any():
                outcome = dataclasses.replace(outcome, prediction=dataclasses.replace(
                    prediction,
                    probabilities=[round(float(p), 6) for p in outputs.probs[i]],
                    level=int(outputs.probs[i].argmax()),
                    rare_score=float(scores[i]),
                    emission_nm=[round(float(v), 1) for v in outputs.emission_nm[i]],
                    member_probabilities=None,
                ))
            answered.append(outcome)
        return answered, fields

    def names_of(self, target_indices: Sequence[int] | None) -> list[str]:
        """Names of the levels ``target_indices`` (``None``: the model's target levels)."""
        if target_indices is None:
            return self.target_levels
        return [self.level_names[i] for i in target_indices]

    def evaluate(
        self,
        sessions,
        smiles: Sequence[str],
        *,
        owner_id: int,
        target_indices: Sequence[int] | None = None,
    ) -> list[Outcome]:
        """Predictions for ``smiles`` (input order) obtained by key ``owner_id``.

        The key is answered from the database for structures it has obtained before; the rest
        are predicted and stored (or, if another key stored them meanwhile, the stored ones are
        kept) and recorded as the key's. ``target_indices``: rare levels of the answer's scores
        (``None``: the model's). ``sessions`` is a session factory: the lookup and the store are
        short transactions of their own, and no transaction stays open while the network runs.
        """
        from api.db import session_scope

        identified = self.identify(smiles)
        with session_scope(sessions) as session:
            known = store.known_predictions(session, self.model_id, identified.structures,
                                            owner_id=owner_id)
        new = self.predict_new(identified, known)
        if new:
            with session_scope(sessions) as session:
                stored = store.store_predictions(session, self.model_id, new)
                store.record_owner_predictions(session, owner_id, stored.values())
            known.update(stored)
        return [
            Outcome(store.rescored(known[key], target_indices) if key is not None else None,
                    error, status, tuple(notes))
            for key, error, status, notes in zip(identified.keys, identified.errors,
                                                 identified.statuses, identified.notes,
                                                 strict=True)
        ]


def _nm(nm: np.ndarray | None, i: int) -> list[float] | None:
    """Row ``i`` of an emission array, 1 decimal; ``None`` without one (NaN: a folder whose
    wavelength comes from its solvent-aware model alone, asked without a solvent)."""
    if nm is None or np.isnan(nm[i]).any():
        return None
    return [round(float(v), 1) for v in nm[i]]


def _take(graphs, indices: list[int]):
    """The packed graphs at ``indices`` (all of them when that is every graph, in order)."""
    from zincfluor.chem.packing import PackedGraphs

    if indices == list(range(len(graphs))):
        return graphs
    atom_bounds = np.concatenate([[0], np.cumsum(graphs.atom_counts)])
    edge_bounds = np.concatenate([[0], np.cumsum(graphs.edge_counts)])
    atoms = np.concatenate(
        [np.arange(atom_bounds[i], atom_bounds[i + 1]) for i in indices]
    ).astype(np.int64)
    edges = np.concatenate(
        [np.arange(edge_bounds[i], edge_bounds[i + 1]) for i in indices]
    ).astype(np.int64)
    return PackedGraphs(
        graphs.x[atoms],
        graphs.edge_index[:, edges],
        graphs.edge_attr[edges],
        graphs.atom_counts[indices],
        graphs.edge_counts[indices],
    )
