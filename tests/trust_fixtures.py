"""A tiny trained model folder with trust files, shared by the trust integration tests.

Import the fixtures into a test module (``from trust_fixtures import trusted_model, ...``);
each is built once per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DOI = "DOI: 10.1021/test.0001"


def _with_references(path: Path) -> Path:
    """The fixture table with a DOI in every row's Reference column."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index("Reference")
    for row in rows[1:]:
        row[at] = DOI
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture(scope="session")
def trust_data(tmp_path_factory) -> Path:
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("trust-data")
    return _with_references(write_deep4chem_csv(root / "measurements.csv"))


@pytest.fixture(scope="session")
def plain_model(tmp_path_factory, trust_data) -> Path:
    """A model folder shipped from a 2-epoch run on the fixture table, without trust files."""
    from zincfluor.pipeline import DataOptions, TrainRunConfig, train_run
    from zincfluor.screening.card import ship_model
    from zincfluor.train.trainer import TrainerConfig

    root = tmp_path_factory.mktemp("trust-model")
    config = TrainRunConfig(
        data=DataOptions(str(trust_data)), out=str(root / "run"), hidden_dim=16, num_layers=2,
        projection_dim=None, batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu",
        cache_dir="none", n_jobs=1, seed=1,
    )
    train_run(config, progress=False)
    ship_model(root / "run", root / "plain", name="tiny-plain", description="no trust")
    return root / "plain"


@pytest.fixture(scope="session")
def trusted_model(tmp_path_factory, plain_model, trust_data) -> Path:
    """The same model folder with trust files, domain plot and trust section in its card."""
    from zincfluor.screening.card import build_model_trust

    folder = tmp_path_factory.mktemp("trusted") / "model"
    shutil.copytree(plain_model, folder)
    build_model_trust(folder, trust_data, device="cpu")
    return folder
