"""The run view model: a run's stored events folded into one pane per strategy (no Streamlit here).

`RunView.apply(events)` folds events in seq order and may be called again with only the newer
ones, so a live page reads each event once. The same fold drives the live view, a shared link and
a replay (a replay applies the events whose time has come).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reasoning.budget import CAP_NAMES, Spend

# How a strategy ended, by FinalAnswer.stop; statuses that come from the run row are used as is.
STOP_STATUS = {"done": "done", "budget": "done", "error": "error", "cancelled": "cancelled"}
STOP_TEXT = {"done": "finished", "budget": "budget reached", "error": "failed", "cancelled": "cancelled"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~&:=\"'^@%])")
# GFM turns bare URLs and e-mail addresses into links after escapes are resolved, but only where
# the character before them is a space, punctuation or the start of the text: an invisible word
# joiner there keeps them text.
_AUTOLINK_START = re.compile(r"(?i)(https?://|www\.|[-.\w+]+@)")
WORD_JOINER = "\u2060"


class EventRow(Protocol):
    """What the fold reads of a stored event (storage.queries.StoredEvent has these)."""

    seq: int
    strategy_index: int | None
    kind: str
    label: str | None
    payload: dict[str, Any]
    elapsed: float
    total_tokens: int | None
    usd: float | None


@dataclass
class StreamView:
    """One label's streamed output (a sample, an agent's turn, a tree node)."""

    label: str
    text: str = ""
    thinking: str = ""
    first_seq: int = 0
    last_seq: int = 0


@dataclass
class NoteView:
    label: str
    text: str
    data: dict[str, Any] | None
    seq: int


@dataclass
class PaneView:
    index: int
    strategy: str
    knobs: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # the entry's name in legends and exports (entry_labels); "" = the strategy's name
    streams: dict[str, StreamView] = field(default_factory=dict)
    notes: list[NoteView] = field(default_factory=list)
    spent: Spend = field(default_factory=Spend)
    best_answer: str | None = None
    confidence: float | None = None
    best_seq: int | None = None  # seq of the partial answer shown: its curve point holds its verdict
    final_answer: str | None = None
    stop: str | None = None  # FinalAnswer.stop once the strategy ended
    error: str | None = None
    events: int = 0

    @property
    def ended(self) -> bool:
        return self.stop is not None

    @property
    def newest_label(self) -> str | None:
        if not self.streams:
            return None
        return max(self.streams.values(), key=lambda s: s.last_seq).label

    def status(self, stored_status: str | None = None, run_active: bool = True) -> str:
        """running / done / error / cancelled, or the stored status (interrupted...) of a strategy
        that never sent its final answer and whose run is no longer active."""
        if self.stop is not None:
            return STOP_STATUS.get(self.stop, self.stop)
        if not run_active and stored_status:
            return stored_status
        return "running"


@dataclass
class RunView:
    """Every pane of one run, plus the spend samples behind the spend-over-time chart."""

    panes: list[PaneView]
    last_seq: int = 0
    last_elapsed: float = 0.0
    spend_samples: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_strategies(cls, strategies: Sequence[tuple[str, Mapping[str, Any]]],
                       labels: Sequence[str] | None = None) -> RunView:
        """One pane per entry; `labels` (entry_labels) name them in the charts."""
        names = labels if labels is not None else [name for name, _ in strategies]
        return cls([PaneView(i, name, dict(knobs), names[i]) for i, (name, knobs) in enumerate(strategies)])

    def apply(self, events: Iterable[EventRow]) -> int:
        """Fold events (any seq at or below the last one applied is skipped); returns how many were new."""
        applied = 0
        for event in events:
            if event.seq <= self.last_seq:
                continue
            self.last_seq = event.seq
            self.last_elapsed = max(self.last_elapsed, float(event.elapsed))
            index = event.strategy_index
            if index is None or not 0 <= index < len(self.panes):
                continue  # run-level events have no pane
            _fold(self.panes[index], event)
            applied += 1
            if event.total_tokens is not None and event.kind in ("spend", "final"):
                pane = self.panes[index]
                self.spend_samples.append({"strategy_index": index, "strategy": pane.label or pane.strategy,
                                           "seconds": float(event.elapsed), "tokens": int(event.total_tokens),
                                           "usd": float(event.usd or 0.0)})
        return applied

    def end_spends(self) -> list[dict[str, Any]]:
        """Where each ended strategy's spending stopped (extends its quality step to the end)."""
        return [{"strategy_index": p.index, "strategy": p.label or p.strategy, "tokens": p.spent.total_tokens,
                 "usd": p.spent.usd} for p in self.panes if p.ended]

    def labels(self) -> dict[int, str]:
        """Each pane's entry label by strategy index (the charts' series names)."""
        return {p.index: p.label or p.strategy for p in self.panes}


