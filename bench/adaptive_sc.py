"""Adaptive self-consistency (ESC, Beta) against fixed-N self-consistency on a stochastic fake model.

Each sample is right ("Answer: 42") with probability p, else a wrong number drawn from a small set.
Every problem has its own seed, and all rules see the same sample sequence for it, so an adaptive
rule's samples are a prefix of fixed-N's: differences come from stopping alone. Each adaptive rule is
then compared with fixed-N on the same problems as paired data: the difference in accuracy with a
paired bootstrap 95% CI (resampling problems), the exact McNemar p from the discordant problems,
and Holm-adjusted p over all comparisons printed (reasoning.paired_stats).

    .venv/bin/python bench/adaptive_sc.py [--problems 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reasoning.answers import is_equivalent
from reasoning.budget import Budget
from reasoning.events import FinalAnswer
from reasoning.model_protocol import Message
from reasoning.models.fake import FakeModel
from reasoning.paired_stats import holm, mcnemar_exact, paired_bootstrap_ci
from reasoning.run import run
from reasoning.strategies import make_strategy

PROBLEM = "A farmer plants 6 rows of 7 trees. How many trees does he plant?"
RIGHT = "42"
WRONG = ("41", "43", "48", "36")
REASONING = "Six rows of seven trees each: multiply rows by trees per row."
PS = (0.5, 0.6, 0.8)
NS = (8, 16)
RULES = ("fixed", "esc", "beta")


def noisy_model(p: float, seed: int) -> FakeModel:
    rng = random.Random(seed)

    def reply(messages: Sequence[Message], index: int) -> str:
        answer = RIGHT if rng.random() < p else rng.choice(WRONG)
        return f"{REASONING} Answer: {answer}"

    return FakeModel(replies=reply, name="fake:noisy")


@dataclass
class Result:
    correct: int = 0
    tokens: int = 0
    samples: int = 0
    right: list[bool] = field(default_factory=list)  # per problem, in problem order


async def evaluate(p: float, n: int, rule: str, problems: int, seed: int) -> Result:
    knobs = {"samples": n} if rule == "fixed" else {"max_samples": n}
    strategy = make_strategy("self_consistency", stop_rule=rule, batch_size=4, **knobs)
    result = Result()
    for i in range(problems):
        model = noisy_model(p, seed=seed * 1_000_003 + i)
        final = None
        async for event in run(strategy, PROBLEM, model, Budget()):
            if isinstance(event, FinalAnswer):
                final = event
        assert final is not None and final.stop == "done", final
        right = is_equivalent(final.answer, RIGHT)
        result.right.append(right)
        result.correct += right
        result.tokens += final.spent.total_tokens
        result.samples += final.spent.calls
    return result


async def main(problems: int, seed: int) -> None:
    started = time.perf_counter()
    print(f"{problems} problems per row; a sample is right with probability p, else one of {', '.join(WRONG)}; "
          "ESC window 5, Beta threshold 0.95, batches of 4.\n")
    print("| p | N | rule | accuracy | tokens / problem | samples / problem | tokens saved |")
    print("|---|---|---|---|---|---|---|")
    pairs: list[tuple[float, int, str, Result, Result]] = []
    for p in PS:
        for n in NS:
            fixed: Result | None = None
            for rule in RULES:
                r = await evaluate(p, n, rule, problems, seed)
                fixed = fixed or r
                if r is not fixed:
                    pairs.append((p, n, rule, r, fixed))
                saved = 1 - r.tokens / fixed.tokens
                print(f"| {p:.1f} | {n} | {rule} | {r.correct / problems:.1%} | {r.tokens / problems:,.0f} | "
                      f"{r.samples / problems:.1f} | {saved:.0%} |")
    print_paired(pairs, problems)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def print_paired(pairs: list[tuple[float, int, str, Result, Result]], problems: int) -> None:
    """Each adaptive rule against fixed-N on the same problems (paired), Holm-adjusted over the table."""
    rows = []
    for p, n, rule, adaptive, fixed in pairs:
        a, b = np.array(adaptive.right, dtype=float), np.array(fixed.right, dtype=float)
        low, high = paired_bootstrap_ci(a - b, np.arange(problems))
        a_only, b_only = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        rows.append((p, n, rule, a.mean() - b.mean(), low, high, a_only, b_only, mcnemar_exact(a_only, b_only)))
    adjusted = holm([row[-1] for row in rows])
    print(f"\nPaired against fixed-N on the same {problems} problems (95% CI: paired bootstrap over problems; "
          "p: exact McNemar; Holm over the rows):\n")
    print("| p | N | rule | accuracy − fixed [95% CI] | only rule right | only fixed right | p | p Holm |")
    print("|---|---|---|---|---|---|---|---|")
    for (p, n, rule, diff, low, high, a_only, b_only, pvalue), p_holm in zip(rows, adjusted, strict=True):
        print(f"| {p:.1f} | {n} | {rule} | {diff * 100:+.1f} pts [{low * 100:+.1f}, {high * 100:+.1f}] | {a_only} | "
              f"{b_only} | {pvalue:.3f} | {p_holm:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.problems, args.seed))
