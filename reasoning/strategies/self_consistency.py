"""self_consistency: budget-aware CoT-SC with fixed, ESC or Beta (Adaptive-Consistency) stopping.

Samples step-by-step solutions in parallel batches and returns the majority answer. The number of
samples is the smallest of: the rule's count (fixed N or max_samples), what the remaining budget
buys at the mean cost of the samples so far, and the point where an adaptive rule is met.

A batch never runs past the earliest point at which the rule could hold (e.g. with 2-0 votes the
Beta rule at 0.95 needs at least 2 more unanimous votes, so the batch is at most 2), so batching in
parallel stops at exactly the sample a one-at-a-time loop would stop at.
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.answers import extract_answer
from reasoning.context import Context
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import step_by_step
from reasoning.strategies.support.sizing import CallCost, can_afford_call, is_capped, parallel_batch
from reasoning.strategies.support.voting import (
    Tally,
    beta_leader_probability,
    beta_samples_needed,
    trailing_agreement,
)
from reasoning.wording import plural

STOP_RULES = ("fixed", "esc", "beta")


@register
@dataclass
class SelfConsistency(StrategyBase):
    name = "self_consistency"
    title = "Self-consistency (budget-aware)"
    summary = (
        "Samples step-by-step solutions in parallel batches and returns the majority answer; sized by "
        "the budget, and stopped early by an adaptive rule (ESC window or Adaptive-Consistency's Beta)."
    )

    stop_rule: str = knob("beta", "fixed: N samples; esc: last `window` agree; beta: P(leader wins) high",
                          choices=STOP_RULES)
    samples: int = knob(8, "fixed rule: how many samples", min=1, max=64)
    max_samples: int = knob(16, "adaptive rules: the most samples", min=1, max=64)
    window: int = knob(5, "esc: stop when this many latest answers agree", min=2, max=32)
    confidence_threshold: float = knob(0.95, "beta: stop when P(leader beats runner-up) reaches this",
                                       min=0.5, max=0.999)
    batch_size: int = knob(4, "samples drawn in parallel per batch", min=1, max=16)
    max_tokens: int = knob(1024, "longest sample in tokens (the budget may clamp it)", min=16, max=65536)
    temperature: float = knob(0.7, "sampling temperature; diversity is the point", min=0.0, max=2.0)

    async def solve(self, problem: str, ctx: Context) -> str | None:
        prompt = step_by_step(problem)
        prompt_tokens = ctx.model.count_tokens(prompt)
        limit = self.samples if self.stop_rule == "fixed" else self.max_samples
        tally, keys, cost = Tally(), [], CallCost()
        launched, refused = 0, False
        while True:
            refused = refused or not can_afford_call(ctx, prompt_tokens, self.max_tokens)
            stop = self._stop(tally, keys, limit, cost, ctx, refused)
            if stop:
                break
            capped = is_capped(ctx)
            want = self._batch_size(tally, keys, limit, cost, ctx)
            per_call = cost.output_headroom(self.max_tokens) if capped else self.max_tokens
            if capped:
                want = parallel_batch(ctx, prompt_tokens, per_call, want)
            before = ctx.spent
            replies = await ctx.gather(*(
                ctx.generate(prompt, label=f"sample {launched + i + 1}", max_tokens=per_call,
                             temperature=self.temperature)
                for i in range(want)
            ))
            launched += want
            cost.record(before, ctx.spent, replies)
            refused = any(r is None for r in replies)
            for reply in replies:
                if reply is not None:
                    answer = extract_answer(reply)
                    keys.append(tally.add(answer))
                    self._report(ctx, tally, keys, answer)
        kind, text = stop
        ctx.note("stop", text, reason=kind, samples=len(keys),
                 groups=tally.groups(), votes=tally.table(), leader=tally.leader, share=tally.share,
                 rule=self.stop_rule, statistic=self._statistic(tally, keys))
        return tally.leader

    # ---- the stopping rule ----------------------------------------------------------------------

    def _statistic(self, tally: Tally, keys: list[str | None]) -> float | int | None:
        if self.stop_rule == "beta":
            return beta_leader_probability(*tally.top_two()) if tally.votes else None
        if self.stop_rule == "esc":
            return trailing_agreement(keys)
        return None

    def _rule_met(self, tally: Tally, keys: list[str | None]) -> str | None:
        if self.stop_rule == "beta" and tally.votes:
            p = beta_leader_probability(*tally.top_two())
            if p >= self.confidence_threshold:
                return f"rule met: P={p:.3f} >= {self.confidence_threshold:g}"
        if self.stop_rule == "esc" and trailing_agreement(keys) >= self.window:
            return f"rule met: the last {self.window} answers agree"
        return None

    def _needed_for_rule(self, tally: Tally, keys: list[str | None]) -> int:
        """The fewest further samples after which the rule could hold."""
        if self.stop_rule == "beta":
            return max(1, beta_samples_needed(*tally.top_two(), self.confidence_threshold))
        if self.stop_rule == "esc":
            return max(1, self.window - trailing_agreement(keys))
        return self.samples

    def _stop(self, tally: Tally, keys: list[str | None], limit: int, cost: CallCost, ctx: Context,
              refused: bool) -> tuple[str, str] | None:
        met = self._rule_met(tally, keys)
        if met:
            return "rule", met
        if len(keys) >= limit:
            if self.stop_rule == "fixed":
                return "fixed", f"fixed: {len(keys)} samples drawn"
            return "max_samples", f"max_samples reached: {len(keys)}"
        fit = cost.how_many_fit(ctx.remaining())
        if refused or (fit is not None and fit < 1):
            return "budget", f"budget: {plural(len(keys), 'sample')} fit"
        return None

    def _batch_size(self, tally: Tally, keys: list[str | None], limit: int, cost: CallCost,
                    ctx: Context) -> int:
        if is_capped(ctx) and cost.calls == 0:
            return 1  # learn what a sample costs before committing to a batch
        want = min(self.batch_size, limit - len(keys), self._needed_for_rule(tally, keys))
        fit = cost.how_many_fit(ctx.remaining())
        return max(1, want if fit is None else min(want, fit))

    def _report(self, ctx: Context, tally: Tally, keys: list[str | None], answer: str | None) -> None:
        leader = tally.leader
        if leader is not None:
            ctx.partial(leader, tally.share)
        statistic = self._statistic(tally, keys)
        stat_text = ""
        if self.stop_rule == "beta" and statistic is not None:
            stat_text = f" · P(leader wins)={statistic:.3f}"
        elif self.stop_rule == "esc":
            stat_text = f" · {statistic}/{self.window} agree"
        # The text names each group by its key with the spellings it gathered, so the pane shows
        # why "80 cents" and "Answer: 80" count as one answer.
        ctx.note("votes", f"sample {len(keys)}: {answer if answer is not None else 'no answer'} · "
                 f"votes: {tally.describe()}{stat_text}", sample=len(keys), answer=answer, groups=tally.groups(),
                 votes=tally.table(), leader=leader, share=tally.share, rule=self.stop_rule, statistic=statistic,
                 target=self._target())  # what the statistic must reach, for the run page's tally

    def _target(self) -> float | int | None:
        """The value the rule's statistic stops at: P(leader wins) for beta, the agreeing window for esc."""
        return {"beta": self.confidence_threshold, "esc": self.window}.get(self.stop_rule)
