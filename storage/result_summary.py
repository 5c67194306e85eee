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
refresh at once do not merge twice. A reader holding the summary a merge started from takes what the
merge wrote into a copy of it (storage.summary_frame.splice) rather than reading it back: after a
run of a few results the whole call is a few index lookups, one small window read and a write of
the few groups it changed (~8 ms at 100k results, ~12 ms at a million).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from storage.leaderboard_reads import ResultsVersion, results_version
from storage.query_support import _utc
from storage.result_groups import COST, HEADER, ROW, Group, Results, group_results, results_of, results_query
from storage.store import Store
from storage.summary_frame import STATE_ID, Merged, ResultSummary, load_summary, splice
from storage.tables import ResultGroup, ResultItem, ResultSummaryState

__all__ = ["Merged", "Refresh", "ResultSummary", "current_summary", "load_summary", "merge_until", "rebuild",
           "refresh", "state"]

MERGE_ITEMS_ASKED = 500  # a merge with more distinct items reads every item's code
_PG_LOCK_KEY = 0x62756467_7375  # any constant: serialises summary writes on PostgreSQL
# The statements a merge runs, built once: building one costs more than SQLite takes to run it.
_STATE = select(ResultSummaryState.results, ResultSummaryState.newest).where(ResultSummaryState.id == STATE_ID)
_ITEMS_OF = select(ResultItem.key, ResultItem.code).where(ResultItem.key.in_(bindparam("keys", expanding=True)))
_LAST_ITEM = select(func.max(ResultItem.code))
_GROUPS_OF = select(ResultGroup.id, ResultGroup.key, ResultGroup.rows, ResultGroup.costs, ResultGroup.failures) \
    .where(ResultGroup.key.in_(bindparam("keys", expanding=True)))
_LAST_GROUP = select(func.max(ResultGroup.id))
_UPDATE_GROUP = update(ResultGroup).where(ResultGroup.id == bindparam("group_id"))
_UPDATE_STATE = update(ResultSummaryState).where(ResultSummaryState.id == STATE_ID)


@dataclass(frozen=True)
class Refresh:
    version: ResultsVersion  # what the summary now holds
    rebuilt: bool  # everything was read again (else `changed` lists the groups that changed)
    changed: frozenset[int] = frozenset()
    merged_from: ResultsVersion | None = None  # a merge: the summary it changed
    merged: Merged | None = field(default=None, repr=False)  # a merge: what it wrote


def state(store: Store) -> ResultsVersion | None:
    with store.read() as conn:
        return _state(conn)


def _state(conn: Connection) -> ResultsVersion | None:
    row = conn.execute(_STATE).first()
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
        newer = _read(store, ended_after=held.newest, ended_until=version.newest)
        if held.count + len(newer) == version.count:
            merged = _merge(store, held, version, newer)
            if merged is not None:
                return Refresh(version, rebuilt=False, changed=frozenset(merged.groups), merged_from=held,
                               merged=merged)
            return Refresh(state(store) or version, rebuilt=True)  # another process got there first
    return rebuild(store, version)


def merge_until(store: Store, cached: ResultSummary, newest: datetime) -> ResultSummary:
    """`cached` with the results that ended after its newest and up to `newest` merged in, without
    counting every result: for a reader that knows a result ended (storage.leaderboard_reads.
    results_front moved on) and counts every result at its own pace, which is when a deletion or a
    back-dated import shows (the count then no longer matches, and current_summary rebuilds)."""
    held = cached.version
    if held.newest is None or newest <= held.newest:
        return current_summary(store, cached)
    with store.read() as conn:  # the summary's state and what ended since, in one snapshot
        rows = conn.execute(*results_query(ended_after=held.newest, ended_until=newest)).all() \
            if _state(conn) == held else None
    if rows is None:
        return current_summary(store, cached)
    newer = results_of(rows)
    version = ResultsVersion(held.count + len(newer), newest)
    merged = _merge(store, held, version, newer)
    if merged is None:  # another process refreshed it: read it as it is now
        return load_summary(store)
    return splice(cached, version, merged) or load_summary(store)


def _read(store: Store, **window: datetime | None) -> Results:
    with store.read() as conn:
        return results_of(conn.execute(*results_query(**window)).all())


