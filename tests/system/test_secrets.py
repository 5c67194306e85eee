"""Keys never reach the store, a log line, an exported file, a share link or an error message.

One recognisable fake key goes through every path: successful runs on both SDKs, provider errors
whose bodies echo the key back (401, a retried 500, an error event mid-stream), the host's key
from the environment, a key put in the wrong field, the CLI, JSON and CSV exports and the run
page with its share link; everything is logged at DEBUG (SDK, HTTP and SQL loggers included) to
a file. Then the database file (and its -wal/-shm), the log, the exports and every rendered text
are searched for the key's marker: zero hits.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.state import share_link
from reasoning.config import get_settings
from storage import (
    RunSpec,
    Store,
    export_run_json,
    export_runs_csv,
    forget_store,
    get_run,
    get_runner,
    list_runs,
    open_store,
)
from storage.runner import Runner
from tests.stubs import StubReply, StubServer, request_key
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub
from tests.support import ROOT

CANARY = "SECRETCANARY"
KEY = f"sk-test-{CANARY}-7f3a9c2e5b1d4a6f"
HOST_KEY = f"sk-host-{CANARY}-0e9d8c7b6a5f4e3d"
DEBUG_LOGGERS = ("openai", "anthropic", "httpx", "httpcore", "httpx2", "httpcore2", "storage", "reasoning", "app",
                 "sqlalchemy.engine", "streamlit")


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger at DEBUG, written to a file (as a host debugging a deployment would)."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", *DEBUG_LOGGERS)}
    root.addHandler(handler)
    for name in ("", *DEBUG_LOGGERS):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    handler.close()
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A private store as the app's default; provider settings quick; no real keys around."""
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    monkeypatch.setenv("BUDGET_ARENA_PROVIDER_TIMEOUT", "2")
    monkeypatch.setenv("BUDGET_ARENA_PROVIDER_MAX_RETRIES", "1")
    get_settings(fresh=True)
    yield url
    monkeypatch.undo()
    get_settings(fresh=True)


@pytest.fixture
def store(env: str) -> Iterator[Store]:
    store = open_store(env)
    yield store
    forget_store(store)


@pytest.fixture
def runner(store: Store) -> Iterator[Runner]:
    runner = get_runner(store)
    yield runner
    runner.close()


def start(runner: Runner, model: str, stub: StubServer, *, secrets: dict | None = None,
          options: dict | None = None) -> str:
    return runner.submit(RunSpec("What is 2 + 2?", model, [("chain_of_thought", {"max_tokens": 64})],
                                 reference="4", model_options={"base_url": stub.base_url, **(options or {})},
                                 secrets=secrets if secrets is not None else {"api_key": KEY}))


def hits(data: bytes | str) -> int:
    raw = data.encode() if isinstance(data, str) else data
    return raw.count(CANARY.encode())


