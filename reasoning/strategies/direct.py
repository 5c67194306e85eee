"""direct: the answer alone, no reasoning. The floor of every cost/accuracy curve."""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.answers import extract_answer
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import answer_only


@register
@dataclass
class Direct(StrategyBase):
    name = "direct"
    title = "Direct answer"
    summary = "Asks for the final answer only, with no reasoning: the cheapest baseline."

    max_tokens: int = knob(48, "longest reply in tokens; an answer needs few", min=16, max=512)
    temperature: float = knob(0.0, "sampling temperature", min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        reply = await ctx.generate(
            answer_only(problem), label="answer", max_tokens=self.max_tokens, temperature=self.temperature
        )
        answer = extract_answer(reply)
        ctx.partial(answer)
        return answer
