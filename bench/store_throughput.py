"""Run-store throughput: events written per second through the runner's writer path, and the time
to tail the newest events of a run with 100k events.

    .venv/bin/python bench/store_throughput.py                     # a temporary SQLite file
    .venv/bin/python bench/store_throughput.py --db postgresql+psycopg://user@127.0.0.1/bench

Each figure is measured several times; the table shows the median and the spread (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from reasoning.budget import Budget, Spend  # noqa: E402
from reasoning.events import Note, SpendUpdate, TextDelta  # noqa: E402
from reasoning.models.fake import FakeModel  # noqa: E402
from storage import RunSpec, events_since, forget_store, get_run, get_runner, last_seq, open_store  # noqa: E402
from storage.ids import new_run_id  # noqa: E402
from storage.recorder import RunRecorder  # noqa: E402
from storage.store import Store  # noqa: E402
from storage.tables import Run, RunStrategy  # noqa: E402
from storage.writer import BackgroundWriter  # noqa: E402


def new_run(store: Store, strategies: int = 1) -> str:
    run_id = new_run_id()
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(insert(Run).values(id=run_id, created=now, problem="bench", model="fake:bench", model_options={},
                                        budget={}, status="running"))
        conn.execute(insert(RunStrategy), [{"run_id": run_id, "strategy_index": i, "strategy": "bench", "knobs": {},
                                            "status": "running"} for i in range(strategies)])
    return run_id


async def record(store: Store, writer: BackgroundWriter, run_id: str, count: int, make: Callable[[int], object],
                 yield_every: int = 50) -> int:
    """Feed `count` events to a RunRecorder as fast as the loop allows; returns rows written."""
    recorder = RunRecorder(store, writer, run_id, reference=None)
    for i in range(count):
        recorder.add(i % 4, make(i))  # type: ignore[arg-type]
        if i % yield_every == 0:
            await asyncio.sleep(0)  # let flushes start, as a streaming run would
    await recorder.close(status="done")
    return recorder.rows_written


def rows_per_second(store: Store, writer: BackgroundWriter, count: int) -> tuple[float, int]:
    """Events that each become a row (spend updates and notes: never coalesced)."""
    run_id = new_run(store, strategies=4)

    def make(i: int) -> object:
        return SpendUpdate(Spend(input_tokens=i, output_tokens=i)) if i % 2 else Note("bench", f"note {i}", {"i": i})

    start = time.perf_counter()
    rows = asyncio.run(record(store, writer, run_id, count, make))
    return rows / (time.perf_counter() - start), rows


def deltas_per_second(store: Store, writer: BackgroundWriter, count: int) -> tuple[float, int]:
    """Text deltas (coalesced): how many a run can stream before the store holds it back."""
    run_id = new_run(store, strategies=4)
    start = time.perf_counter()
    rows = asyncio.run(record(store, writer, run_id, count, lambda i: TextDelta("answer", f"tok{i} ")))
    return count / (time.perf_counter() - start), rows


def runner_events_per_second(store: Store, tokens: int) -> tuple[float, int]:
    """End to end: a fake model streaming with no delay, 4 strategies, through the runner."""
    runner = get_runner(store)
    model = FakeModel("tok " * tokens + "Answer: 1")
    start = time.perf_counter()
    run_id = runner.submit(RunSpec("bench", model, [("chain_of_thought", {"max_tokens": tokens + 50})] * 4,
                                   Budget()))
    runner.wait(run_id, 600)
    elapsed = time.perf_counter() - start
    info = get_run(run_id, store=store)
    return 4 * (tokens + 1) / elapsed, info.event_count


def fill(store: Store, writer: BackgroundWriter, count: int) -> str:
    run_id = new_run(store, strategies=4)
    asyncio.run(record(store, writer, run_id, count,
                       lambda i: Note("fill", f"event {i}", {"i": i}), yield_every=2000))
    return run_id


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def row(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    scaled = [v * scale for v in values]
    return f"| {name} | {statistics.median(scaled):,.2f} {unit} | {min(scaled):,.2f} - {max(scaled):,.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--events", type=int, default=100_000, help="events in the run that is tailed")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="budget-arena-bench-")
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    store = open_store(url)
    writer = BackgroundWriter()
    print(f"store: {store.display_url}")

    rows = [rows_per_second(store, writer, 20_000) for _ in range(args.repeats)]
    deltas = [deltas_per_second(store, writer, 200_000) for _ in range(args.repeats)]
    e2e = [runner_events_per_second(store, 5_000) for _ in range(args.repeats)]

    start = time.perf_counter()
    big = fill(store, writer, args.events)
    fill_seconds = time.perf_counter() - start
    newest = last_seq(big, store=store)
    assert newest == args.events, (newest, args.events)
    tail_50 = timed(lambda: events_since(big, newest - 50, store=store), args.repeats * 4)
    poll_empty = timed(lambda: events_since(big, newest, store=store), args.repeats * 4)
    get_run_times = timed(lambda: get_run(big, store=store), args.repeats * 4)
    full = timed(lambda: events_since(big, 0, store=store), max(2, args.repeats // 2))

    print()
    print(f"| figure ({args.repeats} repeats) | median | spread (min - max) |")
    print("|---|---|---|")
    print(row("event rows written per second (writer path, each event a row)", [r for r, _ in rows], "rows/s"))
    print(row("text deltas absorbed per second (coalesced)", [d for d, _ in deltas], "deltas/s"))
    print(row("  rows those 200k deltas became", [float(n) for _, n in deltas], "rows"))
    print(row("fake-model tokens streamed per second, 4 strategies, runner end to end", [r for r, _ in e2e], "tokens/s"))
    print(f"| filling a run with {args.events:,} events | {fill_seconds:,.2f} s | one run |")
    print(row(f"tail: newest 50 of {args.events:,} events (events_since)", tail_50, "ms", 1000))
    print(row("poll with nothing new (events_since at the end)", poll_empty, "ms", 1000))
    print(row("get_run (strategies + event count)", get_run_times, "ms", 1000))
    print(row(f"replay all {args.events:,} events", full, "s"))

    get_runner(store).close()
    writer.stop()
    forget_store(store)
    tmp.cleanup()


if __name__ == "__main__":
    main()
