"""The trust/ folder of a model: written, read back, partial folders, and a full build."""

import json

import numpy as np
import pytest

from zincfluor.trust.conformal import fit_interval_conformal, fit_level_conformal
from zincfluor.trust.domain import fit_domain
from zincfluor.trust.neighbours import build_reference_set
from zincfluor.trust.store import (
    CONFORMAL_FILE,
    TrustFiles,
    load_trust,
    save_trust,
    trust_dir,
)

LEVELS = ["a", "b", "c"]


def _trust() -> TrustFiles:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=60)
    labels = rng.integers(0, 3, size=60)
    nm = rng.uniform(400, 600, size=60)
    return TrustFiles(
        levels=fit_level_conformal(probs, labels, LEVELS),
        interval=fit_interval_conformal(nm * 0.95, nm * 1.05, nm * 1.02, head_coverage=0.8),
        domain=fit_domain(rng.uniform(size=60), labels == 0),
        reference_set=build_reference_set(["CCO", "c1ccccc1"], [420.0, 380.0], [1, 0],
                                          [("https://doi.org/10.1021/x1",), ()], LEVELS),
        report={"calibrated_on": "test"},
    )


def test_a_model_folder_gets_its_trust_files_back(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    trust = _trust()
    folder = save_trust(tmp_path, trust)
    assert folder == trust_dir(tmp_path / "checkpoint.pt") == tmp_path / "trust"
    loaded = load_trust(tmp_path)
    assert loaded.levels == trust.levels and loaded.interval == trust.interval
    assert loaded.domain == trust.domain and loaded.report == trust.report
    assert loaded.reference_set.smiles == ["CCO", "c1ccccc1"]


def test_a_folder_without_trust_files_or_a_part_of_them(tmp_path):
    empty = load_trust(tmp_path)
    assert empty.levels is None and empty.domain is None and empty.reference_set is None
    save_trust(tmp_path, TrustFiles(domain=_trust().domain))
    partial = load_trust(tmp_path)
    assert partial.domain is not None and partial.levels is None


def test_a_trust_file_of_another_format_is_refused(tmp_path):
    save_trust(tmp_path, _trust())
    path = tmp_path / "trust" / CONFORMAL_FILE
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(data, format=99)))
    with pytest.raises(ValueError, match="format 1"):
        load_trust(tmp_path)


@pytest.mark.slow
def test_build_trust_on_a_small_trained_run(tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    from zincfluor.runs.train import DataOptions, TrainRunConfig, train_run
    from zincfluor.train.trainer import TrainerConfig
    from zincfluor.trust.build import build_trust

    data = write_deep4chem_csv(tmp_path / "table.csv", per_level=20)
    run = tmp_path / "run"
    train_run(TrainRunConfig(
        data=DataOptions(str(data)), out=str(run), hidden_dim=8, num_layers=2,
        projection_dim=None, batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu",
        cache_dir="none", n_jobs=1, method="lds", head="gaussian", target="emission_nm",
    ), progress=False)
    trust = build_trust(run, data, alphas=(0.2,), cache_dir="none")
    loaded = load_trust(run)
    assert loaded.levels == trust.levels and loaded.interval is not None
    split = json.loads((run / "split.json").read_text())
    assert len(loaded.reference_set) == len(split["train"])
    assert loaded.reference_set.references[0] == ("test",)  # the fixture's Reference text
    report = loaded.report
    assert sum(row["n"] for row in report["test_levels"]["0.8"]["per_level"]) == len(
        split["test"])
    assert 0.0 <= report["test_emission_nm"]["0.8"]["coverage"] <= 1.0
    assert 0.0 <= loaded.domain.threshold <= 1.0
