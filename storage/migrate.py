"""Schema migrations, run in code: Alembic with a configuration built here, no ini file needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from storage.database import Store, StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x62756467_6574  # any constant: serialises concurrent upgrades on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(store: Store) -> str | None:
    with store.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest). Safe when several processes open
    the same store at once: the upgrade runs in one write transaction (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: under an advisory lock), so the second process finds the work done."""
    if revision == "head" and current_revision(store) == head_revision():
        return
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def downgrade(store: Store, revision: str) -> None:
    with store.write() as conn:
        command.downgrade(alembic_config(conn), revision)


def check_schema(store: Store) -> None:
    """Raise StoreError when a table or column this version writes is missing (a column dropped by
    hand, a table restored from elsewhere): said once at open, instead of a driver error in the
    middle of a run, and before anything is written."""
    from storage.tables import Base

    with store.read() as conn:
        inspector = inspect(conn)
        present = set(inspector.get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                missing = f"table {table.name}"
                break
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            lacking = [column.name for column in table.columns if column.name not in columns]
            if lacking:
                missing = "column " + ", ".join(f"{table.name}.{name}" for name in lacking)
                break
        else:
            return
    raise StoreError(f"the store {store.name} lacks {missing}, which this version of budget-arena needs: it was "
                     "altered outside budget-arena; restore it from a backup, or use a new store (--db)",
                     kind="schema")
