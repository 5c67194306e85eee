"""The schema: runs, one row per strategy in a run, the event log, curve points, sweeps, stored run
folds and the leaderboard's result summary.

Schema changes go through a migration in storage/migrations/versions (the tests check that the
migrations build exactly these tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, LargeBinary, String, Text, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")

RUN_STATUSES = ("queued", "running", "done", "error", "cancelled", "interrupted")
STRATEGY_STATUSES = ("queued", "running", "done", "error", "cancelled", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
SWEEP_STATUSES = ("running", "done", "capped", "cancelled", "error", "interrupted")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, datetime: DateTime(timezone=True)}


class Run(Base):
    """One problem, N strategies, one model, one budget."""

    __tablename__ = "run"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created: Mapped[datetime]
    finished: Mapped[datetime | None]
    updated: Mapped[datetime | None]  # last write by the owning runner: a heartbeat
    problem: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    model_options: Mapped[dict[str, Any]]  # never keys: those are passed apart and not stored
    budget: Mapped[dict[str, Any]]  # Budget.as_dict()
    dataset: Mapped[str | None] = mapped_column(String(200))
    item_id: Mapped[str | None] = mapped_column(String(200))
    sweep_id: Mapped[str | None] = mapped_column(String(64))  # added in revision 0002
    sweep_key: Mapped[str | None] = mapped_column(String(64))  # the sweep cell this run is (revision 0003)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    price_date: Mapped[str | None] = mapped_column(String(32))
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None]
    owner_token: Mapped[str | None] = mapped_column(String(100))  # tells a reused pid apart
    # Set by any process (a Cancel on another app server); the owning runner polls it (0004).
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_run_created", "created"),
        Index("ix_run_status", "status"),
        Index("ix_run_model_created", "model", "created"),
        Index("ix_run_dataset_item", "dataset", "item_id"),
        Index("ix_run_sweep", "sweep_id"),
        # One run per sweep cell: a resumed sweep can never record a cell twice.
        Index("uq_run_sweep_cell", "sweep_id", "sweep_key", unique=True),
    )


class RunStrategy(Base):
    """One entry of a run: a strategy with its knobs and its own budget, and how it ended."""

    __tablename__ = "run_strategy"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    strategy_index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    strategy: Mapped[str] = mapped_column(String(100))
    knobs: Mapped[dict[str, Any]]
    budget: Mapped[dict[str, Any] | None]  # Budget.as_dict() of this entry; NULL (before 0004): the run's
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    stop_reason: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    reasoning_tokens: Mapped[int] = mapped_column(default=0)
    cached_input_tokens: Mapped[int] = mapped_column(default=0)
    total_tokens: Mapped[int] = mapped_column(default=0)
    usd: Mapped[float] = mapped_column(Float, default=0.0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    calls: Mapped[int] = mapped_column(default=0)
    estimated: Mapped[bool] = mapped_column(default=False)
    price_date: Mapped[str | None] = mapped_column(String(32))
    started: Mapped[datetime | None]
    finished: Mapped[datetime | None]
    # The provider reported usage beyond what the call was granted: the figures are stored as
    # reported, and leaderboards leave the result out unless asked (0004).
    over_cap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    app_version: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # hash of prompt templates + knobs

    __table_args__ = (
        Index("ix_run_strategy_strategy", "strategy"),
        # The leaderboard's version check (count and newest finish of the ended results) and its
        # top-up (results that ended since) read this index, not the table (revision 0005).
        Index("ix_run_strategy_ended", "status", "finished"),
    )


class Event(Base):
    """The event log: what a strategy emitted, in order (seq is per run and increasing).

    Text and thinking deltas are coalesced, so one row may hold several deltas' text."""

    __tablename__ = "event"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    strategy_index: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]  # reasoning.events.event_to_dict(event)
    elapsed: Mapped[float] = mapped_column(Float)  # seconds since the run started
    wall: Mapped[float] = mapped_column(Float)  # Unix time
    total_tokens: Mapped[int | None]  # the strategy's spend so far
    usd: Mapped[float | None] = mapped_column(Float)


class CurvePoint(Base):
    """A strategy's best answer and its quality at one spend level (one per PartialAnswer)."""

    __tablename__ = "curve_point"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    strategy_index: Mapped[int]
    tokens: Mapped[int]
    output_tokens: Mapped[int]
    usd: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    answer: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    quality: Mapped[float | None] = mapped_column(Float)  # 1/0 against a reference, else confidence

    __table_args__ = (Index("ix_curve_point_strategy", "run_id", "strategy_index", "seq"),)


