"""Leaderboard reads: one row per strategy result joined with its run, and a stamp of their version.

`strategy_results` serves the leaderboards (web, CLI, HTML report), the Sweep page and CSV
export; `results_version` and `results_front` tell a cache of those rows whether it is stale
without reading them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import bindparam, func, or_, select

from reasoning.budget import CAP_NAMES
from storage.ids import is_valid_run_id
from storage.query_support import _as_text, _listify, _run_filters, _store, _utc, _with_utc_times
from storage.store import Store
from storage.tables import Run, RunStrategy

ENDED_STRATEGY_STATUSES = ("done", "error")  # ended on their own (a budget stop is "done"): leaderboard material


def _result_sources() -> dict[str, Any]:
    """Each strategy_results column and what it is read from (JSON and times as text: see _as_text)."""
    return {
        "run_id": RunStrategy.run_id, "strategy_index": RunStrategy.strategy_index, "strategy": RunStrategy.strategy,
        "knobs": _as_text(RunStrategy.knobs), "model": Run.model, "dataset": Run.dataset, "item_id": Run.item_id,
        "sweep_id": Run.sweep_id, "created": _as_text(Run.created), "run_status": Run.status.label("run_status"),
        "status": RunStrategy.status, "stop_reason": RunStrategy.stop_reason, "answer": RunStrategy.answer,
        "reference": Run.reference, "correct": RunStrategy.correct, "confidence": RunStrategy.confidence,
        "input_tokens": RunStrategy.input_tokens, "output_tokens": RunStrategy.output_tokens,
        "reasoning_tokens": RunStrategy.reasoning_tokens, "cached_input_tokens": RunStrategy.cached_input_tokens,
        "total_tokens": RunStrategy.total_tokens, "usd": RunStrategy.usd, "seconds": RunStrategy.seconds,
        "calls": RunStrategy.calls, "estimated": RunStrategy.estimated, "price_date": RunStrategy.price_date,
        "error": RunStrategy.error, "over_cap": RunStrategy.over_cap, "app_version": RunStrategy.app_version,
        "fingerprint": RunStrategy.fingerprint,
    }


BUDGET_COLUMNS = [f"budget_{cap}" for cap in CAP_NAMES]
RESULT_COLUMNS = [
    "run_id", "strategy_index", "strategy", "knobs", "model", "dataset", "item_id", "sweep_id", "created",
    "run_status", "status", "stop_reason", "answer", "reference", "correct", "confidence",
    "input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens", "total_tokens", "usd", "seconds",
    "calls", "estimated", "price_date", "error", "over_cap", "app_version", "fingerprint", *BUDGET_COLUMNS,
]


def strategy_results(
    model: str | None = None,
    strategy: str | Sequence[str] | None = None,
    dataset: str | None = None,
    *,
    sweep_id: str | None = None,
    run_ids: Sequence[str] | None = None,
    since: datetime | None = None,
    strategy_status: str | Sequence[str] | None = ENDED_STRATEGY_STATUSES,
    ended_after: datetime | None = None,
    ended_until: datetime | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
    store: Store | None = None,
) -> pd.DataFrame:
    """One row per strategy run joined with its run, for leaderboards and CSV export.

    By default only strategies that ended on their own (done, incl. budget stops, or error); pass
    strategy_status=None for all. `budget_*` are the entry's caps (NaN where uncapped): its own
    budget (run_strategy.budget), else the run's (rows stored before entries had one). `columns`
    picks a subset of RESULT_COLUMNS (in that order): reading fewer is faster on a big store.
    `ended_after` < finished <= `ended_until` picks the results that ended in a window (a result
    without a finish time counts as ended before any window's end and after no window's start)."""
    wanted = RESULT_COLUMNS if columns is None else [c for c in RESULT_COLUMNS if c in set(columns)]
    unknown = set(columns or ()) - set(RESULT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown result columns: {sorted(unknown)}")
    sources = _result_sources()
    read = [c for c in wanted if c in sources]
    caps = [c for c in wanted if c in BUDGET_COLUMNS]
    # The entry's budget and the run's, both as text: the entry's wins where it has one (resolved
    # below, so a JSON 'null' as well as SQL NULL falls back to the run's).
    budget_sources = [_as_text(RunStrategy.budget).label("entry_budget"), _as_text(Run.budget)] if caps else []
    query = (
        select(*(sources[c] for c in read), *budget_sources)
        .join_from(RunStrategy, Run, Run.id == RunStrategy.run_id)
        .order_by(Run.created, RunStrategy.run_id, RunStrategy.strategy_index)
    )
    query = _run_filters(query, model=model, since=since, dataset=dataset, sweep_id=sweep_id)
    strategies = _listify(strategy)
    if strategies:
        query = query.where(RunStrategy.strategy.in_(strategies))
    statuses = _listify(strategy_status)
    if statuses:
        query = query.where(RunStrategy.status.in_(statuses))
    if run_ids is not None:
        query = query.where(Run.id.in_([r for r in run_ids if is_valid_run_id(r)]))
    if ended_after is not None:
        query = query.where(RunStrategy.finished > ended_after)
    if ended_until is not None:
        query = query.where(or_(RunStrategy.finished <= ended_until, RunStrategy.finished.is_(None)))
    if limit is not None:
        query = query.limit(limit)
    with _store(store).read() as conn:
        rows = conn.execute(query).all()
    # Column-wise from plain tuples (a leaderboard reads every result): knobs and budgets repeat,
    # so each distinct JSON text is parsed once; times are parsed in one vectorised call.
    values = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(read) + 2 * bool(caps))]
    parse = _JsonCache()
    data = {name: list(column) for name, column in zip(read, values, strict=False)}
    if "knobs" in data:
        data["knobs"] = [parse(k) for k in data["knobs"]]
    frame = pd.DataFrame(data, columns=read) if rows else pd.DataFrame(columns=read)  # empty: object columns
    if caps:
        budgets = [parse(entry) or parse(run) or {} for entry, run in zip(values[-2], values[-1], strict=True)]
        for column in caps:
            cap = column.removeprefix("budget_")
            frame[column] = pd.to_numeric(pd.Series([b.get(cap) for b in budgets], dtype="object")).astype("float64")
    return _with_utc_times(frame, [c for c in ("created",) if c in read])


class ResultsVersion(NamedTuple):
    """A fingerprint of the ended strategy results (see results_version)."""

    count: int
    newest: datetime | None  # the latest `finished` among them


def results_version(*, store: Store | None = None) -> ResultsVersion:
    """How many strategy results have ended and when the latest did (one aggregate query).

    It changes when a result is added, ends or is deleted, so a cache keyed on it is never stale;
    strategy_results(ended_after=old.newest, ended_until=new.newest) reads what a cache lacks."""
    query = select(func.count(), func.max(RunStrategy.finished)).where(RunStrategy.status.in_(ENDED_STRATEGY_STATUSES))
    with _store(store).read() as conn:
        count, newest = conn.execute(query).one()
    return ResultsVersion(int(count), _utc(newest))


def results_front(*, store: Store | None = None) -> tuple[datetime | None, int]:
    """When the latest ended strategy result finished, and how many ended results finished then:
    index lookups only (results_version also counts every result: a scan of an index, ~0.2 s at a
    million results). It moves whenever a result ends, even in the same microsecond as the last; a
    deletion or a result imported with an older finish time needs results_version's count to show."""
    with _store(store).read() as conn:
        values = [v for v in conn.execute(_NEWEST_PER_STATUS).one() if v is not None]
        if not values:
            return None, 0
        newest = max(values, key=lambda v: _utc(v))
        count = conn.scalar(_ENDED_AT, {"newest": newest})
    return _utc(newest), int(count or 0)


# results_front's statements, built once (the page asks on every render; building them cost more
# than the index lookups they make).
_NEWEST_PER_STATUS = select(*(select(func.max(RunStrategy.finished)).where(RunStrategy.status == status)
                              .scalar_subquery() for status in ENDED_STRATEGY_STATUSES))
_ENDED_AT = select(func.count()).where(RunStrategy.status.in_(ENDED_STRATEGY_STATUSES),
                                       RunStrategy.finished == bindparam("newest"))


class _JsonCache:
    """json.loads once per distinct text (a column of knobs or budgets repeats a few values)."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in self._seen:
            self._seen[value] = json.loads(value)
        parsed = self._seen[value]
        return dict(parsed) if isinstance(parsed, dict) else parsed  # rows do not share one dict
