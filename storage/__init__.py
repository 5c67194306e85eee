"""The run store: SQLAlchemy tables, Alembic migrations, the background runner, queries, export.

Imports reasoning, never the reverse. The public names are re-exported here.
"""

from storage.export import export_run_json, export_runs_csv, import_run_json
from storage.ids import is_valid_run_id, new_run_id
from storage.leaderboard_reads import strategy_results
from storage.liveness import mark_interrupted_stale
from storage.queries import (
    RunInfo,
    StoredEvent,
    StrategyInfo,
    curve_points,
    events_since,
    get_run,
    last_seq,
    replay,
)
from storage.run_history import list_runs
from storage.run_spec import RunSpec, RunSpecError, StrategySpec
from storage.runner import Runner, get_runner
from storage.store import Store, default_url, forget_store, open_store

__all__ = [
    "RunInfo", "RunSpec", "RunSpecError", "Runner", "Store", "StoredEvent", "StrategyInfo", "StrategySpec",
    "curve_points", "default_url", "events_since", "export_run_json", "export_runs_csv", "forget_store",
    "get_run", "get_runner", "import_run_json", "is_valid_run_id", "last_seq", "list_runs",
    "mark_interrupted_stale", "new_run_id", "open_store", "replay", "strategy_results",
]
