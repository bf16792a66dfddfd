"""(molecule, solvent, emission) rows: solvent kinds, dropped rows, duplicate medians, spread."""

import numpy as np
import pytest
from solvent_fixtures import DEEP4CHEM_SOLVENT_HEADER, write_solvent_csv

from zincfluor.data.measurements import (
    MEASUREMENT_COLUMNS,
    SolventSpread,
    read_solvent_measurements,
)

COUMARIN = "CCN(CC)c1ccc2ccc(=O)oc2c1"
NILE_RED = "CCN(CC)c1ccc2nc3c4ccccc4c(=O)cc-3oc2c1"  # RDKit canonical
MCP = "c1cc(-n2c3ccccc3c3ccccc32)cc(-n2c3ccccc3c3ccccc32)c1"

ROWS = [
    # row 2..: Nile red in four solvents, toluene three times (median 580 of 575, 580, 600)
    (NILE_RED, "Cc1ccccc1", "575", "paper A"),
    (NILE_RED, "Cc1ccccc1", "600", "paper B"),
    (NILE_RED, "c1ccccc1C", "580", "paper A"),
    (NILE_RED, "CS(C)=O", "630", "paper C"),
    (NILE_RED, "O", "660", "paper C"),
    (NILE_RED, NILE_RED, "650", "paper D"),  # neat film
    (NILE_RED, "gas", "540", "paper E"),
    # coumarin: hydrochloride and free base are one molecule; two solvents 10 nm apart
    (COUMARIN + ".Cl", "CCO", "450", "paper F"),
    (COUMARIN, "ClCCl", "440", "paper F"),
    (COUMARIN, MCP, "445", "paper G"),  # doped film in a host
    # dropped rows
    (COUMARIN, "CC#N", "", "paper H"),  # no emission
    ("C1CC", "CC#N", "500", "paper H"),  # invalid molecule SMILES
    (COUMARIN, "xyzzy", "470", "paper H"),  # unknown solvent
    ("[Na+].[Cl-]", "O", "400", "paper H"),  # out of scope
]


def write_csv(path, rows=ROWS, header=DEEP4CHEM_SOLVENT_HEADER):
    return write_solvent_csv(path, rows, header)


@pytest.fixture
def table(tmp_path):
    return read_solvent_measurements(write_csv(tmp_path / "m.csv"))


def row_of(table, molecule, kind, solvent=None):
    frame = table.frame
    hits = frame[(frame["molecule"] == molecule) & (frame["solvent_kind"] == kind)]
    if solvent is not None:
        hits = hits[hits["solvent"] == solvent]
    assert len(hits) == 1
    return hits.iloc[0]


def test_columns_and_molecules(table):
    assert tuple(table.frame.columns) == MEASUREMENT_COLUMNS
    assert table.molecules == [NILE_RED, COUMARIN]
    assert table.n_rows == len(ROWS)
    assert len(table) == 8  # Nile red: toluene, DMSO, water, neat, gas; coumarin: 3


def test_duplicates_become_their_median_with_every_reference(table):
    toluene = row_of(table, NILE_RED, "smiles", "Cc1ccccc1")
    assert toluene["emission_nm"] == 580.0
    assert toluene["n_measurements"] == 3
    assert toluene["references"] == "paper A; paper B"
    assert toluene["level"] == 4  # yellow-orange: 565 - 625 nm
    assert table.n_merged == 2


def test_solvent_kinds_and_classes(table):
    assert row_of(table, NILE_RED, "smiles", "O")["solvent_class"] == "polar protic"
    assert row_of(table, NILE_RED, "smiles", "CS(C)=O")["solvent_class"] == "polar aprotic"
    assert row_of(table, NILE_RED, "smiles", "Cc1ccccc1")["solvent_class"] == "non-polar"
    neat = row_of(table, NILE_RED, "solid")
    assert (neat["solvent"], neat["solvent_detail"], neat["solvent_class"]) == ("", "neat", "")
    assert row_of(table, NILE_RED, "gas")["solvent"] == ""
    host = row_of(table, COUMARIN, "solid")
    assert host["solvent_detail"] == "host matrix" and host["solvent"] != ""


def test_a_salt_and_its_free_base_are_one_molecule(table):
    assert row_of(table, COUMARIN, "smiles", "CCO")["emission_nm"] == 450.0


def test_counts_of_the_solvent_column(table):
    assert table.kind_counts == {"smiles": 10, "solid": 2, "gas": 1, "unknown": 1}
    assert table.detail_counts[("solid", "neat")] == 1
    assert table.detail_counts[("solid", "host matrix")] == 1


