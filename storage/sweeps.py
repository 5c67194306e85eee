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
time: another that tries gets SweepBusy while the owner is alive. How cells are recorded and who owns
a sweep are storage.sweep_sink's; this module prepares, starts and reads sweeps.

Nothing is reported done unless it is stored: a cell whose run could not be written (RunNotStored)
is `lost`, not done; the sweep stops starting cells, ends `error` saying how many were lost and why,
and running it again redoes exactly the cells that are not stored as done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from reasoning.config import Limits, get_settings
from reasoning.cost_estimate import CostEstimate
from reasoning.datasets import Dataset, load_dataset
from reasoning.deployment_limits import LimitError, check_texts
from reasoning.model_protocol import Model
from reasoning.models import get_model
from reasoning.prices import ModelPrice, price_for
from reasoning.provider_pacing import RateLimit, rate_limited
from reasoning.sweep import Sweep, SweepProgress, default_concurrency, estimate_cost
from reasoning.sweep_plan import Cell, SweepPlan, SweepPlanError, plan_cells
from storage.runner import Runner, get_runner
from storage.store import Store, open_store
from storage.sweep_sink import StoreSweepSink, SweepBusy, _running_somewhere
from storage.tables import ACTIVE_STATUSES, Run, RunStrategy
from storage.tables import Sweep as SweepRow

log = logging.getLogger(__name__)


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
