"""The Sweep page under AppTest, with the scripted fake model and a private store: a small sweep
starts in the background, its progress and leaderboard show, and its results are in the store
(so on the Leaderboard); problems come from a built-in set, an uploaded file or pasted lines; the
demo sweep opens its leaderboard; bad input is refused; a deployment with a per-session run limit
gets no sweeps. The progress line's time estimate and the sweep's own table are checked as units."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app import demo
from app.sweep_progress import progress_text, recent_table, shown_dataset, sweep_eta, sweep_table
from reasoning.config import get_settings
from reasoning.datasets import DatasetError, load_dataset
from reasoning.sweep import SweepProgress
from storage.leaderboard_reads import strategy_results
from storage.runner import get_runner
from storage.store import Store, forget_store, open_store
from storage.sweeps import get_sweep, sweep_handle
from storage.tables import Run
from tests.support import FIXTURES, MAIN

LIMIT_ENV = "BUDGET_ARENA_LIMITS__"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'sweep-page.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    monkeypatch.setenv("BUDGET_ARENA_ENABLE_FAKE", "1")
    monkeypatch.setenv("BUDGET_ARENA_DATA_DIR", str(tmp_path / "data"))  # uploads are kept there
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("BUDGET_ARENA_CONFIG", str(config))
    for name in [n for n in os.environ if n.startswith(LIMIT_ENV)]:
        monkeypatch.delenv(name)
    get_settings(fresh=True)
    the_store = open_store(url)
    yield the_store
    get_runner(the_store).close()
    forget_store(the_store)
    monkeypatch.undo()
    get_settings(fresh=True)


def sweep_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90).run()
    at.switch_page("../pages/sweep.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fill(at: AppTest, *, size: int | None = 3, budgets: str = "100, 300",
         strategies: tuple[str, ...] = ("direct", "chain_of_thought"), reply: str = "Let me see. Answer: 3") -> AppTest:
    at.radio(key="cmp.provider").set_value("fake").run()
    at.number_input(key="cmp.fake_delay").set_value(0.0)
    at.text_area(key="cmp.fake_reply").set_value(reply)
    if size is not None:
        at.number_input(key="sw.size").set_value(size)
    at.text_input(key="sw.budgets").set_value(budgets)
    at.multiselect(key="cmp.strategies").set_value(list(strategies))
    return at.run()


def sweep_runs(store: Store) -> int:
    with store.read() as conn:
        return int(conn.scalar(select(func.count()).select_from(Run).where(Run.sweep_id.is_not(None))))


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_a_small_sweep_starts_in_the_background_and_its_results_reach_the_store(store: Store) -> None:
    at = fill(sweep_page())
    assert "3 problems x 2 strategies x 2 budgets = 12 strategy runs" in plain(" ".join(c.value for c in at.caption))
    at.button(key="sweep_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

    sweep_id = at.session_state["sw.active"]
    handle = sweep_handle(sweep_id)
    assert handle is not None and handle.wait(60)
    at.run()

    info = get_sweep(sweep_id, store=store)
    assert (info.status, info.done, info.total_cells) == ("done", 12, 12)
    results = strategy_results(sweep_id=sweep_id, store=store)
    assert len(results) == 12 and set(results["strategy"]) == {"direct", "chain_of_thought"}
    assert set(results["dataset"]) == {"graded_arithmetic"}  # the page's default set
    progress = [p for p in at.get("progress")]
    assert progress and "done: 12 of 12" in progress[0].proto.text
    tables = [d.value for d in at.dataframe]
    board = next(t for t in tables if "strategy" in t.columns)  # the sweep's leaderboard
    assert sorted(board["strategy"]) == ["chain_of_thought", "direct"]
    # "What is 9 - 6?" is the first problem: "Answer: 3" is right once in three, at both budgets
    assert list(board["accuracy @ 100"]) == ["33%", "33%"] and list(board["accuracy @ 300"]) == ["33%", "33%"]
    assert all(text.startswith("33% [") for text in board["accuracy [95% CI]"])
    listed = next(t for t in tables if "progress" in t.columns)  # recent sweeps
    assert list(listed["id"]) == [sweep_id] and list(listed["progress"]) == ["12 / 12"]
    links = [link for link in at.get("page_link") if link.proto.label == "Open this sweep's leaderboard"]
    assert links and links[0].proto.query_string == f"sweep={sweep_id}"

    # Starting the same grid again resumes it: nothing is run twice.
    at.button(key="sweep_start").click().run()
    assert sweep_handle(sweep_id).wait(60)
    assert sweep_runs(store) == 12


@pytest.mark.parametrize(("budgets", "message"), [
    ("100, lots", "Bad budget 'lots'"),
    ("", "Give at least one budget."),
    ("100, 100", "twice"),
])
def test_a_bad_budget_grid_is_refused_and_nothing_runs(store: Store, budgets: str, message: str) -> None:
    at = fill(sweep_page(), budgets=budgets)
    at.button(key="sweep_start").click().run()
    assert any(message in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert "sw.active" not in at.session_state
    assert sweep_runs(store) == 0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sw.size", 1e12, "Size (the number of problems) must be a whole number from 1 to 10,000, "
                      "got 1,000,000,000,000."),
    ("sw.size", 0.0, "Size (the number of problems) must be a whole number from 1 to 10,000, got 0."),
    ("sw.seed", 1.5, "The seed must be a whole number, got 1.5."),
    ("sw.seed", -1.0, "The seed must be a whole number from 0 to 9,007,199,254,740,991, got -1."),
    ("sw.repeats", 1e12, "Repeats must be a whole number from 1 to 100, got 1,000,000,000,000."),
    ("sw.concurrency.16", 1e12, "Runs at once must be a whole number from 1 to 16, got 1,000,000,000,000."),
])
def test_a_count_typed_as_1e12_or_a_fraction_is_refused_not_read_as_another_number(
        store: Store, field: str, value: float, message: str) -> None:
    """Typing "1e12" in an int field made it 1 without a word (parseInt); the fields keep what was
    typed and the plan check, the command line's, refuses it with the reason."""
    at = fill(sweep_page())
    at.number_input(key=field).set_value(value).run()
    assert any(message in plain(c.value) for c in at.caption), [c.value for c in at.caption]
    at.button(key="sweep_start").click().run()
    assert any(message in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert "sw.active" not in at.session_state and sweep_runs(store) == 0


def test_a_whole_count_typed_in_a_float_field_runs_as_that_number(store: Store) -> None:
    at = fill(sweep_page(), strategies=("direct",), budgets="100")
    at.number_input(key="sw.size").set_value(2.0)
    at.number_input(key="sw.repeats").set_value(2.0).run()
    assert "2 problems x 1 strategy x 1 budget x 2 repeats = 4 strategy runs" in plain(" ".join(c.value for c in at.caption))


def test_no_strategy_is_refused(store: Store) -> None:
    at = fill(sweep_page(), strategies=())
    at.button(key="sweep_start").click().run()
    assert any("Choose at least one strategy" in plain(e.value) for e in at.error)
    assert sweep_runs(store) == 0


def test_a_deployment_limiting_runs_per_session_offers_no_sweeps(store: Store, monkeypatch) -> None:
    monkeypatch.setenv(f"{LIMIT_ENV}RUNS_PER_SESSION_PER_HOUR", "10")
    get_settings(fresh=True)
    at = sweep_page()
    assert any("command line" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "sweep_start"]


# ---- problems from a file or pasted --------------------------------------------------------------


def wait_for_sweep(at: AppTest) -> str:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    sweep_id = at.session_state["sw.active"]
    assert sweep_handle(sweep_id).wait(60)
    at.run()
    return sweep_id


def test_pasted_problems_sweep_with_and_without_answers(store: Store) -> None:
    at = fill(sweep_page(), size=None, strategies=("direct",), budgets="100", reply="Answer: 28")
    at.radio(key="sw.source").set_value("paste").run()
    text = "What is 7 * 4? || 28\n\nWhat is 2 + 2? || 4\nName a prime number.\n"
    at.text_area(key="sw.paste").set_value(text).run()
    assert "3 problems x 1 strategy x 1 budget = 3 strategy runs" in plain(" ".join(c.value for c in at.caption))
    at.button(key="sweep_start").click().run()
    sweep_id = wait_for_sweep(at)
    results = strategy_results(sweep_id=sweep_id, store=store).sort_values("item_id")
    name = results["dataset"].iloc[0]
    assert list(results["item_id"]) == [f"{name}:{i}" for i in range(3)]  # in the order pasted
    assert [None if c is None or c != c else bool(c) for c in results["correct"]] == [True, False, None]
    assert results["dataset"].iloc[0].startswith("pasted-")
    # The same text is the same sweep: starting again resumes it and runs nothing twice.
    at.button(key="sweep_start").click().run()
    assert wait_for_sweep(at) == sweep_id and sweep_runs(store) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("What is 1 + 1? || 2\n|| 3\n", "line 2: no problem before '||'"),
    ("What is 1 + 1? ||\n", "line 1: empty answer after '||'"),
])
def test_malformed_pasted_problems_are_refused_with_the_line(store: Store, text: str, message: str) -> None:
    at = fill(sweep_page(), size=None)
    at.radio(key="sw.source").set_value("paste").run()
    at.text_area(key="sw.paste").set_value(text).run()
    assert any(message in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.key == "sweep_start"]


