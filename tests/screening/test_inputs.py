import pytest

from zincfluor.screening.inputs import detect_smiles_column, read_molecule_inputs


def test_smi_rows_keep_blank_lines_and_ids(tmp_path):
    path = tmp_path / "lib.smi"
    path.write_text("SMILES Name\nCCO ethanol\n\nc1ccccc1\n")
    records = list(read_molecule_inputs(path))
    assert [(r.row, r.smiles, r.id) for r in records] == [
        (1, "CCO", "ethanol"), (2, "", None), (3, "c1ccccc1", None)
    ]


def test_csv_smiles_column_found_by_name_or_by_content(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text("id,Chromophore,value\n1,CCO,3\n2,CCN,4\n")
    assert [r.smiles for r in read_molecule_inputs(named)] == ["CCO", "CCN"]
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("id,structure\n1,c1ccccc1O\n2,CC(=O)O\n")
    records = list(read_molecule_inputs(unnamed))
    assert [(r.row, r.smiles) for r in records] == [(1, "c1ccccc1O"), (2, "CC(=O)O")]


def test_csv_without_smiles_asks_for_the_column(tmp_path):
    with pytest.raises(ValueError, match="--smiles-column"):
        detect_smiles_column(["a", "b"], [["1", "2"], ["3", "4"]])
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not in the input"):
        list(read_molecule_inputs(path, smiles_column="smiles"))
