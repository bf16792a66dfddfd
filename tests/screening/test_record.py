"""One prediction record: field order, formatting, and the CSV/Parquet/SDF/stdout writers."""

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from zincfluor.screening.predictor import PredictionBatch
from zincfluor.screening.record import (
    RecordLayout,
    format_record,
    input_column_names,
    open_record_writer,
    prediction_rows,
    resolve_format,
    split_status,
    typed_row,
    zincfluor_fields,
)

LEVELS = ("blue", "red", "far-red")


@dataclass
class Record:
    row: int
    smiles: str
    values: tuple = ()
    problem: str | None = None
    id: str | None = None


def test_fields_come_in_the_shared_order():
    assert zincfluor_fields(LEVELS) == [
        "row", "status", "reason", "notes", "canonical_smiles", "level", "level_index",
        "rare_score", "p_blue", "p_red", "p_far-red",
    ]
    assert zincfluor_fields(LEVELS, wavelength=True, ensemble=True, ranked=True,
                            inchikey=True) == [
        "row", "rank", "status", "reason", "notes", "canonical_smiles", "level", "level_index",
        "rare_score", "p_blue", "p_red", "p_far-red", "emission_nm", "emission_nm_low",
        "emission_nm_high", "rare_score_std", "inchikey",
    ]


def test_input_columns_keep_their_names_unless_they_clash():
    fields = zincfluor_fields(LEVELS)
    assert input_column_names(["smiles", "status", "Name", "input_status"], fields) == [
        "smiles", "input_status", "Name", "input_input_status"]
    layout = RecordLayout(LEVELS, ("smiles", "row", "p_red"))
    assert layout.columns[:4] == ["smiles", "input_row", "input_p_red", "row"]


def test_split_status():
    assert split_status("ok") == ("ok", "")
    assert split_status("invalid: unclosed ring") == ("invalid", "unclosed ring")
    assert split_status("out_of_scope: a lone atom or ion (not a chromophore)") == (
        "out_of_scope", "a lone atom or ion (not a chromophore)")


def test_format_record_rounds_and_empties_unscored_rows():
    layout = RecordLayout(LEVELS, ("smiles", "id"), wavelength=True, ensemble=True, ranked=True)
    ok = format_record(layout, values=("CCO", "eth"), row=1, rank=2, status="ok",
                       notes=("a", "b"), canonical_smiles="CCO",
                       probs=[0.1234567, 0.6, 0.2765433], rare_score=0.87654321,
                       emission_nm=[512.34, 480.0, 560.06], rare_score_std=0.01)
    assert dict(zip(layout.columns, ok, strict=True)) == {
        "smiles": "CCO", "id": "eth", "row": "1", "rank": "2", "status": "ok", "reason": "",
        "notes": "a; b", "canonical_smiles": "CCO", "level": "red", "level_index": "1",
        "rare_score": "0.876543", "p_blue": "0.123457", "p_red": "0.600000",
        "p_far-red": "0.276543", "emission_nm": "512.3", "emission_nm_low": "480.0",
        "emission_nm_high": "560.1", "rare_score_std": "0.010000",
    }
    bad = format_record(layout, values=("C1CC",), row=2, status="invalid",
                        reason="unclosed ring", probs=[np.nan] * 3, rare_score=np.nan)
    assert bad == ["C1CC", "", "2", "", "invalid", "unclosed ring", "", ""] + [""] * 10
    with pytest.raises(ValueError, match="status must be one of"):
        format_record(layout, values=(), row=1, status="invalid: x")


def test_prediction_rows_keep_every_record_in_place():
    layout = RecordLayout(LEVELS, ("smiles", "id"))
    records = [Record(1, "CCO", ("CCO", "a")), Record(2, "", ("", "b"), problem="bad block"),
               Record(3, "[Na+]", ("[Na+]", "c"))]
    probs = np.array([[0.2, 0.3, 0.5], [np.nan] * 3, [np.nan] * 3], np.float32)
    batch = PredictionBatch(["CCO", "", "[Na+]"], ["CCO", None, None],
                            ["ok", "invalid: empty SMILES", "out_of_scope: a lone atom or ion"],
                            probs, notes=[(), (), ("charge neutralised",)])
    rows = prediction_rows(layout, records, batch, target_indices=[1, 2])
    table = [dict(zip(layout.columns, row, strict=True)) for row in rows]
    assert [r["row"] for r in table] == ["1", "2", "3"]
    assert [r["id"] for r in table] == ["a", "b", "c"]
    assert table[0]["rare_score"] == "0.800000" and table[0]["level"] == "far-red"
    assert table[0]["level_index"] == "2"
    assert (table[1]["status"], table[1]["reason"]) == ("invalid", "bad block")
    assert (table[2]["status"], table[2]["reason"]) == ("out_of_scope", "a lone atom or ion")
    assert table[2]["notes"] == "charge neutralised" and table[2]["rare_score"] == ""


