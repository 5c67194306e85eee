"""native_thinking: the provider's own reasoning budget control, one call.

- A model that takes a thinking token budget (Anthropic extended thinking): `thinking_budget=N`, with
  N a share of the output the remaining budget can buy, at least 1,024 and below max_tokens, as the
  API requires. When the budget cannot pay for 1,024 thinking tokens and an answer, it answers
  without extended thinking and says so in a Note.
- A model that takes a reasoning effort (OpenAI reasoning models, Anthropic `effort`):
  `reasoning_effort=low|medium|high`, with max_tokens lowered to what the budget can buy.
Thinking is streamed where the provider shows it (the Context turns it into ThinkingDelta events).
A model with neither control is refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reasoning.answers import extract_answer
from reasoning.context import Context
from reasoning.model_protocol import Capabilities, Model
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import answer_in_format
from reasoning.strategies.support.sizing import within_affordable

MIN_THINKING_BUDGET = 1024  # Anthropic's floor for budget_tokens
MIN_ANSWER_TOKENS = 64  # room left after thinking for the visible answer
# Extended thinking only runs at temperature 1 and reasoning models take only their default (1).
REASONING_TEMPERATURE = 1.0


def thinking_budget_for(output_tokens: int, share: float) -> int | None:
    """budget_tokens for a call of `output_tokens`: the share, at least 1,024, leaving room for an
    answer (so it stays below max_tokens). None when even the minimum does not fit."""
    ceiling = output_tokens - MIN_ANSWER_TOKENS
    if ceiling < MIN_THINKING_BUDGET:
        return None
    return min(max(int(output_tokens * share), MIN_THINKING_BUDGET), ceiling)


@register
@dataclass
class NativeThinking(StrategyBase):
    name = "native_thinking"
    title = "Native thinking (provider budget)"
    summary = ("The provider's own reasoning control in one call: an extended-thinking token budget sized "
               "from the budget, or a reasoning effort.")

    control: str = knob("auto", "which control to use; auto: a thinking budget where the model takes one, "
                        "else the reasoning effort", choices=("auto", "thinking_budget", "reasoning_effort"))
    effort: str = knob("medium", "reasoning effort, for models that take one", choices=("low", "medium", "high"))
    thinking_share: float = knob(0.8, "share of the output allowance given to thinking (thinking budget)",
                                 min=0.1, max=0.95)
    max_tokens: int = knob(16000, "most output tokens, thinking included (the budget may lower it)",
                           min=64, max=128000)

    def mode(self, caps: Capabilities) -> str | None:
        if self.control == "auto":
            return "thinking_budget" if caps.thinking_budget else "reasoning_effort" if caps.reasoning_effort else None
        return self.control if getattr(caps, self.control) else None

    def unsupported_reason(self, model: Model) -> str | None:
        caps = model.capabilities
        if not caps.thinking_budget and not caps.reasoning_effort:
            return ("the model has no provider-side reasoning control (neither a thinking token budget nor a "
                    "reasoning effort); choose an Anthropic model with extended thinking or an OpenAI "
                    "reasoning model")
        if self.mode(caps) is None:
            other = "reasoning_effort" if self.control == "thinking_budget" else "thinking_budget"
            return f"the model does not take {self.control}; set control to auto or {other}"
        return None

    async def solve(self, problem: str, ctx: Context) -> str | None:
        prompt = answer_in_format(problem)
        affordable = ctx.affordable_output_tokens(ctx.model.count_tokens(prompt))
        output = within_affordable(self.max_tokens, affordable)
        mode = self.mode(ctx.model.capabilities)
        options: dict[str, Any] = {}
        if mode == "thinking_budget":
            budget = thinking_budget_for(output, self.thinking_share)
            if budget is None:
                ctx.note("no thinking", f"the budget buys {output} output tokens, below the provider's minimum "
                         f"thinking budget of {MIN_THINKING_BUDGET} plus an answer: answering without "
                         "extended thinking", output_tokens=output)
            else:
                options["thinking_budget"] = budget
                ctx.note("thinking budget", f"thinking budget {budget} of {output} output tokens",
                         thinking_budget=budget, max_tokens=output)
        elif mode == "reasoning_effort":
            options["reasoning_effort"] = self.effort
            ctx.note("reasoning effort", f"reasoning effort {self.effort}, at most {output} output tokens",
                     reasoning_effort=self.effort, max_tokens=output)
        reply = await ctx.generate(prompt, label="answer", max_tokens=output, temperature=REASONING_TEMPERATURE,
                                   **options)
        answer = extract_answer(reply)
        ctx.note("reasoning used", f"{reply.usage.reasoning_tokens} reasoning tokens of "
                 f"{reply.usage.output_tokens} output tokens", reasoning_tokens=reply.usage.reasoning_tokens,
                 output_tokens=reply.usage.output_tokens, truncated=reply.truncated)
        ctx.partial(answer)
        return answer
