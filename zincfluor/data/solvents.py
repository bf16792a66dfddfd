"""Solvents by name or SMILES: the shipped table, :func:`resolve_solvent` and solvent classes.

The table (``solvents.csv``, package data beside this module) lists the solvents most frequent
in Deep4Chem's ``Solvent`` column and a few other common ones: a name, the RDKit canonical
SMILES, synonyms (``"MeCN"``, ``"DCM"``, ``"CH2Cl2"``, ``"EtOH"``, ...) and, where the source has
them, four physical descriptors:

- ``epsilon``: static relative permittivity (dielectric constant) at 25 C;
- ``refractive_index``: n at the sodium D line, 20 C;
- ``abraham_alpha``, ``abraham_beta``: Abraham's hydrogen-bond acidity and basicity.

Source of the descriptors: the Minnesota Solvent Descriptor Database (C. P. Kelly, C. J. Cramer,
D. G. Truhlar et al., University of Minnesota, https://comp.chem.umn.edu/solvation/mnsddb.pdf;
the descriptor set of the SMD solvation model, Marenich, Cramer and Truhlar, J. Phys. Chem. B
113:6378, 2009), as read from its machine-readable copy in PySCF
(``pyscf/solvent/_solvent_data.py``, Apache License 2.0). A solvent not in that database has
the four fields missing; no value is guessed. The names, synonyms and SMILES were compiled for
zincfluor.

Lookup is case-insensitive and ignores spaces, hyphens and underscores (``"N,N-Dimethyl
formamide"`` finds DMF). :func:`resolve_solvent` takes a name or a SMILES and returns canonical
SMILES; an unknown name raises one line with the closest names (:mod:`difflib`).

Solvent SMILES are standardised lightly (:func:`canonical_solvent_smiles`): parsed by RDKit
and written as canonical isomeric SMILES, nothing else. Unlike a dye
(:mod:`zincfluor.chem.standardize`), a solvent keeps every fragment (a mixture or an ionic
liquid stays whole), its charges and its isotopes (heavy water ``[2H]O[2H]`` is not water
``O``), and a one-atom solvent such as water is in scope.

Solvent class (:func:`solvent_class`), for per-class metrics:

- ``"polar protic"``: the solvent has a hydrogen (or deuterium) on an O or N atom, i.e. an
  O-H or N-H donor (water, alcohols, acids, formamide, primary and secondary amines);
- otherwise ``"polar aprotic"`` when its dielectric constant is ``>= 5`` (:data:`POLAR_EPSILON`)
  and ``"non-polar"`` below (chloroform, 4.7, and butyl acetate, 4.99, fall below; THF, 7.4,
  ethyl acetate, 6.0, and dichloromethane, 8.9, above);
- without a known dielectric constant, a hydrocarbon (only C and H) is ``"non-polar"`` (every
  hydrocarbon of the table has epsilon < 2.6) and anything else ``"unknown"``.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from zincfluor.chem.smiles import InvalidMoleculeError, canonical_smiles, parse_smiles

__all__ = [
    "SOLVENT_CLASSES",
    "POLAR_EPSILON",
    "SolventEntry",
    "UnknownSolventError",
    "solvent_table",
    "solvent_names",
    "find_solvent",
    "solvent_name",
    "canonical_solvent_smiles",
    "resolve_solvent",
    "solvent_class",
    "lippert_mataga_df",
]

SOLVENT_CLASSES = ("polar protic", "polar aprotic", "non-polar", "unknown")
POLAR_EPSILON = 5.0
_TABLE_FILE = "solvents.csv"
_KEY_IGNORED = re.compile(r"[\s\-_]+")
_CLOSE_MATCHES = 3


def _float_or_none(text: str) -> float | None:
    return float(text) if text.strip() else None


@dataclass(frozen=True)
class SolventEntry:
    """One solvent of the table.

    Attributes
    ----------
    name : the name the table lists it under (``"acetonitrile"``)
    smiles : RDKit canonical isomeric SMILES
    synonyms : other names it is found by
    epsilon : static relative permittivity at 25 C, or ``None`` when the source lacks it
    refractive_index : n (sodium D line, 20 C), or ``None``
    abraham_alpha, abraham_beta : Abraham hydrogen-bond acidity and basicity, or ``None``
    mnsddb_name : the entry's name in the Minnesota Solvent Descriptor Database (``""`` if none)
    """

    name: str
    smiles: str
    synonyms: tuple[str, ...]
    epsilon: float | None
    refractive_index: float | None
    abraham_alpha: float | None
    abraham_beta: float | None
    mnsddb_name: str

    @property
    def solvent_class(self) -> str:
        """``"polar protic"``, ``"polar aprotic"``, ``"non-polar"`` or ``"unknown"``
        (:func:`solvent_class`)."""
        return solvent_class(self.smiles)

    @property
    def delta_f(self) -> float | None:
        """Lippert-Mataga orientation polarisability (:func:`lippert_mataga_df`), or ``None``."""
        if self.epsilon is None or self.refractive_index is None:
            return None
        return lippert_mataga_df(self.epsilon, self.refractive_index)


class UnknownSolventError(ValueError):
    """A solvent text that is neither a known name nor a valid SMILES."""


def _key(name: str) -> str:
    return _KEY_IGNORED.sub("", name.casefold())


def _read_table_text() -> str:
    return resources.files("zincfluor.data").joinpath(_TABLE_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def solvent_table() -> tuple[SolventEntry, ...]:
    """The shipped solvent table, in the file's order (most frequent in Deep4Chem first).

    Lines starting with ``#`` are the file's header comment (source and licence).
    """
    lines = [line for line in _read_table_text().splitlines() if not line.startswith("#")]
    entries = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        entries.append(
            SolventEntry(
                name=row["name"],
                smiles=row["smiles"],
                synonyms=tuple(s.strip() for s in row["synonyms"].split("|") if s.strip()),
                epsilon=_float_or_none(row["epsilon"]),
                refractive_index=_float_or_none(row["refractive_index"]),
                abraham_alpha=_float_or_none(row["abraham_alpha"]),
                abraham_beta=_float_or_none(row["abraham_beta"]),
                mnsddb_name=row["mnsddb_name"],
            )
        )
    return tuple(entries)


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, SolventEntry], dict[str, SolventEntry], dict[str, str]]:
    """(entry by name key, entry by SMILES, display spelling by name key); raises on a name
    or SMILES that two entries share."""
    by_key: dict[str, SolventEntry] = {}
    by_smiles: dict[str, SolventEntry] = {}
    spelling: dict[str, str] = {}
    for entry in solvent_table():
        if entry.smiles in by_smiles:
            raise ValueError(f"solvent table lists {entry.smiles!r} twice")
        by_smiles[entry.smiles] = entry
        for name in (entry.name, *entry.synonyms):
            key = _key(name)
            if key in by_key and by_key[key] is not entry:
                raise ValueError(
                    f"solvent table: name {name!r} is both {by_key[key].name!r} and {entry.name!r}"
                )
            by_key[key] = entry
            spelling.setdefault(key, name)
    return by_key, by_smiles, spelling


def solvent_names(include_synonyms: bool = False) -> list[str]:
    """Names of the table's solvents (and their synonyms when asked), in table order."""
    names = []
    for entry in solvent_table():
        names.append(entry.name)
        if include_synonyms:
            names.extend(entry.synonyms)
    return names


