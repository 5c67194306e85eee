"""Sweeps in the store: each cell of a reasoning.sweep plan runs through the runner as a one-strategy
run tagged with the sweep id, its dataset item and its cell key (unique per sweep), so every result
is stored as it finishes, by the same recorder as any run, and shows on the leaderboard.

`prepare_sweep` loads the dataset, plans the cells, builds the model once (behind its provider's
rate limiter) and returns the reasoning.sweep.Sweep to run. `prepared.execute()` runs it on the
runner's own event loop, where each cell is a task beside the runs it starts (no thread hops, the
fast path) and returns a concurrent future; `start_sweep(prepared)` does that for the web app and
keeps a handle per process. `await prepared.sweep.run()` in any other loop works too, through
the runner's thread-safe `start`.

Resuming: running a plan again finds its sweep by id; cells whose run is done are skipped, and
attempts that did not finish (interrupted, cancelled, failed) are deleted and run again, their
spend kept in `sweep.retired_usd` so the dollar cap still counts it. One process runs a sweep at a
time: another that tries gets SweepBusy while the owner is alive.

Nothing is reported done unless it is stored: a cell whose run could not be written (RunNotStored)
is `lost`, not done; the sweep stops starting cells, ends `error` saying how many were lost and why,
and running it again redoes exactly the cells that are not stored as done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select, update

from reasoning.config import Limits, get_settings
from reasoning.cost_estimate import CostEstimate
from reasoning.datasets import Dataset, load_dataset
from reasoning.deployment_limits import LimitError, check_texts
from reasoning.model_protocol import Model
from reasoning.models import get_model
from reasoning.prices import ModelPrice, price_for
from reasoning.provider_pacing import RateLimit, rate_limited
from reasoning.sweep import (
    CellOutcome,
    ResumeState,
    Sweep,
    SweepProgress,
    default_concurrency,
    estimate_cost,
)
from reasoning.sweep_plan import Cell, SweepPlan, SweepPlanError, plan_cells
from storage.liveness import is_alive, own_identity
from storage.run_spec import RunSpec
from storage.runner import Runner, get_runner
from storage.store import RunNotStored, Store, StoreError, open_store, store_error
from storage.tables import ACTIVE_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow
from storage.tables import Sweep as SweepRow

log = logging.getLogger(__name__)
OUTCOME_OF_STOP = {"done": "done", "budget": "done", "cancelled": "cancelled"}  # anything else: error


class SweepBusy(RuntimeError):
    """The sweep is being run by another live process (or another thread of this one)."""


_active: set[str] = set()  # sweeps executing in this process
_active_lock = threading.Lock()


# ---- the sink ----------------------------------------------------------------------------------


class StoreSweepSink:
    """reasoning.sweep.SweepSink over the store and the runner."""

    def __init__(self, store: Store, runner: Runner, plan: SweepPlan, dataset: Dataset, *, total_cells: int,
                 estimate: CostEstimate | None = None, max_usd: float | None = None, price: ModelPrice | None = None,
                 secrets: Mapping[str, Any] | None = None):
        self.store = store
        self.secrets = dict(secrets or {})  # the model's keys: redacted from what its cells store, never stored
        self.runner = runner
        self.plan = plan
        self.dataset = dataset
        self.sweep_id = plan.sweep_id
        self.total_cells = total_cells
        self.estimate = estimate
        self.max_usd = max_usd
        self.price = price
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._claimed = False
        self.finish_error: StoreError | None = None  # the sweep's end could not be recorded

    def resume_state(self) -> ResumeState:
        self._claim()
        try:
            return self._resume_state()
        except Exception as exc:
            raise store_error(exc, self.store) from exc

    def _resume_state(self) -> ResumeState:
        with self.store.write() as conn:
            rows = conn.execute(
                select(Run.id, Run.sweep_key, Run.status, func.coalesce(func.sum(RunStrategy.usd), 0.0))
                .outerjoin(RunStrategy, RunStrategy.run_id == Run.id)
                .where(Run.sweep_id == self.sweep_id)
                .group_by(Run.id, Run.sweep_key, Run.status)
            ).all()
            done = {key for _, key, status, _ in rows if status == "done" and key is not None}
            stale = [(run_id, usd) for run_id, key, status, usd in rows if status != "done" or key is None]
            retired = sum(float(usd) for _, usd in stale)
            if stale:
                ids = [run_id for run_id, _ in stale]
                for table in (EventRow, CurvePoint, RunStrategy):
                    conn.execute(delete(table).where(table.run_id.in_(ids)))
                conn.execute(delete(Run).where(Run.id.in_(ids)))
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id)
                             .values(retired_usd=SweepRow.retired_usd + retired))
            spent_done = sum(float(usd) for _, key, status, usd in rows if status == "done" and key is not None)
            retired_before = conn.scalar(select(SweepRow.retired_usd).where(SweepRow.id == self.sweep_id)) or 0.0
        return ResumeState(frozenset(done), spent_done + float(retired_before))

    async def run_cell(self, cell: Cell, model: Model) -> CellOutcome:
        spec = RunSpec(
            problem=cell.item.problem,
            model=model,
            strategies=[(cell.strategy.name, dict(cell.strategy.knobs))],
            budget=cell.budget,
            reference=cell.item.reference,
            model_options=dict(self.plan.model_options),
            secrets=self.secrets,
            dataset=self.dataset.name,
            item_id=cell.item.id,
            sweep_id=self.sweep_id,
            sweep_key=cell.key,
            checker=functools.partial(self.dataset.check, cell.item),
            price=self.price,
            live=False,
        )
        try:
            if asyncio.get_running_loop() is self.runner.loop:
                run_id, task = await self.runner.begin(spec)
                waiting: asyncio.Future = task
            else:  # a sweep driven from another loop or thread
                run_id, future = self.runner.start(spec)
                waiting = asyncio.wrap_future(future)
        except StoreError as exc:
            return CellOutcome("lost", error=str(exc))
        with self._lock:
            self._running.add(run_id)
        try:
            # Shielded: cancelling this wait must not cancel the run itself (it would stop without its
            # final write); cancel_running() stops the run properly instead.
            finals = await asyncio.shield(waiting)
        except RunNotStored as exc:  # its answer may be fine, but it is not stored: not done
            return CellOutcome("lost", usd=exc.usd, error=str(exc), run_id=run_id)
        finally:
            with self._lock:
                self._running.discard(run_id)
        final = finals.get(0)
        if final is None:
            return CellOutcome("error", error="the run ended without a result", run_id=run_id)
        return CellOutcome(OUTCOME_OF_STOP.get(final.stop, "error"), usd=final.spent.usd,
                           total_tokens=final.spent.total_tokens, answer=final.answer, error=final.error,
                           run_id=run_id)

    def cancel_running(self) -> None:
        with self._lock:
            running = list(self._running)
        for run_id in running:
            self.runner.cancel(run_id)

    def finish(self, progress: SweepProgress) -> None:
        if not self._claimed:  # refused (SweepBusy): the sweep's row belongs to whoever runs it
            return
        now = datetime.now(UTC)
        try:
            with self.store.write() as conn:
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id).values(
                    status=progress.status, error=progress.error, updated=now, finished=now))
        except Exception as exc:  # the row stays `running`: read as interrupted once this process ends
            self.finish_error = store_error(exc, self.store)
            log.error("sweep %s: could not record how it ended (%s): %s", self.sweep_id, progress.status,
                      self.finish_error)
        finally:
            self._release()

    # ---- ownership -----------------------------------------------------------------------------

    def _claim(self) -> None:
        """Record the sweep (first run) or take it over (a resume), refusing while another live
        owner runs it."""
        with _active_lock:
            if self.sweep_id in _active:
                raise SweepBusy(f"sweep {self.sweep_id} is already running in this process")
            _active.add(self.sweep_id)
        self._claimed = True
        host, pid, token = own_identity()
        now = datetime.now(UTC)
        estimate = self.estimate
        values: dict[str, Any] = {
            "name": self.plan.name or None, "updated": now, "finished": None, "status": "running", "error": None,
            "plan": self.plan.as_dict(), "dataset": self.plan.dataset, "model": self.plan.model,
            "total_cells": self.total_cells, "max_usd": self.max_usd,
            "estimate_low_usd": None if estimate is None else estimate.low_usd,
            "estimate_high_usd": None if estimate is None else estimate.total,
            "owner_host": host, "owner_pid": pid, "owner_token": token,
        }
        try:
            with self.store.write() as conn:
                row = conn.execute(select(SweepRow.status, SweepRow.owner_host, SweepRow.owner_pid,
                                          SweepRow.owner_token).where(SweepRow.id == self.sweep_id)).first()
                if row is None:
                    conn.execute(insert(SweepRow).values(id=self.sweep_id, created=now, retired_usd=0.0, **values))
                    return
                if row.status == "running" and _owner_alive(row.owner_host, row.owner_pid, row.owner_token):
                    raise SweepBusy(f"sweep {self.sweep_id} is running in process {row.owner_pid} on "
                                    f"{row.owner_host}; wait for it or stop it")
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id).values(**values))
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._claimed:
            with _active_lock:
                _active.discard(self.sweep_id)
            self._claimed = False


def _owner_alive(host: str | None, pid: int | None, token: str | None) -> bool:
    """Another process that may still be running the sweep. This process counts as dead here:
    its own live sweeps are refused earlier, by the in-process registry."""
    own_host, own_pid, _ = own_identity()
    if pid is None:
        return False
    if host != own_host:
        return True  # cannot check another host's process: assume it lives
    return pid != own_pid and is_alive(pid, token)


# ---- preparing and running ---------------------------------------------------------------------


@dataclass
class PreparedSweep:
    plan: SweepPlan
    dataset: Dataset
    cells: list[Cell]
    model: Model
    price: ModelPrice
    estimate: CostEstimate  # every cell of the plan
    sweep: Sweep
    store: Store
    runner: Runner

    @property
    def sweep_id(self) -> str:
        return self.plan.sweep_id

    def execute(self) -> concurrent.futures.Future[SweepProgress]:
        """Run the sweep on the runner's loop; the future gives its final progress."""
        return asyncio.run_coroutine_threadsafe(self.sweep.run(), self.runner.loop)

    def remaining_estimate(self) -> tuple[int, CostEstimate]:
        """Cells done before, and the cost range of the rest."""
        done = done_keys(self.sweep_id, store=self.store)
        todo = [c for c in self.cells if c.key not in done]
        return len(self.cells) - len(todo), estimate_cost(todo, self.price, self.model.name)


