"""One short final answer forced from reasoning that stated none: the answer cue of s1's budget
forcing (Muennighoff et al., 2025) appended to the model's own reasoning, or the reasoning quoted in
a new question for a model that cannot continue its turn. TALE and SelfBudgeter ask for a solution
under a token budget; a small model often stops, or is cut at the budget, before any `Answer:`
line, and the entry would end with no answer although the budget could pay for one."""

from __future__ import annotations

from collections.abc import Iterable

from reasoning.answers import forced_answer, strip_budget
from reasoning.context import Context
from reasoning.strategies.support.prompts import force_answer, step_by_step


async def force_final_answer(ctx: Context, problem: str, reasoning: str, *, answer_tokens: int,
                             budgets: Iterable[int] = ()) -> str | None:
    """The answer of one metered call of at most `answer_tokens`, when the budget can pay for it
    (else None, said in a note). The prompt is the plain problem with the reasoning so far, no budget
    talk (with it, the local model answered its own budget, "512"); a stated budget in the reply is
    still never read as the answer."""
    prompt = force_answer(problem, step_by_step(problem), reasoning, ctx.model.capabilities.continues_assistant)
    affordable = ctx.affordable_output_tokens(ctx.model.count_tokens(prompt))
    if affordable is not None and affordable < answer_tokens:
        ctx.note("forced answer", f"no answer in the reply, and {affordable} tokens left cannot pay for a "
                 f"{answer_tokens}-token forced answer", affordable=affordable)
        return None
    forced = await ctx.generate(prompt, label="forced answer", max_tokens=answer_tokens, temperature=0.0)
    answer = forced_answer(strip_budget(forced, tuple(budgets)))
    ctx.note("forced answer", f"no answer in the reply; forced one: {answer!r}", answer=answer)
    return answer