def canonical_solvent_smiles(smiles: str) -> str:
    """Canonical isomeric SMILES of a solvent, standardised lightly (see the module docstring).

    Raises :class:`zincfluor.chem.smiles.InvalidMoleculeError` for text that is not a SMILES.
    """
    return canonical_smiles(smiles)


def find_solvent(text: str) -> SolventEntry | None:
    """The table entry for a name, synonym or SMILES (any valid spelling), or ``None``."""
    by_key, by_smiles, _ = _index()
    entry = by_key.get(_key(text))
    if entry is not None:
        return entry
    try:
        return by_smiles.get(canonical_solvent_smiles(text))
    except InvalidMoleculeError:
        return None


def solvent_name(smiles: str) -> str | None:
    """The table's name of a solvent given as SMILES (e.g. for output), or ``None``."""
    entry = find_solvent(smiles)
    return None if entry is None else entry.name


def resolve_solvent(text: str) -> str:
    """Canonical SMILES of a solvent given by name (case-insensitive, synonyms too) or SMILES.

    A name in the table wins over reading the text as SMILES; any valid SMILES is accepted,
    in the table or not (light standardisation: :func:`canonical_solvent_smiles`).

    Raises
    ------
    UnknownSolventError
        One line naming the text and the closest known names, e.g. ``unknown solvent 'tolune':
        not a solvent name zincfluor knows nor a SMILES; did you mean 'toluene'? ...``
    """
    if not isinstance(text, str) or not text.strip():
        raise UnknownSolventError(
            f"empty solvent {text!r}: give a solvent name (e.g. 'toluene') or a SMILES"
        )
    by_key, _, spelling = _index()
    entry = by_key.get(_key(text))
    if entry is not None:
        return entry.smiles
    try:
        return canonical_solvent_smiles(text)
    except InvalidMoleculeError as error:
        reason = error.reason
    close = difflib.get_close_matches(_key(text), list(spelling), n=_CLOSE_MATCHES, cutoff=0.6)
    hint = (
        "did you mean " + " or ".join(repr(spelling[key]) for key in close) + "?"
        if close
        else "no known name is close."
    )
    raise UnknownSolventError(
        f"unknown solvent {text.strip()!r}: not a solvent name zincfluor knows nor a SMILES "
        f"({reason}); {hint} Give a common name (water, methanol, ethanol, acetonitrile, DMSO, "
        "DMF, THF, dichloromethane, chloroform, toluene, cyclohexane, hexane, ...) or the "
        "solvent's SMILES"
    )


