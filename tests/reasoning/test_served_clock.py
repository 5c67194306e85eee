"""The seconds cap counts the time a strategy was served, not time queued for a shared model; a
budget stop names the cap that bound. Fast: fake models, no llama.cpp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from reasoning.budget import Budget
from reasoning.call_states import current_monitor, new_call_id
from reasoning.context import Context
from reasoning.events import CallState, FinalAnswer, event_from_dict, event_to_dict
from reasoning.model_protocol import Capabilities, Chunk, Message, Usage
from reasoning.models.fake import FakeModel
from reasoning.run import ServedClock, run, stop_detail
from reasoning.strategies import make_strategy
from reasoning.strategies.base import StrategyBase

PROBLEM = "What is 2 + 2?"


def test_stop_detail_names_the_cap_and_its_limit():
    budget = Budget(total_tokens=1500, output_tokens=400, usd=0.05, seconds=90)
    assert stop_detail("seconds", budget) == "stopped: 90 s seconds cap"
    assert stop_detail("total_tokens", budget) == "stopped: 1,500-token cap"
    assert stop_detail("output_tokens", budget) == "stopped: 400-output-token cap"
    assert stop_detail("usd", budget) == "stopped: $0.05 dollar cap"
    assert stop_detail("seconds", Budget(seconds=2.5)) == "stopped: 2.5 s seconds cap"
    assert stop_detail(None, budget) == "stopped: budget cap"  # a cap we cannot name is not invented


class Wall:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_served_clock_stands_still_while_a_metered_call_waits():
    wall = Wall()
    clock = ServedClock(wall)
    states: list[tuple[int, str]] = []
    clock.on_state = lambda call, state: states.append((call, state))
    wall.now += 2  # the strategy's own work counts at wall rate
    assert clock() == pytest.approx(2)
    clock.begin(1)
    clock.state(1, "queued")
    wall.now += 30  # queued behind other strategies: not counted
    assert clock() == pytest.approx(2)
    clock.begin(2)  # a parallel call
    clock.served(1, 0.5)
    clock.served(2, 0.25)
    wall.now += 1
    assert clock() == pytest.approx(2.75)  # only what the model reports spending on the calls
    clock.end(1)
    wall.now += 5
    assert clock() == pytest.approx(2.75)  # call 2 still in flight
    clock.end(2)
    wall.now += 1
    assert clock() == pytest.approx(3.75)  # back at wall rate
    assert states == [(1, "queued"), (1, "ended"), (2, "ended")]


class QueuedModel:
    """Stands for a shared local model: each call waits `queued` seconds for its turn (reported as
    such), then is served `served` seconds (reported) and replies."""

    name = "fake:queued"
    capabilities = Capabilities()

    def __init__(self, queued: float, served: float) -> None:
        self.queued = queued
        self.served = served

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return 10

    async def stream(self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7,
                     **options) -> AsyncIterator[Chunk]:
        monitor = current_monitor()
        call = new_call_id()
        assert monitor is not None  # run() installs one for every strategy
        monitor.begin(call)
        try:
            monitor.state(call, "queued")
            await asyncio.sleep(self.queued)
            monitor.state(call, "reading prompt")
            monitor.served(call, self.served)
            monitor.state(call, "generating")
            yield Chunk(text="Answer: 4")
            yield Chunk(usage=Usage(10, 3), finish_reason="stop")
        finally:
            monitor.end(call)


@dataclass
class KeepAsking(StrategyBase):
    """Asks again and again: only a cap ends it."""

    name = "keep_asking"
    title = "Keep asking"
    summary = "test"

    async def solve(self, problem: str, ctx: Context) -> str | None:
        while True:
            ctx.partial(await ctx.generate(problem, max_tokens=32))


async def test_time_queued_for_the_model_does_not_count_against_the_seconds_cap():
    model = QueuedModel(queued=0.5, served=0.01)
    events = [e async for e in run(make_strategy("direct"), PROBLEM, model, Budget(seconds=0.3))]
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    assert final.stop == "done" and final.answer == "4", final
    assert final.stop_detail is None
    assert final.spent.seconds < 0.3  # served 0.01 s plus the strategy's own few ms
    states = [e.state for e in events if isinstance(e, CallState)]
    assert states == ["queued", "reading prompt", "generating", "ended"]
    # Stored and read back like every other event.
    state = next(e for e in events if isinstance(e, CallState))
    assert event_from_dict(event_to_dict(state)) == state


async def test_served_time_past_the_cap_stops_the_strategy_and_names_the_cap():
    # Two calls of 0.2 s served each: the second starts past a 0.3 s cap.
    model = QueuedModel(queued=0.0, served=0.2)
    events = [e async for e in run(KeepAsking(), PROBLEM, model, Budget(seconds=0.3))]
    final = events[-1]
    assert final.stop == "budget", final
    assert final.stop_detail == "stopped: 0.3 s seconds cap"
    assert final.spent.seconds >= 0.3


async def test_a_token_cap_stop_names_the_token_cap():
    model = FakeModel(replies="one two three four five six seven eight nine ten " * 20)
    budget = Budget(total_tokens=60)
    events = [e async for e in run(KeepAsking(), PROBLEM, model, budget)]
    final = events[-1]
    assert final.stop == "budget" and final.stop_detail == "stopped: 60-token cap", final


async def test_a_strategy_that_ends_by_itself_has_no_stop_detail():
    events = [e async for e in run(make_strategy("direct"), PROBLEM, FakeModel(), Budget(total_tokens=500))]
    assert events[-1].stop == "done" and events[-1].stop_detail is None
