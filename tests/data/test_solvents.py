"""The shipped solvent table, name/SMILES resolution, solvent classes and Lippert-Mataga."""

import fnmatch
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from zincfluor.data.solvents import (
    POLAR_EPSILON,
    UnknownSolventError,
    find_solvent,
    lippert_mataga_df,
    resolve_solvent,
    solvent_class,
    solvent_name,
    solvent_names,
    solvent_table,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_table_is_declared_package_data():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["zincfluor"]
    assert any(fnmatch.fnmatch("data/solvents.csv", pattern) for pattern in patterns)


def test_table_smiles_are_canonical_and_distinct():
    table = solvent_table()
    assert len(table) >= 40
    for entry in table:
        assert Chem.MolToSmiles(Chem.MolFromSmiles(entry.smiles)) == entry.smiles, entry.name
    assert len({entry.smiles for entry in table}) == len(table)


def test_the_issue_names_are_in_the_table():
    names = {name.casefold() for name in solvent_names(include_synonyms=True)}
    for name in ("water", "methanol", "ethanol", "acetonitrile", "DMSO", "DMF", "THF",
                 "dichloromethane", "chloroform", "toluene", "cyclohexane", "hexane"):
        assert name.casefold() in names


def test_no_name_reads_as_a_different_smiles():
    """A name that RDKit can also parse must mean the same molecule either way."""
    for entry in solvent_table():
        for name in (entry.name, *entry.synonyms):
            mol = Chem.MolFromSmiles(name)
            if mol is not None:
                assert Chem.MolToSmiles(mol) == entry.smiles, (name, entry.name)


@pytest.mark.parametrize(
    ("text", "smiles"),
    [
        ("water", "O"),
        ("Water", "O"),
        ("  toluene ", "Cc1ccccc1"),
        ("MeCN", "CC#N"),
        ("mecn", "CC#N"),
        ("DCM", "ClCCl"),
        ("CH2Cl2", "ClCCl"),
        ("EtOH", "CCO"),
        ("dmso", "CS(C)=O"),
        ("N,N-Dimethyl formamide", "CN(C)C=O"),
        ("tert butanol", "CC(C)(C)O"),
        ("D2O", "[2H]O[2H]"),
    ],
)
def test_resolve_names(text, smiles):
    assert resolve_solvent(text) == smiles


@pytest.mark.parametrize(
    ("text", "smiles"),
    [
        ("O", "O"),  # water stays water: no fragment or scope rule applies to a solvent
        ("C(Cl)Cl", "ClCCl"),
        ("OCC", "CCO"),
        ("[2H]O[2H]", "[2H]O[2H]"),  # isotopes kept: heavy water is not water
        ("CCCC[n+]1ccn(C)c1.F[P-](F)(F)(F)(F)F", "CCCC[n+]1ccn(C)c1.F[P-](F)(F)(F)(F)F"),
        ("CCCCCCCCCCCCCCCCCl", "CCCCCCCCCCCCCCCCCl"),  # not in the table: any SMILES goes
    ],
)
def test_resolve_smiles(text, smiles):
    assert resolve_solvent(text) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_unknown_name_is_one_line_with_close_matches():
    with pytest.raises(UnknownSolventError) as caught:
        resolve_solvent("tolune")
    message = str(caught.value)
    assert "\n" not in message
    assert "'tolune'" in message and "'toluene'" in message


def test_unknown_name_without_close_match_and_empty_text():
    with pytest.raises(UnknownSolventError, match="no known name is close"):
        resolve_solvent("xyzzy")
    with pytest.raises(UnknownSolventError, match="empty solvent"):
        resolve_solvent("   ")


def test_find_solvent_and_name_by_any_spelling():
    assert find_solvent("C1CCOC1").name == "tetrahydrofuran"
    assert find_solvent("O1CCCC1").name == "tetrahydrofuran"
    assert find_solvent("thf").smiles == "C1CCOC1"
    assert find_solvent("CCCCCCCCCCCCCCCCCl") is None
    assert solvent_name("CC#N") == "acetonitrile"
    assert solvent_name("CCCCCCCCCCCCCCCCCl") is None


def test_descriptors_come_from_the_table_or_are_missing():
    acetonitrile = find_solvent("acetonitrile")
    assert acetonitrile.epsilon == pytest.approx(35.688)
    assert acetonitrile.refractive_index == pytest.approx(1.3442)
    assert acetonitrile.mnsddb_name == "acetonitrile"
    glycerol = find_solvent("glycerol")
    assert glycerol.epsilon is None and glycerol.refractive_index is None
    assert glycerol.delta_f is None and glycerol.mnsddb_name == ""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("water", "polar protic"),
        ("methanol", "polar protic"),
        ("acetic acid", "polar protic"),
        ("formamide", "polar protic"),  # N-H donor
        ("D2O", "polar protic"),  # O-D counts as O-H
        ("acetonitrile", "polar aprotic"),
        ("DMSO", "polar aprotic"),
        ("THF", "polar aprotic"),  # epsilon 7.4
        ("DCM", "polar aprotic"),
        ("toluene", "non-polar"),
        ("hexane", "non-polar"),
        ("chloroform", "non-polar"),  # epsilon 4.7 < 5
        ("triethylamine", "non-polar"),  # no N-H, epsilon 2.4
        ("tetradecane", "non-polar"),  # no epsilon in the table: a hydrocarbon
        ("propylene carbonate", "unknown"),  # no epsilon, not a hydrocarbon
    ],
)
def test_solvent_class(name, expected):
    smiles = resolve_solvent(name)
    assert solvent_class(smiles) == expected
    assert find_solvent(name).solvent_class == expected


def test_solvent_class_uses_a_given_epsilon():
    assert solvent_class("CC1COC(=O)O1", epsilon=64.9) == "polar aprotic"
    assert solvent_class("CC1COC(=O)O1", epsilon=POLAR_EPSILON - 0.1) == "non-polar"
    assert solvent_class("CCO", epsilon=1.0) == "polar protic"  # donors first


def test_lippert_mataga_df_by_hand():
    # acetonitrile: (35.688-1)/(2*35.688+1) - (1.3442^2-1)/(2*1.3442^2+1)
    epsilon, n = 35.688, 1.3442
    expected = (epsilon - 1) / (2 * epsilon + 1) - (n * n - 1) / (2 * n * n + 1)
    assert lippert_mataga_df(epsilon, n) == pytest.approx(expected)
    assert lippert_mataga_df(2.0, 2.0**0.5) == pytest.approx(0.0)  # eps = n^2: no orientation
    assert find_solvent("MeCN").delta_f == pytest.approx(0.3044, abs=1e-4)
    with pytest.raises(ValueError, match="finite"):
        lippert_mataga_df(float("nan"), 1.3)


@pytest.mark.shared_data
def test_the_forty_most_frequent_deep4chem_solvents_are_in_the_table(shared_deep4chem):
    solvents = pd.read_csv(shared_deep4chem, usecols=["Chromophore", "Solvent"], dtype=str)
    solution = solvents[solvents["Solvent"] != solvents["Chromophore"]]
    counts = solution["Solvent"].value_counts()
    small = [
        text
        for text in counts.index
        if (mol := Chem.MolFromSmiles(text)) is not None
        and Chem.rdMolDescriptors.CalcNumAromaticRings(mol) < 3
    ][:40]
    missing = [text for text in small if find_solvent(text) is None]
    assert missing == []
