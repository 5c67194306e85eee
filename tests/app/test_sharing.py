"""Sharing runs beyond one server: JSON export -> import (CLI and History page), the self-contained
HTML run (in Debian chromium with the network blocked), the static leaderboard report, share links.

A hostile export (wrong types, 100 MB, NUL and surrogates, deep nesting, HTML and script in every
text field) is refused whole or, when it is valid data, shown as inert text.
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import storage.importer as importer
from app.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, app
from app.html_export import run_html
from app.html_page import embed_json
from app.svg_charts import SvgChart, log_ticks, nice_ticks
from reasoning.budget import Budget
from reasoning.config import Settings
from reasoning.models.fake import FakeModel
from storage import (
    RunSpec,
    curve_points,
    export_run_json,
    forget_store,
    get_run,
    get_runner,
    import_run_json,
    list_runs,
    new_run_id,
    open_store,
    replay,
    strategy_results,
)
from storage.import_checks import MAX_TEXT_CHARS
from storage.importer import (
    MAX_FILE_BYTES,
    ImportRefused,
    import_export_data,
    import_file,
    parse_export_bytes,
)
from storage.tables import CurvePoint, Run, RunStrategy
from storage.tables import Event as EventRow
from tests.storage.test_storage import postgres_cluster  # noqa: F401  (the shared PostgreSQL fixture)
from tests.support import ROOT

# Closes a <script> block, opens tags and handlers, a comment, JSON's line separators and markdown.
HOSTILE = ("</script><script>alert(1)</script><img src=x onerror=alert(2)><!-- <b>bold</b> "
           "\u2028\u2029 **md** [l](http://x.test/) &amp; ${x}")
REPLY = "Let me think. 2 + 2 = 4. " + HOSTILE + " Answer: 4"


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'here.db'}")
    yield store
    get_runner(store).close()
    forget_store(store)


@pytest.fixture
def empty_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    yield store
    forget_store(store)


@pytest.fixture
def recorded_run(store) -> str:
    """A finished run on the fake model: two entries with streamed text, partial and final answers,
    self-consistency's vote notes, a reference answer; the reply carries HOSTILE."""
    runner = get_runner(store)
    spec = RunSpec(problem="What is 2+2? " + HOSTILE, model=FakeModel(REPLY, token_delay=0.0005),
                   strategies=[("chain_of_thought", {}), ("self_consistency", {"stop_rule": "fixed", "samples": 3})],
                   budget=Budget(total_tokens=4000), reference="4")
    run_id = runner.submit(spec)
    assert runner.wait(run_id, 60) == "done"
    return run_id


def counts(store) -> dict[str, int]:
    with store.read() as conn:
        return {table.__tablename__: int(conn.scalar(select(func.count()).select_from(table)))
                for table in (Run, RunStrategy, EventRow, CurvePoint)}


