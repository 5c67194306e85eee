"""The contract every registered strategy keeps, under random budgets of every kind.

Registering a strategy enrols it here: the list comes from strategy_names() at collection time.
For each run: exactly one FinalAnswer and it is the last event; no cap is ever exceeded (seconds
within a small slack); a final answer is preceded by a PartialAnswer with that answer (so every
curve ends at the final answer); the run does not end in an error; every event is JSON-able.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, PartialAnswer, SpendUpdate, event_to_dict
from reasoning.models.fake import FakeModel
from reasoning.prices import ModelPrice
from reasoning.run import run
from reasoning.strategies import make_strategy, strategy_names

PROBLEM = "What is 2 + 2?"
# A dollar cap needs a known price; the fake model is free, so the runs are priced as a small model.
PRICE = ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0, source="test")
SECONDS_SLACK = 0.25
TOKEN_DELAY = 0.0005  # with a seconds cap: slow enough for the clock to bind, fast enough for the suite


def plausible(messages, index: int) -> str:
    """A reply that fits whichever prompt a strategy sends: ratings and estimates are numbers, a
    stated budget is <budget>N</budget>, continuations and answer cues get short answers, and
    everything else gets reasoning of varying length (sometimes with thinking) ending in an answer."""
    last = messages[-1]
    text = last["content"]
    low = text.lower()
    if last["role"] == "assistant":
        if text.rstrip().endswith(("Final Answer:", "the final answer is")):
            return " 4"
        return "more careful thought " * (index % 9) + ("</think> Final Answer: 4" if index % 3 else "")
    if "<budget>" in low:
        return f"<budget>{40 + 30 * (index % 5)}</budget>"
    if "estimate the number of tokens" in low:
        return str(30 + 40 * (index % 4))
    if "scale of 1 to 10" in low or "number only" in low:
        return str(3 + index % 7)
    if "next step" in low:
        return "Add the two numbers." if index % 4 else "2 + 2 = 4.\nAnswer: 4"
    reasoning = "Let me think step by step. " + "Two plus two. " * (index * 7 % 40) + "So 2 + 2 = 4.\nAnswer: 4"
    return f"<think>{'hmm ' * (index % 11)}</think>{reasoning}" if index % 4 == 0 else reasoning


budgets = st.fixed_dictionaries({}, optional={
    "total_tokens": st.integers(20, 4000),
    "output_tokens": st.integers(10, 2000),
    "usd": st.floats(1e-5, 5e-3),
    "seconds": st.floats(0.02, 0.4),
}).map(lambda caps: Budget(**caps))


async def collect(name: str, budget: Budget) -> list:
    model = FakeModel(replies=plausible, token_delay=TOKEN_DELAY if budget.seconds is not None else 0.0)
    return [e async for e in run(make_strategy(name), PROBLEM, model, budget, price=PRICE)]


def check_within(spent, budget: Budget) -> None:
    if budget.total_tokens is not None:
        assert spent.total_tokens <= budget.total_tokens
    if budget.output_tokens is not None:
        assert spent.output_tokens <= budget.output_tokens
    if budget.usd is not None:
        assert spent.usd <= budget.usd * (1 + 1e-9)
    if budget.seconds is not None:
        assert spent.seconds <= budget.seconds + SECONDS_SLACK


@pytest.mark.parametrize("name", strategy_names())
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(budget=budgets)
def test_strategy_keeps_the_contract(name: str, budget: Budget) -> None:
    events = asyncio.run(collect(name, budget))
    finals = [e for e in events if isinstance(e, FinalAnswer)]
    assert len(finals) == 1 and events[-1] is finals[0], f"{name}: one FinalAnswer, last"
    final = finals[0]
    assert final.stop in ("done", "budget") and final.error is None, f"{name} under {budget}: {final}"
    check_within(final.spent, budget)
    for update in (e for e in events if isinstance(e, SpendUpdate)):
        check_within(update.spent, budget)
    if final.answer is not None:
        partials = [e for e in events if isinstance(e, PartialAnswer)]
        assert partials, f"{name}: a final answer with no partial answer before it"
        assert partials[-1].answer == final.answer
    for event in events:
        json.dumps(event_to_dict(event))
