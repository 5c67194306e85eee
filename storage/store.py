"""Where runs are kept: the store URL, and opening a store (one per URL per process).

The default store is a SQLite file `<data dir>/budget-arena.db` (data dir: BUDGET_ARENA_DATA_DIR,
else the platform's user data directory); BUDGET_ARENA_DB (any SQLAlchemy URL, PostgreSQL included)
overrides it (both through reasoning.config). Opening a store upgrades its schema to head.

The Store itself (engine, transactions, SQLite set-up) and StoreError live in storage.database;
they are re-exported here, where most callers import them from.
"""

from __future__ import annotations

import logging
import threading

from reasoning.config import get_settings
from storage.database import (
    BUSY_TIMEOUT_SECONDS,
    RunNotStored,
    Store,
    StoreError,
    _display,
    _read_only_message,
    normalise_url,
    read_only_reason,
    store_error,
)

__all__ = ["BUSY_TIMEOUT_SECONDS", "RunNotStored", "Store", "StoreError", "default_url", "forget_store",
           "normalise_url", "open_store", "read_only_reason", "store_error"]

log = logging.getLogger(__name__)


def default_url() -> str:
    """BUDGET_ARENA_DB (or `db` in the config file), else `<data dir>/budget-arena.db`: read as the
    settings are now, not as they were at start (BUDGET_ARENA_DB may change at run time)."""
    return get_settings().db_url


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """The store at `url` (default: default_url()), schema upgraded to head and checked. One Store
    per URL per process; runs left `running` by a dead process on this host are marked interrupted.

    Raises StoreError: a bad URL, no SQLite file there while `create` is False (commands that only
    read must not leave an empty store behind a mistyped path), a read-only file or mount, an
    unreachable server, a damaged file, a schema altered outside budget-arena."""
    target = url or default_url()
    try:
        resolved = normalise_url(target).render_as_string(hide_password=False)
    except Exception as exc:  # not a URL at all
        raise StoreError(f"{target!r} is not a store URL ({exc}); give a path as sqlite:///PATH or a "
                         "postgresql:// URL", kind="url") from None
    with _stores_lock:
        store = _stores.get(resolved)
        if store is not None and (create or store.path is None or store.path.exists()):
            return store
        # Imported here: Alembic (which storage.migrate loads) is slow to import, and most importers of
        # this module only need Store.
        from storage.liveness import mark_interrupted_dead_owners
        from storage.migrate import check_schema, upgrade

        try:
            store = Store(resolved)
        except Exception as exc:  # an unknown driver, a malformed URL
            raise StoreError(f"cannot use the store {_display(resolved)}: {type(exc).__name__}: {exc}",
                             kind="url") from None
        try:
            _check_file(store, create=create)
            upgrade(store)
            check_schema(store)
        except Exception as exc:
            store.close()
            raise store_error(exc, store) from exc
        try:
            mark_interrupted_dead_owners(store)
        except Exception as exc:  # housekeeping: a full store can still be read (show, export, leaderboard)
            failure = store_error(exc, store)
            if failure.kind != "full":
                store.close()
                raise failure from exc
            log.warning("%s; runs of processes that died stay `running` until it has room", failure)
        _stores[resolved] = store
        return store


def _check_file(store: Store, *, create: bool) -> None:
    """A SQLite store that is not there (when it must be) or cannot be written, said before SQLite
    says "unable to open database file" or half-writes anything."""
    path = store.path
    if path is None:
        return
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path}: check the --db path (this command reads a store, it does "
                             "not create one)", kind="missing")
        return
    reason = read_only_reason(path)
    if reason:
        raise StoreError(_read_only_message(store.name, reason), kind="read-only")


def forget_store(store: Store) -> None:
    """Drop a store from the per-process cache and close its connections (tests, tools)."""
    with _stores_lock:
        for key, value in list(_stores.items()):
            if value is store:
                del _stores[key]
    store.close()
