"""Entries of a run: a strategy with its knobs and its own budget. A run may hold one strategy
several times (self_consistency at 256, 1,024 and 4,096 tokens); these helpers name each entry so
panes, chart legends, the CLI and exports tell them apart. Pure functions over stored values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reasoning.budget import CAP_NAMES


def entry_budget(own: Mapping[str, Any] | None, run_budget: Mapping[str, Any]) -> dict[str, Any]:
    """The caps an entry ran under: its own (run_strategy.budget), else the run's (rows written
    before entries had budgets)."""
    return dict(own) if own else dict(run_budget)


def budget_tag(budget: Mapping[str, Any]) -> str:
    """An entry's budget in a label: its total-token cap ("1,024"), else its caps in words."""
    total = budget.get("total_tokens")
    if total:
        return f"{int(total):,}"
    parts = []
    for cap in CAP_NAMES:
        value = budget.get(cap)
        if not value:
            continue
        if cap == "usd":
            parts.append(f"${float(value):g}")
        elif cap == "seconds":
            parts.append(f"{float(value):g}s")
        else:
            parts.append(f"{int(value):,} output tokens")
    return ", ".join(parts) or "unbounded"


def entry_labels(entries: Sequence[tuple[str, Mapping[str, Any] | None]], run_budget: Mapping[str, Any]) -> list[str]:
    """The label of each entry, given as (strategy, its own budget or None): the strategy's name,
    or `self_consistency@1,024` when the run holds a strategy more than once or its entries'
    budgets differ."""
    names = [name for name, _ in entries]
    budgets = [entry_budget(own, run_budget) for _, own in entries]
    repeated = len(set(names)) < len(names)
    differ = any(budget != budgets[0] for budget in budgets)
    if not (repeated or differ):
        return names
    return [f"{name}@{budget_tag(budget)}" for name, budget in zip(names, budgets, strict=True)]
