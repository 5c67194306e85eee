"""anytime: reasoning that yields an answer at checkpoints b1 < b2 < ..., stopped early by relative gain.

At checkpoint b the reasoning is grown to b tokens (continued where the model can continue an
assistant message, else regenerated at temperature 0 with max_tokens = b, which gives the same
prefix), a short final answer is forced from the cut reasoning ("...Given the reasoning so far, the
final answer is"), and its quality is estimated:

    Q(b) = 0                                   when no answer could be extracted, else
    Q(b) = 1/2 * agree(b) + 1/2 * score(b)     where
      agree(b) = 1 if the answer equals the previous checkpoint's answer (answers.is_equivalent), else 0
      score(b) = the model's 1-10 rating of that answer given the reasoning, mapped onto [0, 1].

So an answer that stays put and keeps its rating stops improving, and the run stops by the early-stopping rule
    stop when (Q(b + Δb) - Q(b)) / max(Q(b), 1e-8) < epsilon  and  Q(b) > 0,
keeping the answer of the last checkpoint that was not stopped on (the best answer so far). It also
stops when the model finishes its reasoning before the checkpoint, at `max_checkpoint`, or when the
remaining budget cannot pay for the next checkpoint (the last one is shrunk to fit when it can).
Every call counts against the budget: reasoning, forced answers and ratings.

`anytime_index` is the Anytime Index AI = (1/|B|) * sum over b in B of ΔQ(b)/Δb, a pure function.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from reasoning.answers import forced_answer, is_equivalent, parse_score, stated_answer
from reasoning.budget import Cost
from reasoning.context import Context
from reasoning.model_protocol import Message
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import (
    force_answer,
    rate_answer,
    step_by_step,
)
from reasoning.strategies.support.sizing import call_cost, largest_affordable

QUALITY_FLOOR = 1e-8  # Q(b) in the stop rule's denominator is floored: max(Q(b), 1e-8)
SCORE_TOKENS = 8
MIN_STEP_TOKENS = 16  # a checkpoint that adds fewer reasoning tokens than this is not worth its calls


def anytime_index(points: Iterable[tuple[float, float]]) -> float:
    """The Anytime Index: AI = (1/|B|) * sum over b in B of ΔQ(b)/Δb.

    points are (budget b, quality Q(b)) pairs, in any order; pairs that are not finite numbers are
    left out, the rest sorted by budget, and every step between consecutive budgets is one increment:
    ΔQ = Q(b_i) - Q(b_(i-1)) over Δb = b_i - b_(i-1). |B| is the number of increments (distinct
    budgets - 1), so the index is the mean marginal quality gain per unit of budget (per token when
    budgets are tokens). Include (0, 0) to count the first checkpoint's gain from nothing. A repeated
    budget keeps its last quality (the latest report holds); fewer than two budgets have no
    increment: NaN, an undefined index, not a zero one. The one implementation: the leaderboard's
    (reasoning.metrics.anytime_index) calls it."""
    latest: dict[float, float] = {}
    for budget, quality in points:
        if math.isfinite(budget) and math.isfinite(quality):
            latest[float(budget)] = float(quality)
    ordered = sorted(latest.items())
    if len(ordered) < 2:
        return math.nan
    gains = [(q1 - q0) / (b1 - b0) for (b0, q0), (b1, q1) in zip(ordered, ordered[1:], strict=False)]
    return sum(gains) / len(gains)


def improvement(previous: float, quality: float) -> float:
    """(Q(b + Δb) - Q(b)) / Q(b), with Q(b) floored at 1e-8 (no division by zero)."""
    return (quality - previous) / max(previous, QUALITY_FLOOR)


def should_stop(previous: float, quality: float, epsilon: float) -> bool:
    """The early stop, (Q(b + Δb) - Q(b)) / Q(b) < ε: the relative gain fell below epsilon, once there was some quality."""
    return improvement(previous, quality) < epsilon and previous > 0


def agrees(answer: str | None, previous_answer: str | None) -> bool:
    return answer is not None and previous_answer is not None and is_equivalent(answer, previous_answer)


def checkpoint_quality(answer: str | None, previous_answer: str | None, score: float | None) -> float:
    """Q(b) as the module docstring defines it (an unparsable rating counts as 0)."""
    if answer is None:
        return 0.0
    return 0.5 * agrees(answer, previous_answer) + 0.5 * (score or 0.0)


@register
@dataclass
class Anytime(StrategyBase):
    name = "anytime"
    title = "Anytime reasoning (early stop)"
    summary = ("Grows one reasoning at doubling checkpoints, forces an answer at each, and stops when "
               "its quality Q(b) stops improving by ε.")

    first_checkpoint: int = knob(64, "reasoning tokens at the first checkpoint (then doubling)", min=16, max=8192)
    max_checkpoint: int = knob(4096, "reasoning tokens at the last checkpoint", min=16, max=65536)
    epsilon: float = knob(0.01, "stop when the relative quality gain (Q(b+Δb)-Q(b))/Q(b) falls below this",
                          min=0.0, max=1.0)
    answer_tokens: int = knob(24, "longest forced answer in tokens", min=8, max=512)
    temperature: float = knob(0.0, "reasoning temperature (0 makes regenerated reasoning a prefix of the longer one)",
                              min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        continues = ctx.model.capabilities.continues_assistant
        prompt = step_by_step(problem)
        reasoning, reasoned = "", 0  # the reasoning so far and its output tokens
        checkpoint, target = 0, min(self.first_checkpoint, self.max_checkpoint)
        best_answer: str | None = None
        best_quality = 0.0
        previous_answer: str | None = None
        previous_quality = 0.0
        points: list[tuple[float, float]] = [(0, 0.0)]
        why = f"reached the last checkpoint ({self.max_checkpoint} tokens)"
        while True:
            target = self._affordable(ctx, problem, prompt, reasoning, reasoned, continues, checkpoint, target)
            if target < checkpoint + MIN_STEP_TOKENS:
                why = "the budget left cannot pay for another checkpoint"
                break
            if continues:
                reply = await ctx.generate(self._continued(prompt, reasoning), label=f"reasoning to {target}",
                                           max_tokens=target - reasoned, temperature=self.temperature)
                reasoning, reasoned = reasoning + reply, reasoned + reply.usage.output_tokens
            else:
                reply = await ctx.generate(prompt, label=f"reasoning to {target}", max_tokens=target,
                                           temperature=self.temperature)
                reasoning, reasoned = str(reply), reply.usage.output_tokens
            checkpoint = target
            finished = not reply.truncated
            answer = stated_answer(reasoning) if finished else None
            if answer is None:
                answer = await self._force_answer(ctx, problem, prompt, reasoning, continues, checkpoint)
            score = None
            if answer is not None:
                rating = await ctx.generate(rate_answer(problem, reasoning, answer), label=f"rate {checkpoint}",
                                            max_tokens=SCORE_TOKENS, temperature=0.0)
                score = parse_score(rating)
            quality = checkpoint_quality(answer, previous_answer, score)
            points.append((checkpoint, quality))
            stop = should_stop(previous_quality, quality, self.epsilon)
            if not stop and answer is not None:
                best_answer, best_quality = answer, quality
            ctx.partial(best_answer, best_quality)
            gain = improvement(previous_quality, quality) if previous_quality > 0 else None
            ctx.note(
                f"checkpoint {checkpoint}",
                f"b={checkpoint}: answer {answer!r}, Q={quality:.3f}"
                + (f", gain {gain:+.1%}" if gain is not None else "") + (" -> stop (ε rule)" if stop else ""),
                budget=checkpoint, answer=answer, score=score, quality=quality,
                agrees=agrees(answer, previous_answer),
                improvement=gain, spent_tokens=ctx.spent.total_tokens, anytime_index=anytime_index(points),
                epsilon=self.epsilon, stop=stop,  # the stop rule's numbers, for the run page's table
            )
            if stop:
                why = f"quality gain {gain:+.2%} below ε = {self.epsilon:g}"
                break
            if finished:
                why = f"the model finished its reasoning within {checkpoint} tokens"
                break
            if checkpoint >= self.max_checkpoint:
                break
            previous_answer, previous_quality = answer, quality
            target = min(checkpoint * 2, self.max_checkpoint)
        index = anytime_index(points)
        known = math.isfinite(index)  # no checkpoint reached: no increment, no index (None when stored)
        ctx.note("anytime index", f"stopped: {why}; " + (
            f"Anytime Index {index:.3g} per token over {len(points) - 1} checkpoint(s)" if known
            else "no Anytime Index (no checkpoint reached)"),
            points=[list(p) for p in points], anytime_index=index if known else None, stop=why)
        return best_answer

    @staticmethod
    def _continued(prompt: list[Message], reasoning: str) -> list[Message]:
        return prompt + [{"role": "assistant", "content": reasoning}] if reasoning else prompt

    async def _force_answer(self, ctx: Context, problem: str, prompt: list[Message], reasoning: str,
                            continues: bool, checkpoint: int) -> str | None:
        reply = await ctx.generate(force_answer(problem, prompt, reasoning, continues),
                                   label=f"answer at {checkpoint}", max_tokens=self.answer_tokens, temperature=0.0)
        return forced_answer(reply)

    def _affordable(self, ctx: Context, problem: str, prompt: list[Message], reasoning: str, reasoned: int,
                    continues: bool, checkpoint: int, target: int) -> int:
        """The target shrunk to what the budget can pay for, with its forced answer and rating."""
        count = ctx.model.count_tokens
        base = count(self._continued(prompt, reasoning) if continues else prompt)
        answer_prompt = count(force_answer(problem, prompt, reasoning, continues))
        rate_prompt = count(rate_answer(problem, reasoning, "")) + self.answer_tokens

        def calls(extra: int) -> Cost:
            # The calls of a checkpoint `extra` tokens past this one. Continuing adds only the new
            # tokens; regenerating writes all of them again. Either way the reasoning grows by
            # new_target - reasoned, which the answer and rating calls re-read.
            new_target = checkpoint + extra
            grown = new_target - reasoned if continues else new_target
            reread = new_target - reasoned
            return (call_cost(ctx, base, grown) + call_cost(ctx, answer_prompt + reread, self.answer_tokens)
                    + call_cost(ctx, rate_prompt + reread, SCORE_TOKENS))

        return checkpoint + largest_affordable(ctx.remaining(), target - checkpoint, calls)