def synthetic_export(n_events: int = 60, *, seconds: float = 3.0, text_chars: int = 40, entries: int = 2,
                     run_id: str | None = None) -> dict[str, Any]:
    """A valid export of a finished run with `n_events` events spread over `seconds`: mostly text
    deltas, a spend update every 15 events, a partial answer and a note every 100, a final answer per
    entry at the end. Entry i answers str(4 + i) (entry 0 is right against reference 4)."""
    run_id = run_id or new_run_id()
    events: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    tokens = [0] * entries
    body = n_events - entries
    for i in range(body):
        entry = i % entries
        elapsed = seconds * i / max(1, n_events)
        tokens[entry] += 10
        spent = {"input_tokens": 50, "output_tokens": tokens[entry], "reasoning_tokens": 0, "cached_input_tokens": 0,
                 "usd": 0.0, "seconds": elapsed, "calls": 1, "estimated": False, "total_tokens": 50 + tokens[entry]}
        seq = len(events) + 1
        if i % 100 == 50:
            payload = {"kind": "partial", "answer": str(4 + entry), "confidence": 0.5, "spent": spent}
            curve.append({"seq": seq, "strategy_index": entry, "tokens": spent["total_tokens"],
                          "output_tokens": tokens[entry], "usd": 0.0, "seconds": elapsed, "answer": str(4 + entry),
                          "confidence": 0.5, "correct": entry == 0, "quality": float(entry == 0)})
        elif i % 100 == 75:
            payload = {"kind": "note", "label": "vote", "text": f"votes so far {i}", "data": {"4": 2, "5": 1}}
        elif i % 15 == 0:
            payload = {"kind": "spend", "spent": spent}
        else:
            payload = {"kind": "text", "label": f"sample {i // 500}", "text": ("word " * text_chars)[:text_chars]}
        events.append(_event(seq, entry, payload, elapsed, spent["total_tokens"]))
    for entry in range(entries):
        spent = {"input_tokens": 50, "output_tokens": tokens[entry], "reasoning_tokens": 0, "cached_input_tokens": 0,
                 "usd": 0.0, "seconds": seconds, "calls": 1, "estimated": False, "total_tokens": 50 + tokens[entry]}
        events.append(_event(len(events) + 1, entry, {"kind": "final", "answer": str(4 + entry), "stop": "done",
                                                     "spent": spent, "error": None}, seconds, spent["total_tokens"]))
    strategies = [{
        "strategy_index": entry, "strategy": "chain_of_thought", "knobs": {"n": entry}, "status": "done",
        "answer": str(4 + entry), "confidence": None, "correct": entry == 0, "stop_reason": "done", "error": None,
        "input_tokens": 50, "output_tokens": tokens[entry], "reasoning_tokens": 0, "cached_input_tokens": 0,
        "total_tokens": 50 + tokens[entry], "usd": 0.0, "seconds": seconds, "calls": 1, "estimated": False,
        "price_date": None, "started": "2026-01-02T03:04:05+00:00", "finished": "2026-01-02T03:04:08+00:00",
    } for entry in range(entries)]
    return {
        "format": "budget-arena.run", "version": 1,
        "run": {"id": run_id, "created": "2026-01-02T03:04:05+00:00", "finished": "2026-01-02T03:04:08+00:00",
                "problem": "What is 2+2?", "reference": "4", "model": "fake:scripted", "model_options": {},
                "budget": {"total_tokens": 100_000, "output_tokens": None, "usd": None, "seconds": None},
                "dataset": "arith", "item_id": "7", "sweep_id": None, "status": "done", "error": None,
                "price_date": None},
        "strategies": strategies,
        "events": events,
        "curve_points": curve,
    }


def _event(seq: int, entry: int, payload: dict[str, Any], elapsed: float, total: int) -> dict[str, Any]:
    return {"seq": seq, "strategy_index": entry, "kind": payload["kind"], "label": payload.get("label"),
            "payload": payload, "elapsed": elapsed, "wall": 1_767_323_045.0 + elapsed, "total_tokens": total,
            "usd": 0.0}


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


# ---- round trip -------------------------------------------------------------------------------


def test_round_trip_export_then_import_into_an_empty_store(store, empty_store, recorded_run, tmp_path, cli):
    exported = export_run_json(recorded_run, store=store)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(exported))

    result = cli("import", str(path), "--db", empty_store.url)
    assert result.exit_code == EXIT_OK, result.output
    assert f"run {recorded_run} imported" in result.stdout

    here, there = get_run(recorded_run, store=store), get_run(recorded_run, store=empty_store)
    assert there is not None and there.status == "done" and there.problem == here.problem
    assert [e.as_dict() for e in replay(recorded_run, store=empty_store)] == \
        [e.as_dict() for e in replay(recorded_run, store=store)]
    spend = ("answer", "correct", "stop_reason", "input_tokens", "output_tokens", "total_tokens", "usd", "seconds",
             "calls", "status")
    assert [{k: getattr(s, k) for k in spend} for s in there.strategies] == \
        [{k: getattr(s, k) for k in spend} for s in here.strategies]
    assert [s.answer for s in there.strategies] == ["4", "4"]
    assert curve_points(recorded_run, store=empty_store).equals(curve_points(recorded_run, store=store))
    # ... and it is listed and ranked like a local run.
    assert list(list_runs(store=empty_store)["id"]) == [recorded_run]
    assert set(strategy_results(store=empty_store)["run_id"]) == {recorded_run}
    # Exporting it again gives the same file.
    assert export_run_json(recorded_run, store=empty_store) == exported


