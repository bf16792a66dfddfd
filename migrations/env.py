"""Alembic environment: the engine comes from :func:`api.db.alembic_config` or the settings.

Run by ``zincfluor db ...`` (no ini file needed) or by plain ``alembic`` with the repository's
``alembic.ini``, where the database URL comes from ``ZINCFLUOR_DATABASE_URL`` as for the service.
"""

from __future__ import annotations

from alembic import context

from api.orm import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from api.settings import Settings

    return Settings.from_env().url


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from api.db import make_engine

        engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
