"""Migrations up and down, refusing unmigrated databases, and the service's CLI commands."""

import pytest
from api_helpers import service_settings
from sqlalchemy import inspect
from typer.testing import CliRunner

from api import db
from zincfluor.cli import app as cli

runner = CliRunner()
TABLES = {"api_keys", "models", "molecules", "predictions", "owner_predictions", "screens",
          "screen_items", "screen_chunks"}


def _flat(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_migrations_upgrade_to_head_and_downgrade_to_base(empty_database_url):
    engine = db.make_engine(empty_database_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        assert _tables(engine) == TABLES
        db.check_migrated(engine)
        db.downgrade(engine, "base")
        assert db.current_revision(engine) is None
        assert _tables(engine) == set()
        db.upgrade(engine)  # and up again on the same database
        assert _tables(engine) == TABLES
    finally:
        engine.dispose()


def test_service_refuses_an_unmigrated_database(empty_database_url, model_dir):
    from api.app import create_app

    with pytest.raises(db.DatabaseNotMigrated, match="run `zincfluor db upgrade`"):
        create_app(service_settings(empty_database_url, model_dir))
    result = runner.invoke(cli, ["serve", "--database-url", empty_database_url,
                                 "--model", str(model_dir)])
    assert result.exit_code == 2
    assert "zincfluor db upgrade" in _flat(result)
    worker = runner.invoke(cli, ["worker", "--database-url", empty_database_url,
                                 "--model", str(model_dir)])
    assert worker.exit_code == 2 and "zincfluor db upgrade" in _flat(worker)


def test_ready_reports_a_database_migrated_away_under_it(service):
    db.downgrade(service.state.engine, "base")
    ready = service.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert "zincfluor db upgrade" in ready.json()["checks"]["migrations"]
    db.upgrade(service.state.engine)


def test_embedded_sqlite_migrates_itself(tmp_path, model_dir, monkeypatch, shared_predictor):
    from api.app import create_app
    from api.served import ServedModel
    from api.settings import Settings

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("ZINCFLUOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZINCFLUOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZINCFLUOR_DB_PATH", raising=False)
    settings = Settings.from_env(model_dir=str(model_dir), worker_threads=0)
    assert settings.embedded and settings.url == f"sqlite:///{tmp_path / 'home' / 'zincfluor.db'}"
    app = create_app(settings, served=ServedModel.load(settings, predictor=shared_predictor))
    engine = app.state.zincfluor.engine
    assert db.current_revision(engine) == db.head_revision()
    assert (tmp_path / "home" / "zincfluor.db").is_file()
    assert list((tmp_path / "elsewhere").iterdir()) == []  # nothing under the working folder
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()


def test_settings_come_from_the_environment():
    from api.settings import Settings

    settings = Settings.from_env({"ZINCFLUOR_DATABASE_URL": "postgresql+psycopg://u@h/db",
                                  "ZINCFLUOR_CHUNK_SIZE": "50",
                                  "ZINCFLUOR_LEASE_SECONDS": "2.5",
                                  "ZINCFLUOR_TARGET_LEVELS": "red, near-infrared",
                                  "ZINCFLUOR_MODEL": "/models/x"}, chunk_size=70)
    assert settings.url == "postgresql+psycopg://u@h/db" and not settings.embedded
    assert settings.chunk_size == 70 and settings.lease_seconds == 2.5
    assert settings.target_levels == ("red", "near-infrared")
    assert settings.model_path == "/models/x"
    with pytest.raises(ValueError, match="ZINCFLUOR_CHUNK_SIZE"):
        Settings.from_env({"ZINCFLUOR_CHUNK_SIZE": "many"})
    with pytest.raises(ValueError, match="chunk_size"):
        Settings(chunk_size=0)


def test_db_and_apikey_commands(empty_database_url):
    url = ["--database-url", empty_database_url]
    before = runner.invoke(cli, ["db", "current", *url])
    assert before.exit_code == 0 and "revision none" in _flat(before)
    refused = runner.invoke(cli, ["apikey", "create", "--name", "x", *url])
    assert refused.exit_code == 2 and "zincfluor db upgrade" in _flat(refused)

    up = runner.invoke(cli, ["db", "upgrade", *url])
    assert up.exit_code == 0, up.output
    assert f"revision {db.head_revision()}" in _flat(up)
    assert "up to date" in _flat(runner.invoke(cli, ["db", "current", *url]))

    created = runner.invoke(cli, ["apikey", "create", "--name", "lab robot", *url])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("zf_") and len(key) > 40
    listed = runner.invoke(cli, ["apikey", "list", *url])
    assert "lab robot" in _flat(listed) and key[:11] in _flat(listed)
    assert key not in listed.output  # only the prefix is ever shown again
    revoked = runner.invoke(cli, ["apikey", "revoke", "lab robot", *url])
    assert revoked.exit_code == 0 and "revoked" in _flat(revoked)
    missing = runner.invoke(cli, ["apikey", "revoke", "nobody", *url])
    assert missing.exit_code == 2 and "no API key" in _flat(missing)

    engine = db.make_engine(empty_database_url)
    try:
        from api import store
        from api.db import make_sessionmaker

        with make_sessionmaker(engine)() as session:
            row = store.find_api_key(session, key)
            assert row is not None and row.revoked_at is not None
            assert row.key_hash != key and key not in (row.prefix, row.name)
    finally:
        engine.dispose()

    down = runner.invoke(cli, ["db", "downgrade", "base", *url])
    assert down.exit_code == 0 and "base" in _flat(down)


def test_orm_tables_match_the_migrations(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from api.orm import Base

    engine = db.make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
