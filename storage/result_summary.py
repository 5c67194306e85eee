"""The leaderboard's summary of the ended strategy results (revision 0005: result_group, result_item,
result_summary_state), so a leaderboard over a million results reads a few hundred rows.

Results are grouped by every column a leaderboard filters or groups on (storage.result_groups:
model, strategy, knobs, fingerprint, over_cap, sweep, dataset and the entry's caps). A group holds,
per result, only what the metrics read, packed as little-endian arrays (`rows`: a header of the cost sums over the
group's scored results, then per result its item, creation time (µs), entry index and outcome
code; `costs`: per result its tokens, dollars and seconds, read only when a leaderboard is limited
to some dates; `failures`: the reason of each failed result). Items (a dataset's problem, or the
run of a problem typed on the Compare page) are numbered in result_item.

The summary is kept up to date by its readers (`refresh`): when the ended results changed
(storage.queries.results_version: count and newest finish time), the results that ended since the
summary's newest are read and merged into their groups; when the count then does not match (a
deletion, a back-dated import), or there is no summary yet, it is built again from every result.
Each refresh is one write transaction that checks the state it started from, so processes that
refresh at once do not merge twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, text, update

from storage.leaderboard_reads import ResultsVersion, results_version
from storage.query_support import _utc
from storage.result_groups import (
    BUDGET_COLUMNS,
    COST,
    HEADER,
    KEY_COLUMNS,
    ROW,
    Group,
    build_groups,
    read_results,
)
from storage.store import Store
from storage.tables import ResultGroup, ResultItem, ResultSummaryState

STATE_ID = 1
MERGE_ITEMS_ASKED = 500  # a merge with more distinct items reads every item's code
_PG_LOCK_KEY = 0x62756467_7375  # any constant: serialises summary writes on PostgreSQL


# ---- keeping the summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    version: ResultsVersion  # what the summary now holds
    rebuilt: bool  # everything was read again (else `changed` lists the groups that changed)
    changed: frozenset[int] = frozenset()
    merged_from: ResultsVersion | None = None  # a merge: the summary it changed


def state(store: Store) -> ResultsVersion | None:
    with store.read() as conn:
        row = conn.execute(select(ResultSummaryState.results, ResultSummaryState.newest)
                           .where(ResultSummaryState.id == STATE_ID)).first()
    return None if row is None else ResultsVersion(int(row.results), _utc(row.newest))


def refresh(store: Store, version: ResultsVersion | None = None) -> Refresh:
    """Bring the summary up to `version` (default: the store's now): merge what ended since, or
    build it again when that does not add up."""
    version = version if version is not None else results_version(store=store)
    held = state(store)
    if held == version:
        return Refresh(version, rebuilt=False)
    if held is not None and held.newest is not None and version.newest is not None \
            and version.newest >= held.newest and held.count <= version.count:
        newer = read_results(store, ended_after=held.newest, ended_until=version.newest)
        if held.count + len(newer) == version.count:
            changed = _merge(store, held, version, newer)
            if changed is not None:
                return Refresh(version, rebuilt=False, changed=frozenset(changed), merged_from=held)
            return Refresh(state(store) or version, rebuilt=True)  # another process got there first
    return rebuild(store, version)


def merge_until(store: Store, cached: ResultSummary, newest: datetime) -> ResultSummary:
    """`cached` with the results that ended after its newest and up to `newest` merged in, without
    counting every result: for a reader that knows a result ended (storage.leaderboard_reads.
    results_front moved on) and counts every result at its own pace, which is when a deletion or a
    back-dated import shows (the count then no longer matches, and current_summary rebuilds)."""
    held = cached.version
    if held.newest is None or newest <= held.newest or state(store) != held:
        return current_summary(store, cached)
    newer = read_results(store, ended_after=held.newest, ended_until=newest)
    version = ResultsVersion(held.count + len(newer), newest)
    changed = _merge(store, held, version, newer)
    if changed is None:  # another process refreshed it: read it as it is now
        return load_summary(store)
    return _with_groups(store, cached, Refresh(version, rebuilt=False, changed=frozenset(changed), merged_from=held)) \
        or load_summary(store)


def rebuild(store: Store, version: ResultsVersion | None = None) -> Refresh:
    """Build the summary again from every ended result (as of `version`)."""
    version = version if version is not None else results_version(store=store)
    frame = read_results(store, ended_until=version.newest)
    items: dict[str, int] = {}
    groups = build_groups(frame, items)
    held = ResultsVersion(len(frame), version.newest)
    with store.write() as conn:
        if _lock(conn) == held:  # another process has just built the same summary
            return Refresh(held, rebuilt=True)
        conn.execute(delete(ResultGroup))
        conn.execute(delete(ResultItem))
        _insert_items(conn, items)
        if groups:
            conn.execute(insert(ResultGroup), [{"id": i, "key": key, **group.row_values()}
                                               for i, (key, group) in enumerate(groups.items())])
        _write_state(conn, held)
    return Refresh(held, rebuilt=True)


def _merge(store: Store, held: ResultsVersion, version: ResultsVersion, newer: pd.DataFrame) -> list[int] | None:
    """Merge `newer` (the results that ended after `held`) into their groups; None when the summary
    is no longer at `held` (another process refreshed it)."""
    with store.write() as conn:
        if _lock(conn) != held:
            return None
        wanted = set(newer["item"]) if len(newer) else set()
        if len(wanted) <= MERGE_ITEMS_ASKED:  # the merged results' items only (codes run 0 .. n-1)
            items = dict(conn.execute(select(ResultItem.key, ResultItem.code).where(ResultItem.key.in_(wanted))).all()) \
                if wanted else {}
            known = (conn.scalar(select(func.max(ResultItem.code))) or -1) + 1 if wanted else 0
        else:
            items = dict(conn.execute(select(ResultItem.key, ResultItem.code)).all())
            known = len(items)
        groups = build_groups(newer, items, next_code=known)
        _insert_items(conn, {k: c for k, c in items.items() if c >= known})
        existing = {row.key: row for row in conn.execute(
            select(ResultGroup.id, ResultGroup.key, ResultGroup.rows, ResultGroup.costs, ResultGroup.failures)
            .where(ResultGroup.key.in_(list(groups)))).all()} if groups else {}
        next_id = (conn.scalar(select(ResultGroup.id).order_by(ResultGroup.id.desc()).limit(1)) or -1) + 1
        changed: list[int] = []
        for key, group in groups.items():
            old = existing.get(key)
            if old is None:
                conn.execute(insert(ResultGroup).values(id=next_id, key=key, **group.row_values()))
                changed.append(next_id)
                next_id += 1
                continue
            stored = Group(group.values, _rows(old.rows), np.frombuffer(old.costs, dtype=COST).copy(),
                           json.loads(old.failures))
            conn.execute(update(ResultGroup).where(ResultGroup.id == old.id)
                         .values(**stored.merged(group).row_values()))
            changed.append(int(old.id))
        _write_state(conn, ResultsVersion(held.count + len(newer), version.newest))
    return changed


def _rows(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=ROW, offset=HEADER).copy()


def _insert_items(conn: Connection, items: dict[str, int]) -> None:
    if items:
        conn.execute(insert(ResultItem), [{"code": code, "key": key} for key, code in items.items()])


def _write_state(conn: Connection, held: ResultsVersion) -> None:
    values = {"results": held.count, "newest": held.newest, "updated": datetime.now(UTC)}
    if not conn.execute(update(ResultSummaryState).where(ResultSummaryState.id == STATE_ID).values(**values)).rowcount:
        conn.execute(insert(ResultSummaryState).values(id=STATE_ID, **values))


def _lock(conn: Connection) -> ResultsVersion | None:
    """Take the summary for this write transaction (SQLite's write transaction already excludes
    other writers; PostgreSQL takes an advisory lock) and return the state it holds now."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    row = conn.execute(select(ResultSummaryState.results, ResultSummaryState.newest)
                       .where(ResultSummaryState.id == STATE_ID)).first()
    return None if row is None else ResultsVersion(int(row.results), _utc(row.newest))


