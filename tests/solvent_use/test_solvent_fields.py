"""The pieces of solvent-aware predictions that need no trained model: where a model folder's
solvent model lives, the record's solvent fields, where each input row's solvent comes from."""

from __future__ import annotations

import json

import pytest

from zincfluor.commands.screen import SOLVENT_HELP, documented_solvents
from zincfluor.data.solvents import UnknownSolventError, solvent_names
from zincfluor.screening.inputs import InputRecord
from zincfluor.screening.record import RecordLayout, format_record, typed_row, zincfluor_fields
from zincfluor.screening.solvent_model import (
    NO_SOLVENT_MODEL,
    RowSolvents,
    SolventFields,
    resolve_row_solvents,
)
from zincfluor.train.checkpoint import (
    SOLVENT_FOLDER,
    model_checkpoint_paths,
    resolve_solvent_model_paths,
)

LEVELS = ("blue", "red")


def test_model_checkpoint_paths_end_with_the_solvent_model(tmp_path):
    for name in ("checkpoint.pt", "wavelength/checkpoint.pt", "solvent/member-0/checkpoint.pt",
                 "solvent/member-1/checkpoint.pt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / SOLVENT_FOLDER / "ensemble.json").write_text(json.dumps(
        {"members": ["member-0/checkpoint.pt", "member-1/checkpoint.pt"]}))
    paths = [p.relative_to(tmp_path).as_posix() for p in model_checkpoint_paths(tmp_path)]
    assert paths == ["checkpoint.pt", "wavelength/checkpoint.pt",
                     "solvent/member-0/checkpoint.pt", "solvent/member-1/checkpoint.pt"]
    assert len(resolve_solvent_model_paths(tmp_path)) == 2
    assert resolve_solvent_model_paths(tmp_path / "wavelength") == []


def test_the_solvent_fields_follow_canonical_smiles_only_with_a_solvent_model():
    plain = zincfluor_fields(LEVELS, wavelength=True)
    assert "solvent" not in plain and "solvent_seen" not in plain
    fields = zincfluor_fields(LEVELS, wavelength=True, solvent=True)
    at = fields.index("canonical_smiles")
    assert fields[at + 1 : at + 4] == ["solvent", "solvent_seen", "level"]
    assert [f for f in fields if f not in ("solvent", "solvent_seen")] == plain


def test_a_record_writes_its_solvent_scored_or_not_and_json_reads_a_boolean():
    layout = RecordLayout(LEVELS, ("smiles",), solvent=True)
    row = format_record(layout, values=["CCO"], row=1, status="ok", canonical_smiles="CCO",
                        probs=[0.25, 0.75], rare_score=0.75, solvent="Cc1ccccc1",
                        solvent_seen=False)
    typed = typed_row(layout, row)
    assert (typed["solvent"], typed["solvent_seen"], typed["level"]) == ("Cc1ccccc1", False,
                                                                          "red")
    invalid = format_record(layout, values=["C1CC"], row=2, status="invalid", reason="ring",
                            solvent="O", solvent_seen=True)
    assert typed_row(layout, invalid)["solvent"] == "O"
    assert typed_row(layout, invalid)["solvent_seen"] is True
    none = typed_row(layout, format_record(layout, values=["CCO"], row=3, status="ok",
                                           probs=[0.5, 0.5], rare_score=0.5))
    assert none["solvent"] is None and none["solvent_seen"] is None
    assert SolventFields(["O", None], [False, None]).text(0) == ("O", "false")
    assert SolventFields(["O", None], [False, None]).text(1) == ("", "")


def _records(*solvents):
    return [InputRecord(k + 1, "CCO", None, ("CCO", s)) for k, s in enumerate(solvents)]


def test_row_solvents_reads_a_column_named_solvent_only_with_a_solvent_model():
    columns = ("smiles", "Solvent")
    assert RowSolvents(columns, has_model=True)(_records("toluene", "", "MeCN")) == [
        "Cc1ccccc1", None, "CC#N"]
    assert RowSolvents(columns, has_model=False)(_records("toluene")) is None
    assert RowSolvents(("smiles", "medium"), column="medium", has_model=True)(
        _records("water")) == ["O"]
    assert RowSolvents(columns, solvent="EtOH", has_model=True)(_records("toluene", "")) == [
        "CCO", "CCO"]


def test_row_solvents_refuses_with_one_line_naming_the_fix():
    with pytest.raises(ValueError, match="not both"):
        RowSolvents(("smiles",), solvent="water", column="x", has_model=True)
    with pytest.raises(ValueError, match="no such column.*smiles, solvent"):
        RowSolvents(("smiles", "solvent"), column="medium", has_model=True)
    with pytest.raises(ValueError) as error:
        RowSolvents(("smiles",), solvent="water", has_model=False)
    assert str(error.value) == NO_SOLVENT_MODEL and "--solvent-model" in NO_SOLVENT_MODEL
    with pytest.raises(UnknownSolventError, match=r"^--solvent: unknown solvent 'tolune'.*"
                       r"did you mean 'toluene'.*SMILES or a documented name"):
        RowSolvents(("smiles",), solvent="tolune", has_model=True)
    reader = RowSolvents(("smiles", "solvent"), has_model=True)
    with pytest.raises(UnknownSolventError,
                       match=r"^row 2, column 'solvent': unknown solvent") as unknown:
        reader(_records("water", "watr"))
    assert "\n" not in str(unknown.value)


def test_resolve_row_solvents_takes_names_smiles_and_blanks():
    assert resolve_row_solvents(["Toluene", "ClCCl", None, "  ", "DCM"]) == [
        "Cc1ccccc1", "ClCCl", None, None, "ClCCl"]


def test_help_names_the_documented_solvents():
    names = documented_solvents()
    assert names == solvent_names()[: len(names)] and len(names) >= 10
    assert all(name in SOLVENT_HELP for name in ("toluene", "water", "acetonitrile"))


def test_the_ray_engines_top_file_keeps_the_solvent_fields(tmp_path):
    import csv

    from zincfluor.screening.ray_engine import merge_top, shard_info, write_top

    fields = ["ok", "", "", "CCO", "O", "false", "red", "1", "0.700000", "0.300000", "0.700000"]
    shard = {"index": 0, "input_columns": ["smiles"], "id_column": None,
             "top": [[0, -0.7, 1, ["CCO", "1", *fields]]]}
    layout = RecordLayout(LEVELS, solvent=True)
    write_top(tmp_path / "top.csv", layout, merge_top([shard], 5), [shard_info(shard)], "csv")
    with open(tmp_path / "top.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["solvent"], row["solvent_seen"], row["level"], row["rank"]) == (
        "O", "false", "red", "1")
