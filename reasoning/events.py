"""Typed events a strategy run emits, and their plain-dict form for storage and export."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from reasoning.budget import Spend

StopReason = Literal["done", "budget", "error", "cancelled"]


@dataclass(frozen=True)
class TextDelta:
    label: str
    text: str
    kind: str = field(default="text", init=False)


@dataclass(frozen=True)
class ThinkingDelta:
    label: str
    text: str
    kind: str = field(default="thinking", init=False)


@dataclass(frozen=True)
class SpendUpdate:
    spent: Spend
    kind: str = field(default="spend", init=False)


@dataclass(frozen=True)
class PartialAnswer:
    answer: str
    confidence: float | None
    spent: Spend
    kind: str = field(default="partial", init=False)


@dataclass(frozen=True)
class Note:
    """A decision worth showing: votes, scores, allocations, stop reasons. data is JSON-able."""

    label: str
    text: str
    data: dict[str, Any] | None = None
    kind: str = field(default="note", init=False)


@dataclass(frozen=True)
class CallState:
    """Where one model call of the strategy stands (reasoning.call_states): `queued`, `loading
    model`, `reading prompt`, `generating`, then `ended`. `call` tells parallel calls apart (unique
    in the process); a pane shows the most advanced state among its calls in flight. Only models
    that know report them (the local model); spent is the strategy's spend when the state changed."""

    call: int
    state: str
    spent: Spend
    kind: str = field(default="state", init=False)


@dataclass(frozen=True)
class FinalAnswer:
    """How a strategy ended. spent.over_cap flags a result whose provider reported impossible usage.
    app_version and fingerprint say what produced it (reasoning.provenance)."""

    answer: str | None
    stop: StopReason
    spent: Spend
    error: str | None = None
    kind: str = field(default="final", init=False)
    app_version: str | None = None
    fingerprint: str | None = None
    # On a budget stop, the cap that bound and its limit: "stopped: 90 s seconds cap" (run.stop_detail).
    stop_detail: str | None = None


Event = TextDelta | ThinkingDelta | SpendUpdate | PartialAnswer | Note | CallState | FinalAnswer

EVENT_TYPES = (TextDelta, ThinkingDelta, SpendUpdate, PartialAnswer, Note, CallState, FinalAnswer)
_BY_KIND: dict[str, type] = {
    f.default: cls for cls in EVENT_TYPES for f in fields(cls) if f.name == "kind"  # type: ignore[misc]
}


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        data[f.name] = value.as_dict() if isinstance(value, Spend) else value
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    cls = _BY_KIND.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown event kind {data.get('kind')!r}")
    kwargs = {}
    for f in fields(cls):
        if not f.init or f.name not in data:
            continue
        value = data[f.name]
        kwargs[f.name] = Spend.from_dict(value) if f.name == "spent" else value
    return cls(**kwargs)
