"""`budget-arena strategies` and `budget-arena datasets`: what can be run."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import out
from app.cli.tables import print_table
from reasoning.plugins import STRATEGY_GROUP, broken
from reasoning.strategies import strategy_names


def strategies() -> None:
    """List the strategies and their knobs, plugins' included, and the plugins skipped as broken."""
    from reasoning.strategies import knobs_of
    from reasoning.strategies.base import strategy_class

    skipped = broken()  # loads the plugins first, so theirs are among strategy_names()
    table = Table()
    for column in ("strategy", "what it does", "knobs"):
        table.add_column(column)
    for name in strategy_names():
        cls = strategy_class(name)
        knobs = ", ".join(f"{k.name}={k.default}" for k in knobs_of(cls))
        table.add_row(name, cls.summary, knobs)
    # Plugins that could not be enrolled (reasoning.plugins): listed so that a user sees why theirs
    # is missing, instead of only a warning in a log.
    for plugin in skipped:
        kind = "strategy" if plugin.group == STRATEGY_GROUP else "provider"
        table.add_row(f"{plugin.name} (broken {kind} plugin)", plugin.reason, plugin.value)
    print_table(out, table)


def datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of a table.")] = False,
) -> None:
    """List the built-in datasets (generated offline and seeded: reasoning-gym's and graded_arithmetic) and the other sources a sweep takes."""
    from reasoning.datasets import BUILTINS, DEFAULT_BUILTIN_SIZE

    if as_json:
        out.print_json(json.dumps({"builtins": BUILTINS, "default_size": DEFAULT_BUILTIN_SIZE}))
        return
    table = Table(title="Built-in datasets")
    table.add_column("name")
    table.add_column("problems")
    for name, description in BUILTINS.items():
        table.add_row(name, description)
    print_table(out, table)
    out.print(f"Built-ins are generated offline and deterministically (--size, default {DEFAULT_BUILTIN_SIZE}; "
                  "--seed). Also: file:PATH (JSONL, JSON or CSV; GSM8K and MATH as published) and "
                  "hf:owner/name[:config][@split] when Hugging Face is reachable.", highlight=False, markup=False)
