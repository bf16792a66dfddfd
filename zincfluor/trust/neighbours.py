"""Measured neighbours: the training molecules most like a query, with what was measured.

A :class:`ReferenceSet` holds, for each training molecule, its packed Morgan fingerprint, its
canonical SMILES, its measured emission maximum (nm; the median over its measurements), its
level and its literature references. It is built once from the training split
(:func:`build_reference_set`) and saved in the model folder (:meth:`ReferenceSet.save`, one
compressed ``.npz`` read without pickle), so nothing reads the training CSV at prediction time.

References are Deep4Chem's ``Reference`` column: every distinct reference of a molecule's rows,
most frequent first, each as ``https://doi.org/<doi>`` where the text holds a DOI
(:func:`normalise_reference`: "DOI: 10.1021/...", "doi:10...", "http://dx.doi.org/10...",
URL-escaped forms), otherwise the text as given (an ISBN, a web page).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
from rdkit import Chem

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import standardize_smiles
from zincfluor.trust.fingerprints import (
    FingerprintSettings,
    SimilarityIndex,
    mol_for_fingerprint,
    morgan_fingerprints,
)

__all__ = [
    "DOI_PREFIX",
    "REFERENCE_COLUMN",
    "Neighbour",
    "ReferenceSet",
    "build_reference_set",
    "normalise_reference",
    "references_of_molecules",
]

DOI_PREFIX = "https://doi.org/"
REFERENCE_COLUMN = "Reference"
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_SEPARATOR = "\t"  # between a molecule's references in the stored file
_FORMAT = 1


def normalise_reference(text: object) -> str | None:
    """``https://doi.org/<doi>`` when ``text`` holds a DOI, else the stripped text (``None`` when
    empty or missing)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    cleaned = " ".join(unquote(str(text)).replace("\xa0", " ").split())
    if not cleaned or cleaned.lower() in {"nan", "none", "na", "n/a"}:
        return None
    match = _DOI.search(cleaned)
    if match is None:
        return cleaned
    return DOI_PREFIX + match.group(0).rstrip(".,;")


def references_of_molecules(
    path: str | Path,
    smiles: Sequence[str],
    config: FeaturizerConfig = FeaturizerConfig(),
    *,
    smiles_column: str = "Chromophore",
    reference_column: str = REFERENCE_COLUMN,
) -> list[tuple[str, ...]]:
    """The references of each molecule of ``smiles`` (canonical SMILES of a
    :class:`~zincfluor.data.MoleculeTable` read from ``path``), most frequent first.

    The file's rows are standardised as the table's were (``config.standardizer``), so a row
    whose SMILES is a salt or another form of a table molecule counts for that molecule.
    """
    header = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
    for column in (smiles_column, reference_column):
        if column not in header:
            raise ValueError(
                f"{path}: no {column!r} column for the references; available: "
                f"{', '.join(map(repr, header))}"
            )
    frame = pd.read_csv(path, encoding="utf-8-sig", usecols=[smiles_column, reference_column],
                        dtype=str, na_filter=False)
    canonical: dict[str, str | None] = {}
    for text in pd.unique(frame[smiles_column].str.strip()):
        try:
            canonical[text] = standardize_smiles(text, config).smiles
        except InvalidMoleculeError:
            canonical[text] = None
    counts: dict[str, Counter] = {}
    for text, reference in zip(frame[smiles_column].str.strip(), frame[reference_column],
                               strict=True):
        key, normalised = canonical[text], normalise_reference(reference)
        if key is not None and normalised is not None:
            counts.setdefault(key, Counter())[normalised] += 1
    return [tuple(ref for ref, _ in counts.get(s, Counter()).most_common()) for s in smiles]


@dataclass(frozen=True)
class Neighbour:
    """A measured training molecule near a query."""

    smiles: str
    similarity: float
    emission_nm: float | None
    level: int
    level_name: str
    references: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"smiles": self.smiles, "similarity": self.similarity,
                "emission_nm": self.emission_nm, "level": self.level,
                "level_name": self.level_name, "references": list(self.references)}


