"""The background runner: cancel, failures kept to their strategy, model errors, secrets, text
coalescing, a process killed with SIGKILL mid-run, and several threads and processes writing
to one SQLite file at once."""

# The store fixtures come from test_storage.py; test parameters named like them shadow the imports.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reasoning.budget import Budget
from reasoning.context import Context
from reasoning.model_protocol import ModelConfigError
from reasoning.models.fake import FakeModel
from reasoning.strategies.base import REGISTRY, StrategyBase
from storage import (
    RunSpec,
    RunSpecError,
    events_since,
    forget_store,
    get_run,
    get_runner,
    list_runs,
    open_store,
    replay,
)
from storage.recorder import MIN_GAP, TEXT_DELAY
from storage.store import Store
from storage.tables import CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow
from tests.storage.test_storage import postgres_cluster, runner, store, store_url  # noqa: F401  (shared fixtures)
from tests.support import ROOT

SLOW = "word " * 2000 + "Answer: 1"


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@dataclass
class Boom(StrategyBase):
    name = "test_boom"

    async def solve(self, problem: str, ctx: Context) -> str | None:
        await ctx.generate(problem, label="before", max_tokens=32)
        raise RuntimeError("boom")


@pytest.fixture
def boom(monkeypatch):
    monkeypatch.setitem(REGISTRY, Boom.name, Boom)
    return Boom.name


