"""The leaderboard's result summary in memory (storage.result_summary keeps it in the store): read
whole, or a summary held in memory with what a merge wrote put in its place.

A merge after a run changes a few of the summary's hundreds of groups; `splice` puts those into the
summary the merge started from (copies of its arrays with the changed slices replaced) instead of
reading them back and building the frame again, which cost more than the merge itself. The result
is the summary load_summary would read, value for value and dtype for dtype
(tests/storage/test_aggregates.py holds the two to each other).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from storage.leaderboard_reads import ResultsVersion
from storage.query_support import _utc
from storage.result_groups import BUDGET_COLUMNS, COST, HEADER, KEY_COLUMNS, ROW, Group, joined
from storage.store import Store
from storage.tables import ResultGroup, ResultItem, ResultSummaryState

STATE_ID = 1
GROUP_FRAME_COLUMNS = ["id", *KEY_COLUMNS, "results", "created_min", "created_max", "sum_tokens", "sum_usd",
                       "sum_seconds", "start", "stop"]
_RECORD_COLUMNS = ["id", *KEY_COLUMNS, "results", "created_min", "created_max"]  # a group's values as read


@dataclass(frozen=True)
class Merged:
    """What a merge wrote: each group it changed or added (by id) as stored, and the items it added
    (codes `first_code` on), so the summary it started from can take them without reading them."""

    groups: dict[int, tuple[Group, dict[str, Any]]]  # id -> the group and its row's values
    items: list[str]  # the new items' keys, by code from first_code
    first_code: int


@dataclass
class ResultSummary:
    """The summary in memory: one frame row per group, and every group's results as arrays
    (`rows[start:stop]` of a group). `costs()` reads the per-result costs when asked."""

    version: ResultsVersion
    groups: pd.DataFrame  # GROUP_FRAME_COLUMNS (knobs as canonical JSON text)
    rows: np.ndarray  # ROW, groups one after another
    reasons: list[list[str]]  # per group: its failed results' reasons, in rows' order
    items: np.ndarray  # item key by code
    store: Store | None = None
    _costs: np.ndarray | None = field(default=None, repr=False)
    _digests: dict[int, bytes] = field(default_factory=dict, repr=False)  # by group position
    _bounds: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _records: list[dict[str, Any]] = field(default_factory=list, repr=False)  # per group: _RECORD_COLUMNS

    def group_digest(self, position: int) -> bytes:
        """A digest of one group's results and failures' reasons (kept: the summary is read only)."""
        found = self._digests.get(position)
        if found is None:
            start, stop = self._group_bounds()[0][position], self._group_bounds()[1][position]
            digest = hashlib.sha256(self.rows[start:stop].tobytes())  # sha256: the fastest here (CPU instructions)
            digest.update(json.dumps(self.reasons[position]).encode())
            found = self._digests[position] = digest.digest()
        return found

    def _group_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self._bounds is None:
            self._bounds = (self.groups["start"].to_numpy(dtype=np.int64), self.groups["stop"].to_numpy(dtype=np.int64))
        return self._bounds

    @property
    def group_of(self) -> np.ndarray:
        """Each result's group position (row of `groups`)."""
        return np.repeat(np.arange(len(self.groups)), self.groups["results"].to_numpy(dtype=np.int64))

    def costs(self) -> np.ndarray:
        """COST per result (aligned with rows), read from the store on first use."""
        if self._costs is None:
            if self.store is None or self.groups.empty:
                self._costs = np.zeros(len(self.rows), dtype=COST)
            else:
                with self.store.read() as conn:
                    blobs = dict(conn.execute(select(ResultGroup.id, ResultGroup.costs)
                                              .where(ResultGroup.id.in_(self.groups["id"].tolist()))).all())
                self._costs = joined([np.frombuffer(blobs[i], dtype=COST) for i in self.groups["id"]], COST)
        return self._costs


def load_summary(store: Store) -> ResultSummary:
    """The stored summary as it is (call refresh first to bring it up to date)."""
    columns = [getattr(ResultGroup, c) for c in (*_RECORD_COLUMNS, "rows", "failures")]
    with store.read() as conn:
        head = conn.execute(select(ResultSummaryState.results, ResultSummaryState.newest)
                            .where(ResultSummaryState.id == STATE_ID)).first()
        groups = conn.execute(select(*columns).order_by(ResultGroup.id)).all()
        items = conn.execute(select(ResultItem.code, ResultItem.key).order_by(ResultItem.code)).all()
    version = ResultsVersion(int(head.results), _utc(head.newest)) if head is not None else ResultsVersion(0, None)
    return summary_from_rows(version, groups, items, store)


def summary_from_rows(version: ResultsVersion, groups: Sequence[Any], items: Iterable[tuple[int, str]],
                      store: Store | None = None) -> ResultSummary:
    keys = np.empty(0, dtype=object)
    item_rows = list(items)
    if item_rows:
        keys = np.empty(max(code for code, _ in item_rows) + 1, dtype=object)
        for code, key in item_rows:
            keys[code] = key
    sums = np.zeros(len(groups), dtype=COST)
    arrays: list[np.ndarray] = []
    reasons: list[list[str]] = []
    records: list[dict[str, Any]] = []
    for position, group in enumerate(groups):
        blob = group.rows
        sums[position] = np.frombuffer(blob, dtype=COST, count=1)[0]
        arrays.append(np.frombuffer(blob, dtype=ROW, offset=HEADER))
        reasons.append(json.loads(group.failures))
        records.append({**{c: getattr(group, c) for c in ("id", *KEY_COLUMNS, "results")},
                        "created_min": _utc(group.created_min), "created_max": _utc(group.created_max)})
    rows = joined(arrays, ROW)
    frame = _frame(records, sums, np.cumsum([len(a) for a in arrays], dtype=np.int64))
    return ResultSummary(version, frame, rows, reasons, keys, store, _records=records)


