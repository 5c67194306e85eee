"""A store that fails: nothing is reported done unless it is durably stored, and every fault is one
clear line.

A full disk is simulated without root: SQLite's PRAGMA max_page_count on every connection the store
hands out (bench.chaos.FullDisk; SQLite itself then answers SQLITE_FULL), and on PostgreSQL a value the
server refuses (a NUL in a model's reply, a CHECK constraint). A read-only file is tested as an
unprivileged user (root writes through file modes).
"""

# The store fixtures come from test_storage.py; test parameters named like them shadow the imports.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, text
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

import storage.recorder
from app.cli import app as cli_app
from bench.chaos import FullDisk
from reasoning.budget import Budget
from reasoning.datasets import Dataset, load_dataset
from reasoning.models.fake import FakeModel
from reasoning.sweep_plan import StrategyChoice, SweepPlan
from storage import RunSpec, forget_store, get_runner, open_store
from storage.runner import run_store_error
from storage.store import RunNotStored, Store, StoreError, store_error
from storage.sweeps import get_sweep, prepare_sweep
from storage.tables import Event as EventRow
from storage.tables import Run, RunStrategy
from tests.app.test_app_compare import store  # noqa: F401  (shared fixture: the app opens that store)
from tests.storage.test_storage import postgres_cluster  # noqa: F401  (shared fixture)
from tests.support import ROOT

MAIN = str(ROOT / "app" / "main.py")
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
LONG_REPLY = "Let me think about it carefully. " * 400 + "Answer: 4"  # ~13 kB of text: needs new pages
SWEEP = ["sweep", "basic_arithmetic", "--size", "10", "-s", "direct", "-s", "chain_of_thought", "-b", "200",
         "--model", "fake", "--json"]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's retries (0.5 s, doubling) in milliseconds: the faults here do not pass."""
    monkeypatch.setattr(storage.recorder, "RETRY_DELAY", 0.005)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    yield url
    store = open_store(url)
    get_runner(store).close()
    forget_store(store)


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def stored_runs(store: Store, sweep_id: str) -> dict[str, tuple[str, str]]:
    """sweep key -> (run id, status)."""
    with store.read() as conn:
        rows = conn.execute(select(Run.sweep_key, Run.id, Run.status).where(Run.sweep_id == sweep_id)).all()
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), "a cell is stored twice"
    return {key: (run_id, status) for key, run_id, status in rows}