def test_a_list_of_runs_imports_in_one_go_and_ids_are_kept(empty_store, tmp_path, cli):
    runs = [synthetic_export(30), synthetic_export(40)]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(runs))
    result = cli("import", str(path), "--db", empty_store.url)
    assert result.exit_code == EXIT_OK, result.output
    assert {r["run"]["id"] for r in runs} == set(list_runs(store=empty_store)["id"])
    assert get_run(runs[1]["run"]["id"], store=empty_store).event_count == 40


def test_a_taken_id_gets_a_new_one_and_the_same_run_twice_is_skipped(empty_store, tmp_path, cli):
    original = synthetic_export(30)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(original))
    assert cli("import", str(path), "--db", empty_store.url).exit_code == EXIT_OK

    again = cli("import", str(path), "--db", empty_store.url)  # the same run: not counted twice
    assert again.exit_code == EXIT_OK and "already in this store: skipped" in again.stdout
    assert counts(empty_store)["run"] == 1

    other = copy.deepcopy(original)
    other["run"]["problem"] = "What is 3+3?"  # a different run under the same id
    path.write_text(json.dumps(other))
    renamed = cli("import", str(path), "--db", empty_store.url)
    assert renamed.exit_code == EXIT_OK
    new_id = re.search(r"imported as ([A-Za-z0-9_-]{16})", renamed.stdout).group(1)
    assert new_id != original["run"]["id"]
    assert get_run(new_id, store=empty_store).problem == "What is 3+3?"
    assert get_run(original["run"]["id"], store=empty_store).problem == "What is 2+2?"
    assert len(replay(new_id, store=empty_store)) == 30

    # The library call used by older code still refuses a taken id unless asked to rename.
    with pytest.raises(ImportRefused, match="already exists"):
        import_run_json(original, store=empty_store)
    assert import_run_json(other, store=empty_store, on_clash="rename") not in (original["run"]["id"], new_id)


def test_an_active_run_imports_as_interrupted_and_credentials_stay_out(empty_store):
    data = synthetic_export(20)
    data["run"]["status"] = "running"
    data["strategies"][1]["status"] = "running"
    data["run"]["model_options"] = {"base_url": "http://alice:pw@host:8000/v1?api_key=sk-secret123456", "api_key": "k"}
    [outcome] = import_export_data([data], store=empty_store)
    assert "imported as interrupted" in outcome.message and "credentials" in outcome.message
    info = get_run(outcome.run_id, store=empty_store)
    assert info.status == "interrupted" and info.strategies[1].status == "interrupted"
    assert info.model_options == {"base_url": "http://host:8000/v1"}
    assert info.sweep_id is None


@pytest.mark.postgres
def test_import_on_postgresql_keeps_text_exactly_and_writes_all_or_nothing(request, monkeypatch):
    """A team store: hostile-looking but valid text (HTML, U+2028, emoji) arrives byte for byte; the
    same run again is skipped, another run under its id renamed; a failed write leaves nothing."""
    store = open_store(request.getfixturevalue("postgres_cluster").create_database())
    try:
        data = hostile_export()
        data["run"]["problem"] += " \U0001f600 é"
        [first] = import_export_data([data], store=store)
        exported = export_run_json(first.run_id, store=store)
        assert exported["run"]["problem"] == data["run"]["problem"]
        assert [e["payload"] for e in exported["events"]] == [e["payload"] for e in data["events"]]
        [again] = import_export_data([data], store=store)
        assert again.action == "skipped"
        other = copy.deepcopy(data)
        other["run"]["problem"] = "another"
        [renamed] = import_export_data([other], store=store)
        assert renamed.action == "renamed" and renamed.run_id != first.run_id

        before = counts(store)
        real, calls = importer._insert, []

        def failing(conn, run_id, checked):
            calls.append(run_id)
            if len(calls) == 2:
                raise RuntimeError("disk full")
            real(conn, run_id, checked)

        monkeypatch.setattr(importer, "_insert", failing)
        with pytest.raises(RuntimeError):
            import_export_data([synthetic_export(30), synthetic_export(30)], store=store)
        assert counts(store) == before
    finally:
        forget_store(store)


