"""Standardisation: one molecule, one structure, whatever way it was written."""

import pytest
import torch
from rdkit import Chem

from zincfluor.chem import FeaturizerConfig, InvalidMoleculeError, MoleculeFeaturizer
from zincfluor.chem.smiles import parse_smiles, strict_smiles_problem
from zincfluor.chem.standardize import (
    StandardizerConfig,
    elements_in_smiles,
    out_of_scope_reason,
    standardize,
    standardize_smiles,
)

CONFIG = FeaturizerConfig()

# Each group: one compound written in ways a chemist meets in the literature and in vendor files.
SAME_COMPOUND = {
    "rhodamine B": [
        "CCN(CC)c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3[o+]c2c1",  # xanthylium
        "CC[N+](CC)=c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3oc-2c1",  # iminium
        "CCN(CC)c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3[o+]c2c1.[Cl-]",  # chloride salt
    ],
    "methylene blue": [
        "CN(C)c1ccc2nc3ccc(N(C)C)cc3[s+]c2c1.[Cl-]",
        "CN(C)c1ccc2nc3ccc(=[N+](C)C)cc-3sc2c1",
        "[Cl-].CN(C)C1=CC2=[S+]C3=CC(N(C)C)=CC=C3N=C2C=C1",  # kekulé thiazinium
    ],
    "unsymmetric cyanine (charge on either end)": [
        "CC1(C)C(C=CC=C2N(C)c3ccccc3S2)=[N+](C)c2ccccc21",
        "CC1(C)C(=CC=CC2=[N+](C)c3ccccc3S2)N(C)c2ccccc21",
    ],
    "coumarin 1": [
        "CCN(CC)c1ccc2c(C)cc(=O)oc2c1",
        "CC[NH+](CC)c1ccc2c(C)cc(=O)oc2c1.[Cl-]",  # hydrochloride
        "O.CCN(CC)c1ccc2c(C)cc(=O)oc2c1",  # hydrate
    ],
    "fluorescein sodium salt": [
        "O=C(O)c1ccccc1-c1c2ccc(O)cc2oc2cc(=O)ccc12",
        "[Na+].[Na+].O=C([O-])c1ccccc1-c1c2ccc([O-])cc2oc2cc(=O)ccc12",
    ],
}


@pytest.mark.parametrize("name", list(SAME_COMPOUND))
def test_every_form_of_a_compound_gives_one_structure_and_one_graph(name):
    forms = SAME_COMPOUND[name]
    standard = [standardize_smiles(smiles, CONFIG) for smiles in forms]
    assert len({molecule.smiles for molecule in standard}) == 1, [m.smiles for m in standard]
    featurize = MoleculeFeaturizer(CONFIG)
    first = featurize(forms[0])
    for smiles in forms[1:]:
        graph = featurize(smiles)
        for key in ("x", "edge_index", "edge_attr"):
            assert torch.equal(first[key], graph[key]), (name, smiles, key)


def test_nitro_groups_keep_their_charges_and_skip_the_inchi_round_trip():
    molecule = standardize_smiles("Nc1ccc([N+](=O)[O-])cc1", CONFIG)
    assert molecule.smiles == "Nc1ccc([N+](=O)[O-])cc1"
    assert molecule.notes == ()


def test_notes_say_what_changed():
    notes = standardize_smiles("CC[NH+](CC)c1ccc2c(C)cc(=O)oc2c1.[Cl-]", CONFIG).notes
    assert notes == ("counter-ion or solvent removed: [Cl-]", "charge neutralised")
    iminium = "CC[N+](CC)=c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3oc-2c1"
    assert standardize_smiles(iminium, CONFIG).notes == ("resonance form normalised",)
    assert standardize_smiles("c1ccccc1O", CONFIG).notes == ()


def test_switched_off_keeps_the_fragments_and_charges_but_still_orders_atoms():
    off = FeaturizerConfig(standardizer=StandardizerConfig(enabled=False))
    molecule = standardize_smiles("CC[NH+](CC)c1ccc2c(C)cc(=O)oc2c1.[Cl-]", off)
    assert "." in molecule.smiles and "[NH+]" in molecule.smiles
    assert molecule.notes == ()
    a = standardize_smiles("OCC", off)
    b = standardize_smiles("CCO", off)
    assert a.smiles == b.smiles == "CCO"
    assert [atom.GetSymbol() for atom in a.mol.GetAtoms()] == ["C", "C", "O"]


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("[Na+].[Cl-]", "lone atom or ion"),
        ("[Cl-]", "lone atom or ion"),
        ("C", "lone atom or ion"),
        ("O=S(=O)(O)O", "no carbon atom"),
        ("[NH4+].[Cl-]", "lone atom or ion"),
    ],
)
def test_inorganic_inputs_and_lone_ions_are_out_of_scope(smiles, reason):
    molecule = standardize_smiles(smiles, CONFIG)
    assert molecule.out_of_scope is not None and reason in molecule.out_of_scope


def test_elements_never_seen_in_training_are_out_of_scope():
    seen = StandardizerConfig(allowed_elements=("C", "N", "O"))
    molecule = standardize(Chem.MolFromSmiles("c1ccccc1[Se]C"), seen)
    assert "element Se never occurs" in molecule.out_of_scope
    assert standardize(Chem.MolFromSmiles("c1ccccc1N"), seen).out_of_scope is None
    assert out_of_scope_reason(Chem.MolFromSmiles("c1ccccc1[Se]C"), None) is None
    assert elements_in_smiles(["CCO", "c1ccccc1[Se]C", "[Na+].[Cl-]"]) == (
        "C", "Cl", "Na", "O", "Se"
    )


def test_settings_round_trip_through_the_featurizer_dict():
    config = FeaturizerConfig(standardizer=StandardizerConfig(neutralize=False,
                                                              allowed_elements=("O", "C")))
    data = config.to_dict()
    assert data["standardizer"]["allowed_elements"] == ["C", "O"]
    assert FeaturizerConfig.from_dict(data) == config
    old = {key: value for key, value in data.items() if key != "standardizer"}
    assert FeaturizerConfig.from_dict(old).standardizer == StandardizerConfig()
    with pytest.raises(ValueError, match="unknown standardizer settings"):
        StandardizerConfig.from_dict({"tautomers": True})


@pytest.mark.parametrize(
    "text, problem",
    [
        ("CCé", "U+00E9"),
        ("C C", "whitespace"),
        ("CCO extra garbage", "whitespace"),
        ("\u202eCCO", "U+202E"),
        ("C\ud800C", "U+D800"),
        ("CC\x00O", "control character U+0000"),
    ],
)
def test_text_that_is_not_exactly_one_smiles_is_invalid_not_misread(text, problem):
    assert problem in strict_smiles_problem(text.strip())
    with pytest.raises(InvalidMoleculeError, match=problem.replace("+", r"\+")):
        parse_smiles(text)


@pytest.mark.parametrize("text", ["CCO", "  CCO\t", "CCO |$;;$|", "[2H]C(Cl)(Cl)Cl"])
def test_one_smiles_with_surrounding_space_or_a_cxsmiles_tail_is_accepted(text):
    assert strict_smiles_problem(text.strip()) is None
    assert parse_smiles(text) is not None