def assert_complete(store: Store, run_id: str) -> None:
    """Stored with every event: seq 1..n, a final event per strategy, the last of its strategy."""
    with store.read() as conn:
        events = conn.execute(select(EventRow.seq, EventRow.strategy_index, EventRow.kind)
                              .where(EventRow.run_id == run_id).order_by(EventRow.seq)).all()
        strategies = conn.scalar(select(func.count()).where(RunStrategy.run_id == run_id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for index in range(strategies):
        kinds = [e.kind for e in events if e.strategy_index == index]
        assert kinds.count("final") == 1 and kinds[-1] == "final"


# ---- a sweep on a full disk ---------------------------------------------------------------------


def test_a_sweep_on_a_full_disk_is_not_done_and_a_rerun_redoes_exactly_the_lost_cells(sqlite_url):
    store = open_store(sqlite_url)
    disk = FullDisk(store)
    disk.full = True
    result = CliRunner().invoke(cli_app, [*SWEEP, "--db", sqlite_url])
    disk.full = False
    assert result.exit_code == EXIT_FAILED, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "error" and summary["lost"] >= 1 and summary["exit_code"] == EXIT_FAILED
    assert "could not be stored" in summary["error"] and "is full (database or disk is full)" in summary["error"]
    assert "error:" in result.stderr and "run the sweep again" in result.stderr and "Traceback" not in result.stderr

    sweep_id = summary["sweep_id"]
    assert get_sweep(sweep_id, store=store).status == "error"
    before = stored_runs(store, sweep_id)
    done_before = {key: run_id for key, (run_id, status) in before.items() if status == "done"}
    assert len(done_before) == summary["done"]  # reported done <=> stored done, with all events
    for run_id in done_before.values():
        assert_complete(store, run_id)

    again = CliRunner().invoke(cli_app, [*SWEEP, "--db", sqlite_url])
    assert again.exit_code == 0, again.output
    resumed = json.loads(again.stdout)
    assert (resumed["status"], resumed["skipped"], resumed["lost"]) == ("done", summary["done"], 0)
    assert resumed["done"] == 20 - summary["done"]  # exactly the cells not stored before
    after = stored_runs(store, sweep_id)
    assert len(after) == 20 and {status for _, status in after.values()} == {"done"}
    assert all(after[key][0] == run_id for key, run_id in done_before.items())  # done cells kept, not redone
    assert get_sweep(sweep_id, store=store).status == "done"


@pytest.mark.postgres
def test_a_sweep_cell_whose_events_postgresql_refuses_is_lost_not_done(postgres_cluster):
    store = open_store(postgres_cluster.create_database())
    try:
        dataset = Dataset("basic_arithmetic", load_dataset("basic_arithmetic", size=4).items)
        poisoned = dataset.items[2].problem

        def replies(messages, index):  # a model that streams a NUL byte on one problem
            return "Thinking \x00 hard. Answer: 1" if poisoned in messages[-1]["content"] else "Answer: 1"

        plan = SweepPlan("basic_arithmetic", (StrategyChoice("direct"),), (Budget(total_tokens=300),),
                         model="fake", size=4)
        progress = prepare_sweep(plan, store=store, dataset=dataset, model=FakeModel(replies=replies),
                                 concurrency=1).execute().result()
        assert progress.status == "error" and progress.lost == 1 and progress.done == 2
        assert "refused a value" in progress.error and "run the sweep again" in progress.error
        # A cell is one transaction (a quiet run): the lost one left no row at all; the fourth never started.
        runs = stored_runs(store, plan.sweep_id)
        assert len(runs) == 2 and {status for _, status in runs.values()} == {"done"}

        clean = prepare_sweep(plan, store=store, dataset=dataset, model=FakeModel(replies="Answer: 1"),
                              concurrency=1).execute().result()
        assert (clean.status, clean.skipped, clean.done) == ("done", 2, 2)
        assert {status for _, status in stored_runs(store, plan.sweep_id).values()} == {"done"}
    finally:
        get_runner(store).close()
        forget_store(store)


# ---- a single run whose writes fail ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--json", "live"])
def test_a_run_on_a_full_disk_ends_with_one_line_and_exit_1(sqlite_url, mode, monkeypatch):
    store = open_store(sqlite_url)
    monkeypatch.setattr("app.cli.run.get_model", lambda spec, **options: FakeModel(replies=LONG_REPLY))
    disk = FullDisk(store)
    disk.full = True
    args = ["run", "What is 2 + 2?", "--model", "fake", "-s", "chain_of_thought", "--max-total-tokens", "5000",
            "--db", sqlite_url]
    result = CliRunner().invoke(cli_app, args + (["--json"] if mode == "--json" else []))
    disk.full = False
    assert result.exit_code == EXIT_FAILED, result.output
    line = one_line(result.stderr)
    assert line.startswith("error:") and f"the store {store.path} is full (database or disk is full)" in line
    assert "free disk space" in line
    if mode == "--json":
        assert result.stdout.strip() == ""  # no record claiming "running"
    with store.read() as conn:
        status = conn.scalar(select(Run.status))
    assert status in (None, "error")  # never written, or marked failed: never done, never left running


@pytest.mark.postgres
def test_a_run_whose_final_write_postgresql_refuses_is_not_done(postgres_cluster):
    store = open_store(postgres_cluster.create_database())
    runner = get_runner(store)
    try:
        with store.write() as conn:  # a CHECK the run's final event violates: a write that fails every time
            conn.execute(text("ALTER TABLE event ADD CONSTRAINT chaos_no_final CHECK (kind <> 'final')"))
        run_id, future = runner.start(RunSpec("What is 2 + 2?", FakeModel(), ["direct", "chain_of_thought"],
                                              Budget(total_tokens=500)))
        with pytest.raises(RunNotStored) as lost:
            future.result(30)
        assert lost.value.run_id == run_id and lost.value.kind == "constraint" and "chaos_no_final" in str(lost.value)
        assert runner.store_error(run_id) == str(lost.value) == run_store_error(run_id)
        with store.read() as conn:
            run = conn.execute(select(Run.status, Run.error).where(Run.id == run_id)).one()
            strategies = set(conn.scalars(select(RunStrategy.status).where(RunStrategy.run_id == run_id)))
        assert run.status == "error" and "not stored" in run.error
        assert strategies == {"interrupted"}
    finally:
        runner.close()
        forget_store(store)


def test_a_write_that_fails_twice_then_passes_loses_nothing(sqlite_url):
    store = open_store(sqlite_url)
    disk = FullDisk(store)
    failures = iter([True, True])

    def flaky(conn, cursor, statement, parameters, context, executemany):  # the next two event writes fail
        if statement.startswith("INSERT INTO event") and next(failures, False):
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(store.engine, "before_cursor_execute", flaky)
    runner = get_runner(store)
    run_id, future = runner.start(RunSpec("What is 2 + 2?", FakeModel(), ["direct"], Budget(total_tokens=500)))
    assert future.result(30)[0].answer == "4"
    assert runner.wait(run_id) == "done" and runner.store_error(run_id) is None
    assert disk.refused == 2
    assert_complete(store, run_id)


def test_the_run_page_shows_a_store_error_banner_instead_of_a_run_that_never_ends(sqlite_url, monkeypatch):
    monkeypatch.setenv("BUDGET_ARENA_DB", sqlite_url)
    store = open_store(sqlite_url)

    def nothing_after_the_run_row(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(("INSERT INTO event", "UPDATE")):  # the store takes the run, then nothing
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(store.engine, "before_cursor_execute", nothing_after_the_run_row)
    runner = get_runner(store)
    run_id = runner.submit(RunSpec("What is 2 + 2?", FakeModel(), ["direct"], Budget(total_tokens=500)))
    assert runner.wait(run_id, 30) == "running"  # its end could not be written
    assert "is full" in runner.store_error(run_id)

    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Store error: this run's results could not be stored") and "is full" in e
               for e in errors), errors


# ---- one clear line for each fault ----------------------------------------------------------------


def seeded_store(url: str) -> str:
    """A store holding one finished run; closed (its WAL folded into the file). Returns the run id."""
    store = open_store(url)
    runner = get_runner(store)
    run_id = runner.submit(RunSpec("What is 2 + 2?", FakeModel(replies=LONG_REPLY), ["direct"],
                                   Budget(total_tokens=5000), reference="4"))
    assert runner.wait(run_id, 30) == "done"
    runner.close()
    forget_store(store)
    return run_id


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def made_read_only(path: Path, how: str) -> Iterator[None]:
    """The store file at `path` made read-only for real: its folder mounted read-only (a bind mount:
    needs root), or the file itself (chmod; as root, whom file modes do not stop, the immutable flag)."""
    folder = path.parent
    if how == "mount":
        if os.geteuid() != 0:
            pytest.skip("a read-only mount needs root")
        mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
        try:
            remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True)
            if remounted.returncode != 0:
                pytest.skip(f"cannot remount read-only here: {remounted.stderr.decode().strip()}")
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    flagged = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if flagged.returncode != 0:
        pytest.skip(f"running as root and cannot set the immutable flag: {flagged.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize(("how", "reason"), [("file", "the file is not writable"),
                                             ("mount", "its file system is mounted read-only")])
