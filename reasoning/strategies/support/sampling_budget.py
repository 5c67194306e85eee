"""Sizing repeated calls from the remaining budget: how many more fit, and how long each may be.

Registers no strategy. Costs are learned from the spend the Context reports around calls already
made, so a strategy sizes itself without knowing prices or counting tokens against caps itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reasoning.budget import Budget, Spend
from reasoning.context import MIN_USEFUL_TOKENS, Context, Reply


@dataclass
class CallCost:
    """Running mean spend per call of one kind (e.g. one self-consistency sample)."""

    calls: int = 0
    tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0  # wall time of the batches; parallel calls share it
    longest_output: int = 0
    any_truncated: bool = False

    def record(self, before: Spend, after: Spend, replies: Sequence[Reply | None]) -> None:
        done = [r for r in replies if r is not None]
        if not done:
            return
        self.calls += len(done)
        self.tokens += after.total_tokens - before.total_tokens
        self.output_tokens += after.output_tokens - before.output_tokens
        self.usd += after.usd - before.usd
        self.seconds += after.seconds - before.seconds
        self.longest_output = max([self.longest_output, *(r.usage.output_tokens for r in done)])
        self.any_truncated = self.any_truncated or any(r.truncated for r in done)

    def how_many_fit(self, remaining: Budget) -> int | None:
        """How many more calls the remaining budget buys at the mean cost (None: no cap set)."""
        if self.calls == 0:
            return None
        limits = []
        for left, per_call in (
            (remaining.total_tokens, self.tokens / self.calls),
            (remaining.output_tokens, self.output_tokens / self.calls),
            (remaining.usd, self.usd / self.calls),
            (remaining.seconds, self.seconds / self.calls),
        ):
            if left is not None:
                limits.append(math.inf if per_call <= 0 else math.floor(left / per_call + 1e-9))
        if not limits:
            return None
        fit = min(limits)
        return None if fit == math.inf else int(fit)

    def output_headroom(self, ceiling: int) -> int:
        """A per-call max_tokens with room for a long sample: twice the longest seen so far."""
        if self.calls == 0 or self.any_truncated:
            return ceiling
        return min(ceiling, max(64, 2 * self.longest_output))


def parallel_batch(ctx: Context, prompt_tokens: int, per_call_tokens: int, want: int) -> int:
    """The largest batch (at most want, at least 1) whose calls can each reserve per_call_tokens.

    Context reserves each parallel call's worst case, so a batch larger than this would see its
    later calls clamped to slivers or refused."""
    for size in range(want, 1, -1):
        affordable = ctx.affordable_output_tokens(size * prompt_tokens)
        if affordable is None or affordable >= size * per_call_tokens:
            return size
    return 1


def can_afford_call(ctx: Context, prompt_tokens: int, max_tokens: int) -> bool:
    """Whether Context would start a call with this prompt now (it refuses useless slivers)."""
    affordable = ctx.affordable_output_tokens(prompt_tokens)
    return affordable is None or affordable >= min(MIN_USEFUL_TOKENS, max_tokens)


def is_capped(ctx: Context) -> bool:
    return not ctx.remaining().is_unbounded
