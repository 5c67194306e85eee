"""A sweep's cells run through the runner and recorded in the store (StoreSweepSink, the
reasoning.sweep.SweepSink over the store), and who owns a sweep while it runs.

Each cell runs as a one-strategy run tagged with the sweep id, its dataset item and its cell key
(unique per sweep). Resuming deletes the attempts that did not finish and keeps their spend in
`sweep.retired_usd`, so the dollar cap still counts it. One process runs a sweep at a time: a
registry holds this process's sweeps, and a sweep row names its owner (host, pid, token); another
process that tries while the owner lives gets SweepBusy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from reasoning.cost_estimate import CostEstimate
from reasoning.datasets import Dataset
from reasoning.model_protocol import Model
from reasoning.prices import ModelPrice
from reasoning.sweep import CellOutcome, ResumeState, SweepProgress
from reasoning.sweep_plan import Cell, SweepPlan
from storage.liveness import is_alive, own_identity
from storage.run_spec import RunSpec
from storage.runner import Runner
from storage.store import RunNotStored, Store, StoreError, store_error
from storage.tables import CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow
from storage.tables import Sweep as SweepRow

log = logging.getLogger(__name__)
OUTCOME_OF_STOP = {"done": "done", "budget": "done", "cancelled": "cancelled"}  # anything else: error


class SweepBusy(RuntimeError):
    """The sweep is being run by another live process (or another thread of this one)."""


_active: set[str] = set()  # sweeps executing in this process
_active_lock = threading.Lock()


# ---- the sink ----------------------------------------------------------------------------------


class StoreSweepSink:
    """reasoning.sweep.SweepSink over the store and the runner."""

    def __init__(self, store: Store, runner: Runner, plan: SweepPlan, dataset: Dataset, *, total_cells: int,
                 estimate: CostEstimate | None = None, max_usd: float | None = None, price: ModelPrice | None = None,
                 secrets: Mapping[str, Any] | None = None):
        self.store = store
        self.secrets = dict(secrets or {})  # the model's keys: redacted from what its cells store, never stored
        self.runner = runner
        self.plan = plan
        self.dataset = dataset
        self.sweep_id = plan.sweep_id
        self.total_cells = total_cells
        self.estimate = estimate
        self.max_usd = max_usd
        self.price = price
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._claimed = False
        self.finish_error: StoreError | None = None  # the sweep's end could not be recorded

    def resume_state(self) -> ResumeState:
        self._claim()
        try:
            return self._resume_state()
        except Exception as exc:
            raise store_error(exc, self.store) from exc

    def _resume_state(self) -> ResumeState:
        with self.store.write() as conn:
            rows = conn.execute(
                select(Run.id, Run.sweep_key, Run.status, func.coalesce(func.sum(RunStrategy.usd), 0.0))
                .outerjoin(RunStrategy, RunStrategy.run_id == Run.id)
                .where(Run.sweep_id == self.sweep_id)
                .group_by(Run.id, Run.sweep_key, Run.status)
            ).all()
            done = {key for _, key, status, _ in rows if status == "done" and key is not None}
            stale = [(run_id, usd) for run_id, key, status, usd in rows if status != "done" or key is None]
            retired = sum(float(usd) for _, usd in stale)
            if stale:
                ids = [run_id for run_id, _ in stale]
                for table in (EventRow, CurvePoint, RunStrategy):
                    conn.execute(delete(table).where(table.run_id.in_(ids)))
                conn.execute(delete(Run).where(Run.id.in_(ids)))
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id)
                             .values(retired_usd=SweepRow.retired_usd + retired))
            spent_done = sum(float(usd) for _, key, status, usd in rows if status == "done" and key is not None)
            retired_before = conn.scalar(select(SweepRow.retired_usd).where(SweepRow.id == self.sweep_id)) or 0.0
        return ResumeState(frozenset(done), spent_done + float(retired_before))

    async def run_cell(self, cell: Cell, model: Model) -> CellOutcome:
        spec = RunSpec(
            problem=cell.item.problem,
            model=model,
            strategies=[(cell.strategy.name, dict(cell.strategy.knobs))],
            budget=cell.budget,
            reference=cell.item.reference,
            model_options=dict(self.plan.model_options),
            secrets=self.secrets,
            dataset=self.dataset.name,
            item_id=cell.item.id,
            sweep_id=self.sweep_id,
            sweep_key=cell.key,
            checker=functools.partial(self.dataset.check, cell.item),
            price=self.price,
            live=False,
        )
        try:
            if asyncio.get_running_loop() is self.runner.loop:
                run_id, task = await self.runner.begin(spec)
                waiting: asyncio.Future = task
            else:  # a sweep driven from another loop or thread
                run_id, future = self.runner.start(spec)
                waiting = asyncio.wrap_future(future)
        except StoreError as exc:
            return CellOutcome("lost", error=str(exc))
        with self._lock:
            self._running.add(run_id)
        try:
            # Shielded: cancelling this wait must not cancel the run itself (it would stop without its
            # final write); cancel_running() stops the run properly instead.
            finals = await asyncio.shield(waiting)
        except RunNotStored as exc:  # its answer may be fine, but it is not stored: not done
            return CellOutcome("lost", usd=exc.usd, error=str(exc), run_id=run_id)
        finally:
            with self._lock:
                self._running.discard(run_id)
        final = finals.get(0)
        if final is None:
            return CellOutcome("error", error="the run ended without a result", run_id=run_id)
        return CellOutcome(OUTCOME_OF_STOP.get(final.stop, "error"), usd=final.spent.usd,
                           total_tokens=final.spent.total_tokens, answer=final.answer, error=final.error,
                           run_id=run_id)

    def cancel_running(self) -> None:
        with self._lock:
            running = list(self._running)
        for run_id in running:
            self.runner.cancel(run_id)

    def finish(self, progress: SweepProgress) -> None:
        if not self._claimed:  # refused (SweepBusy): the sweep's row belongs to whoever runs it
            return
        now = datetime.now(UTC)
        try:
            with self.store.write() as conn:
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id).values(
                    status=progress.status, error=progress.error, updated=now, finished=now))
        except Exception as exc:  # the row stays `running`: read as interrupted once this process ends
            self.finish_error = store_error(exc, self.store)
            log.error("sweep %s: could not record how it ended (%s): %s", self.sweep_id, progress.status,
                      self.finish_error)
        finally:
            self._release()

    # ---- ownership -----------------------------------------------------------------------------

    def _claim(self) -> None:
        """Record the sweep (first run) or take it over (a resume), refusing while another live
        owner runs it."""
        with _active_lock:
            if self.sweep_id in _active:
                raise SweepBusy(f"sweep {self.sweep_id} is already running in this process")
            _active.add(self.sweep_id)
        self._claimed = True
        host, pid, token = own_identity()
        now = datetime.now(UTC)
        estimate = self.estimate
        values: dict[str, Any] = {
            "name": self.plan.name or None, "updated": now, "finished": None, "status": "running", "error": None,
            "plan": self.plan.as_dict(), "dataset": self.plan.dataset, "model": self.plan.model,
            "total_cells": self.total_cells, "max_usd": self.max_usd,
            "estimate_low_usd": None if estimate is None else estimate.low_usd,
            "estimate_high_usd": None if estimate is None else estimate.total,
            "owner_host": host, "owner_pid": pid, "owner_token": token,
        }
        try:
            with self.store.write() as conn:
                row = conn.execute(select(SweepRow.status, SweepRow.owner_host, SweepRow.owner_pid,
                                          SweepRow.owner_token).where(SweepRow.id == self.sweep_id)).first()
                if row is None:
                    conn.execute(insert(SweepRow).values(id=self.sweep_id, created=now, retired_usd=0.0, **values))
                    return
                if row.status == "running" and _owner_alive(row.owner_host, row.owner_pid, row.owner_token):
                    raise SweepBusy(f"sweep {self.sweep_id} is running in process {row.owner_pid} on "
                                    f"{row.owner_host}; wait for it or stop it")
                conn.execute(update(SweepRow).where(SweepRow.id == self.sweep_id).values(**values))
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._claimed:
            with _active_lock:
                _active.discard(self.sweep_id)
            self._claimed = False


def _owner_alive(host: str | None, pid: int | None, token: str | None) -> bool:
    """Another process that may still be running the sweep. This process counts as dead here:
    its own live sweeps are refused earlier, by the in-process registry."""
    own_host, own_pid, _ = own_identity()
    if pid is None:
        return False
    if host != own_host:
        return True  # cannot check another host's process: assume it lives
    return pid != own_pid and is_alive(pid, token)


def _running_somewhere(row: Mapping[str, Any]) -> bool:
    with _active_lock:
        if row["id"] in _active:
            return True
    return _owner_alive(row["owner_host"], row["owner_pid"], row["owner_token"])
