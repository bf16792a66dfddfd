"""parse_solvent: solution solvents, gas and solid labels, neat solids and host matrices."""

import pytest

from zincfluor.data.solvent_kinds import ParsedSolvent, parse_solvent

MCP = "c1cc(-n2c3ccccc3c3ccccc32)cc(-n2c3ccccc3c3ccccc32)c1"  # an OLED host (5 aromatic rings)
ANTHRACENE = "c1ccc2cc3ccccc3cc2c1"


def test_a_solvent_smiles_is_canonicalised_lightly():
    assert parse_solvent("C(Cl)Cl") == ParsedSolvent("smiles", "ClCCl", "C(Cl)Cl", "smiles")
    assert parse_solvent("O").smiles == "O"  # water is in scope as a solvent
    assert parse_solvent("[2H]O[2H]").smiles == "[2H]O[2H]"


def test_a_name_is_read_from_the_table():
    parsed = parse_solvent("Toluene")
    assert (parsed.kind, parsed.smiles, parsed.detail) == ("smiles", "Cc1ccccc1", "name")


@pytest.mark.parametrize("text", ["gas", "GAS", " gas phase ", "vapour"])
def test_gas_labels(text):
    parsed = parse_solvent(text)
    assert (parsed.kind, parsed.smiles, parsed.detail, parsed.key) == ("gas", "", "label", "gas")


@pytest.mark.parametrize("text", ["solid", "Film", "thin film", "powder", "crystal", "neat"])
def test_solid_labels(text):
    parsed = parse_solvent(text)
    assert (parsed.kind, parsed.detail, parsed.key) == ("solid", "label", "solid")


def test_the_molecule_itself_is_the_neat_solid_however_written():
    parsed = parse_solvent("C1=CC=C2C=C3C=CC=CC3=CC2=C1", solute=ANTHRACENE)
    assert (parsed.kind, parsed.smiles, parsed.detail) == ("solid", "", "neat")
    # a small molecule measured neat is a solid too, not a solution in itself
    assert parse_solvent("CCO", solute="OCC").detail == "neat"
    # without the solute, the same text is a solvent
    assert parse_solvent("CCO").kind == "smiles"


def test_a_large_aromatic_solvent_is_a_host_matrix():
    parsed = parse_solvent(MCP, solute="CCN(CC)c1ccc2ccc(=O)oc2c1")
    assert (parsed.kind, parsed.detail) == ("solid", "host matrix")
    assert parsed.smiles and parsed.key == parsed.smiles
    # two aromatic rings is still a liquid solvent (1-methylnaphthalene)
    assert parse_solvent("Cc1cccc2ccccc12").kind == "smiles"


@pytest.mark.parametrize("text", ["", "  ", "nan", None])
def test_no_solvent_is_unknown(text):
    parsed = parse_solvent(text)
    assert (parsed.kind, parsed.detail) == ("unknown", "no solvent")


def test_unreadable_text_is_unknown_with_the_reason():
    parsed = parse_solvent("xyzzy")
    assert parsed.kind == "unknown" and parsed.smiles == ""
    assert parsed.detail.startswith("not a solvent name, label or SMILES")
