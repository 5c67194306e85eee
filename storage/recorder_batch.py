"""The rows a RunRecorder batch writes (storage.recorder): events as rows, a spend as its columns,
and the batch that one transaction takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reasoning.budget import Spend
from reasoning.events import FinalAnswer, PartialAnswer


def spend_columns(spent: Spend) -> dict[str, Any]:
    return {
        "input_tokens": spent.input_tokens,
        "output_tokens": spent.output_tokens,
        "reasoning_tokens": spent.reasoning_tokens,
        "cached_input_tokens": spent.cached_input_tokens,
        "total_tokens": spent.total_tokens,
        "usd": spent.usd,
        "seconds": spent.seconds,
        "calls": spent.calls,
        "estimated": spent.estimated,
        "over_cap": spent.over_cap,  # the provider reported impossible usage, or the spend passed a cap
    }


@dataclass
class EventRecord:
    """One event as it will be written: a coalesced delta keeps its pieces until then."""

    seq: int
    strategy_index: int | None
    kind: str
    label: str | None
    payload: dict[str, Any]
    elapsed: float
    wall: float
    spent: Spend | None
    parts: list[str] | None = None  # a coalesced delta's pieces, joined when written

    def row(self, run_id: str) -> dict[str, Any]:
        payload = self.payload if self.parts is None else {**self.payload, "text": "".join(self.parts)}
        return {
            "run_id": run_id,
            "seq": self.seq,
            "strategy_index": self.strategy_index,
            "kind": self.kind,
            "label": self.label,
            "payload": payload,
            "elapsed": self.elapsed,
            "wall": self.wall,
            "total_tokens": None if self.spent is None else self.spent.total_tokens,
            "usd": None if self.spent is None else self.spent.usd,
        }


@dataclass
class Batch:
    """What one transaction writes: event rows, partial answers' curve points, the strategies'
    running totals, their final answers and the run's own columns."""

    records: list[EventRecord] = field(default_factory=list)
    partials: list[tuple[int, int, PartialAnswer]] = field(default_factory=list)  # seq, strategy, event
    strategies: dict[int, dict[str, Any]] = field(default_factory=dict)
    finals: dict[int, FinalAnswer] = field(default_factory=dict)
    run_values: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.records or self.strategies or self.run_values)
