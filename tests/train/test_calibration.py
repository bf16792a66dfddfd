"""Temperature scaling: the fit, the calibrated model, and `zincfluor model calibrate`."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.train.calibration import fit_temperature, mean_nll

runner = CliRunner()


def sampled(scale: float, n: int = 20000):
    """Labels drawn from softmax(z), returned with logits scale * z (true temperature = scale)."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(n, 8, generator=generator) * 2
    y = torch.multinomial(torch.softmax(z, 1), 1, generator=generator).squeeze(1)
    return scale * z, y


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_fit_recovers_the_temperature_of_over_and_under_confident_logits(scale):
    logits, targets = sampled(scale)
    temperature = fit_temperature(logits, targets)
    assert temperature == pytest.approx(scale, rel=0.03)
    assert mean_nll(logits, targets, temperature) <= mean_nll(logits, targets)


def test_fit_is_the_minimum_of_the_nll():
    logits, targets = sampled(2.0, n=500)
    best = fit_temperature(logits, targets)
    for other in (best * 0.97, best * 1.03):
        assert mean_nll(logits, targets, best) < mean_nll(logits, targets, other)


def test_fit_rejects_bad_inputs():
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(torch.tensor([[float("inf"), 0.0]]), torch.tensor([0]))


def test_spec_temperature_divides_the_logits_only():
    from torch_geometric.data import Batch, Data

    spec = gcn_spec(5, 3, hidden_dim=8, num_layers=2)
    torch.manual_seed(0)
    plain = build_classifier(spec).eval()
    scaled = build_classifier(dict(spec, temperature=2.5)).eval()
    scaled.load_state_dict(plain.state_dict())  # the state dict does not hold T
    batch = Batch.from_data_list([Data(x=torch.randn(4, 5),
                                       edge_index=torch.tensor([[0, 1], [1, 0]]))])
    torch.testing.assert_close(scaled(batch), plain(batch) / 2.5)
    torch.testing.assert_close(scaled.features(batch), plain.features(batch))
    with pytest.raises(ValueError, match="temperature"):
        build_classifier(dict(spec, temperature=0.0))


@pytest.mark.slow
def test_calibrate_command_writes_a_shippable_run_with_the_same_levels(tmp_path):
    import numpy as np
    from molecule_fixtures import series_molecules, write_deep4chem_csv
    from torch_geometric.data import Batch

    from zincfluor.chem import featurize_many
    from zincfluor.screening import Predictor
    from zincfluor.train.checkpoint import load_checkpoint, model_from_checkpoint

    data = write_deep4chem_csv(tmp_path / "deep4chem.csv")
    run = tmp_path / "run"
    common = ["--cache-dir", "none", "--device", "cpu", "--no-progress"]
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(run), "--epochs", "3",
                                 "--hidden-dim", "16", "--num-layers", "2", "--batch-size", "16",
                                 "--workers", "1", *common])
    assert result.exit_code == 0, result.output
    moved = tmp_path / "moved.csv"  # the recorded data path is gone: --data says where it is
    shutil.move(data, moved)
    (run / "split.json").unlink()  # runs archived without it: the seeded split is rebuilt
    calibrated = tmp_path / "calibrated"
    result = runner.invoke(app, ["model", "calibrate", str(run), "--out", str(calibrated),
                                 "--data", str(moved), *common])
    assert result.exit_code == 0, result.output
    assert "T = " in result.output

    before = json.loads((run / "metrics.json").read_text())
    after = json.loads((calibrated / "metrics.json").read_text())
    block = after["calibration"]
    assert block["valid_nll_after"] <= block["valid_nll_before"] + 1e-9
    for key in ("top1", "balanced_accuracy", "macro_f1", "tail_top_2"):
        assert after["test"][key] == pytest.approx(before["test"][key]), key
    assert after["test"]["ece"] == pytest.approx(block["test_ece_after"])
    checkpoint = load_checkpoint(calibrated)
    assert model_from_checkpoint(checkpoint).temperature == pytest.approx(block["temperature"])
    # the screening fast path divides by T too
    smiles = [s for s, _, _ in series_molecules()]
    model = model_from_checkpoint(checkpoint)
    with torch.no_grad():
        expected = torch.softmax(
            model(Batch.from_data_list(featurize_many(smiles, n_jobs=1).graphs)), dim=1
        ).numpy()
    probs = Predictor.load(calibrated, device="cpu", batch_size=32).predict(smiles).probs
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)

    shipped = tmp_path / "model"
    result = runner.invoke(app, ["model", "ship", str(calibrated), "--out", str(shipped),
                                 "--name", "calibrated"])
    assert result.exit_code == 0, result.output
    readme = (shipped / "README.md").read_text()
    assert f"logits / {block['temperature']:.3f}" in readme
    result = runner.invoke(app, ["model", "calibrate", str(calibrated), "--out",
                                 str(tmp_path / "twice"), "--data", str(moved), *common])
    assert result.exit_code != 0 and "calibrated already" in result.output
