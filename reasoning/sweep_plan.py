"""A sweep's plan: a dataset x strategies x budget grid x one model (x repeats), and its cells.

A cell is one strategy on one problem at one budget (one repeat): one strategy result. The plan is
checked as a single run is (within_limits), and its id is a hash of everything but its name, so
running the same plan again continues it. Each cell gets a deterministic key from what was asked
(problem and reference text, strategy and knobs, budget, model, repeat). reasoning.sweep costs and
executes the cells.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.datasets import Dataset, Item
from reasoning.deployment_limits import check_budget, check_model, check_strategies
from reasoning.redaction import redact_options
from reasoning.strategies import make_strategy
from reasoning.strategies.base import StrategyConfigError


class SweepPlanError(ValueError):
    """A plan that cannot run as given; the message says what to change."""


# ---- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyChoice:
    """A strategy and its knob values (as given: strings from a command line are fine)."""

    name: str
    knobs: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "knobs": dict(sorted(self.knobs.items()))}

    def label(self) -> str:
        if not self.knobs:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in sorted(self.knobs.items())) + ")"


@dataclass(frozen=True)
class SweepPlan:
    """What to sweep. Everything here except `name` defines the sweep's identity (its id)."""

    dataset: str  # a reasoning.datasets.load_dataset spec: "basic_arithmetic", "file:x.jsonl", ...
    strategies: tuple[StrategyChoice, ...]
    budgets: tuple[Budget, ...]
    model: str = "local"  # a reasoning.models.get_model spec
    size: int | None = None  # items (None: the dataset's default / all)
    seed: int = 0
    repeats: int = 1
    model_options: Mapping[str, Any] = field(default_factory=dict, hash=False)  # stored: never keys
    nonce: str = ""  # set to start a fresh sweep of a grid that was swept before
    name: str = ""  # a label for people; not part of the identity

    def identity(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "size": self.size,
            "seed": self.seed,
            "strategies": [s.as_dict() for s in self.strategies],
            "budgets": [b.as_dict() for b in self.budgets],
            "model": self.model,
            # Credentials in a URL stay in memory for the calls: not in the stored plan, nor in its hash.
            "model_options": dict(sorted(redact_options(dict(self.model_options)).items())),
            "repeats": self.repeats,
            "nonce": self.nonce,
        }

    @property
    def sweep_id(self) -> str:
        return "sw-" + _digest(self.identity())[:20]

    def as_dict(self) -> dict[str, Any]:
        return {**self.identity(), "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepPlan:
        return cls(
            dataset=data["dataset"],
            strategies=tuple(StrategyChoice(s["name"], dict(s.get("knobs") or {})) for s in data["strategies"]),
            budgets=tuple(Budget.from_dict(b) for b in data["budgets"]),
            model=data.get("model", "local"),
            size=data.get("size"),
            seed=int(data.get("seed", 0)),
            repeats=int(data.get("repeats", 1)),
            model_options=dict(data.get("model_options") or {}),
            nonce=data.get("nonce", ""),
            name=data.get("name", ""),
        )

    def validate(self) -> SweepPlan:
        """Raise SweepPlanError for a plan that cannot run; return the plan."""
        if not self.strategies:
            raise SweepPlanError("choose at least one strategy")
        if not self.budgets:
            raise SweepPlanError("give at least one budget")
        if len({s.as_dict()["name"] + json.dumps(s.as_dict()["knobs"], default=str) for s in self.strategies}) \
                != len(self.strategies):
            raise SweepPlanError("a strategy is listed twice with the same knobs")
        if len({json.dumps(b.as_dict()) for b in self.budgets}) != len(self.budgets):
            raise SweepPlanError("a budget is listed twice")
        for budget in self.budgets:
            if budget.is_unbounded:
                raise SweepPlanError("every budget needs at least one cap (tokens, output tokens, dollars or seconds)")
        if self.repeats < 1:
            raise SweepPlanError(f"repeats must be at least 1, got {self.repeats}")
        if self.size is not None and self.size < 1:
            raise SweepPlanError(f"size must be at least 1, got {self.size}")
        for choice in self.strategies:
            try:
                make_strategy(choice.name, **dict(choice.knobs))
            except (StrategyConfigError, TypeError, ValueError) as exc:
                raise SweepPlanError(str(exc)) from None
        return self


def within_limits(plan: SweepPlan, limits: Limits) -> SweepPlan:
    """The plan as a deployment allows it, checked as a single run is (reasoning.deployment_limits):
    each budget (ceilings filled in), then its strategies, then its model; then validated. The one
    sweep check the Sweep page and `budget-arena sweep` share. Raises LimitError or SweepPlanError."""
    budgets = tuple(check_budget(b, limits) for b in plan.budgets)
    check_strategies([choice.name for choice in plan.strategies], limits)
    check_model(plan.model, limits)
    return replace(plan, budgets=budgets).validate()


def parse_budget_grid(values: Iterable[str], cap: str = "total_tokens") -> tuple[Budget, ...]:
    """Budgets from text: "256,1024" (the `cap` of each) or "total_tokens=1000;seconds=30" per budget."""
    budgets: list[Budget] = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                if "=" in part:
                    caps = dict(item.split("=", 1) for item in part.split(";"))
                    budgets.append(Budget(**{k.strip(): _number(v) for k, v in caps.items()}))
                else:
                    budgets.append(Budget(**{cap: _number(part)}))
            except (TypeError, ValueError) as exc:
                raise SweepPlanError(f"bad budget {part!r}: {exc}") from None
    return tuple(budgets)


def _number(text: str) -> int | float:
    value = float(text.strip().replace("_", ""))
    return int(value) if value.is_integer() else value


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# ---- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    key: str  # deterministic: the same problem, strategy, knobs, budget, model and repeat -> same key
    index: int  # position in the sweep's order
    item: Item
    strategy: StrategyChoice
    budget: Budget
    repeat: int


def cell_key(plan: SweepPlan, item: Item, strategy: StrategyChoice, budget: Budget, repeat: int) -> str:
    """The cell's identity: what was asked (problem and reference text, not just the item id, so an
    edited dataset file gives new cells), of which strategy and model, at which budget."""
    return _digest({
        "item": item.id,
        "problem": item.problem,
        "reference": item.reference,
        "strategy": strategy.as_dict(),
        "budget": budget.as_dict(),
        "model": plan.model,
        "model_options": dict(sorted(redact_options(dict(plan.model_options)).items())),
        "repeat": repeat,
    })[:32]


def plan_cells(plan: SweepPlan, dataset: Dataset) -> list[Cell]:
    """Every cell, item by item: each problem gets all its strategies and budgets before the next
    problem starts, so a sweep stopped early (cap, cancel) still compares like with like."""
    cells: list[Cell] = []
    seen: set[str] = set()
    for repeat in range(plan.repeats):
        for item in dataset.items:
            for budget in plan.budgets:
                for strategy in plan.strategies:
                    key = cell_key(plan, item, strategy, budget, repeat)
                    if key not in seen:  # an item listed twice (same id and text) is one cell, run once
                        seen.add(key)
                        cells.append(Cell(key, len(cells), item, strategy, budget, repeat))
    return cells
