"""One molecule, one graph: standardise an RDKit molecule before it is featurized.

The same compound reaches zincfluor written many ways: as a salt or a free base, with solvent of
crystallisation, with its positive charge drawn on a different atom of a conjugated cation, with
its atoms in any order. The model must see one structure for all of them. The steps, in order
(each a switch of :class:`StandardizerConfig`):

1. **Fragment parent** (``largest_fragment``): RDKit's
   ``LargestFragmentChooser(preferOrganic=True)`` keeps the largest organic fragment, so
   counter-ions (Cl-, ClO4-, BF4-, PF6-, Na+) and solvent molecules go. Metals are *not*
   disconnected first: a metal complex stays one fragment.
2. **Normalise functional groups** (``normalize``): ``rdMolStandardize.Normalize`` (nitro, N-oxide,
   sulfoxide, azide written one way).
3. **Neutralise** (``neutralize``): ``rdMolStandardize.Uncharger`` adds or removes protons where a
   charge can be neutralised that way (a hydrochloride's ammonium, a sodium salt's carboxylate),
   so a salt and its free acid or base are one molecule. Charges that no proton can remove
   (quaternary nitrogen, pyrylium oxygen) stay.
4. **One resonance form of delocalised ions** (``resonance``): a cationic dye's charge can be
   drawn on different atoms (rhodamine B as ``[o+]`` xanthylium or as an iminium; methylene blue
   as ``[s+]`` or iminium; the two ends of an unsymmetric cyanine). RDKit's canonical SMILES
   keeps the drawn form, so such molecules make a round trip through InChI, whose charge
   normalisation gives one structure for every form. It costs about 1 ms per molecule, so it
   runs only where it matters: molecules with a formal charge not paired with an opposite charge
   on a bonded atom (so nitro groups and N-oxides, which Normalize already fixes, do not pay it).
   A round trip that changes the heavy-atom formula, or that RDKit cannot read back, is ignored.
   Standard InChI also merges mobile-hydrogen tautomers, so for these ions the tautomer is
   InChI's; neutral molecules keep the tautomer they were written in (RDKit's tautomer
   canonicaliser changes dye chromophores, e.g. hydroxy-azo to hydrazone, and is not used).
5. **Canonical atom order**: the result is written as canonical isomeric SMILES and read back, so
   atom order, chirality tags (clockwise/anticlockwise relative to neighbour order) and bond
   stereo are those of the canonical form, whatever order the input was written in. The graph
   is built from that molecule, so features cannot depend on how the input was written.

Scope rules (``out_of_scope``, no score): no carbon atom (an inorganic salt, a lone ion), a lone
heavy atom, or an element outside ``allowed_elements`` (the elements of the data a model was
trained on, recorded in its checkpoint; ``None`` allows any element).

Every change is reported as a short note ("counter-ion or solvent removed: [Cl-]", "charge
neutralised", "resonance form normalised", "functional groups normalised").

The settings are plain data and travel with the model inside its :class:`FeaturizerConfig`.
They are untuned: each step exists to make equivalent inputs one input, not to raise a metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from zincfluor.settings import settings_from_dict

__all__ = [
    "STANDARDIZER_VERSION",
    "StandardizerConfig",
    "StandardizedMolecule",
    "standardize",
    "standardize_smiles",
    "standardize_input",
    "out_of_scope_reason",
    "elements_of",
    "elements_in_smiles",
]

RDLogger.DisableLog("rdApp.*")  # InChI's "proton(s) added/removed" is not news here

STANDARDIZER_VERSION = 1
"""Bumped whenever the same settings would give a different molecule."""


@dataclass(frozen=True)
class StandardizerConfig:
    """Settings of :func:`standardize` (see the module docstring for each step).

    ``enabled=False`` turns every step off except the canonical atom order, which is always
    applied because features must not depend on how the input was written.
    """

    enabled: bool = True
    largest_fragment: bool = True
    normalize: bool = True
    neutralize: bool = True
    resonance: bool = True
    allowed_elements: tuple[str, ...] | None = None
    version: int = STANDARDIZER_VERSION

    def __post_init__(self) -> None:
        if self.allowed_elements is not None:
            object.__setattr__(self, "allowed_elements", tuple(sorted(self.allowed_elements)))
        if self.version != STANDARDIZER_VERSION:
            raise ValueError(
                f"standardizer version {self.version} cannot be applied by this zincfluor (it "
                f"applies version {STANDARDIZER_VERSION}); use the release that trained the model"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.allowed_elements is not None:
            out["allowed_elements"] = list(self.allowed_elements)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StandardizerConfig:
        return settings_from_dict(cls, data, "standardizer")


@dataclass(frozen=True)
class StandardizedMolecule:
    """The molecule the model sees, its canonical SMILES and what was changed to get there.

    ``out_of_scope`` says why a model cannot score it (``None`` when it can). Featurization
    does not look at it; whoever scores molecules (the predictor, the training table) does.
    """

    mol: Chem.Mol
    smiles: str
    notes: tuple[str, ...] = ()
    out_of_scope: str | None = None


_FRAGMENT_CHOOSER = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
_NORMALIZER = rdMolStandardize.Normalizer()
_UNCHARGER = rdMolStandardize.Uncharger(canonicalOrder=True)

# Every default RDKit normalisation rewrites a charged atom, a hypervalent N, P, S, Se, Te, As,
# Sb or halogen, or an aromatic N=O. Normalize costs about a parse, so it runs only on molecules
# with one of those (about a quarter of Deep4Chem); on every Deep4Chem molecule it left
# unchanged none that this query skips.
_MAY_NORMALIZE = Chem.MolFromSmarts(
    "[!+0,#7&!v3,#15&!v3,#16&!v2,#33&!v3,#34&!v2,#51&!v3,#52&!v2,Cl&!v1,Br&!v1,I&!v1,$(n=O)]"
)
_CHARGED = Chem.MolFromSmarts("[!+0]")


def elements_of(mol: Chem.Mol) -> set[str]:
    """Element symbols of the heavy atoms of ``mol``."""
    return {atom.GetSymbol() for atom in mol.GetAtoms() if atom.GetAtomicNum() > 1}


def elements_in_smiles(smiles) -> tuple[str, ...]:
    """Sorted element symbols of the heavy atoms in SMILES (read without sanitising: fast)."""
    found: set[str] = set()
    for text in smiles:
        mol = Chem.MolFromSmiles(text, sanitize=False)
        if mol is not None:
            found |= elements_of(mol)
    return tuple(sorted(found))


_CARBON = Chem.MolFromSmarts("[#6]")
_UNSEEN_QUERIES: dict[tuple[str, ...], Chem.Mol] = {}


def _unseen_element_query(allowed_elements: tuple[str, ...]) -> Chem.Mol:
    """A one-atom SMARTS matching a heavy atom (Z > 1) of an element not in
    ``allowed_elements``: a C++ check of every atom instead of a Python loop over them."""
    query = _UNSEEN_QUERIES.get(allowed_elements)
    if query is None:
        table = Chem.GetPeriodicTable()
        known = {table.GetElementSymbol(z): z for z in range(1, 119)}
        numbers = sorted({0, 1} | {known[s] for s in allowed_elements if s in known})
        query = Chem.MolFromSmarts("[" + ";".join(f"!#{z}" for z in numbers) + "]")
        _UNSEEN_QUERIES[allowed_elements] = query
    return query


def out_of_scope_reason(mol: Chem.Mol, allowed_elements: tuple[str, ...] | None) -> str | None:
    """Why the model cannot score ``mol`` (after standardisation), or ``None`` when it can.

    The carbon and element checks are one-atom substructure queries (RDKit's C++ loop over the
    atoms); the elements are listed one by one only for a molecule that has an unseen one.
    """
    if mol.GetNumHeavyAtoms() == 1:
        return "a lone atom or ion (not a chromophore)"
    if not mol.HasSubstructMatch(_CARBON):
        return "no carbon atom (an inorganic molecule or salt)"
    if (allowed_elements is not None
            and mol.HasSubstructMatch(_unseen_element_query(tuple(allowed_elements)))):
        unseen = sorted(elements_of(mol) - set(allowed_elements))
        if unseen:
            return (f"element {' and '.join(unseen)} never occurs in the model's training data "
                    "(its prediction would be a guess)")
    return None


def _smiles(mol: Chem.Mol) -> str:
    return Chem.MolToSmiles(mol)


def _has_unpaired_charge(mol: Chem.Mol) -> bool:
    """True when an atom carries a formal charge not balanced by an opposite charge next to it
    (only the charged atoms, found by a C++ substructure search, are looked at)."""
    for (index,) in mol.GetSubstructMatches(_CHARGED, maxMatches=mol.GetNumAtoms()):
        atom = mol.GetAtomWithIdx(index)
        charge = atom.GetFormalCharge()
        if not any(neighbour.GetFormalCharge() * charge < 0 for neighbour in atom.GetNeighbors()):
            return True
    return False


def _heavy_formula(mol: Chem.Mol) -> tuple:
    counts: dict[int, int] = {}
    for atom in mol.GetAtoms():
        counts[atom.GetAtomicNum()] = counts.get(atom.GetAtomicNum(), 0) + 1
    counts.pop(1, None)
    return tuple(sorted(counts.items()))


def _inchi_round_trip(mol: Chem.Mol) -> Chem.Mol | None:
    """The molecule InChI's normalisation gives for ``mol``; ``None`` if it would change atoms."""
    try:
        inchi = Chem.MolToInchi(mol, logLevel=None)
        back = Chem.MolFromInchi(inchi, logLevel=None) if inchi else None
    except Exception:  # noqa: BLE001 - the InChI library refuses some valid RDKit molecules
        return None
    if back is None or _heavy_formula(back) != _heavy_formula(mol):
        return None
    return back