def test_an_uploaded_file_sweeps_like_the_command_line_reads_it(store: Store, tmp_path: Path) -> None:
    at = fill(sweep_page(), size=None, strategies=("direct",), budgets="100", reply="Answer: 1248")
    at.radio(key="sw.source").set_value("file").run()
    data = (FIXTURES / "gsm8k_sample.jsonl").read_bytes()
    at.file_uploader(key="act.sw.upload").upload("gsm8k_sample.jsonl", data).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("gsm8k_sample.jsonl: 5 problems" in plain(c.value) for c in at.caption)
    at.number_input(key="sw.subset").set_value(3).run()
    assert "3 problems x 1 strategy x 1 budget = 3 strategy runs" in plain(" ".join(c.value for c in at.caption))
    at.button(key="sweep_start").click().run()
    sweep_id = wait_for_sweep(at)
    results = strategy_results(sweep_id=sweep_id, store=store)
    expected = load_dataset(str(FIXTURES / "gsm8k_sample.jsonl"), size=3, seed=0)
    assert sorted(results["item_id"]) == sorted(item.id for item in expected)
    assert set(results["dataset"]) == {"gsm8k_sample"}
    kept = list((tmp_path / "data" / "uploads").glob("*/gsm8k_sample.jsonl"))
    assert len(kept) == 1 and kept[0].read_bytes() == data
    assert get_sweep(sweep_id, store=store).plan["dataset"] == f"file:{kept[0]}"
    # The same file uploaded again is the same sweep: starting resumes it, nothing runs twice.
    at.file_uploader(key="act.sw.upload").upload("gsm8k_sample.jsonl", data).run()
    at.button(key="sweep_start").click().run()
    assert wait_for_sweep(at) == sweep_id and sweep_runs(store) == 3


