"""``create_app(settings)``: the FastAPI app of the screening service.

Creating the app connects to the database (the embedded SQLite migrates itself; any other
database must already be migrated, else :class:`~api.db.DatabaseNotMigrated`), loads the model
and registers it. Starting the app starts the embedded worker threads and their heartbeat;
stopping it stops them. ``/docs`` is Swagger UI served from the ``swagger_ui_bundle`` package
(no CDN: it works offline). A client that disconnects mid-request is logged in one line.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

import zincfluor
from api import db, web
from api.deps import AppState
from api.errors import BodyLimitMiddleware, install_error_handlers
from api.jobs import WorkerPool
from api.limits import document_limits
from api.routes import ROUTERS
from api.settings import Settings

__all__ = ["create_app", "prepare_database", "DOCS_ASSETS"]

DOCS_ASSETS = "/docs/assets"  # Swagger UI's files, from the swagger_ui_bundle package

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
    log.info("database: %s", db.display_url(engine))
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
                heartbeat_seconds=settings.heartbeat_interval,
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
        docs_url=None,  # served below from local files
        redoc_url=None,  # ReDoc would load from a CDN: /docs is the documentation
    )
    app.state.zincfluor = state
    install_error_handlers(app)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    _install_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(web.router)  # the web page at / (api/web)
    document_limits(app, settings)
    return app


def _install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI whose script, style and icon are files of ``swagger_ui_bundle``."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )


async def _client_disconnected(request: Request, error: ClientDisconnect) -> Response:
    """The client went away before its request was read: one log line, no traceback (nobody
    is left to read the answer)."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.warning("%s disconnected before its request %s %s was read; dropped", client,
                request.method, request.url.path)
    return Response(status_code=400)
