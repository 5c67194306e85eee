"""The ended strategy results as the leaderboard's summary keeps them (storage.result_summary):
grouped by every column a leaderboard filters or groups on (model, strategy, knobs, fingerprint,
over_cap, sweep, dataset and the entry's caps), each group holding per result only what the
metrics read, packed as little-endian arrays: its item, creation time (µs), entry index and outcome
code (verdict + 3 * outcome), its costs apart, and the reasons of its failed results. Outcomes and
verdicts are reasoning.metrics': a failed result is not a result, an errored one is scored.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from reasoning.budget import CAP_NAMES
from reasoning.metrics import ERRORED, FAILED, failure_reason, result_outcomes
from storage.leaderboard_reads import ENDED_STRATEGY_STATUSES
from storage.query_support import _as_text
from storage.store import Store
from storage.tables import Run, RunStrategy

OWN_PROBLEMS = "(own problems)"  # the dataset label of runs typed on the Compare page (app.leaderboard_view)
BUDGET_COLUMNS = tuple(f"budget_{cap}" for cap in CAP_NAMES)
KEY_COLUMNS = ("model", "strategy", "knobs", "fingerprint", "over_cap", "sweep_id", "dataset", *BUDGET_COLUMNS)
ROW = np.dtype([("item", "<i4"), ("created", "<i8"), ("entry", "<i2"), ("code", "i1")])
COST = np.dtype([("tokens", "<f8"), ("usd", "<f8"), ("seconds", "<f8")])
HEADER = COST.itemsize  # the rows blob starts with the cost sums over the group's scored results
# code = verdict + 3 * outcome
NO_VERDICT, WRONG, RIGHT = 0, 1, 2
OUTCOME_CODES = {"ok": 0, ERRORED: 1, FAILED: 2}
EPOCH = pd.Timestamp(0, tz="UTC")


def verdict_of(code: np.ndarray) -> np.ndarray:
    return np.asarray(code) % 3


def outcome_of(code: np.ndarray) -> np.ndarray:
    return np.asarray(code) // 3


def scored_mask(code: np.ndarray) -> np.ndarray:
    """Results the metrics count: a verdict, and not failed."""
    return (verdict_of(code) != NO_VERDICT) & (outcome_of(code) != OUTCOME_CODES[FAILED])


def item_key(dataset: str | None, item_id: str | None, run_id: str) -> str:
    """An item as the leaderboard names it: dataset and item id (a dataset's problem), else the run
    (a problem typed on the Compare page is its own item)."""
    if item_id is None or (isinstance(item_id, float) and math.isnan(item_id)):
        return f"run/{run_id}"
    return f"{OWN_PROBLEMS if dataset is None else dataset}/{item_id}"


@dataclass
class Group:
    """One group's values and its results (in memory, building or merging)."""

    values: dict[str, Any]  # KEY_COLUMNS
    rows: np.ndarray  # ROW, ordered by (created, entry)
    costs: np.ndarray  # COST, aligned with rows
    reasons: list[str]  # one per failed result, in rows' order

    def reasons_per_row(self) -> list[str | None]:
        out: list[str | None] = [None] * len(self.rows)
        failed = np.flatnonzero(outcome_of(self.rows["code"]) == OUTCOME_CODES[FAILED])
        for position, reason in zip(failed, self.reasons, strict=True):
            out[position] = reason
        return out

    def merged(self, other: Group) -> Group:
        rows = np.concatenate([self.rows, other.rows])
        costs = np.concatenate([self.costs, other.costs])
        reasons = self.reasons_per_row() + other.reasons_per_row()
        order = np.lexsort((rows["entry"], rows["created"]))
        return Group(self.values, rows[order], costs[order],
                     [reasons[i] for i in order if reasons[i] is not None])

    def row_values(self) -> dict[str, Any]:
        scored = scored_mask(self.rows["code"])
        sums = np.zeros(1, dtype=COST)
        for name in COST.names:
            sums[name] = float(self.costs[name][scored].sum())
        created = self.rows["created"]
        return {**self.values, "results": len(self.rows), "created_min": _time(int(created.min())),
                "created_max": _time(int(created.max())), "rows": sums.tobytes() + self.rows.tobytes(),
                "costs": self.costs.tobytes(), "failures": json.dumps(self.reasons, ensure_ascii=False)}


def group_key(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([values[c] for c in KEY_COLUMNS], separators=(",", ":")).encode()).hexdigest()


def _time(micros: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + pd.Timedelta(microseconds=micros).to_pytimedelta()


# ---- reading results --------------------------------------------------------------------------


def read_results(store: Store, *, ended_after: datetime | None = None,
                 ended_until: datetime | None = None) -> pd.DataFrame:
    """The ended results (or those that ended in a window, as strategy_results reads them) with
    what the summary keeps, one row per result in (created, run, entry) order: the key columns
    (knobs as canonical JSON, caps resolved: the entry's, else the run's), item (its key),
    created_us, entry, code, reason (failed ones), tokens, usd, seconds."""
    query = (
        select(RunStrategy.run_id, RunStrategy.strategy_index, RunStrategy.strategy, _as_text(RunStrategy.knobs),
               Run.model, Run.dataset, Run.item_id, Run.sweep_id, _as_text(Run.created), RunStrategy.status,
               RunStrategy.stop_reason, RunStrategy.correct, RunStrategy.calls, RunStrategy.output_tokens,
               RunStrategy.total_tokens, RunStrategy.usd, RunStrategy.seconds, RunStrategy.error,
               RunStrategy.over_cap, RunStrategy.fingerprint, _as_text(RunStrategy.budget).label("entry_budget"),
               _as_text(Run.budget).label("run_budget"))
        .join_from(RunStrategy, Run, Run.id == RunStrategy.run_id)
        .where(RunStrategy.status.in_(ENDED_STRATEGY_STATUSES))
        .order_by(Run.created, RunStrategy.run_id, RunStrategy.strategy_index)
    )
    if ended_after is not None:
        query = query.where(RunStrategy.finished > ended_after)
    if ended_until is not None:
        query = query.where((RunStrategy.finished <= ended_until) | RunStrategy.finished.is_(None))
    with store.read() as conn:
        rows = conn.execute(query).all()
    names = ["run_id", "entry", "strategy", "knobs", "model", "dataset", "item_id", "sweep_id", "created", "status",
             "stop_reason", "correct", "calls", "output_tokens", "tokens", "usd", "seconds", "error", "over_cap",
             "fingerprint", "entry_budget", "run_budget"]
    if not rows:
        return pd.DataFrame(columns=[*KEY_COLUMNS, "item", "created_us", "entry", "code", "reason", "tokens", "usd",
                                     "seconds"])
    frame = pd.DataFrame(dict(zip(names, (list(c) for c in zip(*rows, strict=True)), strict=True)))
    knobs = _Canonical()
    frame["knobs"] = [knobs(k) for k in frame["knobs"]]
    caps = _Caps()
    budgets = [caps(entry, run) for entry, run in zip(frame["entry_budget"], frame["run_budget"], strict=True)]
    for index, column in enumerate(BUDGET_COLUMNS):
        frame[column] = [b[index] for b in budgets]
    frame["over_cap"] = frame["over_cap"].fillna(False).astype(bool)
    created = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
    frame["created_us"] = ((created - EPOCH) // pd.Timedelta(microseconds=1)).astype(np.int64)
    verdict = pd.to_numeric(frame["correct"].astype(object), errors="coerce")
    verdicts = np.where(verdict.isna(), NO_VERDICT, np.where(verdict > 0.5, RIGHT, WRONG))
    outcome = result_outcomes(frame.rename(columns={"tokens": "total_tokens"})[["status", "calls", "output_tokens"]])
    frame["code"] = (verdicts + 3 * outcome.map(OUTCOME_CODES).to_numpy()).astype(np.int8)
    frame["reason"] = [failure_reason({"error": e, "stop_reason": s}) if o == FAILED else None
                       for e, s, o in zip(frame["error"], frame["stop_reason"], outcome, strict=True)]
    frame["item"] = [item_key(d, i, r) for d, i, r in zip(frame["dataset"], frame["item_id"], frame["run_id"],
                                                         strict=True)]
    for column in ("tokens", "usd", "seconds"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


class _Canonical:
    """Knobs text as canonical JSON (sorted keys), each distinct text converted once."""

    def __init__(self) -> None:
        self._seen: dict[Any, str] = {}

    def __call__(self, raw: Any) -> str:
        key = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
        if key not in self._seen:
            value = json.loads(raw) if isinstance(raw, str) else raw
            self._seen[key] = json.dumps(value if value is not None else {}, sort_keys=True, separators=(",", ":"))
        return self._seen[key]


class _Caps:
    """The entry's caps (its own budget, else the run's), each distinct pair parsed once."""

    def __init__(self) -> None:
        self._seen: dict[tuple, tuple[float | None, ...]] = {}

    def __call__(self, entry: Any, run: Any) -> tuple[float | None, ...]:
        key = (_hashable(entry), _hashable(run))
        if key not in self._seen:
            budget = _parse(entry) or _parse(run) or {}
            self._seen[key] = tuple(_cap(budget.get(cap)) for cap in CAP_NAMES)
        return self._seen[key]


def _hashable(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True)


def _parse(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _cap(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def build_groups(frame: pd.DataFrame, items: dict[str, int], *, next_code: int | None = None) -> dict[str, Group]:
    """The results of read_results as groups by key hash; `items` (key -> code) gains new items,
    numbered from `next_code` (default: as many as `items` holds)."""
    if frame.empty:
        return {}
    codes = np.empty(len(frame), dtype=np.int32)
    following = len(items) if next_code is None else next_code
    for position, key in enumerate(frame["item"]):
        code = items.get(key)
        if code is None:
            code = items[key] = following
            following += 1
        codes[position] = code
    rows = np.zeros(len(frame), dtype=ROW)
    rows["item"], rows["created"] = codes, frame["created_us"].to_numpy(dtype=np.int64)
    rows["entry"], rows["code"] = frame["entry"].to_numpy(dtype=np.int16), frame["code"].to_numpy(dtype=np.int8)
    costs = np.zeros(len(frame), dtype=COST)
    for name in COST.names:
        costs[name] = frame[name].to_numpy(dtype=float)
    keys = frame[list(KEY_COLUMNS)].astype(object).where(frame[list(KEY_COLUMNS)].notna(), None)
    reasons = frame["reason"].to_numpy(dtype=object)
    out: dict[str, Group] = {}
    key_values = keys.to_numpy(dtype=object)  # a row of plain values per result (iloc per group cost more)
    for positions in keys.groupby(list(KEY_COLUMNS), sort=False, dropna=False).indices.values():
        first = key_values[positions[0]]
        values = {c: _plain(first[i]) for i, c in enumerate(KEY_COLUMNS)}
        group = Group(values, rows[positions], costs[positions], [r for r in reasons[positions] if isinstance(r, str)])
        key = group_key(values)
        out[key] = out[key].merged(group) if key in out else group
    return out


def _plain(value: Any) -> Any:
    """Numpy scalars as Python values, NaN as None (JSON and the database take those)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
