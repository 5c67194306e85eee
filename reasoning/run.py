"""run(strategy, problem, model, budget): one strategy on one problem, as a stream of events.

Whatever happens (done, a cap reached, the seconds cap, an error, a cancel), the stream ends with
exactly one FinalAnswer. On a budget stop the answer is the strategy's best partial answer, so every
strategy is an anytime strategy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from reasoning.budget import Budget, BudgetExhausted
from reasoning.context import Context
from reasoning.events import Event, FinalAnswer, PartialAnswer, StopReason
from reasoning.models.base import Model, ModelError
from reasoning.prices import ModelPrice, price_for
from reasoning.strategies.base import Strategy


class _Marker:
    """Queued beside the events: why the stream of a run ends."""


_DONE = _Marker()  # the strategy returned or raised
_CANCELLED = _Marker()  # the cancel event was set
_DEADLINE = _Marker()  # the seconds cap passed


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
    queue: asyncio.Queue = asyncio.Queue()
    ctx = Context(model, budget, price=price, emit=queue.put_nowait)
    try:
        check_run(strategy, problem, model, budget, price)
    except RunConfigError as exc:
        yield FinalAnswer(None, "error", ctx.spent, error=str(exc))
        return

    async def solve() -> str | None:
        try:
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
    deadline = None if budget.seconds is None else loop.call_later(budget.seconds, queue.put_nowait, _DEADLINE)
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
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if cancel_wait is not None:
            cancel_wait.cancel()

    # Drain what the strategy emitted before it stopped (deltas, spend of a cut call).
    while not queue.empty():
        item = queue.get_nowait()
        if not isinstance(item, _Marker):
            yield item

    answer, stop, error = _outcome(task, ctx, deadline_hit=deadline_hit, cancelled=cancelled)
    if answer and answer != ctx.best_answer:
        yield PartialAnswer(answer, None, ctx.spent)
    yield FinalAnswer(answer, stop, ctx.spent, error=error)


def _outcome(
    task: asyncio.Task, ctx: Context, *, deadline_hit: bool, cancelled: bool
) -> tuple[str | None, StopReason, str | None]:
    best = ctx.best_answer
    if cancelled:
        return best, "cancelled", None
    if deadline_hit:
        return best, "budget", None
    if task.cancelled():
        return best, "cancelled", None
    exc = task.exception()
    if exc is None:
        answer = task.result()
        return (str(answer).strip() if answer else best), "done", None
    if isinstance(exc, BudgetExhausted):
        return best, "budget", None
    if isinstance(exc, ModelError):
        return best, "error", str(exc)
    return best, "error", f"{type(exc).__name__}: {exc}"
