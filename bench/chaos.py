"""Chaos: a sweep on the fake model under provider faults, failed store writes and kill -9, resumed
until it finishes, then checked cell by cell against a fault-free run of the same seed.

    .venv/bin/python bench/chaos.py                        # 60 s of chaos rounds, seed 0
    .venv/bin/python bench/chaos.py --seconds 300 --seed 7

Each round is a fresh sweep (arithmetic problems x direct, chain_of_thought x two budgets) on a fake
model that answers some problems wrong (so the leaderboard is not trivially perfect). A round starts the
sweep as a child process and, at random points (seeded):
- provider faults: 429s before a call starts (retried by reasoning.provider_pacing) and streams cut mid-way
  (the cell fails; a resume runs it again);
- failed store writes: windows in which the SQLite file may not grow (PRAGMA max_page_count on every
  connection the store hands out: SQLite answers SQLITE_FULL, "database or disk is full", exactly as on
  a full disk). A write still refused after the recorder's retries loses its cell: not done;
- kill -9 of the sweep process at a random moment.
Then it starts the sweep again, until a child finishes it with every cell done. Faults stop after
--faulty-attempts children, so every round ends.

The invariant, checked for every round:
1. every cell a sweep process reported done (its journal, written as the sweep counts the cell) is
   stored `done` under the run id it reported, with all of its events: seq 1..n without a gap, one
   final event per strategy and last, and the same events (text, answers, spend but wall-clock time)
   as the fault-free run of that cell;
2. every cell is stored exactly once (one run per sweep key, all done);
3. the leaderboard equals the fault-free run's.
A violation is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy import select  # noqa: E402

from reasoning.budget import Budget  # noqa: E402
from reasoning.model_protocol import ModelError  # noqa: E402
from reasoning.models.fake import FakeModel  # noqa: E402
from reasoning.sweep import CellOutcome, ResumeState, SweepProgress  # noqa: E402
from reasoning.sweep_plan import Cell, StrategyChoice, SweepPlan  # noqa: E402

STRATEGIES = (StrategyChoice("direct"), StrategyChoice("chain_of_thought"))
BUDGETS = (Budget(total_tokens=300), Budget(total_tokens=600))
_EXPRESSION = re.compile(r"Calculate ([-+*/() 0-9]+)\.")


# ---- the fake model ----------------------------------------------------------------------------


def reply(messages: Sequence[dict], index: int) -> str:
    """Arithmetic answered right, except a problem whose digits sum to a multiple of 3 asked for
    the answer only (direct) gets it off by one: a leaderboard with something to rank. The reply
    depends on the messages alone, so every attempt of a cell streams the same text."""
    text = " ".join(m["content"] for m in messages)
    match = _EXPRESSION.search(text)
    if not match:
        return "Answer: 0"
    value = eval(match.group(1), {"__builtins__": {}})  # digits and operators only (the regex)
    answer = int(value) if float(value).is_integer() else value
    digits = sum(int(c) for c in match.group(1) if c.isdigit())
    if "final answer" in messages[-1]["content"].lower() and digits % 3 == 0 and isinstance(answer, int):
        answer += 1
    return "Let me work this out step by step. " * 4 + f"Answer: {answer}"


class ChaosModel:
    """The fake model with provider faults: a 429 before the first token (the rate limiter retries
    it), or a stream cut after a few tokens (the strategy fails)."""

    def __init__(self, inner: FakeModel, rng: random.Random, *, p_429: float, p_cut: float, journal: Journal):
        self.inner = inner
        self.rng = rng
        self.p_429 = p_429
        self.p_cut = p_cut
        self.journal = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def count_tokens(self, messages: Any) -> int:
        return self.inner.count_tokens(messages)

    async def stream(self, messages: Any, **kwargs: Any) -> AsyncIterator[Any]:
        draw = self.rng.random()
        if draw < self.p_429:
            self.journal.write(kind="fault", fault="provider_429")
            raise ModelError("fake provider: 429 Too Many Requests (chaos)", status=429, retryable=True)
        cut_after = self.rng.randint(1, 12) if draw < self.p_429 + self.p_cut else None
        sent = 0
        async for chunk in self.inner.stream(messages, **kwargs):
            if cut_after is not None and sent >= cut_after:
                self.journal.write(kind="fault", fault="provider_cut")
                raise ModelError("fake provider: stream cut mid-way (chaos)", status=None, retryable=True,
                                 started=True)
            sent += 1
            yield chunk


# ---- failed store writes -----------------------------------------------------------------------


class FullDisk:
    """While `full`, every connection the store hands out may not grow its SQLite file past its
    current size (PRAGMA max_page_count): SQLite refuses such writes with SQLITE_FULL, "database or
    disk is full", as on a full disk. A write that fits in free pages still succeeds, as it would.
    `refused` counts the writes SQLite refused."""

    def __init__(self, store: Any):
        if not store.is_sqlite:
            raise ValueError("FullDisk simulates a full disk for SQLite stores")
        self.full = False
        self.refused = 0
        self.on_refused: Any = None
        sa_event.listen(store.engine, "checkout", self._limit)
        sa_event.listen(store.engine, "handle_error", self._count)

    def _limit(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if self.full:
                (pages,) = cursor.execute("PRAGMA page_count").fetchone()
                cursor.execute(f"PRAGMA max_page_count = {int(pages)}")
            else:
                cursor.execute("PRAGMA max_page_count = 4294967294")  # clamped to SQLite's own maximum
        finally:
            cursor.close()

    def _count(self, context: Any) -> None:
        if "full" in str(context.original_exception).lower():
            self.refused += 1
            if self.on_refused is not None:
                self.on_refused()


# ---- the journal -------------------------------------------------------------------------------


class Journal:
    """JSON lines appended by the sweep processes of a round: cells as the sweep counted them, faults
    as they were injected. One write(2) per line on an O_APPEND file: a kill -9 loses no line that was
    written, and leaves no half line."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, **record: Any) -> None:
        line = (json.dumps({"pid": os.getpid(), "t": round(time.time(), 3), **record}) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class JournalSink:
    """A sweep sink that records each cell's outcome as the sweep counts it: what it *reported*."""

    def __init__(self, inner: Any, journal: Journal):
        self.inner = inner
        self.journal = journal

    def resume_state(self) -> ResumeState:
        state = self.inner.resume_state()
        self.journal.write(kind="resumed", skipped=len(state.done_keys))
        return state

    async def run_cell(self, cell: Cell, model: Any) -> CellOutcome:
        outcome = await self.inner.run_cell(cell, model)
        self.journal.write(kind="cell", key=cell.key, status=outcome.status, run_id=outcome.run_id,
                           error=outcome.error)
        return outcome

    def cancel_running(self) -> None:
        self.inner.cancel_running()

    def finish(self, progress: SweepProgress) -> None:
        self.inner.finish(progress)


# ---- one sweep process -------------------------------------------------------------------------


def write_problems(path: Path, size: int, seed: int) -> Path:
    """`size` arithmetic problems ("Calculate 7 + 3 * 4.") as a JSONL dataset file, from `seed`. A file,
    not the basic_arithmetic generator: each sweep process would spend seconds importing reasoning-gym."""
    rng = random.Random(seed)
    lines = []
    for index in range(size):
        a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
        op = rng.choice("+-*")
        expression = f"{a} {op} {b} + {c}"
        value = eval(expression, {"__builtins__": {}})  # three numbers and two operators, made here
        lines.append(json.dumps({"id": f"p{index}", "question": f"Calculate {expression}.", "answer": str(value)}))
    path.write_text("\n".join(lines) + "\n")
    return path


def plan_for(dataset: Path, round_index: int = 0) -> SweepPlan:
    return SweepPlan(dataset=f"file:{dataset}", strategies=STRATEGIES, budgets=BUDGETS, model="fake",
                     nonce=f"chaos-{round_index}", name=f"chaos round {round_index}")


def child_main(args: argparse.Namespace) -> int:
    """The sweep process: run (or resume) the sweep with faults injected, journal what it reports."""
    import storage.recorder
    from reasoning.provider_pacing import RateLimit
    from storage.store import StoreError, open_store
    from storage.sweeps import prepare_sweep

    rng = random.Random(args.seed)
    journal = Journal(Path(args.journal))
    journal.write(kind="started")
    faults = not args.no_faults
    # Retries that give up within a few tenths of a second, so a full-disk window of a second loses cells.
    storage.recorder.RETRY_DELAY = 0.02
    plan = SweepPlan.from_dict(json.loads(args.plan))
    try:
        store = open_store(args.db)
    except StoreError as exc:
        journal.write(kind="sweep_error", error=str(exc))
        return 1
    disk = FullDisk(store)
    disk.on_refused = lambda: journal.write(kind="fault", fault="store_write_refused")
    stop = threading.Event()

    def windows() -> None:  # full-disk windows at random moments, of random length
        while not stop.wait(rng.expovariate(1 / args.full_gap)):
            disk.full = True
            length = rng.uniform(0.1, args.full_max)
            journal.write(kind="fault", fault="store_full_window", seconds=round(length, 3))
            stop.wait(length)
            disk.full = False

    model = FakeModel(replies=reply, token_delay=args.token_delay, name="fake:chaos")
    chaos_model = ChaosModel(model, random.Random(rng.random()), p_429=args.p_429 if faults else 0.0,
                             p_cut=args.p_cut if faults else 0.0, journal=journal)
    prepared = prepare_sweep(plan, store=store, model=chaos_model, concurrency=args.concurrency,  # type: ignore[arg-type]
                             rate_limit=RateLimit(max_retries=8, base_delay=0.01, max_delay=0.05))
    prepared.sweep.sink = JournalSink(prepared.sweep.sink, journal)  # type: ignore[assignment]
    if faults and not args.no_store_faults:
        threading.Thread(target=windows, daemon=True).start()
    journal.write(kind="sweeping")
    try:
        progress = prepared.execute().result()
    except Exception as exc:  # the store refused even to start (claiming or resuming the sweep)
        journal.write(kind="sweep_error", error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        stop.set()
        disk.full = False
    journal.write(kind="progress", status=progress.status, done=progress.done, skipped=progress.skipped,
                  failed=progress.failed, lost=progress.lost, error=progress.error)
    return 0 if progress.status == "done" and not progress.failed and not progress.lost else 1


# ---- the driver --------------------------------------------------------------------------------


@dataclass
class RoundReport:
    round_index: int
    cells: int
    attempts: int = 0
    kills: int = 0  # kill -9 while the sweep was running
    faults: Counter = field(default_factory=Counter)
    lost_cells: int = 0  # reported lost by a sweep (not done): each redone later
    failed_cells: int = 0  # failed by a cut stream: redone later
    reported_done: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Settings:
    size: int = 8
    seed: int = 0
    concurrency: int = 4
    token_delay: float = 0.01  # a cell streams for a few tenths of a second: kills and windows land mid-cell
    p_429: float = 0.1  # per call
    p_cut: float = 0.05  # per call
    full_gap: float = 0.8  # mean seconds between full-disk windows
    full_max: float = 1.5  # longest window (the recorder's retries give up after ~0.3 s here)
    kill_probability: float = 0.5  # of each faulty attempt after the first (which is always killed)
    faulty_attempts: int = 8  # after these, attempts run without faults so the round ends
    max_attempts: int = 20


def run_round(directory: Path, round_index: int, settings: Settings, rng: random.Random) -> RoundReport:
    """One sweep under chaos, resumed until it finishes, then checked against a fault-free run."""
    from storage.store import forget_store, open_store

    problems = write_problems(directory / f"problems-{round_index}.jsonl", settings.size, settings.seed + round_index)
    plan = plan_for(problems, round_index)
    db = f"sqlite:///{directory / f'chaos-{round_index}.db'}"
    journal_path = directory / f"journal-{round_index}.jsonl"
    report = RoundReport(round_index, cells=len(plan.strategies) * len(plan.budgets) * settings.size)
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    finished = False
    while not finished and report.attempts < settings.max_attempts:
        faulty = report.attempts < settings.faulty_attempts
        report.attempts += 1
        command = [sys.executable, str(Path(__file__).resolve()), "child", "--db", db, "--plan",
                   json.dumps(plan.as_dict()), "--journal", str(journal_path), "--seed", str(rng.randrange(2**31)),
                   "--concurrency", str(settings.concurrency), "--token-delay", str(settings.token_delay),
                   "--p-429", str(settings.p_429), "--p-cut", str(settings.p_cut),
                   "--full-gap", str(settings.full_gap), "--full-max", str(settings.full_max)]
        if not faulty:
            command.append("--no-faults")
        # The first attempt is always killed once some cells are done, before a full disk could end it
        # early: a kill mid-sweep every round. Later ones are killed at random, full-disk windows and all.
        kill_after_cells = None
        if report.attempts == 1:
            command.append("--no-store-faults")
            kill_after_cells = rng.randint(1, max(1, report.cells // 2))
        elif faulty and rng.random() < settings.kill_probability:
            kill_after_cells = rng.randint(1, max(1, report.cells // 2))
        seen_before = len(Journal.read(journal_path))
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        killed = False
        try:
            while child.poll() is None:
                if kill_after_cells is not None:
                    records = Journal.read(journal_path)[seen_before:]
                    if sum(r["kind"] == "cell" for r in records) >= kill_after_cells:
                        time.sleep(rng.uniform(0.0, 0.3))  # land anywhere: mid-cell, mid-write, between cells
                        if child.poll() is None:
                            os.kill(child.pid, signal.SIGKILL)
                            killed = True
                            ended = any(r["kind"] == "progress" for r in Journal.read(journal_path)[seen_before:])
                            report.kills += not ended  # a kill after the sweep ended is no kill mid-sweep
                        break
                time.sleep(0.02)
            child.wait(120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        stderr = child.stderr.read() if child.stderr else ""
        if "Traceback" in stderr:
            report.violations.append(f"attempt {report.attempts}: a traceback in the sweep process: {stderr[-2000:]}")
        records = Journal.read(journal_path)[seen_before:]
        finished = (not killed and child.returncode == 0
                    and any(r["kind"] == "progress" and r["status"] == "done" for r in records))
    if not finished:
        report.violations.append(f"the sweep did not finish in {report.attempts} attempts")

    records = Journal.read(journal_path)
    for record in records:
        if record["kind"] == "fault":
            report.faults[record["fault"]] += 1
        elif record["kind"] == "cell":
            report.reported_done += record["status"] == "done"
            report.lost_cells += record["status"] == "lost"
            report.failed_cells += record["status"] == "error"
    report.faults["kill_9"] = report.kills

    store = open_store(db)
    reference = fault_free(directory, plan, settings)
    try:
        report.violations += check_invariant(store, plan, records, reference)
    finally:
        forget_store(store)
        forget_store(reference)
    report.seconds = time.monotonic() - started
    return report


def fault_free(directory: Path, plan: SweepPlan, settings: Settings) -> Any:
    """The same sweep with no fault, in this process: the reference each cell is compared with."""
    from storage.runner import get_runner
    from storage.store import open_store
    from storage.sweeps import prepare_sweep

    store = open_store(f"sqlite:///{directory / f'reference-{plan.nonce}.db'}")
    model = FakeModel(replies=reply, token_delay=0.0, name="fake:chaos")
    progress = prepare_sweep(plan, store=store, model=model, concurrency=16).execute().result()
    assert progress.status == "done" and progress.completed == progress.total and not progress.failed, progress
    get_runner(store).close()
    return store


def check_invariant(store: Any, plan: SweepPlan, records: list[dict[str, Any]], reference: Any) -> list[str]:
    """Every violation of the no-loss promise, one line each (empty: it held)."""
    from storage.tables import Run

    problems: list[str] = []
    with store.read() as conn:
        runs = conn.execute(select(Run.id, Run.sweep_key, Run.status).where(Run.sweep_id == plan.sweep_id)).all()
    with reference.read() as conn:
        ref_runs = {key: run_id for run_id, key in conn.execute(
            select(Run.id, Run.sweep_key).where(Run.sweep_id == plan.sweep_id)).all()}
    by_key = Counter(key for _, key, _ in runs)
    twice = [key for key, n in by_key.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} cells stored twice: {twice[:3]}")
    if set(by_key) != set(ref_runs):
        problems.append(f"{len(set(ref_runs) - set(by_key))} cells missing, {len(set(by_key) - set(ref_runs))} "
                        "unknown cells stored")
    not_done = [key for _, key, status in runs if status != "done"]
    if not_done:
        problems.append(f"{len(not_done)} cells stored but not done after the sweep finished")
    stored = {run_id: (key, status) for run_id, key, status in runs}
    for record in records:
        if record["kind"] != "cell" or record["status"] != "done":
            continue
        key, run_id = record["key"], record["run_id"]
        if stored.get(run_id) != (key, "done"):
            problems.append(f"cell {key} was reported done as run {run_id}, which is stored as {stored.get(run_id)}")
            continue
        mine, theirs = run_events(store, run_id), run_events(reference, ref_runs[key])
        gaps = events_problem(mine)
        if gaps:
            problems.append(f"cell {key} (run {run_id}): {gaps}")
        elif normalise(mine) != normalise(theirs):
            problems.append(f"cell {key} (run {run_id}): its events differ from the fault-free run's")
    mine_board, ref_board = leaderboard(store, plan), leaderboard(reference, plan)
    if mine_board != ref_board:
        problems.append(f"the leaderboard differs from the fault-free run's:\n{mine_board}\nvs\n{ref_board}")
    return problems


def run_events(store: Any, run_id: str) -> list[Any]:
    from storage.queries import events_since

    return events_since(run_id, 0, store=store)


def events_problem(events: list[Any]) -> str | None:
    """A gap in the seqs, or a strategy without exactly one final event, last."""
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        return f"its events are not seq 1..{len(seqs)} without a gap"
    by_strategy: dict[int, list[str]] = {}
    for e in events:
        by_strategy.setdefault(e.strategy_index, []).append(e.kind)
    for index, kinds in by_strategy.items():
        if kinds.count("final") != 1 or kinds[-1] != "final":
            return f"strategy {index} does not end with exactly one final event"
    return None


def normalise(events: list[Any]) -> list[dict[str, Any]]:
    """Events as dicts, consecutive deltas of one kind and label merged (how text is batched depends
    on timing), wall-clock seconds dropped: what must be the same in any run of the cell."""
    out: list[dict[str, Any]] = []
    for e in events:
        data = {"strategy": e.strategy_index, "kind": e.kind, **e.payload}
        if isinstance(data.get("spent"), dict):
            data["spent"] = {k: v for k, v in data["spent"].items() if k != "seconds"}
        last = out[-1] if out else None
        if (last is not None and e.kind in ("text", "thinking")
                and (last["kind"], last.get("label"), last["strategy"]) == (e.kind, data.get("label"), e.strategy_index)):
            last["text"] += data["text"]
        else:
            out.append(data)
    return out


def leaderboard(store: Any, plan: SweepPlan) -> str:
    """The sweep's leaderboard as text (the CLI's JSON records): rows in a fixed order first, since
    the bootstrap's resamples follow row order and the runs were recorded in another order."""
    from app.leaderboard_view import compute_leaderboard
    from storage.leaderboard_reads import strategy_results

    results = strategy_results(sweep_id=plan.sweep_id, store=store)
    results = results.sort_values(["item_id", "strategy", "budget_total_tokens"]).reset_index(drop=True)
    board = compute_leaderboard(results, "total_tokens", n_boot=200).board
    return board.drop(columns=[c for c in board.columns if "second" in c.lower()]).to_json(orient="records")


# ---- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("child", help="one sweep process (started by the driver)")
    child.add_argument("--db", required=True)
    child.add_argument("--plan", required=True)
    child.add_argument("--journal", required=True)
    child.add_argument("--seed", type=int, default=0)
    child.add_argument("--concurrency", type=int, default=4)
    child.add_argument("--token-delay", type=float, default=0.01)
    child.add_argument("--p-429", type=float, default=0.1)
    child.add_argument("--p-cut", type=float, default=0.05)
    child.add_argument("--full-gap", type=float, default=0.8)
    child.add_argument("--full-max", type=float, default=1.5)
    child.add_argument("--no-faults", action="store_true")
    child.add_argument("--no-store-faults", action="store_true")
    parser.add_argument("--seconds", type=float, default=60.0, help="run rounds until this much time has passed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=8, help="problems per sweep (x2 strategies x2 budgets cells)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and journals in this folder")
    args = parser.parse_args(argv)
    if args.command == "child":
        return child_main(args)

    settings = Settings(size=args.size, seed=args.seed)
    rng = random.Random(args.seed)
    directory = args.keep or Path(tempfile.mkdtemp(prefix="budget-arena-chaos-"))
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.seconds
    reports: list[RoundReport] = []
    while time.monotonic() < deadline or not reports:
        report = run_round(directory, len(reports), settings, rng)
        reports.append(report)
        print(f"round {report.round_index}: {report.cells} cells, {report.attempts} sweep processes, "
              f"faults {dict(report.faults)}, {report.reported_done} cells reported done, "
              f"{report.lost_cells} lost and {report.failed_cells} failed (all redone), "
              f"{'OK' if not report.violations else 'VIOLATED'} in {report.seconds:.1f} s", flush=True)
        for violation in report.violations:
            print("  " + violation, flush=True)
    totals: Counter = Counter()
    for report in reports:
        totals.update(report.faults)
    violated = sum(bool(r.violations) for r in reports)
    print(f"\n{len(reports)} rounds, {sum(r.cells for r in reports)} cells, "
          f"{sum(r.attempts for r in reports)} sweep processes; faults injected: "
          + ", ".join(f"{name} {count}" for name, count in sorted(totals.items()))
          + f"; cells lost (not stored, reported not done, redone): {sum(r.lost_cells for r in reports)}; "
          f"rounds with a violation: {violated}")
    return 1 if violated else 0


if __name__ == "__main__":
    raise SystemExit(main())
