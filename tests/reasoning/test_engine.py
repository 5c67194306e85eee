"""The metered path: Budget validation, Context clamping/reservation, run() outcomes."""

from __future__ import annotations

import asyncio
import json
import typing
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasoning.budget import Budget, BudgetExhausted, Spend
from reasoning.context import Context
from reasoning.events import (
    EVENT_KINDS,
    EVENT_TYPES,
    CallState,
    Event,
    EventKind,
    FinalAnswer,
    Note,
    PartialAnswer,
    SpendUpdate,
    TextDelta,
    ThinkingDelta,
    UnknownEventKind,
    event_from_dict,
    event_to_dict,
)
from reasoning.model_protocol import ModelError
from reasoning.models.fake import FakeModel, fake_tokens
from reasoning.prices import FREE, ModelPrice
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.base import StrategyBase


async def collect(strategy, problem="What is 2+2?", model=None, budget=None, **kw):
    return [e async for e in run(strategy, problem, model or FakeModel(), budget or Budget(), **kw)]


def final_of(events) -> FinalAnswer:
    finals = [e for e in events if isinstance(e, FinalAnswer)]
    assert len(finals) == 1 and events[-1] is finals[0]
    return finals[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"total_tokens": 0}, "positive"),
        ({"output_tokens": -5}, "positive"),
        ({"usd": float("nan")}, "finite"),
        ({"seconds": float("inf")}, "finite"),
        ({"total_tokens": 10.5}, "whole number"),
        ({"usd": "1"}, "number"),
        ({"total_tokens": True}, "number"),
    ],
)
def test_budget_rejects_bad_caps(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Budget(**kwargs)


async def test_generate_clamps_max_tokens_to_remaining_tokens():
    model = FakeModel(replies="word " * 500)
    events: list = []
    ctx = Context(model, Budget(total_tokens=100), price=FREE, emit=events.append)
    prompt = [{"role": "user", "content": "one two three"}]
    reply = await ctx.generate(prompt, max_tokens=1000)
    prompt_tokens = model.count_tokens(prompt)
    assert model.calls[0]["max_tokens"] == 100 - prompt_tokens
    assert reply.truncated
    assert ctx.spent.total_tokens == 100
    with pytest.raises(BudgetExhausted):
        await ctx.generate(prompt)


async def test_generate_clamps_to_dollars_after_prompt_cost():
    price = ModelPrice(input_per_mtok=1_000_000, output_per_mtok=2_000_000)  # $1 in, $2 out per token
    model = FakeModel(replies="word " * 500, name="fake:priced")
    ctx = Context(model, Budget(usd=46.0), price=price, emit=lambda e: None)
    prompt = [{"role": "user", "content": "a b c d"}]  # 6 tokens = $6
    await ctx.generate(prompt, max_tokens=1000)
    assert model.calls[0]["max_tokens"] == 20  # ($46 - $6) / $2
    assert ctx.spent.usd == pytest.approx(46.0)
    with pytest.raises(BudgetExhausted, match="usd"):
        await ctx.generate(prompt)


async def test_a_useless_sliver_is_refused_not_started():
    model = FakeModel()
    ctx = Context(model, Budget(output_tokens=5), price=FREE, emit=lambda e: None)
    with pytest.raises(BudgetExhausted, match="output"):
        await ctx.generate("hello", max_tokens=100)
    assert model.calls == []


async def test_parallel_calls_through_gather_cannot_overspend_together():
    model = FakeModel(replies="word " * 200, token_delay=0.001)
    ctx = Context(model, Budget(total_tokens=300), price=FREE, emit=lambda e: None)
    results = await ctx.gather(*[ctx.generate("go", label=f"s{i}", max_tokens=120) for i in range(6)])
    granted = [c["max_tokens"] for c in model.calls]
    assert ctx.spent.total_tokens <= 300
    # Each call was sized from what the others had not reserved: no two spent the same remainder.
    assert sum(granted) + sum(model.count_tokens(c["messages"]) for c in model.calls) <= 300
    assert any(r is None for r in results)  # later calls were refused, not overspent


async def test_gather_raises_only_when_every_call_is_refused():
    ctx = Context(FakeModel(), Budget(total_tokens=3), price=FREE, emit=lambda e: None)
    with pytest.raises(BudgetExhausted):
        await ctx.gather(ctx.generate("x"), ctx.generate("y"))


async def test_reasoning_tokens_are_counted_once():
    model = FakeModel(replies="<think>a b c</think>Answer: 4")
    ctx = Context(model, Budget(), price=FREE, emit=lambda e: None)
    reply = await ctx.generate("q")
    assert reply.thinking == "a b c"
    assert ctx.spent.output_tokens == len(fake_tokens("a b c")) + len(fake_tokens("Answer: 4"))
    assert ctx.spent.reasoning_tokens == 3
    assert ctx.spent.total_tokens == ctx.spent.input_tokens + ctx.spent.output_tokens


async def test_run_ends_done_with_events_in_order():
    events = await collect(make_strategy("chain_of_thought"))
    final = final_of(events)
    assert (final.answer, final.stop, final.error) == ("4", "done", None)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.endswith("Answer: 4")
    assert any(isinstance(e, SpendUpdate) for e in events)
    assert isinstance(events[-2], PartialAnswer) or any(isinstance(e, PartialAnswer) for e in events)


async def test_a_strategy_whose_last_call_a_cap_cut_short_stopped_at_that_cap():
    # chain_of_thought's one call, lowered from 1,024 to what 80 tokens buy, ran into it: the cap
    # ended the reasoning, so the stop says so (it said "done" with no answer).
    model = FakeModel(replies="step " * 100 + "Answer: 4")
    final = final_of(await collect(make_strategy("chain_of_thought"), model=model, budget=Budget(total_tokens=80)))
    assert (final.answer, final.stop, final.stop_detail) == (None, "budget", "stopped: 80-token cap")
    assert final.spent.total_tokens == 80


async def test_a_call_its_own_max_tokens_cut_is_not_a_cap_stop():
    model = FakeModel(replies="step " * 100 + "Answer: 4")
    final = final_of(await collect(make_strategy("chain_of_thought", max_tokens=20), model=model,
                                   budget=Budget(total_tokens=4000)))
    assert (final.answer, final.stop, final.stop_detail) == (None, "done", None)


async def test_run_turns_a_provider_error_into_an_error_stop_with_spend_kept():
    model = FakeModel(replies="one two three four five six seven", fail_after_tokens=3)
    final = final_of(await collect(make_strategy("chain_of_thought"), model=model))
    assert final.stop == "error"
    assert "cut mid-way" in final.error
    assert final.spent.output_tokens == 3 and final.spent.estimated


async def test_run_seconds_cap_stops_a_slow_strategy_with_its_best_partial():
    @dataclass
    class Slow(StrategyBase):
        name = "slow_for_test"

        async def solve(self, problem, ctx):
            ctx.partial("7", 0.5)
            await ctx.generate("go", max_tokens=10_000)
            return "never"

    model = FakeModel(replies="word " * 10_000, token_delay=0.01)
    final = final_of(await collect(Slow(), model=model, budget=Budget(seconds=0.3)))
    assert (final.answer, final.stop) == ("7", "budget")
    assert final.spent.seconds < 1.0
    assert 0 < final.spent.output_tokens < 100


async def test_run_cancel_stops_in_flight_calls():
    cancel = asyncio.Event()
    model = FakeModel(replies="word " * 10_000, token_delay=0.01)

    async def trigger():
        await asyncio.sleep(0.2)
        cancel.set()

    asyncio.get_running_loop().create_task(trigger())
    events = await collect(make_strategy("chain_of_thought"), model=model, cancel=cancel)
    final = final_of(events)
    assert final.stop == "cancelled"
    await asyncio.sleep(0.1)
    count = sum(isinstance(e, TextDelta) for e in events)
    assert count < 100  # stopped, not run to 10,000 tokens


@pytest.mark.parametrize(
    "problem, budget, model_name, message",
    [
        ("   ", Budget(), "fake:x", "problem is empty"),
        ("2+2", Budget(usd=1.0), "openai:some-unpriced-model", "no price is known"),
    ],
)
async def test_run_refuses_bad_setups_up_front(problem, budget, model_name, message):
    final = final_of(await collect(make_strategy("chain_of_thought"), problem=problem,
                                   model=FakeModel(name=model_name), budget=budget))
    assert final.stop == "error" and message in final.error
    assert final.spent.calls == 0


budgets = st.builds(
    Budget,
    total_tokens=st.none() | st.integers(1, 400),
    output_tokens=st.none() | st.integers(1, 200),
    usd=st.none() | st.floats(1e-4, 0.05),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=budgets, reply_words=st.lists(st.integers(0, 120), min_size=1, max_size=6),
       parallel=st.integers(1, 4))
def test_property_spend_never_exceeds_any_cap(budget, reply_words, parallel):
    """Random reply lengths, random caps of every kind: no cap is ever exceeded, one FinalAnswer."""
    price = ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)

    @dataclass
    class Greedy(StrategyBase):
        name = "greedy_for_test"

        async def solve(self, problem, ctx):
            for round_ in range(20):
                replies = await ctx.gather(*[ctx.generate(problem, label=f"r{round_}.{i}", max_tokens=150)
                                             for i in range(parallel)])
                ctx.partial(str(round_), None)
                assert replies
            return "done"

    model = FakeModel(replies=["w " * n + "Answer: 1" for n in reply_words], name="fake:priced")
    events = asyncio.run(collect(Greedy(), model=model, budget=budget, price=price))
    final = final_of(events)
    spent = final.spent
    if budget.total_tokens is not None:
        assert spent.total_tokens <= budget.total_tokens
    if budget.output_tokens is not None:
        assert spent.output_tokens <= budget.output_tokens
    if budget.usd is not None:
        assert spent.usd <= budget.usd + 1e-12
    assert final.stop in ("done", "budget")
    # Every SpendUpdate along the way was within the caps too.
    for event in events:
        if isinstance(event, SpendUpdate) and budget.total_tokens is not None:
            assert event.spent.total_tokens <= budget.total_tokens