def prepare_sweep(
    plan: SweepPlan,
    *,
    store: Store | None = None,
    runner: Runner | None = None,
    model: Model | None = None,
    secrets: Mapping[str, Any] | None = None,
    dataset: Dataset | None = None,
    concurrency: int | None = None,
    max_usd: float | None = None,
    rate_limit: RateLimit | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    limits: Limits | None = None,
) -> PreparedSweep:
    """Everything a sweep needs before it starts, with every input error raised here:
    SweepPlanError (an item a run would refuse included: `limits`, default the deployment's),
    DatasetError, ModelConfigError, StrategyConfigError."""
    plan.validate()
    store = store or open_store()
    runner = runner or get_runner(store)
    dataset = dataset or load_dataset(plan.dataset, size=plan.size, seed=plan.seed)
    check_items(dataset, limits or get_settings().limits)
    cells = plan_cells(plan, dataset)
    if model is None:
        model = get_model(plan.model, **{**plan.model_options, **(secrets or {})})
    model = rate_limited(model, rate_limit)
    price = price_for(model.name, base_url=getattr(model, "base_url", None))
    estimate = estimate_cost(cells, price, model.name)
    sink = StoreSweepSink(store, runner, plan, dataset, total_cells=len(cells), estimate=estimate, max_usd=max_usd,
                          price=price, secrets=secrets)
    sweep = Sweep(plan.sweep_id, cells, model, sink, price=price, max_usd=max_usd,
                  concurrency=concurrency or default_concurrency(plan.model), on_progress=on_progress)
    return PreparedSweep(plan, dataset, cells, model, price, estimate, sweep, store, runner)