# ---- reading the summary ------------------------------------------------------------------------


GROUP_FRAME_COLUMNS = ["id", *KEY_COLUMNS, "results", "created_min", "created_max", "sum_tokens", "sum_usd",
                       "sum_seconds", "start", "stop"]


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

    def group_digest(self, position: int) -> bytes:
        """A digest of one group's results and failures' reasons (kept: the summary is read only)."""
        found = self._digests.get(position)
        if found is None:
            if self._bounds is None:
                self._bounds = (self.groups["start"].to_numpy(dtype=np.int64), self.groups["stop"].to_numpy(dtype=np.int64))
            start, stop = self._bounds[0][position], self._bounds[1][position]
            digest = hashlib.sha256(self.rows[start:stop].tobytes())  # sha256: the fastest here (CPU instructions)
            digest.update(json.dumps(self.reasons[position]).encode())
            found = self._digests[position] = digest.digest()
        return found

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
                self._costs = np.concatenate([np.frombuffer(blobs[i], dtype=COST) for i in self.groups["id"]])
        return self._costs


def load_summary(store: Store) -> ResultSummary:
    """The stored summary as it is (call refresh first to bring it up to date)."""
    columns = [getattr(ResultGroup, c) for c in ("id", *KEY_COLUMNS, "results", "created_min", "created_max",
                                                 "rows", "failures")]
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
    start = 0
    for position, group in enumerate(groups):
        blob = group.rows
        sums[position] = np.frombuffer(blob, dtype=COST, count=1)[0]
        rows = np.frombuffer(blob, dtype=ROW, offset=HEADER)
        arrays.append(rows)
        reasons.append(json.loads(group.failures))
        records.append({**{c: getattr(group, c) for c in ("id", *KEY_COLUMNS, "results")},
                        "created_min": _utc(group.created_min), "created_max": _utc(group.created_max),
                        "start": start, "stop": start + len(rows)})
        start += len(rows)
    frame = pd.DataFrame.from_records(records, columns=[c for c in GROUP_FRAME_COLUMNS if not c.startswith("sum_")])
    for name in COST.names:
        frame[f"sum_{name}"] = sums[name]
    for column in BUDGET_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    frame = frame[GROUP_FRAME_COLUMNS]
    rows = np.concatenate(arrays) if arrays else np.zeros(0, dtype=ROW)
    return ResultSummary(version, frame, rows, reasons, keys, store)