def wait_for_events(run_id: str, store, count: int = 1, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(events_since(run_id, 0, store=store)) < count:
        assert time.monotonic() < deadline, "no events appeared"
        time.sleep(0.02)


# ---- behaviour --------------------------------------------------------------------------------


def test_bad_specs_are_refused_before_anything_is_stored(store, runner):
    for strategies, message in (([], "at least one"), ([("no_such_strategy", {})], "unknown strategy"),
                                ([("chain_of_thought", {"max_tokens": -1})], "at least"),
                                ([("chain_of_thought", {"nope": 1})], "unknown knob")):
        with pytest.raises(RunSpecError, match=message):
            runner.submit(RunSpec("q", FakeModel(), strategies))
    assert list_runs(store=store).empty


def test_runs_beyond_the_process_limit_wait_queued_then_run(store):
    from storage.runner import Runner

    limited = Runner(store, max_concurrent_runs=1)
    try:
        first = limited.submit(RunSpec("Count.", FakeModel(SLOW, token_delay=0.002),
                                       [("chain_of_thought", {"max_tokens": 400})]))
        second = limited.submit(RunSpec("2+2?", FakeModel("Answer: 4"), [("chain_of_thought", {})]))
        wait_for_events(first, store)
        deadline = time.monotonic() + 10
        while get_run(second, store=store).status != "queued":
            assert time.monotonic() < deadline, "the second run never showed as queued"
            time.sleep(0.02)
        assert [s.status for s in get_run(second, store=store).strategies] == ["queued"]
        assert limited.wait(second, 60) == "done"
        assert get_run(second, store=store).strategies[0].answer == "4"
        # It ran only once the first had ended: its first event is later than the first run's last
        # (which took ~0.8 s). An event's wall is its run's submit time plus the monotonic time since
        # its recorder began, so two runs' walls may be out of order by the few ms between those.
        first_events = replay(first, store=store)
        assert first_events[-1].wall - first_events[0].wall > 0.3
        assert events_since(second, 0, store=store)[0].wall >= first_events[-1].wall - 0.1
    finally:
        limited.close()


def test_cancel_stops_every_strategy_with_its_best_answer(store, runner):
    run_id = runner.submit(RunSpec("Count.", FakeModel(SLOW, token_delay=0.005),
                                   [("chain_of_thought", {"max_tokens": 4000})] * 2))
    wait_for_events(run_id, store)
    assert runner.wait(run_id, timeout=0.05) == "running"
    assert runner.cancel(run_id)
    assert runner.wait(run_id, 20) == "cancelled"
    info = get_run(run_id, store=store)
    assert [(s.status, s.stop_reason) for s in info.strategies] == [("cancelled", "cancelled")] * 2
    assert info.finished is not None and not runner.is_active(run_id)
    assert [e.kind for e in replay(run_id, store=store)].count("final") == 2
    assert not runner.cancel(run_id)  # over: nothing to cancel


def test_a_failing_strategy_does_not_stop_the_others(store, runner, boom):
    run_id = runner.submit(RunSpec("2+2?", FakeModel("Answer: 4", token_delay=0.01),
                                   [(boom, {}), ("chain_of_thought", {})], reference="4"))
    assert runner.wait(run_id, 20) == "done"
    failed, fine = get_run(run_id, store=store).strategies
    assert (failed.status, failed.stop_reason, failed.error) == ("error", "error", "RuntimeError: boom")
    assert failed.total_tokens > 0  # its spend before failing is kept
    assert (fine.status, fine.answer, fine.correct) == ("done", "4", True)

    all_fail = runner.submit(RunSpec("2+2?", FakeModel("x"), [(boom, {}), (boom, {})]))
    assert runner.wait(all_fail, 20) == "error"
    assert get_run(all_fail, store=store).error == "RuntimeError: boom"


def test_a_model_that_cannot_be_built_ends_the_run_with_its_message(store, runner):
    run_id = runner.submit(RunSpec("q", "nosuch:model", [("chain_of_thought", {})] * 2))
    assert runner.wait(run_id, 20) == "error"
    info = get_run(run_id, store=store)
    assert "unknown provider 'nosuch'" in info.error and "Traceback" not in info.error
    assert [(s.status, s.error) for s in info.strategies] == [("error", info.error)] * 2
    assert info.event_count == 0

    bad_option = runner.submit(RunSpec("q", "fake", [("chain_of_thought", {})], model_options={"colour": "red"}))
    assert runner.wait(bad_option, 20) == "error"
    assert get_run(bad_option, store=store).error.startswith("could not build model 'fake': TypeError")


def test_keys_are_never_stored(store, runner, monkeypatch):
    secret = "sk-test-SECRET-0123456789"
    spec = RunSpec("q", "fake", [("chain_of_thought", {})], model_options={"token_delay": 0.0, "api_key": secret},
                   secrets={"api_key": secret})
    assert spec.stored_model_options() == {"token_delay": 0.0}
    assert secret not in repr(spec)
    failed = runner.submit(spec)  # FakeModel takes no api_key: the build fails, naming the option only
    assert runner.wait(failed, 20) == "error"

    def reject(name: str, **options):  # a provider that quotes the key back in its error
        raise ModelConfigError(f"key {options['api_key']} was rejected by {name}")

    monkeypatch.setattr("storage.runner.get_model", reject)
    redacted = runner.submit(RunSpec("q", "openai:x", [("chain_of_thought", {})], secrets={"api_key": secret}))
    assert runner.wait(redacted, 20) == "error"
    assert get_run(redacted, store=store).error == "key *** was rejected by openai:x"

    with store.read() as conn:
        for table in ("run", "run_strategy", "event", "curve_point"):
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}"):
                assert secret not in repr(tuple(row)), table


def test_runs_outlive_the_thread_that_submitted_them(store, runner):
    ids: list[str] = []
    thread = threading.Thread(target=lambda: ids.append(runner.submit(
        RunSpec("2+2?", FakeModel("Answer: 4", token_delay=0.02), [("chain_of_thought", {})]))))
    thread.start()
    thread.join()
    assert not thread.is_alive() and runner.is_active(ids[0])
    assert runner.wait(ids[0], 20) == "done"


def test_one_runner_per_store(store, runner, tmp_path):
    assert get_runner(store) is runner
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        other_runner = get_runner(other)
        assert other_runner is not runner
        other_runner.close()
    finally:
        forget_store(other)


