"""Budget sweeps: what a sweep's cells can cost, and their execution.

The plan and its cells are reasoning.sweep_plan's. This module estimates what the cells can cost
and executes them with bounded concurrency, an optional hard dollar cap for the whole sweep, and
cancellation. Per-provider rate limits (429s retried with backoff) wrap the model: reasoning.provider_pacing.
Where the cells run and their results are kept is a `SweepSink` (storage.sweeps stores them as
runs); this module knows nothing of the store.

Resuming: the sink reports which cell keys are already done, and those are skipped. The sweep id is
a hash of the plan, so running the same plan again continues it.

A cell the sink could not store is `lost`: not done, whatever its answer. The first one stops the
sweep from starting more (a failing store would lose them too, after paying for them); the sweep
ends `error` with how many were lost and why, and a resume runs them again.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reasoning.budget import Budget
from reasoning.cost_estimate import CostEstimate, is_free, worst_case_usd
from reasoning.model_protocol import Model
from reasoning.models.providers import CONCURRENCY, provider_info, provider_of
from reasoning.prices import ModelPrice
from reasoning.sweep_plan import Cell, SweepPlanError
from reasoning.tokens import count_text

FINAL_STATUSES = ("done", "capped", "cancelled", "error")


# ---- cost --------------------------------------------------------------------------------------


def estimate_cost(cells: Sequence[Cell], price: ModelPrice, model_name: str) -> CostEstimate:
    """The range a sweep's cells can cost (cells already done included: the caller filters): at
    most every cell's worst case (reasoning.cost_estimate), at least every cell reading its problem once."""
    runs = f"{len(cells):,} strategy runs"
    if is_free(price):
        return CostEstimate(0.0, 0.0, f"{runs}; cost $0 ({price.source})", low_usd=0.0)
    if not price.known:
        return CostEstimate(None, None, f"{runs}; no price is known for this model, so the cost cannot be estimated")
    worst = {json.dumps(b.as_dict()): worst_case_usd(b, price) for b in {c.budget for c in cells}}
    high = sum(worst[json.dumps(c.budget.as_dict())] for c in cells)
    prompt_tokens: dict[str, int] = {}
    low = 0.0
    for c in cells:
        if c.item.id not in prompt_tokens:
            prompt_tokens[c.item.id] = count_text(c.item.problem, model_name)
        low += price.input_cost(prompt_tokens[c.item.id])
    if math.isinf(high):
        return CostEstimate(None, None, f"{runs}; at least ${low:,.4f}, no upper bound (a budget caps neither "
                            "total tokens nor dollars)", low_usd=low)
    return CostEstimate(max(worst.values(), default=0.0), high, f"{runs}; at least ${low:,.4f}, at most ${high:,.4f}",
                        low_usd=low)


# ---- execution ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellOutcome:
    status: str  # "done" (answered or stopped by its budget), "error", "cancelled", "lost" (not stored)
    usd: float = 0.0
    total_tokens: int = 0
    answer: str | None = None
    error: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class ResumeState:
    done_keys: frozenset[str]  # cells with a result: skipped
    spent_usd: float  # what the sweep spent before (counts against its dollar cap)


class SweepSink(Protocol):
    """Where a sweep's cells run and are kept. Methods other than `run_cell` are called from the
    sweep's event loop too, except `cancel_running`, which may be called from any thread."""

    def resume_state(self) -> ResumeState:
        """Cells done before (skipped) and the money already spent; clear failed attempts."""
        ...

    async def run_cell(self, cell: Cell, model: Model) -> CellOutcome:
        """Run one cell and keep its result before returning."""
        ...

    def cancel_running(self) -> None:
        """Stop the cells in flight (they end with their best answer so far)."""
        ...

    def finish(self, progress: SweepProgress) -> None:
        """The sweep ended (done, capped, cancelled or error)."""
        ...


