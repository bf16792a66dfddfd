import numpy as np
import pandas as pd
import pytest

from zincfluor.data.labels import EMISSION8, LabelScheme, categorical_scheme
from zincfluor.data.tables import BadRow, MoleculeTable, read_measurements


def write_csv(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def measurements_with_bad_rows(tmp_path):
    return write_csv(
        tmp_path / "measurements.csv",
        "smiles,emission,solvent\n"
        "CCO,350,water\n"  # row 2
        "OCC,360,methanol\n"  # row 3: same molecule, other spelling
        "C1CC,400,water\n"  # row 4: unclosed ring
        "CCCC,,water\n"  # row 5: no value
        "c1ccccc1,abc,water\n"  # row 6: not a number
        ",420,water\n"  # row 7: no SMILES
        "c1ccccc1,410,water\n"  # row 8
        "C(C)O,500,ethanol\n"  # row 9: ethanol again
        "Oc1ccccc1,780,water\n"  # row 10
        "CC(C,450,water\n"  # row 11: extra open parenthesis
        "CCN,inf,water\n",  # row 12: infinite
    )


def test_bad_rows_have_spreadsheet_row_numbers_and_reasons(measurements_with_bad_rows):
    table = read_measurements(
        measurements_with_bad_rows, smiles_column="smiles", value_column="emission"
    )
    assert table.bad_rows == [
        BadRow(4, "C1CC", "invalid SMILES: unclosed ring"),
        BadRow(5, "CCCC", "no value in 'emission'"),
        BadRow(6, "c1ccccc1", "non-numeric value in 'emission'"),
        BadRow(7, "", "no SMILES"),
        BadRow(11, "CC(C", "invalid SMILES: extra open parentheses"),
        BadRow(12, "CCN", "infinite value in 'emission'"),
    ]
    assert table.n_rows == 11


def test_rows_of_one_molecule_are_merged_by_median(measurements_with_bad_rows):
    table = read_measurements(
        measurements_with_bad_rows, smiles_column="smiles", value_column="emission"
    )
    assert table.smiles == ["CCO", "c1ccccc1", "Oc1ccccc1"]
    assert table.values.tolist() == [360.0, 410.0, 780.0]
    assert table.labels.tolist() == [0, 1, 7]
    assert table.n_measurements.tolist() == [3, 1, 1]
    assert table.scheme is EMISSION8
    assert table.class_counts().tolist() == [1, 1, 0, 0, 0, 0, 0, 1]


def test_mean_aggregate(measurements_with_bad_rows):
    table = read_measurements(
        measurements_with_bad_rows,
        smiles_column="smiles",
        value_column="emission",
        aggregate="mean",
    )
    assert table.values[0] == pytest.approx((350 + 360 + 500) / 3)
    assert table.labels[0] == 1  # 403.3 nm; the median, 360 nm, is level 0
    with pytest.raises(ValueError, match="aggregate"):
        read_measurements(measurements_with_bad_rows, value_column="emission", aggregate="max")


def test_summary_counts_reasons_and_lists_rows(tmp_path):
    lines = ["smiles,emission"] + ["CCO,410"] + [f"C{'C' * i}O," for i in range(7)]
    path = write_csv(tmp_path / "gaps.csv", "\n".join(lines) + "\n")
    table = read_measurements(path, value_column="emission")
    summary = table.summary()
    assert "8 rows, 1 used, 7 skipped -> 1 molecules" in summary
    assert "skipped 7 rows: no value in 'emission' (rows 3, 4, 5, 6, 7, ...)" in summary


def test_bad_rows_frame_and_csv(measurements_with_bad_rows, tmp_path):
    table = read_measurements(measurements_with_bad_rows, value_column="emission")
    frame = table.bad_rows_frame()
    assert list(frame.columns) == ["row", "smiles", "reason"]
    assert frame["row"].tolist() == [4, 5, 6, 7, 11, 12]
    written = pd.read_csv(table.write_bad_rows(tmp_path / "bad.csv"), keep_default_na=False)
    assert written["reason"].tolist() == frame["reason"].tolist()


def test_deep4chem_layout_is_recognised_without_options(tmp_path):
    path = write_csv(
        tmp_path / "deep4chem.csv",
        "Tag,Chromophore,Solvent,Absorption max (nm),Emission max (nm),Quantum yield\n"
        "1,c1ccc2ccccc2c1,ClCCl,300,336,0.2\n"
        "2,c1ccc2ccccc2c1,CO,301,340,NaN\n"
        "3,c1ccc2ccccc2c1,O,302,NaN,NaN\n"
        "4,O=c1ccc2ccccc2o1,CO,320,455,0.1\n",
        encoding="utf-8-sig",
    )
    table = read_measurements(path)
    assert table.smiles == ["c1ccc2ccccc2c1", "O=c1ccc2ccccc2o1"]
    assert table.values.tolist() == [338.0, 455.0]
    assert table.labels.tolist() == [0, 2]
    assert table.bad_rows == [BadRow(4, "c1ccc2ccccc2c1", "no value in 'Emission max (nm)'")]
    assert table.source == str(path)


def test_custom_value_scheme(measurements_with_bad_rows):
    halves = LabelScheme("halves", ("short", "long"), (400.0,))
    table = read_measurements(measurements_with_bad_rows, value_column="emission", scheme=halves)
    assert table.labels.tolist() == [0, 1, 1]
    assert table.class_counts().tolist() == [1, 2]


def test_tab_separated_file(tmp_path):
    path = write_csv(tmp_path / "values.tsv", "SMILES\tnm\nCCO\t610\n")
    table = read_measurements(path, value_column="nm")
    assert table.smiles == ["CCO"]
    assert table.labels.tolist() == [4]


def test_missing_columns_are_named_with_the_available_ones(measurements_with_bad_rows):
    with pytest.raises(ValueError, match=r"no value column 'nm'.*'smiles', 'emission', 'solvent'"):
        read_measurements(measurements_with_bad_rows, value_column="nm")
    with pytest.raises(ValueError, match=r"no SMILES column 'mol'.*Available columns"):
        read_measurements(measurements_with_bad_rows, smiles_column="mol", value_column="emission")
    with pytest.raises(ValueError, match=r"no label column 'level'"):
        read_measurements(measurements_with_bad_rows, label_column="level")
    with pytest.raises(ValueError, match=r"not the Deep4Chem file.*value_column.*label_column"):
        read_measurements(measurements_with_bad_rows)


def test_no_smiles_column_found(tmp_path):
    path = write_csv(tmp_path / "x.csv", "molecule,emission\nCCO,400\n")
    with pytest.raises(ValueError, match=r"no SMILES column found.*'molecule', 'emission'"):
        read_measurements(path, value_column="emission")


def test_value_and_label_column_together_are_refused(measurements_with_bad_rows):
    with pytest.raises(ValueError, match="not both"):
        read_measurements(measurements_with_bad_rows, value_column="emission", label_column="x")


def test_categorical_scheme_cannot_bin_values(measurements_with_bad_rows):
    with pytest.raises(ValueError, match="categorical"):
        read_measurements(
            measurements_with_bad_rows, value_column="emission", scheme=categorical_scheme("ab")
        )


def test_file_without_usable_rows(tmp_path):
    path = write_csv(tmp_path / "empty.csv", "smiles,emission\nC1CC,400\nCCO,\n")
    with pytest.raises(ValueError, match=r"no usable rows(.|\n)*unclosed ring"):
        read_measurements(path, value_column="emission")


@pytest.fixture
def integer_labels(tmp_path):
    return write_csv(
        tmp_path / "zincfluor.csv",
        "smiles,Fluor Value\n"
        "CCO,2\n"  # row 2
        "OCC,2\n"  # row 3
        "C(C)O,5\n"  # row 4: ethanol 2, 2, 5 -> 2 (conflict)
        "c1ccccc1,3\n"  # row 5
        "c1ccccc1,1\n"  # row 6: benzene 3, 1 -> tie -> 1 (conflict)
        "CCN,8\n"  # row 7: out of range for 8 levels
        "CCCl,2.5\n"  # row 8: not a whole number
        "CCBr,\n"  # row 9: no label
        "CCCC,7.0\n",  # row 10
    )


def test_label_column_takes_the_most_frequent_label(integer_labels):
    table = read_measurements(integer_labels, label_column="Fluor Value")
    assert table.smiles == ["CCO", "c1ccccc1", "CCCC"]
    assert table.labels.tolist() == [2, 1, 7]
    assert table.values is None
    assert table.n_measurements.tolist() == [3, 2, 1]
    assert table.n_conflicting == 2
    assert table.scheme.is_categorical
    assert table.scheme.names == EMISSION8.names
    assert "2 molecules have conflicting labels" in table.summary()


def test_label_column_bad_rows(integer_labels):
    table = read_measurements(integer_labels, label_column="Fluor Value")
    assert table.bad_rows == [
        BadRow(7, "CCN", "label in 'Fluor Value' outside 0..7"),
        BadRow(8, "CCCl", "label in 'Fluor Value' is not a whole number"),
        BadRow(9, "CCBr", "no label in 'Fluor Value'"),
    ]


def test_label_column_range_follows_the_given_scheme(integer_labels):
    three = categorical_scheme(["dim", "medium", "bright"], name="brightness")
    table = read_measurements(integer_labels, label_column="Fluor Value", scheme=three)
    assert table.smiles == ["CCO", "c1ccccc1"]
    assert table.labels.tolist() == [2, 1]
    assert table.scheme.names == ("dim", "medium", "bright")
    assert [bad.row for bad in table.bad_rows] == [4, 5, 7, 8, 9, 10]


def test_label_names_of_the_scheme_keep_its_order(tmp_path):
    path = write_csv(tmp_path / "names.csv", "smiles,colour\nCCO,red\nCCN, violet\nCCC,red\n")
    table = read_measurements(path, label_column="colour")
    assert table.scheme.names == EMISSION8.names
    assert table.labels.tolist() == [5, 1, 5]


def test_unknown_label_names_become_sorted_classes(tmp_path):
    path = write_csv(
        tmp_path / "names.csv", "smiles,kind\nCCO,weak\nCCN,strong\nCCC,medium\nOCC,strong\n"
    )
    table = read_measurements(path, label_column="kind")
    assert table.scheme.names == ("medium", "strong", "weak")
    assert table.scheme.is_categorical
    assert table.smiles == ["CCO", "CCN", "CCC"]
    assert table.labels.tolist() == [1, 1, 0]  # ethanol: weak vs strong tie -> lowest level
    assert table.n_conflicting == 1


def test_molecule_table_checks_column_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        MoleculeTable(
            smiles=["C", "CC"],
            labels=np.array([0]),
            values=None,
            n_measurements=np.array([1, 1]),
            scheme=EMISSION8,
            source="test",
            n_rows=2,
        )