class TimedFakeModel(FakeModel):
    """Records when each piece of text was streamed, to measure how far the store lags."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.emitted: list[tuple[float, int]] = []  # (time, text length streamed so far)

    async def stream(self, messages, **kwargs):
        total = 0
        async for chunk in super().stream(messages, **kwargs):
            total += len(chunk.text)
            self.emitted.append((time.time(), total))
            yield chunk


def test_text_is_coalesced_into_few_writes_and_never_lags_far(store, runner):
    model = TimedFakeModel("tok " * 300 + "Answer: 1", token_delay=0.005)
    run_id = runner.submit(RunSpec("Count.", model, [("chain_of_thought", {"max_tokens": 1000})]))
    polls: list[tuple[float, int]] = []
    seen = []
    while runner.is_active(run_id):
        seen += events_since(run_id, seen[-1].seq if seen else 0, store=store)
        polls.append((time.time(), sum(len(e.payload["text"]) for e in seen if e.kind == "text")))
        time.sleep(0.02)

    text_rows = [e for e in replay(run_id, store=store) if e.kind == "text"]
    duration = model.emitted[-1][0] - model.emitted[0][0]
    assert duration > 1.0
    # A few writes a second, not one per token (300 tokens).
    assert len(text_rows) <= duration / TEXT_DELAY + 3
    # At most one write per MIN_GAP: never more than 1 / MIN_GAP text rows start within a second. (Counted
    # per second rather than gap by gap: a row starts at its first delta, which a busy loop can deliver late.)
    starts = [row.elapsed for row in text_rows]
    assert max(sum(t <= u < t + 1.0 for u in starts) for t in starts) <= 1 / MIN_GAP + 1
    # Whatever was streamed more than ~0.25 s (plus scheduling slack) before a poll is stored.
    lags = []
    for polled_at, stored in polls:
        streamed = max((n for t, n in model.emitted if t <= polled_at - 0.4), default=0)
        assert stored >= streamed
        behind = [t for t, n in model.emitted if n > stored and t <= polled_at]
        lags.append(polled_at - behind[0] if behind else 0.0)
    assert max(lags) < 0.4


# ---- crashes ----------------------------------------------------------------------------------

KILL_CHILD = r"""
import json, sys, time
import storage.runner as runner_module
from storage.recorder import RunRecorder
from storage import RunSpec, get_runner, open_store
from reasoning.models.fake import FakeModel

url, log_path, reply = sys.argv[1], sys.argv[2], sys.argv[3]
log = open(log_path, "a", buffering=1)


class LoggingRecorder(RunRecorder):
    # Logs, for every event the run emits, the seq of the row it went into and when.
    def add(self, strategy_index, event):
        super().add(strategy_index, event)
        if event.kind in ("text", "thinking"):
            seq = self._open[(strategy_index, event.kind, event.label)].seq
        else:
            seq = self._seq
        log.write(json.dumps({"seq": seq, "kind": event.kind, "text": getattr(event, "text", None),
                              "t": time.time()}) + "\n")


runner_module.RunRecorder = LoggingRecorder
runner = get_runner(open_store(url))
run_id = runner.submit(RunSpec("Count.", FakeModel(reply, token_delay=0.005),
                               [("chain_of_thought", {"max_tokens": 4000})] * 2))
print(run_id, flush=True)
time.sleep(120)
"""


def test_kill_9_mid_run_keeps_all_but_the_last_moment_and_marks_it_interrupted(tmp_path):
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    log_path = tmp_path / "emitted.jsonl"
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, url, str(log_path), SLOW], stdout=subprocess.PIPE,
                             env=child_env(), cwd=ROOT, text=True)
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, "the child did not start a run"
        watcher = Store(url)  # a plain Store: opening with open_store() would do recovery
        try:
            wait_for_events(run_id, watcher, count=6)
            time.sleep(0.7)
            assert get_run(run_id, store=watcher).status == "running"
        finally:
            watcher.close()
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()

    store = open_store(url)  # a restart: finds the run's owner dead
    try:
        info = get_run(run_id, store=store)
        assert info.status == "interrupted" and "interrupted" in info.error
        assert {s.status for s in info.strategies} == {"interrupted"}
        stored = {e.seq: e for e in replay(run_id, store=store)}
        assert list(stored) == list(range(1, len(stored) + 1))

        emitted = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
        old = [e for e in emitted if e["t"] < killed_at - 0.5]
        assert len(old) > 50 and any(e["t"] > killed_at - 0.5 for e in emitted)
        missing = sorted({e["seq"] for e in old} - set(stored))
        assert missing == [], f"events older than 0.5 s before the kill were lost: seqs {missing[:10]}"
        for seq, row in stored.items():  # every stored row holds exactly what was emitted into it
            pieces = [e for e in emitted if e["seq"] == seq]
            assert {p["kind"] for p in pieces} == {row.kind}
            if row.kind in ("text", "thinking"):
                assert row.payload["text"] == "".join(p["text"] for p in pieces)
    finally:
        forget_store(store)


EXIT_CHILD = r"""
import sys
from storage import RunSpec, get_runner, open_store
from reasoning.models.fake import FakeModel

