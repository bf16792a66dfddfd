"""A model folder's solvent-aware model: the level and emission maximum of a molecule *in a
solvent*.

A model folder may hold, in ``solvent/`` (:data:`~zincfluor.train.checkpoint.SOLVENT_FOLDER`),
a ``zincfluor train-solvent`` run with a Gaussian wavelength head (one checkpoint, or an
ensemble folder of them; ``zincfluor model ship|ensemble --solvent-model RUN`` puts it there,
:mod:`zincfluor.runs.solvent_companion`). The :class:`~zincfluor.screening.predictor.Predictor`
then answers each input given with a solvent from this model and each input without one from
the folder's own (median-over-solvents) model:

- rows with a solvent: ``emission_nm`` and its interval, the level, the level probabilities and
  the rare score are the solvent model's. Its head is Gaussian, so its level probabilities are
  the masses of the predicted emission distribution in each level's bin
  (:func:`~zincfluor.nn.distribution.gaussian_bin_log_masses`), the same levels as the folder's
  model (checked when loading);
- rows without a solvent: the folder's model, unchanged.

Solvents are given by name or SMILES (:func:`~zincfluor.data.solvents.resolve_solvent`; an
empty value means "no solvent"); :class:`SolventFields` keeps, per row, the canonical solvent
SMILES used and whether that solvent was among the solvent model's training solvents
(``metadata["solvent"]["train_solvents"]``): a solvent outside them is a guess from its
descriptors or graph alone.

The solvent model reads molecules with the folder model's graph layout (checked when loading),
so one preparation serves both; a molecule with an element its training rows lacked is
``out_of_scope`` for a row with a solvent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.molecule_features import MoleculeFeatureConfig
from zincfluor.chem.packing import PackedGraphs
from zincfluor.chem.standardize import elements_in_smiles
from zincfluor.data.solvent_inputs import (
    attach_solvent_descriptors,
    attach_solvent_ids,
    solvent_graph_batch,
)
from zincfluor.data.solvents import UnknownSolventError, resolve_solvent
from zincfluor.nn.distribution import mixture_quantiles
from zincfluor.train.checkpoint import model_from_checkpoint

__all__ = [
    "NO_SOLVENT_MODEL",
    "SOLVENT_ENCODERS",
    "SolventFields",
    "SolventModel",
    "resolve_row_solvents",
    "RowSolvents",
    "SOLVENT_COLUMN",
]

NO_SOLVENT_MODEL = (
    "this model has no solvent-aware model; ship one with --solvent-model (zincfluor model "
    "ship RUN --out DIR --solvent-model SOLVENT_RUN, SOLVENT_RUN from zincfluor train-solvent), "
    "or leave out the solvent"
)
SOLVENT_COLUMN = "solvent"
"""The input column read as each row's solvent by default (any case), when the model folder
has a solvent-aware model and no solvent is given otherwise."""
SOLVENT_ENCODERS = ("descriptors", "graph")
"""Encoders of a solvent-aware model (``"none"``, the median-over-solvents run, is not one)."""


@dataclass
class SolventFields:
    """The solvent of each row: its canonical SMILES (``None``: no solvent given) and whether
    the solvent model was trained on it (``None`` where no solvent)."""

    smiles: list[str | None]
    seen: list[bool | None]

    def text(self, i: int) -> tuple[str, str]:
        """Row ``i``'s ``solvent`` and ``solvent_seen`` record fields as text."""
        seen = self.seen[i]
        return self.smiles[i] or "", "" if seen is None else ("true" if seen else "false")

    @classmethod
    def empty(cls, n: int) -> SolventFields:
        return cls([None] * n, [None] * n)


def resolve_row_solvents(texts: Sequence[str | None], *, what: str = "solvent",
                         rows: Sequence[int] | None = None) -> list[str | None]:
    """Canonical solvent SMILES of each row's solvent text (a name or SMILES); ``None`` or blank
    text is no solvent. Raises :class:`~zincfluor.data.solvents.UnknownSolventError` with one
    line naming ``what`` (and the row, from ``rows``, 1-based) and how to fix it."""
    resolved: dict[str, str] = {}
    out: list[str | None] = []
    for k, text in enumerate(texts):
        if text is None or not str(text).strip():
            out.append(None)
            continue
        text = str(text).strip()
        if text not in resolved:
            try:
                resolved[text] = resolve_solvent(text)
            except UnknownSolventError as error:
                where = f"row {rows[k]}, {what}" if rows is not None else what
                raise UnknownSolventError(
                    f"{where}: {error}; give the solvent as a SMILES or a documented name "
                    "(`zincfluor predict --help` lists them)"
                ) from None
        out.append(resolved[text])
    return out