async def test_model_errors_never_leak_as_uncaught_exceptions():
    @dataclass
    class Boom(StrategyBase):
        name = "boom_for_test"

        async def solve(self, problem, ctx):
            raise ModelError("provider said no", status=500)

    final = final_of(await collect(Boom()))
    assert final.stop == "error" and final.error == "provider said no"


# ---- typed events and their stored form --------------------------------------------------------

SPENT = Spend(input_tokens=7, output_tokens=5, reasoning_tokens=2, cached_input_tokens=1, usd=0.25, seconds=1.5,
              calls=2, estimated=True, over_cap=True)
# One event of every class, every field away from its default: a field a reader forgot fails the round trip.
EVERY_EVENT: list[Event] = [
    TextDelta("sample 2", "Two plus"), ThinkingDelta("reasoning", "hmm"), SpendUpdate(SPENT),
    PartialAnswer("4", 0.75, SPENT), Note("votes", "4 ×2", {"4": 2, "nested": {"a": [1]}}),
    CallState(12, "generating", SPENT),
    FinalAnswer("4", "budget", SPENT, "late", app_version="1.2.3", fingerprint="abc", stop_detail="stopped: cap"),
]


def test_every_event_class_has_one_literal_kind_and_every_kind_one_class():
    assert [type(e) for e in EVERY_EVENT] == list(EVENT_TYPES)
    assert tuple(e.kind for e in EVERY_EVENT) == EVENT_KINDS == typing.get_args(EventKind)
    for cls in EVENT_TYPES:
        hint = typing.get_type_hints(cls)["kind"]
        assert typing.get_origin(hint) is typing.Literal and typing.get_args(hint) == (cls.kind,)
        assert typing.get_args(Event).count(cls) == 1
    with pytest.raises(TypeError):
        TextDelta("x", "y", kind="note")  # type: ignore[call-arg]  # the discriminator is no constructor argument


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: e.kind)
def test_an_event_survives_its_stored_form(event):
    stored = json.loads(json.dumps(event_to_dict(event)))  # as the event table's JSON column returns it
    assert stored["kind"] == event.kind
    assert event_from_dict(stored) == event
    assert event_from_dict(stored, event.kind) == event  # the row's kind column


def test_a_stored_row_reads_back_leniently_but_never_as_another_kind():
    # The row's kind column decides; a field an older or hand-made row lacks reads as nothing.
    assert event_from_dict({"text": "hi"}, "text", "sample 1") == TextDelta("sample 1", "hi")
    assert event_from_dict({"label": "own", "text": "hi"}, "thinking", "row") == ThinkingDelta("own", "hi")
    assert event_from_dict({"answer": "3"}, "partial") == PartialAnswer("3", None, Spend())
    assert event_from_dict({"answer": None}, "final") == FinalAnswer(None, "done", Spend())
    for kind in ("hologram", "", None, 3):
        with pytest.raises(UnknownEventKind) as caught:
            event_from_dict({"kind": kind})
        assert caught.value.kind == kind and isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="not a spend"):
        event_from_dict({"spent": "lots"}, "spend")
