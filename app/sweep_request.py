"""A sweep as a person asks for it (a form's fields, a command line's options) into a checked plan:
the one check the Sweep page and `budget-arena sweep` share. The budget grid is read from text,
the problem count, seed and repeats are checked as whole numbers in range, then the plan as a
deployment allows it (reasoning.sweep_plan.within_limits: budgets, strategies, model, validate).

Counts are refused with the reason, never read as another number: a typed "1e12" is a trillion
problems (refused), not 1; 2.5 repeats is not 2. A built-in set is generated on the spot, so its
size is capped (10,000 problems take ~10 s to generate on 2 cores; a file's subset cannot exceed
the file, so only the whole-number rule applies there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reasoning.config import Limits
from reasoning.datasets import BUILTINS
from reasoning.sweep_plan import StrategyChoice, SweepPlan, SweepPlanError, parse_budget_grid, within_limits
from reasoning.wording import number_text

MAX_BUILTIN_PROBLEMS = 10_000
MAX_REPEATS = 100
MAX_SEED = 2**53 - 1  # what a float field and a JSON reader hold exactly (a larger one would be rounded)


def whole_count(value: Any, what: str, low: int, high: int | None = None) -> int:
    """`value` as a whole number from `low` to `high`, or SweepPlanError naming `what`. Takes an int,
    or a float that is whole (a form's float field), never a bool."""
    number = value
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool):
        shown = number_text(value) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)
        raise SweepPlanError(f"{what} must be a whole number, got {shown}")
    if number < low or (high is not None and number > high):
        span = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"
        raise SweepPlanError(f"{what} must be a whole number {span}, got {number_text(number)}")
    return number


def is_builtin(dataset: str) -> bool:
    return dataset.startswith("builtin:") or dataset in BUILTINS


def checked_plan(*, dataset: str, strategies: Sequence[tuple[str, Mapping[str, Any]]], budgets: Sequence[str],
               cap: str, model: str, limits: Limits, size: Any = None, seed: Any = 0, repeats: Any = 1,
               model_options: Mapping[str, Any] | None = None, nonce: str = "", name: str = "") -> SweepPlan:
    """The plan, checked; raises SweepPlanError or reasoning.deployment_limits.LimitError with a
    message for the person who typed it. `budgets` are grid texts ("256,1024" of `cap`, or
    "total_tokens=1000;seconds=30"); `size` None takes the dataset's default (built-ins) or all."""
    grid = parse_budget_grid(budgets, cap=cap)
    if not grid:  # before the strategies and the model: the empty field is what to fix first
        raise SweepPlanError("give at least one budget")
    problems = None if size is None else whole_count(
        size, "size (the number of problems)", 1, MAX_BUILTIN_PROBLEMS if is_builtin(dataset) else None)
    plan = SweepPlan(
        dataset=dataset, strategies=tuple(StrategyChoice(n, dict(knobs)) for n, knobs in strategies),
        budgets=grid, model=model, size=problems, seed=whole_count(seed, "the seed", 0, MAX_SEED),
        repeats=whole_count(repeats, "repeats", 1, MAX_REPEATS), model_options=dict(model_options or {}),
        nonce=nonce, name=name)
    return within_limits(plan, limits)
