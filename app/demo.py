"""The demo sweep: graded_arithmetic problems x direct, chain_of_thought, self_consistency x two
total-token budgets on the bundled local model, a few minutes on 2 cores. The Sweep page's "Try
the demo sweep" button and `budget-arena demo` run this one plan, so both land on the same sweep
id, and running it again resumes it (finished cells are not run twice).

BUDGET_ARENA_DEMO_SIZE sets the number of problems (tests use a few to stay short).
"""

from __future__ import annotations

import os

from reasoning.budget import Budget
from reasoning.datasets import GRADED
from reasoning.sweep_plan import StrategyChoice, SweepPlan

SIZE_ENV = "BUDGET_ARENA_DEMO_SIZE"
DEMO_SIZE = 20
DEMO_STRATEGIES = ("direct", "chain_of_thought", "self_consistency")
# Total tokens per strategy run (prompt included). Measured on SmolLM2-135M over 24 problems (README,
# Datasets): direct and chain_of_thought spend about 75 and 110 tokens and score 33% and 25% at both
# budgets, while self_consistency, which samples until its budget runs out, goes from 8% at 200
# tokens (164 spent) to 25% at 400 (345 spent): the budget shows in its curve, not in theirs.
DEMO_BUDGETS = (200, 400)
DEMO_MODEL = "local"
DEMO_NAME = "demo"


class DemoSizeError(ValueError):
    """BUDGET_ARENA_DEMO_SIZE (or --size) is not a positive whole number."""


def demo_size(size: int | None = None) -> int:
    """`size`, else BUDGET_ARENA_DEMO_SIZE, else DEMO_SIZE."""
    raw: object = size if size is not None else os.environ.get(SIZE_ENV) or DEMO_SIZE
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise DemoSizeError(f"{SIZE_ENV} must be a whole number of problems, got {raw!r}") from None
    if value < 1:
        raise DemoSizeError(f"the demo needs at least one problem, got {value}")
    return value


def demo_plan(size: int | None = None) -> SweepPlan:
    return SweepPlan(
        dataset=GRADED,
        strategies=tuple(StrategyChoice(name) for name in DEMO_STRATEGIES),
        budgets=tuple(Budget(total_tokens=tokens) for tokens in DEMO_BUDGETS),
        model=DEMO_MODEL,
        size=demo_size(size),
        name=DEMO_NAME,
    ).validate()
