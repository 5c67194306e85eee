"""The Sweep page under AppTest, with the scripted fake model and a private store: a small sweep
starts in the background, its progress and leaderboard show, and its results are in the store
(so on the Leaderboard); bad input is refused; a deployment with a per-session run limit gets no
sweeps."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from reasoning.config import get_settings
from storage.queries import strategy_results
from storage.runner import get_runner
from storage.store import Store, forget_store, open_store
from storage.sweeps import get_sweep, sweep_handle
from storage.tables import Run

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
LIMIT_ENV = "BUDGET_ARENA_LIMITS__"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'sweep-page.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    monkeypatch.setenv("BUDGET_ARENA_ENABLE_FAKE", "1")
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


def fill(at: AppTest, *, size: int = 3, budgets: str = "100, 300",
         strategies: tuple[str, ...] = ("direct", "chain_of_thought")) -> AppTest:
    at.radio(key="cmp.provider").set_value("fake").run()
    at.number_input(key="cmp.fake_delay").set_value(0.0)
    at.text_area(key="cmp.fake_reply").set_value("Let me see. Answer: 3")
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
    assert set(results["dataset"]) == {"basic_arithmetic"}
    progress = [p for p in at.get("progress")]
    assert progress and "done: 12 of 12" in progress[0].proto.text
    tables = [d.value for d in at.dataframe]
    board = next(t for t in tables if "strategy" in t.columns)  # the sweep's leaderboard
    assert sorted(board["strategy"]) == ["chain_of_thought", "direct"]
    listed = next(t for t in tables if "progress" in t.columns)  # recent sweeps
    assert list(listed["id"]) == [sweep_id] and list(listed["progress"]) == ["12 / 12"]

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
