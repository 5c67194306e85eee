"""chain_of_thought: one step-by-step sample."""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.answers import extract_answer
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import step_by_step


@register
@dataclass
class ChainOfThought(StrategyBase):
    name = "chain_of_thought"
    title = "Chain-of-thought"
    summary = "One step-by-step sample; the answer is its last `Answer:` line."

    max_tokens: int = knob(1024, "longest reasoning in tokens (the budget may clamp it)", min=16, max=65536)
    temperature: float = knob(0.0, "sampling temperature", min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        reply = await ctx.generate(
            step_by_step(problem), label="reasoning", max_tokens=self.max_tokens, temperature=self.temperature
        )
        answer = extract_answer(reply)
        ctx.partial(answer)
        return answer
