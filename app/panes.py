"""The run view model: a run's events folded into one pane per strategy (no Streamlit here).

`RunView` is the one fold of a run's events. `apply(rows)` folds stored rows in seq order and may
be called again with only the newer ones, so a live page reads each event once; `apply_event`
folds the typed events as the engine emits them, to the same view. The run page (live, a shared
link, a replay that applies the events whose time has come), the stored fold of an ended run
(app.stored_view), the HTML export and the command line's live panes all use it. Rows are read
back into typed events (reasoning.events.event_from_dict); one this version cannot read is kept
in `RunView.skipped` and said on the page, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reasoning.budget import Spend
from reasoning.entries import entry_labels
from reasoning.events import (
    CallState,
    Event,
    FinalAnswer,
    Note,
    PartialAnswer,
    SpendUpdate,
    TextDelta,
    ThinkingDelta,
    event_from_dict,
)
from reasoning.wording import plural

# How a strategy ended, by FinalAnswer.stop (the recorder's mapping, so a pane and the stored row agree);
# statuses that come from the run row are used as is.
from storage.recorder import STRATEGY_STATUS as STOP_STATUS

if TYPE_CHECKING:
    from storage.queries import RunInfo

# Where a model call stands (reasoning.call_states), least advanced first: a pane shows the most
# advanced state among its calls in flight ("generating" while one call generates and another queues).
CALL_STATES = ("queued", "loading model", "reading prompt", "generating")
log = logging.getLogger(__name__)


class EventRow(Protocol):
    """What the fold reads of a stored event (storage.queries.StoredEvent has these), read-only."""

    @property
    def seq(self) -> int: ...
    @property
    def strategy_index(self) -> int | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def total_tokens(self) -> int | None: ...
    @property
    def usd(self) -> float | None: ...


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
    stop_detail: str | None = None  # the cap that bound, on a budget stop ("stopped: 90 s seconds cap")
    error: str | None = None
    events: int = 0
    calls: dict[int, str] = field(default_factory=dict)  # calls in flight (CallState.call) -> state
    call_since: dict[int, float] = field(default_factory=dict)  # run seconds each call entered its state
    state_since: float | None = None  # run seconds at which the shown call state began
    load_seconds: float | None = None  # how long `loading model` took, once it ended
    # Text and thinking streamed since the last spend report: counted (≈) until a report covers it.
    unreported: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.stop is not None

    @property
    def newest_label(self) -> str | None:
        if not self.streams:
            return None
        return max(self.streams.values(), key=lambda s: s.last_seq).label

    @property
    def call_state(self) -> str | None:
        """The most advanced state among the calls in flight that report one (the local model)."""
        states = [s for s in self.calls.values() if s in CALL_STATES]
        return max(states, key=CALL_STATES.index) if states else None

    def status(self, stored_status: str | None = None, run_active: bool = True) -> str:
        """done / error / cancelled once ended; the stored status (interrupted...) of a strategy that
        never sent its final answer and whose run is no longer active; while it runs, what its calls
        are doing: queued / loading model / reading prompt / generating (as the model reports them;
        a model that reports nothing is `generating` while its text arrives), else running."""
        if self.stop is not None:
            return STOP_STATUS.get(self.stop, self.stop)
        if not run_active and stored_status:
            return stored_status
        if not run_active:
            return "running"
        state = self.call_state
        if state is not None:
            return state
        return "generating" if self.unreported else "running"


@dataclass(frozen=True)
class SkippedEvent:
    """A stored event the fold could not read (a kind this version does not know, a damaged
    payload): counted and shown, never a crash, so a run written by a newer version still opens."""

    seq: int
    strategy_index: int | None
    kind: str
    reason: str


@dataclass
class RunView:
    """Every pane of one run, plus the spend samples behind the spend-over-time chart.

    The one fold of a run's events: the run page, a shared link, a replay, the HTML export and the
    command line's live panes all fold through `apply` (stored rows) or `apply_event` (typed events
    as the engine emits them); both give the same view."""

    panes: list[PaneView]
    last_seq: int = 0
    last_elapsed: float = 0.0
    spend_samples: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[SkippedEvent] = field(default_factory=list)  # stored events the fold could not read

    @classmethod
    def for_run(cls, info: RunInfo) -> RunView:
        """One pane per entry of a stored run (storage.queries.RunInfo), named by its entry label."""
        return cls.for_strategies([(s.strategy, s.knobs or {}) for s in info.strategies],
                                  entry_labels([(s.strategy, s.budget) for s in info.strategies], info.budget))

    @classmethod
    def for_strategies(cls, strategies: Sequence[tuple[str, Mapping[str, Any]]],
                       labels: Sequence[str] | None = None) -> RunView:
        """One pane per entry; `labels` (entry_labels) name them in the charts."""
        names = labels if labels is not None else [name for name, _ in strategies]
        return cls([PaneView(i, name, dict(knobs), names[i]) for i, (name, knobs) in enumerate(strategies)])

    def apply(self, events: Iterable[EventRow]) -> int:
        """Fold stored events (any seq at or below the last one applied is skipped); returns how many
        were new and folded into a pane. A row this version cannot read is kept in `skipped`."""
        applied = 0
        for row in events:
            if row.seq <= self.last_seq:
                continue
            self.last_seq = row.seq
            self.last_elapsed = max(self.last_elapsed, float(row.elapsed))
            index = row.strategy_index
            if index is None or not 0 <= index < len(self.panes):
                continue  # run-level events have no pane
            try:
                event = stored_event(row)
            except (ValueError, TypeError) as exc:
                self._skip(row.seq, index, row.kind, exc)
                continue
            self._fold(index, event, row.seq, float(row.elapsed), row.total_tokens, row.usd)
            applied += 1
        return applied

    def apply_event(self, strategy_index: int, event: Event, elapsed: float) -> None:
        """Fold one event as the engine emits it (reasoning.run), `elapsed` seconds into the run: the
        next seq, and the spend columns the recorder would store with it."""
        self.last_seq += 1
        self.last_elapsed = max(self.last_elapsed, elapsed)
        if not 0 <= strategy_index < len(self.panes):
            return
        spent = event.spent if isinstance(event, SpendUpdate | FinalAnswer) else None
        self._fold(strategy_index, event, self.last_seq, elapsed,
                   None if spent is None else spent.total_tokens, None if spent is None else spent.usd)

    def _fold(self, index: int, event: Event, seq: int, elapsed: float, total_tokens: int | None,
              usd: float | None) -> None:
        pane = self.panes[index]
        _fold(pane, event, seq, elapsed)
        if total_tokens is not None and isinstance(event, SpendUpdate | FinalAnswer):
            self.spend_samples.append({"strategy_index": index, "strategy": pane.label or pane.strategy,
                                       "seconds": elapsed, "tokens": int(total_tokens), "usd": float(usd or 0.0)})

    def _skip(self, seq: int, index: int | None, kind: str, exc: Exception) -> None:
        if not any(s.kind == kind for s in self.skipped):  # one log line per kind, not one per row
            log.warning("event %s (kind %r) not shown: %s", seq, kind, exc)
        self.skipped.append(SkippedEvent(seq, index, str(kind), str(exc)))

    def skipped_text(self) -> str | None:
        """One line on the events the fold could not read; None when it read them all."""
        if not self.skipped:
            return None
        kinds = sorted({s.kind for s in self.skipped})
        return (f"{plural(len(self.skipped), 'event')} not shown: this version cannot read kind "
                + ", ".join(repr(k) for k in kinds) + " (written by a newer version, or damaged)")

    def end_spends(self) -> list[dict[str, Any]]:
        """Where each ended strategy's spending stopped (extends its quality step to the end)."""
        return [{"strategy_index": p.index, "strategy": p.label or p.strategy, "tokens": p.spent.total_tokens,
                 "usd": p.spent.usd} for p in self.panes if p.ended]

    def labels(self) -> dict[int, str]:
        """Each pane's entry label by strategy index (the charts' series names)."""
        return {p.index: p.label or p.strategy for p in self.panes}


