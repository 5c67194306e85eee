"""Typed events a strategy run emits, and their plain-dict form for storage and export.

Each event class carries its `kind` as a `Literal` discriminator (as pydantic-ai's `event_kind`),
so `Event` is a tagged union: a `match` on the class, or a comparison of `kind`, narrows it for a
type checker. `event_to_dict` writes the stored form (the payload of an event row) and
`event_from_dict` is the one way back, used by every reader of stored rows (storage.queries, the
run page's fold in app.panes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from reasoning.budget import Spend

StopReason = Literal["done", "budget", "error", "cancelled"]
EventKind = Literal["text", "thinking", "spend", "partial", "note", "state", "final"]


@dataclass(frozen=True)
class TextDelta:
    label: str
    text: str
    kind: Literal["text"] = field(default="text", init=False)


@dataclass(frozen=True)
class ThinkingDelta:
    label: str
    text: str
    kind: Literal["thinking"] = field(default="thinking", init=False)


@dataclass(frozen=True)
class SpendUpdate:
    spent: Spend
    kind: Literal["spend"] = field(default="spend", init=False)


@dataclass(frozen=True)
class PartialAnswer:
    answer: str | None
    confidence: float | None
    spent: Spend
    kind: Literal["partial"] = field(default="partial", init=False)


@dataclass(frozen=True)
class Note:
    """A decision worth showing: votes, scores, allocations, stop reasons. data is JSON-able."""

    label: str
    text: str
    data: dict[str, Any] | None = None
    kind: Literal["note"] = field(default="note", init=False)


@dataclass(frozen=True)
class CallState:
    """Where one model call of the strategy stands (reasoning.call_states): `queued`, `loading
    model`, `reading prompt`, `generating`, then `ended`. `call` tells parallel calls apart (unique
    in the process); a pane shows the most advanced state among its calls in flight. Only models
    that know report them (the local model); spent is the strategy's spend when the state changed."""

    call: int
    state: str
    spent: Spend
    kind: Literal["state"] = field(default="state", init=False)


@dataclass(frozen=True)
class FinalAnswer:
    """How a strategy ended. spent.over_cap flags a result whose provider reported impossible usage.
    app_version and fingerprint say what produced it (reasoning.provenance)."""

    answer: str | None
    stop: StopReason
    spent: Spend
    error: str | None = None
    kind: Literal["final"] = field(default="final", init=False)
    app_version: str | None = None
    fingerprint: str | None = None
    # On a budget stop, the cap that bound and its limit: "stopped: 90 s seconds cap" (run.stop_detail).
    stop_detail: str | None = None


Event = TextDelta | ThinkingDelta | SpendUpdate | PartialAnswer | Note | CallState | FinalAnswer
Delta = TextDelta | ThinkingDelta

EVENT_TYPES: tuple[type[Event], ...] = (TextDelta, ThinkingDelta, SpendUpdate, PartialAnswer, Note, CallState,
                                        FinalAnswer)
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


def _spent(data: Mapping[str, Any]) -> Spend:
    spent = data.get("spent")
    if spent is None:
        return Spend()
    if not isinstance(spent, Mapping):
        raise ValueError(f"spent is {type(spent).__name__}, not a spend")
    return Spend.from_dict(dict(spent))


# One reader per kind, field by field: a fold reads tens of thousands of rows, and a generic loop over
# dataclasses.fields() tripled its cost. A field missing from a payload (a row of an older version,
# or one made by hand) reads as nothing: no text, no answer, nothing spent, a plain `done` stop.
# tests/reasoning/test_engine.py round-trips every class with every field set, so a field added to a class
# and not here fails there.
_READERS: dict[str, Callable[[Mapping[str, Any], str], Event]] = {
    "text": lambda d, label: TextDelta(d.get("label") or label, d.get("text") or ""),
    "thinking": lambda d, label: ThinkingDelta(d.get("label") or label, d.get("text") or ""),
    "spend": lambda d, _: SpendUpdate(_spent(d)),
    "partial": lambda d, _: PartialAnswer(d.get("answer"), d.get("confidence"), _spent(d)),
    "note": lambda d, label: Note(d.get("label") or label, d.get("text") or "", d.get("data")),
    "state": lambda d, _: CallState(d.get("call", -1), d.get("state", ""), _spent(d)),  # no call: changes nothing
    "final": lambda d, _: FinalAnswer(d.get("answer"), d.get("stop") or "done", _spent(d), d.get("error"),
                                      app_version=d.get("app_version"), fingerprint=d.get("fingerprint"),
                                      stop_detail=d.get("stop_detail")),
}
assert set(_READERS) == set(EVENT_KINDS) == {cls.kind for cls in EVENT_TYPES}, "one class and one reader per kind"


class UnknownEventKind(ValueError):
    """A stored event of a kind this version does not know (a newer version's, or a damaged row)."""

    def __init__(self, kind: object):
        super().__init__(f"unknown event kind {kind!r}")
        self.kind = kind


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        data[f.name] = value.as_dict() if isinstance(value, Spend) else value
    return data


def event_from_dict(data: Mapping[str, Any], kind: str | None = None, label: str | None = None) -> Event:
    """The typed event a stored payload (event_to_dict's form) holds: the one way from a stored row
    back to an event (storage.queries.StoredEvent.event, the fold in app.panes, a stream's text in
    storage.run_fold_store). `kind` and `label` are the row's columns: the kind column wins over the
    payload's own `kind`, and a delta or note whose payload has no label takes the row's (they agree
    in every row the recorder writes). Raises UnknownEventKind for a kind this version does not
    know, ValueError for a `spent` that is not a spend."""
    kind = kind if kind is not None else data.get("kind")
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise UnknownEventKind(kind)
    return reader(data, label or "")
