"""Every registered strategy, end to end on the bundled local model (answers may be wrong; the path
must work): real streaming, real usage, the budget respected, one FinalAnswer each."""

from __future__ import annotations

import asyncio

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, TextDelta
from reasoning.models import get_model
from reasoning.run import run
from reasoning.strategies import make_strategy, strategy_names

pytest.importorskip("llama_cpp", reason="the [local] extra is not installed")

PROBLEM = "Tom has 3 apples and buys 4 more. How many apples does he have?"
BUDGET = Budget(total_tokens=400, seconds=30)


@pytest.mark.local_model
def test_every_strategy_runs_on_the_bundled_local_model():
    model = get_model("local")
    outcomes = {}

    async def one(name: str):
        return [e async for e in run(make_strategy(name), PROBLEM, model, BUDGET)]

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
