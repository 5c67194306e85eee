"""Sizing a strategy from the remaining budget: how many more calls fit, and how long each may be.

Registers no strategy. A strategy describes the calls it plans (a prompt's tokens, a max_tokens)
or measures the ones it made; pricing them (`call_cost`, `replies_cost`, the model's prices held by
the Context) and holding them against every cap at once (`Cost.counts`) happens here, so a
strategy never compares amounts with caps itself.

- `how_many`, `token_equivalent`, `fits`: the remaining budget against a cost, across every cap;
- `largest_fitting`, `largest_affordable`: the longest call (or deepest checkpoint) that still fits;
- `CallCost`: the running mean cost of repeated calls, learned from the spend around them;
- `parallel_batch`, `even_share`, `can_afford_call`, `next_round`: parallel calls under the
  Context's reservations (each call reserves its worst case before it streams);
- `within_affordable`, `clamp_budget`: a call's max_tokens lowered to what can still be bought.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reasoning.budget import Cost, Spend
from reasoning.context import MIN_USEFUL_TOKENS, Context, Reply

# ---- the remaining budget against a cost -------------------------------------------------------


def how_many(remaining: Cost, unit: Cost, reserve: Cost | None = None) -> float | None:
    """How many `unit`s the remaining budget buys after setting `reserve` aside: the minimum over
    the caps that are set and that the unit uses (a cap used up buys none). None when nothing
    limits it (uncapped)."""
    counts = remaining.counts(unit, reserve)
    return min(counts.values()) if counts else None


def token_equivalent(remaining: Cost, unit: Cost, reserve: Cost | None = None) -> int | None:
    """The remaining budget in tokens at the mix of `unit` (B_remaining of the allocation rule).

    Under a total-token cap alone this is exactly the tokens left after the reserve; dollar, output
    and seconds caps are converted through how many units they buy. None when uncapped."""
    n = how_many(remaining, unit, reserve)
    return None if n is None else int(n * (unit.total_tokens or 0))


def fits(remaining: Cost, cost: Cost) -> bool:
    """Whether the remaining budget buys `cost` once."""
    n = how_many(remaining, cost)
    return n is None or n >= 1


def largest_fitting(hi: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [0, hi] with fits(n), for a fits that is monotone (true up to some n)."""
    if hi <= 0 or not fits(0):
        return 0
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def largest_affordable(remaining: Cost, hi: int, cost_at: Callable[[int], Cost], reserve: Cost | None = None) -> int:
    """The largest n in [0, hi] whose `cost_at(n)` (growing with n) fits beside `reserve`."""
    def affordable(n: int) -> bool:
        return fits(remaining, cost_at(n) if reserve is None else cost_at(n) + reserve)

    return hi if affordable(hi) else largest_fitting(hi, affordable)


def call_cost(ctx: Context, prompt_tokens: int, max_tokens: int) -> Cost:
    """The worst case of one call at the model's prices: its prompt and every token it may write."""
    return Cost.of_call(ctx.price, prompt_tokens, max_tokens)


def replies_cost(ctx: Context, replies: Sequence[Reply | None], seconds: float = 0.0) -> Cost:
    """What finished calls were charged (calls refused for budget, None, cost nothing), plus the
    wall time they took together."""
    total = Cost(seconds=seconds)
    for reply in replies:
        if reply is not None:
            total += Cost.of_usage(ctx.price, reply.usage)
    return total


def is_capped(ctx: Context) -> bool:
    return not ctx.remaining().is_unbounded


# ---- repeated and parallel calls ---------------------------------------------------------------


@dataclass
class CallCost:
    """Running mean spend per call of one kind (e.g. one self-consistency sample)."""

    calls: int = 0
    total: Cost = field(default_factory=Cost)  # seconds: wall time of the batches; parallel calls share it
    longest_output: int = 0
    any_truncated: bool = False

    def record(self, before: Spend, after: Spend, replies: Sequence[Reply | None]) -> None:
        done = [r for r in replies if r is not None]
        if not done:
            return
        self.calls += len(done)
        self.total += after.cost - before.cost
        self.longest_output = max([self.longest_output, *(r.usage.output_tokens for r in done)])
        self.any_truncated = self.any_truncated or any(r.truncated for r in done)

    def how_many_fit(self, remaining: Cost) -> int | None:
        """How many more calls the remaining budget buys at the mean cost (None: no cap set)."""
        if self.calls == 0:
            return None
        n = how_many(remaining, self.total / self.calls)
        return None if n is None else math.floor(n + 1e-9)

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


def even_share(ctx: Context, prompt_tokens: Sequence[int]) -> int | None:
    """Output tokens per call when parallel calls with these prompts share what the budget can buy
    evenly, so each gets its turn (None: uncapped). Never below the Context's useful minimum:
    below a useful share the later calls are refused and the others go on without them."""
    affordable = ctx.affordable_output_tokens(sum(prompt_tokens))
    if affordable is None or not prompt_tokens:
        return None
    return max(MIN_USEFUL_TOKENS, affordable // len(prompt_tokens))


def within_affordable(wanted: int, affordable: int | None) -> int:
    """`wanted` output tokens lowered to what the budget can buy (Context.affordable_output_tokens;
    None: uncapped), never below the smallest call Context will start: a budget that cannot pay for
    a useful answer ends as a budget stop rather than a sliver of a reply."""
    return wanted if affordable is None else max(MIN_USEFUL_TOKENS, min(wanted, affordable))


def clamp_budget(predicted: int, low: int, high: int, affordable: int | None) -> int:
    """The token budget to grant a model that named one (TALE, SelfBudgeter): predicted within
    [low, high], then within what can still be bought."""
    return within_affordable(min(max(predicted, low), high), affordable)


def can_afford_call(ctx: Context, prompt_tokens: int, max_tokens: int) -> bool:
    """Whether Context would start a call with this prompt now (it refuses useless slivers)."""
    affordable = ctx.affordable_output_tokens(prompt_tokens)
    return affordable is None or affordable >= min(MIN_USEFUL_TOKENS, max_tokens)


def next_round(last: Cost, last_calls: int, prompt_tokens: Sequence[int]) -> Cost:
    """A round of parallel calls with these prompts, estimated from the last round (`last`, made of
    `last_calls` calls): each call writes the last round's mean output, dollars grow with the
    tokens (the new prompts may be longer), and the seconds are the last round's (in parallel)."""
    output = math.ceil((last.output_tokens or 0) / max(1, last_calls) * len(prompt_tokens))
    tokens = sum(prompt_tokens) + output
    scale = tokens / max(1, last.total_tokens or 0)
    return Cost(tokens, output, (last.usd or 0) * scale, last.seconds)
