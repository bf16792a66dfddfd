"""``create_app(settings)``: the FastAPI app of the screening service.

Creating the app connects to the database (the embedded SQLite migrates itself; any other
database must already be migrated, else :class:`~api.db.DatabaseNotMigrated`), loads the model
and registers it. Starting the app starts the embedded worker threads; stopping it stops them.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

import zincfluor
from api import db
from api.deps import AppState
from api.errors import BodyLimitMiddleware, install_error_handlers
from api.jobs import WorkerPool
from api.routes import ROUTERS
from api.settings import Settings

__all__ = ["create_app", "prepare_database"]

log = logging.getLogger("zincfluor.api")

DESCRIPTION = """\
Predict the emission levels of molecules from SMILES and rank them by **rare score**, the
probability mass on the rare levels (red, far-red, near-infrared for the default model).

Every `/v1` route needs an API key: `Authorization: Bearer KEY` (make one with
`zincfluor apikey create --name NAME`). Errors are JSON: `{"error": ..., "code": ...}`.
"""


def prepare_database(settings: Settings, engine=None):
    """An engine for the settings' database, migrated (embedded SQLite) or checked (others)."""
    engine = engine or db.make_engine(settings.url)
    if settings.embedded:
        db.upgrade(engine)
    else:
        db.check_migrated(engine)
    return engine


def create_app(settings: Settings | None = None, *, served=None, engine=None) -> FastAPI:
    """The app for ``settings`` (default: from the environment).

    ``served`` is an already loaded :class:`~api.served.ServedModel` (tests share one model);
    ``engine`` an existing engine for the settings' database.
    """
    from api.served import ServedModel

    settings = settings or Settings.from_env()
    owns_engine = engine is None
    engine = prepare_database(settings, engine)
    sessions = db.make_sessionmaker(engine)
    served = served or ServedModel.load(settings)
    with db.session_scope(sessions) as session:
        served.register(session)
    state = AppState(settings=settings, engine=engine, sessions=sessions, served=served)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.worker_threads > 0:
            state.pool = WorkerPool(
                served, sessions, threads=settings.worker_threads,
                lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts,
                poll_seconds=settings.poll_seconds,
            )
            state.pool.start()
            log.info("started %d screen worker thread(s)", settings.worker_threads)
        try:
            yield
        finally:
            if state.pool is not None:
                state.pool.stop()
                state.pool = None
            if owns_engine:
                engine.dispose()

    app = FastAPI(
        title="zincfluor screening service",
        version=zincfluor.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.zincfluor = state
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
