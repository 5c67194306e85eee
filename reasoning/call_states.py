"""Where a model call stands, told by the model to whoever runs the strategy that made it.

A model that shares one machine between strategies (the local model) reports each call's state
and the seconds it spent serving it; run() installs a monitor for its strategy (a context variable,
so every call the strategy makes, in parallel tasks or worker threads, finds it) that turns them
into CallState events and into the strategy's seconds-cap clock. Models that report nothing
(hosted APIs) are served as soon as they are called: their calls count wall time.

A call's states, in order: `queued` (waiting for the model: every slot busy, or the cache full),
`loading model` (the weights are being read), `reading prompt` (prompt processing), `generating`
(the first token was sampled), `ended`. `queued` and `loading model` appear only when they happen.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol

CallStateName = Literal["queued", "loading model", "reading prompt", "generating", "ended"]
CALL_STATES: tuple[CallStateName, ...] = ("queued", "loading model", "reading prompt", "generating", "ended")


class CallMonitor(Protocol):
    """Told about the calls of one strategy run, always on its event loop's thread."""

    def begin(self, call: int) -> None:
        """A metered call was submitted: from now until end(), only served() advances the clock."""

    def state(self, call: int, state: CallStateName) -> None: ...

    def served(self, call: int, seconds: float) -> None:
        """The model spent this many seconds on the call (its share of a batched step)."""

    def end(self, call: int) -> None: ...


_CURRENT: ContextVar[CallMonitor | None] = ContextVar("call_monitor", default=None)
_IDS = itertools.count(1)


def current_monitor() -> CallMonitor | None:
    return _CURRENT.get()


def new_call_id() -> int:
    """A process-wide unique id for one model call (parallel calls of a strategy tell apart)."""
    return next(_IDS)


@contextmanager
def monitoring(monitor: CallMonitor) -> Iterator[None]:
    token = _CURRENT.set(monitor)
    try:
        yield
    finally:
        _CURRENT.reset(token)