def _fragment_parent(mol: Chem.Mol) -> tuple[Chem.Mol, str | None, str | None]:
    """(largest organic fragment, its SMILES when written, note) of ``mol``."""
    if len(Chem.GetMolFrags(mol)) == 1:
        return mol, None, None
    parent = _FRAGMENT_CHOOSER.choose(mol)
    kept = _smiles(parent)
    removed = [frag for frag in _smiles(mol).split(".") if frag != kept]
    return parent, kept, "counter-ion or solvent removed: " + ".".join(removed)


def standardize(mol: Chem.Mol,
                config: StandardizerConfig = StandardizerConfig()) -> StandardizedMolecule:
    """Standardise a sanitised molecule (see the module docstring) and judge its scope.

    Each step compares the SMILES before and after it; a molecule's SMILES is written once and
    reused until a step changes the molecule (the last one written is the canonical SMILES).
    The canonical SMILES is read back with :func:`~zincfluor.chem.smiles.mol_from_smiles`.
    """
    from zincfluor.chem.smiles import mol_from_smiles

    notes: list[str] = []
    text: str | None = None  # the SMILES of ``mol``, once written
    if config.enabled:
        if config.largest_fragment:
            mol, text, note = _fragment_parent(mol)
            if note:
                notes.append(note)
        if config.normalize and mol.HasSubstructMatch(_MAY_NORMALIZE):
            before = text if text is not None else _smiles(mol)
            mol = _NORMALIZER.normalize(mol)
            text = _smiles(mol)
            if text != before:
                notes.append("functional groups normalised")
        charged = mol.HasSubstructMatch(_CHARGED)
        if config.neutralize and charged:
            before = text if text is not None else _smiles(mol)
            mol = _UNCHARGER.uncharge(mol)
            text = _smiles(mol)
            if text != before:
                notes.append("charge neutralised")
                charged = mol.HasSubstructMatch(_CHARGED)
        if config.resonance and charged and _has_unpaired_charge(mol):
            before = text if text is not None else _smiles(mol)
            trip = _inchi_round_trip(mol)
            if trip is not None:
                mol = trip
                text = _smiles(mol)
                if text != before:
                    notes.append("resonance form normalised")
            else:
                text = before
    canonical = text if text is not None else _smiles(mol)
    canonical_mol = mol_from_smiles(canonical)
    if canonical_mol is None:  # RDKit cannot read back what it wrote: keep the molecule as is
        canonical_mol = mol
    reason = out_of_scope_reason(canonical_mol, config.allowed_elements)
    return StandardizedMolecule(canonical_mol, canonical, tuple(notes), reason)


def standardize_input(item: str | Chem.Mol, config) -> StandardizedMolecule:
    """Standardise a SMILES string or an RDKit molecule with a :class:`FeaturizerConfig`'s
    settings.

    The one entry point from an input to the molecule a model sees: training, evaluation,
    ``predict``, ``screen`` and the service all come through here. A SMILES is parsed
    (:func:`~zincfluor.chem.smiles.parse_smiles`); a molecule (an SDF record's own structure,
    stereo as drawn) is copied and sanitised (:func:`~zincfluor.chem.smiles.parse_mol`) under
    the same limits. Raises :class:`~zincfluor.chem.smiles.InvalidMoleculeError`; scope is
    reported, not raised.
    """
    from zincfluor.chem.smiles import parse_mol, parse_smiles

    limits = {"max_length": config.max_smiles_length, "max_heavy_atoms": config.max_heavy_atoms}
    mol = parse_mol(item, **limits) if isinstance(item, Chem.Mol) else parse_smiles(item, **limits)
    return standardize(mol, config.standardizer)


def standardize_smiles(smiles: object, config) -> StandardizedMolecule:
    """:func:`standardize_input` (kept under its first name: it accepts a molecule too)."""
    return standardize_input(smiles, config)
