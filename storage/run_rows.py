"""The rows a run starts with: the run's own and one per entry, as storage.runner writes them in one
transaction, before the run's first event (a live run) or with its first batch of events (a quiet
run, whose RunRecorder takes them as pending rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from storage.liveness import own_identity
from storage.run_spec import RunSpec, StrategySpec, _knobs
from storage.store import Store, store_error
from storage.tables import Run, RunStrategy

RunRows = tuple[dict[str, Any], list[dict[str, Any]]]  # the run's row, its entries' rows


def prerecorded(spec: RunSpec) -> bool:
    """A built model and a known price: the run's rows can hold its model name and price date from the
    start, which saves a write per run."""
    return spec.price is not None and not isinstance(spec.model, str)


def new_run_rows(spec: RunSpec, run_id: str, now: datetime, specs: list[StrategySpec],
                 strategies: list[Any]) -> RunRows:
    """The rows of a run starting now (status `running`, owned by this process), its entries built."""
    host, pid, token = own_identity()
    price_date = spec.price.price_date if prerecorded(spec) and spec.price is not None else None
    run_row = dict(
        id=run_id, created=now, updated=now, problem=spec.problem, reference=spec.reference,
        model=spec.model_name(), model_options=spec.stored_model_options(),
        budget=spec.budget.as_dict(), dataset=spec.dataset, item_id=spec.item_id,
        sweep_id=spec.sweep_id, sweep_key=spec.sweep_key, status="running", owner_host=host, owner_pid=pid,
        owner_token=token, price_date=price_date,
    )
    # Every entry stores its budget, its own or the run's, so readers never fall back to the run's.
    strategy_rows = [
        {"run_id": run_id, "strategy_index": i, "strategy": s.name, "knobs": _knobs(strategy),
         "budget": s.budget_in(spec.budget).as_dict(), "status": "running", "started": now,
         "price_date": price_date}
        for i, (s, strategy) in enumerate(zip(specs, strategies, strict=True))
    ]
    return run_row, strategy_rows


def insert_run_rows(store: Store, rows: RunRows) -> None:
    run_row, strategy_rows = rows
    try:
        with store.write() as conn:  # Core tables: cheaper than the ORM's bulk path
            conn.execute(insert(Run.__table__).values(**run_row))
            conn.execute(insert(RunStrategy.__table__), strategy_rows)
    except IntegrityError:  # a sweep cell recorded twice: the caller's bug, raised as is
        raise
    except Exception as exc:  # nothing was written (one transaction): say why in one line
        raise store_error(exc, store) from exc
