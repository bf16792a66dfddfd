"""Commands of the screening service: ``serve``, ``worker``, ``db ...`` and ``apikey ...``.

The service itself is the top-level :mod:`api` package; these commands only read options, build
:class:`api.settings.Settings` and call into it. Options override ``ZINCFLUOR_*`` variables.
"""

from __future__ import annotations

import signal
import threading

import typer
from rich.table import Table

from zincfluor.commands.common import console, fail, friendly_errors, out_console

__all__ = ["register"]

DB_URL_HELP = (
    "SQLAlchemy URL, e.g. postgresql+psycopg://user:pass@host/db. Default: "
    "$ZINCFLUOR_DATABASE_URL, else the embedded SQLite zincfluor.db in the data folder "
    "$ZINCFLUOR_HOME (default ~/.local/share/zincfluor), migrated on use."
)
MODEL_HELP = "Model folder (or checkpoint.pt). Default: $ZINCFLUOR_MODEL, else the default model."

db_app = typer.Typer(help="Migrate the service's database (alembic).", no_args_is_help=True)
apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _settings(**overrides):
    from api.settings import Settings

    return Settings.from_env(**overrides)


def _service_errors(command):
    """``friendly_errors`` plus the service's own: unmigrated or unreachable databases."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        from api.db import DatabaseNotMigrated

        try:
            return command(*args, **kwargs)
        except DatabaseNotMigrated as error:
            fail(str(error))
        except OperationalError as error:
            fail(f"cannot use the database: {str(error.orig or error).strip()}")

    return friendly_errors(wrapper)


def _engine(database_url: str | None, *, migrate_embedded: bool = True):
    """An engine for the chosen database; the embedded SQLite is migrated, others checked.
    Says on stderr which database it is (password hidden)."""
    from api.app import prepare_database
    from api.db import display_url, make_engine

    settings = _settings(database_url=database_url)
    console.print(f"database: {display_url(settings.url)}", soft_wrap=True, highlight=False)
    if not migrate_embedded:
        return settings, make_engine(settings.url)
    return settings, prepare_database(settings)


# --- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
@_service_errors
def db_upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """Migrate the database up (to the newest revision by default)."""
    from api import db

    _, engine = _engine(database_url, migrate_embedded=False)
    db.upgrade(engine, revision)
    out_console.print(f"{db.display_url(engine)} is at revision {db.current_revision(engine)}")


@db_app.command("downgrade")
@_service_errors
def db_downgrade(
    revision: str = typer.Argument("-1", help="Target revision: -1 (one step back), base, ..."),
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """Migrate the database down (one revision by default; 'base' drops every table)."""
    from api import db

    _, engine = _engine(database_url, migrate_embedded=False)
    db.downgrade(engine, revision)
    current = db.current_revision(engine) or "base (no tables)"
    out_console.print(f"{db.display_url(engine)} is at revision {current}")


@db_app.command("current")
@_service_errors
def db_current(
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """Print the database's revision and the newest one this zincfluor ships."""
    from api import db

    _, engine = _engine(database_url, migrate_embedded=False)
    current, head = db.current_revision(engine), db.head_revision()
    state = "up to date" if current == head else "needs `zincfluor db upgrade`"
    out_console.print(f"{db.display_url(engine)}: revision {current or 'none'} "
                      f"(newest {head}; {state})")


# --- apikey -----------------------------------------------------------------------------------


