"""``zincfluor screen``: ranking, invalid rows, --top, --target-levels, chunked merging."""

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zincfluor.chem import FeaturizerConfig
from zincfluor.cli import app
from zincfluor.data import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.screening import Predictor
from zincfluor.screening.screen import screen_library
from zincfluor.train.checkpoint import save_checkpoint

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


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small untrained GCN checkpoint: near-infrared is the least-trained level."""
    torch.manual_seed(3)
    config = FeaturizerConfig()
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2)
    model = build_classifier(spec).eval()
    folder = tmp_path_factory.mktemp("model")
    save_checkpoint(
        folder / "checkpoint.pt",
        model=model,
        model_spec=spec,
        class_counts=[50, 90, 80, 70, 40, 30, 20, 10],
        method={"name": "ce", "hparams": {}},
        metadata={
            "kind": "molecules",
            "featurizer": config.to_dict(),
            "label_scheme": EMISSION8.to_dict(),
        },
    )
    return folder


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
    assert list(rows[0]) == ["rank", "row", "id", "smiles", "canonical_smiles", "status", "notes",
                             "rare_score", "predicted_level", *PROBS]
    valid, invalid = rows[: N_ROWS - len(INVALID_ROWS)], rows[N_ROWS - len(INVALID_ROWS):]
    assert [r["rank"] for r in valid] == [str(i) for i in range(1, len(valid) + 1)]
    assert all(r["status"] == "ok" for r in valid)
    scores = [float(r["rare_score"]) for r in valid]
    assert scores == sorted(scores, reverse=True)
    for r in valid:
        tail = sum(float(r[p]) for p in ("p_red", "p_far-red", "p_near-infrared"))
        assert abs(tail - float(r["rare_score"])) < 1e-5
        probs = [float(r[p]) for p in PROBS]
        assert r["predicted_level"] == PROBS[int(np.argmax(probs))][2:]
    assert {int(r["row"]) for r in invalid} == INVALID_ROWS
    assert [r["rank"] for r in invalid] == ["", "", ""]
    assert [r["row"] for r in invalid] == ["2", "4", "5"]  # input order among invalid rows
    assert invalid[0]["status"] == "invalid: unclosed ring"
    assert invalid[2]["status"] == "invalid: empty SMILES"
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
    assert result.exit_code == 1
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
    assert "id" not in rows[0]
    assert [r["row"] for r in rows][-1] == "3"  # CSV rows count the header as row 1
    assert {r["smiles"] for r in rows} == {"CCO", "C1CC", "c1ccccc1O"}


def test_empty_input_is_an_error_and_writes_nothing(model_dir, tmp_path):
    source = tmp_path / "empty.smi"
    source.write_text("")
    out = tmp_path / "ranked.csv"
    result = screen(source, "--out", out, "--model", model_dir)
    assert result.exit_code == 1
    assert "holds no molecules" in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    missing = screen(tmp_path / "nope.smi", "--out", out, "--model", model_dir)
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.output.split())


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

    monkeypatch.setenv("ZINCFLUOR_MODEL", str(tmp_path / "absent"))
    result = screen(library, "--out", out)
    assert result.exit_code == 1
    assert "zincfluor model ship" in " ".join(result.output.split())