@dataclass
class ReferenceSet:
    """Training molecules with fingerprints and measurements (see the module docstring)."""

    smiles: list[str]
    fingerprints: np.ndarray
    emission_nm: np.ndarray
    levels: np.ndarray
    references: list[tuple[str, ...]]
    level_names: list[str]
    fingerprint: FingerprintSettings = FingerprintSettings()

    def __post_init__(self) -> None:
        self.fingerprints = np.asarray(self.fingerprints, dtype=np.uint64)
        self.emission_nm = np.asarray(self.emission_nm, dtype=np.float32)
        self.levels = np.asarray(self.levels, dtype=np.int8)
        n = len(self.smiles)
        sizes = {n, len(self.fingerprints), len(self.emission_nm), len(self.levels),
                 len(self.references)}
        if len(sizes) != 1:
            raise ValueError(f"reference set columns differ in length: {sorted(sizes)}")
        if self.fingerprints.shape[1:] != (self.fingerprint.n_words,):
            raise ValueError(
                f"fingerprints are {self.fingerprints.shape[1:]} words, the settings say "
                f"{self.fingerprint.n_words}"
            )

    def __len__(self) -> int:
        return len(self.smiles)

    def fingerprints_of(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        """Query fingerprints made with this set's settings (a zero row for ``None``)."""
        return morgan_fingerprints(mols, self.fingerprint)

    @cached_property
    def index(self) -> SimilarityIndex:
        """The on-bit search index of the fingerprints (built on first use)."""
        return SimilarityIndex(self.fingerprints)

    def nearest(self, query: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the ``k`` most similar molecules of each query row."""
        return self.index.nearest(query, k)

    def neighbours(self, query: np.ndarray, k: int = 3) -> list[list[Neighbour]]:
        """The ``k`` most similar measured molecules of each query fingerprint row."""
        indices, similarities = self.nearest(query, k)
        return [[self._neighbour(int(i), float(s)) for i, s in zip(row, sims, strict=True)]
                for row, sims in zip(indices, similarities, strict=True)]

    def _neighbour(self, index: int, similarity: float) -> Neighbour:
        nm = float(self.emission_nm[index])
        level = int(self.levels[index])
        return Neighbour(self.smiles[index], similarity, None if np.isnan(nm) else nm, level,
                         self.level_names[level], self.references[index])

    def save(self, path: str | Path) -> Path:
        """Write one compressed ``.npz`` (plain arrays only, loadable without pickle)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "level_names": self.level_names,
                "fingerprint": self.fingerprint.to_dict()}
        with path.open("wb") as handle:
            np.savez_compressed(
                handle,
                meta=np.array(json.dumps(meta)),
                fingerprints=self.fingerprints,
                smiles=np.array(self.smiles, dtype=str),
                emission_nm=self.emission_nm,
                levels=self.levels,
                references=np.array([_SEPARATOR.join(r) for r in self.references], dtype=str),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReferenceSet:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path} is not a reference set of format {_FORMAT}")
            return cls(
                smiles=stored["smiles"].tolist(),
                fingerprints=stored["fingerprints"],
                emission_nm=stored["emission_nm"],
                levels=stored["levels"],
                references=[tuple(r.split(_SEPARATOR)) if r else ()
                            for r in stored["references"].tolist()],
                level_names=list(meta["level_names"]),
                fingerprint=FingerprintSettings.from_dict(meta["fingerprint"]),
            )


def build_reference_set(
    smiles: Sequence[str],
    emission_nm: Sequence[float] | None,
    levels: Sequence[int],
    references: Sequence[Sequence[str]],
    level_names: Sequence[str],
    fingerprint: FingerprintSettings = FingerprintSettings(),
) -> ReferenceSet:
    """A :class:`ReferenceSet` of the training molecules (canonical SMILES of the molecules the
    model saw; ``emission_nm`` ``None`` for tables labelled by level only).

    Raises ``ValueError`` naming a SMILES that RDKit cannot parse.
    """
    mols = []
    for position, text in enumerate(smiles):
        mol = mol_for_fingerprint(text)
        if mol is None:
            raise ValueError(
                f"reference molecule {position}: {text!r} is not a valid SMILES; build the "
                "reference set from the canonical SMILES of the training table"
            )
        mols.append(mol)
    nm = (np.full(len(mols), np.nan, np.float32) if emission_nm is None
          else np.asarray(emission_nm, dtype=np.float32))
    return ReferenceSet(list(smiles), morgan_fingerprints(mols, fingerprint), nm,
                        np.asarray(levels), [tuple(r) for r in references], list(level_names),
                        fingerprint)
