"""The run history: the store's runs newest first, a page at a time, with search and filters.

`list_runs` gives one row per run with its strategies' names and summed spend, `count_runs` the
list's length, `history_options` the filters' choices. A search matches any part of the run id,
its sweep id, the problem, the model or a strategy's name, ignoring case in every script (SQLite's
LIKE folds ASCII only, so a non-ASCII search is matched casefolded), or a whole status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, String, exists, func, literal, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from storage.query_support import _run_filters, _store, _with_utc_times
from storage.store import Store
from storage.tables import Run, RunStrategy

DEFAULT_LIMIT = 200
RUN_COLUMNS = ["id", "created", "finished", "status", "model", "problem", "reference", "dataset", "item_id",
               "sweep_id", "strategies", "n_strategies", "n_correct", "total_tokens", "usd", "seconds", "error"]


def list_runs(
    search: str | None = None,
    model: str | None = None,
    strategy: str | None = None,
    status: str | Sequence[str] | None = None,
    since: datetime | None = None,
    *,
    dataset: str | None = None,
    sweep_id: str | None = None,
    sweep_cells: bool = True,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    store: Store | None = None,
) -> pd.DataFrame:
    """History, newest first: one row per run with its strategies' names and summed spend.

    `search` (at most MAX_SEARCH_CHARS, else SearchTooLong) matches any part of the run id, its
    sweep id, the problem, the model name or a strategy's name (case-insensitive, non-ASCII letters
    included), or a whole status. `sweep_cells=False` leaves out the runs of sweeps (unless
    `sweep_id` asks for one). `limit` and `offset` page through the list; count_runs gives its
    length. Only the page's runs are aggregated, so a page costs the same in any store."""
    query = _history_filters(
        select(Run.id, Run.created, Run.finished, Run.status, Run.model, Run.problem, Run.reference, Run.dataset,
               Run.item_id, Run.sweep_id, Run.error),
        search=search, model=model, strategy=strategy, status=status, since=since, dataset=dataset, sweep_id=sweep_id,
        sweep_cells=sweep_cells,
    ).order_by(Run.created.desc(), Run.id).limit(limit).offset(max(0, offset))
    with _store(store).read() as conn:
        _enable_casefold(conn, search)
        rows = conn.execute(query).mappings().all()
        per_run: dict[str, list[Any]] = {row["id"]: [] for row in rows}
        for chunk in _chunks(list(per_run), 500):
            for strategy_row in conn.execute(
                select(RunStrategy.run_id, RunStrategy.strategy, RunStrategy.correct, RunStrategy.total_tokens,
                       RunStrategy.usd, RunStrategy.seconds)
                .where(RunStrategy.run_id.in_(chunk))
                .order_by(RunStrategy.run_id, RunStrategy.strategy_index)
            ):
                per_run[strategy_row.run_id].append(strategy_row)
    records = []
    for row in rows:
        strategies = per_run[row["id"]]
        records.append({
            **row,
            "strategies": ", ".join(s.strategy for s in strategies),
            "n_strategies": len(strategies),
            "n_correct": sum(1 for s in strategies if s.correct is True),
            "total_tokens": sum(s.total_tokens or 0 for s in strategies),
            "usd": sum(s.usd or 0.0 for s in strategies) if strategies else None,
            "seconds": max(s.seconds or 0.0 for s in strategies) if strategies else None,
        })
    frame = pd.DataFrame.from_records(records, columns=RUN_COLUMNS)
    for column in ("n_strategies", "n_correct", "total_tokens"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("usd", "seconds"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return _with_utc_times(frame, ("created", "finished"))


def count_runs(
    search: str | None = None,
    model: str | None = None,
    strategy: str | None = None,
    status: str | Sequence[str] | None = None,
    since: datetime | None = None,
    *,
    dataset: str | None = None,
    sweep_id: str | None = None,
    sweep_cells: bool = True,
    store: Store | None = None,
) -> int:
    """How many runs list_runs would list with these filters and no limit."""
    query = _history_filters(select(func.count()).select_from(Run), search=search, model=model, strategy=strategy,
                             status=status, since=since, dataset=dataset, sweep_id=sweep_id, sweep_cells=sweep_cells)
    with _store(store).read() as conn:
        _enable_casefold(conn, search)
        return int(conn.scalar(query) or 0)


def history_options(*, store: Store | None = None) -> dict[str, list[str]]:
    """The models, strategies, statuses, datasets and sweep ids present in the store (the history
    filters' choices); sweeps newest first, the rest sorted."""
    with _store(store).read() as conn:
        sweeps = conn.execute(
            select(Run.sweep_id, func.max(Run.created).label("newest")).where(Run.sweep_id.is_not(None))
            .group_by(Run.sweep_id).order_by(func.max(Run.created).desc())
        ).all()
        return {
            "models": sorted(conn.scalars(select(Run.model).distinct())),
            "strategies": sorted(conn.scalars(select(RunStrategy.strategy).distinct())),
            "statuses": sorted(conn.scalars(select(Run.status).distinct())),
            "datasets": sorted(conn.scalars(select(Run.dataset).where(Run.dataset.is_not(None)).distinct())),
            "sweeps": [row.sweep_id for row in sweeps],
        }


MAX_SEARCH_CHARS = 200  # longer searches are refused: SQLite rejects long LIKE patterns ("too complex")
_FOLD = "budget_arena_casefold"  # SQLite function: Python's str.casefold


class SearchTooLong(ValueError):
    """A history search longer than MAX_SEARCH_CHARS."""


def _history_filters(query: Select, *, search: str | None, model: str | None, strategy: str | None,
                     status: str | Sequence[str] | None, since: datetime | None, dataset: str | None,
                     sweep_id: str | None, sweep_cells: bool = True) -> Select:
    query = _run_filters(query, model=model, status=status, since=since, dataset=dataset, sweep_id=sweep_id)
    if not sweep_cells and not sweep_id:
        query = query.where(Run.sweep_id.is_(None))
    if strategy:
        query = query.where(exists().where(RunStrategy.run_id == Run.id, RunStrategy.strategy == strategy))
    if search and search.strip():
        term = search.strip()
        if len(term) > MAX_SEARCH_CHARS:
            raise SearchTooLong(f"a search is at most {MAX_SEARCH_CHARS} characters, got {len(term):,}")
        query = query.where(or_(
            Run.status == term.lower(),
            *(_contains(column, term) for column in (Run.id, Run.sweep_id, Run.problem, Run.model)),
            exists().where(RunStrategy.run_id == Run.id, _contains(RunStrategy.strategy, term)),
        ))
    return query


def _contains(column: Any, term: str) -> Any:
    """`column` holds `term`, ignoring case. SQLite's LIKE folds ASCII letters only ('école' would
    not find 'ÉCOLE'), so a non-ASCII term is matched with both sides casefolded (_casefold)."""
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if term.isascii():
        return column.ilike(pattern, escape="\\")
    return _casefold(column).like(_casefold(literal(pattern)), escape="\\")


class _casefold(FunctionElement):  # noqa: N801  (used as a SQL function)
    """casefold(x): Python's str.casefold on SQLite (registered per connection by _enable_casefold),
    lower(x) elsewhere (PostgreSQL lowercases by the database's locale, non-ASCII letters included)."""

    type = String()
    name = "casefold"
    inherit_cache = True


@compiles(_casefold)
def _casefold_default(element: _casefold, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_casefold, "sqlite")
def _casefold_sqlite(element: _casefold, compiler: Any, **kw: Any) -> str:
    return f"{_FOLD}({compiler.process(element.clauses, **kw)})"


@compiles(_casefold, "postgresql")
def _casefold_postgresql(element: _casefold, compiler: Any, **kw: Any) -> str:
    # A database created with the C locale lowercases ASCII only; ICU's root collation folds every
    # script. Used when the server has it (checked once per engine in _enable_casefold).
    argument = compiler.process(element.clauses, **kw)
    if getattr(compiler.dialect, _ICU_FLAG, False):
        return f'lower(({argument}) COLLATE "und-x-icu")'
    return f"lower({argument})"


_ICU_FLAG = "budget_arena_has_icu"


def _enable_casefold(conn: Connection, search: str | None) -> None:
    """Prepare this connection for a non-ASCII search: SQLite gets the casefold function, and
    PostgreSQL is asked once whether it has ICU's root collation."""
    if not search or search.isascii():
        return
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
            _FOLD, 1, lambda value: value.casefold() if isinstance(value, str) else value, deterministic=True)
    elif conn.dialect.name == "postgresql" and not hasattr(conn.dialect, _ICU_FLAG):
        has_icu = conn.scalar(text("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'"))
        setattr(conn.dialect, _ICU_FLAG, bool(has_icu))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
