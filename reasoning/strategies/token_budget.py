"""token_budget: TALE (Han et al., 2024), token-budget-aware reasoning.

A zero-shot estimator call predicts the tokens N the problem needs; N is clamped to a sane range
and to what the remaining budget can buy; then "Let's think step by step and use less than N
tokens" asks for the solution. The budget in the prompt is soft: the call's hard cap is N × slack.
A Note records N against the output tokens the answer actually used. Reasoning that states no final
answer (cut at the cap, or stopped early) gets one short forced answer (support.forcing), metered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reasoning.answers import extract_answer, parse_token_count, strip_budget
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.forcing import force_final_answer
from reasoning.strategies.support.prompts import estimate_tokens, within_tokens
from reasoning.strategies.support.sizing import clamp_budget

__all__ = ["TokenBudget", "parse_token_count"]  # parse_token_count: from reasoning.answers


@register
@dataclass
class TokenBudget(StrategyBase):
    name = "token_budget"
    title = "TALE token budget"
    summary = (
        "Estimates how many tokens the problem needs, then reasons step by step under that "
        "budget (TALE): short answers to easy problems, room for hard ones."
    )

    min_budget: int = knob(32, "smallest budget granted, whatever the estimate", min=16, max=4096)
    max_budget: int = knob(2048, "largest budget granted, whatever the estimate", min=16, max=65536)
    fallback_budget: int = knob(256, "budget used when the estimate is not a number", min=16, max=65536)
    slack: float = knob(1.5, "hard cap on the answer as a multiple of the stated budget", min=1.0, max=8.0)
    temperature: float = knob(0.0, "sampling temperature of the answer", min=0.0, max=2.0)
    answer_tokens: int = knob(24, "longest forced answer when the reasoning states none", min=8, max=512)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        estimate = await ctx.generate(estimate_tokens(problem), label="estimate", max_tokens=24, temperature=0.0)
        predicted = parse_token_count(estimate)
        if predicted is None:
            ctx.note("budget", f"estimator gave no number ({estimate.strip()[:60]!r}); using "
                     f"{self.fallback_budget}", predicted=None, budget=self.fallback_budget, fallback=True)
        wanted = self.fallback_budget if predicted is None else predicted
        prompt_tokens = ctx.model.count_tokens(within_tokens(problem, wanted))
        affordable = ctx.affordable_output_tokens(prompt_tokens)
        budget = clamp_budget(wanted, self.min_budget, self.max_budget, affordable)
        if predicted is not None:
            clamped = "" if budget == predicted else f", clamped to {budget}"
            ctx.note("budget", f"estimated {predicted} tokens{clamped}", predicted=predicted, budget=budget,
                     affordable=affordable, fallback=False)

        reply = await ctx.generate(within_tokens(problem, budget), label="reasoning",
                                   max_tokens=math.ceil(budget * self.slack), temperature=self.temperature)
        # "use less than N tokens" invites "I'll stay under N tokens": that N is not the answer.
        reasoning = strip_budget(reply, (budget,))
        answer = extract_answer(reasoning)
        spent = reply.usage.output_tokens
        met = spent <= budget
        ctx.note("budget check", f"budget {budget}, used {spent} output tokens: "
                 + ("within budget" if met else f"over by {spent - budget}"),
                 predicted=predicted, budget=budget, spent=spent, met=met, truncated=reply.truncated)
        if answer is None:
            answer = await force_final_answer(ctx, problem, reasoning, answer_tokens=self.answer_tokens,
                                              budgets=(budget,))
        ctx.partial(answer)
        return answer
