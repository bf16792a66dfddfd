"""``zincfluor screen``: ranking, invalid rows, --top, --target-levels, chunked merging, and
the prediction record it writes (input columns kept, CSV/Parquet/SDF/stdout)."""

import csv
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening import Predictor
from zincfluor.screening.screen import screen_library

runner = CliRunner()

LIBRARY = """\
CCO ethanol
C1CC broken-ring
CN(C)c1ccc(C=Cc2ccccc2)cc1 stilbene
not_a_smiles typo

c1ccc2ccccc2c1 naphthalene
O=C(O)c1ccccc1 benzoic
CN(C)c1ccc(C=Cc2ccccc2)cc1 stilbene-again
N#CCCC butyronitrile
Oc1ccc(cc1)/C=C/c1ccc(N(C)C)cc1 hydroxy-stilbene
"""
N_ROWS = 10
INVALID_ROWS = {2, 4, 5}
PROBS = ["p_ultraviolet", "p_violet", "p_blue", "p_green", "p_yellow-orange", "p_red",
         "p_far-red", "p_near-infrared"]
FIELDS = ["row", "rank", "status", "reason", "notes", "canonical_smiles", "level", "level_index",
          "rare_score", *PROBS]


@pytest.fixture
def library(tmp_path):
    path = tmp_path / "library.smi"
    path.write_text(LIBRARY)
    return path


def screen(*args):
    return runner.invoke(app, ["screen", *map(str, args), "--no-progress"])


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_are_ranked_by_rare_score_and_invalid_rows_come_last(model_dir, library, tmp_path):
    out = tmp_path / "ranked.csv"
    result = screen(library, "--out", out, "--model", model_dir, "--jobs", "1")
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert len(rows) == N_ROWS
    assert list(rows[0]) == ["smiles", "id", *FIELDS]
    valid, invalid = rows[: N_ROWS - len(INVALID_ROWS)], rows[N_ROWS - len(INVALID_ROWS):]
    assert [r["rank"] for r in valid] == [str(i) for i in range(1, len(valid) + 1)]
    assert all(r["status"] == "ok" for r in valid)
    scores = [float(r["rare_score"]) for r in valid]
    assert scores == sorted(scores, reverse=True)
    for r in valid:
        tail = sum(float(r[p]) for p in ("p_red", "p_far-red", "p_near-infrared"))
        assert abs(tail - float(r["rare_score"])) < 1e-5
        probs = [float(r[p]) for p in PROBS]
        assert r["level_index"] == str(int(np.argmax(probs)))  # 0-based, like the classes
        assert r["level"] == PROBS[int(r["level_index"])][2:]
    assert {int(r["row"]) for r in invalid} == INVALID_ROWS
    assert [r["rank"] for r in invalid] == ["", "", ""]
    assert [r["row"] for r in invalid] == ["2", "4", "5"]  # input order among invalid rows
    assert (invalid[0]["status"], invalid[0]["reason"]) == ("invalid", "unclosed ring")
    assert (invalid[2]["status"], invalid[2]["reason"]) == ("invalid", "empty SMILES")
    assert all(r["reason"] == "" for r in valid)
    assert all(r["rare_score"] == "" and r["p_red"] == "" for r in invalid)
    by_id = {r["id"]: r for r in rows}
    assert by_id["benzoic"]["canonical_smiles"] == "O=C(O)c1ccccc1"
    # scores are the predictor's own
    predictor = Predictor.load(model_dir, device="cpu")
    smiles = [r["smiles"] for r in valid]
    expected = predictor.predict(smiles).probs[:, 5:].sum(axis=1)
    np.testing.assert_allclose(scores, expected, atol=2e-6)
    # the same molecule twice: equal scores, input order kept
    stilbenes = [r["row"] for r in valid if r["id"].startswith("stilbene")]
    assert stilbenes == ["3", "8"]
    assert by_id["stilbene"]["rare_score"] == by_id["stilbene-again"]["rare_score"]
    assert "molecules/s" in result.output