def test_a_read_only_store_says_read_only_and_writes_nothing(tmp_path, how, reason):
    path = tmp_path / "ro" / "store.db"
    path.parent.mkdir()
    run_id = seeded_store(f"sqlite:///{path}")
    before = digest(path)
    with made_read_only(path, how):
        for args in (["show", run_id], ["run", "What is 3 + 3?", "--model", "fake", "--max-total-tokens", "500"],
                     ["sweep", "basic_arithmetic", "--size", "2", "-s", "direct", "-b", "300", "--model", "fake"]):
            result = CliRunner().invoke(cli_app, [*args, "--db", f"sqlite:///{path}"])
            line = one_line(result.stderr)
            assert result.exit_code == EXIT_FAILED, line
            assert f"the store {path} is read-only ({reason})" in line
            assert "make the file and its folder writable" in line and "unable to open" not in line
    assert digest(path) == before and sorted(p.name for p in path.parent.iterdir()) == ["store.db"]


def test_a_store_corrupted_mid_way_says_damaged(tmp_path):
    path = tmp_path / "store.db"
    run_id = seeded_store(f"sqlite:///{path}")
    data = bytearray(path.read_bytes())
    page = 4096
    # Garbage over every page that holds the run's streamed text (in the middle of the file, not its header).
    marker = LONG_REPLY[:32].encode()
    pages = {offset // page for offset in range(len(data)) if data.startswith(marker, offset)}
    assert pages and 0 not in pages
    for number in pages:
        data[number * page:(number + 1) * page] = os.urandom(page)
    path.write_bytes(bytes(data))
    for args in (["export", run_id], ["show", run_id], ["leaderboard"], ["export"]):
        result = CliRunner().invoke(cli_app, [*args, "--db", f"sqlite:///{path}"])
        if args != ["export", run_id]:  # these may read only intact pages: fine, else one line
            assert result.exit_code == 0 or "is damaged" in one_line(result.stderr), result.output
            continue
        line = one_line(result.stderr)
        assert result.exit_code == EXIT_FAILED, line
        assert f"the store {path} is damaged" in line and "restore it from a backup" in line


def test_a_dropped_column_is_named_and_nothing_is_written(tmp_path):
    path = tmp_path / "store.db"
    run_id = seeded_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE run_strategy DROP COLUMN error")
    before = digest(path)
    for args in (["show", run_id], ["run", "What is 3 + 3?", "--model", "fake", "--max-total-tokens", "500"]):
        result = CliRunner().invoke(cli_app, [*args, "--db", f"sqlite:///{path}"])
        line = one_line(result.stderr)
        assert result.exit_code == EXIT_FAILED, line
        assert f"the store {path} lacks column run_strategy.error" in line and "restore it from a backup" in line
    forget_store(open_store_quietly(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM run").fetchone() == (1,)
    assert digest(path) == before


def open_store_quietly(url: str) -> Store:
    try:
        return open_store(url)
    except StoreError:
        return Store(url)


@pytest.mark.parametrize(("exc", "kind", "words"), [
    (sqlite3.OperationalError("database or disk is full"), "full", "is full"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "read-only", "is read-only"),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged", "is damaged"),
    (sqlite3.DatabaseError("file is not a database"), "damaged", "is damaged"),
    (sqlite3.OperationalError("no such column: run.error"), "schema", "does not have the tables"),
    (sqlite3.IntegrityError("UNIQUE constraint failed: run.sweep_id, run.sweep_key"), "constraint", "refused"),
])
def test_driver_errors_read_as_one_line_naming_the_store_and_the_fix(exc, kind, words, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    failure = store_error(exc, store)
    assert failure.kind == kind and words in str(failure) and str(tmp_path / "x.db") in str(failure)
    assert "\n" not in str(failure)
    store.close()


def test_a_full_store_can_still_be_read(tmp_path):
    """Opening a store marks the runs of dead processes interrupted: on a full disk that write fails,
    and reading (show, export, leaderboard) must still work."""
    path = tmp_path / "store.db"
    run_id = seeded_store(f"sqlite:///{path}")
    child = subprocess.Popen(["true"])
    child.wait()
    with sqlite3.connect(path) as conn:  # as if a process that has died were running it
        conn.execute("UPDATE run SET status = 'running', owner_pid = ?, owner_token = NULL", (child.pid,))

    def full(conn, cursor, statement, parameters, context, executemany):  # every write refused
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(Engine, "before_cursor_execute", full)
    try:
        shown = CliRunner().invoke(cli_app, ["show", run_id, "--json", "--db", f"sqlite:///{path}"])
        exported = CliRunner().invoke(cli_app, ["export", "--db", f"sqlite:///{path}"])
    finally:
        event.remove(Engine, "before_cursor_execute", full)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["status"] == "running"  # not yet marked: the store had no room
    assert exported.exit_code == 0 and run_id in exported.stdout
    store = open_store(f"sqlite:///{path}")
    forget_store(store)
    store = open_store(f"sqlite:///{path}")  # with room again, the next open marks it
    assert conn_status(store, run_id) == "interrupted"
    forget_store(store)


def conn_status(store: Store, run_id: str) -> str:
    with store.read() as conn:
        return conn.scalar(select(Run.status).where(Run.id == run_id))


def test_the_compare_page_says_when_the_store_cannot_take_the_run(store):
    """Run on the Compare page with a store that refuses every insert: a message, not a traceback."""
    from tests.app.test_app_compare import compare_page, errors, fill, submit

    def full(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(store.engine, "before_cursor_execute", full)
    at = submit(compare_page(**fill()))
    assert any(f"the store {store.path} is full (database or disk is full)" in e for e in errors(at)), errors(at)
    assert not at.query_params.get("run")
