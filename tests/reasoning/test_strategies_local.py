"""Every registered strategy, end to end on the bundled local model (answers may be wrong; the path
must work): real streaming, real usage, the budget respected, one FinalAnswer each."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, TextDelta
from reasoning.models import get_model
from reasoning.run import run
from reasoning.strategies import make_strategy, strategy_names

# Checked without importing it: reasoning.models.local sets llama.cpp's thread policy before loading it.
if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("the [local] extra is not installed", allow_module_level=True)

PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"
# No seconds cap: under a heavy load a call cut by one would be charged an estimate, and this test
# checks llama.cpp's exact usage; the token cap bounds every strategy (a hang fails by timeout).
BUDGET = Budget(total_tokens=400)


@pytest.mark.local_model
def test_every_strategy_runs_on_the_bundled_local_model():
    model = get_model("local")
    outcomes = {}

    async def one(name: str):
        async def events():
            return [e async for e in run(make_strategy(name), PROBLEM, model, BUDGET)]

        return await asyncio.wait_for(events(), 600)

    for name in strategy_names():
        events = asyncio.run(one(name))
        finals = [e for e in events if isinstance(e, FinalAnswer)]
        assert len(finals) == 1 and events[-1] is finals[0], name
        final = finals[0]
        outcomes[name] = final
        assert final.spent.total_tokens <= BUDGET.total_tokens, name
        assert not final.spent.estimated, f"{name}: llama.cpp usage is exact"
        if model.capabilities.thinking_budget or model.capabilities.reasoning_effort or name != "native_thinking":
            assert final.stop in ("done", "budget"), f"{name}: {final.stop} {final.error}"
            assert final.spent.calls >= 1, name
            assert any(isinstance(e, TextDelta) and e.text for e in events), f"{name} streamed no text"
        else:
            # No provider-native thinking control on a local GGUF: said up front, nothing spent.
            assert final.stop == "error" and "cannot run" in final.error
            assert final.spent.calls == 0
    assert set(outcomes) == set(strategy_names())


@pytest.mark.local_model
def test_concurrent_strategies_take_turns_on_the_local_model():
    """Three strategies started together on one local model: the last to get a first token gets it
    before the first one has finished its generation (calls used to run one after another)."""
    model = get_model("local")
    problems = [PROBLEM, "A box holds 6 eggs. How many eggs are in 4 boxes?",
                "Sara reads 12 pages a day. How many pages does she read in 5 days?"]
    order: list[tuple[int, str]] = []

    async def one(index: int) -> None:
        strategy = make_strategy("chain_of_thought", max_tokens=48)
        async for event in run(strategy, problems[index], model, Budget(total_tokens=400, seconds=60)):
            if isinstance(event, TextDelta) and event.text:
                order.append((index, "text"))
            elif isinstance(event, FinalAnswer):
                order.append((index, "final"))
                assert event.stop in ("done", "budget"), event

    async def all_three() -> None:
        await asyncio.gather(one(0), one(1), one(2))

    asyncio.run(all_three())
    first_text = [order.index((i, "text")) for i in range(3)]
    first_final = min(order.index((i, "final")) for i in range(3))
    assert max(first_text) < first_final, order