def check_items(dataset: Dataset, limits: Limits) -> None:
    """Every item passes the check a single run's problem passes (reasoning.deployment_limits.check_texts: its
    length, control characters such as NUL, text that is not UTF-8): a sweep never stores what `run`
    refuses. SweepPlanError names the first item that does not."""
    for item in dataset.items:
        try:
            check_texts(item.problem, item.reference, limits)
        except LimitError as exc:
            where = next((f"{unit} {item.meta[unit]}" for unit in ("line", "record") if unit in item.meta),
                         f"item {item.id}")  # where a file's loader put it, as its own errors say
            raise SweepPlanError(f"{dataset.name}, {where}: {exc}") from None


class SweepHandle:
    """A sweep running in the background of this process, on the runner's thread (it outlives
    Streamlit reruns and page changes)."""

    def __init__(self, prepared: PreparedSweep):
        self.prepared = prepared
        self.sweep_id = prepared.sweep_id
        self.error: str | None = None
        self._future: concurrent.futures.Future[SweepProgress] | None = None

    def _start(self) -> None:
        self._future = self.prepared.execute()
        self._future.add_done_callback(self._ended)

    def _ended(self, future: concurrent.futures.Future[SweepProgress]) -> None:
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            log.error("sweep %s failed: %s", self.sweep_id, exc)
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def progress(self) -> SweepProgress:
        return self.prepared.sweep.progress.copy()

    @property
    def done(self) -> bool:
        return self._future is None or self._future.done()

    def cancel(self) -> None:
        self.prepared.sweep.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        if self._future is not None:
            concurrent.futures.wait([self._future], timeout)
        return self.done


_handles: dict[str, SweepHandle] = {}
_handles_lock = threading.Lock()


