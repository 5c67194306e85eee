"""Adaptive self-consistency (ESC, Beta) against fixed-N self-consistency on a stochastic fake model.

Each sample is right ("Answer: 42") with probability p, else a wrong number drawn from a small set.
Every problem has its own seed, and all rules see the same sample sequence for it, so an adaptive
rule's samples are a prefix of fixed-N's: differences come from stopping alone.

    .venv/bin/python bench/adaptive_sc.py [--problems 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from reasoning.answers import is_equivalent
from reasoning.budget import Budget
from reasoning.events import FinalAnswer
from reasoning.models.base import Message
from reasoning.models.fake import FakeModel
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
        result.correct += is_equivalent(final.answer, RIGHT)
        result.tokens += final.spent.total_tokens
        result.samples += final.spent.calls
    return result


async def main(problems: int, seed: int) -> None:
    started = time.perf_counter()
    print(f"{problems} problems per row; a sample is right with probability p, else one of {', '.join(WRONG)}; "
          "ESC window 5, Beta threshold 0.95, batches of 4.\n")
    print("| p | N | rule | accuracy | tokens / problem | samples / problem | tokens saved |")
    print("|---|---|---|---|---|---|---|")
    for p in PS:
        for n in NS:
            fixed: Result | None = None
            for rule in RULES:
                r = await evaluate(p, n, rule, problems, seed)
                fixed = fixed or r
                saved = 1 - r.tokens / fixed.tokens
                print(f"| {p:.1f} | {n} | {rule} | {r.correct / problems:.1%} | {r.tokens / problems:,.0f} | "
                      f"{r.samples / problems:.1f} | {saved:.0%} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.problems, args.seed))
