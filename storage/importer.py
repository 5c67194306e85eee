"""Importing run exports (storage.export's JSON) from files nobody here vouches for.

A file's size is checked before it is read and parsed; every export in it is then checked field by
field (storage.import_checks) before anything is written. One problem refuses the whole file, with a
reason naming the field; a file's runs are written in one transaction, so a refusal leaves no rows
behind.

Ids: a run keeps its id when the store does not hold it yet. When it does, the same run imported
again (same creation time, problem, model and number of events) is skipped rather than counted
twice in a leaderboard; a different run under that id gets a new id, and the outcome says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, insert, select

from storage.ids import new_run_id
from storage.import_checks import CheckedRun, ImportRefused, _type, check_export
from storage.store import Store, open_store
from storage.tables import CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow

MAX_FILE_BYTES = 50_000_000  # refused before parsing: json.loads of 50 MB already takes ~0.5 GB
MAX_RUNS_PER_FILE = 10_000


@dataclass(frozen=True)
class ImportOutcome:
    original_id: str
    run_id: str  # the id it has in this store (the existing run's when skipped)
    action: str  # "imported", "renamed" (imported under a new id) or "skipped" (already here)
    message: str


# ---- reading --------------------------------------------------------------------------------


def read_export_file(path: Path | str) -> list[dict[str, Any]]:
    """The export objects in a file (one run, or a JSON list of runs). The size is checked before
    the file is read, and only MAX_FILE_BYTES + 1 bytes are ever read (a file may grow meanwhile)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportRefused(_too_big(size))
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_export_bytes(data)


def read_export_stream(stream: BinaryIO, size: int | None = None) -> list[dict[str, Any]]:
    """As read_export_file, from an open binary stream (an upload); `size` if known is checked first."""
    if size is not None and size > MAX_FILE_BYTES:
        raise ImportRefused(_too_big(size))
    return parse_export_bytes(stream.read(MAX_FILE_BYTES + 1))


def parse_export_bytes(data: bytes) -> list[dict[str, Any]]:
    """Bytes of an export file -> its export objects, in order."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(_too_big(len(data)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"not UTF-8 text (byte {exc.start})") from None
    try:
        # NaN and Infinity are not JSON, although Python's parser accepts them by default.
        parsed = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ImportRefused("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, a 5,000-digit integer, NaN
        raise ImportRefused(f"not valid JSON: {exc}") from None
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list):
        if not parsed:
            raise ImportRefused("the file holds an empty list: no runs")
        if len(parsed) > MAX_RUNS_PER_FILE:
            raise ImportRefused(f"{len(parsed):,} runs in one file; at most {MAX_RUNS_PER_FILE:,}")
        for i, item in enumerate(parsed):
            if not isinstance(item, dict):
                raise ImportRefused(f"item {i + 1} of the list is {_type(item)}, not an exported run")
        return parsed
    raise ImportRefused(f"the file holds {_type(parsed)}, not an exported run or a list of them")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_big(size: int) -> str:
    return f"the file is {size / 1e6:,.1f} MB; at most {MAX_FILE_BYTES / 1e6:,.0f} MB can be imported"


# ---- writing --------------------------------------------------------------------------------


def import_checked(runs: Sequence[CheckedRun], *, store: Store | None = None,
                   on_clash: str = "rename") -> list[ImportOutcome]:
    """Write checked runs in one transaction (all or none). on_clash: "rename" (a taken id gets a
    new one; the same run already here is skipped) or "refuse" (ImportRefused)."""
    if on_clash not in ("rename", "refuse"):
        raise ValueError(f"on_clash must be 'rename' or 'refuse', got {on_clash!r}")
    store = store if store is not None else open_store()
    outcomes: list[ImportOutcome] = []
    with store.write() as conn:
        taken_here: set[str] = set()
        for checked in runs:
            original = checked.original_id
            run_id = original
            existing = original in taken_here or _exists(conn, original)
            if existing:
                if on_clash == "refuse":
                    raise ImportRefused(f"run {original} already exists in this store")
                if original not in taken_here and _same_run(conn, original, checked):
                    outcomes.append(ImportOutcome(original, original, "skipped",
                                                  f"run {original} is already in this store: skipped"))
                    continue
                run_id = _free_id(conn, taken_here)
            _insert(conn, run_id, checked)
            taken_here.add(run_id)
            notes = "; ".join(checked.notes)
            if run_id != original:
                message = f"run {original}: that id is taken by another run here, imported as {run_id}"
                outcomes.append(ImportOutcome(original, run_id, "renamed", message + (f" ({notes})" if notes else "")))
            else:
                message = f"run {run_id} imported"
                outcomes.append(ImportOutcome(original, run_id, "imported", message + (f" ({notes})" if notes else "")))
    return outcomes


def import_export_data(items: Iterable[object], *, store: Store | None = None) -> list[ImportOutcome]:
    """Check every export object first, then write them all in one transaction."""
    items = list(items)
    checked = [check_export(item, where=f"run {i + 1}" if len(items) > 1 else "run") for i, item in enumerate(items)]
    return import_checked(checked, store=store)


def import_file(path: Path | str, *, store: Store | None = None) -> list[ImportOutcome]:
    """Import one export file (a run, or a list of runs) whole, or refuse it whole."""
    return import_export_data(read_export_file(path), store=store)


def _exists(conn: Connection, run_id: str) -> bool:
    return conn.scalar(select(Run.id).where(Run.id == run_id)) is not None


def _same_run(conn: Connection, run_id: str, checked: CheckedRun) -> bool:
    """The stored run under this id is this export imported (or recorded) before."""
    stored = conn.execute(select(Run.created, Run.problem, Run.model).where(Run.id == run_id)).first()
    if stored is None:
        return False
    created = stored.created if stored.created.tzinfo else stored.created.replace(tzinfo=UTC)
    events = conn.scalar(select(EventRow.seq).where(EventRow.run_id == run_id).order_by(EventRow.seq.desc()).limit(1))
    return (created == checked.run["created"] and stored.problem == checked.run["problem"]
            and stored.model == checked.run["model"] and int(events or 0) == len(checked.events))


def _free_id(conn: Connection, taken: set[str]) -> str:
    while True:  # 96 random bits: a second draw is already astronomically unlikely
        candidate = new_run_id()
        if candidate not in taken and not _exists(conn, candidate):
            return candidate


def _insert(conn: Connection, run_id: str, checked: CheckedRun) -> None:
    run = {**checked.run, "id": run_id, "updated": checked.run.get("finished")}
    conn.execute(insert(Run), run)
    for table, rows in ((RunStrategy, checked.strategies), (EventRow, checked.events),
                        (CurvePoint, checked.curve_points)):
        if rows:
            conn.execute(insert(table), [{**row, "run_id": run_id} for row in rows])

