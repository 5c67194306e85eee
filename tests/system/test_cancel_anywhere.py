"""Cancel from any process: the Cancel button or `budget-arena cancel` in one
process sets run.cancel_requested in the store, and the runner of the process that owns the run
picks it up within a second (it polls every CANCEL_POLL_SECONDS while it has runs). Two real
processes: a child owns a run on a slow model; this test process cancels it through the store, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from app.cli import app as cli_app
from storage import events_since, forget_store, get_run, open_store
from storage.liveness import request_cancel
from storage.runner import CANCEL_POLL_SECONDS
from tests.storage.test_storage import postgres_cluster, store_url  # noqa: F401  (shared fixtures)
from tests.support import ROOT

# The child: one run of two strategies on a model that streams 2,000 words at 20 ms each (40 s), so
# only a cancel ends it early. It prints the run id, then the status the run ended with.
OWNER = """
import sys
from reasoning.models.fake import FakeModel
from storage import RunSpec, get_runner, open_store

store = open_store(sys.argv[1])
runner = get_runner(store)
model = FakeModel("word " * 2000 + "Answer: 1", token_delay=0.02)
run_id = runner.submit(RunSpec("Count.", model, [("chain_of_thought", {"max_tokens": 4000})] * 2))
print(run_id, flush=True)
print(runner.wait(run_id, 120), flush=True)
"""
PICKUP_LIMIT = 1.5  # seconds from the request to the strategies' stop: one poll (0.5 s) plus slack for a busy machine


@pytest.fixture
def store(store_url):  # noqa: F811
    store = open_store(store_url)
    yield store
    forget_store(store)


def start_owner(url: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", OWNER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read()
    return child, run_id


def wait_streaming(run_id: str, store, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.kind == "text" for e in events_since(run_id, 0, store=store)):
        assert time.monotonic() < deadline, "the child's run never streamed"
        time.sleep(0.05)


def wait_ended(run_id: str, store, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while (info := get_run(run_id, store=store)).is_active:
        assert time.monotonic() < deadline, "the run did not end after the cancel request"
        time.sleep(0.02)
    return info.status


def test_a_cancel_from_another_process_stops_the_run_within_a_second(store, store_url):  # noqa: F811
    assert CANCEL_POLL_SECONDS <= 0.5
    child, run_id = start_owner(store_url)
    try:
        wait_streaming(run_id, store)
        asked = time.time()
        assert request_cancel(store, run_id)  # what the Cancel button does when another process runs it
        assert wait_ended(run_id, store) == "cancelled"
        finals = [e for e in events_since(run_id, 0, store=store) if e.kind == "final"]
        assert [e.payload["stop"] for e in finals] == ["cancelled", "cancelled"]
        picked_up = max(e.wall for e in finals) - asked  # both clocks are this machine's wall clock
        assert picked_up < PICKUP_LIMIT, f"the owner stopped {picked_up:.2f} s after the request"
        info = get_run(run_id, store=store)
        assert [(s.status, s.stop_reason) for s in info.strategies] == [("cancelled", "cancelled")] * 2
        assert all(s.output_tokens > 0 for s in info.strategies)  # what streamed before the cancel is kept
        out, err = child.communicate(timeout=30)
        assert out.strip() == "cancelled", err
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_cancel_command_reaches_a_run_of_another_process(store, store_url):  # noqa: F811
    child, run_id = start_owner(store_url)
    try:
        wait_streaming(run_id, store)
        result = CliRunner().invoke(cli_app, ["cancel", run_id, "--db", store_url])
        assert result.exit_code == 0, result.output
        assert f"run {run_id}: cancel requested; now cancelled" in result.output
        assert child.communicate(timeout=30)[0].strip() == "cancelled"
        # A run that has ended cannot be cancelled: a no-op that says so, exit 0; an unknown run is not found.
        again = CliRunner().invoke(cli_app, ["cancel", run_id, "--db", store_url])
        assert again.exit_code == 0 and "is not running: it ended cancelled; nothing to cancel" in again.output
        assert not request_cancel(store, run_id)
        unknown = CliRunner().invoke(cli_app, ["cancel", "A" * 16, "--db", store_url])
        assert unknown.exit_code == 1 and "no such run" in unknown.output
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_cancel_button_of_another_server_stops_the_run(store, store_url, monkeypatch):  # noqa: F811
    """The Run page of a server that does not run the run (this process) asks the owner to stop it."""
    from streamlit.testing.v1 import AppTest

    from app.state import ROOT as APP_ROOT
    from reasoning.config import get_settings

    monkeypatch.setenv("BUDGET_ARENA_DB", store_url)
    get_settings(fresh=True)
    child, run_id = start_owner(store_url)
    try:
        wait_streaming(run_id, store)
        at = AppTest.from_file(str(APP_ROOT / "app" / "main.py"), default_timeout=60)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        at.button(key=f"cancel.{run_id}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert [t.value for t in at.toast] == ["Cancel requested: the server running this run stops it within a "
                                               "second."]
        assert wait_ended(run_id, store) == "cancelled"
        assert child.communicate(timeout=30)[0].strip() == "cancelled"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        monkeypatch.undo()
        get_settings(fresh=True)
