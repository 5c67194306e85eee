"""The run store on SQLite and PostgreSQL: schema, ids, a runner round trip, tailing, history and
leaderboard queries, export/import, and interrupted-run recovery.

Also home of the PostgreSQL fixture (a throwaway cluster per test session, started from Debian's
/usr/lib/postgresql/*/bin) that test_runner.py and test_migrations.py import.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, insert, inspect, select, text, update

from reasoning.budget import Budget
from reasoning.context import Context
from reasoning.events import event_to_dict
from reasoning.models.fake import FakeModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.base import REGISTRY, StrategyBase, knob
from storage import (
    RunSpec,
    curve_points,
    events_since,
    export_run_json,
    export_runs_csv,
    forget_store,
    get_run,
    get_runner,
    import_run_json,
    is_valid_run_id,
    last_seq,
    list_runs,
    mark_interrupted_stale,
    new_run_id,
    open_store,
    replay,
    strategy_results,
)
from storage.liveness import hostname, mark_interrupted_dead_owners, own_identity
from storage.migrate import current_revision, head_revision
from storage.store import default_url, normalise_url
from storage.tables import Event as EventRow
from storage.tables import Run, RunStrategy
from tests.support import free_port, require_in_ci

# ---- PostgreSQL -------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    candidates = []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True,
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += versions
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


@dataclass
class PostgresCluster:
    """A private PostgreSQL server on 127.0.0.1 (data and unix socket in a temp dir)."""

    bindir: Path
    base: Path
    port: int
    prefix: list[str]  # run as the postgres user when we are root (initdb refuses root)

    @classmethod
    def start(cls, bindir: Path) -> PostgresCluster:
        base = Path(tempfile.mkdtemp(prefix="budget-arena-pg-"))
        prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(base, user.pw_uid, user.pw_gid)
            prefix = ["runuser", "-u", "postgres", "--"]
        data = base / "data"
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "--no-locale", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        port = free_port()
        options = (f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"),
                        "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
        return cls(bindir, base, port, prefix)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t" + uuid.uuid4().hex[:16]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def _start_postgres() -> tuple[PostgresCluster | None, str]:
    bindir = _pg_bindir()
    if bindir is None:
        return None, "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'budget-arena[postgres]')"
    try:
        return PostgresCluster.start(bindir), ""
    except KeyError:
        return None, "running as root and there is no `postgres` user to run initdb as"
    except subprocess.CalledProcessError as exc:
        return None, f"could not start PostgreSQL: {exc}: {(exc.stderr or b'').decode(errors='replace')[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"could not start PostgreSQL: {exc}"


@pytest.fixture(scope="session")
def postgres_cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    # Other test modules import this fixture (a second copy of it): one cluster per session.
    session = request.session
    state = getattr(session, "_budget_arena_postgres", None)
    if state is None:
        state = _start_postgres()
        session._budget_arena_postgres = state  # type: ignore[attr-defined]
        if state[0] is not None:
            request.addfinalizer(state[0].stop)
    cluster, reason = state
    if cluster is None:
        require_in_ci(reason)
    return cluster


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_cluster").create_database()


@pytest.fixture
def store(store_url: str):
    store = open_store(store_url)
    yield store
    forget_store(store)


@pytest.fixture
def runner(store):
    runner = get_runner(store)
    yield runner
    runner.close()


# ---- helpers ----------------------------------------------------------------------------------

REPLY = ("<think>Two and two. " + "Let me add them carefully, one unit at a time. " * 3 + "</think>"
         + "Two plus two is four, since counting on two from two gives four. " * 3 + "Answer: 4")


def normalise(events) -> list[dict]:
    """Events as dicts, consecutive deltas of the same kind and label merged, seconds zeroed and
    provisional spend reports (estimated: sent on a timer while a call streams) left out: wall
    time differs between two runs of the same script, and a slow machine sends more of them."""
    out: list[dict] = []
    for event in events:
        data = event_to_dict(event)
        if data["kind"] == "spend" and data["spent"].get("estimated"):
            continue
        if "spent" in data:
            data["spent"] = {**data["spent"], "seconds": 0}
        last = out[-1] if out else None
        if last and data["kind"] in ("text", "thinking") and (last["kind"], last.get("label")) == (data["kind"], data["label"]):
            last["text"] += data["text"]
        else:
            out.append(data)
    return out


def direct_events(strategy_name: str, model: FakeModel, budget: Budget, problem: str = "What is 2+2?", **knobs):
    async def collect():
        return [e async for e in run(make_strategy(strategy_name, **knobs), problem, model, budget)]

    return asyncio.run(collect())


@dataclass
class ScriptedPartials(StrategyBase):
    """Test strategy: one short call per answer, noting and reporting each with its confidence."""

    name = "test_scripted_partials"
    answers: str = knob("3,4,4", "comma-separated answers to report in turn")
    confidences: str = knob("0.3,0.6,0.9", "their confidences")

    async def solve(self, problem: str, ctx: Context) -> str | None:
        answer = None
        for answer, confidence in zip(self.answers.split(","), self.confidences.split(","), strict=True):
            await ctx.generate(problem, label="step", max_tokens=32)
            ctx.note("step", f"settled on {answer}", answer=answer)
            ctx.partial(answer, float(confidence))
        return answer


@pytest.fixture
def scripted_partials(monkeypatch):
    monkeypatch.setitem(REGISTRY, ScriptedPartials.name, ScriptedPartials)
    return ScriptedPartials.name


def submit_and_wait(runner, spec: RunSpec, timeout: float = 30) -> str:
    run_id = runner.submit(spec)
    assert runner.wait(run_id, timeout) not in ("running", None)
    return run_id


# ---- the store itself -------------------------------------------------------------------------


def test_open_store_upgrades_to_head_and_creates_tables(store):
    assert current_revision(store) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"run", "run_strategy", "event", "curve_point", "alembic_version"} <= tables
    assert open_store(store.url) is store  # one Store per URL per process


def test_default_store_is_a_sqlite_file_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGET_ARENA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BUDGET_ARENA_DB", raising=False)
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'budget-arena.db'}"
    store = open_store()
    try:
        assert (tmp_path / "data" / "budget-arena.db").is_file()
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        forget_store(store)
    monkeypatch.setenv("BUDGET_ARENA_DB", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert default_url() == f"sqlite:///{tmp_path / 'elsewhere.db'}"


def test_sqlite_writes_begin_immediate(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    seen: list[str] = []
    from sqlalchemy import event

    def capture(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.write() as conn:
            conn.execute(text("SELECT 1"))
        with store.read() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
        forget_store(store)
    assert seen == ["BEGIN IMMEDIATE", "BEGIN"]


def test_a_bare_postgresql_url_means_psycopg3():
    assert normalise_url("postgresql://u:p@db.example/arena").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/x").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_run_ids_are_short_url_safe_and_unguessable():
    ids = {new_run_id() for _ in range(2000)}
    assert len(ids) == 2000
    for run_id in ids:
        assert len(run_id) == 16 and is_valid_run_id(run_id)
        assert set(run_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for bad in (None, "", "abc", "a" * 15, "a" * 17, "abcdefghijklmno/", "abcdefghijklmn o", 12345, "' OR 1=1 --xxxxx"):
        assert not is_valid_run_id(bad)


# ---- round trip -------------------------------------------------------------------------------


def test_a_run_reads_back_event_for_event_in_order(store, runner):
    budget = Budget(total_tokens=2000)
    expected = direct_events("chain_of_thought", FakeModel(REPLY), budget)
    run_id = submit_and_wait(runner, RunSpec(
        "What is 2+2?", FakeModel(REPLY, token_delay=0.004), [("chain_of_thought", {})], budget, reference="4"))

    stored = replay(run_id, store=store)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert all(e.strategy_index == 0 for e in stored)
    assert normalise(e.event for e in stored) == normalise(expected)
    assert len(stored) < len(expected)  # deltas were coalesced
    assert [e.elapsed for e in stored] == sorted(e.elapsed for e in stored)

    info = get_run(run_id, store=store)
    assert info is not None and info.status == "done" and info.event_count == len(stored)
    assert info.last_seq == len(stored) and not info.is_active
    (strategy,) = info.strategies
    final = expected[-1]
    assert (strategy.answer, strategy.stop_reason, strategy.correct, strategy.status) == ("4", "done", True, "done")
    assert (strategy.input_tokens, strategy.output_tokens, strategy.reasoning_tokens) == (
        final.spent.input_tokens, final.spent.output_tokens, final.spent.reasoning_tokens)
    assert strategy.total_tokens == final.spent.total_tokens and strategy.calls == 1
    assert info.budget_caps == budget and info.model == "fake:scripted"


def test_parallel_strategies_each_read_back_in_order(store, runner, scripted_partials):
    budget = Budget(total_tokens=5000)
    strategies = [("chain_of_thought", {}), (scripted_partials, {}), ("chain_of_thought", {"temperature": 0.5})]
    expected = [direct_events(name, FakeModel(REPLY), budget, **knobs) for name, knobs in strategies]
    run_id = submit_and_wait(runner, RunSpec("What is 2+2?", FakeModel(REPLY, token_delay=0.002), strategies, budget))

    stored = replay(run_id, store=store)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    for index, events in enumerate(expected):
        assert normalise(e.event for e in stored if e.strategy_index == index) == normalise(events)
    info = get_run(run_id, store=store)
    assert [s.strategy for s in info.strategies] == [name for name, _ in strategies]
    assert info.strategies[2].knobs == {"max_tokens": 1024, "temperature": 0.5}
    assert all(s.correct is None for s in info.strategies)  # no reference


def test_unknown_or_malformed_ids_read_as_nothing(store):
    for run_id in (new_run_id(), "not-an-id", "", None, "../../etc/passwd"):
        assert get_run(run_id, store=store) is None
        assert events_since(run_id, 0, store=store) == []
        assert export_run_json(run_id, store=store) is None
        assert curve_points(run_id, store=store).empty


def test_events_since_tails_a_live_run_without_gaps_or_repeats(store, runner):
    model = FakeModel("step " * 120 + "Answer: 7", token_delay=0.005)
    run_id = runner.submit(RunSpec("Count.", model, [("chain_of_thought", {}), ("chain_of_thought", {})]))
    seen: list = []
    polls = 0
    while True:
        active = runner.is_active(run_id)
        batch = events_since(run_id, seen[-1].seq if seen else 0, store=store)
        polls += 1
        seen += batch
        if not active:
            break
        time.sleep(0.05)
    assert polls > 3
    assert [e.seq for e in seen] == [e.seq for e in replay(run_id, store=store)]
    assert last_seq(run_id, store=store) == seen[-1].seq
    assert events_since(run_id, seen[-3].seq, store=store) == seen[-2:]
    assert events_since(run_id, 0, limit=2, store=store) == seen[:2]
    text = "".join(e.payload["text"] for e in seen if e.kind == "text" and e.strategy_index == 0)
    assert text == model.replies


# ---- quality, curves, history, leaderboards ---------------------------------------------------


def test_curve_points_hold_quality_against_the_reference_else_confidence(store, runner, scripted_partials):
    with_ref = submit_and_wait(runner, RunSpec("q", FakeModel("ok"), [(scripted_partials, {})], reference="4"))
    without = submit_and_wait(runner, RunSpec("q", FakeModel("ok"), [(scripted_partials, {})]))

    points = curve_points(with_ref, store=store)
    assert list(points["answer"]) == ["3", "4", "4"]
    assert list(points["correct"]) == [False, True, True]
    assert list(points["quality"]) == [0.0, 1.0, 1.0]
    assert list(points["confidence"]) == [0.3, 0.6, 0.9]
    assert list(points["strategy"]) == [scripted_partials] * 3
    assert points["tokens"].is_monotonic_increasing and points["tokens"].iloc[0] > 0
    assert list(points["seq"]) == sorted(points["seq"])

    points = curve_points(without, store=store)
    assert list(points["quality"]) == [0.3, 0.6, 0.9]
    assert points["correct"].isna().all()
    assert get_run(with_ref, store=store).strategies[0].correct is True


def test_list_runs_filters_and_orders_newest_first(store, runner, scripted_partials):
    first = submit_and_wait(runner, RunSpec("Add two and two", FakeModel(name="fake:a"), [("chain_of_thought", {})],
                                            reference="4", dataset="toy", item_id="1"))
    second = submit_and_wait(runner, RunSpec("Multiply 50% of 8", FakeModel(name="fake:b"),
                                             [("chain_of_thought", {}), (scripted_partials, {})], sweep_id="sw1"))
    third = submit_and_wait(runner, RunSpec("", FakeModel(name="fake:a"), [("chain_of_thought", {})]))

    everything = list_runs(store=store)
    assert list(everything["id"]) == [third, second, first]
    assert list(everything.columns[:6]) == ["id", "created", "finished", "status", "model", "problem"]
    assert list(everything["status"]) == ["error", "done", "done"]  # the empty problem fails every strategy
    row = everything.set_index("id").loc[second]
    assert row["strategies"] == f"chain_of_thought, {scripted_partials}" and row["n_strategies"] == 2
    assert row["sweep_id"] == "sw1" and row["total_tokens"] > 0
    assert everything.set_index("id").loc[first, "n_correct"] == 1
    assert str(everything["created"].dt.tz) == "UTC"

    assert list(list_runs(model="fake:a", store=store)["id"]) == [third, first]
    assert list(list_runs(strategy=scripted_partials, store=store)["id"]) == [second]
    assert list(list_runs(status="error", store=store)["id"]) == [third]
    assert list(list_runs(status=["done"], store=store)["id"]) == [second, first]
    assert list(list_runs(search="two AND", store=store)["id"]) == [first]
    assert list(list_runs(search="50%", store=store)["id"]) == [second]
    assert list(list_runs(search="5_%", store=store)["id"]) == []  # wildcards are literal
    assert list(list_runs(search=third, store=store)["id"]) == [third]
    assert list(list_runs(limit=1, store=store)["id"]) == [third]
    assert list(list_runs(since=datetime.now(UTC) + timedelta(minutes=1), store=store)["id"]) == []
    assert list(list_runs(dataset="toy", store=store)["id"]) == [first]
    assert list(list_runs(sweep_id="sw1", store=store)["id"]) == [second]


def test_strategy_results_join_each_strategy_with_its_run(store, runner, scripted_partials):
    budget = Budget(total_tokens=900, seconds=60)
    run_id = submit_and_wait(runner, RunSpec("2+2?", FakeModel(name="fake:lb"),
                                             [("chain_of_thought", {}), (scripted_partials, {"answers": "5,6,7"})],
                                             budget, reference="4", dataset="toy", item_id="7"))
    frame = strategy_results(store=store)
    assert len(frame) == 2 and list(frame["strategy_index"]) == [0, 1]
    cot, scripted = frame.iloc[0], frame.iloc[1]
    assert (cot["run_id"], cot["model"], cot["dataset"], cot["item_id"]) == (run_id, "fake:lb", "toy", "7")
    assert bool(cot["correct"]) is True and bool(scripted["correct"]) is False
    assert scripted["answer"] == "7" and scripted["stop_reason"] == "done"
    assert cot["budget_total_tokens"] == 900 and cot["budget_seconds"] == 60 and pd.isna(cot["budget_usd"])
    assert cot["total_tokens"] == cot["input_tokens"] + cot["output_tokens"] > 0
    assert scripted["knobs"] == {"answers": "5,6,7", "confidences": "0.3,0.6,0.9"}
    assert list(strategy_results(strategy=scripted_partials, store=store)["strategy_index"]) == [1]
    assert strategy_results(model="fake:other", store=store).empty
    assert strategy_results(dataset="other", store=store).empty

    # A run still going is left out unless asked for.
    slow = runner.submit(RunSpec("x", FakeModel("word " * 400, token_delay=0.01), [("chain_of_thought", {})]))
    try:
        assert slow not in set(strategy_results(store=store)["run_id"])
        assert slow in set(strategy_results(strategy_status=None, store=store)["run_id"])
    finally:
        runner.cancel(slow)
        runner.wait(slow, 10)


# ---- export / import --------------------------------------------------------------------------


def test_export_json_has_everything_to_replay_and_imports_elsewhere(store, runner, scripted_partials, tmp_path):
    run_id = submit_and_wait(runner, RunSpec("2+2?", FakeModel(REPLY, token_delay=0.001),
                                             [("chain_of_thought", {}), (scripted_partials, {})], reference="4"))
    exported = export_run_json(run_id, store=store)
    text_form = json.dumps(exported)  # serialisable as is
    assert exported["run"]["id"] == run_id and exported["run"]["status"] == "done"
    assert len(exported["events"]) == get_run(run_id, store=store).event_count
    assert len(exported["curve_points"]) == len(curve_points(run_id, store=store))
    assert [s["strategy"] for s in exported["strategies"]] == ["chain_of_thought", scripted_partials]
    assert "owner_pid" not in exported["run"]

    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert import_run_json(json.loads(text_form), store=other) == run_id
        assert export_run_json(run_id, store=other) == exported
        assert [e.event for e in replay(run_id, store=other)] == [e.event for e in replay(run_id, store=store)]
        with pytest.raises(ValueError, match="already exists"):
            import_run_json(exported, store=other)
        with pytest.raises(ValueError, match="export"):
            import_run_json({"format": "something else"}, store=other)
    finally:
        forget_store(other)


def test_export_csv_has_one_row_per_strategy_run(store, runner):
    ids = [submit_and_wait(runner, RunSpec(f"{n}+{n}?", FakeModel(f"Answer: {2 * n}"),
                                           [("chain_of_thought", {}), ("chain_of_thought", {"max_tokens": 64})],
                                           reference=str(2 * n))) for n in (1, 2)]
    from io import StringIO

    frame = pd.read_csv(StringIO(export_runs_csv(store=store)))
    assert len(frame) == 4 and set(frame["run_id"]) == set(ids)
    assert frame["correct"].all()
    assert json.loads(frame.iloc[1]["knobs"]) == {"max_tokens": 64, "temperature": 0.0}
    assert len(pd.read_csv(StringIO(export_runs_csv([ids[0]], store=store)))) == 2


# ---- interrupted runs -------------------------------------------------------------------------


def _insert_run(store, *, host: str, pid: int | None, token: str | None, updated: datetime | None = None) -> str:
    run_id = new_run_id()
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(insert(Run).values(
            id=run_id, created=now, updated=updated or now, problem="p", model="fake:x", model_options={}, budget={},
            status="running", owner_host=host, owner_pid=pid, owner_token=token))
        conn.execute(insert(RunStrategy).values(run_id=run_id, strategy_index=0, strategy="chain_of_thought",
                                                knobs={}, status="running"))
        conn.execute(insert(EventRow).values(run_id=run_id, seq=1, strategy_index=0, kind="note", label="x",
                                             payload={"kind": "note", "label": "x", "text": "kept", "data": None},
                                             elapsed=0.0, wall=time.time()))
    return run_id


def test_runs_of_dead_processes_on_this_host_become_interrupted(store):
    host, pid, token = own_identity()
    child = subprocess.Popen(["true"])
    child.wait()
    dead = _insert_run(store, host=host, pid=child.pid, token=None)
    reused_pid = _insert_run(store, host=host, pid=pid, token="another-boot:1")  # our pid, not our process
    alive = _insert_run(store, host=host, pid=pid, token=token)
    elsewhere = _insert_run(store, host=hostname() + "-other", pid=child.pid, token=None)

    assert sorted(mark_interrupted_dead_owners(store)) == sorted([dead, reused_pid])
    for run_id in (dead, reused_pid):
        info = get_run(run_id, store=store)
        assert info.status == "interrupted" and "interrupted" in info.error
        assert info.strategies[0].status == "interrupted" and info.event_count == 1
    assert get_run(alive, store=store).status == "running"
    assert get_run(elsewhere, store=store).status == "running"


def test_stale_runs_of_any_host_can_be_marked_interrupted(store):
    old = _insert_run(store, host="gone-host", pid=1, token=None, updated=datetime.now(UTC) - timedelta(hours=2))
    fresh = _insert_run(store, host="busy-host", pid=1, token=None)
    assert mark_interrupted_stale(store, timedelta(hours=1)) == [old]
    assert get_run(old, store=store).status == "interrupted"
    assert get_run(fresh, store=store).status == "running"
    assert mark_interrupted_stale(store, 3600) == []


def test_a_finishing_run_does_not_overwrite_interrupted(store, runner):
    run_id = runner.submit(RunSpec("x", FakeModel("word " * 100, token_delay=0.01), [("chain_of_thought", {})]))
    with store.write() as conn:
        conn.execute(update(Run).where(Run.id == run_id).values(status="interrupted", error="marked elsewhere"))
    runner.wait(run_id, 30)
    info = get_run(run_id, store=store)
    assert (info.status, info.error) == ("interrupted", "marked elsewhere")
    assert info.strategies[0].status == "done"  # what the strategy did is still recorded


# ---- concurrency (both backends; processes too in test_runner.py) -----------------------------


def test_eight_threads_submitting_at_once_lose_nothing(store, runner):
    per_thread, errors = 4, []
    ids: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            mine = [runner.submit(RunSpec(f"thread {n} run {k}", FakeModel("a b c Answer: 1"),
                                          [("chain_of_thought", {}), ("chain_of_thought", {})], reference="1"))
                    for k in range(per_thread)]
            with lock:
                ids.extend(mine)
        except Exception as exc:  # reported below, with the thread's failure
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for run_id in ids:
        assert runner.wait(run_id, 60) == "done"
    assert len(ids) == len(set(ids)) == 8 * per_thread
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(Run).where(Run.id.in_(ids))) == len(ids)
    frame = strategy_results(run_ids=ids, store=store)
    assert len(frame) == 2 * len(ids) and frame["correct"].all()
    for run_id in ids:
        events = replay(run_id, store=store)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert sum(e.kind == "final" for e in events) == 2
