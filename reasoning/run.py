"""run(strategy, problem, model, budget): one strategy on one problem, as a stream of events.

Whatever happens (done, a cap reached, the seconds cap, an error, a cancel), the stream ends with
exactly one FinalAnswer. On a budget stop the answer is the strategy's best partial answer, so every
strategy is an anytime strategy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from reasoning.budget import Budget, BudgetExhausted, Spend
from reasoning.call_states import CallStateName, monitoring, new_call_id
from reasoning.context import Context
from reasoning.events import CallState, Event, FinalAnswer, PartialAnswer, StopReason
from reasoning.model_protocol import Model, ModelError
from reasoning.prices import ModelPrice, price_for
from reasoning.provenance import app_version, fingerprint
from reasoning.strategies.base import Strategy


class _Marker:
    """Queued beside the events: why the stream of a run ends."""


_DONE = _Marker()  # the strategy returned or raised
_CANCELLED = _Marker()  # the cancel event was set
_DEADLINE = _Marker()  # the seconds cap passed
UNWIND_GRACE = 0.02  # seconds a stopped strategy is given to unwind before its calls are settled as they stand


class RunConfigError(ValueError):
    """The run cannot start as asked (empty problem, unpriced dollar cap, unsupported model)."""


def check_run(strategy: Strategy, problem: str, model: Model, budget: Budget, price: ModelPrice) -> None:
    if not problem or not problem.strip():
        raise RunConfigError("the problem is empty")
    if budget.usd is not None and not price.known:
        raise RunConfigError(
            f"a dollar cap was set but no price is known for {model.name}; add it to the price "
            "override file (see README, 'Prices') or use a token cap instead"
        )
    reason = strategy.unsupported_reason(model)
    if reason:
        raise RunConfigError(f"{strategy.name} cannot run on {model.name}: {reason}")


async def run(
    strategy: Strategy,
    problem: str,
    model: Model,
    budget: Budget,
    *,
    price: ModelPrice | None = None,
    cancel: asyncio.Event | None = None,
) -> AsyncIterator[Event]:
    price = price or price_for(model.name, base_url=getattr(model, "base_url", None))
    made_by = {"app_version": app_version(), "fingerprint": fingerprint(strategy)}
    try:
        check_run(strategy, problem, model, budget, price)
    except RunConfigError as exc:
        yield FinalAnswer(None, "error", Spend(), error=str(exc), **made_by)
        return
    # First-use work (a tokenizer's files, a local model's weights, an SDK's HTTP client) is done
    # before the strategy's clock starts: it is the process's cost, not the strategy's, and would
    # otherwise fall on whichever strategy of a comparison happens to run first.
    loading = new_call_id() if getattr(model, "is_loaded", True) is False else None
    if loading is not None:  # a pane says so: the first load took 8 s on a cold machine
        yield CallState(loading, "loading model", Spend())
    if not await _warmed_up(model, problem, cancel):
        yield FinalAnswer(None, "cancelled", Spend(), **made_by)
        return
    if loading is not None:
        yield CallState(loading, "ended", Spend())
    queue: asyncio.Queue = asyncio.Queue()
    clock = ServedClock()
    ctx = Context(model, budget, price=price, emit=queue.put_nowait, clock=clock)
    clock.on_state = lambda call, state: queue.put_nowait(CallState(call, state, ctx.spent))

    async def solve() -> str | None:
        try:
            with monitoring(clock):  # the strategy's model calls report their states to its clock
                return await strategy.solve(problem, ctx)
        finally:
            queue.put_nowait(_DONE)

    task = asyncio.create_task(solve())
    loop = asyncio.get_running_loop()
    # A cancel and the seconds cap arrive as markers in the events' own queue, so each event costs
    # one await of queue.get (a task and an asyncio.wait per event tripled the loop's work).
    cancel_wait = asyncio.create_task(cancel.wait()) if cancel is not None else None
    if cancel_wait is not None:
        cancel_wait.add_done_callback(lambda waited: waited.cancelled() or queue.put_nowait(_CANCELLED))
    deadline: asyncio.TimerHandle | None = None

    def check_deadline() -> None:
        # The clock runs no faster than wall time, so waking when the rest could have run out is
        # never late; while the strategy waits for the model its clock stands still: wake again.
        nonlocal deadline
        left = budget.seconds - clock()  # type: ignore[operator]
        if left <= 0:
            queue.put_nowait(_DEADLINE)
        else:
            deadline = loop.call_later(left, check_deadline)

    if budget.seconds is not None:
        deadline = loop.call_later(budget.seconds, check_deadline)
    deadline_hit = False
    cancelled = False
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if item is _CANCELLED:
                cancelled = True
                break
            if item is _DEADLINE:
                deadline_hit = True
                break
            yield item
    finally:
        if deadline is not None:
            deadline.cancel()
        if cancel_wait is not None:
            cancel_wait.cancel()
        if not task.done():
            task.cancel()
            # A strategy unwinds in a few ms: its calls settle what they streamed. A model slow to
            # stop (a local model mid-way through a prompt, a socket closing) is not waited for: the
            # stop would come as late as it does (0.37 s past a 0.3 s cap, measured), so its calls
            # are charged what they streamed now, and it finishes unwinding on its own.
            await asyncio.wait({task}, timeout=UNWIND_GRACE)
        if task.done():
            with contextlib.suppress(BaseException):
                task.result()
        else:
            ctx.settle_in_flight()
            task.add_done_callback(_retrieve)

    # Drain what the strategy emitted before it stopped (deltas, spend of a cut call).
    while not queue.empty():
        item = queue.get_nowait()
        if not isinstance(item, _Marker):
            yield item

    answer, stop, error = _outcome(task, ctx, deadline_hit=deadline_hit, cancelled=cancelled)
    detail = stop_detail("seconds" if deadline_hit else _binding_cap(task, ctx), budget) if stop == "budget" else None
    if answer and answer != ctx.best_answer:
        yield PartialAnswer(answer, None, ctx.spent)
    yield FinalAnswer(answer, stop, ctx.spent, error=error, stop_detail=detail, **made_by)


_warmed: set[tuple] = set()


async def _warmed_up(model: Model, problem: str, cancel: asyncio.Event | None) -> bool:
    """Warm the model up; False if the cancel came first. A failure is left to the strategy's first
    call, which reports it as the run's error."""
    work = asyncio.ensure_future(_warm_up(model, problem))
    waiter = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    try:
        await asyncio.wait({work} if waiter is None else {work, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if waiter is not None:
            waiter.cancel()
        if not work.done():
            work.cancel()
    if work.cancelled():
        return False
    work.exception()  # retrieved, and left to the strategy's first call
    return not (cancel is not None and cancel.is_set())


async def _warm_up(model: Model, problem: str) -> None:
    """Do the slow first-use work on a worker thread: a tokenizer's first count loads its files
    (tiktoken's rank files: 1-2 s on a loaded 2-core machine; a local model's weights), and a
    provider's first call builds its HTTP client (`warm_up(loop)`, 0.2-0.4 s per model). Inside a
    strategy, on the event loop, either held up everything on it, the seconds cap's deadline
    included: a 0.3 s cap ended 0.37 s late, and the first run of a process over a second late.
    (Building tiktoken's encoding holds the GIL, so even on a thread it stalls the loop: hence
    before the strategy's clock starts, not during it.)"""
    loop = asyncio.get_running_loop()
    # A local model loads per (file, context size, threads): one count for each.
    key = (model.name, getattr(model, "n_ctx", None), getattr(model, "n_threads", None))
    prepare = getattr(model, "warm_up", None)
    if key in _warmed and prepare is None:
        return

    def work() -> None:
        if key not in _warmed:
            model.count_tokens([{"role": "user", "content": problem}])
        if prepare is not None:
            prepare(loop)

    await asyncio.to_thread(work)
    _warmed.add(key)


class ServedClock:
    """The seconds cap's clock: the time a strategy was being served, not time spent waiting.

    It counts wall time while the strategy has no metered call in flight (its own work, and calls
    to hosted models, which report nothing and are served at once). While it has calls on a model
    that meters them (the local model), only the seconds that model reports spending on them count:
    each call's share of every batched decode step. Time queued behind other strategies' calls and
    a model's load do not count, so no strategy runs out of seconds waiting for its turn. It runs
    no faster than wall time. Used on the event loop's thread only (models report there).
    """

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._banked = 0.0
        self._since: float | None = wall()  # running at wall rate since then; None: stopped
        self._metered: set[int] = set()
        self.on_state: Callable[[int, CallStateName], None] | None = None

    def __call__(self) -> float:
        if self._since is None:
            return self._banked
        return self._banked + self._wall() - self._since

    # reasoning.call_states.CallMonitor
    def begin(self, call: int) -> None:
        if not self._metered and self._since is not None:
            self._banked += self._wall() - self._since
            self._since = None
        self._metered.add(call)

    def state(self, call: int, state: CallStateName) -> None:
        if self.on_state is not None:
            self.on_state(call, state)

    def served(self, call: int, seconds: float) -> None:
        self._banked += max(0.0, seconds)

    def end(self, call: int) -> None:
        if call not in self._metered:
            return
        self._metered.discard(call)
        self.state(call, "ended")
        if not self._metered:
            self._since = self._wall()


CAP_WORDS = {"total_tokens": "token", "output_tokens": "output-token"}


def stop_detail(cap: str | None, budget: Budget) -> str:
    """The cap that ended a run and its limit, as a pane says it: "stopped: 90 s seconds cap",
    "stopped: 1,500-token cap", "stopped: 400-output-token cap", "stopped: $0.05 dollar cap"."""
    limit = getattr(budget, cap, None) if cap else None
    if cap in CAP_WORDS and limit is not None:
        return f"stopped: {int(limit):,}-{CAP_WORDS[cap]} cap"
    if cap == "usd" and limit is not None:
        return f"stopped: ${limit:,.6g} dollar cap"
    if cap == "seconds" and limit is not None:
        return f"stopped: {limit:,.6g} s seconds cap"
    return f"stopped: {cap or 'budget'} cap"


def _binding_cap(task: asyncio.Task, ctx: Context) -> str | None:
    """The cap a BudgetExhausted that ended the strategy names, or the one that cut its last call."""
    if task.done() and not task.cancelled():
        exc = task.exception()
        if isinstance(exc, BudgetExhausted):
            return exc.cap
    return ctx.last_call_cut_by


def _retrieve(task: asyncio.Task) -> None:
    """Collect the outcome of a strategy that finished unwinding after its run ended."""
    if not task.cancelled():
        task.exception()


def _outcome(
    task: asyncio.Task, ctx: Context, *, deadline_hit: bool, cancelled: bool
) -> tuple[str | None, StopReason, str | None]:
    best = ctx.best_answer
    if cancelled:
        return best, "cancelled", None
    if deadline_hit:
        return best, "budget", None
    if not task.done() or task.cancelled():  # still unwinding: the run was closed from outside
        return best, "cancelled", None
    exc = task.exception()
    if exc is None:
        answer = task.result()
        return (str(answer).strip() if answer else best), "budget" if ctx.last_call_cut_by else "done", None
    if isinstance(exc, BudgetExhausted):
        return best, "budget", None
    if isinstance(exc, ModelError):
        return best, "error", str(exc)
    return best, "error", f"{type(exc).__name__}: {exc}"
