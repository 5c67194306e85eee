"""Export: one run as JSON (everything needed to replay it elsewhere), many runs as CSV.

`import_run_json` loads an exported run into a store, so a run can move between installations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from storage.ids import is_valid_run_id
from storage.queries import StoredEvent, curve_points, get_run, replay, strategy_results
from storage.store import Store, open_store
from storage.tables import ACTIVE_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow

FORMAT = "budget-arena.run"
VERSION = 1
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
    return {
        "format": FORMAT,
        "version": VERSION,
        "run": {name: _jsonable(getattr(run, name)) for name in _RUN_COLUMNS},
        "strategies": [{k: _jsonable(v) for k, v in vars(s).items()} for s in run.strategies],
        "events": [_event_json(e) for e in events],
        "curve_points": [{k: _jsonable(v) for k, v in row.items()} for row in curve.to_dict(orient="records")],
    }


def import_run_json(data: dict[str, Any], *, store: Store | None = None) -> str:
    """Load an exported run; returns its id. A run that was still active when exported is
    imported as interrupted (nothing here will finish it). Raises ValueError for a malformed
    export or an id that already exists."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} v{VERSION} export")
    run = dict(data["run"])
    run_id = run.get("id")
    if not is_valid_run_id(run_id):
        raise ValueError(f"malformed run id {run_id!r}")
    for key in ("created", "finished"):
        run[key] = _parse_time(run.get(key))
    if run["status"] in ACTIVE_STATUSES:
        run["status"] = "interrupted"
    strategies = [
        {**s, "run_id": run_id, "started": _parse_time(s.get("started")), "finished": _parse_time(s.get("finished")),
         "status": "interrupted" if s["status"] in ACTIVE_STATUSES else s["status"]}
        for s in data["strategies"]
    ]
    events = [{**e, "run_id": run_id} for e in data["events"]]
    curve = [{**c, "run_id": run_id} for c in data["curve_points"]]
    store = store if store is not None else open_store()
    with store.write() as conn:
        if conn.scalar(select(Run.id).where(Run.id == run_id)) is not None:
            raise ValueError(f"run {run_id} already exists in this store")
        conn.execute(insert(Run).values(**{k: run.get(k) for k in _RUN_COLUMNS}, updated=run["finished"]))
        if strategies:
            conn.execute(insert(RunStrategy), strategies)
        if events:
            conn.execute(insert(EventRow), events)
        if curve:
            conn.execute(insert(CurvePoint), curve)
    return run_id


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
    """Many runs as CSV text: one row per strategy run with its run's model, dataset, budget
    caps, answer, correctness and spend (knobs as JSON)."""
    frame = strategy_results(model=model, strategy=strategy, dataset=dataset, sweep_id=sweep_id, run_ids=run_ids,
                             since=since, strategy_status=strategy_status, store=store)
    frame["knobs"] = frame["knobs"].map(lambda knobs: json.dumps(knobs, sort_keys=True))
    frame["created"] = frame["created"].map(lambda t: t.isoformat())
    return frame.to_csv(index=False)


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


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