def test_a_malformed_upload_is_refused_with_the_command_lines_message(store: Store, tmp_path: Path) -> None:
    bad = b'{"question": "What is 2 + 2?", "answer": "#### 4"}\n{"question": "oops"\n'
    at = fill(sweep_page(), size=None)
    at.radio(key="sw.source").set_value("file").run()
    at.file_uploader(key="act.sw.upload").upload("mine.jsonl", bad).run()
    shown = [plain(e.value) for e in at.error]
    path = tmp_path / "mine.jsonl"
    path.write_bytes(bad)
    with pytest.raises(DatasetError) as cli_error:
        load_dataset(str(path))
    expected = str(cli_error.value).replace(str(path), "mine.jsonl")
    assert any(expected.rstrip(".") in e for e in shown), (shown, expected)
    assert not [b for b in at.button if b.key == "sweep_start"]


# ---- the sweep's own table and progress line ------------------------------------------------------


def test_nothing_correct_reads_zero_percent_and_a_dash_not_infinity(store: Store) -> None:
    at = fill(sweep_page(), strategies=("direct",), budgets="100", reply="Answer: 1000")
    at.button(key="sweep_start").click().run()
    wait_for_sweep(at)
    board = next(t for t in (d.value for d in at.dataframe) if "strategy" in t.columns)
    row = board.iloc[0].to_dict()
    assert row["accuracy [95% CI]"] == "0% [0%–0%]" and row["tokens / correct"] == "–"
    assert "inf" not in " ".join(map(str, row.values())).lower()


def progress(**fields: object) -> SweepProgress:
    return SweepProgress("sw-x", **fields)


