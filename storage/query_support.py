"""What every reader of the store shares: the default store, UTC times, the run filters, and JSON
or datetime columns read as text.

Used by storage.queries (one run), storage.run_history (the history list) and
storage.leaderboard_reads (strategy results); the underscored names are the storage package's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, Text, type_coerce

from storage.store import Store, open_store
from storage.tables import Run


def _store(store: Store | None) -> Store:
    return store if store is not None else open_store()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every datetime we write is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _listify(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _run_filters(query: Select, *, model: str | None = None, status: str | Sequence[str] | None = None,
                 since: datetime | None = None, dataset: str | None = None, sweep_id: str | None = None) -> Select:
    if model:
        query = query.where(Run.model == model)
    statuses = _listify(status)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    if since is not None:
        query = query.where(Run.created >= (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC))
    if dataset:
        query = query.where(Run.dataset == dataset)
    if sweep_id:
        query = query.where(Run.sweep_id == sweep_id)
    return query


def _with_utc_times(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Datetimes (or SQLite's ISO text for them) as UTC timestamps; naive values are UTC."""
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _as_text(column: Any) -> Any:
    """Read a JSON or datetime column without SQLAlchemy's per-row processing (SQLite hands back
    its text; drivers that decode such types themselves, like psycopg, still hand back objects)."""
    return type_coerce(column, Text).label(column.key)