def rendered_texts(at: AppTest) -> str:
    """Everything an AppTest page put on screen, as one string (element protos included)."""
    parts: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def test_no_key_in_store_logs_exports_links_or_errors(runner, store, env, debug_log, tmp_path, monkeypatch):
    run_ids: list[str] = []
    expected: dict[str, str] = {}
    with OpenAIStub() as oai, AnthropicStub() as ant:
        # success on both SDKs, the key passed as the app passes it (RunSpec.secrets)
        for stub, model in ((oai, "openai:gpt-4o-mini"), (ant, "anthropic:claude-sonnet-4-5")):
            run_id = start(runner, model, stub)
            run_ids.append(run_id)
            assert runner.wait(run_id, 30) == expected.setdefault(run_id, "done")

        # provider errors that quote the key back
        for stub, model in ((oai, "openai:gpt-4o-mini"), (ant, "anthropic:claude-sonnet-4-5")):
            for fault in (StubReply(status=401, echo_key=True),
                          StubReply(status=500, echo_key=True),  # retried once, then reported
                          StubReply(error_event_after=3, error_message=f"overloaded for key {KEY}")):
                stub.responder = lambda request, fault=fault: fault
                run_id = start(runner, model, stub)
                expected[run_id] = "error"
                assert runner.wait(run_id, 30) == "error"
                run_ids.append(run_id)
            stub.responder = None

        # the host's key from the environment, echoed by the server
        monkeypatch.setenv("OPENAI_API_KEY", HOST_KEY)
        oai.queue(StubReply(status=401, echo_key=True))
        host_run = start(runner, "openai:gpt-4o-mini", oai, secrets={})
        expected[host_run] = "error"
        run_ids.append(host_run)
        assert runner.wait(host_run, 30) == "error"

        # a key put in model_options by mistake is used for the call but not stored
        wrong_field = start(runner, "openai:gpt-4o-mini", oai, secrets={}, options={"api_key": KEY})
        expected[wrong_field] = "done"
        run_ids.append(wrong_field)
        assert runner.wait(wrong_field, 30) == "done"

        # the CLI, with the host's key in its environment: a success and a failure
        cli = CliRunner()
        oai.queue(StubReply(), StubReply(status=401, echo_key=True))
        cli_outputs = []
        for _ in range(2):
            result = cli.invoke(cli_app, ["run", "What is 2 + 2?", "--model", "openai:gpt-4o-mini", "--base-url",
                                          oai.base_url, "--json", "--db", env, "-s", "direct",
                                          "--max-total-tokens", "2000"])
            assert result.exit_code in (0, 1), result.output
            cli_outputs.append(result.output)
            run_ids.append(json.loads(result.output)["run_id"])
        assert [json.loads(o)["status"] for o in cli_outputs] == ["done", "error"]

        keys_sent = {request_key(r) for stub in (oai, ant) for r in stub.requests}
    assert {KEY, HOST_KEY} <= keys_sent  # the keys did reach the servers: the paths were real

    # the errors say what happened, without the key
    errors = {run_id: get_run(run_id, store=store).error for run_id in run_ids}
    assert any("authentication failed (HTTP 401)" in (e or "") for e in errors.values())
    assert any("server error (HTTP 500)" in (e or "") for e in errors.values())
    assert any("mid-stream" in (e or "") for e in errors.values())
    assert sum(hits(e or "") for e in errors.values()) == 0

    # exports: every run as JSON, all runs as CSV, as the app and CLI write them
    exports = tmp_path / "exports"
    exports.mkdir()
    for run_id in run_ids:
        (exports / f"run-{run_id}.json").write_text(json.dumps(export_run_json(run_id, store=store)))
    (exports / "runs.csv").write_text(export_runs_csv(store=store))
    assert len(list_runs(store=store)) == len(run_ids)

    # the run page and its share link, as a visitor opening the link sees them
    pages = []
    for run_id in run_ids:
        link = share_link("http://arena.example/run", run_id)
        assert link == f"http://arena.example/?run={run_id}"
        at = AppTest.from_file(str(ROOT / "pages" / "run.py"), default_timeout=30)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, at.exception
        pages.append(rendered_texts(at))
    assert any("authentication failed" in page for page in pages)

    logging.getLogger("budget-arena.test").debug("flush")  # the log file is written through
    texts = {"cli output": "\n".join(cli_outputs), "run pages": "\n".join(pages),
             "log": debug_log.read_text(encoding="utf-8")}
    assert "HTTP Request: POST" in texts["log"] or "Sending HTTP Request" in texts["log"]  # DEBUG was on
    files = [*exports.iterdir()]
    db_path = Path(env.removeprefix("sqlite:///"))
    database_files = [p for p in (db_path, db_path.with_name(db_path.name + "-wal"),
                                  db_path.with_name(db_path.name + "-shm")) if p.exists()]
    assert db_path in database_files

    found = {name: hits(text) for name, text in texts.items()}
    found |= {str(p.name): hits(p.read_bytes()) for p in files + database_files}
    assert all(count == 0 for count in found.values()), found


# ---- credentials in URLs, and keys a server echoes into its reply ---------------------------------

PASSWORD = "S3cretPassw0rd"
QUERY_KEY = "QKEYCANARY-4b8d1f"  # an ?api_key= value


def url_hits(data: bytes | str) -> dict[str, int]:
    raw = data.encode() if isinstance(data, str) else data
    return {marker: raw.count(marker.encode()) for marker in (PASSWORD, QUERY_KEY, CANARY)
            if raw.count(marker.encode())}