def test_typed_row_has_numbers_and_nulls_but_keeps_input_text():
    layout = RecordLayout(LEVELS, ("smiles", "weight"))
    row = format_record(layout, values=("CCO", "46.07"), row=3, status="ok",
                        canonical_smiles="CCO", probs=[0.5, 0.25, 0.25], rare_score=0.5)
    typed = typed_row(layout, row)
    assert typed["weight"] == "46.07" and typed["row"] == 3 and typed["level_index"] == 0
    assert typed["rare_score"] == 0.5 and typed["reason"] is None and typed["p_red"] == 0.25


def test_resolve_format():
    assert resolve_format("a.csv") == "csv" and resolve_format("-") == "csv"
    assert resolve_format("a.PARQUET") == "parquet" and resolve_format("a.sdf") == "sdf"
    assert resolve_format("a.txt", "sdf") == "sdf"
    with pytest.raises(ValueError, match="--format"):
        resolve_format("a.xlsx")
    with pytest.raises(ValueError, match="unknown output format"):
        resolve_format("a.csv", "json")


LAYOUT = RecordLayout(LEVELS, ("smiles", "id", "status"), ranked=True, id_column="id")


def _rows():
    return [
        format_record(LAYOUT, values=("CCO", "eth", "new"), row=1, rank=1, status="ok",
                      canonical_smiles="CCO", probs=[0.2, 0.3, 0.5], rare_score=0.8),
        format_record(LAYOUT, values=("C1CC", "ring", "old, kept"), row=2, status="invalid",
                      reason="unclosed ring"),
    ]


def test_csv_round_trip(tmp_path):
    out = tmp_path / "out.csv"
    with open_record_writer(out, LAYOUT) as writer:
        writer.write(_rows())
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == LAYOUT.columns
    assert list(frame.columns[:4]) == ["smiles", "id", "input_status", "row"]
    assert frame["input_status"].tolist() == ["new", "old, kept"]
    assert frame["rare_score"].tolist() == ["0.800000", ""]
    assert not list(tmp_path.glob("*.part"))


def test_parquet_round_trip_has_types(tmp_path):
    out = tmp_path / "out.parquet"
    with open_record_writer(out, LAYOUT) as writer:
        writer.write(_rows()[:1])
        writer.write(_rows()[1:])
    frame = pd.read_parquet(out)
    assert list(frame.columns) == LAYOUT.columns
    assert frame["row"].tolist() == [1, 2]
    assert frame["rank"].iloc[0] == 1 and pd.isna(frame["rank"].iloc[1])
    assert frame["p_far-red"].iloc[0] == pytest.approx(0.5) and pd.isna(frame["p_red"].iloc[1])
    assert frame["input_status"].tolist() == ["new", "old, kept"]
    assert frame["reason"].iloc[1] == "unclosed ring"


def test_sdf_carries_structures_and_properties(tmp_path):
    out = tmp_path / "out.sdf"
    given = Chem.MolFromMolBlock(Chem.MolToMolBlock(Chem.MolFromSmiles("CCO")))
    with open_record_writer(out, LAYOUT) as writer:
        writer.write(_rows(), structures=[given, "C1CC"])
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False))
    assert len(mols) == 2
    assert Chem.MolToSmiles(mols[0]) == "CCO" and mols[0].GetProp("_Name") == "eth"
    assert mols[0].GetProp("p_far-red") == "0.500000" and mols[0].GetProp("rank") == "1"
    assert mols[1].GetNumAtoms() == 0 and mols[1].GetProp("reason") == "unclosed ring"
    assert mols[1].GetProp("input_status") == "old, kept" and mols[1].GetProp("_Name") == "ring"
    assert [p for p in mols[0].GetPropNames()] == LAYOUT.columns


def test_stdout_csv_and_parquet(tmp_path, capsysbinary):
    with open_record_writer("-", LAYOUT) as writer:
        writer.write(_rows())
    text = capsysbinary.readouterr().out.decode()
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert frame["id"].tolist() == ["eth", "ring"] and list(frame.columns) == LAYOUT.columns
    with open_record_writer("-", LAYOUT, "parquet") as writer:
        writer.write(_rows())
    frame = pd.read_parquet(io.BytesIO(capsysbinary.readouterr().out))
    assert frame["row"].tolist() == [1, 2]
    assert not list(tmp_path.iterdir())


def test_an_error_leaves_nothing_behind(tmp_path):
    for suffix in (".csv", ".parquet", ".sdf"):
        out = tmp_path / f"out{suffix}"
        with pytest.raises(RuntimeError), open_record_writer(out, LAYOUT) as writer:
            writer.write(_rows())
            raise RuntimeError("stop")
        assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_a_csv_on_standard_output_starts_with_its_first_rows(capsysbinary):
    with pytest.raises(ValueError), open_record_writer("-", LAYOUT) as writer:
        raise ValueError("the input holds no molecules")
    assert capsysbinary.readouterr().out == b""  # no header without rows, on an error
    with open_record_writer("-", LAYOUT) as writer:
        writer.write([])
    assert capsysbinary.readouterr().out.decode().splitlines() == [",".join(LAYOUT.columns)]