def _has_oh_or_nh(smiles: str) -> tuple[bool, bool]:
    """(has an O-H/N-H hydrogen, is a hydrocarbon) of a solvent SMILES."""
    mol = parse_smiles(smiles)
    protic = any(
        atom.GetSymbol() in ("O", "N") and atom.GetTotalNumHs(includeNeighbors=True) > 0
        for atom in mol.GetAtoms()
    )
    hydrocarbon = all(atom.GetSymbol() in ("C", "H") for atom in mol.GetAtoms())
    return protic, hydrocarbon


def solvent_class(smiles: str, epsilon: float | None = None) -> str:
    """``"polar protic"``, ``"polar aprotic"``, ``"non-polar"`` or ``"unknown"`` (rule in the
    module docstring).

    ``epsilon`` defaults to the table's dielectric constant of the solvent, if it has one.
    Raises :class:`zincfluor.chem.smiles.InvalidMoleculeError` for an invalid SMILES.
    """
    protic, hydrocarbon = _has_oh_or_nh(smiles)
    if protic:
        return "polar protic"
    if epsilon is None:
        entry = find_solvent(smiles)
        epsilon = None if entry is None else entry.epsilon
    if epsilon is not None:
        return "polar aprotic" if epsilon >= POLAR_EPSILON else "non-polar"
    return "non-polar" if hydrocarbon else "unknown"


def lippert_mataga_df(epsilon: float, refractive_index: float) -> float:
    """Orientation polarisability of the Lippert-Mataga equation,

    .. math:: \\Delta f = \\frac{\\varepsilon - 1}{2\\varepsilon + 1} - \\frac{n^2 - 1}{2n^2 + 1}

    (Lippert, Z. Naturforsch. 10a:541, 1955; Mataga, Kaifu and Koizumi, Bull. Chem. Soc. Jpn.
    29:465, 1956): the solvent's polarity beyond its electronic polarisability; about 0 for
    alkanes, 0.30 for acetonitrile.
    """
    if not (math.isfinite(epsilon) and math.isfinite(refractive_index)):
        raise ValueError(f"epsilon and n must be finite, got {epsilon}, {refractive_index}")
    n2 = refractive_index**2
    return (epsilon - 1) / (2 * epsilon + 1) - (n2 - 1) / (2 * n2 + 1)
