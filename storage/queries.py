"""Reading one run from the store: the run and its entries, its events (all, or those after a seq
for live tailing) and its curve points (as a DataFrame). The history list is storage.run_history's,
the strategy results leaderboards read are storage.leaderboard_reads'.

Every function takes `store=` (default: open_store(), the configured store). A malformed or
unknown run id reads as None / empty, never as an error: ids arrive from links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from reasoning.budget import Budget
from reasoning.events import Event, event_from_dict
from storage.ids import is_valid_run_id
from storage.query_support import _as_text, _store, _utc
from storage.store import Store
from storage.tables import ACTIVE_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow


@dataclass(frozen=True)
class StoredEvent:
    run_id: str
    seq: int
    strategy_index: int | None
    kind: str  # reasoning.events.EVENT_KINDS: text, thinking, spend, partial, note, state, final
    label: str | None
    payload: dict[str, Any]  # reasoning.events.event_to_dict form
    elapsed: float  # seconds since the run started
    wall: float  # Unix time
    total_tokens: int | None  # the strategy's spend so far
    usd: float | None

    @property
    def event(self) -> Event:
        """The reasoning.events object (a coalesced delta holds several deltas' text); the row's kind and
        label columns read as the fold reads them."""
        return event_from_dict(self.payload, self.kind, self.label)

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


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