def test_no_url_credentials_or_echoed_keys_in_store_logs_exports_or_pages(runner, store, env, debug_log, tmp_path,
                                                                          monkeypatch):
    from sqlalchemy import select

    from storage.sweeps import get_sweep
    from storage.tables import Sweep
    from tests.stubs import closed_port_url

    echo = StubReply(text=f"The server says: key {KEY}, password {PASSWORD}, token {QUERY_KEY}. Answer: 4",
                     thinking=f"I was sent {KEY} and {PASSWORD}")
    run_ids: list[str] = []
    with OpenAIStub() as oai:
        secret_url = f"http://alice:{PASSWORD}@127.0.0.1:{oai.port}/v1?api_key={QUERY_KEY}"
        # 1. the web app's way: base_url in model_options, the key in secrets; the server echoes them all
        oai.queue(echo)
        run_id = runner.submit(RunSpec("What is 2 + 2?", "openai:gpt-4o-mini", [("chain_of_thought", {})],
                                       reference="4", model_options={"base_url": secret_url},
                                       secrets={"api_key": KEY}))
        assert runner.wait(run_id, 30) == "done"
        run_ids.append(run_id)
        stored = get_run(run_id, store=store)
        assert stored.model_options == {"base_url": f"http://127.0.0.1:{oai.port}/v1"}
        assert stored.strategies[0].answer == "4"
        # the call itself had the credentials: user:password as Basic auth, the query with the request
        assert oai.requests[-1].header("authorization") == "Basic " + base64.b64encode(
            f"alice:{PASSWORD}".encode()).decode()

        # 2. an error that names the URL (nothing listens there)
        dead = closed_port_url("/v1").replace("http://", f"http://alice:{PASSWORD}@") + f"?token={QUERY_KEY}"
        run_id = runner.submit(RunSpec("What is 2 + 2?", "openai:gpt-4o-mini", ["direct"],
                                       model_options={"base_url": dead}, secrets={"api_key": KEY}))
        assert runner.wait(run_id, 30) == "error"
        run_ids.append(run_id)
        assert "could not connect to http://127.0.0.1:" in get_run(run_id, store=store).error

        # 3. the same URL from OPENAI_BASE_URL, an echo again
        monkeypatch.setenv("OPENAI_BASE_URL", secret_url)
        oai.queue(echo)
        run_id = runner.submit(RunSpec("What is 2 + 2?", "openai:gpt-4o-mini", ["direct"], reference="4",
                                       secrets={"api_key": KEY}))
        assert runner.wait(run_id, 30) == "done"
        run_ids.append(run_id)
        monkeypatch.delenv("OPENAI_BASE_URL")

        # 4. the CLI: run and sweep with --base-url (the sweep's plan is stored too), the host's key in
        # the environment
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        cli = CliRunner()
        oai.queue(echo)
        result = cli.invoke(cli_app, ["run", "What is 2 + 2?", "--model", "openai:gpt-4o-mini", "--base-url",
                                      secret_url, "--json", "--db", env, "-s", "direct", "--reference", "4",
                                      "--max-total-tokens", "2000"])
        assert result.exit_code == 0, result.output
        run_ids.append(json.loads(result.output)["run_id"])
        problems = tmp_path / "one.jsonl"
        problems.write_text(json.dumps({"problem": "What is 2 + 2?", "answer": "4"}) + "\n")
        oai.queue(echo)
        swept = cli.invoke(cli_app, ["sweep", f"file:{problems}", "-s", "direct", "-b", "500", "--model",
                                     "openai:gpt-4o-mini", "--base-url", secret_url, "--json", "--db", env])
        assert swept.exit_code == 0, swept.output
        sweep_id = json.loads(swept.stdout)["sweep_id"]
        assert get_sweep(sweep_id, store=store) is not None
        with store.read() as conn:
            plan = conn.scalar(select(Sweep.plan).where(Sweep.id == sweep_id))
        assert plan["model_options"]["base_url"] == f"http://127.0.0.1:{oai.port}/v1"
        cli_outputs = [result.output, swept.output]
    run_ids += list(list_runs(sweep_id=sweep_id, store=store)["id"])

    # exports, the run pages (share links) and the History page every visitor sees
    exports = tmp_path / "url-exports"
    exports.mkdir()
    for run_id in run_ids:
        (exports / f"run-{run_id}.json").write_text(json.dumps(export_run_json(run_id, store=store)))
    (exports / "runs.csv").write_text(export_runs_csv(store=store))
    pages = []
    for run_id in run_ids:
        at = AppTest.from_file(str(ROOT / "pages" / "run.py"), default_timeout=30)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, at.exception
        pages.append(rendered_texts(at))
    history = AppTest.from_file(str(ROOT / "pages" / "history.py"), default_timeout=30).run()
    assert not history.exception, history.exception
    pages.append(rendered_texts(history))
    assert sum("server says" in page for page in pages) >= 4  # the echoing replies are shown (redacted)

    logging.getLogger("budget-arena.test").debug("flush")
    log_text = debug_log.read_text(encoding="utf-8")
    assert "HTTP Request: POST http://127.0.0.1:" in log_text  # httpx logged the URLs, at INFO
    db_path = Path(env.removeprefix("sqlite:///"))
    found = {"cli": url_hits("\n".join(cli_outputs)), "pages": url_hits("\n".join(pages)), "log": url_hits(log_text)}
    for path in [*exports.iterdir(), db_path, db_path.with_name(db_path.name + "-wal")]:
        if path.exists():
            found[path.name] = url_hits(path.read_bytes())
    assert not any(found.values()), found