def _fold(pane: PaneView, event: EventRow) -> None:
    pane.events += 1
    payload = event.payload or {}
    kind = event.kind
    if kind in ("text", "thinking"):
        label = event.label or payload.get("label") or ""
        stream = pane.streams.get(label)
        if stream is None:
            stream = pane.streams[label] = StreamView(label, first_seq=event.seq)
        if kind == "text":
            stream.text += payload.get("text", "")
        else:
            stream.thinking += payload.get("text", "")
        stream.last_seq = event.seq
        return
    spent = payload.get("spent")
    if isinstance(spent, dict):
        pane.spent = Spend.from_dict(spent)
    if kind == "partial":
        pane.best_answer = payload.get("answer")
        pane.confidence = payload.get("confidence")
        pane.best_seq = event.seq
    elif kind == "note":
        pane.notes.append(NoteView(payload.get("label", event.label or ""), payload.get("text", ""),
                                   payload.get("data"), event.seq))
    elif kind == "final":
        pane.stop = payload.get("stop") or "done"
        pane.final_answer = payload.get("answer")
        pane.error = payload.get("error")
        if pane.final_answer and pane.final_answer != pane.best_answer:
            pane.best_answer, pane.confidence, pane.best_seq = pane.final_answer, None, None


# ---- what a pane shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpendBar:
    fraction: float  # 0..1 of the cap closest to being reached
    text: str


def spend_bar(spent: Spend, budget: Mapping[str, Any]) -> SpendBar:
    """Spend against the binding cap (the one most used up); every set cap is named in the text."""
    used = {"total_tokens": spent.total_tokens, "output_tokens": spent.output_tokens,
            "usd": spent.usd, "seconds": spent.seconds}
    parts: list[str] = []
    fraction = 0.0
    for cap in CAP_NAMES:
        limit = budget.get(cap)
        if not limit:
            continue
        fraction = max(fraction, used[cap] / float(limit))
        parts.append(f"{_amount(cap, used[cap])} / {_amount(cap, limit)}")
    if not parts:
        return SpendBar(0.0, f"{spent.total_tokens:,} tokens, ${spent.usd:.4f} (no cap)")
    return SpendBar(min(1.0, max(0.0, fraction)), " · ".join(parts))


def _amount(cap: str, value: float) -> str:
    if cap == "usd":
        return f"${value:.4f}"
    if cap == "seconds":
        return f"{value:.1f} s"
    return f"{int(value):,} {'tokens' if cap == 'total_tokens' else 'output tokens'}"


def confidence_text(confidence: float | None) -> str:
    if confidence is None or (isinstance(confidence, float) and math.isnan(confidence)):
        return "no confidence reported"
    return f"confidence {confidence:.0%}"


def verdict_text(correct: bool | None) -> str:
    if correct is None:
        return ""
    return "right" if correct else "wrong"


def stop_text(stop: str | None) -> str:
    return STOP_TEXT.get(stop or "", stop or "")


def note_data_text(data: Mapping[str, Any] | None, limit: int = 6) -> str:
    """A note's data as short `key=value` pairs (votes, scores, allocations)."""
    if not data:
        return ""
    items = list(data.items())
    shown = [f"{k}={_short(v)}" for k, v in items[:limit]]
    if len(items) > limit:
        shown.append(f"... {len(items) - limit} more")
    return ", ".join(shown)


def _short(value: Any, width: int = 60) -> str:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@functools.lru_cache(maxsize=512)  # every repaint re-renders finished streams: escape each text once
def literal_markdown(text: str | None) -> str:
    """Markdown that shows `text` exactly as written: every markdown and HTML character escaped
    (so model output can never become markup, links, math or HTML) and line breaks kept."""
    if not text:
        return ""
    text = _AUTOLINK_START.sub(WORD_JOINER + r"\1", text)
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):  # a lone CR ends a line too
        body = line.lstrip(" \t")
        # Leading blanks would make an indented code block, which shows the escapes themselves.
        indent = line[: len(line) - len(body)].replace("\t", "    ")
        lines.append("\u00a0" * len(indent) + _MARKDOWN_SPECIAL.sub(r"\\\1", body))
    return "  \n".join(lines)