# ---- hostile files ----------------------------------------------------------------------------


def _set(path: str, value: Any):
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return mutate


BAD_FILES = {
    "problem is a number": (_set("run.problem", 5), "run.problem: expected text"),
    "status outside the set": (_set("run.status", "owned"), "run.status 'owned' is not one of"),
    "strategy status outside the set": (_set("strategies.0.status", "<b>x</b>"), "status"),
    "usd is text": (_set("strategies.0.usd", "1"), "usd: expected a number"),
    "usd is negative": (_set("strategies.0.usd", -1.0), "is negative"),
    "tokens are a float": (_set("strategies.0.input_tokens", 1.5), "expected a whole number"),
    "tokens are true": (_set("strategies.0.input_tokens", True), "expected a whole number"),
    "tokens out of range": (_set("strategies.0.total_tokens", 10**30), "out of range"),
    "confidence above 1": (_set("curve_points.0.confidence", 7.0), "not between 0 and 1"),
    "seq is text": (_set("events.0.seq", "1"), "expected a whole number"),
    "seqs out of order": (_set("events.1.seq", 9), "expected 2"),
    "event of no entry": (_set("events.0.strategy_index", 7), "names no strategy"),
    "unknown event kind": (_set("events.0.kind", "exec"), "is not one of"),
    "payload kind differs": (_set("events.0.payload.kind", "final"), "differs"),
    "payload is a list": (_set("events.0.payload", ["x"]), "expected an object"),
    "final stop outside the set": (_set("events.119.payload.stop", "<i>"), "stop '<i>' is not one of"),
    "created is not a time": (_set("run.created", "yesterday"), "not an ISO 8601 time"),
    "id is a path": (_set("run.id", "../../etc/passwd"), "not a run id"),
    "model name too long": (_set("run.model", "m" * 201), "at most 200"),
    "text too long": (_set("run.problem", "x" * (MAX_TEXT_CHARS + 1)), "characters; at most"),
    "NUL in text": (_set("run.problem", "a\x00b"), "NUL"),
    "lone surrogate": (_set("run.reference", "\ud800"), "surrogate"),
    "knobs nested too deep": (_set("strategies.0.knobs", json.loads('{"a":' * 40 + "1" + "}" * 40)), "nested"),
    "events not a list": (_set("events", {"0": 1}), "expected a list"),
    "run not an object": (_set("run", "x"), "expected an object"),
    "wrong format": (_set("format", "<script>"), "not a budget-arena.run v1 export"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_malformed_file_is_refused_whole_with_the_reason(case, empty_store, tmp_path):
    mutate, reason = BAD_FILES[case]
    good, bad = synthetic_export(120), synthetic_export(120)
    mutate(bad)
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([good, bad]))  # one bad run refuses the good one beside it too
    with pytest.raises(ImportRefused, match=re.escape(reason)):
        import_file(path, store=empty_store)
    assert counts(empty_store) == {"run": 0, "run_strategy": 0, "event": 0, "curve_point": 0}


@pytest.mark.parametrize("text, reason", [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b'{"format": NaN}', "not valid JSON"),
    (b'{"a": Infinity}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"1" * 5000, "not valid JSON"),  # an integer too long to convert
    (b"[]", "empty list"),
    (b'"a string"', "not an exported run"),
    (b"[1, 2]", "item 1 of the list is a number"),
])
def test_bytes_that_are_not_an_export_are_refused(text, reason):
    with pytest.raises(ImportRefused, match=reason):
        parse_export_bytes(text)


def test_a_failed_write_leaves_no_rows(empty_store, monkeypatch):
    """Two good runs; the store fails on the second: the first is rolled back with it."""
    real, calls = importer._insert, []

    def failing(conn, run_id, checked):
        calls.append(run_id)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(conn, run_id, checked)

    monkeypatch.setattr(importer, "_insert", failing)
    with pytest.raises(RuntimeError):
        import_export_data([synthetic_export(30), synthetic_export(30)], store=empty_store)
    assert counts(empty_store) == {"run": 0, "run_strategy": 0, "event": 0, "curve_point": 0}


def test_a_100_mb_file_is_refused_before_it_is_read(empty_store, tmp_path, monkeypatch, cli):
    big = tmp_path / "big.json"
    with big.open("wb") as handle:  # sparse: 100 MB on paper, nothing on disk
        handle.truncate(100 * 1024 * 1024)
    monkeypatch.setattr(importer.json, "loads", lambda *a, **k: pytest.fail("parsed a file that is too big"))
    started = time.monotonic()
    result = cli("import", str(big), "--db", empty_store.url)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "104.9 MB; at most 50 MB" in result.stderr
    assert time.monotonic() - started < 5
    # The History page's upload: the size the browser reported is checked before reading.
    unread = io.BytesIO(b"{}")
    with pytest.raises(ImportRefused, match="at most"):
        importer.read_export_stream(unread, size=MAX_FILE_BYTES + 1)
    assert unread.tell() == 0


def test_the_cli_imports_the_good_files_and_refuses_the_bad_one(empty_store, tmp_path, cli):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(synthetic_export(20)))
    bad.write_text(json.dumps({**synthetic_export(20), "events": "[markup]<b>"}))
    result = cli("import", str(bad), str(good), "--db", empty_store.url)
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"refused {bad}" in result.stderr and "[markup]" not in result.stderr  # a reason, not the data
    assert counts(empty_store)["run"] == 1
    missing = cli("import", str(tmp_path / "nope.json"), "--db", empty_store.url)
    assert missing.exit_code == EXIT_BAD_INPUT and "cannot read" in missing.stderr