class Sweep(Base):
    """A dataset x strategies x budgets x model grid; its cells are runs with this sweep_id
    (revision 0003). The id is a hash of the plan, so the same plan resumes the same sweep."""

    __tablename__ = "sweep"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[datetime]
    updated: Mapped[datetime | None]
    finished: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]]  # reasoning.sweep_plan.SweepPlan.as_dict()
    dataset: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    total_cells: Mapped[int]
    max_usd: Mapped[float | None] = mapped_column(Float)
    estimate_low_usd: Mapped[float | None] = mapped_column(Float)
    estimate_high_usd: Mapped[float | None] = mapped_column(Float)  # None: no upper bound
    retired_usd: Mapped[float] = mapped_column(Float, default=0.0)  # spent by attempts a resume replaced
    error: Mapped[str | None] = mapped_column(Text)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None]
    owner_token: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_sweep_created", "created"),)


class RunFold(Base):
    """A finished run's fold (what its page draws), stored once so a share link reads it instead of
    every event (revision 0005). `version` names the fold code that wrote it: a fold written by
    other code is folded again from the events. `data`: run-level JSON (spend samples, ...)."""

    __tablename__ = "run_fold"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int]  # the run's last event when folded: the fold holds every event up to it
    stored: Mapped[datetime]
    data: Mapped[str] = mapped_column(Text)


class RunFoldEntry(Base):
    """One entry's pane of a stored fold: answer, spend, stop, notes and its streams' labels and
    sizes (their text stays in the event log and is read when a stream is opened)."""

    __tablename__ = "run_fold_entry"

    run_id: Mapped[str] = mapped_column(ForeignKey("run_fold.run_id", ondelete="CASCADE"), primary_key=True)
    strategy_index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[str] = mapped_column(Text)


class ResultGroup(Base):
    """The leaderboard's summary of the ended strategy results (revision 0005): one row per group of
    results that share every column a leaderboard filters or groups on (model, strategy, knobs,
    fingerprint, over_cap, sweep, dataset and the entry's caps), holding per result only what the
    metrics read, packed as arrays (storage.result_summary). Rebuilt from run_strategy when stale."""

    __tablename__ = "result_group"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the grouping values
    model: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(100))
    knobs: Mapped[str] = mapped_column(Text)  # canonical JSON
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    over_cap: Mapped[bool] = mapped_column(Boolean)
    sweep_id: Mapped[str | None] = mapped_column(String(64))
    dataset: Mapped[str | None] = mapped_column(String(200))
    budget_total_tokens: Mapped[float | None] = mapped_column(Float)
    budget_output_tokens: Mapped[float | None] = mapped_column(Float)
    budget_usd: Mapped[float | None] = mapped_column(Float)
    budget_seconds: Mapped[float | None] = mapped_column(Float)
    results: Mapped[int]
    created_min: Mapped[datetime]
    created_max: Mapped[datetime]
    rows: Mapped[bytes] = mapped_column(LargeBinary)  # per result: item, created, entry, outcome
    costs: Mapped[bytes] = mapped_column(LargeBinary)  # per result: tokens, dollars, seconds
    failures: Mapped[str] = mapped_column(Text)  # JSON: [created µs, reason] per failed result


class ResultItem(Base):
    """The items (problems) results ran on, numbered for result_group's arrays: a dataset item, or a
    run of a problem typed on the Compare page (revision 0005)."""

    __tablename__ = "result_item"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(Text, unique=True)


class ResultSummaryState(Base):
    """Which ended results result_group holds: their count and newest finish time (revision 0005)."""

    __tablename__ = "result_summary_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    results: Mapped[int]
    newest: Mapped[datetime | None]
    updated: Mapped[datetime]


class LeaderboardBoard(Base):
    """A computed leaderboard kept for the next reader (revision 0006): per set of filters and row
    choices (`key`), the board, its intervals and the head-to-head drawn so far (`data`), with a
    digest of the summarised results it was computed from; stale once that digest changes."""

    __tablename__ = "leaderboard_board"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    results: Mapped[int]  # how many results the board counted (for reading the table by hand)
    stored: Mapped[datetime]
    data: Mapped[bytes] = mapped_column(LargeBinary)