class RowSolvents:
    """Where the solvent of each input record comes from: one solvent for every record
    (``solvent``), a column of the input (``column``), or nothing.

    Without either, a column named :data:`SOLVENT_COLUMN` (any case) is read when
    ``has_model`` (the model folder has a solvent-aware model); otherwise no record has a
    solvent. Raises ``ValueError`` (one line) for both options at once, a missing column, a
    solvent asked of a model without a solvent-aware model, or an unknown ``solvent``.
    """

    def __init__(self, columns: Sequence[str], *, solvent: str | None = None,
                 column: str | None = None, has_model: bool):
        if solvent is not None and column is not None:
            raise ValueError("give --solvent (one solvent for every molecule) or "
                             "--solvent-column (a solvent per row), not both")
        if (solvent is not None or column is not None) and not has_model:
            raise ValueError(NO_SOLVENT_MODEL)
        columns = [str(name) for name in columns]
        self.column = None
        self.index: int | None = None
        if column is not None:
            self.index = _column_index(columns, column)
            if self.index is None:
                raise ValueError(f"--solvent-column {column!r}: the input has no such column "
                                 f"(its columns: {', '.join(columns) or 'none'})")
        elif solvent is None and has_model:
            self.index = _column_index(columns, SOLVENT_COLUMN)
        if self.index is not None:
            self.column = columns[self.index]
        self.solvent = None if solvent is None else resolve_row_solvents(
            [solvent], what="--solvent")[0]

    def __call__(self, records: Sequence) -> list[str | None] | None:
        """Canonical solvent SMILES of each record (``InputRecord``: ``row``, ``values``), or
        ``None`` when no record has one."""
        if self.solvent is not None:
            return [self.solvent] * len(records)
        if self.index is None:
            return None
        texts = [record.values[self.index] if len(record.values) > self.index else None
                 for record in records]
        return resolve_row_solvents(texts, what=f"column {self.column!r}",
                                    rows=[record.row for record in records])


def _column_index(columns: Sequence[str], name: str) -> int | None:
    """Position of the column ``name`` (exact, else ignoring case and surrounding spaces)."""
    if name in columns:
        return list(columns).index(name)
    folded = [column.strip().casefold() for column in columns]
    key = name.strip().casefold()
    return folded.index(key) if key in folded else None


def _layout_settings(config: FeaturizerConfig) -> dict:
    """Featurizer settings without the scope rule (``allowed_elements``): what the graphs are."""
    settings = config.to_dict()
    settings["standardizer"] = {k: v for k, v in settings["standardizer"].items()
                                if k != "allowed_elements"}
    return settings


def _feature_key(config: MoleculeFeatureConfig | None) -> dict | None:
    """Molecule-feature settings to compare (``None`` for none)."""
    return None if config is None or not config.dim else config.to_dict()


