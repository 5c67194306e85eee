"""Alembic environment. The app runs migrations in code (storage.migrate.upgrade) and passes its
connection in `config.attributes["connection"]`; the alembic CLI (`alembic -c storage/alembic.ini`)
uses sqlalchemy.url from the ini, else the app's default store."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from storage.tables import Base

config = context.config
if config.config_file_name and "connection" not in config.attributes:
    fileConfig(config.config_file_name)  # the CLI's logging; the app keeps its own
target_metadata = Base.metadata


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters most things by copying the table; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from storage.store import default_url

    engine = create_engine(config.get_main_option("sqlalchemy.url") or default_url())
    with engine.connect() as conn:
        _configure_and_run(conn)
        conn.commit()
    engine.dispose()


def run_migrations_offline() -> None:
    from storage.store import default_url

    context.configure(
        url=config.get_main_option("sqlalchemy.url") or default_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
