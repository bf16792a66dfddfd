"""Model folders: ship a (tiny, freshly trained) run, read its card back, show it."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening.card import (
    ModelCard,
    default_model_dir,
    load_model_card,
    resolve_model_path,
    ship_model,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("card")
    data = write_deep4chem_csv(root / "deep4chem" / "DB_for_chromophore_deep4chem.csv")
    run = root / "run"
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(run), "--epochs", "2", "--seed", "1",
         "--hidden-dim", "16", "--num-layers", "2", "--batch-size", "16", "--cache-dir", "none",
         "--workers", "1", "--no-progress", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.slow
def test_ship_and_load_round_trip(trained_run, tmp_path):
    out = tmp_path / "model"
    card = ship_model(trained_run, out, name="tiny", description="A test model.",
                      command="zincfluor train ...")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "checkpoint.pt",
                                                     "split.json"]
    assert (out / "split.json").read_bytes() == (trained_run / "split.json").read_bytes()
    data = json.loads((out / "card.json").read_text())
    for key in ("format", "name", "description", "method", "method_hparams", "label_scheme",
                "target_levels", "train_class_counts", "data", "split", "trainer",
                "test_metrics", "valid_balanced_accuracy", "best_epoch", "command", "created",
                "checkpoint_sha256", "checkpoint_bytes"):
        assert key in data, key
    assert data["format"] == 1 and data["method"] == "ce"
    assert data["label_scheme"]["name"] == "emission8"
    counts = data["train_class_counts"]
    assert len(counts) == 8 and sum(counts) > 0
    # default targets: the 3 least-trained levels (ties: later levels first)
    names = data["label_scheme"]["names"]
    rarest = sorted(range(8), key=lambda i: (counts[i], -i))[:3]
    assert data["target_levels"] == [names[i] for i in sorted(rarest)]
    assert data["data"]["licence"] == "CC BY 4.0"
    assert "10.1038/s41597-020-00634-8" in data["data"]["citation"]
    assert data["split"]["kind"] == "stratified" and data["split"]["seed"] == 1
    assert data["split"]["fractions"] == [0.8, 0.1, 0.1]
    assert set(data["split"]["sizes"]) == {"train", "valid", "test"}
    assert data["trainer"]["epochs"] == 2
    metrics = data["test_metrics"]
    for key in ("top1", "balanced_accuracy", "macro_f1", "tail_top_2", "ece",
                "per_level_accuracy"):
        assert key in metrics, key
    run_test = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert metrics["retrieval"]["groups"] == run_test["retrieval"]["groups"]
    assert list(metrics["retrieval"]["groups"]) == ["red+", "far-red+"]
    digest = hashlib.sha256((out / "checkpoint.pt").read_bytes()).hexdigest()
    assert data["checkpoint_sha256"] == digest
    assert data["checkpoint_bytes"] == (out / "checkpoint.pt").stat().st_size

    loaded = load_model_card(out)
    assert isinstance(loaded, ModelCard) and loaded == card
    assert load_model_card(out / "checkpoint.pt") == card
    assert load_model_card(trained_run) is None  # a run folder has no card

    readme = (out / "README.md").read_text()
    for text in ("# tiny", "A test model.", "Intended use", "CC BY 4.0", "Scientific Data",
                 "Limitations", "balanced accuracy", "zincfluor train ...", digest,
                 "Ranking the rare levels", "| red+ (red, far-red, near-infrared) |"):
        assert text in readme, text


@pytest.mark.slow
def test_model_ship_and_show_commands(trained_run, tmp_path, monkeypatch):
    out = tmp_path / "model"
    result = runner.invoke(app, ["model", "ship", str(trained_run), "--out", str(out),
                                 "--name", "tiny", "--target-levels", "red,far-red"])
    assert result.exit_code == 0, result.output
    card = load_model_card(out)
    assert card.target_levels == ["red", "far-red"]
    assert card.command.startswith("zincfluor train --data ")  # rebuilt from config.json
    assert "--epochs 2" in card.command

    result = runner.invoke(app, ["model", "show", str(out)])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "matches" in result.output
    assert "test ranking red+" in result.output and "EF 1%" in result.output

    monkeypatch.setenv("ZINCFLUOR_MODEL", str(out))
    assert default_model_dir() == out and resolve_model_path(None) == out
    result = runner.invoke(app, ["model", "show"])
    assert result.exit_code == 0 and "red, far-red" in result.output

    (out / "checkpoint.pt").write_bytes(b"tampered")
    result = runner.invoke(app, ["model", "show", str(out)])
    assert result.exit_code == 1 and "MISMATCH" in result.output

    result = runner.invoke(app, ["model", "ship", str(trained_run), "--out", str(out),
                                 "--name", "x", "--target-levels", "purple"])
    assert result.exit_code == 2 and "purple" in result.output


def test_missing_default_model_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ZINCFLUOR_MODEL", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="zincfluor model ship"):
        default_model_dir()
    assert default_model_dir(must_exist=False) == tmp_path / "nowhere"
    monkeypatch.delenv("ZINCFLUOR_MODEL")
    assert default_model_dir(must_exist=False).parts[-2:] == ("models", "emission8-default")


def test_card_of_another_format_is_refused(tmp_path):
    (tmp_path / "card.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        load_model_card(tmp_path)


@pytest.mark.slow
def test_fast_path_equals_the_slow_path_on_the_fixture(trained_run):
    """The one-parse, fused-GCN predictor gives the probabilities of the plain PyG forward."""
    import numpy as np
    import torch
    from molecule_fixtures import series_molecules
    from torch_geometric.data import Batch

    from zincfluor.chem import featurize_many
    from zincfluor.screening import Predictor
    from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint

    smiles = [s for s, _, _ in series_molecules()]
    model = model_from_checkpoint(load_checkpoint(trained_run))
    with torch.no_grad():
        expected = torch.softmax(
            model(Batch.from_data_list(featurize_many(smiles, n_jobs=1).graphs)), dim=1
        ).numpy()
    result = Predictor.load(trained_run, device="cpu", batch_size=32).predict(smiles)
    np.testing.assert_allclose(result.probs, expected, rtol=1e-5, atol=1e-6)
    assert (result.levels == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("ece, phrase", [
    (None, "not measured"),
    (0.07, "roughly, not exactly, calibrated (test ECE 0.070)"),
    (0.346, "poorly calibrated (test ECE 0.346): rank molecules by them"),
])
def test_card_says_how_far_to_trust_the_probabilities(ece, phrase):
    from zincfluor.screening.card import _calibration_note

    assert phrase in _calibration_note(ece)


def test_train_command_names_every_model_choice():
    """A card's command rebuilds the model: backbone, head, target, molecule features and the
    split seed are part of it, not only the GCN-era options."""
    from zincfluor.screening.card import train_command

    config = {
        "data": {"path": "d.csv", "scheme": "emission8"}, "method": "lds", "seed": 1,
        "split_seed": 0, "split": "scaffold", "head": "gaussian", "target": "emission_nm",
        "backbone": "dmpnn", "molecule_features": "morgan", "morgan_bits": 1024,
        "trainer": {"epochs": 60},
    }
    command = train_command(config)
    for part in ("--backbone dmpnn", "--head gaussian", "--target emission_nm",
                 "--molecule-features morgan", "--morgan-bits 1024", "--split-seed 0"):
        assert part in command
    assert "--morgan-bits" not in train_command({**config, "molecule_features": "none"})


@pytest.mark.parametrize(("backbone", "phrase"), [
    ("gcn", "graph convolutional network"), ("dmpnn", "directed message-passing network"),
    ("gine", "GINE"), ("newnet", "graph neural network (newnet)"),
])
def test_card_names_the_network_it_describes(backbone, phrase):
    from zincfluor.screening.card import render_readme

    card = ModelCard(
        name="m", description="", method="ce", method_hparams={},
        label_scheme={"name": "emission8", "names": ["a", "b"], "edges": [500]},
        target_levels=["b"], train_class_counts=[10, 2], data={"name": "d"},
        split={"kind": "scaffold", "seed": 0}, trainer={}, test_metrics={},
        valid_balanced_accuracy=None, best_epoch=None, command="", created="today",
        checkpoint_sha256="0", checkpoint_bytes=0, calibration=None,
    )
    assert phrase in render_readme(card, {"backbone": {"name": backbone}, "head": {}})
