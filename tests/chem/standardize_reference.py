"""The standardiser as it was before its speed-ups, kept to check the fast one against.

Every step writes the SMILES before and after it, the scope checks loop over the atoms in
Python, and the canonical SMILES is read back with a plain ``Chem.MolFromSmiles``.
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize

from zincfluor.chem.standardize import StandardizedMolecule, StandardizerConfig

FRAGMENT_CHOOSER = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
NORMALIZER = rdMolStandardize.Normalizer()
UNCHARGER = rdMolStandardize.Uncharger(canonicalOrder=True)
MAY_NORMALIZE = Chem.MolFromSmarts(
    "[!+0,#7&!v3,#15&!v3,#16&!v2,#33&!v3,#34&!v2,#51&!v3,#52&!v2,Cl&!v1,Br&!v1,I&!v1,$(n=O)]"
)
CHARGED = Chem.MolFromSmarts("[!+0]")


def elements(mol):
    return {atom.GetSymbol() for atom in mol.GetAtoms() if atom.GetAtomicNum() > 1}


def scope(mol, allowed):
    if mol.GetNumHeavyAtoms() == 1:
        return "a lone atom or ion (not a chromophore)"
    if not any(atom.GetAtomicNum() == 6 for atom in mol.GetAtoms()):
        return "no carbon atom (an inorganic molecule or salt)"
    if allowed is not None:
        unseen = sorted(elements(mol) - set(allowed))
        if unseen:
            return (f"element {' and '.join(unseen)} never occurs in the model's training data "
                    "(its prediction would be a guess)")
    return None


def unpaired_charge(mol):
    for atom in mol.GetAtoms():
        charge = atom.GetFormalCharge()
        if charge and not any(n.GetFormalCharge() * charge < 0 for n in atom.GetNeighbors()):
            return True
    return False


def heavy_formula(mol):
    counts = {}
    for atom in mol.GetAtoms():
        counts[atom.GetAtomicNum()] = counts.get(atom.GetAtomicNum(), 0) + 1
    counts.pop(1, None)
    return tuple(sorted(counts.items()))


def inchi_round_trip(mol):
    try:
        inchi = Chem.MolToInchi(mol, logLevel=None)
        back = Chem.MolFromInchi(inchi, logLevel=None) if inchi else None
    except Exception:  # noqa: BLE001
        return None
    if back is None or heavy_formula(back) != heavy_formula(mol):
        return None
    return back


def reference_standardize(mol, config=StandardizerConfig()):
    """The old :func:`zincfluor.chem.standardize.standardize`, step by step."""
    smiles = Chem.MolToSmiles
    notes = []
    if config.enabled:
        if config.largest_fragment and len(Chem.GetMolFrags(mol)) > 1:
            parent = FRAGMENT_CHOOSER.choose(mol)
            kept = smiles(parent)
            removed = [frag for frag in smiles(mol).split(".") if frag != kept]
            mol = parent
            notes.append("counter-ion or solvent removed: " + ".".join(removed))
        if config.normalize and mol.HasSubstructMatch(MAY_NORMALIZE):
            before = smiles(mol)
            mol = NORMALIZER.normalize(mol)
            if smiles(mol) != before:
                notes.append("functional groups normalised")
        charged = mol.HasSubstructMatch(CHARGED)
        if config.neutralize and charged:
            before = smiles(mol)
            mol = UNCHARGER.uncharge(mol)
            if smiles(mol) != before:
                notes.append("charge neutralised")
                charged = mol.HasSubstructMatch(CHARGED)
        if config.resonance and charged and unpaired_charge(mol):
            before = smiles(mol)
            trip = inchi_round_trip(mol)
            if trip is not None:
                mol = trip
                if smiles(mol) != before:
                    notes.append("resonance form normalised")
    canonical = smiles(mol)
    canonical_mol = Chem.MolFromSmiles(canonical)
    if canonical_mol is None:
        canonical_mol = mol
    return StandardizedMolecule(canonical_mol, canonical, tuple(notes),
                                scope(canonical_mol, config.allowed_elements))