runner = get_runner(open_store(sys.argv[1]))
run_id = runner.submit(RunSpec("Count.", FakeModel("word " * 500, token_delay=0.01), [("chain_of_thought", {})]))
print(run_id, flush=True)
sys.exit(0)  # a normal exit with the run unfinished
"""


def test_a_process_exiting_mid_run_marks_its_run_interrupted(tmp_path):
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    done = subprocess.run([sys.executable, "-c", EXIT_CHILD, url], capture_output=True, text=True, env=child_env(),
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    store = Store(url)
    try:
        info = get_run(done.stdout.strip(), store=store)
        assert info.status == "interrupted" and "exited" in info.error
    finally:
        store.close()


# ---- several writers --------------------------------------------------------------------------


def write_runs(url: str, threads: int, per_thread: int, tag: str) -> list[str]:
    """`threads` threads each submit `per_thread` two-strategy runs, all at once; wait for them."""
    runner = get_runner(open_store(url))
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for k in range(per_thread):
                run_id = runner.submit(RunSpec(f"{tag} thread {n} run {k}", FakeModel("a b c Answer: 1"),
                                               [("chain_of_thought", {}), ("chain_of_thought", {})], reference="1"))
                with lock:
                    ids.append(run_id)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    statuses = {run_id: runner.wait(run_id, 120) for run_id in ids}
    assert set(statuses.values()) == {"done"}, statuses
    return ids


def child_main() -> None:
    url, ready, go, threads, per_thread, tag = sys.argv[1:7]
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    print(json.dumps(write_runs(url, int(threads), int(per_thread), tag)), flush=True)


def test_eight_threads_and_four_processes_write_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # not created yet: the processes race to migrate it
    go = tmp_path / "go"
    per_thread, child_threads = 5, 2
    code = "from tests.storage.test_runner import child_main; child_main()"
    children = [
        subprocess.Popen([sys.executable, "-c", code, url, str(tmp_path / f"ready{n}"), str(go), str(child_threads),
                          str(per_thread), f"child{n}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=child_env(), cwd=ROOT)
        for n in range(4)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{n}").exists() for n in range(4)):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "children did not start"
        time.sleep(0.01)
    go.touch()
    ids = write_runs(url, 8, per_thread, "parent")
    for child in children:
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
        assert "database is locked" not in err
        ids += json.loads(out.strip().splitlines()[-1])

    expected_runs = 8 * per_thread + 4 * child_threads * per_thread
    assert len(ids) == len(set(ids)) == expected_runs
    store = open_store(url)
    try:
        with store.read() as conn:
            def count(query):  # type: ignore[no-untyped-def]
                return conn.scalar(select(func.count()).select_from(query.subquery()))

            assert count(select(Run.id)) == expected_runs
            assert set(conn.scalars(select(Run.id))) == set(ids)
            assert count(select(Run.id).where(Run.status == "done")) == expected_runs
            assert count(select(RunStrategy.run_id).where(RunStrategy.status == "done",
                                                          RunStrategy.correct.is_(True))) == 2 * expected_runs
            assert count(select(CurvePoint.run_id)) == 2 * expected_runs
            assert count(select(EventRow.run_id).where(EventRow.kind == "final")) == 2 * expected_runs
            # No lost row: each run's seqs run 1..N without a gap.
            gaps = conn.execute(
                select(EventRow.run_id).group_by(EventRow.run_id)
                .having(func.count() != func.max(EventRow.seq))
            ).all()
            assert gaps == []
    finally:
        forget_store(store)


def test_budget_caps_are_stored_as_given(store, runner):
    run_id = runner.submit(RunSpec("2+2?", FakeModel("Answer: 4"), [("chain_of_thought", {})],
                                   Budget(total_tokens=500, usd=0.5, seconds=30)))
    runner.wait(run_id, 20)
    info = get_run(run_id, store=store)
    assert info.budget_caps == Budget(total_tokens=500, usd=0.5, seconds=30)
    assert info.budget == {"total_tokens": 500, "output_tokens": None, "usd": 0.5, "seconds": 30}


# ---- entries: one strategy at several budgets ---------------------------------------------------


def test_each_entry_is_metered_under_its_own_budget_and_stores_it(store, runner):
    from storage import StrategySpec

    run_budget = Budget(total_tokens=900, seconds=60)
    run_id = runner.submit(RunSpec("Count.", FakeModel(SLOW), [
        StrategySpec("chain_of_thought", {"max_tokens": 4000}, Budget(total_tokens=150, seconds=60)),
        StrategySpec("chain_of_thought", {"max_tokens": 4000}, Budget(total_tokens=400, seconds=60)),
        ("chain_of_thought", {"max_tokens": 4000}),  # no budget of its own: the run's
        ("direct", {}, Budget(total_tokens=300, seconds=60)),  # the tuple form takes a budget too
    ], run_budget))
    assert runner.wait(run_id, 30) == "done"
    info = get_run(run_id, store=store)
    assert info.budget == run_budget.as_dict()
    caps = [150, 400, 900, 300]
    # Every entry stores the caps it ran under, its own or the run's (never NULL for new runs).
    assert [s.budget for s in info.strategies] == [Budget(total_tokens=c, seconds=60).as_dict() for c in caps]
    for entry, cap in zip(info.strategies, caps, strict=True):
        assert 0 < entry.total_tokens <= cap, (entry.strategy, entry.total_tokens, cap)
    # The long reply outruns every chain_of_thought cap: each call was sized to its own, so they spent apart.
    spent = [s.total_tokens for s in info.strategies[:3]]
    assert spent[0] < spent[1] < spent[2] and spent[2] > 400
    with store.read() as conn:
        stored = conn.execute(select(RunStrategy.budget).where(RunStrategy.run_id == run_id)
                              .order_by(RunStrategy.strategy_index)).scalars().all()
    assert [b["total_tokens"] for b in stored] == caps


def test_a_lost_batch_ends_the_run_not_stored_and_nothing_after_it_is_written(store, runner, monkeypatch):
    """The third event batch of a live run is refused (a value the store will not take: not retried).
    The run is not done: start()'s future raises RunNotStored, the store holds the events before the
    hole and none after it, the run is `error` with the reason, its strategy `interrupted` (a store
    fault is not a wrong answer)."""
    import sqlite3

    import psycopg
    from sqlalchemy import event

    from storage.store import RunNotStored

    batches = {"n": 0}

    def refuse_third(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO event"):
            batches["n"] += 1
            if batches["n"] == 3:
                raise (sqlite3 if store.is_sqlite else psycopg).DataError("value refused")

    event.listen(store.engine, "before_cursor_execute", refuse_third)
    run_id, future = runner.start(RunSpec("Count.", FakeModel("word " * 150 + "Answer: 1", token_delay=0.004),
                                          [("chain_of_thought", {"max_tokens": 400})], Budget(total_tokens=2000)))
    with pytest.raises(RunNotStored) as lost:
        future.result(30)
    assert lost.value.run_id == run_id and lost.value.lost_events > 0
    assert runner.store_error(run_id) == str(lost.value) and "not stored" in str(lost.value)
    with store.read() as conn:
        seqs = list(conn.scalars(select(EventRow.seq).where(EventRow.run_id == run_id).order_by(EventRow.seq)))
        run = conn.execute(select(Run.status, Run.error).where(Run.id == run_id)).one()
        strategy = conn.scalar(select(RunStrategy.status).where(RunStrategy.run_id == run_id))
    assert seqs == list(range(1, len(seqs) + 1)) and seqs  # the first two batches, no hole, nothing after
    assert batches["n"] == 3  # no batch after the lost one was even tried
    assert run.status == "error" and str(lost.value) == run.error
    assert strategy == "interrupted"