def current_summary(store: Store, cached: ResultSummary | None = None,
                    version: ResultsVersion | None = None) -> ResultSummary:
    """The summary as of `version` (default: the store's ended results now): `cached` when it is
    at that version, else the stored summary refreshed and read again (when this refresh merged
    new results into `cached`'s summary, only the groups it changed are read)."""
    version = version if version is not None else results_version(store=store)
    if cached is not None and cached.version == version:
        return cached
    done = refresh(store, version)
    if cached is not None and done.merged_from == cached.version:
        spliced = _with_groups(store, cached, done)
        if spliced is not None:
            return spliced
    return load_summary(store)


def _with_groups(store: Store, cached: ResultSummary, done: Refresh) -> ResultSummary | None:
    """`cached` with the groups a merge changed read again, and the items it added; None when the
    stored summary has moved on since (read it all)."""
    columns = [getattr(ResultGroup, c) for c in ("id", *KEY_COLUMNS, "results", "created_min", "created_max",
                                                 "rows", "failures")]
    with store.read() as conn:
        head = conn.execute(select(ResultSummaryState.results, ResultSummaryState.newest)
                            .where(ResultSummaryState.id == STATE_ID)).first()
        groups = conn.execute(select(*columns).where(ResultGroup.id.in_(sorted(done.changed)))
                              .order_by(ResultGroup.id)).all()
        items = conn.execute(select(ResultItem.code, ResultItem.key).where(ResultItem.code >= len(cached.items))
                             .order_by(ResultItem.code)).all()
    if head is None or ResultsVersion(int(head.results), _utc(head.newest)) != done.version \
            or len(groups) != len(done.changed) or [code for code, _ in items] != list(
                range(len(cached.items), len(cached.items) + len(items))):
        return None
    fresh = summary_from_rows(done.version, groups, [], store)
    kept = ~cached.groups["id"].isin(fresh.groups["id"]).to_numpy()
    parts = sorted([(int(i), cached, p) for p, i in enumerate(cached.groups["id"]) if kept[p]]
                   + [(int(i), fresh, p) for p, i in enumerate(fresh.groups["id"])], key=lambda part: part[0])
    frame = pd.concat([cached.groups.loc[kept], fresh.groups], ignore_index=True).sort_values("id", kind="stable")
    bounds = {id(source): (source.groups["start"].to_numpy(dtype=np.int64), source.groups["stop"].to_numpy(dtype=np.int64))
              for source in (cached, fresh)}
    arrays = [source.rows[bounds[id(source)][0][p]:bounds[id(source)][1][p]] for _, source, p in parts]
    stops = np.cumsum([len(a) for a in arrays], dtype=np.int64)
    frame["start"], frame["stop"] = stops - frame["results"].to_numpy(dtype=np.int64), stops
    keys = np.empty(len(cached.items) + len(items), dtype=object)
    keys[:len(cached.items)] = cached.items
    for code, key in items:
        keys[code] = key
    rows = np.concatenate(arrays) if arrays else np.zeros(0, dtype=ROW)
    digests = {position: cached._digests[p] for position, (_, source, p) in enumerate(parts)
               if source is cached and p in cached._digests}  # unchanged groups keep theirs
    return ResultSummary(done.version, frame.reset_index(drop=True), rows,
                         [source.reasons[p] for _, source, p in parts], keys, store, _digests=digests)