def test_top_keeps_the_best_rows(model_dir, library, tmp_path):
    full, top = tmp_path / "full.csv", tmp_path / "top.csv"
    assert screen(library, "--out", full, "--model", model_dir, "--jobs", "1").exit_code == 0
    result = screen(library, "--out", top, "--model", model_dir, "--top", "3", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert read(top) == read(full)[:3]
    # more than there are valid rows: the invalid ones follow
    result = screen(library, "--out", top, "--model", model_dir, "--top", "9", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert read(top) == read(full)[:9]


def test_target_levels_choose_the_score(model_dir, library, tmp_path):
    out = tmp_path / "red.csv"
    result = screen(library, "--out", out, "--model", model_dir, "--target-levels", "red,blue",
                    "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "p(blue + red)" in " ".join(result.output.split())
    rows = [r for r in read(out) if r["status"] == "ok"]
    for r in rows:
        assert abs(float(r["p_red"]) + float(r["p_blue"]) - float(r["rare_score"])) < 1e-5
    scores = [float(r["rare_score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)

    result = screen(library, "--out", out, "--model", model_dir, "--target-levels", "purple")
    assert result.exit_code == 2
    assert "purple" in result.output and "near-infrared" in result.output


def test_chunked_ranking_equals_one_chunk(model_dir, library, tmp_path):
    predictor = Predictor.load(model_dir, device="cpu", batch_size=2)
    one = tmp_path / "one.csv"
    screen_library(predictor, library, one, target_levels=[5, 6, 7], jobs=1)
    for jobs in (1, 2):
        many = tmp_path / f"many{jobs}.csv"
        summary = screen_library(
            predictor, library, many, target_levels=[5, 6, 7], jobs=jobs, chunk_size=3,
            run_size=2,
        )
        assert summary.rows == N_ROWS and summary.invalid == len(INVALID_ROWS)
        assert many.read_text() == one.read_text()
    assert not list(tmp_path.glob(".*"))  # temporary runs removed
    assert not list(tmp_path.glob("*.part"))


def test_top_with_tiny_chunks_equals_full_ranking(model_dir, library, tmp_path):
    predictor = Predictor.load(model_dir, device="cpu")
    full, top = tmp_path / "full.csv", tmp_path / "top.csv"
    screen_library(predictor, library, full, target_levels=[6, 7], jobs=1)
    screen_library(predictor, library, top, target_levels=[6, 7], jobs=1, top=2, chunk_size=2)
    assert read(top) == read(full)[:2]


def test_csv_input_with_a_smiles_column(model_dir, tmp_path):
    source = tmp_path / "library.csv"
    source.write_text("name,structure\na,CCO\nb,C1CC\nc,c1ccccc1O\n")
    out = tmp_path / "ranked.csv"
    result = screen(source, "--out", out, "--model", model_dir, "--smiles-column", "structure")
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert list(rows[0])[:3] == ["name", "structure", "row"]
    assert [r["row"] for r in rows][-1] == "2"  # rows count molecules from 1; the invalid last
    assert {(r["row"], r["name"], r["structure"]) for r in rows} == {
        ("1", "a", "CCO"), ("2", "b", "C1CC"), ("3", "c", "c1ccccc1O")}


def test_empty_input_is_an_error_and_writes_nothing(model_dir, tmp_path):
    source = tmp_path / "empty.smi"
    source.write_text("")
    out = tmp_path / "ranked.csv"
    result = screen(source, "--out", out, "--model", model_dir)
    assert result.exit_code == 2
    assert "holds no molecules" in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    header_only = tmp_path / "header.csv"
    header_only.write_text("smiles,id\n")
    result = screen(header_only, "--out", out, "--model", model_dir)
    assert result.exit_code == 2, result.output
    assert "holds no molecules" in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    assert not list(tmp_path.glob(".*"))
    missing = screen(tmp_path / "nope.smi", "--out", out, "--model", model_dir)
    assert missing.exit_code == 2 and "does not exist" in " ".join(missing.output.split())


def test_without_model_the_default_model_is_used(model_dir, library, tmp_path, monkeypatch):
    from zincfluor.screening.card import ship_model

    shipped = tmp_path / "shipped"
    ship_model(model_dir, shipped, name="tiny", command="test", target_levels=["far-red"])
    monkeypatch.setenv("ZINCFLUOR_MODEL", str(shipped))
    out = tmp_path / "ranked.csv"
    result = screen(library, "--out", out)
    assert result.exit_code == 0, result.output
    assert "p(far-red)" in result.output  # the card's target levels
    row = read(out)[0]
    assert abs(float(row["rare_score"]) - float(row["p_far-red"])) < 1e-6
    predicted = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(library), "--out", str(predicted),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output

    rows = read(predicted)
    assert abs(float(rows[0]["rare_score"]) - float(rows[0]["p_far-red"])) < 1e-6

    monkeypatch.setenv("ZINCFLUOR_MODEL", str(tmp_path / "absent"))
    result = screen(library, "--out", out)
    assert result.exit_code == 2
    assert "zincfluor model ship" in " ".join(result.output.split())


TABLE = (
    'name,SMILES,status,note\n'
    'ethanol,CCO,bought,"cheap, clear"\n'
    'ring,C1CC,made,\n'
    'salt,[Na+].[Cl-],made,lone ions\n'
    'stilbene,CN(C)c1ccc(C=Cc2ccccc2)cc1,bought,"a ""quoted"" note"\n'
)


def test_every_input_column_is_carried_through_in_order(model_dir, tmp_path):
    source = tmp_path / "library.csv"
    source.write_text(TABLE)
    out = tmp_path / "ranked.csv"
    result = screen(source, "--out", out, "--model", model_dir, "--jobs", "1")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["name", "SMILES", "input_status", "note", *FIELDS]
    given = pd.read_csv(io.StringIO(TABLE), dtype=str, keep_default_na=False)
    by_row = frame.set_index(frame["row"].astype(int)).sort_index()
    assert by_row["name"].tolist() == given["name"].tolist()
    assert by_row["SMILES"].tolist() == given["SMILES"].tolist()
    assert by_row["input_status"].tolist() == given["status"].tolist()
    assert by_row["note"].tolist() == given["note"].tolist()
    assert by_row["status"].tolist() == ["ok", "invalid", "out_of_scope", "ok"]
    assert frame["rank"].tolist() == ["1", "2", "", ""]  # ranks among scored rows only
    assert frame["row"].tolist()[2:] == ["2", "3"]  # unscored rows last, in input order


def test_screen_and_predict_write_the_same_record(model_dir, tmp_path):
    source = tmp_path / "library.csv"
    source.write_text(TABLE)
    ranked, predicted = tmp_path / "ranked.csv", tmp_path / "predicted.csv"
    assert screen(source, "--out", ranked, "--model", model_dir).exit_code == 0
    result = runner.invoke(app, ["predict", str(source), "--out", str(predicted), "--model",
                                 str(model_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    screened = pd.read_csv(ranked, dtype=str, keep_default_na=False)
    screened = screened.drop(columns="rank").sort_values("row", key=lambda c: c.astype(int))
    pd.testing.assert_frame_equal(
        screened.reset_index(drop=True), pd.read_csv(predicted, dtype=str, keep_default_na=False)
    )


def test_parquet_output_has_the_csv_values_as_numbers(model_dir, library, tmp_path):
    text, table = tmp_path / "ranked.csv", tmp_path / "ranked.parquet"
    assert screen(library, "--out", text, "--model", model_dir, "--jobs", "1").exit_code == 0
    result = screen(library, "--out", table, "--model", model_dir, "--jobs", "1")
    assert result.exit_code == 0, result.output
    frame, rows = pd.read_parquet(table), read(text)
    assert list(frame.columns) == ["smiles", "id", *FIELDS]
    assert frame["row"].tolist() == [int(r["row"]) for r in rows]
    assert frame["rank"].tolist()[:7] == list(range(1, 8)) and frame["rank"].isna().sum() == 3
    assert frame["rare_score"].tolist()[:7] == [float(r["rare_score"]) for r in rows[:7]]
    assert frame["reason"].tolist()[7:] == [r["reason"] for r in rows[7:]]
    schema = pq.read_schema(table)
    assert schema.field("level_index").type == pa.int64() == schema.field("rank").type
    assert schema.field("p_red").type == pa.float64() and schema.field("id").type == pa.string()


def test_sdf_in_sdf_out_keeps_structures_and_properties(model_dir, tmp_path):
    source = tmp_path / "dyes.sdf"
    writer = Chem.SDWriter(str(source))
    for name, smiles, supplier in [("coumarin", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "acme"),
                                   ("ethanol", "CCO", "sigma"), ("anthracene",
                                   "c1ccc2cc3ccccc3cc2c1", "acme")]:
        mol = Chem.MolFromSmiles(smiles)
        Chem.rdDepictor.Compute2DCoords(mol)
        mol.SetProp("_Name", name)
        mol.SetProp("supplier", supplier)
        writer.write(mol)
    writer.close()
    out = tmp_path / "ranked.sdf"
    result = screen(source, "--out", out, "--model", model_dir, "--jobs", "1")
    assert result.exit_code == 0, result.output
    mols = list(Chem.SDMolSupplier(str(out)))
    assert len(mols) == 3 and all(m is not None for m in mols)
    given = {m.GetProp("_Name"): m for m in Chem.SDMolSupplier(str(source))}
    for mol in mols:
        name = mol.GetProp("_Name")
        assert mol.GetProp("id") == name and mol.GetProp("supplier") == given[name].GetProp(
            "supplier")
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(given[name])
        assert np.allclose(mol.GetConformer().GetPositions(),
                           given[name].GetConformer().GetPositions(), atol=1e-3)
        assert mol.GetProp("status") == "ok" and float(mol.GetProp("rare_score")) >= 0
    assert [m.GetProp("rank") for m in mols] == ["1", "2", "3"]


def test_standard_output_carries_only_the_rows(model_dir, library, tmp_path):
    out = tmp_path / "ranked.csv"
    assert screen(library, "--out", out, "--model", model_dir, "--jobs", "1").exit_code == 0
    result = runner.invoke(app, ["screen", str(library), "--out", "-", "--model", str(model_dir),
                                 "--jobs", "1", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == out.read_text()
    assert "-> standard output" in result.stderr
    assert not (tmp_path / "-").exists() and not list(tmp_path.glob(".*"))


def test_sdf_and_parquet_rankings_survive_merging_and_top(model_dir, library, tmp_path):
    predictor = Predictor.load(model_dir, device="cpu")
    outputs = {}
    for suffix in (".sdf", ".parquet"):
        one, many = tmp_path / f"one{suffix}", tmp_path / f"many{suffix}"
        top = tmp_path / f"top{suffix}"
        screen_library(predictor, library, one, target_levels=[5, 6, 7], jobs=1)
        screen_library(predictor, library, many, target_levels=[5, 6, 7], jobs=1, chunk_size=3,
                       run_size=2)
        screen_library(predictor, library, top, target_levels=[5, 6, 7], jobs=1, top=4,
                       chunk_size=2)
        outputs[suffix] = one, many, top
    one, many, top = outputs[".sdf"]
    assert many.read_bytes() == one.read_bytes()
    names = [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(one), sanitize=False)]
    assert len(names) == N_ROWS
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(top))] == names[:4]
    one, many, top = outputs[".parquet"]
    assert pq.read_table(many).equals(pq.read_table(one))
    assert pq.read_table(top).equals(pq.read_table(one).slice(0, 4))
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))


def test_unknown_output_suffix_asks_for_a_format(model_dir, library, tmp_path):
    out = tmp_path / "ranked.xlsx"
    result = screen(library, "--out", out, "--model", model_dir)
    assert result.exit_code == 2 and "--format" in result.output
    assert not out.exists()
    result = screen(library, "--out", out, "--model", model_dir, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert read(out)[0]["rank"] == "1"
