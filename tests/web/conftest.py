"""Fixtures of the web page tests: the service's tiny fixture model, an app under a TestClient,
a live uvicorn server on a free port, and Chromium driven by Playwright.

The model is the one ``tests/api`` ships (a 2-epoch GCN on the fixture molecules; no trust
files, no wavelength head). Browser tests need Debian's ``/usr/bin/chromium`` (``make test``
installs it when run as root) and the ``playwright`` package; without either they are skipped,
saying why. Playwright never downloads a browser here: it launches that executable.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(REPO_ROOT):  # ``import api`` must find the service package
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(1, str(REPO_ROOT / "tests" / "api"))

from api_helpers import service_settings  # noqa: E402
from service_processes import free_port  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import fastapi.testclient  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _zincfluor_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ZINCFLUOR_HOME", str(tmp_path_factory.mktemp("zincfluor-home")))


@pytest.fixture(scope="session")
def web_model_dir(tmp_path_factory) -> Path:
    """A model folder shipped from a 2-epoch run on the fixture data (as in tests/api)."""
    from molecule_fixtures import write_deep4chem_csv

    from zincfluor.pipeline import DataOptions, TrainRunConfig, train_run
    from zincfluor.screening.card import ship_model
    from zincfluor.train.trainer import TrainerConfig

    root = tmp_path_factory.mktemp("web-model")
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
def web_predictor(web_model_dir):
    from zincfluor.screening import Predictor

    return Predictor.load(web_model_dir, device="cpu")


def make_app(database_url: str, model_dir: Path, predictor, **overrides):
    from api import db
    from api.app import create_app
    from api.served import ServedModel

    engine = db.make_engine(database_url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    settings = service_settings(database_url, model_dir, **overrides)
    return create_app(settings, served=ServedModel.load(settings, predictor=predictor))


def new_key(app, name: str = "web-tester") -> str:
    from api import store
    from api.db import session_scope

    with session_scope(app.state.zincfluor.sessions) as session:
        return store.create_api_key(session, name)[1]


@pytest.fixture
def web_app(tmp_path, web_model_dir, web_predictor):
    """The app on a fresh SQLite database (no worker threads), its TestClient and a key."""
    from fastapi.testclient import TestClient

    app = make_app(f"sqlite:///{tmp_path / 'web.db'}", web_model_dir, web_predictor)
    with TestClient(app) as client:
        yield app, client, new_key(app)


class LiveServer:
    """uvicorn serving the app in a thread on 127.0.0.1:port (with one worker thread)."""

    def __init__(self, app, port: int):
        import uvicorn

        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server(tmp_path, web_model_dir, web_predictor):
    """A live server (SQLite in ``tmp_path``, one screen worker thread) and a key for it."""
    app = make_app(f"sqlite:///{tmp_path / 'live.db'}", web_model_dir, web_predictor,
                   worker_threads=1)
    with LiveServer(app, free_port()) as server:
        server.key = new_key(app)
        yield server


def chromium_skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.is_file():
        found = shutil.which("chromium")
        return (f"{CHROMIUM} is missing" + (f" ({found} is not it)" if found else "")
                + "; `make test` installs it when run as root (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing; pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def browser():
    """Chromium (Debian's, headless) under Playwright for the session."""
    reason = chromium_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser page (1280 x 900) whose console errors and CSP violations the test can
    check (``page.errors``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error"
            and page.errors.append(f"console: {message.text}"))
    page.set_default_timeout(30_000)
    yield page
    context.close()