class SolventModel:
    """The networks of a solvent-aware model (one, or an ensemble's members), ready to answer
    (molecule graph, solvent) rows.

    Parameters
    ----------
    checkpoints : loaded checkpoints of ``zincfluor train-solvent`` runs with a wavelength head
        and a solvent encoder (descriptors or graph), all reading molecules and solvents the
        same way
    device : a torch device
    batch_size : rows per forward pass
    """

    def __init__(self, checkpoints: Sequence[dict], *, device, batch_size: int = 256):
        if not checkpoints:
            raise ValueError("a solvent-aware model needs at least one checkpoint")
        metadata = [checkpoint["metadata"] for checkpoint in checkpoints]
        first = metadata[0]
        block = first.get("solvent") or {}
        if block.get("encoder") not in SOLVENT_ENCODERS:
            raise ValueError(
                f"the solvent model has solvent encoder {block.get('encoder', 'none')!r}; it must "
                "read the solvent (zincfluor train-solvent --solvent-encoder descriptors|graph)"
            )
        for k, other in enumerate(metadata[1:], start=1):
            for key in ("featurizer", "label_scheme", "molecule_features"):
                if other.get(key) != first.get(key):
                    raise ValueError(f"solvent model member {k} has other {key} settings than "
                                     "member 0; its members must read inputs the same way")
            mine, theirs = other.get("solvent") or {}, block
            if (mine.get("encoder"), mine.get("featurizer")) != (
                    theirs.get("encoder"), theirs.get("featurizer")):
                raise ValueError(f"solvent model member {k} encodes the solvent otherwise than "
                                 "member 0; its members must read solvents the same way")
        self.device = device
        self.batch_size = batch_size
        self.members = [model_from_checkpoint(c).to(device) for c in checkpoints]
        if not all(hasattr(m.head, "log_nm_distribution") for m in self.members):
            raise ValueError("the solvent model needs a wavelength head (zincfluor train-solvent "
                             "--head gaussian --target emission_nm)")
        self.encoder = block["encoder"]
        self.level_names = list(first["label_scheme"]["names"])
        self.featurizer_config = FeaturizerConfig.from_dict(first["featurizer"])
        settings = first.get("molecule_features")
        self.molecule_features = MoleculeFeatureConfig.from_dict(settings) if settings else None
        self.solvent_featurizer = (FeaturizerConfig.from_dict(block["featurizer"])
                                   if self.encoder == "graph" else None)
        self.train_solvents = {str(entry["smiles"]): int(entry.get("rows", 0))
                               for entry in block.get("train_solvents") or []}
        allowed = self.featurizer_config.standardizer.allowed_elements
        self.allowed_elements = None if allowed is None else frozenset(allowed)

    def check_compatible(self, level_names: Sequence[str], featurizer: FeaturizerConfig,
                         molecule_features: MoleculeFeatureConfig | None) -> None:
        """Raise ``ValueError`` unless this model predicts ``level_names`` and reads graphs made
        with ``featurizer`` (up to its allowed elements) and ``molecule_features``."""
        if list(level_names) != self.level_names:
            raise ValueError(
                f"the solvent model predicts levels {', '.join(self.level_names)}, the model "
                f"{', '.join(level_names)}; train it with the model's label scheme"
            )
        if _layout_settings(featurizer) != _layout_settings(self.featurizer_config):
            raise ValueError("the solvent model featurises molecules otherwise than the model; "
                             "train it with the model's --featurizer")
        if _feature_key(self.molecule_features) != _feature_key(molecule_features):
            raise ValueError("the solvent model reads other molecule features than the model; "
                             "train it with the model's --molecule-features")

    def seen(self, solvent: str) -> bool:
        """Whether ``solvent`` (canonical SMILES) was among the training solvents."""
        return solvent in self.train_solvents

    def fields(self, solvents: Sequence[str | None]) -> SolventFields:
        """:class:`SolventFields` of rows with these canonical solvent SMILES."""
        solvents = list(solvents)
        return SolventFields(solvents, [None if s is None else self.seen(s) for s in solvents])

    def out_of_scope(self, canonical: str) -> str | None:
        """Why this model cannot score the standardised molecule ``canonical`` (an element its
        training rows lacked), or ``None``."""
        if self.allowed_elements is None:
            return None
        missing = sorted(set(elements_in_smiles([canonical])) - self.allowed_elements)
        if not missing:
            return None
        return (f"element {', '.join(missing)} not in the solvent-aware model's training data; "
                "leave out the solvent for the solvent-free model's answer")

    @torch.inference_mode()
    def outputs(self, graphs: PackedGraphs, mol_x: np.ndarray | None, rows: Sequence[int],
                solvents: Sequence[str], coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [m, C], emission nm [m, 3]: median, low, high of the central
        ``coverage`` interval) of graphs ``rows`` of ``graphs`` (``mol_x``: their molecule
        features, aligned with ``graphs``), each in its solvent (canonical SMILES, aligned with
        ``rows``); an ensemble's probabilities are its members' mean, its interval its
        mixture's."""
        rows, solvents = list(rows), list(solvents)
        m, c = len(rows), len(self.level_names)
        probs = np.empty((m, c), np.float32)
        nm = np.empty((m, 3), np.float32)
        if m == 0:
            return probs, nm
        every = graphs.to_data_list()
        data = [every[k] for k in rows]
        if mol_x is not None:
            for graph, k in zip(data, rows, strict=True):
                graph.mol_x = torch.from_numpy(np.asarray(mol_x[k : k + 1], np.float32))
        vocabulary = sorted(set(solvents))
        solvent_graphs = None
        if self.encoder == "descriptors":
            attach_solvent_descriptors(data, solvents)
        else:
            attach_solvent_ids(data, solvents, vocabulary)
            solvent_graphs = solvent_graph_batch(vocabulary, self.solvent_featurizer, self.device)
        tail = (1 - coverage) / 2
        for start in range(0, m, self.batch_size):
            stop = min(start + self.batch_size, m)
            batch = Batch.from_data_list(data[start:stop]).to(self.device)
            if solvent_graphs is not None:
                batch.solvent_graphs = solvent_graphs
            member_probs, means, stds = [], [], []
            for model in self.members:
                features = model.features(batch)
                logits = model.head(features) / model.temperature
                member_probs.append(torch.softmax(logits.float(), dim=1))
                mean, std = model.head.log_nm_distribution(features)
                means.append(mean)
                stds.append(std)
            probs[start:stop] = torch.stack(member_probs).mean(0).cpu().numpy()
            log_nm = mixture_quantiles(torch.stack(means), torch.stack(stds),
                                       (0.5, tail, 1 - tail))
            nm[start:stop] = torch.exp(log_nm).t().float().cpu().numpy()
        return probs, nm
