"""The Predictor's emission wavelength (a Gaussian head's median and 80 % interval) and ensembles
(members' probabilities averaged, the interval that of their mixture, the rare score's spread)."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zincfluor.chem import FeaturizerConfig
from zincfluor.data import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.distribution import mixture_quantiles, normal_quantile
from zincfluor.nn.heads import head_spec
from zincfluor.screening import Predictor
from zincfluor.screening.screen import screen_library
from zincfluor.train.checkpoint import ENSEMBLE_FILE, save_checkpoint

SMILES = ["c1ccccc1O", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "C1CC", "[Na+].[Cl-]", "O=C(O)c1ccccc1"]


def write_member(folder: Path, seed: int, head: str) -> Path:
    torch.manual_seed(seed)
    config = FeaturizerConfig()
    spec_head = head_spec(head, 8, edges=list(EMISSION8.edges), train_nm=[420.0, 510.0, 650.0])
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2, head=spec_head)
    model = build_classifier(spec).eval()
    with torch.no_grad():  # random batch-norm statistics, so members differ more
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.5)
    metadata = {"kind": "molecules", "featurizer": config.to_dict(),
                "label_scheme": EMISSION8.to_dict()}
    return save_checkpoint(folder / "checkpoint.pt", model=model, model_spec=spec,
                           class_counts=[10] * 8, method={"name": "gaussian-nll", "hparams": {}},
                           metadata=metadata)


@pytest.fixture
def ensemble(tmp_path) -> Path:
    for seed in range(3):
        write_member(tmp_path / f"member-{seed}", seed, "gaussian")
    members = [f"member-{seed}/checkpoint.pt" for seed in range(3)]
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"members": members}))
    return tmp_path


def test_mixture_quantiles_of_one_component_are_the_normal_quantiles():
    f64 = torch.float64
    means, stds = torch.tensor([[0.3, -1.0]], dtype=f64), torch.tensor([[2.0, 0.5]], dtype=f64)
    got = mixture_quantiles(means, stds, (0.5, 0.1, 0.9))
    z = normal_quantile(0.9)
    want = torch.tensor([[0.3, -1.0], [0.3 - 2 * z, -1.0 - 0.5 * z], [0.3 + 2 * z, -1 + 0.5 * z]],
                        dtype=f64)
    torch.testing.assert_close(got, want, atol=1e-9, rtol=0)


def test_mixture_median_of_a_symmetric_pair_is_the_midpoint_and_cdf_matches():
    means, stds = torch.tensor([[0.0], [4.0]]), torch.tensor([[1.0], [1.0]])
    median, low = mixture_quantiles(means, stds, (0.5, 0.1))
    assert float(median) == pytest.approx(2.0, abs=1e-9)
    cdf = 0.5 * (math.erfc(-float(low) / math.sqrt(2)) / 2
                 + math.erfc(-(float(low) - 4) / math.sqrt(2)) / 2)
    assert cdf == pytest.approx(0.1, abs=1e-9)


def test_a_gaussian_head_model_reports_its_median_and_80_percent_interval(tmp_path):
    write_member(tmp_path, 0, "gaussian")
    predictor = Predictor.load(tmp_path, device="cpu")
    assert predictor.predicts_wavelength and predictor.n_members == 1
    result = predictor.predict(SMILES)
    ok = result.ok
    assert ok.tolist() == [True, True, False, False, True]
    nm = result.emission_nm
    assert np.isnan(nm[~ok]).all()
    assert (nm[ok, 1] < nm[ok, 0]).all() and (nm[ok, 0] < nm[ok, 2]).all()
    prepared = predictor.prepare([SMILES[0]])
    from zincfluor.screening.predictor import _GraphBatch  # noqa: PLC0415 - test only

    with torch.no_grad():
        median, low, high = predictor.model.emission_nm(_GraphBatch(prepared.graphs), 0.8)
    np.testing.assert_allclose(nm[0], [float(median), float(low), float(high)], rtol=1e-5)
    assert result.member_probs is None


def test_an_ensemble_averages_its_members_and_reports_the_spread(ensemble):
    predictor = Predictor.load(ensemble, device="cpu")
    assert predictor.n_members == 3
    result = predictor.predict(SMILES)
    members = [Predictor.load(ensemble / f"member-{k}", device="cpu").predict(SMILES)
               for k in range(3)]
    ok = result.ok
    expected = np.mean([m.probs for m in members], axis=0)
    np.testing.assert_allclose(result.probs[ok], expected[ok], atol=1e-6)
    assert result.member_probs.shape == (3, len(SMILES), 8)
    medians = np.stack([m.emission_nm[:, 0] for m in members])
    # the mixture's median lies between the members' medians
    assert (result.emission_nm[ok, 0] >= medians[:, ok].min(axis=0) - 1e-3).all()
    assert (result.emission_nm[ok, 0] <= medians[:, ok].max(axis=0) + 1e-3).all()


def test_screen_with_an_ensemble_writes_the_spread_and_the_wavelength(ensemble, tmp_path):
    source = tmp_path / "library.smi"
    source.write_text("".join(f"{smiles} m{k}\n" for k, smiles in enumerate(SMILES)))
    predictor = Predictor.load(ensemble, device="cpu")
    out = tmp_path / "ranked.csv"
    summary = screen_library(predictor, source, out, target_levels=[5, 6, 7], jobs=1)
    assert (summary.ok, summary.invalid, summary.out_of_scope) == (3, 1, 1)
    rows = list(csv.DictReader(out.open()))
    assert {"rare_score_std", "emission_nm", "emission_nm_low", "emission_nm_high"} <= set(rows[0])
    scored = [row for row in rows if row["status"] == "ok"]
    for row in scored:
        assert float(row["emission_nm_low"]) < float(row["emission_nm"])
        assert float(row["rare_score_std"]) >= 0
    scores = [float(row["rare_score"]) for row in scored]
    assert scores == sorted(scores, reverse=True)
    lone_ion = next(row for row in rows if row["id"] == "m3")
    assert lone_ion["status"].startswith("out_of_scope") and lone_ion["emission_nm"] == ""


def test_a_wavelength_companion_adds_emission_nm_and_leaves_the_levels(tmp_path):
    """Rule 5 of bench/rare.py: a classifier's folder with a Gaussian model in `wavelength/`
    predicts the classifier's probabilities and the companion's emission maximum."""
    from zincfluor.screening.predictor import WAVELENGTH_FOLDER

    model = tmp_path / "model"
    write_member(model, 0, "linear")
    write_member(model / WAVELENGTH_FOLDER, 1, "gaussian")
    classifier = Predictor.load(model / "checkpoint.pt", device="cpu").predict(SMILES)
    companion = Predictor.load(model / WAVELENGTH_FOLDER, device="cpu").predict(SMILES)

    both = Predictor.load(model, device="cpu")
    assert both.predicts_wavelength and both.n_members == 1
    result = both.predict(SMILES)
    np.testing.assert_allclose(result.probs, classifier.probs, equal_nan=True)
    np.testing.assert_allclose(result.emission_nm, companion.emission_nm, equal_nan=True,
                               rtol=1e-6)
    assert classifier.emission_nm is None and np.isfinite(result.emission_nm[:2]).all()


def test_a_wavelength_companion_must_fit_its_model(tmp_path):
    from zincfluor.train.checkpoint import load_checkpoint

    write_member(tmp_path / "gauss", 0, "gaussian")
    write_member(tmp_path / "linear", 1, "linear")
    gauss, linear = (load_checkpoint(tmp_path / name / "checkpoint.pt")
                     for name in ("gauss", "linear"))
    with pytest.raises(ValueError, match="predicts the wavelength itself"):
        Predictor(gauss, device="cpu", wavelength=[gauss])
    with pytest.raises(ValueError, match="needs a wavelength head"):
        Predictor(linear, device="cpu", wavelength=[linear])
    other = {**gauss, "metadata": {**gauss["metadata"], "molecule_features": {"kind": "morgan"}}}
    with pytest.raises(ValueError, match="wavelength companion has other molecule_features"):
        Predictor(linear, device="cpu", wavelength=[other])
