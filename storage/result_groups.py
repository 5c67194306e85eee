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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, bindparam, select

from reasoning.budget import CAP_NAMES
from reasoning.metrics import ERRORED, FAILED, failure_reason
from storage.leaderboard_reads import ENDED_STRATEGY_STATUSES
from storage.query_support import _as_text
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

    def merged(self, other: Group) -> Group:
        rows = joined([self.rows, other.rows], ROW)
        costs = np.concatenate([self.costs, other.costs])
        reasons = self.reasons + other.reasons  # the failed rows' reasons, in the joined rows' order
        failed = outcome_of(rows["code"]) == OUTCOME_CODES[FAILED]
        if np.count_nonzero(failed) != len(reasons):
            raise ValueError("a group's failure reasons do not match its failed results")
        order = np.lexsort((rows["entry"], rows["created"]))
        reason_of = np.cumsum(failed) - 1  # a failed row's place in `reasons`
        return Group(self.values, rows[order], costs[order],
                     [reasons[i] for i in reason_of[order][failed[order]].tolist()])

    def row_values(self) -> dict[str, Any]:
        scored = scored_mask(self.rows["code"])
        sums = np.zeros(1, dtype=COST)
        for name in COST.names:
            sums[name] = float(self.costs[name][scored].sum())
        created = self.rows["created"]
        return {**self.values, "results": len(self.rows), "created_min": _time(int(created.min())),
                "created_max": _time(int(created.max())), "rows": sums.tobytes() + self.rows.tobytes(),
                "costs": self.costs.tobytes(), "failures": json.dumps(self.reasons, ensure_ascii=False)}