@apikey_app.command("create")
@_service_errors
def apikey_create(
    name: str = typer.Option(..., "--name", help="Who or what the key is for."),
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """Create a key and print it once (only its hash is stored: keep it safe)."""
    from api import store
    from api.db import make_sessionmaker, session_scope

    _, engine = _engine(database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        row, key = store.create_api_key(session, name)
        ident = row.id
    console.print(f"API key {ident} ({name}) created; it is shown only this once:")
    out_console.print(key, soft_wrap=True)


@apikey_app.command("list")
@_service_errors
def apikey_list(
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """List keys: id, name, prefix, created, revoked."""
    from api import store
    from api.db import make_sessionmaker, session_scope

    _, engine = _engine(database_url)
    table = Table(title="API keys")
    for column in ("id", "name", "prefix", "created", "revoked"):
        table.add_column(column)
    with session_scope(make_sessionmaker(engine)) as session:
        for row in store.list_api_keys(session):
            table.add_row(
                str(row.id), row.name, row.prefix + "...",
                row.created_at.strftime("%Y-%m-%d %H:%M"),
                row.revoked_at.strftime("%Y-%m-%d %H:%M") if row.revoked_at else "",
            )
    out_console.print(table)


@apikey_app.command("revoke")
@_service_errors
def apikey_revoke(
    key: str = typer.Argument(..., help="The key's id, prefix or name."),
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from api import store
    from api.db import make_sessionmaker, session_scope

    _, engine = _engine(database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        try:
            row = store.revoke_api_key(session, key)
        except KeyError as error:  # no such key: the user's input, not a bug
            fail(f"{error.args[0]}; see `zincfluor apikey list`")
        out_console.print(f"revoked API key {row.id} ({row.name}, {row.prefix}...)")


# --- serve and worker -------------------------------------------------------------------------


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_threads: int = typer.Option(
        None, "--worker-threads", min=0,
        help="Screen worker threads inside the service (default $ZINCFLUOR_WORKER_THREADS "
        "or 1; 0 when separate `zincfluor worker` processes do the screens).",
    ),
    old_worker_threads: int = typer.Option(
        None, "--workers-threads", min=0, hidden=True,
        help="The earlier spelling of --worker-threads, still accepted.",
    ),
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the screening service (HTTP API with OpenAPI docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.db import display_url

    if worker_threads is None:
        worker_threads = old_worker_threads
    settings = _settings(model_dir=model, worker_threads=worker_threads,
                         database_url=database_url)
    app = create_app(settings)
    served = app.state.zincfluor.served
    console.print(
        f"serving model {served.name} (rare levels: {', '.join(served.target_levels)}) on "
        f"http://{host}:{port}  (docs: /docs; {settings.worker_threads} worker thread(s))\n"
        f"database: {display_url(app.state.zincfluor.engine)}", soft_wrap=True, highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def worker(
    database_url: str = typer.Option(None, "--database-url", help=DB_URL_HELP),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    threads: int = typer.Option(1, "--threads", min=1, help="Worker threads in this process."),
    lease_seconds: float = typer.Option(
        None, "--lease-seconds",
        help="How long a claimed chunk stays claimed without a heartbeat (default "
        "$ZINCFLUOR_LEASE_SECONDS or 30); live workers renew it every third of it.",
    ),
    poll_seconds: float = typer.Option(
        None, "--poll-seconds", help="Wait between claims when there is no work (default 1)."
    ),
    max_attempts: int = typer.Option(
        None, "--max-attempts", help="Claims of a chunk before its screen fails (default 3)."
    ),
) -> None:
    """Process screens: claim chunks from the database until stopped (SIGTERM or Ctrl-C).

    Run any number of these next to `zincfluor serve --worker-threads 0`; a worker that is
    killed loses nothing: its chunk is claimed again once its lease expires (at once by a
    process on the same host).
    """
    from api.app import prepare_database
    from api.db import display_url, make_sessionmaker, session_scope
    from api.jobs import WorkerPool
    from api.served import ServedModel

    settings = _settings(database_url=database_url, model_dir=model,
                         lease_seconds=lease_seconds, poll_seconds=poll_seconds,
                         max_attempts=max_attempts)
    engine = prepare_database(settings)
    sessions = make_sessionmaker(engine)
    served = ServedModel.load(settings)
    with session_scope(sessions) as session:
        served.register(session)
    pool = WorkerPool(served, sessions, threads=threads, lease_seconds=settings.lease_seconds,
                      max_attempts=settings.max_attempts, poll_seconds=settings.poll_seconds,
                      prefix="worker", heartbeat_seconds=settings.heartbeat_interval)
    stop = threading.Event()

    def _stop(signum, _frame):
        console.print(f"signal {signum}: finishing the current chunk, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    pool.start()
    console.print(
        f"{threads} worker thread(s) for model {served.name} (id {served.model_id}) on "
        f"{display_url(engine)}; lease {settings.lease_seconds:g} s, heartbeat every "
        f"{settings.heartbeat_interval:g} s", soft_wrap=True, highlight=False,
    )
    while not stop.wait(1.0):
        pass
    pool.stop()
    done = sum(w.chunks_done for w in pool.workers)
    console.print(f"stopped after {done} chunk(s)")
    engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``worker``, ``db`` and ``apikey`` to the ``zincfluor`` command."""
    app.command("serve")(_service_errors(serve))
    app.command("worker")(_service_errors(worker))
    app.add_typer(db_app, name="db")
    app.add_typer(apikey_app, name="apikey")
