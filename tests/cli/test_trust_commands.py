"""``zincfluor model trust``, ``model ship`` building (or dropping) trust files, ``zincfluor
explain`` writing the attribution SVGs, and ``screen`` counting out-of-domain molecules."""

import json
import shutil

import pytest
from trust_fixtures import DOI, plain_model, trust_data, trusted_model  # noqa: F401
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening.card import load_model_card, ship_model

runner = CliRunner()
pytestmark = pytest.mark.slow  # the fixture model trains for 2 epochs once per session


def test_model_trust_writes_files_plot_and_card(plain_model, trust_data, tmp_path):  # noqa: F811
    folder = tmp_path / "model"
    shutil.copytree(plain_model, folder)
    assert not (folder / "trust").exists()
    result = runner.invoke(app, ["model", "trust", str(folder), "--data", str(trust_data),
                                 "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for name in ("conformal.json", "domain.json", "reference_set.npz"):
        assert (folder / "trust" / name).is_file()
    assert (folder / "domain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = load_model_card(folder)
    assert set(card.trust["level_coverage"]) == {"0.9", "0.8"}
    row = card.trust["level_coverage"]["0.9"]["per_level"][0]
    assert {"name", "n", "coverage", "coverage_ci95"} <= set(row)
    readme = (folder / "README.md").read_text()
    assert "## Trust" in readme and "](domain.png)" in readme
    assert "coverage at 90%" in readme and "coverage at 80%" in readme
    for field in ("`prediction_set`", "`in_domain`", "`nearest_similarity`"):
        assert field in readme
    assert "prediction-set coverage" in result.output


def test_model_trust_names_a_missing_table(plain_model, tmp_path):  # noqa: F811
    result = runner.invoke(app, ["model", "trust", str(plain_model), "--data",
                                 str(tmp_path / "nope.csv")])
    assert result.exit_code != 0 and "--data" in result.output and "nope.csv" in result.output


def test_ship_builds_trust_with_data_and_drops_stale_files_without(plain_model,  # noqa: F811
                                                                  trust_data, tmp_path):  # noqa: F811
    run = plain_model.parent / "run"
    out = tmp_path / "shipped"
    result = runner.invoke(app, ["model", "ship", str(run), "--out", str(out), "--name", "t",
                                 "--data", str(trust_data)])
    assert result.exit_code == 0, result.output
    assert (out / "trust" / "domain.json").is_file() and load_model_card(out).trust
    # a re-ship without trust must not leave the earlier model's trust files behind
    ship_model(run, out, name="t")
    assert not (out / "trust").exists() and not (out / "domain.png").exists()
    assert load_model_card(out).trust is None


def test_explain_writes_svgs_and_json(trusted_model, tmp_path):  # noqa: F811
    out = tmp_path / "explained"
    from zincfluor.screening.predictor import Predictor

    training = Predictor.load(trusted_model, device="cpu").trust.reference_set.smiles[0]
    result = runner.invoke(app, ["explain", training, "C1CC", "--model", str(trusted_model),
                                 "--out", str(out), "--steps", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for name in ("depiction", "rare", "level"):
        svg = (out / f"molecule-1-{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    details = json.loads((out / "molecule-1.json").read_text())
    assert details["in_domain"] is True and details["nearest_similarity"] == 1.0
    assert len(details["neighbours"]) == 3
    assert details["neighbours"][0]["references"] == ["https://doi.org/10.1021/test.0001"]
    atoms = details["attributions"]["atoms"]
    assert atoms and {"index", "element", "rare_score", "level"} <= set(atoms[0])
    invalid = json.loads((out / "molecule-2.json").read_text())
    assert invalid["status"] == "invalid" and not (out / "molecule-2-rare.svg").exists()
    assert "nothing to explain" in result.output


def test_screen_summary_counts_out_of_domain(trusted_model, tmp_path):  # noqa: F811
    library = tmp_path / "lib.smi"
    library.write_text("CCO a\nc1ccc2ccccc2c1 b\nC1CC c\n")
    result = runner.invoke(app, ["screen", str(library), "--model", str(trusted_model),
                                 "--out", str(tmp_path / "r.csv"), "--no-progress",
                                 "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "of 2 scored molecules are outside the model's applicability domain" in \
        " ".join(result.output.split())
    quiet = runner.invoke(app, ["screen", str(library), "--model", str(trusted_model),
                                "--out", str(tmp_path / "q.csv"), "--no-progress", "--jobs",
                                "1", "--no-trust"])
    assert quiet.exit_code == 0 and "applicability domain" not in quiet.output


def test_predict_summary_counts_out_of_domain(trusted_model, tmp_path):  # noqa: F811
    library = tmp_path / "lib.smi"
    library.write_text("CCO a\nc1ccc2ccccc2c1 b\nC1CC c\n")
    result = runner.invoke(app, ["predict", str(library), "--model", str(trusted_model),
                                 "--out", str(tmp_path / "p.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "of 2 scored molecules are outside the model's applicability domain" in \
        " ".join(result.output.split())