def rebuild(store: Store, version: ResultsVersion | None = None) -> Refresh:
    """Build the summary again from every ended result (as of `version`)."""
    version = version if version is not None else results_version(store=store)
    results = _read(store, ended_until=version.newest)
    items: dict[str, int] = {}
    groups = group_results(results, items)
    held = ResultsVersion(len(results), version.newest)
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


_STORED = ("results", "created_min", "created_max", "rows", "costs", "failures")  # what a merge changes in a group


def _merge(store: Store, held: ResultsVersion, version: ResultsVersion, newer: Results) -> Merged | None:
    """Merge `newer` (the results that ended after `held`) into their groups; None when the summary
    is no longer at `held` (another process refreshed it)."""
    with store.write() as conn:
        if _lock(conn) != held:
            return None
        wanted = set(newer.items)
        if len(wanted) <= MERGE_ITEMS_ASKED:  # the merged results' items only (codes run 0 .. n-1)
            items = dict(conn.execute(_ITEMS_OF, {"keys": sorted(wanted)}).all()) if wanted else {}
            known = _following(conn.scalar(_LAST_ITEM)) if wanted else 0
        else:
            items = dict(conn.execute(select(ResultItem.key, ResultItem.code)).all())
            known = len(items)
        groups = group_results(newer, items, next_code=known)
        added = {key: code for key, code in items.items() if code >= known}
        _insert_items(conn, added)
        existing = {row.key: row for row in conn.execute(_GROUPS_OF, {"keys": list(groups)}).all()} if groups else {}
        next_id = _following(conn.scalar(_LAST_GROUP)) if len(existing) < len(groups) else 0
        written: dict[int, tuple[Group, dict[str, Any]]] = {}
        inserts, updates = [], []
        for key, group in groups.items():
            old = existing.get(key)
            if old is None:
                values = group.row_values()
                inserts.append({"id": next_id, "key": key, **values})
                written[next_id] = (group, values)
                next_id += 1
                continue
            stored = Group(group.values, _rows(old.rows), np.frombuffer(old.costs, dtype=COST).copy(),
                           json.loads(old.failures)).merged(group)
            values = stored.row_values()
            updates.append({"group_id": old.id, **{name: values[name] for name in _STORED}})
            written[int(old.id)] = (stored, values)
        if updates:
            conn.execute(_UPDATE_GROUP, updates)
        if inserts:
            conn.execute(insert(ResultGroup), inserts)
        _write_state(conn, ResultsVersion(held.count + len(newer), version.newest))
    return Merged(written, sorted(added, key=added.__getitem__), known)


def _following(largest: int | None) -> int:
    """The number after the largest in use (0 when none is: a largest of 0 is one in use)."""
    return 0 if largest is None else int(largest) + 1


def _rows(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=ROW, offset=HEADER).copy()


def _insert_items(conn: Connection, items: dict[str, int]) -> None:
    if items:
        conn.execute(insert(ResultItem), [{"code": code, "key": key} for key, code in items.items()])


def _write_state(conn: Connection, held: ResultsVersion) -> None:
    values = {"results": held.count, "newest": held.newest, "updated": datetime.now(UTC)}
    if not conn.execute(_UPDATE_STATE, values).rowcount:
        conn.execute(insert(ResultSummaryState).values(id=STATE_ID, **values))


def _lock(conn: Connection) -> ResultsVersion | None:
    """Take the summary for this write transaction (SQLite's write transaction already excludes
    other writers; PostgreSQL takes an advisory lock) and return the state it holds now."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    row = conn.execute(_STATE).first()
    return None if row is None else ResultsVersion(int(row.results), _utc(row.newest))


def current_summary(store: Store, cached: ResultSummary | None = None,
                    version: ResultsVersion | None = None) -> ResultSummary:
    """The summary as of `version` (default: the store's ended results now): `cached` when it is
    at that version, else the stored summary refreshed: what this refresh merged into `cached`'s
    summary put into it (storage.summary_frame.splice), or else read again."""
    version = version if version is not None else results_version(store=store)
    if cached is not None and cached.version == version:
        return cached
    done = refresh(store, version)
    if cached is not None and done.merged is not None and done.merged_from == cached.version:
        spliced = splice(cached, done.version, done.merged)
        if spliced is not None:
            return spliced
    return load_summary(store)
