"""Stored folds of finished runs: what a run page draws, kept so a share link does not read and fold
every event again (revision 0005: run_fold, run_fold_entry).

A fold is opaque here: run-level JSON and one JSON document per entry, written by the app's fold
code (app.stored_view), with a `version` naming that code; a reader asks for the version it can
read and gets None otherwise (then folds the events and stores the fold again). Stream text is
not part of a fold: `stream_text` reads one stream's events (a seq range of one entry and label)
when a reader opens it.

A fold is written once the run has ended (`fold_ended_run`: the runner calls it before it reports
the run done, with the builder the app registered) or by the first visitor of an ended run that
has none (runs stored before folds were, runs of processes without a builder such as the command
line). Only ended runs are folded: a fold is final.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, delete, insert, or_, select, type_coerce

from reasoning.events import TextDelta, ThinkingDelta, event_from_dict
from storage.ids import is_valid_run_id
from storage.store import Store
from storage.tables import ACTIVE_STATUSES, Run, RunFold, RunFoldEntry
from storage.tables import Event as EventRow

log = logging.getLogger(__name__)

STREAM_KINDS = ("text", "thinking")


@dataclass(frozen=True)
class StoredFold:
    run_id: str
    version: str
    last_seq: int
    data: dict[str, Any]  # run-level
    entries: list[dict[str, Any]]  # one per entry, in strategy_index order


def load_fold(store: Store, run_id: str, version: str) -> StoredFold | None:
    """The stored fold of `run_id` written by fold code `version`; None when there is none (or
    another version's)."""
    if not is_valid_run_id(run_id):
        return None
    with store.read() as conn:
        head = conn.execute(select(RunFold.version, RunFold.last_seq, RunFold.data)
                            .where(RunFold.run_id == run_id)).first()
        if head is None or head.version != version:
            return None
        entries = conn.execute(select(RunFoldEntry.strategy_index, RunFoldEntry.data)
                               .where(RunFoldEntry.run_id == run_id)
                               .order_by(RunFoldEntry.strategy_index)).all()
    return StoredFold(run_id, version, int(head.last_seq), json.loads(head.data),
                      [json.loads(data) for _, data in entries])


def save_fold(store: Store, run_id: str, version: str, last_seq: int, data: dict[str, Any],
              entries: Sequence[dict[str, Any]]) -> bool:
    """Store an ended run's fold (replacing an older one). False, storing nothing, when the run is
    unknown or not ended, or has events after `last_seq` (the fold would be incomplete)."""
    if not is_valid_run_id(run_id):
        return False
    encoded = [json.dumps(entry, separators=(",", ":"), allow_nan=True) for entry in entries]
    with store.write() as conn:
        status = conn.scalar(select(Run.status).where(Run.id == run_id))
        if status is None or status in ACTIVE_STATUSES:
            return False
        newest = conn.scalar(select(EventRow.seq).where(EventRow.run_id == run_id)
                             .order_by(EventRow.seq.desc()).limit(1)) or 0
        if newest != last_seq:
            return False
        conn.execute(delete(RunFold).where(RunFold.run_id == run_id))  # cascades to its entries
        conn.execute(delete(RunFoldEntry).where(RunFoldEntry.run_id == run_id))  # (SQLite without FKs)
        conn.execute(insert(RunFold).values(run_id=run_id, version=version, last_seq=last_seq,
                                            stored=datetime.now(UTC),
                                            data=json.dumps(data, separators=(",", ":"), allow_nan=True)))
        if encoded:
            conn.execute(insert(RunFoldEntry), [{"run_id": run_id, "strategy_index": index, "data": text}
                                                for index, text in enumerate(encoded)])
    return True


def stream_text(store: Store, run_id: str, strategy_index: int, label: str | None, first_seq: int,
                last_seq: int) -> tuple[str, str]:
    """One stream's text and thinking: the text events of one entry and label between two seqs
    (a range of the event table's primary key, so a long run is not scanned)."""
    if not is_valid_run_id(run_id):
        return "", ""
    query = (select(EventRow.kind, EventRow.label, _as_text(EventRow.payload))
             .where(EventRow.run_id == run_id, EventRow.seq >= first_seq, EventRow.seq <= last_seq,
                    EventRow.strategy_index == strategy_index, EventRow.kind.in_(STREAM_KINDS))
             .order_by(EventRow.seq))
    if label:  # streams interleave (parallel samples): the others' rows in the range are skipped here
        query = query.where(or_(EventRow.label == label, EventRow.label.is_(None), EventRow.label == ""))
    with store.read() as conn:
        rows = conn.execute(query).all()
    text: list[str] = []
    thinking: list[str] = []
    for kind, row_label, raw in rows:
        delta = event_from_dict(json.loads(raw) if isinstance(raw, str) else (raw or {}), kind, row_label)
        # Filed under its label as the fold files it (a delta without a row label: its payload's).
        if not isinstance(delta, TextDelta | ThinkingDelta) or delta.label != (label or ""):
            continue
        (text if isinstance(delta, TextDelta) else thinking).append(delta.text)
    return "".join(text), "".join(thinking)


def _as_text(column: Any) -> Any:
    """A JSON column as its text on SQLite (one json.loads here instead of the type's processing)."""
    return type_coerce(column, Text).label(column.key)


# ---- folding when a run ends --------------------------------------------------------------------

FoldBuilder = Callable[[Store, str], None]
_builder: FoldBuilder | None = None


def set_fold_builder(builder: FoldBuilder | None) -> None:
    """The function that folds an ended run and stores its fold (the app's: storage cannot fold).
    Without one, runs are folded by their first visitor."""
    global _builder
    _builder = builder


def fold_ended_run(store: Store, run_id: str) -> None:
    """A run has ended: fold it and store the fold now (the runner calls this on a worker thread
    before it reports the run done), so its first visitor reads the fold. Never raises; does
    nothing when no builder is registered."""
    builder = _builder
    if builder is None:
        return
    try:
        builder(store, run_id)
    except Exception as exc:  # a fold is an optimisation: its first visitor folds the events instead
        log.warning("run %s: fold not stored: %s", run_id, exc)
