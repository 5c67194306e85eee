"""Load: concurrent sessions starting runs against the fake model through the runner, as the app does.

    .venv/bin/python bench/load.py                          # 20 sessions for 60 s, 3 repeats
    .venv/bin/python bench/load.py --sessions 20 --seconds 60 --repeats 3 --db sqlite:////tmp/load.db

Each session is a thread standing in for a browser session: it checks its request with
reasoning.deployment_limits (as the compare form does), submits a RunSpec for the "fake" model to the
process's runner, waits for the run's first stored event (polling the store every 10 ms, as a
faster live page would) and then follows the run to its end (polling every 0.4 s, as the live page
does), and starts the next run. The figure is the time from submit (the click) to the first event
a reader can see in the store. The first event is streamed text, which the recorder coalesces for
up to TEXT_DELAY (0.2 s) by design, so that is the floor.

Every event a strategy emits is also counted on its way into the recorder; after the load the
store must hold all of them: the same non-text events in the same order, the same text (deltas
are coalesced into fewer rows), contiguous seq numbers, one final answer per strategy.
tests/system/test_load.py runs the same driver for 10 s and asserts no error and no lost event.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reasoning.budget import Budget  # noqa: E402
from reasoning.config import Limits  # noqa: E402
from reasoning.deployment_limits import check_request  # noqa: E402
from reasoning.events import Delta, Event  # noqa: E402
from storage import RunSpec, events_since, forget_store, get_run, get_runner, open_store, replay  # noqa: E402
from storage.recorder import RunRecorder  # noqa: E402
from storage.store import Store  # noqa: E402

PROBLEM = "What is 2 + 2?"
REPLY = "<think>Two and two, counted on.</think>Let me think step by step. 2 + 2 = 4. Answer: 4"
STRATEGIES = [("chain_of_thought", {"max_tokens": 256}),
              ("self_consistency", {"stop_rule": "fixed", "samples": 3, "batch_size": 3, "max_tokens": 256})]
TOKEN_DELAY = 0.01  # seconds per fake token: a run streams for about a quarter of a second
FIRST_EVENT_POLL = 0.01
FOLLOW_POLL = 0.4  # app/run_page.py REPAINT_SECONDS
RUN_TIMEOUT = 60.0


@dataclass
class LoadReport:
    sessions: int
    seconds: float
    runs: int = 0
    first_event: list[float] = field(default_factory=list)  # seconds from submit to the first stored event
    errors: list[str] = field(default_factory=list)
    emitted_events: int = 0  # events strategies emitted (deltas counted one by one)
    stored_events: int = 0  # rows read back (deltas coalesced)
    lost: list[str] = field(default_factory=list)  # runs whose stored events differ from what was emitted

    def percentile(self, q: float) -> float:
        data = sorted(self.first_event)
        if not data:
            return float("nan")
        return statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1] if len(data) > 1 else data[0]


class EmittedEvents:
    """Counts every event on its way into a RunRecorder (the runner's only path to the store)."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[tuple[int, Event]]] = defaultdict(list)
        self._lock = threading.Lock()

    @contextmanager
    def watching(self) -> Iterator[EmittedEvents]:
        original = RunRecorder.add
        log = self

        def add(recorder: RunRecorder, strategy_index: int, event: Event) -> None:
            with log._lock:
                log.by_run[recorder.run_id].append((strategy_index, event))
            original(recorder, strategy_index, event)

        RunRecorder.add = add  # type: ignore[method-assign]
        try:
            yield self
        finally:
            RunRecorder.add = original  # type: ignore[method-assign]


def differences(run_id: str, emitted: list[tuple[int, Event]], store: Store) -> list[str]:
    """What the store lacks or has extra compared with the emitted events (empty: nothing lost)."""
    rows = replay(run_id, store=store)
    problems = []
    if [r.seq for r in rows] != list(range(1, len(rows) + 1)):
        problems.append("seq numbers are not contiguous from 1")
    emitted_text: dict[tuple, str] = defaultdict(str)
    stored_text: dict[tuple, str] = defaultdict(str)
    emitted_other = defaultdict(list)
    stored_other = defaultdict(list)
    for index, event in emitted:
        if isinstance(event, Delta):  # text and thinking (reasoning.events): compared as whole texts
            emitted_text[(index, event.kind, event.label)] += event.text
        else:
            emitted_other[index].append(event.kind)
    for row in rows:
        stored = row.event  # read back as every reader does (reasoning.events.event_from_dict)
        if isinstance(stored, Delta):
            stored_text[(row.strategy_index, stored.kind, stored.label)] += stored.text
        else:
            stored_other[row.strategy_index].append(row.kind)
    if emitted_text != stored_text:
        problems.append("streamed text differs")
    if emitted_other != stored_other:
        problems.append(f"events differ: emitted {dict(emitted_other)}, stored {dict(stored_other)}")
    finals = sorted(r.strategy_index for r in rows if r.kind == "final")
    if finals != list(range(len(STRATEGIES))):
        problems.append(f"final answers for strategies {finals}")
    return [f"run {run_id}: {p}" for p in problems]


def session(runner, store: Store, limits: Limits, until: float, report: LoadReport,  # type: ignore[no-untyped-def]
            lock: threading.Lock, run_ids: list[str]) -> None:
    """One browser session: submit, see the first event, follow the run to its end, repeat."""
    while time.monotonic() < until:
        try:
            budget = check_request(PROBLEM, [name for name, _ in STRATEGIES], Budget(total_tokens=8000), "fake",
                                   limits)
            spec = RunSpec(PROBLEM, "fake", STRATEGIES, budget=budget, reference="4",
                           model_options={"replies": REPLY, "token_delay": TOKEN_DELAY})
            submitted = time.monotonic()
            run_id = runner.submit(spec)
            while not events_since(run_id, 0, limit=1, store=store):
                if time.monotonic() - submitted > RUN_TIMEOUT:
                    raise TimeoutError(f"run {run_id}: no event within {RUN_TIMEOUT:g} s")
                time.sleep(FIRST_EVENT_POLL)
            first = time.monotonic() - submitted
            seen = 0
            while True:  # follow the run as the live page does: new events since the last seen
                info = get_run(run_id, store=store)
                for event in events_since(run_id, seen, store=store):
                    seen = event.seq
                if info is not None and not info.is_active:
                    break
                if time.monotonic() - submitted > RUN_TIMEOUT:
                    raise TimeoutError(f"run {run_id}: still {info.status if info else '?'} after {RUN_TIMEOUT:g} s")
                time.sleep(FOLLOW_POLL)
            with lock:
                run_ids.append(run_id)
                report.first_event.append(first)
                report.runs += 1
                if info.status != "done" or info.error:
                    report.errors.append(f"run {run_id}: {info.status}: {info.error}")
        except Exception as exc:  # a session reports what went wrong and stops, like a crashed page
            with lock:
                report.errors.append(f"{type(exc).__name__}: {exc}")
            return


def run_load(sessions: int, seconds: float, db_url: str) -> LoadReport:
    """`sessions` threads start runs for `seconds`, then every run is checked against what was emitted."""
    store = open_store(db_url)
    runner = get_runner(store)
    limits = Limits(max_concurrent_runs=max(16, 2 * sessions))
    report = LoadReport(sessions, seconds)
    lock = threading.Lock()
    run_ids: list[str] = []
    try:
        with EmittedEvents().watching() as emitted:
            until = time.monotonic() + seconds
            threads = [threading.Thread(target=session, args=(runner, store, limits, until, report, lock, run_ids),
                                        name=f"session-{i}") for i in range(sessions)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(seconds + RUN_TIMEOUT + 10)
                if thread.is_alive():
                    report.errors.append(f"{thread.name} did not finish")
        for run_id in run_ids:
            events = emitted.by_run.get(run_id, [])
            report.emitted_events += len(events)
            report.stored_events += len(replay(run_id, store=store))
            report.lost.extend(differences(run_id, events, store))
    finally:
        runner.close()
        forget_store(store)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", help="store URL (default: a new SQLite file per repeat in a temporary directory)")
    args = parser.parse_args()

    rows = []
    all_latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            url = args.db or f"sqlite:///{Path(tmp) / f'load-{repeat}.db'}"
            report = run_load(args.sessions, args.seconds, url)
            all_latencies += report.first_event
            rows.append(report)
            print(f"repeat {repeat + 1}: {report.runs} runs, p50 {report.percentile(50) * 1000:.0f} ms, "
                  f"p95 {report.percentile(95) * 1000:.0f} ms, errors {len(report.errors)}, "
                  f"lost {len(report.lost)}", file=sys.stderr)
            for problem in (report.errors + report.lost)[:5]:
                print("   ", problem, file=sys.stderr)

    print(f"\n{args.sessions} sessions x {args.seconds:g} s against the fake model ({len(STRATEGIES)} strategies per "
          f"run), store: {args.db or 'SQLite (temporary file)'}\n")
    print("| repeat | runs | runs/s | submit → first stored event p50 | p95 | max | errors | events emitted | "
          "rows stored | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r.runs} | {r.runs / r.seconds:.1f} | {r.percentile(50) * 1000:.0f} ms | "
              f"{r.percentile(95) * 1000:.0f} ms | {max(r.first_event, default=0) * 1000:.0f} ms | {len(r.errors)} | "
              f"{r.emitted_events:,} | {r.stored_events:,} | {len(r.lost)} |")
    if len(rows) > 1:
        pooled = LoadReport(args.sessions, args.seconds, first_event=all_latencies)
        print(f"| all | {sum(r.runs for r in rows)} | | {pooled.percentile(50) * 1000:.0f} ms | "
              f"{pooled.percentile(95) * 1000:.0f} ms | {max(all_latencies, default=0) * 1000:.0f} ms | "
              f"{sum(len(r.errors) for r in rows)} | {sum(r.emitted_events for r in rows):,} | "
              f"{sum(r.stored_events for r in rows):,} | {sum(len(r.lost) for r in rows)} |")
    if any(r.errors or r.lost for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