def test_the_time_left_waits_for_a_problems_worth_of_cells_then_uses_the_pace_since_the_start() -> None:
    clock = progress(total=12, done=2, status="running", started=100.0, finished=140.0)  # elapsed 40 s
    assert sweep_eta(clock, cells_per_problem=6) is None  # 2 of the first problem's 6 cells: too few
    clock = progress(total=12, done=6, status="running", started=100.0, finished=160.0)
    assert sweep_eta(clock, cells_per_problem=6) == pytest.approx(60.0)  # 10 s a cell, 6 to go
    # A resumed sweep: the pace is this session's (cells done before took no time now).
    resumed = progress(total=24, skipped=12, done=6, status="running", started=100.0, finished=160.0)
    assert sweep_eta(resumed, cells_per_problem=6) == pytest.approx(60.0)
    short = progress(total=12, skipped=10, done=1, status="running", started=0.0, finished=5.0)
    assert sweep_eta(short, cells_per_problem=6) is None  # 1 of the 2 cells left
    assert sweep_eta(progress(total=12, done=6, status="done", started=0.0, finished=60.0), 6) is None
    text = progress_text(None, progress(total=12, done=6, status="running", started=0.0, finished=60.0), eta=60.0)
    assert text == "running: 6 of 12 strategy runs · about 60 s left"


def test_the_sweeps_table_formats_percentages_and_missing_figures() -> None:
    board = pd.DataFrame({"rank": [1, None], "strategy": ["direct", "self_consistency"], "n": [10, 10],
                          "accuracy": [0.5, 0.0], "ci_low": [0.2, 0.0], "ci_high": [0.8, 0.0],
                          "acc@200": [0.4, 0.0], "acc@400": [0.6, float("nan")],
                          "tokens_per_correct": [120.4, float("inf")], "mean_tokens": [60.2, 300.0]})
    table = sweep_table(board)
    assert table.to_dict("records") == [
        {"rank": "1", "strategy": "direct", "results": 10, "accuracy [95% CI]": "50% [20%–80%]",
         "accuracy @ 200": "40%", "accuracy @ 400": "60%", "tokens / correct": "120", "mean tokens": "60"},
        {"rank": "–", "strategy": "self_consistency", "results": 10, "accuracy [95% CI]": "0% [0%–0%]",
         "accuracy @ 200": "0%", "accuracy @ 400": "–", "tokens / correct": "–", "mean tokens": "300"},
    ]


def test_recent_sweeps_count_finished_cells_like_the_bar() -> None:
    sweeps = pd.DataFrame({"id": ["sw-a"], "created": [pd.Timestamp("2026-01-01")], "status": ["running"],
                           "dataset": ["graded_arithmetic"], "model": ["local"], "done": [2], "failed": [1],
                           "total_cells": [12], "spent_usd": [0.0]})
    assert recent_table(sweeps)["progress"].tolist() == ["3 / 12"]


# ---- the demo ---------------------------------------------------------------------------------------


def test_the_demo_button_sweeps_the_demo_plan_and_opens_its_leaderboard(store: Store, monkeypatch) -> None:
    """The demo's plan on the fake model (the bundled model's run is the browser test's): the button
    starts it, the page follows it, and once done the Leaderboard opens filtered to it."""
    monkeypatch.setenv("BUDGET_ARENA_DEMO_SIZE", "2")
    monkeypatch.setattr(demo, "DEMO_MODEL", "fake:scripted")
    at = sweep_page()
    assert any("The demo sweeps 2 graded_arithmetic problems" in plain(m.value) for m in at.markdown)
    at.button(key="sweep_demo").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sweep_id = at.session_state["sw.active"]
    assert sweep_id == demo.demo_plan().sweep_id
    assert sweep_handle(sweep_id).wait(60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Leaderboard"
    assert at.query_params.get("sweep") in (sweep_id, [sweep_id])
    info = get_sweep(sweep_id, store=store)
    assert (info.status, info.done, info.total_cells) == ("done", 12, 12)  # 2 problems x 3 strategies x 2 budgets


def test_recent_sweeps_show_a_file_name_not_its_server_path() -> None:
    assert shown_dataset("file:/root/.local/share/budget-arena/uploads/ab12/pasted-3.txt") == "file: pasted-3.txt"
    assert shown_dataset("graded_arithmetic") == "graded_arithmetic"
