"""A store's database: the engine, read/write transactions, and what its errors mean.

SQLite is set up for several writers (threads and processes): WAL, a 30 s busy timeout, foreign
keys on, and `BEGIN IMMEDIATE` for write transactions. pysqlite's own deferred BEGIN would let two
writers both hold read locks and then fail (or lose work) when both try to upgrade to write.

A store that cannot do its job raises StoreError: one line naming the store, what is wrong (full,
read-only, damaged, a schema altered by hand, unreachable) and what to do, instead of a driver's
traceback. `store_error` turns a driver exception into one.

Opening a store (schema upgrade, housekeeping, one Store per URL) is storage.store's job; this
module sits below storage.migrate and storage.liveness, which need Store but not opening.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_SECONDS = 30.0
_IMMEDIATE = "budget_arena_immediate"  # execution option: this transaction will write


class StoreError(RuntimeError):
    """The store cannot be opened, read or written. `str()` is one line: the store, what is wrong
    and the fix. `kind` says how a command exits: a store named wrongly (missing, url, unreachable)
    is bad input; the rest (full, read-only, damaged, schema, constraint, value, ended, fault) are store
    faults."""

    BAD_INPUT_KINDS = frozenset({"missing", "url", "unreachable"})

    def __init__(self, message: str, *, kind: str = "fault"):
        super().__init__(message)
        self.kind = kind

    @property
    def is_bad_input(self) -> bool:
        return self.kind in self.BAD_INPUT_KINDS


class RunNotStored(StoreError):
    """A run's rows or events could not all be written: it is not done, whatever its strategies did."""

    def __init__(self, message: str, *, kind: str, run_id: str, lost_events: int, usd: float = 0.0):
        super().__init__(message, kind=kind)
        self.run_id = run_id
        self.lost_events = lost_events
        self.usd = usd  # what its strategies spent: paid for, though not stored


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
        self.path = _sqlite_path(parsed) if self.is_sqlite else None  # None: in memory, or a server
        self.name = str(self.path) if self.path is not None else self.display_url  # for messages
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


def _sqlite_path(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):  # a URI filename (uri=true)
        database = database[len("file:"):].split("?", 1)[0]
    return Path(database).expanduser()


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


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def read_only_reason(path: Path) -> str | None:
    """Why the SQLite file at `path` cannot be written, or None. Checks the mount, the file and its
    folder (WAL mode creates `-wal` and `-shm` files beside the store)."""
    for where in (path, path.parent):
        try:
            if os.statvfs(where).f_flag & os.ST_RDONLY:
                return "its file system is mounted read-only"
        except OSError:
            continue
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable"
    if path.parent.exists() and not os.access(path.parent, os.W_OK):
        return "its folder is not writable, and SQLite needs to create its -wal and -shm files there"
    return None


def _read_only_message(name: str, reason: str) -> str:
    return (f"the store {name} is read-only ({reason}): make the file and its folder writable (or remount "
            "read-write), or copy the file elsewhere and pass --db sqlite:///COPY")


# ---- driver errors, one line each ----------------------------------------------------------------

_FULL = ("database or disk is full", "no space left", "could not extend file", "disk full", "quota exceeded")
_READ_ONLY = ("readonly database", "read-only", "read only")
_DAMAGED = ("malformed", "file is not a database", "not a database", "database corruption", "invalid page")
_SCHEMA = ("no such column", "no such table", "has no column named", "can't locate revision")
_UNREACHABLE = ("connection refused", "could not connect", "connection to server", "server closed the connection",
                "could not translate host name", "timeout expired", "connection timed out")


def store_error(exc: BaseException, where: Store | str | None = None) -> StoreError:
    """A driver's (or SQLAlchemy's, or Alembic's) exception as a StoreError: one line naming the store,
    the problem in the driver's own words, and the fix."""
    if isinstance(exc, StoreError):
        return exc
    name = where.name if isinstance(where, Store) else _display(where) if where else "the store"
    path = where.path if isinstance(where, Store) else None
    detail = _detail(exc)
    low = detail.lower()
    code = str(getattr(getattr(exc, "orig", None), "sqlite_errorname", "") or getattr(exc, "sqlite_errorname", ""))
    state = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    if code == "SQLITE_FULL" or state in ("53100", "53400") or any(s in low for s in _FULL):
        return StoreError(f"the store {name} is full ({detail}): free disk space (or raise its quota) and run "
                          "again", kind="full")
    if code.startswith("SQLITE_READONLY") or state == "25006" or any(s in low for s in _READ_ONLY):
        return StoreError(_read_only_message(name, detail), kind="read-only")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open database file" in low:
        reason = read_only_reason(path) if path is not None else None
        if reason:
            return StoreError(_read_only_message(name, reason), kind="read-only")
        return StoreError(f"cannot open the store {name} ({detail}): check that the path exists and that its "
                          "folder can be read and written", kind="fault")
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or state.startswith("XX00") or any(s in low for s in _DAMAGED):
        fix = f"sqlite3 {path} .recover salvages what is readable" if path is not None else "ask its administrator"
        return StoreError(f"the store {name} is damaged ({detail}): restore it from a backup ({fix})",
                          kind="damaged")
    from sqlalchemy.exc import InterfaceError, OperationalError

    if path is None and isinstance(exc, InterfaceError | OperationalError) and any(s in low for s in _UNREACHABLE):
        return StoreError(f"cannot reach the store {name} ({detail}): check that the server runs and the URL is "
                          "right", kind="unreachable")
    if state in ("42703", "42P01") or any(s in low for s in _SCHEMA):
        return StoreError(f"the store {name} does not have the tables this version of budget-arena expects "
                          f"({detail}): it was altered outside budget-arena or by a newer version; restore it "
                          "from a backup, or use a new store (--db)", kind="schema")
    original = getattr(exc, "orig", None) or exc
    if state.startswith("23") or code.startswith("SQLITE_CONSTRAINT") or type(original).__name__ == "IntegrityError" \
            or "constraint" in low:
        return StoreError(f"the store {name} refused a write ({detail}): it breaks a rule of the store's tables",
                          kind="constraint")
    if state.startswith("22") or isinstance(original, UnicodeError) or "nul" in low.split():
        return StoreError(f"the store {name} refused a value ({detail}): a text holds a character it cannot "
                          "keep", kind="value")
    return StoreError(f"the store {name} failed: {detail}", kind="fault")


def _detail(exc: BaseException) -> str:
    """The driver's message, first line only (no SQL, no parameters, no DETAIL/HINT lines)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip() or type(original).__name__
    first = text.splitlines()[0].strip()
    return f"{type(original).__name__}: {first}" if isinstance(original, UnicodeError) else first