@dataclass
class SweepProgress:
    sweep_id: str
    total: int  # cells in the plan
    skipped: int = 0  # done before this session
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0  # ran, but their results could not be stored: not done (a resume runs them again)
    running: int = 0
    spent_usd: float = 0.0  # the whole sweep's, earlier sessions included
    reserved_usd: float = 0.0  # worst case of the cells in flight
    projected_usd: float = 0.0  # spent + expected cost of what is left (observed means, else worst case)
    max_usd: float | None = None
    status: str = "running"
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def completed(self) -> int:
        """Cells with a result: done before, done now, or failed now."""
        return self.skipped + self.done + self.failed

    @property
    def remaining(self) -> int:
        return self.total - self.completed

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def eta_seconds(self) -> float | None:
        ran = self.done + self.failed
        if ran == 0 or self.status != "running":
            return None
        return self.elapsed / ran * self.remaining

    @property
    def is_finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def copy(self) -> SweepProgress:
        return replace(self)


class Sweep:
    """Executes cells through a sink: at most `concurrency` at once, never starting a cell whose
    worst case could take the sweep past `max_usd`. `run()` once; `cancel()` from any thread."""

    def __init__(self, sweep_id: str, cells: Sequence[Cell], model: Model, sink: SweepSink, *,
                 price: ModelPrice, concurrency: int = 4, max_usd: float | None = None,
                 on_progress: Callable[[SweepProgress], None] | None = None):
        if concurrency < 1:
            raise SweepPlanError(f"concurrency must be at least 1, got {concurrency}")
        if max_usd is not None:
            if not (math.isfinite(max_usd) and max_usd > 0):  # NaN and infinity are no caps
                raise SweepPlanError(f"the dollar cap must be a positive finite number, got {max_usd}")
            if not price.known:
                raise SweepPlanError(f"a dollar cap needs a price, and none is known for {model.name}; add it to "
                                     "the price override file or drop --max-usd")
            unbounded = sorted({c.budget.describe() for c in cells if math.isinf(worst_case_usd(c.budget, price))})
            if unbounded:
                raise SweepPlanError("with a dollar cap every budget must cap total tokens or dollars; not capped: "
                                     + "; ".join(unbounded))
        self.cells = list(cells)
        self.model = model
        self.sink = sink
        self.price = price
        self.concurrency = concurrency
        self.max_usd = max_usd
        self.on_progress = on_progress
        self.progress = SweepProgress(sweep_id, total=len(self.cells), max_usd=max_usd)
        self._worst = {c.budget: worst_case_usd(c.budget, price) for c in self.cells}
        self._observed: dict[tuple[str, Budget], tuple[float, int]] = {}  # (strategy, budget) -> (usd, count)
        self._pending: Counter[tuple[str, Budget]] = Counter()  # cells not started, per (strategy, budget)
        self._holding = 0  # cells holding a reservation: a count, as a float sum may never return to exactly 0
        self._queue: deque[Cell] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._money: asyncio.Condition | None = None
        self._cancel_requested = False
        self._lost_reason: str | None = None  # why the first lost cell was not stored

    # ---- control -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop starting cells and stop those in flight; `run()` then returns status cancelled."""
        self._cancel_requested = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self._halt("cancelled")))
        self.sink.cancel_running()

    async def run(self) -> SweepProgress:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._money = asyncio.Condition()
        progress = self.progress
        progress.started = time.monotonic()
        try:
            state = self.sink.resume_state()
            todo = [c for c in self.cells if c.key not in state.done_keys]
            progress.skipped = len(self.cells) - len(todo)
            progress.spent_usd = state.spent_usd
            self._queue = deque(todo)
            self._pending = Counter(_group(c) for c in todo)
            self._update()
            if self._cancel_requested:
                await self._halt("cancelled")
            elif self.max_usd is not None and todo and progress.spent_usd >= self.max_usd:
                await self._halt("capped")
            workers = [asyncio.create_task(self._worker()) for _ in range(min(self.concurrency, len(todo)))]
            try:
                await asyncio.gather(*workers)
            except asyncio.CancelledError:
                progress.status = "cancelled"
                self.sink.cancel_running()
                for task in workers:
                    task.cancel()
                raise
            if progress.status == "running":
                progress.status = "done"
            if progress.lost:
                if progress.status != "cancelled":
                    progress.status = "error"
                progress.error = (f"{progress.lost} cell{'s' if progress.lost != 1 else ''} could not be stored "
                                  f"({self._lost_reason}); run the sweep again to redo "
                                  f"{'them' if progress.lost != 1 else 'it'}")
        except asyncio.CancelledError:
            progress.status = "cancelled"
            raise
        except Exception as exc:
            progress.status, progress.error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            progress.finished = time.monotonic()
            progress.running = 0
            self._update()
            self.sink.finish(progress.copy())
        return progress.copy()

    async def _halt(self, status: str) -> None:
        assert self._stop is not None and self._money is not None
        if self.progress.status == "running":
            self.progress.status = status
        self._stop.set()
        async with self._money:
            self._money.notify_all()

    # ---- workers -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        assert self._stop is not None
        while self._queue and not self._stop.is_set():
            cell = self._queue.popleft()
            cost = self._worst[cell.budget]
            if not await self._reserve(cost):
                self._queue.appendleft(cell)
                return
            self._pending[_group(cell)] -= 1
            self.progress.running += 1
            self._update()
            try:
                outcome = await self.sink.run_cell(cell, self.model)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sink failed, not the strategy: count it, keep sweeping
                outcome = CellOutcome("error", error=f"{type(exc).__name__}: {exc}")
            finally:
                self.progress.running -= 1
            await self._settle(cell, cost, outcome)

    async def _reserve(self, cost: float) -> bool:
        """Hold `cost` against the dollar cap; wait while cells in flight might free room. False
        when the sweep stops, or when even with nothing in flight the cell does not fit (capped)."""
        assert self._stop is not None and self._money is not None
        if self.max_usd is None:
            return not self._stop.is_set()
        async with self._money:
            while True:
                if self._stop.is_set():
                    return False
                progress = self.progress
                if progress.spent_usd + progress.reserved_usd + cost <= self.max_usd * (1 + 1e-9):
                    progress.reserved_usd += cost
                    self._holding += 1
                    return True
                if self._holding == 0:  # nothing in flight will free room: the cap is reached
                    progress.status = "capped"
                    self._stop.set()
                    self._money.notify_all()
                    return False
                await self._money.wait()

    async def _settle(self, cell: Cell, cost: float, outcome: CellOutcome) -> None:
        assert self._money is not None
        progress = self.progress
        if outcome.status == "done":
            progress.done += 1
        elif outcome.status == "cancelled":
            progress.cancelled += 1
        elif outcome.status == "lost":
            progress.lost += 1
            if self._lost_reason is None:
                self._lost_reason = outcome.error or "no reason given"
                await self._halt("error")  # the cells in flight finish; no new one starts
        else:
            progress.failed += 1
        total, count = self._observed.get(_group(cell), (0.0, 0))
        self._observed[_group(cell)] = (total + outcome.usd, count + 1)
        async with self._money:
            if self.max_usd is not None:
                self._holding -= 1
                progress.reserved_usd = max(0.0, progress.reserved_usd - cost) if self._holding else 0.0
            progress.spent_usd += outcome.usd
            self._money.notify_all()
        self._update()

    def _update(self) -> None:
        progress = self.progress
        expected = 0.0
        for (strategy, budget), pending in self._pending.items():
            if pending:
                total, count = self._observed.get((strategy, budget), (0.0, 0))
                expected += pending * (total / count if count else self._worst[budget])
        progress.projected_usd = progress.spent_usd + progress.reserved_usd + expected
        if self.on_progress is not None:
            self.on_progress(progress.copy())


def _group(cell: Cell) -> tuple[str, Budget]:
    return cell.strategy.label(), cell.budget


def default_concurrency(model_spec: str) -> int:
    """The registry's calls in flight for the model's provider: one on the local engine the process
    shares, many for the instant fake, a few (paced by their rate limits) for hosted providers."""
    info = provider_info(provider_of(model_spec))
    return info.concurrency if info is not None else CONCURRENCY
