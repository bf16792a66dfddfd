"""Reference sets: DOI normalisation, references per molecule, neighbours, storage."""

import csv

import numpy as np
import pytest
from rdkit import Chem

from zincfluor.trust.fingerprints import morgan_fingerprints
from zincfluor.trust.neighbours import (
    ReferenceSet,
    build_reference_set,
    normalise_reference,
    references_of_molecules,
)

LEVELS = ["blue", "green", "red"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DOI: 10.1021/acs.jpcb.5b09905", "https://doi.org/10.1021/acs.jpcb.5b09905"),
        ("https://doi.org/10.1002/smll.201901342", "https://doi.org/10.1002/smll.201901342"),
        ("http://dx.doi.org/10.1016/j.tet.2017.03.075",
         "https://doi.org/10.1016/j.tet.2017.03.075"),
        ("DOI:\xa010.1021/acs.joc.5b01409", "https://doi.org/10.1021/acs.joc.5b01409"),
        ("10.1023/B%3AJOFL.0000014660.59105.31",
         "https://doi.org/10.1023/B:JOFL.0000014660.59105.31"),
        ("doi/10.1021/ja00455a017.", "https://doi.org/10.1021/ja00455a017"),
        ("https://doi.org/10.1016/1010-6030(92)85164-P",
         "https://doi.org/10.1016/1010-6030(92)85164-P"),
        ("ISBN 978-3-540-93810-1", "ISBN 978-3-540-93810-1"),
        ("  acsami.6b05877 ", "acsami.6b05877"),
        ("", None), ("NaN", None), (None, None), (float("nan"), None),
    ],
)
def test_references_become_doi_links_where_they_hold_a_doi(text, expected):
    assert normalise_reference(text) == expected


def test_references_of_molecules_merge_forms_of_one_molecule(tmp_path):
    path = tmp_path / "table.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Chromophore", "Emission max (nm)", "Reference"])
        writer.writerow(["OC(=O)c1ccccc1", "400", "DOI: 10.1021/a1"])
        writer.writerow(["[Na+].[O-]C(=O)c1ccccc1", "410", "doi:10.1021/b2"])
        writer.writerow(["O=C(O)c1ccccc1", "405", "https://doi.org/10.1021/b2"])
        writer.writerow(["CCO", "300", ""])
    refs = references_of_molecules(path, ["O=C(O)c1ccccc1", "CCO", "c1ccccc1"])
    # the sodium salt is the same molecule once standardised; 10.1021/b2 twice, so first
    assert refs == [("https://doi.org/10.1021/b2", "https://doi.org/10.1021/a1"), (), ()]
    with pytest.raises(ValueError, match="'Ref'"):
        references_of_molecules(path, ["CCO"], reference_column="Ref")


def _reference_set():
    return build_reference_set(
        ["CCN(CC)c1ccc2ccc(=O)oc2c1", "c1ccc2ccccc2c1", "CCO", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1"],
        [450.0, 330.0, float("nan"), 455.0], [0, 0, 0, 0],
        [("https://doi.org/10.1/x",), (), ("ISBN 1", "https://doi.org/10.1/y"), ()], LEVELS,
    )


def test_neighbours_are_the_most_similar_measured_molecules():
    reference = _reference_set()
    query = morgan_fingerprints([Chem.MolFromSmiles("CCN(CC)c1ccc2ccc(=O)oc2c1"),
                                 Chem.MolFromSmiles("CCCO")])
    first, second = reference.neighbours(query, k=3)
    assert [n.smiles for n in first[:2]] == ["CCN(CC)c1ccc2ccc(=O)oc2c1",
                                             "CCN(CC)c1ccc2c(C)cc(=O)oc2c1"]
    assert first[0].similarity == 1.0 and first[0].emission_nm == 450.0
    assert first[0].references == ("https://doi.org/10.1/x",)
    assert first[0].level_name == "blue"
    assert second[0].smiles == "CCO" and second[0].emission_nm is None
    assert second[0].to_dict()["references"] == ["ISBN 1", "https://doi.org/10.1/y"]


def test_a_saved_reference_set_loads_the_same_without_pickle(tmp_path):
    reference = _reference_set()
    loaded = ReferenceSet.load(reference.save(tmp_path / "reference_set.npz"))
    assert loaded.smiles == reference.smiles and loaded.references == reference.references
    np.testing.assert_array_equal(loaded.fingerprints, reference.fingerprints)
    np.testing.assert_array_equal(loaded.emission_nm, reference.emission_nm)
    assert loaded.level_names == LEVELS and loaded.fingerprint == reference.fingerprint


def test_an_invalid_reference_smiles_is_named():
    with pytest.raises(ValueError, match="molecule 1: 'C1CC'"):
        build_reference_set(["CCO", "C1CC"], None, [0, 0], [(), ()], LEVELS)
