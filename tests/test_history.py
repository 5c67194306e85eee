"""The History page (AppTest on a private store): runs with their share links, search, filters,
paging, and the empty store; the link opens the run on the Run page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from app.history_page import PAGE_SIZE, run_link
from app.state import ROOT
from storage import forget_store, new_run_id, open_store
from storage.queries import count_runs, list_runs
from storage.store import Store
from storage.tables import Run, RunStrategy

MAIN = str(ROOT / "app" / "main.py")
START = datetime(2025, 3, 1, tzinfo=UTC)


def add_runs(store: Store, specs: list[dict]) -> list[str]:
    """Runs in one transaction; each spec: problem, model, strategies, status (+ minutes after START)."""
    ids = [new_run_id() for _ in specs]
    with store.write() as conn:
        conn.execute(insert(Run), [
            {"id": run_id, "created": START + timedelta(minutes=spec.get("minute", i)), "problem": spec["problem"],
             "reference": spec.get("reference", "4"), "model": spec.get("model", "fake:m"), "model_options": {},
             "budget": {"total_tokens": 500}, "status": spec.get("status", "done")}
            for i, (run_id, spec) in enumerate(zip(ids, specs, strict=True))
        ])
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": j, "strategy": name, "knobs": {}, "status": "done",
             "correct": j == 0, "total_tokens": 100, "usd": 0.001, "seconds": 2.0}
            for run_id, spec in zip(ids, specs, strict=True)
            for j, name in enumerate(spec.get("strategies", ["direct"]))
        ])
    return ids


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    the_store = open_store(url)
    yield the_store
    forget_store(the_store)


@pytest.fixture
def three_runs(store) -> list[str]:
    return add_runs(store, [
        {"problem": "What is 17 * 23?", "model": "openai:gpt-4o-mini", "strategies": ["direct", "self_consistency"]},
        {"problem": "Is 91 prime?", "model": "anthropic:claude-x", "strategies": ["debate"], "status": "error"},
        {"problem": "Sum the first 100 odd numbers", "model": "openai:gpt-4o-mini", "strategies": ["value_tree"],
         "status": "cancelled", "reference": None},
    ])


def page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    return at.switch_page("../pages/history.py").run()


def shown(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]
    return at.dataframe[0].value if at.dataframe else None


def test_empty_store_says_how_to_start(store):
    at = page()
    assert not at.exception and not at.dataframe
    assert "No runs yet" in at.info[0].value


def test_runs_are_listed_newest_first_with_their_links(three_runs):
    first, second, third = three_runs
    table = shown(page())
    assert list(table["id"]) == [third, second, first]
    assert list(table["link"]) == [f"run?run={run_id}" for run_id in (third, second, first)]
    row = table.set_index("id").loc[first]
    assert (row["strategies"], row["correct"], row["tokens"], row["status"]) == (
        "direct, self_consistency", "1 / 2", 200, "done")
    assert table.set_index("id").loc[third, "correct"] == "no reference"


@pytest.mark.parametrize(("term", "expected"), [
    ("odd numbers", [2]),  # problem text, any part, any case
    ("PRIME", [1]),
    ("claude", [1]),  # model
    ("consistency", [0]),  # strategy
    ("cancelled", [2]),  # status
    ("gpt-4o", [2, 0]),
    ("nothing like this", []),
])
def test_search_matches_problem_model_strategy_and_status(three_runs, term, expected):
    at = page()
    at.text_input(key="hist.search").input(term).run()
    table = shown(at)
    if expected:
        assert list(table["id"]) == [three_runs[i] for i in expected]
    else:
        assert table is None and "No runs match" in at.info[0].value


def test_search_by_run_id_and_filters(three_runs):
    at = page()
    at.text_input(key="hist.search").input(three_runs[1]).run()
    assert list(shown(at)["id"]) == [three_runs[1]]
    at.text_input(key="hist.search").input("").run()
    at.selectbox(key="hist.model").select("openai:gpt-4o-mini").run()
    assert list(shown(at)["id"]) == [three_runs[2], three_runs[0]]
    at.selectbox(key="hist.strategy").select("value_tree").run()
    assert list(shown(at)["id"]) == [three_runs[2]]
    at.selectbox(key="hist.strategy").select("(any)").run()
    at.selectbox(key="hist.status").select("done").run()
    assert list(shown(at)["id"]) == [three_runs[0]]


def test_big_histories_are_paged(store):
    ids = add_runs(store, [{"problem": f"problem {i}"} for i in range(PAGE_SIZE + 7)])
    newest_first = ids[::-1]
    at = page()
    assert list(shown(at)["id"]) == newest_first[:PAGE_SIZE]
    assert f"Runs 1-{PAGE_SIZE} of {PAGE_SIZE + 7}" in at.caption[-1].value
    at.number_input(key="hist.page").set_value(2).run()
    assert list(shown(at)["id"]) == newest_first[PAGE_SIZE:]
    assert f"Runs {PAGE_SIZE + 1}-{PAGE_SIZE + 7} of {PAGE_SIZE + 7}" in at.caption[-1].value
    # A new search starts again from the first page.
    at.text_input(key="hist.search").input("problem").run()
    assert list(shown(at)["id"]) == newest_first[:PAGE_SIZE]
    at.text_input(key="hist.search").input("problem 1").run()  # problem 1 and 10-19
    assert len(shown(at)) == count_runs(search="problem 1", store=store) == 11
    assert at.caption[-1].value == "Runs 1-11 of 11"


def test_the_link_opens_the_run_on_the_run_page(three_runs):
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("../pages/run.py")
    at.query_params["run"] = three_runs[0]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Run"
    assert any("What is 17" in m.value for m in at.markdown)


def test_run_link_keeps_the_host_and_base_path():
    assert run_link("http://localhost:8501/history", "abc") == "http://localhost:8501/run?run=abc"
    assert run_link("https://h.example/arena/history?x=1", "abc") == "https://h.example/arena/run?run=abc"
    assert run_link(None, "a b") == "run?run=a+b"


def test_count_runs_and_offset_agree_with_the_unpaged_list(three_runs, store):
    everything = list(list_runs(store=store)["id"])
    assert count_runs(store=store) == 3
    assert list(list_runs(limit=2, offset=1, store=store)["id"]) == everything[1:]
    assert count_runs(search="gpt-4o", store=store) == 2