def test_redact_url_and_streamed_secrets():
    from reasoning.budget import Spend
    from reasoning.events import FinalAnswer, Note, PartialAnswer, TextDelta, ThinkingDelta
    from reasoning.redaction import EventRedactor, base_and_query, redact, redact_url, url_secrets

    assert redact_url(f"http://alice:{PASSWORD}@h:8000/v1?API_KEY=x&v=2&Token=y&x-api-key=z&sig=s") == \
        "http://h:8000/v1?v=2"
    assert redact_url("https://h/v1?model=a&key=b#access_token=c") == "https://h/v1?model=a"
    assert redact_url("http://h/v1?a=1&&b=2") == "http://h/v1?a=1&&b=2"  # nothing secret: unchanged
    assert redact_url(f"http://al:{PASSWORD}/x@h/v1") == "http://h/v1"  # an unescaped / in the password
    assert url_secrets(f"http://alice:{PASSWORD}@h/v1?password=hunter22") == [
        f"alice:{PASSWORD}", PASSWORD, "hunter22"]
    assert redact(f"could not connect to http://alice:{PASSWORD}@h/v1 (refused)") == \
        "could not connect to http://h/v1 (refused)"
    assert base_and_query(f"http://h/v1?api_key={QUERY_KEY}&v=2") == ("http://h/v1", {"api_key": QUERY_KEY, "v": "2"})

    # a key split over many deltas never reaches the store whole, and nothing else is held back long
    redactor = EventRedactor([KEY, PASSWORD])
    reply = f"key {KEY} then {PASSWORD[:5]} and {PASSWORD}! Answer: 4"
    events = [e for i in range(0, len(reply), 3) for e in redactor(TextDelta("s1", reply[i:i + 3]))]
    events += redactor(ThinkingDelta("s1", f"saw {KEY}"))
    events += redactor(Note("vote", f"{KEY} wins", {"answers": [KEY], KEY: 1}))
    events += redactor(PartialAnswer(KEY, 0.5, Spend()))
    events += redactor(FinalAnswer(f"{PASSWORD}", "done", Spend()))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == f"key *** then {PASSWORD[:5]} and ***! Answer: 4"
    assert CANARY not in repr(events) and PASSWORD not in repr(events)
    assert [e.kind for e in events][-3:] == ["note", "partial", "final"]
    assert not EventRedactor([None, "short", "not-needed"])  # nothing to redact: events pass as they are


def test_a_sweep_redacts_its_key_from_replies_that_echo_it(runner, store, tmp_path):
    """The Sweep page passes the key typed there as prepare_sweep(secrets=...): each cell knows it."""
    from reasoning.budget import Budget
    from reasoning.datasets import load_dataset
    from reasoning.sweep_plan import StrategyChoice, SweepPlan
    from storage.sweeps import prepare_sweep

    problems = tmp_path / "two.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"What is {n} + {n}?", "answer": str(2 * n)}) + "\n"
                                for n in (1, 2)))
    with OpenAIStub() as oai:
        oai.default = StubReply(text=f"Your key {KEY} works. Answer: 2", thinking=f"key={KEY}")
        plan = SweepPlan(dataset=f"file:{problems}", strategies=(StrategyChoice("direct"),),
                         budgets=(Budget(total_tokens=500),), model="openai:gpt-4o-mini",
                         model_options={"base_url": oai.base_url})
        prepared = prepare_sweep(plan, store=store, runner=runner, secrets={"api_key": KEY},
                                 dataset=load_dataset(plan.dataset))
        progress = prepared.execute().result(60)
        assert {request_key(r) for r in oai.requests} == {KEY}
    assert progress.status == "done" and progress.done == 2
    run_ids = list(list_runs(sweep_id=prepared.sweep_id, store=store)["id"])
    exported = json.dumps([export_run_json(run_id, store=store) for run_id in run_ids])
    assert "Your key *** works" in exported and hits(exported) == 0
    db_path = Path(store.url.removeprefix("sqlite:///"))
    assert hits(db_path.read_bytes()) + hits(db_path.with_name(db_path.name + "-wal").read_bytes()) == 0
