import pytest
from rdkit import Chem

from zincfluor.chem.smiles import (
    InvalidMoleculeError,
    canonical_smiles,
    parse_smiles,
    try_canonical_smiles,
)

# Inputs with and without hydrogen atoms, stereo and CXSMILES: parse_smiles skips RDKit's
# hydrogen-removal step when there is no hydrogen atom, and must still agree with RDKit.
AGREE_WITH_RDKIT = [
    "CCO",
    "c1cc[nH]c1",
    "[NH4+]",
    "C[Hg]C",
    "[He]",
    "[H]c1ccccc1",
    "[2H]c1ccccc1",
    "[H+].[Cl-]",
    "[H]/C(C)=C(/[H])C",
    "C[C@H](N)/C=C/[C@@H](O)C",
    "C/C=C/C |c:1|",
    "CCO |$a;b;c$|",
]


@pytest.mark.parametrize("smiles", AGREE_WITH_RDKIT)
def test_parse_agrees_with_rdkit(smiles):
    ours, theirs = parse_smiles(smiles), Chem.MolFromSmiles(smiles)
    assert ours.GetNumAtoms() == theirs.GetNumAtoms()
    assert Chem.MolToSmiles(ours) == Chem.MolToSmiles(theirs)
    for getter in (Chem.Atom.GetChiralTag, Chem.Atom.GetTotalNumHs, Chem.Atom.GetHybridization):
        assert list(map(getter, ours.GetAtoms())) == list(map(getter, theirs.GetAtoms()))
    for getter in (Chem.Bond.GetStereo, Chem.Bond.GetBondType, Chem.Bond.GetIsConjugated):
        assert list(map(getter, ours.GetBonds())) == list(map(getter, theirs.GetBonds()))


def test_hydrogen_atoms_are_removed_unless_isotopes():
    assert parse_smiles("[H]c1ccccc1").GetNumAtoms() == 6
    assert parse_smiles("[2H]c1ccccc1").GetNumAtoms() == 7


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("C1CC", "unclosed ring"),
        ("CCX", "syntax error"),
        ("c1cccc1", "kekulize"),
        ("", "empty SMILES"),
        (3.5, "expected a SMILES string, got float"),
        ("[H][H]", "no heavy atoms"),
    ],
)
def test_invalid_smiles_reasons(smiles, reason):
    with pytest.raises(InvalidMoleculeError) as caught:
        parse_smiles(smiles)
    assert reason in caught.value.reason and caught.value.smiles == smiles


def test_limits_can_be_lifted():
    assert parse_smiles("C" * 300, max_heavy_atoms=None).GetNumAtoms() == 300
    with pytest.raises(InvalidMoleculeError, match="limit of 250"):
        parse_smiles("C" * 300)


def test_canonical_helpers():
    assert canonical_smiles("OCC") == "CCO"
    assert try_canonical_smiles("OCC") == ("CCO", None)
    assert try_canonical_smiles("C1CC") == (None, "unclosed ring")