def stored_event(row: EventRow) -> Event:
    """The typed event a stored row holds (reasoning.events.event_from_dict)."""
    return event_from_dict(row.payload or {}, row.kind, row.label)


def _fold(pane: PaneView, event: Event, seq: int, elapsed: float) -> None:
    pane.events += 1
    if isinstance(event, TextDelta | ThinkingDelta):
        label = event.label or ""
        stream = pane.streams.get(label)
        if stream is None:
            stream = pane.streams[label] = StreamView(label, first_seq=seq)
        if isinstance(event, TextDelta):
            stream.text += event.text
        else:
            stream.thinking += event.text
        stream.last_seq = seq
        if pane.stop is None:
            pane.unreported.append(event.text)
        return
    if isinstance(event, Note):
        pane.notes.append(NoteView(event.label, event.text, event.data, seq))
        return
    if isinstance(event, SpendUpdate | FinalAnswer):
        # A spend report (the engine sends one at least every second while a call streams, and
        # one when it settles) covers the text streamed so far: nothing left to count with ≈.
        pane.spent = event.spent
        pane.unreported.clear()
    elif event.spent.total_tokens >= pane.spent.total_tokens:
        # Answers and call states carry the settled spend: newer seconds, never fewer tokens than a
        # provisional report already showed.
        pane.spent = event.spent
    if isinstance(event, CallState):
        _fold_state(pane, event, elapsed)
    elif isinstance(event, PartialAnswer):
        pane.best_answer = event.answer
        pane.confidence = event.confidence
        pane.best_seq = seq
    elif isinstance(event, FinalAnswer):
        pane.stop = event.stop or "done"
        pane.stop_detail = event.stop_detail
        pane.final_answer = event.answer
        pane.error = event.error
        pane.calls.clear()
        if pane.final_answer and pane.final_answer != pane.best_answer:
            pane.best_answer, pane.confidence, pane.best_seq = pane.final_answer, None, None


def _fold_state(pane: PaneView, event: CallState, elapsed: float) -> None:
    """A call's new state (reasoning.events.CallState): `ended` takes it out of the pane's calls."""
    before = pane.call_state
    call, state = event.call, event.state
    if not isinstance(call, int) or not isinstance(state, str):
        return
    if pane.calls.get(call) == "loading model" and state != "loading model":
        pane.load_seconds = max(0.0, elapsed - pane.call_since.get(call, elapsed))
    if state in CALL_STATES:
        if pane.calls.get(call) != state:
            pane.call_since[call] = elapsed
        pane.calls[call] = state
    else:
        pane.calls.pop(call, None)
        pane.call_since.pop(call, None)
    if pane.call_state != before:
        pane.state_since = elapsed if pane.call_state is not None else None
