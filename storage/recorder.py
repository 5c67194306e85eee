"""RunRecorder: buffers one run's events and appends them to the store in batches.

Text and thinking deltas are coalesced per (strategy, kind, label): a run writes at most one
batch every MIN_GAP seconds, and no text waits longer than TEXT_DELAY. Spend updates, partial and
final answers and notes ask for a prompt write. Each batch is one transaction: its event rows, the
curve points of its partial answers, the strategies' running totals, and the run's heartbeat.

A strategy's later events never overtake its earlier ones: an event that is not a delta closes
that strategy's open deltas, so text streamed after it becomes a new row with a larger seq.

Nothing is reported done unless it is stored: a batch that cannot be written (after retries, for
faults that can pass) makes the run fail. Later batches are not written (the run would have a
hole), the run is marked `error` if the store still takes that, and `failure` says why: the
runner raises it as RunNotStored instead of returning the run's answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import InterfaceError, OperationalError

from reasoning import answers
from reasoning.budget import Spend
from reasoning.events import Event, FinalAnswer, Note, PartialAnswer, TextDelta, ThinkingDelta, event_to_dict
from storage.recorder_batch import Batch, EventRecord, spend_columns
from storage.store import Store, StoreError, store_error
from storage.tables import ACTIVE_STATUSES, CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow
from storage.writer import BackgroundWriter

log = logging.getLogger(__name__)

TEXT_DELAY = 0.2  # longest a text/thinking delta waits before it is written (seconds)
MIN_GAP = 0.1  # shortest time between two writes of one run: at most 10 writes a second
QUIET_GAP = 1.0  # a run nobody watches live (a sweep cell): one write a second, none before its first second
RETRY_DELAY = 0.5  # first wait before retrying a failed write; doubles each attempt
MAX_ATTEMPTS = 5
DELTA_KINDS = frozenset({"text", "thinking"})
ENDING_COLUMNS = frozenset({"status", "error", "finished"})
STRATEGY_STATUS = {"done": "done", "budget": "done", "error": "error", "cancelled": "cancelled"}


class RunRecorder:
    """Create inside the runner's event loop; `add` from that loop only."""

    def __init__(
        self,
        store: Store,
        writer: BackgroundWriter,
        run_id: str,
        *,
        reference: str | None,
        started_wall: float | None = None,
        text_delay: float = TEXT_DELAY,
        min_gap: float = MIN_GAP,
        checker: Callable[[str | None], bool | None] | None = None,
        quiet: bool = False,
        pending_rows: tuple[dict[str, Any], list[dict[str, Any]]] | None = None,
    ):
        self.store = store
        self.checker = checker  # judges answers instead of `answers.judge(answer, reference)` (a dataset's scorer)
        self.run_id = run_id
        self.reference = reference
        self.text_delay = text_delay
        self.min_gap = min_gap
        self.finals: dict[int, FinalAnswer] = {}  # how each strategy ended
        self.rows_written = 0
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self._t0 = time.monotonic()
        self._wall0 = time.time() if started_wall is None else started_wall
        self._seq = 0
        self._batch = Batch()
        self._open: dict[tuple[int, str, str], EventRecord] = {}
        self._spend: dict[int, Spend] = {}
        self._first_pending: float | None = None
        self._urgent = False
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task | None = None
        # A quiet run waits a whole gap before its first write: a short one is written once, at its end.
        self._last_flush = self._loop.time() if quiet else -math.inf
        # The run's own rows (run, strategies) when the runner left them to the first batch (a quiet run):
        # one transaction instead of two for a short run.
        self._pending_rows = pending_rows
        self._closed = False
        self._verdicts: dict[str, bool | None] = {}  # answer -> judged; used on the writer thread
        self.failure: StoreError | None = None  # why a batch was not stored: the run is not done
        self.lost_events = 0  # events not stored because of it
        self._ended_elsewhere = False  # the ending update found the run already ended (marked interrupted)

    # ---- taking events (event loop) ------------------------------------------------------------

    def add(self, strategy_index: int, event: Event) -> None:
        if self._closed:
            raise RuntimeError(f"run {self.run_id}: recorder already closed")
        if isinstance(event, TextDelta | ThinkingDelta):
            key = (strategy_index, event.kind, event.label)
            open_record = self._open.get(key)
            if open_record is not None and open_record.parts is not None:
                open_record.parts.append(event.text)
                return
            self._open[key] = self._record(strategy_index, event, parts=[event.text])
            self._schedule()
            return

        for open_key in [k for k in self._open if k[0] == strategy_index]:
            del self._open[open_key]
        spent = None if isinstance(event, Note) else event.spent
        if spent is not None:
            self._spend[strategy_index] = spent
        record = self._record(strategy_index, event)
        values: dict[str, Any] = {}
        if spent is not None:
            values.update(spend_columns(spent))
        if isinstance(event, PartialAnswer):
            values.update(answer=event.answer, confidence=event.confidence)
            self._batch.partials.append((record.seq, strategy_index, event))
        elif isinstance(event, FinalAnswer):
            self.finals[strategy_index] = event
            self._batch.finals[strategy_index] = event
            values.update(
                status=STRATEGY_STATUS.get(event.stop, "error"),
                answer=event.answer,
                stop_reason=event.stop,
                error=event.error,
                finished=datetime.now(UTC),
                app_version=event.app_version,  # what produced the result (reasoning.provenance)
                fingerprint=event.fingerprint,
            )
        if values:  # a note changes nothing in the strategy's row
            self._batch.strategies.setdefault(strategy_index, {}).update(values)
        self._urgent = True
        self._schedule()

    def set_run(self, **values: Any) -> None:
        """Run columns to write with the next batch (model name, price date, ...)."""
        self._batch.run_values.update(values)
        self._urgent = True
        self._schedule()

    def set_strategy(self, strategy_index: int, **values: Any) -> None:
        self._batch.strategies.setdefault(strategy_index, {}).update(values)
        self._urgent = True
        self._schedule()

    async def close(self, **run_values: Any) -> None:
        """Write everything still buffered, plus these run columns (a final status), and stop."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._batch.run_values.update(run_values)
        await self._write(self._take())
        if self.failure is None and self._ended_elsewhere:
            self.failure = StoreError(f"run {self.run_id} was marked ended by another process before its end was "
                                      "written; its result does not count", kind="ended")
        if self.failure is not None:
            await self._mark_failed()

    def _record(self, strategy_index: int, event: Event, parts: list[str] | None = None) -> EventRecord:
        self._seq += 1
        elapsed = time.monotonic() - self._t0
        if self._first_pending is None:
            self._first_pending = self._loop.time()
        record = EventRecord(
            seq=self._seq,
            strategy_index=strategy_index,
            kind=event.kind,
            label=event.label if isinstance(event, TextDelta | ThinkingDelta | Note) else None,
            payload=event_to_dict(event),
            elapsed=elapsed,
            wall=self._wall0 + elapsed,
            spent=self._spend.get(strategy_index),
            parts=parts,
        )
        self._batch.records.append(record)
        return record

    # ---- flushing ------------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._closed or self._flushing is not None or not self._batch:
            return
        now = self._loop.time()
        first = now if self._first_pending is None else self._first_pending
        deadline = first + self.text_delay
        if self._urgent:
            deadline = min(deadline, max(now, self._last_flush + self.min_gap))
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._closed or self._flushing is not None:
            return
        self._flushing = self._loop.create_task(self._write(self._take()))

    def _take(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        self._open.clear()
        self._first_pending = None
        self._urgent = False
        return batch

    async def _write(self, batch: Batch) -> None:
        try:
            if not batch and self._pending_rows is None:
                return
            if self.failure is not None:  # an earlier batch is lost: this one would leave a hole before it
                self.lost_events += len(batch.records)
                return
            for attempt in range(MAX_ATTEMPTS):
                try:
                    await self._writer.call(self._write_batch, batch)
                    self.rows_written += len(batch.records)
                    return
                except Exception as exc:
                    if attempt == MAX_ATTEMPTS - 1 or not _may_pass(exc):
                        self.failure = store_error(exc, self.store)
                        self.lost_events += len(batch.records)
                        log.error("run %s: %d events not stored after %d attempts: %s",
                                  self.run_id, len(batch.records), attempt + 1, self.failure)
                        return
                    log.warning("run %s: write failed (%s); retrying", self.run_id, exc)
                    await asyncio.sleep(RETRY_DELAY * 2**attempt)
        finally:
            self._last_flush = self._loop.time()
            self._flushing = None
            self._schedule()

    async def _mark_failed(self) -> None:
        """Best effort: end the run as `error` with the reason, so every reader (another process, the
        history) sees it failed. A run whose rows never went in stays absent; if even this write
        fails, the run stays `running` until its process ends and the next open marks it
        interrupted. Strategies still open become `interrupted`, not `error`: the leaderboard must
        not count a store fault as a wrong answer."""
        if self._pending_rows is not None:
            return
        message = self.describe_failure()
        try:
            await self._writer.call(self._write_failed, message)
        except Exception as exc:
            log.error("run %s: could not mark it failed either: %s", self.run_id, store_error(exc, self.store))

    def describe_failure(self) -> str:
        if self.failure is None:
            return ""
        if not self.lost_events:
            return str(self.failure)
        return f"{self.lost_events} events of run {self.run_id} not stored: {self.failure}"

    def _write_failed(self, message: str) -> None:
        now = datetime.now(UTC)
        run, strategy = Run.__table__, RunStrategy.__table__
        with self.store.write() as conn:
            conn.execute(update(run).where(run.c.id == self.run_id, run.c.status.in_(ACTIVE_STATUSES))
                         .values(status="error", error=message, finished=now, updated=now))
            conn.execute(update(strategy).where(strategy.c.run_id == self.run_id,
                                                strategy.c.status.in_(ACTIVE_STATUSES))
                         .values(status="interrupted", finished=now))

    # ---- the transaction (writer thread) -------------------------------------------------------

    def _judge(self, answer: str | None) -> bool | None:
        if answer is None:
            return self._verdict(None)
        if answer not in self._verdicts:
            self._verdicts[answer] = self._verdict(answer)
        return self._verdicts[answer]

    def _verdict(self, answer: str | None) -> bool | None:
        if self.checker is None:
            return answers.judge(answer, self.reference)
        try:
            return self.checker(answer)
        except Exception:  # a checker bug must not lose the run's events
            log.exception("checker failed on %r", answer)
            return None

    def _write_batch(self, batch: Batch) -> None:
        curve = []
        for seq, strategy_index, partial in batch.partials:
            correct = self._judge(partial.answer)
            curve.append({
                "run_id": self.run_id,
                "seq": seq,
                "strategy_index": strategy_index,
                "tokens": partial.spent.total_tokens,
                "output_tokens": partial.spent.output_tokens,
                "usd": partial.spent.usd,
                "seconds": partial.spent.seconds,
                "answer": partial.answer,
                "confidence": partial.confidence,
                "correct": correct,
                "quality": partial.confidence if correct is None else float(correct),
            })
        for strategy_index, final in batch.finals.items():
            batch.strategies.setdefault(strategy_index, {})["correct"] = self._judge(final.answer)

        now = datetime.now(UTC)
        # Core tables, not the ORM entities: the ORM's bulk path costs more than the SQL here.
        run, strategy = Run.__table__, RunStrategy.__table__
        with self.store.write() as conn:
            pending = self._pending_rows
            if pending is not None:  # the run's first write: its rows go in already holding this batch's values
                run_row, strategy_rows = pending
                conn.execute(insert(run).values(**{**run_row, **batch.run_values, "updated": now}))
                for row in strategy_rows:
                    conn.execute(insert(strategy).values(**{**row, **batch.strategies.get(row["strategy_index"], {})}))
            if batch.records:
                conn.execute(insert(EventRow.__table__), [record.row(self.run_id) for record in batch.records])
            if curve:
                conn.execute(insert(CurvePoint.__table__), curve)
            if pending is None:
                self._update_rows(conn, batch, now)
        self._pending_rows = None  # committed

    def _update_rows(self, conn: Any, batch: Batch, now: datetime) -> None:
        """A later batch: the strategies' and the run's new values, as updates."""
        run, strategy = Run.__table__, RunStrategy.__table__
        for strategy_index, values in batch.strategies.items():
            if not values:
                continue
            conn.execute(
                update(strategy)
                .where(strategy.c.run_id == self.run_id, strategy.c.strategy_index == strategy_index)
                .values(**values)
            )
        values = {k: v for k, v in batch.run_values.items() if k not in ENDING_COLUMNS}
        conn.execute(update(run).where(run.c.id == self.run_id).values(updated=now, **values))
        ending = {k: v for k, v in batch.run_values.items() if k in ENDING_COLUMNS}
        if ending:
            # A run someone else already ended (marked interrupted) keeps how it ended.
            result = conn.execute(
                update(run).where(run.c.id == self.run_id, run.c.status.in_(ACTIVE_STATUSES)).values(**ending)
            )
            if result.rowcount == 0:
                self._ended_elsewhere = True


def _may_pass(exc: BaseException) -> bool:
    """Worth retrying: a lock, a dropped connection, a disk that may be freed. A value the store
    refuses (a NUL byte on PostgreSQL, a constraint, a text it cannot encode) is refused again."""
    return isinstance(exc, OperationalError | InterfaceError)