def start_sweep(prepared: PreparedSweep) -> SweepHandle:
    """Run the sweep in a background thread; SweepBusy if it is already running here."""
    with _handles_lock:
        current = _handles.get(prepared.sweep_id)
        if current is not None and not current.done:
            raise SweepBusy(f"sweep {prepared.sweep_id} is already running in this process")
        handle = _handles[prepared.sweep_id] = SweepHandle(prepared)
        handle._start()
    return handle


def sweep_handle(sweep_id: str) -> SweepHandle | None:
    """This process's background sweep with that id (running or finished), if any."""
    with _handles_lock:
        return _handles.get(sweep_id)


# ---- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepInfo:
    id: str
    name: str | None
    created: datetime
    updated: datetime | None
    finished: datetime | None
    status: str  # running, done, capped, cancelled, error; interrupted when its owner died
    plan: dict[str, Any]
    dataset: str
    model: str
    total_cells: int
    max_usd: float | None
    estimate_low_usd: float | None
    estimate_high_usd: float | None
    retired_usd: float
    error: str | None
    done: int  # cells with a finished run
    failed: int  # cells whose run ended in error (a resume runs them again)
    running: int
    spent_usd: float  # runs kept plus retired attempts

    @property
    def completed(self) -> int:
        return self.done + self.failed


def done_keys(sweep_id: str, *, store: Store | None = None) -> set[str]:
    with (store or open_store()).read() as conn:
        return set(conn.scalars(select(Run.sweep_key).where(Run.sweep_id == sweep_id, Run.status == "done",
                                                            Run.sweep_key.is_not(None))))


def get_sweep(sweep_id: str, *, store: Store | None = None) -> SweepInfo | None:
    """The sweep and how far it got; None for an unknown id."""
    store = store or open_store()
    with store.read() as conn:
        row = conn.execute(select(SweepRow.__table__).where(SweepRow.id == sweep_id)).mappings().first()
        if row is None:
            return None
        counts = conn.execute(
            select(Run.status, func.count(func.distinct(Run.id)), func.coalesce(func.sum(RunStrategy.usd), 0.0))
            .outerjoin(RunStrategy, RunStrategy.run_id == Run.id)
            .where(Run.sweep_id == sweep_id)
            .group_by(Run.status)
        ).all()
    return _info(dict(row), {status: (int(n), float(usd)) for status, n, usd in counts})


def list_sweeps(*, limit: int = 50, store: Store | None = None) -> pd.DataFrame:
    """Sweeps, newest first, with their progress."""
    store = store or open_store()
    with store.read() as conn:
        rows = conn.execute(select(SweepRow.__table__).order_by(SweepRow.created.desc()).limit(limit)).mappings().all()
        ids = [row["id"] for row in rows]
        counts: dict[str, dict[str, tuple[int, float]]] = {sweep_id: {} for sweep_id in ids}
        if ids:
            for sweep_id, status, n, usd in conn.execute(
                select(Run.sweep_id, Run.status, func.count(func.distinct(Run.id)),
                       func.coalesce(func.sum(RunStrategy.usd), 0.0))
                .outerjoin(RunStrategy, RunStrategy.run_id == Run.id)
                .where(Run.sweep_id.in_(ids))
                .group_by(Run.sweep_id, Run.status)
            ):
                counts[sweep_id][status] = (int(n), float(usd))
    infos = [_info(dict(row), counts[row["id"]]) for row in rows]
    columns = [f.name for f in fields(SweepInfo)]
    return pd.DataFrame([{c: getattr(info, c) for c in columns} for info in infos], columns=columns)


def _info(row: dict[str, Any], counts: dict[str, tuple[int, float]]) -> SweepInfo:
    status = row["status"]
    if status == "running" and not _running_somewhere(row):
        status = "interrupted"
    for key in ("created", "updated", "finished"):
        if row[key] is not None and row[key].tzinfo is None:
            row[key] = row[key].replace(tzinfo=UTC)
    spent = float(row["retired_usd"] or 0.0) + sum(usd for _, usd in counts.values())
    known = {f.name for f in fields(SweepInfo)}
    base = {k: v for k, v in row.items() if k in known}
    base["status"] = status
    return SweepInfo(**base, done=counts.get("done", (0, 0.0))[0], failed=counts.get("error", (0, 0.0))[0],
                     running=sum(counts.get(s, (0, 0.0))[0] for s in ACTIVE_STATUSES), spent_usd=spent)


def _running_somewhere(row: Mapping[str, Any]) -> bool:
    with _active_lock:
        if row["id"] in _active:
            return True
    return _owner_alive(row["owner_host"], row["owner_pid"], row["owner_token"])
