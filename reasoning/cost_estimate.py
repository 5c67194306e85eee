"""What strategy runs can cost in dollars before they run: one worst-case formula and one estimate.

The most one run can cost is what its caps bound it by (`cap_bound_usd`): its dollar cap, or every
token of its total-token cap at the dearer of the input and output rates, whichever is less, since
Context never lets a run's tokens or dollars past its caps (reasoning.context). A run capped only in
output tokens or seconds has no such bound. Sweeps (reasoning.sweep.estimate_cost) and the Compare
form (app.controls.estimate_cost) both estimate with it and both answer a `CostEstimate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reasoning.budget import Budget
from reasoning.prices import ModelPrice


def is_free(price: ModelPrice) -> bool:
    return price.known and price.input_per_mtok == 0 and price.output_per_mtok == 0


def cap_bound_usd(budget: Budget, price: ModelPrice) -> float:
    """What `budget`'s caps bound one strategy run's cost by: its dollar cap, or every token of its
    total token cap at the dearer of the input and output rates, whichever is less; inf when
    neither cap is set."""
    bounds = []
    if budget.usd is not None:
        bounds.append(float(budget.usd))
    if budget.total_tokens is not None:
        bounds.append(budget.total_tokens * max(price.input_per_token, price.output_per_token))
    return min(bounds) if bounds else math.inf


def worst_case_usd(budget: Budget, price: ModelPrice) -> float:
    """The most one strategy run at `budget` can cost: $0 on a free model, else cap_bound_usd."""
    return 0.0 if is_free(price) else cap_bound_usd(budget, price)


@dataclass(frozen=True)
class CostEstimate:
    """What some strategy runs can cost in dollars, and that in words."""

    per_strategy: float | None  # the most one run can cost (the dearest); None: no bound, or no price
    total: float | None  # the most all of them can cost; None: some run has no bound, or no price
    text: str  # the estimate as the page or the terminal says it
    low_usd: float | None = None  # the least: every run reads its problem once; None: not estimated
