"""A model folder with a solvent-aware model in ``solvent/``: shipped with ``--solvent-model``,
counted in the model's hash, described by the card; ``predict`` and ``screen`` answer a molecule
given with a solvent from it (another nm in another solvent), and without one exactly as the
folder's model alone."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from solvent_models import (
    NILE_RED,
    TRAIN_SOLVENTS,
    runner,
    ship_pair,
    train_classifier,
    train_solvent_model,
)

from zincfluor.cli import app
from zincfluor.runs.solvent_predict import load_emission_model
from zincfluor.screening.card import file_sha256, model_sha256
from zincfluor.screening.predictor import Predictor
from zincfluor.train.checkpoint import model_checkpoint_paths

PROBE = [NILE_RED, "CCN(CC)c1ccc2ccc(=O)oc2c1", "C1CC"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("solvent-use")
    classifier = train_classifier(root)
    descriptors = train_solvent_model(root)
    pair = ship_pair(classifier, [descriptors], root / "pair")
    return root, classifier, descriptors, pair


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _predict(*args: str, input: str | None = None):
    return runner.invoke(app, ["predict", *args, "--no-progress"], input=input)


def _predict_nile_red(*args: str):
    """``echo NILE_RED | zincfluor predict - --out - ARGS``."""
    return _predict("-", "--out", "-", *args, input=NILE_RED + "\n")


@pytest.mark.slow
def test_ship_puts_the_run_in_solvent_and_the_card_lists_its_solvents(folders):
    root, classifier, descriptors, pair = folders
    assert (pair / "solvent" / "checkpoint.pt").read_bytes() == (
        descriptors / "checkpoint.pt").read_bytes()
    paths = model_checkpoint_paths(pair)
    assert [p.relative_to(pair).as_posix() for p in paths] == [
        "checkpoint.pt", "solvent/checkpoint.pt"]
    card = json.loads((pair / "card.json").read_text())
    assert card["checkpoint_sha256"] == model_sha256(paths) != file_sha256(
        pair / "checkpoint.pt")
    section = card["solvent"]
    assert section["encoder"] == "descriptors" and section["members"] == 1
    assert {entry["name"] for entry in section["train_solvents"]} == set(TRAIN_SOLVENTS)
    assert all(entry["rows"] > 0 for entry in section["train_solvents"])
    metrics = json.loads((descriptors / "metrics.json").read_text())
    assert section["valid_mae_nm"] == [metrics["valid"]["wavelength"]["mae_nm"]]
    assert section["test_mae_nm"] == [metrics["test"]["wavelength"]["mae_nm"]]
    readme = (pair / "README.md").read_text()
    assert "## Solvents" in readme and "| toluene | `Cc1ccccc1` |" in readme
    assert "solvent effects are not modelled" not in readme
    shown = runner.invoke(app, ["model", "show", str(pair)])
    assert shown.exit_code == 0 and "matches" in shown.output, shown.output
    assert "solvent model" in shown.output and "descriptors encoder" in " ".join(
        shown.output.split())

    # the solvent model is part of the identity: another one is a mismatch
    copy = root / "pair-copy"
    shutil.copytree(pair, copy)
    (copy / "solvent" / "checkpoint.pt").write_bytes((classifier / "checkpoint.pt").read_bytes())
    shown = runner.invoke(app, ["model", "show", str(copy)])
    assert shown.exit_code == 1 and "MISMATCH" in shown.output
    # shipping again without --solvent-model drops it
    again = runner.invoke(app, ["model", "ship", str(classifier), "--out", str(copy), "--name",
                                "alone", "--no-trust", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert not (copy / "solvent").exists()
    assert json.loads((copy / "card.json").read_text())["solvent"] is None


@pytest.mark.slow
def test_predictor_answers_rows_with_a_solvent_from_the_solvent_model(folders):
    root, classifier, descriptors, pair = folders
    alone = Predictor.load(classifier, device="cpu").predict(PROBE)
    predictor = Predictor.load(pair, device="cpu")
    assert predictor.has_solvent_model
    plain = predictor.predict(PROBE)
    np.testing.assert_allclose(plain.probs, alone.probs, atol=1e-6)  # no solvent: unchanged
    assert plain.emission_nm is None  # the classifier has no wavelength head
    assert plain.solvent.smiles == [None] * 3

    solvents = ["toluene", "methanol", "water"]
    batch = predictor.predict(PROBE, solvents=solvents)
    assert batch.solvent.smiles == ["Cc1ccccc1", "CO", "O"]
    assert batch.solvent.seen == [True, True, False]  # water: not a training solvent
    assert batch.status[2].startswith("invalid")
    reference = load_emission_model(descriptors)(PROBE[:2], solvents[:2])
    np.testing.assert_allclose(batch.emission_nm[:2], reference, rtol=1e-4)
    np.testing.assert_allclose(batch.probs[:2].sum(axis=1), 1.0, atol=1e-5)  # bin masses
    assert not np.allclose(batch.probs[:2], alone.probs[:2], atol=1e-3)

    mixed = predictor.predict(PROBE, solvents=["toluene", None, None])
    np.testing.assert_allclose(mixed.probs[1], alone.probs[1], atol=1e-6)
    np.testing.assert_allclose(mixed.emission_nm[0], batch.emission_nm[0], rtol=1e-5)

    with pytest.raises(ValueError, match="no solvent-aware model"):
        Predictor.load(classifier, device="cpu").predict(PROBE, solvents=["water"] * 3)
    with pytest.raises(ValueError, match="row 1, solvent: unknown solvent 'tolune'"):
        predictor.predict(PROBE, solvents=["tolune", None, None])


@pytest.mark.slow
def test_predict_cli_nile_red_in_toluene_and_water(folders, tmp_path):
    root, classifier, descriptors, pair = folders
    answers = {}
    for solvent in ("toluene", "water"):
        result = _predict_nile_red("--model", str(pair), "--solvent", solvent)
        assert result.exit_code == 0, result.output
        [row] = _rows(result.stdout)
        answers[solvent] = row
    toluene, water = answers["toluene"], answers["water"]
    assert (toluene["solvent"], toluene["solvent_seen"]) == ("Cc1ccccc1", "true")
    assert (water["solvent"], water["solvent_seen"]) == ("O", "false")
    assert toluene["emission_nm"] != water["emission_nm"]
    expected = load_emission_model(descriptors)([NILE_RED] * 2, ["toluene", "water"])[:, 0]
    assert [float(toluene["emission_nm"]), float(water["emission_nm"])] == pytest.approx(
        expected.tolist(), abs=0.051)

    plain = _predict_nile_red("--model", str(pair))
    alone = _predict_nile_red("--model", str(classifier))
    [with_folder], [without] = _rows(plain.stdout), _rows(alone.stdout)
    assert with_folder["solvent"] == "" and with_folder["solvent_seen"] == ""
    assert {k: v for k, v in with_folder.items() if not k.startswith(("solvent", "emission"))} \
        == without  # the solvent-free answer is the folder model's, field for field
    assert "solvent" not in without


@pytest.mark.slow
def test_predict_cli_refuses_bad_solvents_with_one_line(folders):
    root, classifier, descriptors, pair = folders
    result = _predict_nile_red("--model", str(pair), "--solvent", "tolune")
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error: --solvent: unknown solvent 'tolune'")
    assert "did you mean 'toluene'" in message and "SMILES" in message
    result = _predict_nile_red("--model", str(classifier), "--solvent", "water")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "this model has no solvent-aware model; ship one with --solvent-model" in " ".join(
        result.output.split())


@pytest.mark.slow
def test_csv_solvent_column_and_screen(folders, tmp_path):
    root, classifier, descriptors, pair = folders
    table = tmp_path / "dyes.csv"
    table.write_text(f"smiles,id,Solvent\n{NILE_RED},a,toluene\n{NILE_RED},b,\n"
                     f"{NILE_RED},c,O\nC1CC,d,MeOH\n")
    out = tmp_path / "out.csv"
    result = _predict(str(table), "--model", str(pair), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = _rows(out.read_text())
    assert [r["solvent"] for r in rows] == ["Cc1ccccc1", "", "O", "CO"]
    assert [r["solvent_seen"] for r in rows] == ["true", "", "false", "true"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "invalid"]
    assert rows[0]["emission_nm"] != rows[2]["emission_nm"] and rows[1]["emission_nm"] == ""
    assert rows[0]["Solvent"] == "toluene"  # the input's own column, as it was

    medium = tmp_path / "medium.csv"
    medium.write_text(f"smiles,medium\n{NILE_RED},toluene\n{NILE_RED},watr\n")
    bad = _predict(str(medium), "--model", str(pair), "--out", "-", "--solvent-column",
                   "medium")
    assert bad.exit_code == 2 and "row 2, column 'medium': unknown solvent 'watr'" in " ".join(
        bad.output.split())

    ranked = tmp_path / "ranked.csv"
    screened = runner.invoke(app, ["screen", str(table), "--model", str(pair), "--out",
                                   str(ranked), "--jobs", "1", "--no-progress"])
    assert screened.exit_code == 0, screened.output
    by_id = {r["id"]: r for r in _rows(ranked.read_text())}
    for r in rows:
        got = by_id[r["id"]]
        assert (got["solvent"], got["solvent_seen"], got["emission_nm"], got["rare_score"]) == (
            r["solvent"], r["solvent_seen"], r["emission_nm"], r["rare_score"])
    screened = runner.invoke(app, ["screen", str(table), "--model", str(pair), "--out", "-",
                                   "--jobs", "1", "--no-progress", "--solvent", "water"])
    assert screened.exit_code == 0, screened.output
    assert {r["solvent"] for r in _rows(screened.stdout)} == {"O"}


@pytest.mark.slow
def test_graph_encoder_and_an_ensemble_of_solvent_runs(folders):
    root, classifier, descriptors, _ = folders
    graph = train_solvent_model(root, "graph", "sol-graph")
    second = train_solvent_model(root, "graph", "sol-graph-1", seed=1)
    pair = ship_pair(classifier, [graph, second], root / "graph-pair")
    assert json.loads((pair / "solvent" / "ensemble.json").read_text())["members"] == [
        "member-0/checkpoint.pt", "member-1/checkpoint.pt"]
    assert len(model_checkpoint_paths(pair)) == 3
    predictor = Predictor.load(pair, device="cpu")
    batch = predictor.predict([NILE_RED] * 2, solvents=["toluene", "water"])
    single = Predictor.load(ship_pair(classifier, [graph], root / "graph-one"), device="cpu")
    one = single.predict([NILE_RED] * 2, solvents=["toluene", "water"])
    np.testing.assert_allclose(one.emission_nm, load_emission_model(graph)(
        [NILE_RED] * 2, ["toluene", "water"]), rtol=1e-4)
    assert not np.allclose(batch.emission_nm, one.emission_nm)  # the mixture of two

    refused = runner.invoke(app, ["model", "ship", str(classifier), "--out", str(root / "bad"),
                                  "--name", "bad", "--no-trust", "--no-progress",
                                  "--solvent-model", str(classifier)])
    assert refused.exit_code == 2 and "not a solvent-aware run" in " ".join(
        refused.output.split())
    assert not (root / "bad").exists()


@pytest.mark.slow
def test_predict_frame_takes_solvents(folders):
    from zincfluor.screening.table import predict_frame

    root, classifier, descriptors, pair = folders
    predictor = Predictor.load(pair, device="cpu")
    frame = predict_frame([NILE_RED, NILE_RED], predictor=predictor, model=pair,
                          solvents=["toluene", None])
    assert frame["solvent"].tolist()[0] == "Cc1ccccc1" and frame["solvent_seen"][0]
    assert frame["solvent"].isna()[1] and frame["emission_nm"].isna()[1]
    with pytest.raises(ValueError, match="1 solvents for 2 molecules"):
        predict_frame([NILE_RED, NILE_RED], predictor=predictor, solvents=["water"])


@pytest.mark.slow
def test_trust_fields_of_rows_in_a_solvent(folders):
    root, classifier, descriptors, pair = folders
    trusted = root / "pair-trusted"
    shutil.copytree(pair, trusted)
    built = runner.invoke(app, ["model", "trust", str(trusted), "--data",
                                str(root / "rows.csv"), "--device", "cpu", "--no-progress"])
    assert built.exit_code == 0, built.output
    predictor = Predictor.load(trusted, device="cpu")
    assert predictor.has_trust and predictor.has_solvent_model
    batch = predictor.predict([NILE_RED, NILE_RED], solvents=[None, "toluene"])
    names = predictor.level_names
    plain, in_solvent = (batch.trust.values(i, names) for i in (0, 1))
    # the molecule's similarity holds for both rows; the set is calibrated only without solvent
    assert plain.nearest_similarity == in_solvent.nearest_similarity
    assert plain.in_domain == in_solvent.in_domain
    assert in_solvent.prediction_set == (names[int(batch.probs[1].argmax())],)
    assert in_solvent.emission_interval is None
    expected = predictor.trust_fields(batch.probs[:1], None, None).prediction_set[0]
    assert plain.prediction_set == tuple(n for n, inside in zip(names, expected, strict=True)
                                         if inside)


@pytest.mark.slow
def test_model_solvent_gives_a_copy_of_a_folder_a_solvent_model(folders, tmp_path):
    root, classifier, descriptors, pair = folders
    alone = root / "alone"
    if not alone.exists():
        shipped = runner.invoke(app, ["model", "ship", str(classifier), "--out", str(alone),
                                      "--name", "alone", "--no-trust", "--no-progress"])
        assert shipped.exit_code == 0, shipped.output
    before = {p.name: p.read_bytes() for p in alone.rglob("*") if p.is_file()}
    out = tmp_path / "with-solvent"
    result = runner.invoke(app, ["model", "solvent", str(alone), "--solvent-model",
                                 str(descriptors), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "solvent-aware model (descriptors encoder" in " ".join(result.output.split())
    # the source folder is untouched; the copy answers in a solvent as the shipped pair does
    assert {p.name: p.read_bytes() for p in alone.rglob("*") if p.is_file()} == before
    assert not (alone / "solvent").exists()
    card = json.loads((out / "card.json").read_text())
    assert card["solvent"]["encoder"] == "descriptors"
    assert card["checkpoint_sha256"] == model_sha256(model_checkpoint_paths(out))
    copy = Predictor.load(out, device="cpu").predict([NILE_RED], solvents=["toluene"])
    shipped = Predictor.load(pair, device="cpu").predict([NILE_RED], solvents=["toluene"])
    np.testing.assert_allclose(copy.emission_nm, shipped.emission_nm, rtol=1e-6)
    # refusals: an existing --out, a folder that is not a model, a run that reads no solvent
    again = runner.invoke(app, ["model", "solvent", str(alone), "--solvent-model",
                                str(descriptors), "--out", str(out)])
    assert again.exit_code == 2 and "exists; give a new folder" in again.output
    nomodel = runner.invoke(app, ["model", "solvent", str(tmp_path), "--solvent-model",
                                  str(descriptors), "--out", str(tmp_path / "x")])
    assert nomodel.exit_code == 2 and "is not a model folder" in nomodel.output
    wrong = runner.invoke(app, ["model", "solvent", str(alone), "--solvent-model",
                                str(classifier), "--out", str(tmp_path / "y")])
    assert wrong.exit_code != 0 and "not a solvent-aware run" in wrong.output
    assert not (tmp_path / "y").exists()
