"""``zincfluor predict``: one record per input molecule, in input order, every input column
kept, a rare score, and CSV/Parquet/SDF/standard output."""

import csv
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem
from rdkit.Chem import rdDepictor
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening import Predictor

runner = CliRunner()

PROBS = ["p_ultraviolet", "p_violet", "p_blue", "p_green", "p_yellow-orange", "p_red",
         "p_far-red", "p_near-infrared"]
FIELDS = ["row", "status", "reason", "notes", "canonical_smiles", "level", "level_index",
          "rare_score", *PROBS]
LIBRARY = "CCO ethanol\nC1CC broken-ring\n[Na+].[Cl-] salt\nc1ccc2ccccc2c1 naphthalene\n"
TABLE = (
    "Name;Smiles;status;price\n"
    "ethanol;CCO;bought;\"1,50\"\n"
    "broken;C1CC;made;\n"
    "salt;[Na+].[Cl-];made;0\n"
    "naphthalene;c1ccc2ccccc2c1;bought;\"say \"\"hi\"\"\"\n"
)


def predict(*args, **kwargs):
    return runner.invoke(app, ["predict", *map(str, args), "--no-progress"], **kwargs)


def read_text(path_or_text):
    source = io.StringIO(path_or_text) if isinstance(path_or_text, str) else path_or_text
    return pd.read_csv(source, dtype=str, keep_default_na=False)


def test_smi_ids_and_every_row_in_place(model_dir, tmp_path):
    source = tmp_path / "library.smi"
    source.write_text(LIBRARY)
    out = tmp_path / "pred.csv"
    result = predict(source, "--out", out, "--model", model_dir)
    assert result.exit_code == 0, result.output
    frame = read_text(out)
    assert list(frame.columns) == ["smiles", "id", *FIELDS]
    assert frame["id"].tolist() == ["ethanol", "broken-ring", "salt", "naphthalene"]
    assert frame["row"].tolist() == ["1", "2", "3", "4"]  # 1-based, like spreadsheet lines
    assert frame["status"].tolist() == ["ok", "invalid", "out_of_scope", "ok"]
    assert frame["reason"].tolist()[:3] == ["", "unclosed ring",
                                            "a lone atom or ion (not a chromophore)"]
    assert (frame.loc[1:2, ["level", "level_index", "rare_score", *PROBS]] == "").all().all()
    ok = frame[frame["status"] == "ok"]
    probs = ok[PROBS].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the rare score: the three least-trained levels, as screen's default
    np.testing.assert_allclose(ok["rare_score"].astype(float), probs[:, 5:].sum(axis=1),
                               atol=2e-6)
    assert ok["level_index"].astype(int).tolist() == probs.argmax(axis=1).tolist()  # 0-based
    assert ok["level"].tolist() == [PROBS[i][2:] for i in probs.argmax(axis=1)]
    expected = Predictor.load(model_dir, device="cpu").predict(["CCO", "c1ccc2ccccc2c1"]).probs
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert "4 rows" in result.stdout and "1 invalid" in result.stdout


def test_semicolon_csv_keeps_every_column_and_renames_status(model_dir, tmp_path):
    source = tmp_path / "library.csv"
    source.write_text(TABLE)
    out = tmp_path / "pred.csv"
    result = predict(source, "--out", out, "--model", model_dir, "--target-levels", "blue")
    assert result.exit_code == 0, result.output
    frame = read_text(out)
    assert list(frame.columns) == ["Name", "Smiles", "input_status", "price", *FIELDS]
    given = pd.read_csv(io.StringIO(TABLE), sep=";", dtype=str, keep_default_na=False)
    for column, original in [("Name", "Name"), ("Smiles", "Smiles"),
                             ("input_status", "status"), ("price", "price")]:
        assert frame[column].tolist() == given[original].tolist()
    assert frame["status"].tolist() == ["ok", "invalid", "out_of_scope", "ok"]
    ok = frame[frame["status"] == "ok"]
    assert ok["rare_score"].tolist() == ok["p_blue"].tolist()  # --target-levels blue