def _frame(records: list[dict[str, Any]], sums: np.ndarray, stops: np.ndarray) -> pd.DataFrame:
    """The groups' frame: each column's type as pandas infers it from every group's values."""
    frame = pd.DataFrame.from_records(records, columns=[*_RECORD_COLUMNS, "start", "stop"])
    if records:
        frame["start"], frame["stop"] = stops - frame["results"].to_numpy(dtype=np.int64), stops
    for name in COST.names:
        frame[f"sum_{name}"] = sums[name]
    for column in BUDGET_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame[GROUP_FRAME_COLUMNS]


def splice(cached: ResultSummary, version: ResultsVersion, merged: Merged) -> ResultSummary | None:
    """`cached` with what a merge into it wrote (the summary at `version`): the groups it changed
    in their places, those it added after them (a merge numbers them after every group), its items
    after the items. None when `cached` is not the summary the merge started from."""
    frame = cached.groups
    ids = frame["id"].to_numpy(dtype=np.int64)
    last = int(ids[-1]) if len(ids) else -1
    changed = {int(np.searchsorted(ids, i)): i for i in sorted(merged.groups) if i <= last}
    added = [i for i in sorted(merged.groups) if i > last]
    if merged.first_code != len(cached.items) or any(p >= len(ids) or ids[p] != i for p, i in changed.items()) \
            or not len(ids) or len(cached._records) != len(ids):
        return None
    zone = cached._records[0]["created_min"].tzinfo  # as the store hands times back (psycopg: its session's zone)
    starts, stops = cached._group_bounds()
    stored = {i: values for i, (_, values) in merged.groups.items()}
    rows, costs = [], []
    offset = 0
    for position, group_id in changed.items():
        rows += [cached.rows[offset:starts[position]], np.frombuffer(stored[group_id]["rows"], dtype=ROW, offset=HEADER)]
        if cached._costs is not None:
            costs += [cached._costs[offset:starts[position]], np.frombuffer(stored[group_id]["costs"], dtype=COST)]
        offset = int(stops[position])
    rows.append(cached.rows[offset:])
    rows += [np.frombuffer(stored[i]["rows"], dtype=ROW, offset=HEADER) for i in added]
    if cached._costs is not None:
        costs += [cached._costs[offset:], *(np.frombuffer(stored[i]["costs"], dtype=COST) for i in added)]
    reasons = list(cached.reasons)
    for position, group_id in changed.items():
        reasons[position] = merged.groups[group_id][0].reasons
    reasons += [merged.groups[i][0].reasons for i in added]
    counts = frame["results"].to_numpy(dtype=np.int64, copy=True)
    counts[list(changed)] = [stored[i]["results"] for i in changed.values()]
    counts = np.concatenate([counts, np.array([stored[i]["results"] for i in added], dtype=np.int64)])
    sums = np.zeros(len(counts), dtype=COST)
    for name in COST.names:
        sums[name][:len(ids)] = frame[f"sum_{name}"].to_numpy(dtype=float)
    for position, group_id in [*changed.items(), *enumerate(added, start=len(ids))]:
        sums[position] = np.frombuffer(stored[group_id]["rows"], dtype=COST, count=1)[0]
    records = list(cached._records)
    for position, group_id in changed.items():
        records[position] = {**records[position], **_record(group_id, stored[group_id], zone)}
    records += [{"id": i, **{c: stored[i][c] for c in KEY_COLUMNS}, **_record(i, stored[i], zone)} for i in added]
    stops_now = np.cumsum(counts)
    if added:  # new values may change a column's type (a first fingerprint, say): infer them all again
        groups = _frame(records, sums, stops_now)
    else:
        groups = frame.copy(deep=False)  # copy on write: the cached frame keeps its columns
        groups["results"], groups["start"], groups["stop"] = counts, stops_now - counts, stops_now
        for name in ("created_min", "created_max"):
            times = frame[name].to_numpy(dtype="datetime64[us]", copy=True)
            times[list(changed)] = [np.datetime64(records[p][name].astimezone(UTC).replace(tzinfo=None), "us")
                                    for p in changed]
            groups[name] = pd.DatetimeIndex(times).tz_localize(frame[name].dt.tz)
        for name in COST.names:
            groups[f"sum_{name}"] = sums[name]
    items = np.concatenate([cached.items, np.array(merged.items, dtype=object)]) if merged.items else cached.items
    digests = {p: d for p, d in cached._digests.items() if p not in changed}  # unchanged groups keep theirs
    return ResultSummary(version, groups, joined(rows, ROW), reasons, items, cached.store,
                         _costs=joined(costs, COST) if cached._costs is not None else None, _digests=digests,
                         _records=records)


def _record(group_id: int, values: dict[str, Any], zone: tzinfo | None) -> dict[str, Any]:
    """What a merge changes of a group's record (its count, first and last creation time), as the
    store would hand it back (times in `zone`)."""
    return {"id": group_id, "results": values["results"], "created_min": _utc(values["created_min"]).astimezone(zone),
            "created_max": _utc(values["created_max"]).astimezone(zone)}
