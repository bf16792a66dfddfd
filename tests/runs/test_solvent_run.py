"""Solvent-aware runs: grouped split, one graph per (molecule, solvent) row, the solvent
settings in the checkpoint, per-solvent-class metrics, and the median-over-solvents baseline."""

import json

import numpy as np
import pytest
import torch
from solvent_rows import SOLVENT_SHIFTS, write_solvent_rows

from zincfluor.data.measurements import read_solvent_measurements
from zincfluor.data.solvent_features import SOLVENT_FEATURE_NAMES
from zincfluor.data.solvents import resolve_solvent
from zincfluor.data.splits import Split
from zincfluor.runs.solvatochromism import main as solvatochromism_main
from zincfluor.runs.solvent import (
    GRAD_CLIP,
    SOLVENT_CLASS_ORDER,
    SolventRunConfig,
    molecule_medians,
    solvent_metadata,
    solvent_run,
)
from zincfluor.runs.solvent_predict import load_emission_model
from zincfluor.train.checkpoint import load_checkpoint
from zincfluor.train.trainer import TrainerConfig


def _config(data, out, **overrides) -> SolventRunConfig:
    settings = dict(data=str(data), out=str(out), hidden_dim=8, num_layers=2, batch_size=16,
                    solvent_hidden_dim=8, solvent_out_dim=4, solvent_graph_dim=8,
                    trainer=TrainerConfig(epochs=2), device="cpu", cache_dir="none", n_jobs=1)
    settings.update(overrides)
    return SolventRunConfig(**settings)


def test_molecule_medians_and_solvent_metadata(tmp_path):
    table = read_solvent_measurements(write_solvent_rows(tmp_path / "rows.csv"))
    rows = np.array([0, 1, 2, 4, 5])  # molecule 0 in three solvents, molecule 1 in two
    molecules, medians = molecule_medians(table, rows)
    nm = table.frame["emission_nm"].to_numpy()
    assert molecules.tolist() == [0, 1]
    assert medians.tolist() == [np.median(nm[[0, 1, 2]]), np.median(nm[[4, 5]])]
    block = solvent_metadata("descriptors", table, rows)
    assert block["encoder"] == "descriptors" and block["inputs"] == "sol_x"
    assert block["feature_names"] == list(SOLVENT_FEATURE_NAMES)
    counts = {entry["name"]: entry["rows"] for entry in block["train_solvents"]}
    assert sum(counts.values()) == 5 and set(counts) <= set(SOLVENT_SHIFTS)
    assert block["train_solvents"][0]["rows"] == 2  # most rows first
    assert {e["class"] for e in block["train_solvents"]} <= set(SOLVENT_CLASS_ORDER)


def test_config_refuses_unknown_encoders_and_ungrouped_splits(tmp_path):
    assert SolventRunConfig("x.csv", str(tmp_path)).trainer.grad_clip == GRAD_CLIP == 1.0
    with pytest.raises(ValueError, match="solvent encoder must be one of"):
        _config("x.csv", tmp_path, solvent_encoder="fingerprint")
    with pytest.raises(ValueError, match="grouped split"):
        _config("x.csv", tmp_path, split="stratified")


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["descriptors", "graph", "none"])
def test_solvent_run_writes_a_grouped_run_folder_and_a_reloadable_model(tmp_path, encoder):
    data = write_solvent_rows(tmp_path / "rows.csv")
    run = tmp_path / "run"
    result = solvent_run(_config(data, run, solvent_encoder=encoder), progress=False)
    for name in ("config.json", "metrics.json", "split.json", "checkpoint.pt", "per_level.md"):
        assert (run / name).is_file(), name

    table = result.table
    split = Split.load(run / "split.json", smiles=table.molecules)
    parts = split.parts()
    assert sum(len(p) for p in parts.values()) == len(table.molecules)
    assert not set(parts["train"]) & (set(parts["valid"]) | set(parts["test"]))
    codes = table.molecule_codes()
    for part, rows in result.rows.items():  # every row of a molecule in its molecule's part
        assert set(codes[rows]) == set(parts[part])

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["solvent_encoder"] == encoder
    for part in ("valid", "test"):
        block = metrics[part]
        assert block["n"] == len(result.rows[part])  # rows, not molecules
        assert block["wavelength"]["n_known"] == block["n"]
        per_class = block["per_solvent_class"]
        assert list(per_class) == list(SOLVENT_CLASS_ORDER)
        assert per_class["unknown"] is None
        assert sum(per_class[c]["n"] for c in ("polar protic", "polar aprotic", "non-polar")) \
            == block["n"]
        assert "mae_nm" in per_class["non-polar"]["wavelength"]

    checkpoint = load_checkpoint(run)
    solvent = checkpoint["metadata"]["solvent"]
    assert solvent["encoder"] == encoder and solvent["kinds"] == ["smiles"]
    assert sum(e["rows"] for e in solvent["train_solvents"]) == len(result.rows["train"])
    assert checkpoint["metadata"]["split"]["kind"] == "scaffold-seeded"
    assert ("solvent" in checkpoint["model_spec"]) == (encoder != "none")
    config = json.loads((run / "config.json").read_text())
    assert config["resolved"]["rows"] == {p: len(r) for p, r in result.rows.items()}
    if encoder == "none":  # one training example per molecule: its median over solvents
        assert sum(checkpoint["class_counts"]) == len(parts["train"])
    else:
        assert sum(checkpoint["class_counts"]) == len(result.rows["train"])

    # the checkpoint alone reproduces the run's test predictions, row by row
    predict = load_emission_model(run)
    test_rows = table.frame.iloc[result.rows["test"]]
    again = predict(test_rows["molecule"].tolist(), test_rows["solvent"].tolist())
    true_nm = test_rows["emission_nm"].to_numpy()
    mae = float(np.mean(np.abs(again[:, 0] - true_nm)))
    assert mae == pytest.approx(metrics["test"]["wavelength"]["mae_nm"], rel=1e-4)
    molecule = test_rows["molecule"].iloc[0]
    toluene, methanol = predict([molecule] * 2, ["toluene", resolve_solvent("methanol")])
    if encoder == "none":
        torch.testing.assert_close(torch.tensor(toluene), torch.tensor(methanol))
    assert solvatochromism_main([str(run)]) in (0, 1)  # runs end to end on a run folder
