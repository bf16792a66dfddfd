"""A lab's own CSV through the CLI: given classes, or values with a custom scheme."""

import csv
import json

import numpy as np
import torch
from typer.testing import CliRunner

from zincfluor.cli import app

runner = CliRunner()
COMMON = [
    "--epochs",
    "1",
    "--hidden-dim",
    "8",
    "--cache-dir",
    "none",
    "--workers",
    "1",
    "--no-progress",
    "--device",
    "cpu",
]


def _write_lab_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["compound", "SMILES", "Fluor Value", "lambda_em"])
        writer.writerows(rows)
    return path


def _train(data, run, *options):
    return runner.invoke(app, ["train", "--data", str(data), "--out", str(run), *options, *COMMON])


def _lab_rows():
    from molecule_fixtures import series_molecules

    return [
        [f"cpd-{i}", smiles, level % 4, emission]
        for i, (smiles, emission, level) in enumerate(series_molecules(10))
    ]


def test_train_on_given_classes_named_by_level_names(tmp_path):
    data = _write_lab_csv(tmp_path / "lab.csv", _lab_rows())
    run = tmp_path / "run"
    result = _train(
        data,
        run,
        "--smiles-column",
        "SMILES",
        "--label-column",
        "Fluor Value",
        "--level-names",
        "dim,weak,bright,brilliant",
    )
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["metadata"]["label_scheme"]["names"] == ["dim", "weak", "bright", "brilliant"]
    assert checkpoint["model_spec"]["head"]["num_classes"] == 4
    assert checkpoint["class_counts"] == [16, 16, 16, 16]


def test_given_whole_number_classes_default_to_emission8_levels(tmp_path):
    """ZincFluor-style colour levels 0..7 need no names: they are emission8's levels."""
    data = _write_lab_csv(tmp_path / "lab.csv", _lab_rows())
    run = tmp_path / "run"
    result = _train(data, run, "--smiles-column", "SMILES", "--label-column", "Fluor Value")
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["metadata"]["label_scheme"]["names"][0] == "ultraviolet"
    assert checkpoint["model_spec"]["head"]["num_classes"] == 8


def test_train_on_values_with_inline_scheme(tmp_path):
    data = _write_lab_csv(tmp_path / "lab.csv", _lab_rows())
    run = tmp_path / "run"
    result = _train(
        data,
        run,
        "--smiles-column",
        "SMILES",
        "--value-column",
        "lambda_em",
        "--scheme",
        "450,550,650",
        "--level-names",
        "blue,green,orange,red",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["resolved"]["label_scheme"]["names"] == ["blue", "green", "orange", "red"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["class_names"] == ["blue", "green", "orange", "red"]


def test_missing_column_names_the_available_ones(tmp_path):
    data = _write_lab_csv(tmp_path / "lab.csv", _lab_rows())
    result = _train(
        data, tmp_path / "run", "--smiles-column", "smiles_typo", "--label-column", "Fluor Value"
    )
    assert result.exit_code == 2
    assert "smiles_typo" in result.output and "SMILES" in result.output


def test_train_with_imbalance_ratio_subsamples_only_the_training_split(tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "measurements.csv", per_level=20)
    run = tmp_path / "run"
    result = _train(data, run, "--imbalance-ratio", "16")
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    counts = np.array(config["resolved"]["train_class_counts"])
    # 16 training molecules per level; level 0 keeps 16, the rarest keeps max(1, floor(16/16))
    assert counts.max() == 16 and counts.min() == 1
    split = json.loads((run / "split.json").read_text())
    assert len(split["valid"]) == len(split["test"]) == 16  # 2 per level, untouched
