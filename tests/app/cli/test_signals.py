"""SIGTERM is handled like Ctrl-C: `run` ends its run `interrupted` (what it
streamed is kept) and exits 143 (130 for SIGINT); `sweep` stops gracefully and exits 143; `serve`
passes the signal to the Streamlit server, and every run the server left active ends `interrupted`,
exit 143. Real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from app.cli import exit_code_of
from storage import events_since, forget_store, get_run, open_store
from storage.ids import new_run_id
from storage.liveness import hostname, process_token
from storage.sweeps import get_sweep
from storage.tables import Run, RunStrategy
from tests.support import ROOT, free_port, stop_process, wait_for_http

# The command line with the fake model made slow (30 ms a token, 400 words), so a signal lands mid-run.
SLOW_CLI = """
import sys
import reasoning.models as models
real = models.get_model
models.get_model = lambda spec, **options: real(spec, token_delay=0.03, replies="word " * 400 + "Answer: 4",
                                                **options)
from app.cli import main
sys.argv = ["budget-arena", *sys.argv[1:]]
main()
"""


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'signals.db'}"
    yield url
    forget_store(open_store(url))


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "BUDGET_ARENA_ENABLE_FAKE": "1"}


def wait_until(condition, what: str, child: subprocess.Popen, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert child.poll() is None, (what, child.communicate())
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def only_run(store) -> str | None:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.scalar(select(Run.id).limit(1))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_a_cli_run_interrupted_with_what_it_streamed(db, signum):
    child = subprocess.Popen([sys.executable, "-c", SLOW_CLI, "run", "Count.", "--model", "fake", "-s",
                              "chain_of_thought", "--max-total-tokens", "5000", "--json", "--db", db],
                             env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = open_store(db)
    try:
        run_id = wait_until(lambda: only_run(store), "the run", child)
        wait_until(lambda: any(e.kind == "text" for e in events_since(run_id, 0, store=store)), "streamed text",
                   child)
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == exit_code_of(signum) == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum], stderr
    name = signal.Signals(signum).name
    assert f"{name}: run {run_id} ended interrupted" in stderr
    info = get_run(run_id, store=store)
    assert info.status == "interrupted" and info.error == f"interrupted: the command running it got {name}"
    assert info.finished is not None
    assert info.strategies[0].output_tokens > 0  # what streamed before the signal is kept
    assert [e.kind for e in events_since(run_id, 0, store=store)][-1] == "final"
    assert json.loads(stdout)["status"] == "interrupted"  # --json still prints the record


def test_sigterm_stops_a_sweep_gracefully_with_exit_143(db):
    sweep = ["sweep", "basic_arithmetic", "--size", "12", "-b", "100,300", "--model", "fake", "-s", "direct",
             "-s", "chain_of_thought", "--json", "--db", db]
    child = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *sweep], env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    store = open_store(db)
    try:
        def finished_cells() -> bool:
            with store.read() as conn:
                return len(conn.scalars(select(Run.id).where(Run.status == "done")).all()) >= 2

        wait_until(finished_cells, "two finished cells", child, timeout=90)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 143, stderr
    assert "SIGTERM: stopping" in stderr
    summary = json.loads(stdout)
    assert summary["status"] == "cancelled" and summary["exit_code"] == 143
    with store.read() as conn:
        assert conn.scalars(select(Run.id).where(Run.status.in_(("running", "queued")))).all() == []
    assert get_sweep(summary["sweep_id"], store=store).status == "cancelled"


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_sigterm_stops_serve_and_its_runs_end_interrupted(db, tmp_path):
    command = Path(sys.executable).with_name("budget-arena")
    if not command.exists():
        pytest.skip(f"{command} is missing: install the project (pip install -e '.[test]')")
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "BUDGET_ARENA_DATA_DIR": str(tmp_path / "data")}
    with log_path.open("w") as log:
        server = subprocess.Popen([str(command), "serve", "--port", str(port), "--db", db], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", server, log_path)
            (streamlit_pid,) = children_of(server.pid)
            # A run the Streamlit process owns and has not finished (as a run mid-stream in a page is).
            run_id = new_run_id()
            store = open_store(db)
            now = datetime.now(UTC)
            with store.write() as conn:
                conn.execute(insert(Run).values(
                    id=run_id, created=now, updated=now, problem="Count.", model="fake:scripted", model_options={},
                    budget={"total_tokens": 500}, status="running", owner_host=hostname(), owner_pid=streamlit_pid,
                    owner_token=process_token(streamlit_pid)))
                conn.execute(insert(RunStrategy).values(run_id=run_id, strategy_index=0, strategy="direct",
                                                        knobs={}, status="running"))
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 143, log_path.read_text()
        finally:
            stop_process(server)
    assert not Path(f"/proc/{streamlit_pid}").exists()  # the server went with it
    info = get_run(run_id, store=store)
    assert info.status == "interrupted", log_path.read_text()
    assert info.error == "interrupted: the server running it stopped (SIGTERM)"
    assert [s.status for s in info.strategies] == ["interrupted"]
