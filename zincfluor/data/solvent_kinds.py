"""Read a measurement's solvent field: a solution solvent, the gas phase, or the solid state.

Deep4Chem's ``Solvent`` column (Joung et al., Sci. Data 7:295, 2020) holds a SMILES for almost
every row, with three other meanings that :func:`parse_solvent` tells apart:

- ``"gas"``: a gas-phase measurement (kind ``"gas"``);
- the molecule itself (the ``Solvent`` SMILES is the ``Chromophore`` SMILES): the dye measured
  neat, as a film, powder or crystal (kind ``"solid"``, detail ``"neat"``);
- a large aromatic host, e.g. mCP, CBP or DPEPO of OLED work: the dye doped into a solid
  film of that host (kind ``"solid"``, detail ``"host matrix"``). Rule: a solvent SMILES with at
  least :data:`HOST_MIN_AROMATIC_RINGS` aromatic rings. No liquid solvent of Deep4Chem has more
  than two (1-methylnaphthalene has two); every host has three or more.

Other data files may write labels: ``gas``, ``vapour``, ``vacuum`` and ``solid``, ``film``,
``powder``, ``crystal``, ``neat`` ... (:data:`GAS_LABELS`, :data:`SOLID_LABELS`, any case).
A solvent name of the table of :mod:`zincfluor.data.solvents` is read as that solvent. Anything
else is kind ``"unknown"``, with the reason.

A solution solvent's SMILES is standardised lightly
(:func:`zincfluor.data.solvents.canonical_solvent_smiles`: RDKit canonical, all fragments,
charges and isotopes kept), so ``"O"`` stays water and ``"[2H]O[2H]"`` stays heavy water.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit.Chem import rdMolDescriptors

from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles
from zincfluor.data.solvents import canonical_solvent_smiles, find_solvent

__all__ = [
    "SOLVENT_KINDS",
    "GAS_LABELS",
    "SOLID_LABELS",
    "HOST_MIN_AROMATIC_RINGS",
    "ParsedSolvent",
    "parse_solvent",
]

SOLVENT_KINDS = ("smiles", "gas", "solid", "unknown")
GAS_LABELS = frozenset({"gas", "gas phase", "gas-phase", "vapor", "vapour", "vacuum"})
SOLID_LABELS = frozenset(
    {
        "solid",
        "solid state",
        "solid-state",
        "film",
        "thin film",
        "neat film",
        "powder",
        "crystal",
        "crystals",
        "single crystal",
        "neat",
        "amorphous",
    }
)
HOST_MIN_AROMATIC_RINGS = 3
_MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "none", "null", "-"})


@dataclass(frozen=True)
class ParsedSolvent:
    """How one solvent field was read.

    Attributes
    ----------
    kind : ``"smiles"`` (a solution solvent), ``"gas"``, ``"solid"`` or ``"unknown"``
    smiles : canonical SMILES of the solvent (kind ``"smiles"``) or of the host matrix (a solid
        in a host); ``""`` for the gas phase, a neat solid and an unknown solvent
    text : the field as written
    detail : ``"smiles"``, ``"name"`` (read from the solvent table), ``"label"`` (a gas or solid
        label), ``"neat"``, ``"host matrix"``, or, for kind ``"unknown"``, the reason
    """

    kind: str
    smiles: str
    text: str
    detail: str

    @property
    def key(self) -> str:
        """What measurements are grouped by: the SMILES when there is one, else the kind
        (``"gas"``, ``"solid"``)."""
        return self.smiles or self.kind


def _same_molecule(solvent_smiles: str, solute: str | None) -> bool:
    if solute is None:
        return False
    try:
        return canonical_solvent_smiles(solute) == solvent_smiles
    except InvalidMoleculeError:
        return False


def parse_solvent(text: object, solute: str | None = None) -> ParsedSolvent:
    """Read a solvent field (rules in the module docstring).

    Parameters
    ----------
    text : the field, e.g. ``"CC#N"``, ``"acetonitrile"``, ``"gas"``, ``"film"``
    solute : the SMILES of the measured molecule on the same row; a solvent equal to it
        (same canonical SMILES) is the neat solid state
    """
    raw = "" if text is None else str(text)
    stripped = raw.strip()
    folded = " ".join(stripped.casefold().split())
    if folded in _MISSING_TEXT:
        return ParsedSolvent("unknown", "", raw, "no solvent")
    if folded in GAS_LABELS:
        return ParsedSolvent("gas", "", raw, "label")
    if folded in SOLID_LABELS:
        return ParsedSolvent("solid", "", raw, "label")
    try:
        smiles, detail = canonical_solvent_smiles(stripped), "smiles"
    except InvalidMoleculeError as error:
        entry = find_solvent(stripped)  # no name of the table is also a SMILES (tested)
        if entry is None:
            return ParsedSolvent(
                "unknown", "", raw, f"not a solvent name, label or SMILES ({error.reason})"
            )
        smiles, detail = entry.smiles, "name"
    if _same_molecule(smiles, solute):
        return ParsedSolvent("solid", "", raw, "neat")
    mol = parse_smiles(smiles, max_length=None, max_heavy_atoms=None)
    if rdMolDescriptors.CalcNumAromaticRings(mol) >= HOST_MIN_AROMATIC_RINGS:
        return ParsedSolvent("solid", smiles, raw, "host matrix")
    return ParsedSolvent("smiles", smiles, raw, detail)
