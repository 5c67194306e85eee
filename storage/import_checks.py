"""The checks a run export (storage.export's JSON) passes before anything of it is written.

An export may come from a colleague, a download, or a hand edit, so it is checked field by field
against the schema: sizes (every text, JSON nesting), types (a string where text goes, a finite
number where a number goes), statuses and event kinds from the allowed sets, seqs that run 1..N as
the store's readers assume (storage.queries.get_run counts events by their newest seq), and entries
that every event and curve point refers to. One problem refuses the whole export with
ImportRefused, whose reason names the field. storage.importer reads the files and writes the runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Table
from sqlalchemy.sql.sqltypes import JSON

from reasoning.budget import Spend
from reasoning.events import EVENT_KINDS, StopReason
from reasoning.redaction import SECRET_OPTION, redact_options
from storage.ids import is_valid_run_id
from storage.tables import ACTIVE_STATUSES, RUN_STATUSES, STRATEGY_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow

FORMAT = "budget-arena.run"  # the same as storage.export's (that module imports this one)
VERSION = 1
MAX_TEXT_CHARS = 2_000_000  # one problem, answer, error or streamed text
MAX_STRATEGIES = 256
MAX_JSON_DEPTH = 32  # knobs, options, budgets, note data: a few levels in practice
MAX_INT = 2**53  # what a JavaScript reader of the same export can still represent exactly
STOP_REASONS: tuple[StopReason, ...] = get_args(StopReason)  # the events' own lists, in their order
# Which exported fields are imported: the run's own facts; never its owner (host, pid, token: they
# describe the exporting installation) nor its sweep. A run keeps no sweep here because a sweep id
# is a hash of its plan: a local sweep with the same plan would take the imported run for one of its
# own unfinished cells and delete it when resumed.
RUN_FIELDS = ("id", "created", "finished", "problem", "reference", "model", "model_options", "budget", "dataset",
              "item_id", "status", "error", "price_date")


class ImportRefused(ValueError):
    """The file (or data) is not an importable export; the message says why."""


@dataclass(frozen=True)
class CheckedRun:
    """One run that passed every check: rows ready to insert (without run_id)."""

    original_id: str
    run: dict[str, Any]
    strategies: list[dict[str, Any]]
    events: list[dict[str, Any]]
    curve_points: list[dict[str, Any]]
    notes: tuple[str, ...] = ()  # what the import changed, for the user


def check_export(data: object, *, where: str = "run") -> CheckedRun:
    """Every check of one export object; raises ImportRefused naming the first bad field."""
    if not isinstance(data, dict):
        raise ImportRefused(f"{where}: an exported run is a JSON object, got {_type(data)}")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ImportRefused(f"{where}: not a {FORMAT} v{VERSION} export (format {_short(data.get('format'))}, "
                            f"version {_short(data.get('version'))})")
    for key in ("run", "strategies", "events", "curve_points"):
        if key not in data:
            raise ImportRefused(f"{where}: missing {key!r}")
    raw_run = data["run"]
    if not isinstance(raw_run, dict):
        raise ImportRefused(f"{where}.run: expected an object, got {_type(raw_run)}")
    run_id = raw_run.get("id")
    if not is_valid_run_id(run_id):
        raise ImportRefused(f"{where}.run.id: not a run id: {_short(run_id)}")
    where = f"run {run_id}"
    notes: list[str] = []
    run = _check_row(raw_run, Run.__table__, RUN_FIELDS, f"{where}: run")
    if run["status"] not in RUN_STATUSES:
        raise ImportRefused(f"{where}: run.status {_short(run['status'])} is not one of {', '.join(RUN_STATUSES)}")
    if run["status"] in ACTIVE_STATUSES:  # nothing here will finish it
        run["status"] = "interrupted"
        notes.append("it was still running when exported: imported as interrupted")
    options = run["model_options"]
    kept = {k: v for k, v in redact_options(options).items() if not SECRET_OPTION.search(k)}
    if kept != options:
        notes.append("model options that look like credentials were left out")
        run["model_options"] = kept
    run.pop("id")

    strategies = _check_list(data["strategies"], f"{where}: strategies", MAX_STRATEGIES)
    strategy_fields = tuple(c.name for c in RunStrategy.__table__.columns if c.name != "run_id")
    checked_strategies = []
    for i, item in enumerate(strategies):
        row = _check_row(item, RunStrategy.__table__, strategy_fields, f"{where}: strategies[{i}]")
        if row["strategy_index"] != i:
            raise ImportRefused(f"{where}: strategies[{i}].strategy_index is {row['strategy_index']}, expected {i}")
        if row["status"] not in STRATEGY_STATUSES:
            raise ImportRefused(f"{where}: strategies[{i}].status {_short(row['status'])} is not one of "
                                f"{', '.join(STRATEGY_STATUSES)}")
        if row["status"] in ACTIVE_STATUSES:
            row["status"] = "interrupted"
        if row.get("stop_reason") is not None and row["stop_reason"] not in STOP_REASONS:
            raise ImportRefused(f"{where}: strategies[{i}].stop_reason {_short(row['stop_reason'])} is not one of "
                                f"{', '.join(STOP_REASONS)}")
        _check_unit_interval(row.get("confidence"), f"{where}: strategies[{i}].confidence")
        checked_strategies.append(row)

    entries = len(checked_strategies)
    event_fields = tuple(c.name for c in EventRow.__table__.columns if c.name != "run_id")
    events = []
    for i, item in enumerate(_check_list(data["events"], f"{where}: events")):
        at = f"{where}: events[{i}]"
        row = _check_row(item, EventRow.__table__, event_fields, at)
        if row["seq"] != i + 1:  # readers count events by the newest seq
            raise ImportRefused(f"{at}.seq is {row['seq']}, expected {i + 1} (seqs run 1..N in order)")
        _check_entry(row["strategy_index"], entries, at, nullable=True)
        _check_payload(row, at)
        events.append(row)

    curve_fields = tuple(c.name for c in CurvePoint.__table__.columns if c.name != "run_id")
    curve = []
    seen: set[int] = set()
    for i, item in enumerate(_check_list(data["curve_points"], f"{where}: curve_points")):
        at = f"{where}: curve_points[{i}]"
        row = _check_row(item, CurvePoint.__table__, curve_fields, at)
        if row["seq"] in seen or not 1 <= row["seq"] <= len(events):
            raise ImportRefused(f"{at}.seq {row['seq']} is repeated or names no event")
        seen.add(row["seq"])
        _check_entry(row["strategy_index"], entries, at, nullable=False)
        _check_unit_interval(row.get("confidence"), f"{at}.confidence")
        _check_unit_interval(row.get("quality"), f"{at}.quality")
        curve.append(row)
    return CheckedRun(run_id, run, checked_strategies, events, curve, tuple(notes))


def _check_list(value: object, where: str, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise ImportRefused(f"{where}: expected a list, got {_type(value)}")
    if limit is not None and len(value) > limit:
        raise ImportRefused(f"{where}: {len(value):,} items; at most {limit:,}")
    return value


def _check_row(record: object, table: Table, allowed: Sequence[str], where: str) -> dict[str, Any]:
    """The record's `allowed` fields, each checked against its column (type, length, null); other
    keys are ignored (a newer export's extra fields). A missing field is NULL, or its default."""
    if not isinstance(record, dict):
        raise ImportRefused(f"{where}: expected an object, got {_type(record)}")
    row: dict[str, Any] = {}
    for name in allowed:  # every row gets every field: an executemany takes its columns from the first
        column = table.columns[name]
        if record.get(name) is not None:
            row[name] = _check_value(record[name], column.type, f"{where}.{name}")
        elif column.default is not None and column.default.is_scalar:
            row[name] = column.default.arg
        elif column.nullable:
            row[name] = None
        else:
            raise ImportRefused(f"{where}.{name} is missing")
    return row


def _check_value(value: Any, kind: Any, where: str) -> Any:
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise ImportRefused(f"{where}: expected true or false, got {_type(value)}")
        return value
    if isinstance(kind, Integer):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ImportRefused(f"{where}: expected a whole number, got {_type(value)}")
        if not 0 <= value <= MAX_INT:
            raise ImportRefused(f"{where}: {value} is out of range (0..2^53)")
        return value
    if isinstance(kind, Float):
        return _finite(value, where)
    if isinstance(kind, DateTime):
        if not isinstance(value, str) or len(value) > 40:
            raise ImportRefused(f"{where}: expected an ISO 8601 time, got {_type(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ImportRefused(f"{where}: not an ISO 8601 time: {_short(value)}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(kind, String):  # Text is a String without a length
        return _check_text(value, where, kind.length or MAX_TEXT_CHARS)
    if isinstance(kind, JSON):
        if not isinstance(value, dict):
            raise ImportRefused(f"{where}: expected an object, got {_type(value)}")
        _check_json(value, where, 1)
        return value
    raise ImportRefused(f"{where}: cannot import a {kind!r} column")  # a column type added without a check


def _check_text(value: object, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str):
        raise ImportRefused(f"{where}: expected text, got {_type(value)}")
    if len(value) > limit:
        raise ImportRefused(f"{where}: {len(value):,} characters; at most {limit:,}")
    _storable(value, where)
    return value


def _storable(text: str, where: str) -> None:
    """Text every store can hold: PostgreSQL refuses NUL in text and JSON, and a lone surrogate
    (legal in JSON's \\u escapes) cannot be encoded as UTF-8 by any driver."""
    if "\x00" in text:
        raise ImportRefused(f"{where}: contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ImportRefused(f"{where}: contains an unpaired surrogate (not valid Unicode)") from None


def _finite(value: object, where: str, *, nonnegative: bool = True) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ImportRefused(f"{where}: expected a number, got {_type(value)}")
    if not math.isfinite(value) or abs(value) > 1e15:
        raise ImportRefused(f"{where}: {value} is not a finite number in range")
    if nonnegative and value < 0:
        raise ImportRefused(f"{where}: {value} is negative")
    return float(value)


def _check_json(value: Any, where: str, depth: int) -> None:
    """Nested data (knobs, options, budgets, payloads): bounded depth, storable text, finite
    numbers (the parser already refused NaN and Infinity; this also covers data built in Python)."""
    if depth > MAX_JSON_DEPTH:
        raise ImportRefused(f"{where}: nested more than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ImportRefused(f"{where}: a key is {_type(key)}, not text")
            _storable(key, where)
            _check_json(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, where, depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise ImportRefused(f"{where}: a text of {len(value):,} characters; at most {MAX_TEXT_CHARS:,}")
        _storable(value, where)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ImportRefused(f"{where}: {value} is not a finite number")
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT:
            raise ImportRefused(f"{where}: {value} is out of range")
    elif value is not None and not isinstance(value, bool):
        raise ImportRefused(f"{where}: {_type(value)} is not JSON")


def _check_unit_interval(value: float | None, where: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ImportRefused(f"{where}: {value} is not between 0 and 1")


def _check_entry(index: int | None, entries: int, where: str, *, nullable: bool) -> None:
    if index is None and nullable:
        return
    if index is None or not 0 <= index < entries:
        raise ImportRefused(f"{where}.strategy_index {index} names no strategy of the run ({entries} strategies)")


_SPEND_FIELDS = {f.name: f.type for f in fields(Spend)}


def _check_payload(row: dict[str, Any], where: str) -> None:
    """The payload is what reasoning.events.event_to_dict wrote for the row's kind."""
    kind = row["kind"]
    if kind not in EVENT_KINDS:
        raise ImportRefused(f"{where}.kind {_short(kind)} is not one of {', '.join(EVENT_KINDS)}")
    payload = row["payload"]
    where = f"{where}.payload"
    if payload.get("kind") != kind:
        raise ImportRefused(f"{where}.kind {_short(payload.get('kind'))} differs from the event's kind {kind!r}")
    if kind in ("text", "thinking"):
        _check_text(payload.get("text"), f"{where}.text")
        _check_text(payload.get("label"), f"{where}.label")
    elif kind == "note":
        _check_text(payload.get("label"), f"{where}.label")
        _check_text(payload.get("text"), f"{where}.text")
        if payload.get("data") is not None and not isinstance(payload["data"], dict):
            raise ImportRefused(f"{where}.data: expected an object, got {_type(payload['data'])}")
    else:
        _check_spend(payload.get("spent"), f"{where}.spent")
        if kind == "partial":
            _check_text(payload.get("answer"), f"{where}.answer")
            confidence = payload.get("confidence")
            if confidence is not None:
                _check_unit_interval(_finite(confidence, f"{where}.confidence"), f"{where}.confidence")
        elif kind == "final":
            for name in ("answer", "error"):
                if payload.get(name) is not None:
                    _check_text(payload[name], f"{where}.{name}")
            if payload.get("stop") not in STOP_REASONS:
                raise ImportRefused(f"{where}.stop {_short(payload.get('stop'))} is not one of "
                                    f"{', '.join(STOP_REASONS)}")


def _check_spend(spent: object, where: str) -> None:
    if not isinstance(spent, dict):
        raise ImportRefused(f"{where}: expected an object, got {_type(spent)}")
    for name, value in spent.items():
        kind = _SPEND_FIELDS.get(name)
        if kind in ("int", int) or name == "total_tokens":
            _check_value(value, Integer(), f"{where}.{name}")
        elif kind in ("float", float):
            _finite(value, f"{where}.{name}")
        elif kind in ("bool", bool) and not isinstance(value, bool):
            raise ImportRefused(f"{where}.{name}: expected true or false, got {_type(value)}")


def _type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _short(value: object, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
