"""Fixtures of the service tests: a tiny shipped model, a PostgreSQL cluster, migrated databases.

Every test that takes ``service`` (or ``make_service`` / ``database_url``) runs twice: against
SQLite and against a real PostgreSQL 15 that this file starts (``initdb`` + ``pg_ctl`` in a
temporary folder, listening only on a unix socket) and stops at the end of the session. Without
PostgreSQL binaries the PostgreSQL runs are skipped, saying why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from itertools import count
from pathlib import Path

import pytest

# The repository root goes first on sys.path: ``import api`` must find the service package,
# never this tests/api folder (tests/ is on sys.path too, see tests/conftest.py).
REPO_ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(REPO_ROOT):
    sys.path.insert(0, str(REPO_ROOT))

from api_helpers import service_settings  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

# FastAPI's TestClient runs on httpx; Starlette warns (once, on import) that it prefers httpx2
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import fastapi.testclient  # noqa: F401

PG_PORT = 5432  # only names the unix socket inside a private folder: never collides
_database_numbers = count(1)


@pytest.fixture(autouse=True)
def _zincfluor_home(tmp_path_factory, monkeypatch):
    """The service's data folder (``ZINCFLUOR_HOME``, where the embedded database lives) is a
    temporary folder: no test writes to the real home."""
    monkeypatch.setenv("ZINCFLUOR_HOME", str(tmp_path_factory.mktemp("zincfluor-home")))


# --- model -----------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models on a shared CPU run several times faster on one thread (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A model folder (checkpoint, card.json) shipped from a 2-epoch run on the fixture data."""
    from molecule_fixtures import write_deep4chem_csv

    from zincfluor.pipeline import DataOptions, TrainRunConfig, train_run
    from zincfluor.screening.card import ship_model
    from zincfluor.train.trainer import TrainerConfig

    root = tmp_path_factory.mktemp("api-model")
    data = write_deep4chem_csv(root / "measurements.csv")
    config = TrainRunConfig(
        data=DataOptions(str(data)), out=str(root / "run"), hidden_dim=16, num_layers=2,
        projection_dim=None, batch_size=16, trainer=TrainerConfig(epochs=2), device="cpu",
        cache_dir="none", n_jobs=1, seed=1,
    )
    train_run(config, progress=False)
    ship_model(root / "run", root / "model", name="test-emission8", description="tiny")
    return root / "model"


@pytest.fixture(scope="session")
def shared_predictor(model_dir):
    """One loaded predictor for every app of the session (loading is the slow part)."""
    from zincfluor.screening import Predictor

    return Predictor.load(model_dir, device="cpu")


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    candidates = [os.environ.get("ZINCFLUOR_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary folder (run as ``postgres`` when root)."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="zincfluor-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").is_file() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr}{result.stdout}{log}")

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = (f"-k {self.root} -p {PG_PORT} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={PG_PORT}"

    def admin(self, sql: str) -> None:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()

    def new_database(self, template: str | None = None) -> str:
        name = f"zf_{os.getpid()}_{next(_database_numbers)}"
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster():
    """A running PostgreSQL cluster for the session, stopped at its end (also on failure)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (looked in $ZINCFLUOR_PG_BIN, "
                    "/usr/lib/postgresql/*/bin and PATH); install postgresql to run these")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# --- migrated databases ----------------------------------------------------------------------


def _migrate(url: str) -> None:
    from api import db

    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        if db.is_sqlite(engine):
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_cluster) -> str:
    """A migrated database that each PostgreSQL test copies (CREATE DATABASE ... TEMPLATE)."""
    url = pg_cluster.url("zf_template")
    pg_cluster.admin("CREATE DATABASE zf_template")
    _migrate(url)
    return "zf_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path) -> str:
    """A fresh, migrated database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "zincfluor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database(template=request.getfixturevalue("pg_template"))


@pytest.fixture
def empty_database_url(backend, request, tmp_path) -> str:
    """A fresh database of the test's backend with no tables at all."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


# --- the service -----------------------------------------------------------------------------


class Service:
    """An app under a TestClient, with helpers to make keys and run the queue by hand."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    @property
    def state(self):
        return self.app.state.zincfluor

    @property
    def served(self):
        return self.state.served

    def new_key(self, name: str = "tester") -> str:
        from api import store
        from api.db import session_scope

        with session_scope(self.state.sessions) as session:
            return store.create_api_key(session, name)[1]

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def worker(self, name: str = "test-worker", **options):
        from api.jobs import ChunkWorker

        settings = self.state.settings
        return ChunkWorker(
            self.served, self.state.sessions,
            lease_seconds=options.get("lease_seconds", settings.lease_seconds),
            max_attempts=options.get("max_attempts", settings.max_attempts), name=name,
        )

    def drain(self, name: str = "test-worker") -> int:
        """Process every claimable chunk in this thread; returns how many were processed."""
        worker = self.worker(name)
        done = 0
        while worker.run_once():
            done += 1
        return done

    def wait_for(self, screen_id: str, key: str, statuses=("done", "failed"),
                 timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.client.get(f"/v1/screens/{screen_id}", headers=self.auth(key)).json()
            if body["status"] in statuses or time.monotonic() > deadline:
                return body
            time.sleep(0.02)


@pytest.fixture
def make_service(database_url, model_dir, shared_predictor):
    """``make_service(**settings)`` -> a started :class:`Service` on the test's database."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.served import ServedModel

    clients = []

    def make(**overrides) -> Service:
        settings = service_settings(database_url, model_dir, **overrides)
        served = ServedModel.load(settings, predictor=shared_predictor)
        app = create_app(settings, served=served)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Service(app, client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def service(make_service) -> Service:
    return make_service()
