"""The History page (AppTest on a private store): runs with their share links, search, filters,
paging, and the empty store; the link opens the run on the Run page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from app.history_page import PAGE_SIZE
from app.state import ROOT, share_link
from storage import forget_store, new_run_id, open_store
from storage.run_history import MAX_SEARCH_CHARS, SearchTooLong, count_runs, history_options, list_runs
from storage.store import Store
from storage.tables import Run, RunStrategy
from tests.storage.test_storage import postgres_cluster, store_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

MAIN = str(ROOT / "app" / "main.py")
START = datetime(2025, 3, 1, tzinfo=UTC)


def add_runs(store: Store, specs: list[dict]) -> list[str]:
    """Runs in one transaction; each spec: problem, model, strategies, status (+ minutes after START)."""
    ids = [new_run_id() for _ in specs]
    with store.write() as conn:
        conn.execute(insert(Run), [
            {"id": run_id, "created": START + timedelta(minutes=spec.get("minute", i)), "problem": spec["problem"],
             "reference": spec.get("reference", "4"), "model": spec.get("model", "fake:m"), "model_options": {},
             "budget": {"total_tokens": 500}, "status": spec.get("status", "done"), "dataset": spec.get("dataset"),
             "sweep_id": spec.get("sweep_id"), "sweep_key": spec.get("sweep_id") and f"cell-{i}"}
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
    assert list(table["link"]) == [f"./?run={run_id}" for run_id in (third, second, first)]
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
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["run"] = three_runs[0]  # the link is the app's root with ?run=
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Run"
    assert any("What is 17" in m.value for m in at.markdown)


def test_run_link_keeps_the_host_and_base_path():
    assert share_link("http://localhost:8501/history", "abc") == "http://localhost:8501/?run=abc"
    assert share_link("https://h.example/arena/history?x=1", "abc") == "https://h.example/arena/?run=abc"
    assert share_link(None, "a b") == "./?run=a+b"


def test_count_runs_and_offset_agree_with_the_unpaged_list(three_runs, store):
    everything = list(list_runs(store=store)["id"])
    assert count_runs(store=store) == 3
    assert list(list_runs(limit=2, offset=1, store=store)["id"]) == everything[1:]
    assert count_runs(search="gpt-4o", store=store) == 2


# ---- filters, sweep runs, run ids, long and non-ASCII searches (issues 12 and 13) --------------


@pytest.fixture
def mixed_runs(store) -> list[str]:
    """Two runs started by hand and three cells of two sweeps, on two datasets and two models."""
    return add_runs(store, [
        {"problem": "What is 6 * 7?", "dataset": "basic_arithmetic"},
        {"problem": "Spell cat backward", "model": "openai:gpt-4o-mini", "status": "error"},
        {"problem": "Cell one", "dataset": "basic_arithmetic", "sweep_id": "sw-aaaa"},
        {"problem": "Cell two", "dataset": "chain_sum", "sweep_id": "sw-aaaa", "status": "cancelled"},
        {"problem": "Cell three", "dataset": "chain_sum", "sweep_id": "sw-bbbb"},
    ])


def test_sweep_runs_are_hidden_until_asked_for(mixed_runs, store):
    by_hand, error, cell1, cell2, cell3 = mixed_runs
    at = page()
    assert list(shown(at)["id"]) == [error, by_hand]
    assert "(3 sweep runs hidden)" in at.caption[-1].value
    at.toggle(key="hist.sweep_cells").set_value(True).run()
    assert list(shown(at)["id"]) == [cell3, cell2, cell1, error, by_hand]
    assert at.caption[-1].value == "Runs 1-5 of 5"
    # the query layer: hidden only when asked
    assert count_runs(store=store) == 5
    assert list(list_runs(sweep_cells=False, store=store)["id"]) == [error, by_hand]


def test_filters_by_dataset_model_status_and_sweep(mixed_runs, store):
    by_hand, error, cell1, cell2, cell3 = mixed_runs
    options = history_options(store=store)
    assert options["datasets"] == ["basic_arithmetic", "chain_sum"]
    assert options["sweeps"] == ["sw-bbbb", "sw-aaaa"]  # newest first
    at = page()
    at.selectbox(key="hist.sweep").select("sw-aaaa").run()  # picking a sweep shows its runs
    assert list(shown(at)["id"]) == [cell2, cell1]
    at.selectbox(key="hist.dataset").select("chain_sum").run()
    assert list(shown(at)["id"]) == [cell2]
    at.selectbox(key="hist.sweep").select("(any)").run()
    assert shown(at) is None  # no run by hand on chain_sum, and sweep runs are hidden again
    assert "2 sweep runs match" in at.info[0].value
    at.toggle(key="hist.sweep_cells").set_value(True).run()
    assert list(shown(at)["id"]) == [cell3, cell2]
    at.selectbox(key="hist.status").select("cancelled").run()
    assert list(shown(at)["id"]) == [cell2]
    at.selectbox(key="hist.dataset").select("(any)").run()
    at.selectbox(key="hist.status").select("(any)").run()
    at.selectbox(key="hist.model").select("openai:gpt-4o-mini").run()
    assert list(shown(at)["id"]) == [error]


def test_search_matches_a_part_of_a_run_id(mixed_runs, store):
    target = mixed_runs[1]
    part = target[3:9]
    assert target in list(list_runs(search=part, store=store)["id"])
    at = page()
    at.text_input(key="hist.search").input(part).run()
    assert target in list(shown(at)["id"])
    at.text_input(key="hist.search").input("sw-bbb").run()  # a sweep id finds its runs, shown or not
    assert "1 sweep runs match" in at.info[0].value


def test_a_huge_search_is_capped_with_a_message(mixed_runs, store):
    huge = "x" * 60_000
    with pytest.raises(SearchTooLong, match=f"at most {MAX_SEARCH_CHARS} characters"):
        list_runs(search=huge, store=store)
    at = page()
    at.text_input(key="hist.search").input("Cell" + huge).run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"at most {MAX_SEARCH_CHARS} characters" in at.warning[0].value
    assert "60,004" in at.warning[0].value
    assert "No runs match" in at.info[0].value  # the first 200 characters were searched, no SQL error


def test_non_ascii_search_ignores_case_on_sqlite(store):
    ecole, strasse, other = add_runs(store, [{"problem": "L'ÉCOLE est fermée"}, {"problem": "Die STRAẞE"},
                                             {"problem": "ecole without accent"}])
    assert list(list_runs(search="école", store=store)["id"]) == [ecole]
    assert list(list_runs(search="ÉCOLE", store=store)["id"]) == [ecole]
    assert list(list_runs(search="straße", store=store)["id"]) == [strasse]
    assert count_runs(search="école", store=store) == 1
    at = page()
    at.text_input(key="hist.search").input("l'école").run()
    assert list(shown(at)["id"]) == [ecole]


def test_non_ascii_search_ignores_case_in_every_backend(store_url):  # noqa: F811
    """PostgreSQL included, even a database created with the C locale (the test cluster's), where
    lower() and ILIKE fold ASCII letters only."""
    backend = open_store(store_url)
    try:
        ecole, _ = add_runs(backend, [{"problem": "L'ÉCOLE est fermée"}, {"problem": "ecole without accent"}])
        assert list(list_runs(search="école", store=backend)["id"]) == [ecole]
        assert count_runs(search="ÉCOLE", store=backend) == 1
        assert count_runs(search="ecole", store=backend) == 1  # an ASCII search stays on the fast path
    finally:
        forget_store(backend)
