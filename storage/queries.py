"""Reading the store: a run, its events (all, or those after a seq for live tailing), the history
list, curve points and per-strategy results for leaderboards (as DataFrames).

Every function takes `store=` (default: open_store(), the configured store). A malformed or
unknown run id reads as None / empty, never as an error: ids arrive from links.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import func, or_, select

from reasoning.budget import CAP_NAMES, Budget
from reasoning.events import Event, event_from_dict
from storage.ids import is_valid_run_id
from storage.query_support import _as_text, _listify, _run_filters, _store, _utc, _with_utc_times
from storage.store import Store
from storage.tables import ACTIVE_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow

ENDED_STRATEGY_STATUSES = ("done", "error")  # ended on their own (a budget stop is "done"): leaderboard material


@dataclass(frozen=True)
class StoredEvent:
    run_id: str
    seq: int
    strategy_index: int | None
    kind: str  # text, thinking, spend, partial, note, final
    label: str | None
    payload: dict[str, Any]  # reasoning.events.event_to_dict form
    elapsed: float  # seconds since the run started
    wall: float  # Unix time
    total_tokens: int | None  # the strategy's spend so far
    usd: float | None

    @property
    def event(self) -> Event:
        """The reasoning.events object (a coalesced delta holds several deltas' text)."""
        return event_from_dict(self.payload)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class StrategyInfo:
    strategy_index: int
    strategy: str
    knobs: dict[str, Any]
    status: str
    answer: str | None
    confidence: float | None
    correct: bool | None
    stop_reason: str | None
    error: str | None
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_input_tokens: int
    total_tokens: int
    usd: float
    seconds: float
    calls: int
    estimated: bool
    price_date: str | None
    started: datetime | None
    finished: datetime | None
    budget: dict[str, Any] | None = None  # this entry's caps (Budget.as_dict); None in rows before 0004
    over_cap: bool = False  # the provider reported impossible usage, or the spend passed a cap (0004)
    app_version: str | None = None  # what produced the result (0004; None in older rows)
    fingerprint: str | None = None


@dataclass(frozen=True)
class RunInfo:
    id: str
    created: datetime
    finished: datetime | None
    updated: datetime | None
    problem: str
    reference: str | None
    model: str
    model_options: dict[str, Any]
    budget: dict[str, Any]
    dataset: str | None
    item_id: str | None
    sweep_id: str | None
    status: str
    error: str | None
    price_date: str | None
    owner_host: str | None
    owner_pid: int | None
    strategies: list[StrategyInfo]
    event_count: int
    last_seq: int  # 0 when there are no events yet

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def budget_caps(self) -> Budget:
        return Budget.from_dict(self.budget)


# ---- one run ---------------------------------------------------------------------------------


def get_run(run_id: str, *, store: Store | None = None) -> RunInfo | None:
    """The run and its strategies; None for an unknown or malformed id."""
    if not is_valid_run_id(run_id):
        return None
    with _store(store).read() as conn:
        run = conn.execute(select(Run.__table__).where(Run.id == run_id)).mappings().first()
        if run is None:
            return None
        strategies = conn.execute(
            select(RunStrategy.__table__).where(RunStrategy.run_id == run_id).order_by(RunStrategy.strategy_index)
        ).mappings().all()
        # Seqs run 1..N without gaps, so the newest seq is the count (an index lookup, not a scan).
        last = conn.scalar(select(func.coalesce(func.max(EventRow.seq), 0)).where(EventRow.run_id == run_id))
    strategy_fields = {f.name for f in fields(StrategyInfo)}
    run_fields = {f.name for f in fields(RunInfo)} - {"strategies", "event_count", "last_seq"}
    return RunInfo(
        **{k: _utc(v) if isinstance(v, datetime) else v for k, v in run.items() if k in run_fields},
        strategies=[
            StrategyInfo(**{k: _utc(v) if isinstance(v, datetime) else v for k, v in s.items() if k in strategy_fields})
            for s in strategies
        ],
        event_count=int(last),
        last_seq=int(last),
    )


def events_since(run_id: str, seq: int = 0, *, limit: int | None = None, store: Store | None = None) -> list[StoredEvent]:
    """Events with seq > `seq`, in order: poll with the last seq seen to tail a live run."""
    if not is_valid_run_id(run_id):
        return []
    # Plain tuples and one json.loads per payload: a share link of a long run reads tens of
    # thousands of events, and per-row mappings and type processors would double the time.
    query = (
        select(EventRow.seq, EventRow.strategy_index, EventRow.kind, EventRow.label, _as_text(EventRow.payload),
               EventRow.elapsed, EventRow.wall, EventRow.total_tokens, EventRow.usd)
        .where(EventRow.run_id == run_id, EventRow.seq > seq)
        .order_by(EventRow.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    with _store(store).read() as conn:
        rows = conn.execute(query).all()
    return [StoredEvent(run_id, r[0], r[1], r[2], r[3], _json(r[4]), r[5], r[6], r[7], r[8]) for r in rows]


def replay(run_id: str, *, store: Store | None = None) -> list[StoredEvent]:
    """All of a run's events, in order."""
    return events_since(run_id, 0, store=store)


def last_seq(run_id: str, *, store: Store | None = None) -> int:
    """The newest event's seq (0 if none): tail from near the end without reading the rest."""
    if not is_valid_run_id(run_id):
        return 0
    with _store(store).read() as conn:
        return int(conn.scalar(select(func.coalesce(func.max(EventRow.seq), 0)).where(EventRow.run_id == run_id)))


CURVE_COLUMNS = ["run_id", "strategy_index", "strategy", "seq", "tokens", "output_tokens", "usd", "seconds",
                 "answer", "confidence", "correct", "quality"]


def curve_points(run_id: str, *, store: Store | None = None) -> pd.DataFrame:
    """A run's curve points in order: each strategy's best answer and its quality at each spend
    level (quality: 1/0 against the reference, else the strategy's confidence)."""
    if not is_valid_run_id(run_id):
        return pd.DataFrame(columns=CURVE_COLUMNS)
    query = (
        select(CurvePoint.run_id, CurvePoint.strategy_index, RunStrategy.strategy, CurvePoint.seq, CurvePoint.tokens,
               CurvePoint.output_tokens, CurvePoint.usd, CurvePoint.seconds, CurvePoint.answer,
               CurvePoint.confidence, CurvePoint.correct, CurvePoint.quality)
        .join(RunStrategy, (RunStrategy.run_id == CurvePoint.run_id)
              & (RunStrategy.strategy_index == CurvePoint.strategy_index))
        .where(CurvePoint.run_id == run_id)
        .order_by(CurvePoint.seq)
    )
    with _store(store).read() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame.from_records(rows, columns=CURVE_COLUMNS)


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
    ended = RunStrategy.status.in_(ENDED_STRATEGY_STATUSES)
    per_status = [select(func.max(RunStrategy.finished)).where(RunStrategy.status == status).scalar_subquery()
                  for status in ENDED_STRATEGY_STATUSES]
    with _store(store).read() as conn:
        values = [v for v in conn.execute(select(*per_status)).one() if v is not None]
        if not values:
            return None, 0
        newest = max(values, key=lambda v: _utc(v))
        count = conn.scalar(select(func.count()).where(ended, RunStrategy.finished == newest))
    return _utc(newest), int(count or 0)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


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
