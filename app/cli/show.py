"""`budget-arena show`: a stored run's record (also what `run` prints when its run ends)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.cli.common import DbOption, bad_input, no_such_run, open_store_or_exit, out
from reasoning.entries import entry_budget, entry_labels


def show(
    run_id: Annotated[str, typer.Argument(help="The run id (the share link's ?run= value). An older id that "
                                               "starts with '-' goes after '--': show -- -AbC...")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    db: DbOption = None,
) -> None:
    """Print a stored run: strategies, answers, stop reasons, spend, number of events."""
    from storage.ids import is_valid_run_id
    from storage.queries import get_run

    if not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    store = open_store_or_exit(db, existing=True)
    if get_run(run_id, store=store) is None:
        raise no_such_run(run_id)
    record = run_record(store, run_id)
    if as_json:
        out.print_json(json.dumps(record))
    else:
        out.print(Panel(Text(record["problem"]), title="problem"))
        print_summary(record)
        out.print(f"{record['events']:,} events")


def run_record(store, run_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from storage.queries import get_run

    stored = get_run(run_id, store=store)
    assert stored is not None
    labels = stored_entry_labels(stored)
    return {
        "run_id": run_id,
        "status": stored.status,
        "model": stored.model,
        "problem": stored.problem,
        "reference": stored.reference,
        "budget": stored.budget,
        "events": stored.event_count,
        "strategies": [  # one per entry, each with the caps it ran under and what it spent of them
            {
                "name": s.strategy,
                "label": label,
                "knobs": s.knobs,
                "budget": entry_budget(s.budget, stored.budget),
                "answer": s.answer,
                "stop": s.stop_reason,
                "correct": s.correct,
                "error": s.error,
                # the provider reported impossible usage (or the spend passed a cap): figures as reported
                "over_cap": s.over_cap,
                "app_version": s.app_version,
                "fingerprint": s.fingerprint,
                "spend": {
                    "input_tokens": s.input_tokens,
                    "output_tokens": s.output_tokens,
                    "reasoning_tokens": s.reasoning_tokens,
                    "total_tokens": s.total_tokens,
                    "usd": s.usd,
                    "seconds": s.seconds,
                    "calls": s.calls,
                },
            }
            for s, label in zip(stored.strategies, labels, strict=True)
        ],
    }


def stored_entry_labels(stored) -> list[str]:  # type: ignore[no-untyped-def]
    """direct, or direct@300 when the run holds a strategy twice or its entries' budgets differ."""
    return entry_labels([(s.strategy, s.budget) for s in stored.strategies], stored.budget)


def print_summary(record: dict[str, Any]) -> None:
    table = Table(title=f"run {record['run_id']} ({record['status']})")
    for column in ("entry", "answer", "stop", "correct", "tokens in/out", "usd", "seconds"):
        table.add_column(column)
    for s in record["strategies"]:
        spend = s["spend"]
        correct = {True: "✓", False: "✗", None: "–"}[s["correct"]]
        answer = s["answer"] if s["answer"] is not None else (s["error"] or "—")
        table.add_row(s["label"], answer, s["stop"] or "", correct,
                      f"{spend['input_tokens']:,}/{spend['output_tokens']:,}", f"{spend['usd']:.4f}",
                      f"{spend['seconds']:.1f}")
    out.print(table)
    out.print(f"share id: [bold]{record['run_id']}[/]  (open in the app: ?run={record['run_id']})")
