"""The store's ended strategy results kept in memory: as rows (ResultsCache, for whatever needs every
row) or as the store's result summary (SummaryCache: what the Leaderboard page reads). No Streamlit
here; the page keeps one per store with st.cache_resource.

Reading 100k results takes about a second; a sweep adds results every few seconds. So after the
first read, a new version (storage.leaderboard_reads.results_version) is met by reading only the results
that ended between the two versions' newest finish times. The count must then match the new
version's; when it does not (a deletion, a back-dated import, a clock out of step), everything is
read again. Both reads stop at the version's newest finish time, so the frame is exactly the
version's snapshot even while results keep arriving.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from storage.leaderboard_reads import ResultsVersion, results_front, results_version, strategy_results
from storage.result_summary import ResultSummary, current_summary, load_summary, merge_until, state
from storage.store import Store


class ResultsCache:
    """Thread-safe; the frame it returns is shared: callers must not change it."""

    def __init__(self, store: Store, columns: Sequence[str]):
        self.store = store
        self.columns = list(columns)
        self.full_reads = 0  # how often everything was read (the tests watch it)
        self._lock = threading.Lock()
        self._version: ResultsVersion | None = None
        self._frame: pd.DataFrame | None = None

    def results(self, version: ResultsVersion) -> pd.DataFrame:
        """The ended results as of `version` (from results_version, read just before)."""
        with self._lock:
            if self._frame is None or self._version != version:
                frame = self._topped_up(version)
                if frame is None:
                    frame = self._read(ended_until=version.newest)
                    self.full_reads += 1
                self._frame, self._version = frame, version
            return self._frame

    def _topped_up(self, version: ResultsVersion) -> pd.DataFrame | None:
        old, frame = self._version, self._frame
        if old is None or frame is None or old.newest is None or version.newest is None:
            return None
        if version.newest < old.newest:
            return None
        newer = self._read(ended_after=old.newest, ended_until=version.newest)
        if len(frame) + len(newer) != version.count:
            return None
        return pd.concat([frame, newer], ignore_index=True) if len(newer) else frame

    def _read(self, **window: object) -> pd.DataFrame:
        return strategy_results(columns=self.columns, store=self.store, **window)  # type: ignore[arg-type]


class SummaryCache:
    """The store's result summary (storage.result_summary) kept in memory, brought up to date when
    the ended results change: what ended since is merged into the stored summary and the summary
    is read again (a few hundred rows). Thread-safe; the summary it returns is shared: read only.

    `current()` looks at the newest finish time and how many results share it on every call (index
    lookups: a result that ends shows at once) and counts every result (a scan of an index: 0.2 s
    at a million) when that moved or at most COUNT_SECONDS after the last count, which is when a
    deletion or a result imported with an older finish time shows. A process's first call counts
    only when a result ended after the stored summary's newest (else the count follows as above)."""

    COUNT_SECONDS = 10.0

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._summary: ResultSummary | None = None
        self._counted = -math.inf
        self._front: tuple[datetime | None, int] | None = None

    def summary(self, version: ResultsVersion) -> ResultSummary:
        """The summary as of `version` (from results_version, read just before)."""
        with self._lock:
            if self._summary is None or self._summary.version != version:
                self._summary = current_summary(self.store, self._summary, version)
            return self._summary

    def current(self) -> ResultSummary:
        """The summary as of now (see the class)."""
        with self._lock:
            held = self._summary
            front = results_front(store=self.store)
            recent = time.monotonic() - self._counted < self.COUNT_SECONDS
            if held is not None and front == self._front and recent:
                return held
            newest = held.version.newest if held is not None else None
            if held is not None and recent and front[0] is not None and newest is not None and front[0] > newest:
                # Results ended since: merge them without counting every result (the count follows
                # within COUNT_SECONDS, which is when anything it would have caught shows).
                self._summary, self._front = merge_until(self.store, held, front[0]), front
                return self._summary
            if held is None:
                # A process's first read (a server just started): when nothing ended after the stored
                # summary's newest result, read it without counting every result (an index scan that
                # grows with the store: 0.2 - 0.5 s at a million); the count follows within
                # COUNT_SECONDS, as it does for a running process.
                stored = state(self.store)
                if stored is not None and stored.newest is not None and front[0] == stored.newest:
                    self._summary = load_summary(self.store)
                    if self._summary.version == stored:
                        self._counted, self._front = time.monotonic(), front
                        return self._summary
                    held = self._summary
            version = results_version(store=self.store)
            self._counted, self._front = time.monotonic(), front
            if held is None or held.version != version:
                self._summary = current_summary(self.store, held, version)
            return self._summary