def test_dropped_rows_keep_row_number_and_reason(table):
    reasons = {bad.row: bad.reason for bad in table.bad_rows}
    assert reasons[12] == "no value in 'Emission max (nm)'"
    assert reasons[13].startswith("invalid SMILES")
    assert reasons[14].startswith("unknown solvent: not a solvent name, label or SMILES")
    assert reasons[15].startswith("out of scope")
    assert len(table.bad_rows) == 4
    assert list(table.bad_rows_frame().columns) == ["row", "smiles", "reason"]


def test_summary_names_kinds_drops_and_totals(table):
    text = table.summary()
    assert "10 smiles, 1 gas, 2 solid, 1 unknown" in text
    assert "solid/neat 1" in text and "solid/host matrix 1" in text
    assert "dropped 1 row: no value in 'Emission max (nm)' (row 12)" in text
    assert "merged 2 duplicate rows" in text
    assert "-> 8 rows" in text and "2 molecules in 5 solvents" in text


def test_kinds_to_keep(tmp_path):
    path = write_csv(tmp_path / "m.csv")
    solution = read_solvent_measurements(path, kinds=("smiles",))
    assert set(solution.frame["solvent_kind"]) == {"smiles"}
    assert "solvent kind 'solid' not requested" in {bad.reason for bad in solution.bad_rows}
    selected = read_solvent_measurements(path).select_kinds(["smiles"])
    assert selected.frame.equals(solution.frame)
    with pytest.raises(ValueError, match="solvent kinds"):
        read_solvent_measurements(path, kinds=("unknown",))


def test_spread(table):
    spread = table.spread(nm=50)
    # Nile red: 540 .. 660 nm over 5 rows; coumarin: 440 .. 450 nm over 3 rows, levels 1 and 2
    assert spread == SolventSpread(
        n_molecules=2, n_multi_solvent=2, n_multi_level=2, n_multi_nm=1, nm=50.0
    )
    assert table.select_kinds(["gas"]).spread().n_multi_solvent == 0


def test_rows_of_molecules(table):
    codes = table.molecule_codes()
    assert codes.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(table.rows_of([1]), [5, 6, 7])
    assert table.solvent_counts().to_dict() == {
        "Cc1ccccc1": 1, "CS(C)=O": 1, "O": 1, "CCO": 1, "ClCCl": 1
    }


def test_other_columns_and_no_reference_column(tmp_path):
    path = write_csv(
        tmp_path / "lab.csv",
        rows=[(COUMARIN, "toluene", "455"), (COUMARIN, "MeCN", "470")],
        header=["smiles", "solvent", "lambda_em"],
    )
    table = read_solvent_measurements(
        path, smiles_column="smiles", solvent_column="solvent", value_column="lambda_em"
    )
    assert table.frame["solvent"].tolist() == ["Cc1ccccc1", "CC#N"]
    assert table.frame["solvent_detail"].tolist() == ["name", "name"]
    assert table.frame["references"].tolist() == ["", ""]


def test_missing_column_lists_the_available_ones(tmp_path):
    path = write_csv(tmp_path / "m.csv", rows=[(COUMARIN, "O", "450")],
                     header=["Chromophore", "Solvent", "Emission"])
    with pytest.raises(ValueError, match="no column 'Emission max \\(nm\\)'.*'Emission'"):
        read_solvent_measurements(path)


def test_no_usable_row(tmp_path):
    path = write_csv(tmp_path / "m.csv", rows=[(COUMARIN, "O", "")],
                     header=["Chromophore", "Solvent", "Emission max (nm)"])
    with pytest.raises(ValueError, match="no usable rows"):
        read_solvent_measurements(path)


@pytest.mark.slow
@pytest.mark.shared_data
def test_deep4chem(shared_deep4chem):
    table = read_solvent_measurements(shared_deep4chem)
    print(table.summary())
    # the Solvent column: SMILES, 19 gas rows, 956 neat solids and 321 rows in a host matrix
    assert table.kind_counts.get("unknown", 0) == 0
    assert table.kind_counts["gas"] == 19
    assert table.detail_counts[("solid", "neat")] == 956
    assert table.detail_counts[("solid", "host matrix")] == 321
    spread = table.spread()
    assert spread.n_multi_solvent > 3000
    assert spread.n_multi_level > spread.n_multi_solvent / 2
    assert spread.n_multi_nm > 1000
    frame = table.frame
    assert not frame.duplicated(["molecule", "solvent_kind", "solvent"]).any()
