"""self_budgeter: SelfBudgeter (Li et al., 2025): the model states its own token budget, then
answers within it. A reply that states no final answer gets one short forced answer (the cue of
anytime and budget forcing), metered like every call, when the budget can pay for it.

Phase one asks for `<budget>N</budget>`; phase two puts that statement in the model's own turn and
asks for the solution in at most N tokens, with max_tokens = N + margin (clamped by the remaining
budget). A user may pre-fill N instead (knob `prefilled_budget`), which skips phase one, as the
paper's pre-filled budget does. A Note records N against the output tokens the answer used.
The stated budget is read by answers.parse_budget ("<budget>300</budget>", "about 300 tokens");
the answer is read with the budget statements removed, so a repeated budget is never the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.answers import extract_answer, parse_budget, strip_budget
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.forcing import force_final_answer
from reasoning.strategies.support.prompts import (
    BUDGET_TAG,
    solve_within_budget,
    state_budget,
)
from reasoning.strategies.support.sizing import clamp_budget

__all__ = ["SelfBudgeter", "parse_budget"]  # parse_budget lives in reasoning.answers; kept importable here


@register
@dataclass
class SelfBudgeter(StrategyBase):
    name = "self_budgeter"
    title = "SelfBudgeter"
    summary = (
        "The model first states its own token budget as <budget>N</budget>, then answers within it; "
        "or you pre-fill the budget and skip the estimate."
    )

    prefilled_budget: int | None = knob(None, "your budget in tokens; empty lets the model decide",
                                        min=16, max=65536)
    default_budget: int = knob(512, "budget used when the model states none", min=16, max=65536)
    min_budget: int = knob(32, "smallest budget granted", min=16, max=4096)
    max_budget: int = knob(4096, "largest budget granted", min=16, max=65536)
    margin: int = knob(32, "extra tokens beyond the budget before the answer is cut", min=0, max=4096)
    temperature: float = knob(0.0, "sampling temperature of the answer", min=0.0, max=2.0)
    answer_tokens: int = knob(24, "longest forced answer when the reply states none", min=8, max=512)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        source = "prefilled" if self.prefilled_budget is not None else "model"
        if self.prefilled_budget is not None:
            predicted = self.prefilled_budget
            stated = f"<{BUDGET_TAG}>{predicted}</{BUDGET_TAG}>"
            ctx.note("budget", f"pre-filled budget {predicted} tokens (estimate skipped)",
                     predicted=predicted, source="prefilled")
        else:
            reply = await ctx.generate(state_budget(problem), label="budget", max_tokens=32, temperature=0.0)
            parsed = parse_budget(reply)
            if parsed is None:
                predicted, source = self.default_budget, "default"
                stated = f"<{BUDGET_TAG}>{predicted}</{BUDGET_TAG}>"
                ctx.note("budget", f"the model stated no budget ({reply.strip()[:60]!r}); using the default "
                         f"{predicted}", predicted=None, source="default")
            else:
                predicted, stated = parsed, str(reply)
                ctx.note("budget", f"the model budgeted {predicted} tokens", predicted=predicted, source="model")

        messages = solve_within_budget(problem, stated, predicted)
        affordable = ctx.affordable_output_tokens(ctx.model.count_tokens(messages))
        budget = clamp_budget(predicted, self.min_budget, self.max_budget, affordable)
        if budget != predicted:
            messages = solve_within_budget(problem, stated, budget)
            ctx.note("budget", f"budget clamped from {predicted} to {budget}", predicted=predicted, budget=budget,
                     affordable=affordable)

        reply = await ctx.generate(messages, label="answer", max_tokens=budget + self.margin,
                                   temperature=self.temperature)
        # A model may repeat its budget before (or instead of) solving; `<budget>512</budget>` or
        # "about 300 tokens" is never the answer (seen on the local model: the answer was "512").
        reasoning = strip_budget(reply, (predicted, budget))
        answer = extract_answer(reasoning)
        if answer is not None and _is_echo(answer, (predicted, budget), reply.usage.output_tokens):
            # "<answer>512</answer>" and nothing else: the budget said again, neither an answer nor
            # reasoning to force one from (continued, the model said 512 again)
            answer, reasoning = None, ""
        spent = reply.usage.output_tokens
        met = spent <= budget
        ctx.note("budget check", f"budget {budget}, used {spent} output tokens: "
                 + ("within budget" if met else f"over by {spent - budget}"),
                 predicted=predicted, budget=budget, spent=spent, met=met, truncated=reply.truncated,
                 source=source)
        if answer is None:
            answer = await force_final_answer(ctx, problem, reasoning, answer_tokens=self.answer_tokens,
                                              budgets=(predicted, budget))
        ctx.partial(answer)
        return answer


ECHO_TOKENS = 16  # a reply this short whose only value is the stated budget is an echo of it


def _is_echo(answer: str, budgets: tuple[int, int], output_tokens: int) -> bool:
    """A reply of a few tokens whose answer is the budget the model was given (seen on the local
    model: "<answer>512</answer>" after "<budget>512</budget>"). A worked solution that comes to the
    same number is longer than ECHO_TOKENS and stands."""
    return output_tokens <= ECHO_TOKENS and answer.replace(",", "").strip() in {str(b) for b in budgets}
