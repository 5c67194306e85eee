"""Where runs are kept: the store URL, the engine, and read/write transactions.

The default store is a SQLite file `<data dir>/budget-arena.db` (data dir: BUDGET_ARENA_DATA_DIR,
else the platform's user data directory); BUDGET_ARENA_DB (any SQLAlchemy URL, PostgreSQL included)
overrides it (both through reasoning.config). Opening a store upgrades its schema to head.

SQLite is set up for several writers (threads and processes): WAL, a 30 s busy timeout, foreign
keys on, and `BEGIN IMMEDIATE` for write transactions. pysqlite's own deferred BEGIN would let two
writers both hold read locks and then fail (or lose work) when both try to upgrade to write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from reasoning.config import current_settings

BUSY_TIMEOUT_SECONDS = 30.0
_IMMEDIATE = "budget_arena_immediate"  # execution option: this transaction will write


def default_url() -> str:
    """BUDGET_ARENA_DB (or `db` in the config file), else `<data dir>/budget-arena.db`: read as the
    settings are now, not as they were at start (BUDGET_ARENA_DB may change at run time)."""
    return current_settings().db_url


def normalise_url(url: str) -> URL:
    """Parse a store URL; a bare postgresql:// means psycopg 3 (the driver we ship), not psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Store:
    """One database: an engine plus `read()` and `write()` transactions. Thread-safe."""

    def __init__(self, url: str):
        parsed = normalise_url(url)
        self.url = parsed.render_as_string(hide_password=False)
        self.display_url = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.engine: Engine = _sqlite_engine(parsed) if self.is_sqlite else create_engine(
            parsed, pool_pre_ping=True
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that writes: committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (one consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: pooled connections move between threads, one at a time. An
    # in-memory database exists in one connection only (single-threaded use: quick experiments).
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        **({"poolclass": StaticPool} if in_memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control away from sqlite3 so the "begin" hook below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")

    return engine


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The store at `url` (default: default_url()), schema upgraded to head. One Store per URL
    per process; runs left `running` by a dead process on this host are marked interrupted."""
    resolved = normalise_url(url or default_url()).render_as_string(hide_password=False)
    with _stores_lock:
        store = _stores.get(resolved)
        if store is not None:
            return store
        from storage.liveness import mark_interrupted_dead_owners
        from storage.migrate import upgrade

        store = Store(resolved)
        upgrade(store)
        mark_interrupted_dead_owners(store)
        _stores[resolved] = store
        return store


def forget_store(store: Store) -> None:
    """Drop a store from the per-process cache and close its connections (tests, tools)."""
    with _stores_lock:
        for key, value in list(_stores.items()):
            if value is store:
                del _stores[key]
    store.close()