def test_the_history_page_upload_imports_and_reports(empty_store):
    from app.import_panel import _import, _import_all

    class Upload(io.BytesIO):
        name = "from-a-colleague.json"

        @property
        def size(self) -> int:
            return len(self.getvalue())

    data = synthetic_export(20)
    [(level, message)] = _import_all([Upload(json.dumps(data).encode())], lambda: empty_store)
    assert level == "success" and data["run"]["id"] in message
    [(level, message)] = _import(Upload(b'{"format": "budget-arena.run", "version": 1}'), empty_store)
    assert level == "error" and "missing 'run'" in message
    assert counts(empty_store)["run"] == 1

    def unreachable():
        raise OSError("connection refused")

    assert _import_all([Upload(b"{}")], unreachable) == [
        ("error", "Could not open the run store: OSError: connection refused")]


def test_the_history_page_offers_the_import_on_an_empty_store(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    at = at.switch_page("../pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.label for e in at.expander] == ["Import runs"]
    assert at.button(key="hist.import.go").disabled  # nothing uploaded yet
    assert any("No runs yet" in i.value for i in at.info)
    # What an import reported is shown after the rerun that empties the uploader, as literal text.
    at.session_state["_hist.import.results"] = [("error", "bad.json: refused: run.problem: expected text **x**")]
    at = at.run()
    assert at.expander[0].proto.expanded and "\\*\\*x\\*\\*" in at.error[0].value
    forget_store(open_store(url))


# ---- the HTML run -----------------------------------------------------------------------------


def hostile_export() -> dict[str, Any]:
    """Valid data with HTML and script in every text field a reader sees."""
    data = synthetic_export(80)
    run = data["run"]
    for key in ("problem", "reference", "error", "dataset", "item_id", "price_date"):
        run[key] = HOSTILE[:30] if key in ("price_date",) else HOSTILE
    run["model"] = HOSTILE
    for s in data["strategies"]:
        s.update(strategy=HOSTILE[:100], answer=HOSTILE, error=HOSTILE, knobs={HOSTILE: HOSTILE})
        s["status"] = "error"
    for event in data["events"]:
        payload = event["payload"]
        for key in ("text", "label", "answer", "error"):
            if key in payload:
                payload[key] = HOSTILE
        if payload["kind"] == "note":
            payload["data"] = {HOSTILE: HOSTILE}
        if event["label"] is not None:
            event["label"] = HOSTILE[:200]
    for point in data["curve_points"]:
        point["answer"] = HOSTILE
    return data


def test_html_escapes_every_text_and_embeds_events_safely(empty_store):
    [outcome] = import_export_data([hostile_export()], store=empty_store)
    html = run_html(outcome.run_id, store=empty_store)
    # Our two script blocks, and nothing from the data opens or closes one, or a tag or comment.
    assert html.count("<script") == 2 and html.count("</script>") == 2
    for raw in ("<img", "<b>bold", "<!--", "onerror=alert(2)>"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the problem, as text
    data_block = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', html, re.S).group(1)
    assert "\u2028" not in data_block and "\u2029" not in data_block and "<" not in data_block
    data = json.loads(data_block)
    first_text = next(e for e in data["events"] if e[2] == 0)
    assert first_text[4] == HOSTILE and data["labels"][first_text[3]] == HOSTILE  # exact: inert, not lost
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    assert embed_json({"a": "</script>\u2028&"}) == '{"a":"\\u003c/script\\u003e\\u2028\\u0026"}'


def test_a_5000_event_run_is_under_2_mb(empty_store):
    # Text rows of 120 characters: the recorder coalesces 0.2 s of streaming into one row, which
    # is 6-30 tokens at 30-150 tokens a second.
    data = synthetic_export(5000, seconds=120.0, text_chars=120, entries=3)
    [outcome] = import_export_data([data], store=empty_store)
    html = run_html(outcome.run_id, store=empty_store)
    size = len(html.encode("utf-8"))
    as_json = len(json.dumps(export_run_json(outcome.run_id, store=empty_store)).encode())
    print(f"5,000-event run: HTML {size:,} bytes, JSON export {as_json:,} bytes")
    assert size < 2_000_000
    assert size < as_json  # the embedded events are more compact than the export's dicts


def test_html_names_entries_by_their_own_budgets(store, empty_store):
    """One strategy at two budgets: each entry titled and metered against its own cap, as on the run
    page, and the same after the run travels through a JSON export and an import."""
    runner = get_runner(store)
    run_id = runner.submit(RunSpec(problem="What is 2+2?", model=FakeModel("Answer: 4"),
                                   strategies=[("direct", {}, Budget(total_tokens=300)),
                                               ("direct", {}, Budget(total_tokens=600))], reference="4"))
    assert runner.wait(run_id, 60) == "done"
    import_export_data([export_run_json(run_id, store=store)], store=empty_store)
    for where in (store, empty_store):
        html = run_html(run_id, store=where)
        summary = re.search(r'<table id="summary">(.*?)</table>', html, re.S).group(1)
        assert "Direct answer @ 300 tokens" in summary and "Direct answer @ 600 tokens" in summary
        data = json.loads(re.search(r'id="run-data">(.*?)</script>', html, re.S).group(1))
        assert [e["budget"] for e in data["entries"]] == [{"total_tokens": 300}, {"total_tokens": 600}]
        assert "direct@300: 300 tokens; direct@600: 600 tokens" in html


def test_export_html_from_the_cli_and_the_share_link(store, recorded_run, tmp_path, cli, monkeypatch):
    out = tmp_path / "run.html"
    result = cli("export", recorded_run, "--html", "-o", str(out), "--db", store.url)
    assert result.exit_code == EXIT_OK, result.output
    html = out.read_text()
    assert recorded_run in html and "https://" not in html.split("<body>")[1].split("<script")[0]
    assert "share_url" not in export_run_json(recorded_run, store=store)

    monkeypatch.setenv("BUDGET_ARENA_PUBLIC_URL", "https://arena.example.org/team/")
    link = f"https://arena.example.org/team/?run={recorded_run}"
    assert export_run_json(recorded_run, store=store)["share_url"] == link
    assert f'href="{link}"' in run_html(recorded_run, store=store)
    assert cli("export", new_run_id(), "--html", "--db", store.url).exit_code == EXIT_FAILED
    assert cli("export", "--html", "--db", store.url).exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://host", "https://user:pw@host", "https://h/?a=1",
                                 "arena.example.org"])
def test_public_url_must_be_a_plain_http_address(url):
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url=url)