def joined(arrays: Sequence[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Contiguous arrays of `dtype` one after another, copied as bytes: numpy copies a packed
    record type (ROW) field by field, ~13x slower (1.6 ms for 100k results)."""
    if not arrays:
        return np.zeros(0, dtype=dtype)
    return np.concatenate([np.ascontiguousarray(a).view(np.uint8) for a in arrays]).view(dtype)


def group_key(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([values[c] for c in KEY_COLUMNS], separators=(",", ":")).encode()).hexdigest()


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# ---- reading results --------------------------------------------------------------------------


def _results_query(after: bool, until: bool) -> Select:
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
    if after:  # the bound values take the column's type (its datetime processing), as literals would
        query = query.where(RunStrategy.finished > bindparam("after"))
    if until:
        query = query.where((RunStrategy.finished <= bindparam("until")) | RunStrategy.finished.is_(None))
    return query


# Built once: building the statement costs more than SQLite takes to run it for a merge's window.
_RESULTS_QUERIES = {(after, until): _results_query(after, until) for after in (False, True) for until in (False, True)}


def results_query(*, ended_after: datetime | None = None,
                  ended_until: datetime | None = None) -> tuple[Select, dict[str, datetime]]:
    """The ended results (or those that ended in a window, as strategy_results reads them) with
    what the summary keeps, in (created, run, entry) order (results_of reads its rows): the
    statement and its parameters."""
    window = {name: value for name, value in (("after", ended_after), ("until", ended_until)) if value is not None}
    return _RESULTS_QUERIES[ended_after is not None, ended_until is not None], window


@dataclass(frozen=True)
class Results:
    """Results as the summary keeps them, one entry per result in read order: plain values, not a
    frame (pandas costs ~0.3 ms a step whatever the rows, and a merge after a run reads ~4 results;
    at 100k results this is also ~2x faster than the frame it replaced)."""

    keys: list[tuple[Any, ...]]  # KEY_COLUMNS values (None where missing)
    items: list[str]
    created: list[int]  # µs since the epoch
    entries: list[int]
    codes: list[int]
    reasons: list[str | None]  # a failed result's reason, else None
    costs: list[tuple[float, float, float]]  # tokens, dollars, seconds

    def __len__(self) -> int:
        return len(self.keys)


def results_of(rows: Sequence[Any]) -> Results:
    """The rows of results_query as the summary keeps them: the key columns (knobs as canonical
    JSON, caps resolved: the entry's, else the run's), item (its key), creation time (µs), entry,
    outcome code and a failed result's reason, and costs."""
    if not rows:
        return Results([], [], [], [], [], [], [])
    micros = created_micros([row[8] for row in rows])
    knobs, caps = _Canonical(), _Caps()
    keys, items, codes, reasons, costs = [], [], [], [], []
    for row in rows:
        (run_id, _, strategy, knob, model, dataset, item_id, sweep_id, _, status, stop_reason, correct, calls,
         output_tokens, tokens, usd, seconds, error, over_cap, fingerprint, entry_budget, run_budget) = row
        budget = caps(entry_budget, run_budget)
        keys.append((model, strategy, knobs(knob), fingerprint, False if over_cap is None else bool(over_cap),
                     sweep_id, dataset, *budget))
        verdict = _number(correct)  # reasoning.metrics.result_outcomes, one result at a time
        errored = status == "error"
        failed = _number(calls, 0.0) == 0 or (errored and _number(output_tokens, 0.0) == 0)
        outcome = FAILED if failed else ERRORED if errored else "ok"
        codes.append((NO_VERDICT if math.isnan(verdict) else RIGHT if verdict > 0.5 else WRONG)
                     + 3 * OUTCOME_CODES[outcome])
        reasons.append(failure_reason({"error": error, "stop_reason": stop_reason}) if failed else None)
        items.append(item_key(dataset, item_id, run_id))
        costs.append((_number(tokens), _number(usd), _number(seconds)))
    return Results(keys, items, micros, [row[1] for row in rows], codes, reasons, costs)


_FEW_TIMES = 1000  # up to this many, parsed one by one (pandas: ~0.3 ms a call, ~50x faster per value)
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?")  # SQLite's text of a datetime
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def created_micros(values: Sequence[Any]) -> list[int]:
    """Creation times (SQLite's text, psycopg's datetimes) as µs since the epoch, naive ones taken
    as UTC: pandas' ISO 8601 parse; a few in SQLite's format or as datetimes, datetime's (the same
    values: tests/storage/test_aggregates.py)."""
    if len(values) <= _FEW_TIMES and all(isinstance(v, datetime) or (isinstance(v, str) and _STORED_TIME.fullmatch(v))
                                         for v in values):
        times = [datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
        return [((t if t.tzinfo is not None else t.replace(tzinfo=UTC)) - _EPOCH) // _MICROSECOND for t in times]
    created = pd.to_datetime(list(values), utc=True, format="ISO8601")
    return ((created - EPOCH) // pd.Timedelta(microseconds=1)).astype(np.int64).tolist()


def _number(value: Any, missing: float = math.nan) -> float:
    """pd.to_numeric(errors="coerce") of one value, `missing` for what it makes NaN."""
    if value is None:
        return missing
    try:
        number = float(value)
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(number) else number


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


def group_results(results: Results, items: dict[str, int], *, next_code: int | None = None) -> dict[str, Group]:
    """results_of's results as groups by key hash, in the order of each group's first result;
    `items` (key -> code) gains new items, numbered from `next_code` (default: as many as `items`
    holds)."""
    if not len(results):
        return {}
    rows = np.zeros(len(results), dtype=ROW)
    rows["item"] = _item_codes(results.items, items, next_code)
    rows["created"], rows["entry"], rows["code"] = results.created, results.entries, results.codes
    positions: dict[tuple[Any, ...], list[int]] = {}
    for position, key in enumerate(results.keys):
        positions.setdefault(key, []).append(position)
    return _grouped(rows, np.array(results.costs, dtype=COST), np.array(results.reasons, dtype=object),
                    ((key, np.array(p, dtype=np.intp)) for key, p in positions.items()))


def _item_codes(keys: Iterable[str], items: dict[str, int], next_code: int | None) -> np.ndarray:
    """Each result's item code; `items` gains the new ones, numbered from `next_code`."""
    following = len(items) if next_code is None else next_code
    codes = []
    for key in keys:
        code = items.get(key)
        if code is None:
            code = items[key] = following
            following += 1
        codes.append(code)
    return np.array(codes, dtype=np.int32)


def _grouped(rows: np.ndarray, costs: np.ndarray, reasons: np.ndarray,
             groups: Iterable[tuple[Sequence[Any], np.ndarray]]) -> dict[str, Group]:
    """Groups by key hash from (first result's key values, positions) pairs."""
    out: dict[str, Group] = {}
    for first, positions in groups:
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