def test_parquet_sdf_and_standard_output_round_trip(model_dir, tmp_path):
    source = tmp_path / "library.csv"
    source.write_text(TABLE)
    text = tmp_path / "pred.csv"
    assert predict(source, "--out", text, "--model", model_dir).exit_code == 0
    expected = read_text(text)

    table = tmp_path / "pred.parquet"
    result = predict(source, "--out", table, "--model", model_dir)
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(table)
    assert list(frame.columns) == list(expected.columns)
    assert frame["row"].tolist() == [1, 2, 3, 4]
    assert pq.read_schema(table).field("level_index").type == pa.int64()
    assert frame["price"].tolist() == expected["price"].tolist()  # input text stays text
    np.testing.assert_array_equal(frame["p_red"].to_numpy(),
                                  pd.to_numeric(expected["p_red"]).to_numpy())

    sdf = tmp_path / "pred.sdf"
    result = predict(source, "--out", sdf, "--model", model_dir, "--id-column", "Name")
    assert result.exit_code == 0, result.output
    mols = list(Chem.SDMolSupplier(str(sdf), sanitize=False))
    assert [m.GetProp("_Name") for m in mols] == expected["Name"].tolist()
    for mol, (_, row) in zip(mols, expected.iterrows(), strict=True):
        assert {name: mol.GetProp(name) for name in expected.columns} == row.to_dict()
    assert mols[1].GetNumAtoms() == 0  # an unreadable SMILES: an empty structure, still a row
    assert Chem.MolToSmiles(mols[0]) == "CCO"

    result = predict(source, "--out", "-", "--model", model_dir)
    assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(read_text(result.stdout), expected)
    assert "-> standard output" in result.stderr
    result = predict(source, "--out", "-", "--format", "parquet", "--model", model_dir)
    assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(result.stdout_bytes)), frame)
    assert not (tmp_path / "-").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "library.csv", "pred.csv", "pred.parquet", "pred.sdf"]


def test_sdf_input_is_predicted_from_its_own_structures(model_dir, tmp_path):
    source = tmp_path / "dyes.sdf"
    writer = Chem.SDWriter(str(source))
    for name, smiles in [("coumarin", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1"), ("salt", "[Na+].[Cl-]"),
                         ("pyrene", "c1cc2ccc3cccc4ccc(c1)c2c34")]:
        mol = Chem.MolFromSmiles(smiles)
        rdDepictor.Compute2DCoords(mol)
        mol.SetProp("_Name", name)
        mol.SetProp("status", "in stock")
        writer.write(mol)
    writer.close()
    out = tmp_path / "pred.csv"
    result = predict(source, "--out", out, "--model", model_dir)
    assert result.exit_code == 0, result.output
    frame = read_text(out)
    assert list(frame.columns)[:3] == ["smiles", "id", "input_status"]
    assert frame["id"].tolist() == ["coumarin", "salt", "pyrene"]
    assert frame["input_status"].tolist() == ["in stock"] * 3
    assert frame["status"].tolist() == ["ok", "out_of_scope", "ok"]
    from_smiles = Predictor.load(model_dir, device="cpu").predict(
        ["CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "c1cc2ccc3cccc4ccc(c1)c2c34"]).probs
    np.testing.assert_allclose(frame.loc[[0, 2], PROBS].astype(float), from_smiles, atol=2e-6)


def test_mistakes_stop_with_one_line_and_leave_nothing(model_dir, tmp_path):
    source = tmp_path / "library.smi"
    source.write_text(LIBRARY)
    for args, message in [
        (["--out", tmp_path / "pred.xlsx"], "--format"),
        (["--out", tmp_path / "pred.csv", "--format", "json"], "json"),
        (["--out", tmp_path / "pred.csv", "--target-levels", "purple"], "purple"),
    ]:
        result = predict(source, *args, "--model", model_dir)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    result = predict(table, "--out", tmp_path / "pred.csv", "--model", model_dir,
                     "--smiles-column", "nope")
    assert result.exit_code == 2 and "nope" in result.output
    empty = tmp_path / "empty.csv"
    empty.write_text("smiles,id\n")
    result = predict(empty, "--out", tmp_path / "pred.csv", "--model", model_dir)
    assert result.exit_code == 2 and "holds no molecules" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv", "library.smi",
                                                          "table.csv"]


def test_standard_input_to_standard_output(model_dir):
    result = runner.invoke(app, ["predict", "-", "--out", "-", "--model", str(model_dir)],
                           input="CCO first\nC1CC second\n")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["id"], r["row"], r["status"]) for r in rows] == [
        ("first", "1", "ok"), ("second", "2", "invalid")]
