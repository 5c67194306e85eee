"""Export: one run as JSON (everything needed to replay it elsewhere), many runs as CSV.

`import_run_json` loads an exported run into a store, so a run can move between installations.

Each entry carries `verdict` beside `correct`: `correct` is what the leaderboard scores, and the
recorder judges a missing answer False (reasoning.answers.judge), so "no answer" and a wrong
answer both read false there; `verdict` tells them apart. It is derived, never imported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from reasoning.config import get_settings
from reasoning.entries import entry_budget, entry_labels
from storage.import_checks import FORMAT, VERSION, check_export
from storage.importer import import_checked
from storage.leaderboard_reads import strategy_results
from storage.queries import StoredEvent, curve_points, get_run, replay
from storage.store import Store

# What each verdict means, in the export itself (a reader of the file has no README at hand).
VERDICTS = {
    "right": "an answer that matches the reference (correct: true)",
    "wrong": "an answer that does not match the reference (correct: false)",
    "no answer": "the entry ended without an answer; with a reference, correct is false and the leaderboard "
                 "counts it as wrong (a result with no model output at all is a failed result and left out)",
}
_RUN_COLUMNS = ("id", "created", "finished", "problem", "reference", "model", "model_options", "budget", "dataset",
                "item_id", "sweep_id", "status", "error", "price_date")


def export_run_json(run_id: str, *, store: Store | None = None) -> dict[str, Any] | None:
    """The run, its strategies, every event and curve point, as JSON-serialisable data (None for
    an unknown id). Owner host/pid stay out: they describe this installation, not the run."""
    run = get_run(run_id, store=store)
    if run is None:
        return None
    events = replay(run_id, store=store)
    curve = curve_points(run_id, store=store).drop(columns=["strategy"])
    # Each entry with the caps it ran under and its label (direct@300), as the run page names it.
    labels = entry_labels([(s.strategy, s.budget) for s in run.strategies], run.budget)
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "run": {name: _jsonable(getattr(run, name)) for name in _RUN_COLUMNS},
        "strategies": [{**{k: _jsonable(v) for k, v in vars(s).items()}, "budget": entry_budget(s.budget, run.budget),
                        "label": label, "verdict": verdict(s.answer, s.correct)}
                       for s, label in zip(run.strategies, labels, strict=True)],
        "verdicts": VERDICTS,
        "events": [_event_json(e) for e in events],
        "curve_points": [{k: _jsonable(v) for k, v in row.items()} for row in curve.to_dict(orient="records")],
    }
    link = get_settings().run_link(run_id)
    if link is not None:  # where the original lives, when this server has a public address
        data["share_url"] = link
    return data


def verdict(answer: str | None, correct: bool | None) -> str | None:
    """"right", "wrong" or "no answer" (VERDICTS); None for an answer nobody judged (no reference)."""
    if answer is None or (isinstance(answer, float) and math.isnan(answer)) or not str(answer).strip():
        return "no answer"
    if correct is None or (isinstance(correct, float) and math.isnan(correct)):
        return None
    return "right" if correct else "wrong"


def import_run_json(data: dict[str, Any], *, store: Store | None = None, on_clash: str = "refuse") -> str:
    """Load one exported run; returns its id in this store. Every field is checked first
    (storage.import_checks.check_export) and the rows are written in one transaction. A run that was
    still active when exported is imported as interrupted (nothing here will finish it). Raises
    ImportRefused (a ValueError) for a malformed export, or, with on_clash="refuse", an id that
    already exists; on_clash="rename" gives such a run a new id (see storage.importer)."""
    outcome = import_checked([check_export(data)], store=store, on_clash=on_clash)[0]
    return outcome.run_id


def export_runs_csv(
    run_ids: Sequence[str] | None = None,
    *,
    model: str | None = None,
    strategy: str | Sequence[str] | None = None,
    dataset: str | None = None,
    sweep_id: str | None = None,
    since: datetime | None = None,
    strategy_status: str | Sequence[str] | None = None,
    store: Store | None = None,
) -> str:
    """Many runs as CSV text: one row per entry (strategy run) with its label, its run's model and
    dataset, its budget caps, answer, correctness (and its verdict) and spend (knobs as JSON)."""
    frame = strategy_results(model=model, strategy=strategy, dataset=dataset, sweep_id=sweep_id, run_ids=run_ids,
                             since=since, strategy_status=strategy_status, store=store)
    frame.insert(int(frame.columns.get_loc("strategy")) + 1, "entry", _entry_column(frame))
    frame.insert(int(frame.columns.get_loc("correct")) + 1, "verdict",
                 [verdict(a, c) for a, c in zip(frame["answer"], frame["correct"], strict=True)])
    frame["knobs"] = frame["knobs"].map(lambda knobs: json.dumps(knobs, sort_keys=True))
    frame["created"] = frame["created"].map(lambda t: t.isoformat())
    return frame.to_csv(index=False)


def _entry_column(frame: pd.DataFrame) -> list[str]:
    """Each row's entry label (direct, or direct@300 when its run holds a strategy twice or at
    different budgets), from the rows of its run that the export holds."""
    caps = [c for c in frame.columns if c.startswith("budget_")]
    labels: dict[Any, str] = {}
    for _, rows in frame.groupby("run_id", sort=False):
        budgets = [{c.removeprefix("budget_"): None if pd.isna(v) else v for c, v in zip(caps, values, strict=True)}
                   for values in rows[caps].itertuples(index=False)]
        named = entry_labels(list(zip(rows["strategy"], budgets, strict=True)), {})
        labels.update(zip(rows.index, named, strict=True))
    return [labels[i] for i in frame.index]


def _event_json(event: StoredEvent) -> dict[str, Any]:
    data = event.as_dict()
    del data["run_id"]
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars from a DataFrame
        value = value.item()
    if isinstance(value, float) and math.isnan(value):  # a DataFrame's missing value
        return None
    return value

