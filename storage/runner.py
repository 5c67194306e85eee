"""The runner: executes runs in the background and appends their events to the store.

One runner per process and store (`get_runner`): a daemon thread with its own asyncio loop, and a
writer thread for the database. `submit` records the run and returns its id at once; the run's
strategies then execute concurrently, independent of whoever submitted it (a Streamlit page may
rerun or close). A run can be cancelled; a process that dies mid-run leaves it `running`, and
the next process to open the store on this host marks it `interrupted`. What a run is asked to do
(RunSpec) and what of it may be stored or shown are storage.run_spec's; the rows it starts with,
storage.run_rows'.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
import traceback
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from reasoning.budget import Budget, Spend
from reasoning.config import get_settings
from reasoning.events import FinalAnswer
from reasoning.model_protocol import Model
from reasoning.models import get_model
from reasoning.prices import price_for
from reasoning.redaction import EventRedactor, redact
from reasoning.run import run as run_strategy
from reasoning.strategies import make_strategy
from storage import run_fold_store
from storage.ids import new_run_id
from storage.liveness import cancel_requests, mark_interrupted, mark_interrupted_dead_owners
from storage.recorder import MIN_GAP, QUIET_GAP, TEXT_DELAY, RunRecorder
from storage.run_rows import RunRows, insert_run_rows, new_run_rows, prerecorded
from storage.run_spec import RunSpec, RunSpecError, _describe, _model_error, _run_outcome, _secrets
from storage.store import RunNotStored, Store, open_store
from storage.tables import ACTIVE_STATUSES, Run
from storage.writer import BackgroundWriter

log = logging.getLogger(__name__)

MAX_FAILURES_KEPT = 1000  # runs whose store failure this process remembers (store_error)
HEARTBEAT_SECONDS = 30.0  # a live runner touches its runs' `updated` at least this often
CANCEL_POLL_SECONDS = 0.5  # how often a runner with runs looks for a Cancel made by another process


@dataclass
class _Active:
    run_id: str
    cancels: list[asyncio.Event]
    done: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False


class Runner:
    """Use `get_runner(store)`; every method may be called from any thread."""

    def __init__(self, store: Store, *, text_delay: float = TEXT_DELAY, min_gap: float = MIN_GAP,
                 max_concurrent_runs: int | None = None):
        self.store = store
        self.text_delay = text_delay
        self.min_gap = min_gap
        self._active: dict[str, _Active] = {}
        self._failures: dict[str, RunNotStored] = {}  # runs whose writes failed, newest last
        self._lock = threading.Lock()
        self._writer = BackgroundWriter()
        # Live runs (app, CLI) beyond the limit wait as `queued`; a sweep bounds its own concurrency.
        self._slots = asyncio.Semaphore(max_concurrent_runs or get_settings().limits.max_concurrent_runs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="budget-arena-runner", daemon=True)
        self._thread.start()
        self._heartbeat = asyncio.run_coroutine_threadsafe(self._beat(), self._loop)
        self._cancel_watch = asyncio.run_coroutine_threadsafe(self._watch_cancels(), self._loop)
        mark_interrupted_dead_owners(store)
        atexit.register(self._at_exit)

    # ---- public API ----------------------------------------------------------------------------

    def submit(self, spec: RunSpec) -> str:
        """Record the run (status `running`) and start it in the background. Returns its id.

        Raises RunSpecError for a spec that names no strategy, an unknown one, or a bad knob;
        everything else (a model that cannot be built, a strategy failing) is recorded in the run."""
        return self.start(spec)[0]

    def start(self, spec: RunSpec) -> tuple[str, concurrent.futures.Future[dict[int, FinalAnswer]]]:
        """As `submit`, plus a future that completes once the run has ended and its last write is
        stored, with each strategy's FinalAnswer by index (await it with asyncio.wrap_future)."""
        run_id, strategies, now, rows = self._prepare(spec)
        if spec.live:
            self._insert(rows)
        active = self._activate(run_id, strategies)
        future = asyncio.run_coroutine_threadsafe(
            self._execute(active, spec, strategies, now.timestamp(), None if spec.live else rows), self._loop)
        return run_id, future

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runner's event loop. Code that drives many runs (a sweep) runs here and uses `begin`."""
        return self._loop

    async def begin(self, spec: RunSpec) -> tuple[str, asyncio.Task[dict[int, FinalAnswer]]]:
        """As `start`, awaited on the runner's loop: the run's rows are written by the writer thread
        (so they never contend with the runs' own writes, nor block the loop; a quiet run's go with its
        first batch), and the run is a task of this loop (no thread hop). Raises RunSpecError as
        `submit` does."""
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("Runner.begin must be awaited on Runner.loop; use start() from other threads")
        run_id, strategies, now, rows = self._prepare(spec)
        if spec.live:
            await self._writer.call(self._insert, rows)
        active = self._activate(run_id, strategies)
        return run_id, asyncio.ensure_future(
            self._execute(active, spec, strategies, now.timestamp(), None if spec.live else rows))

    def _prepare(self, spec: RunSpec) -> tuple[str, list, datetime, RunRows]:
        specs = spec.strategy_specs()
        if not specs:
            raise RunSpecError("a run needs at least one strategy")
        try:
            strategies = [make_strategy(s.name, **dict(s.knobs)) for s in specs]
        except ValueError as exc:
            raise RunSpecError(str(exc)) from None
        run_id = new_run_id()
        now = datetime.now(UTC)
        return run_id, strategies, now, new_run_rows(spec, run_id, now, specs, strategies)

    def _insert(self, rows: RunRows) -> None:
        insert_run_rows(self.store, rows)

    def _activate(self, run_id: str, strategies: list) -> _Active:
        active = _Active(run_id, [asyncio.Event() for _ in strategies])
        with self._lock:
            self._active[run_id] = active
        return active

    def cancel(self, run_id: str) -> bool:
        """Ask a run of this process to stop; its strategies end with their best answer so far.
        False if the run is not executing here."""
        with self._lock:
            active = self._active.get(run_id)
        if active is None:
            return False
        active.cancel_requested = True
        for event in active.cancels:
            self._loop.call_soon_threadsafe(event.set)
        return True

    def wait(self, run_id: str, timeout: float | None = None) -> str | None:
        """Block until the run ends here (or `timeout` passes); return its stored status
        (None for an unknown run)."""
        with self._lock:
            active = self._active.get(run_id)
        if active is not None:
            active.done.wait(timeout)
        with self.store.read() as conn:
            return conn.scalar(select(Run.status).where(Run.id == run_id))

    def active_runs(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._active

    def store_error(self, run_id: str) -> str | None:
        """Why this process could not store the run's rows or events (one line), or None. The store
        itself may still say `running` when the write that would end the run failed too: callers
        show this instead of waiting for an end that will not come."""
        with self._lock:
            failure = self._failures.get(run_id)
        return None if failure is None else str(failure)

    def _note_failure(self, run_id: str, recorder: RunRecorder) -> None:
        if recorder.failure is None:
            return
        failure = RunNotStored(recorder.describe_failure(), kind=recorder.failure.kind, run_id=run_id,
                               lost_events=recorder.lost_events,
                               usd=sum(final.spent.usd for final in recorder.finals.values()))
        with self._lock:
            self._failures[run_id] = failure
            while len(self._failures) > MAX_FAILURES_KEPT:
                self._failures.pop(next(iter(self._failures)))

    def _checked(self, run_id: str, recorder: RunRecorder) -> dict[int, FinalAnswer]:
        """The run's answers, or RunNotStored: a run whose writes failed is not done."""
        with self._lock:
            failure = self._failures.get(run_id)
        if failure is not None:
            raise failure
        return recorder.finals

    # ---- execution (runner loop) ---------------------------------------------------------------

    async def _execute(self, active: _Active, spec: RunSpec, strategies: list, started_wall: float,
                       pending_rows: RunRows | None = None,
                       ) -> dict[int, FinalAnswer]:
        gap = (self.text_delay, self.min_gap) if spec.live else (QUIET_GAP, QUIET_GAP)
        recorder = RunRecorder(self.store, self._writer, active.run_id, reference=spec.reference,
                               started_wall=started_wall, text_delay=gap[0], min_gap=gap[1],
                               checker=spec.checker, quiet=not spec.live, pending_rows=pending_rows)
        holds_slot = False
        try:
            if spec.live:
                await self._wait_for_slot(recorder, len(strategies))
                holds_slot = True
            try:
                model = await self._build_model(spec)
            except Exception as exc:
                message = _model_error(spec, exc)
                for index in range(len(strategies)):
                    recorder.set_strategy(index, status="error", stop_reason="error", error=message,
                                          finished=datetime.now(UTC))
                await recorder.close(status="error", error=message, finished=datetime.now(UTC))
                return recorder.finals
            price = spec.price or price_for(model.name, base_url=getattr(model, "base_url", None))
            if not prerecorded(spec):  # else the model and price date went in with the run's rows
                recorder.set_run(model=model.name, price_date=price.price_date)
                for index in range(len(strategies)):
                    recorder.set_strategy(index, price_date=price.price_date)
            budgets = [s.budget_in(spec.budget) for s in spec.strategy_specs()]
            await asyncio.gather(*(
                self._strategy(recorder, index, strategy, spec, model, price, budgets[index], active.cancels[index])
                for index, strategy in enumerate(strategies)
            ))
            names = [s.name for s in spec.strategy_specs()]
            status, error = _run_outcome(recorder.finals, names, active.cancel_requested)
            await recorder.close(status=status, error=error, finished=datetime.now(UTC))
            if spec.live and recorder.failure is None:  # a run someone may share: its page's fold, once
                await asyncio.to_thread(run_fold_store.fold_ended_run, self.store, active.run_id)
        except Exception as exc:  # a bug here must still end the run visibly
            _log_failure(spec, exc, "run %s failed", active.run_id)
            await recorder.close(status="error", error=_describe(spec, exc), finished=datetime.now(UTC))
        finally:
            self._note_failure(active.run_id, recorder)  # before `done`: a waiter then finds it
            if holds_slot:
                self._slots.release()
            with self._lock:
                self._active.pop(active.run_id, None)
            active.done.set()
        return self._checked(active.run_id, recorder)

    async def _wait_for_slot(self, recorder: RunRecorder, strategies: int) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        recorder.set_run(status="queued")
        for index in range(strategies):
            recorder.set_strategy(index, status="queued")
        await self._slots.acquire()
        recorder.set_run(status="running")
        for index in range(strategies):
            recorder.set_strategy(index, status="running")

    async def _build_model(self, spec: RunSpec) -> Model:
        if not isinstance(spec.model, str):
            return spec.model
        options = {**spec.model_options, **spec.secrets}
        # Loading a local model reads a file of hundreds of MB: off the loop.
        return await asyncio.to_thread(get_model, spec.model, **options)

    async def _strategy(self, recorder: RunRecorder, index: int, strategy: Any, spec: RunSpec,
                        model: Model, price: Any, budget: Budget, cancel: asyncio.Event) -> None:
        redactor = EventRedactor(_secrets(spec))  # a server may echo a key into its reply
        try:  # each entry is metered with its own Budget (its own caps or the run's)
            async for event in run_strategy(strategy, spec.problem, model, budget, price=price, cancel=cancel):
                if isinstance(event, FinalAnswer) and event.error:  # providers redact; this catches the rest
                    event = replace(event, error=redact(event.error, *_secrets(spec)))
                for clean in redactor(event):
                    recorder.add(index, clean)
        except Exception as exc:  # run() ends with a FinalAnswer by contract; a bug must not stop the others
            _log_failure(spec, exc, "strategy %s of run %s raised", index, recorder.run_id)
            if index not in recorder.finals:
                recorder.add(index, FinalAnswer(None, "error", Spend(), error=_describe(spec, exc)))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            ids = self.active_runs()
            if ids:
                try:
                    await self._writer.call(self._touch, ids)
                except Exception as exc:
                    log.warning("heartbeat failed: %s", exc)

    async def _watch_cancels(self) -> None:
        """Cancel this runner's runs that another process asked to stop (run.cancel_requested: a
        Cancel on another app server sharing the store, or `budget-arena cancel`)."""
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            ids = self.active_runs()
            if not ids:
                continue
            try:
                asked = await asyncio.to_thread(cancel_requests, self.store, ids)
            except Exception as exc:  # a store hiccup: the next poll tries again
                log.debug("could not read cancel requests: %s", exc)
                continue
            for run_id in asked:
                self.cancel(run_id)

    async def _stop_loop(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    def _touch(self, run_ids: list[str]) -> None:
        with self.store.write() as conn:
            conn.execute(update(Run).where(Run.id.in_(run_ids), Run.status.in_(ACTIVE_STATUSES))
                         .values(updated=datetime.now(UTC)))

    def _at_exit(self) -> None:
        ids = self.active_runs()
        if ids:
            try:
                mark_interrupted(self.store, ids, reason="interrupted: the process exited before the run finished")
            except Exception as exc:
                log.warning("could not mark runs %s interrupted at exit: %s", ids, exc)
        # Stop the loop before the interpreter finalises: a daemon thread caught inside native code
        # that released the GIL (the tokenizer) is ended with pthread_exit, and a frame that catches
        # that unwind aborts the process ("FATAL: exception not rethrown", exit -6).
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2.0)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel this runner's runs, wait for them to end, and stop its threads (tests, tools)."""
        for run_id in self.active_runs():
            self.cancel(run_id)
        for run_id in self.active_runs():
            self.wait(run_id, timeout)
        asyncio.run_coroutine_threadsafe(self._stop_loop(), self._loop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
        self._writer.stop(timeout)
        atexit.unregister(self._at_exit)
        with _runners_lock:
            if _runners.get(self.store.url) is self:
                del _runners[self.store.url]


def _log_failure(spec: RunSpec, exc: BaseException, message: str, *args: object) -> None:
    """log.exception, with keys redacted from the message and the traceback."""
    trace = redact("".join(traceback.format_exception(exc)), *_secrets(spec))
    log.error(message + "\n%s", *args, trace)


_runners: dict[str, Runner] = {}
_runners_lock = threading.Lock()


def run_store_error(run_id: str) -> str | None:
    """Why a run of this process could not be stored, from whichever runner ran it; None when it
    was stored (or ran elsewhere). Creates no runner."""
    with _runners_lock:
        runners = list(_runners.values())
    for runner in runners:
        failure = runner.store_error(run_id)
        if failure is not None:
            return failure
    return None


def get_runner(store: Store | None = None) -> Runner:
    """This process's runner for `store` (default: open_store()). Created on first use."""
    store = store or open_store()
    with _runners_lock:
        runner = _runners.get(store.url)
        if runner is None:
            runner = _runners[store.url] = Runner(store)
        return runner
