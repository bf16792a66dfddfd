"""Helpers shared by the service tests (importable as ``api_helpers``)."""

from __future__ import annotations

from pathlib import Path


def served_test_client(sqlite_template: Path, model_dir: Path, tmp_path: Path):
    """Yield a TestClient of an app serving ``model_dir`` on a copy of the migrated SQLite
    template (use as ``yield from`` in a fixture)."""
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.served import ServedModel

    path = tmp_path / "zincfluor.db"
    shutil.copyfile(sqlite_template, path)
    settings = service_settings(f"sqlite:///{path}", model_dir)
    app = create_app(settings, served=ServedModel.load(settings))
    with TestClient(app) as test_client:
        yield test_client


def bearer_header(client, name: str = "tester") -> dict[str, str]:
    """The Authorization header of a new API key ``name`` made in ``client``'s database."""
    from api import store
    from api.db import session_scope

    with session_scope(client.app.state.zincfluor.sessions) as session:
        return {"Authorization": f"Bearer {store.create_api_key(session, name)[1]}"}


def service_settings(url: str, model_dir: Path, **overrides):
    """Settings for a test app: no worker threads (tests run the queue), small chunks."""
    from api.settings import Settings

    base = dict(database_url=url, model_dir=str(model_dir), worker_threads=0, chunk_size=4,
                poll_seconds=0.02, lease_seconds=30.0, max_attempts=3)
    base.update(overrides)
    return Settings(**base)


def write_wavelength_member(path: Path, seed: int = 0) -> Path:
    """A random GCN with a Gaussian wavelength head saved as a checkpoint at ``path`` (no
    training: service tests need its fields, not its accuracy)."""
    import torch

    from zincfluor.chem import FeaturizerConfig
    from zincfluor.data import EMISSION8
    from zincfluor.nn import build_classifier, gcn_spec
    from zincfluor.nn.heads import head_spec
    from zincfluor.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    config = FeaturizerConfig()
    head = head_spec("gaussian", 8, edges=list(EMISSION8.edges),
                     train_nm=[420.0, 510.0, 650.0])
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2, head=head)
    model = build_classifier(spec).eval()
    with torch.no_grad():  # random batch-norm statistics, so members differ
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.5)
    metadata = {"kind": "molecules", "featurizer": config.to_dict(),
                "label_scheme": EMISSION8.to_dict()}
    return save_checkpoint(path, model=model, model_spec=spec, class_counts=[10] * 8,
                           method={"name": "gaussian-nll", "hparams": {}}, metadata=metadata)
