"""The Ray engine's parts that need no Ray: input expansion, the manifest and its refusals,
the global top-K merge, one shard scored in this process, and the CLI's checks."""

import csv
import dataclasses
import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening.card import model_sha256
from zincfluor.screening.predictor import Predictor
from zincfluor.screening.ray_engine import (
    MANIFEST,
    RaySettings,
    build_manifest,
    check_manifest,
    expand_inputs,
    merge_top,
    score_shard,
    screen_on_ray,
    shard_info,
    shard_stem,
    write_top,
)
from zincfluor.screening.record import RecordLayout
from zincfluor.train.checkpoint import resolve_member_paths

SETTINGS = RaySettings(("red", "far-red"), 10)


def test_expand_inputs_files_then_sorted_folder(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ["b.smi", "a.csv.gz", "c.parquet", "notes.md", ".hidden.smi"]:
        (folder / name).write_text("x")
    single = tmp_path / "z.sdf"
    single.write_text("x")
    found = expand_inputs([single, folder])
    assert [p.name for p in found] == ["z.sdf", "a.csv.gz", "b.smi", "c.parquet"]


@pytest.mark.parametrize(("sources", "message"), [
    (["-"], "not standard input"),
    (["missing.smi"], "no such input file or folder"),
    (["empty"], "holds no input files"),
    (["x.smi", "x.smi"], "given twice"),
    ([], "no inputs given"),
])
def test_expand_inputs_errors(tmp_path, monkeypatch, sources, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.smi").write_text("CCO\n")
    with pytest.raises(ValueError, match=message):
        expand_inputs(sources)


def _manifest(tmp_path, model_hash="a" * 64, settings=SETTINGS, names=("x.smi",)):
    inputs = []
    for name in names:
        path = tmp_path / name
        if not path.exists():
            path.write_text("CCO\n")
        inputs.append(path)
    return build_manifest(inputs, model_hash, settings)


def test_manifest_none_then_same_then_refusals(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    manifest = _manifest(tmp_path)
    assert check_manifest(out, manifest) is False
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert check_manifest(out, manifest) is True
    with pytest.raises(ValueError, match="another model .*new --out folder"):
        check_manifest(out, _manifest(tmp_path, model_hash="b" * 64))
    with pytest.raises(ValueError, match=r"other settings \(top\)"):
        check_manifest(out, _manifest(tmp_path, settings=RaySettings(("red", "far-red"), 5)))
    with pytest.raises(ValueError, match="other input files"):
        check_manifest(out, _manifest(tmp_path, names=("x.smi", "y.smi")))


def test_manifest_size_change_matters_only_for_finished_shards(tmp_path):
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / MANIFEST).write_text(json.dumps(_manifest(tmp_path)))
    (tmp_path / "x.smi").write_text("CCO\nCCN\n")  # fixed after its shard failed: resumable
    assert check_manifest(out, _manifest(tmp_path)) is True
    (out / "shards" / f"{shard_stem(0)}.json").write_text("{}")  # now finished: refused
    with pytest.raises(ValueError, match="changed since its shard part-00000"):
        check_manifest(out, _manifest(tmp_path))


def _summary(index, columns, top):
    return {"index": index, "input_columns": columns, "id_column": "id", "top": top}


def test_merge_top_orders_by_score_then_shard_then_row_unscored_last():
    a = _summary(0, ["smiles", "id"], [[0, -0.9, 5, ["a5"]], [0, -0.5, 1, ["a1"]],
                                       [1, 0.0, 2, ["a2"]]])
    b = _summary(1, ["smiles", "id"], [[0, -0.9, 0, ["b0"]], [0, -0.7, 3, ["b3"]],
                                       [1, 0.0, 1, ["b1"]]])
    merged = merge_top([b, a], 6)
    assert [(text[0], rank) for _, text, rank in merged] == [
        ("a5", 1), ("b0", 2), ("b3", 3), ("a1", 4), ("a2", None), ("b1", None)]
    assert [text[0] for _, text, _ in merge_top(iter([a, b]), 2)] == ["a5", "b0"]


def test_write_top_unions_the_shards_columns_and_inserts_rank(tmp_path):
    level_names = ("blue", "red")
    fields = ["ok", "", "", "CCO", "red", "1", "0.700000", "0.300000", "0.700000"]
    a = _summary(0, ["smiles", "id"], [[0, -0.7, 1, ["CCO", "x1", "1", *fields]]])
    b = _summary(1, ["smiles", "vendor", "id"],
                 [[0, -0.9, 2, ["CCN", "acme", "y2", "2", *fields]]])
    merged = merge_top([a, b], 5)
    layout = RecordLayout(level_names)
    written = write_top(tmp_path / "top.csv", layout, merged, [shard_info(a), shard_info(b)],
                        "csv")
    with open(tmp_path / "top.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert written == 2
    assert list(rows[0])[:5] == ["smiles", "id", "vendor", "row", "rank"]
    assert [(r["smiles"], r["id"], r["vendor"], r["row"], r["rank"]) for r in rows] == [
        ("CCN", "y2", "acme", "2", "1"), ("CCO", "x1", "", "1", "2")]


def test_write_top_keeps_every_optional_field_of_the_predictors_layout(tmp_path):
    """A model with a wavelength head and trust files: the top file's header has their fields,
    as the shards' rows do (it once dropped the trust fields, so rows outran the header)."""
    layout = RecordLayout(("blue", "red"), wavelength=True, trust=True)
    shard_layout = dataclasses.replace(layout, input_columns=("smiles",))
    fields = shard_layout.fields
    text = ["CCO", "1", *["x"] * (len(fields) - 1)]
    summary = _summary(0, ["smiles"], [[0, -0.7, 1, text]])
    write_top(tmp_path / "top.csv", layout, merge_top([summary], 5), [shard_info(summary)],
              "csv")
    with open(tmp_path / "top.csv", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert "in_domain" in header and "emission_nm" in header and "rank" in header
    assert len(header) == len(row) == len(text) + 1


def test_score_shard_writes_records_and_its_top(tmp_path, model_dir):
    library = tmp_path / "lib.smi"
    library.write_text("CCO ethanol\nnot_a_smiles typo\nc1ccc2ccccc2c1 naphthalene\n"
                       "CCO ethanol-again\nCCCCN butylamine\n")
    predictor = Predictor.load(model_dir, device="cpu")
    summary = score_shard(predictor, library, 4, tmp_path / "out", target_levels=[5, 6, 7],
                          top=3, chunk_size=2)
    shards = tmp_path / "out" / "shards"
    on_disk = json.loads((shards / "part-00004.json").read_text())
    assert on_disk == summary
    assert (summary["rows"], summary["ok"], summary["invalid"]) == (5, 4, 1)
    table = pq.read_table(shards / "part-00004.parquet").to_pylist()
    assert [r["id"] for r in table] == ["ethanol", "typo", "naphthalene", "ethanol-again",
                                        "butylamine"]
    assert [r["row"] for r in table] == list(range(1, 6))
    assert table[1]["status"] == "invalid" and table[1]["rare_score"] is None
    scored = sorted((r for r in table if r["status"] == "ok"),
                    key=lambda r: (-r["rare_score"], r["row"]))[:3]
    keys = [(flag, row) for flag, _, row, _ in summary["top"]]
    assert keys == [(0, r["row"]) for r in scored]
    assert [round(-s, 6) for _, s, _, _ in summary["top"]] == [r["rare_score"] for r in scored]
    # ethanol and ethanol-again tie: the earlier row first
    rows = [row for _, _, row, _ in summary["top"]]
    if 1 in rows and 4 in rows:
        assert rows.index(1) < rows.index(4)


def test_changed_model_refuses_before_any_work(tmp_path, model_dir, other_model_dir):
    library = tmp_path / "lib.smi"
    library.write_text("CCO ethanol\n")
    out = tmp_path / "out"
    out.mkdir()
    settings = RaySettings(("red", "far-red", "near-infrared"), 10)
    first = build_manifest(expand_inputs([library]),
                           model_sha256(resolve_member_paths(model_dir)), settings)
    (out / MANIFEST).write_text(json.dumps(first))
    with pytest.raises(ValueError, match="another model"):
        screen_on_ray(other_model_dir, [library], out, target_levels=[5, 6, 7], top=10)
    assert not (out / "shards").exists()  # nothing scored, no Ray started


def test_cli_ray_engine_refuses_changed_model_in_one_line(tmp_path, model_dir, other_model_dir):
    pytest.importorskip("ray")
    library = tmp_path / "lib.smi"
    library.write_text("CCO ethanol\n")
    out = tmp_path / "out"
    out.mkdir()
    first = build_manifest(expand_inputs([library]),
                           model_sha256(resolve_member_paths(model_dir)),
                           RaySettings(("red", "far-red", "near-infrared"), 1000))
    (out / MANIFEST).write_text(json.dumps(first))
    result = CliRunner().invoke(app, ["screen", str(library), "--engine", "ray", "--out",
                                      str(out), "--model", str(other_model_dir)])
    assert result.exit_code == 2, result.output
    assert "another model" in result.output
    assert len([line for line in result.output.splitlines() if "error" in line]) == 1


def test_cli_local_engine_takes_one_input_and_no_address(tmp_path, model_dir):
    library = tmp_path / "lib.smi"
    library.write_text("CCO ethanol\n")
    two = CliRunner().invoke(app, ["screen", str(library), str(library), "--out",
                                   str(tmp_path / "o.csv"), "--model", str(model_dir)])
    assert two.exit_code == 2 and "reads one input" in two.output
    address = CliRunner().invoke(app, ["screen", str(library), "--address", "auto", "--out",
                                       str(tmp_path / "o.csv"), "--model", str(model_dir)])
    assert address.exit_code == 2 and "--address needs --engine ray" in address.output


def test_cli_ray_engine_refuses_cuda(tmp_path, model_dir):
    pytest.importorskip("ray")
    library = tmp_path / "lib.smi"
    library.write_text("CCO ethanol\n")
    result = CliRunner().invoke(app, ["screen", str(library), "--engine", "ray", "--device",
                                      "cuda", "--out", str(tmp_path / "out"), "--model",
                                      str(model_dir)])
    assert result.exit_code == 2 and "CPU actors" in result.output
    assert not (tmp_path / "out").exists()