def test_svg_axes_have_round_ticks():
    assert nice_ticks(0, 1, 4) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert log_ticks(100, 10_000) == [100, 1000, 10_000]
    assert log_ticks(256, 1024) == [300, 500, 700, 1000]
    chart = SvgChart("t", "x", "y", log_x=True)
    chart.line([0, 10, 100], [0.5, 0.6, 0.7], "#000")  # 0 cannot sit on a log axis: left out
    assert chart.render().count("polyline") == 1 and "NaN" not in chart.render()


# ---- the leaderboard report -------------------------------------------------------------------


def test_the_leaderboard_report_is_one_static_file_with_everything(cli, tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'board.db'}"
    swept = cli("sweep", "basic_arithmetic", "--size", "4", "-b", "100,300", "--model", "fake", "-s", "direct",
                "-s", "chain_of_thought", "--db", db)
    assert swept.exit_code == EXIT_OK, swept.output
    out = tmp_path / "report.html"
    result = cli("leaderboard", "--html", "-o", str(out), "--dataset", "basic_arithmetic", "--db", db)
    assert result.exit_code == EXIT_OK, result.output
    html = out.read_text()
    # Self-contained: no script at all, nothing fetched (no src or href), a policy that allows neither.
    policy = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1))
    assert "<script" not in html and "script-src 'none'" in policy and "default-src 'none'" in policy
    assert not re.search(r"\s(?:src|href)=", html)
    rows = re.search(r'<table id="board">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert rows.count("<tr>") == 2 and "direct" in rows and "chain_of_thought" in rows
    for part in ("rank range", "failed", "errored", 'id="head-to-head"', "Accuracy against budget",
                 "Cost against accuracy", "<dt>dataset</dt><dd>basic_arithmetic</dd>", "<dt>prices as of</dt>",
                 "by budget-arena "):
        assert part in html, part
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2  # two charts (legend entries nest their own <svg>)


def test_the_leaderboard_pages_report_names_its_filters(empty_store):
    from app.html_leaderboard import page_report
    from app.leaderboard_view import LeaderboardFilters, RowChoice, compute_leaderboard

    import_export_data([synthetic_export(30) for _ in range(3)], store=empty_store)
    board = compute_leaderboard(strategy_results(store=empty_store), "total_tokens", n_boot=200, split_knobs=True)
    html = page_report(board, LeaderboardFilters(models=("fake:scripted",)), RowChoice(split_knobs=True), empty_store)
    for part in ("<dt>models</dt><dd>fake:scripted</dd>", "<dt>knob settings</dt><dd>ranked apart</dd>",
                 "<dt>scored results</dt><dd>6</dd>", "<dt>budget axis</dt><dd>total tokens</dd>"):
        assert part in html, part
    assert re.search(r'<table id="board">.*?<tbody>(.*?)</tbody>', html, re.S).group(1).count("<tr>") == 2


def test_the_leaderboard_report_shows_hostile_names_as_text(empty_store, cli, tmp_path):
    runs = []
    for _ in range(3):
        run = synthetic_export(30)
        run["run"]["model"] = HOSTILE[:200]
        for entry in run["strategies"]:
            entry["strategy"] = HOSTILE[:100] if entry["strategy_index"] == 0 else "<b>bold</b>"
        runs.append(run)
    import_export_data(runs, store=empty_store)
    out = tmp_path / "report.html"
    assert cli("leaderboard", "--html", "-o", str(out), "--db", empty_store.url).exit_code == EXIT_OK
    html = out.read_text()
    assert "<img" not in html and "<b>bold" not in html and "<script" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


# ---- in a browser (the `browser` fixture: tests/conftest.py) ------------------------------------


def _open_offline(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """A page on the file with every other request aborted; returns it, the URLs it asked for, and
    the dialogs (alert) that opened."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    url = path.resolve().as_uri()
    requested: list[str] = []
    dialogs: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.wait_for_selector("body[data-replay='ended']", timeout=10_000)
    return page, requested, dialogs


@pytest.mark.browser
def test_the_html_run_opens_offline_shows_the_answers_and_replays(browser, store, recorded_run, empty_store,
                                                                  tmp_path):
    # The recorded run (real events of the fake model) shows every entry's final answer.
    recorded = tmp_path / "recorded.html"
    recorded.write_text(run_html(recorded_run, store=store), encoding="utf-8")
    page, requested, dialogs = _open_offline(browser, recorded)
    answers = page.locator(".answer-text").all_inner_texts()
    assert answers == ["4", "4"]
    assert page.locator("#pane-0 .verdict-right").inner_text() == "✓ right"
    assert HOSTILE.split("\u2028")[0] in page.locator("#pane-0 pre.text").last.inner_text()  # the reply as text
    assert page.locator("#summary tbody tr").count() == 2 and page.locator("svg.chart").count() >= 2
    assert not dialogs and page.locator("img").count() == 0
    page.context.close()

    # A synthetic run of 3 s replays at its original pace: after ~1 s, part of it is shown.
    data = synthetic_export(300, seconds=3.0)
    [outcome] = import_export_data([data], store=empty_store)
    replayed = tmp_path / "replayed.html"
    replayed.write_text(run_html(outcome.run_id, store=empty_store), encoding="utf-8")
    page, more_requests, dialogs = _open_offline(browser, replayed)
    final_text = page.locator("#pane-0 pre.text").last.inner_text()
    assert page.locator(".answer-text").all_inner_texts() == ["4", "5"]
    page.click("#play")
    assert page.locator("body").get_attribute("data-replay") == "playing"
    assert page.locator(".answer-text").count() == 0  # started from nothing
    page.wait_for_timeout(1200)
    during = page.locator("#pane-0 pre.text").last.inner_text()
    assert 0 < len(during) < len(final_text)
    clock = float(re.search(r"([\d.]+) s of 3.0 s", page.locator("#clock").inner_text()).group(1))
    assert 0.8 <= clock <= 2.5
    page.select_option("#speed", "10")  # faster: the rest takes a fraction of a second
    page.wait_for_selector("body[data-replay='ended']", timeout=5_000)
    assert page.locator(".answer-text").all_inner_texts() == ["4", "5"]
    assert page.locator("#pane-0 pre.text").last.inner_text() == final_text
    page.context.close()

    urls = requested + more_requests
    assert urls and all(u.startswith("file://") for u in urls), urls  # nothing external was asked for


@pytest.mark.browser
def test_the_hostile_html_run_stays_inert_in_a_browser(browser, empty_store, tmp_path):
    [outcome] = import_export_data([hostile_export()], store=empty_store)
    path = tmp_path / "hostile.html"
    path.write_text(run_html(outcome.run_id, store=empty_store), encoding="utf-8")
    page, requested, dialogs = _open_offline(browser, path)
    assert not dialogs
    assert page.locator("img, i, a[href^='http://x']").count() == 0
    assert page.evaluate("[...document.querySelectorAll('b')].filter(b => b.textContent === 'bold').length") == 0
    assert page.locator("script").count() == 2
    assert page.locator("#problem").inner_text().startswith("</script><script>alert(1)</script>")
    assert "<img src=x onerror=alert(2)>" in page.locator("#pane-0 .answer-text").inner_text()
    page.click("#play")
    page.select_option("#speed", "50")
    page.wait_for_selector("body[data-replay='ended']", timeout=10_000)
    assert not dialogs and page.locator("img").count() == 0
    assert all(u.startswith("file://") for u in requested), requested
    page.context.close()

