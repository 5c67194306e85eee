"""Computed leaderboards kept in the store (app.stored_boards, storage.board_store): a stored board
is the board computed afresh (to 1e-9: frames, scalars, the head-to-head drawn so far and the cells
drawn later); it serves the next reader of the same results without computing anything; it is
computed again once a result is added, deleted or imported; the page reads it in a new session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import delete, func, select

from app import stored_boards
from app.leaderboard_summary import Selection, head_to_head
from app.leaderboard_summary import compute_leaderboard as from_summary
from app.leaderboard_view import Leaderboard, LeaderboardFilters, RowChoice
from storage.board_store import KEPT_BOARDS, read_board, write_board
from storage.result_summary import current_summary
from storage.store import Store, forget_store, open_store
from storage.tables import LeaderboardBoard, Run, RunStrategy
from tests.storage.test_aggregates import START, seed
from tests.storage.test_storage import BACKENDS, postgres_cluster  # noqa: F401  (the fixture, shared)

N_BOOT = 200


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    url = (f"sqlite:///{tmp_path / 'boards.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_cluster").create_database())
    the_store = open_store(url)
    seed(the_store)
    yield the_store
    forget_store(the_store)


def assert_same(stored: Leaderboard, fresh: Leaderboard) -> None:
    for name in ("board", "curve", "pairs"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(fresh, name), check_exact=False, rtol=1e-9,
                                      atol=1e-12, check_dtype=False)
    assert (stored.cap, stored.over_cap_left_out, stored.over_cap_included, stored.versions, stored.pooled) == \
        (fresh.cap, fresh.over_cap_left_out, fresh.over_cap_included, fresh.versions, fresh.pooled)
    assert stored.board["failure_reasons"].map(type).eq(list).all()


class Reader:
    """What the page does: the stored board of these filters, counting the boards it computed."""

    def __init__(self, store: Store, filters: LeaderboardFilters | None = None, choice: RowChoice | None = None):
        self.store, self.filters, self.choice = store, filters or LeaderboardFilters(), choice or RowChoice()
        self.computed = 0
        self.pairs = 0

    def selection(self) -> Selection:
        return Selection(current_summary(self.store), self.filters)

    def fresh(self) -> Leaderboard:
        return from_summary(self.selection(), "total_tokens", n_boot=N_BOOT, split_knobs=self.choice.split_knobs,
                            include_over_cap=self.choice.include_over_cap, pool_versions=self.choice.pool_versions)

    def __call__(self) -> stored_boards.StoredLeaderboard:
        stored_boards.flush()  # the boards written before are in the store
        selection = self.selection()

        def compute() -> Leaderboard:
            self.computed += 1
            return self.fresh()

        def pairs(order: list[str]):
            self.pairs += 1
            return head_to_head(selection, "total_tokens", order, choice=self.choice, n_boot=N_BOOT)

        return stored_boards.leaderboard(self.store, selection, self.filters, "total_tokens", self.choice, compute,
                                         pairs, n_boot=N_BOOT)


@pytest.mark.parametrize("choice", [RowChoice(), RowChoice(split_knobs=True, include_over_cap=True)])
def test_a_stored_board_is_the_fresh_board_and_serves_the_next_reader(store: Store, choice: RowChoice) -> None:
    read = Reader(store, choice=choice)
    first = read()
    assert read.computed == 1 and first.board.head_to_head.missing()  # cells not drawn yet
    again = read()
    assert read.computed == 1 and read.pairs == 0  # read from the store: nothing computed
    assert again.board.head_to_head.missing() == first.board.head_to_head.missing()
    assert_same(again.board, read.fresh())  # the missing cells drawn from the results: the same intervals
    assert read.pairs == 1


def test_cells_drawn_later_are_stored_for_the_next_reader(store: Store) -> None:
    read = Reader(store)
    first = read()
    table = first.board.head_to_head
    cell = table.missing()[0]
    table.cell(*cell)
    first.save_drawn()
    second = read()
    assert cell not in second.board.head_to_head.missing()
    pd.testing.assert_frame_equal(second.board.head_to_head.cell(*cell), read.fresh().head_to_head.cell(*cell),
                                  check_dtype=False)
    assert read.pairs == 0  # that cell came from the store
    first.board.head_to_head.complete()
    first.save_drawn()
    assert not read().board.head_to_head.missing()


def test_a_board_is_computed_again_when_a_result_is_added_deleted_or_imported(store: Store) -> None:
    read = Reader(store)
    read()
    seed(store, runs=2, seed_value=31, start=datetime.now(UTC))  # results that just ended
    added = read()
    assert read.computed == 2
    assert_same(added.board, read.fresh())
    with store.write() as conn:
        victim = conn.scalar(select(Run.id).order_by(Run.created).limit(1))
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
        conn.execute(delete(Run).where(Run.id == victim))
    deleted = read()
    assert read.computed == 3
    assert_same(deleted.board, read.fresh())
    seed(store, runs=2, seed_value=32, start=START - timedelta(days=300))  # an import: finished long ago
    imported = read()
    assert read.computed == 4
    assert_same(imported.board, read.fresh())
    read()
    assert read.computed == 4


def test_filters_and_dates_are_boards_of_their_own(store: Store) -> None:
    everything, dated = Reader(store), Reader(store, LeaderboardFilters(start=START.date() + timedelta(days=10)))
    everything(), dated()
    assert everything.computed == dated.computed == 1
    assert_same(dated().board, dated.fresh())
    assert dated.computed == 1
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(LeaderboardBoard)) == 2


def test_a_board_of_another_layout_is_computed_again(store: Store) -> None:
    read = Reader(store)
    stored = read()
    stored_boards.flush()
    write_board(store, stored.key, stored.digest, 1, b"\x05\x00\x00\x00{}xyz")  # not a board this version reads
    assert_same(read().board, read.fresh())
    assert read.computed == 2


def test_only_the_newest_boards_are_kept(store: Store) -> None:
    for i in range(KEPT_BOARDS + 3):
        write_board(store, f"key{i}", "d", i, b"x")
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(LeaderboardBoard)) == KEPT_BOARDS
    assert read_board(store, f"key{KEPT_BOARDS + 2}") is not None and read_board(store, "key0") is None
    write_board(store, "key0", "e", 1, b"y")  # replaced in place
    assert read_board(store, "key0").digest == "e"
    assert read_board(store, "key0", "e").data == b"y" and read_board(store, "key0", "d") is None  # other results


def test_the_page_of_a_new_session_reads_the_stored_board(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st

    from tests.app.test_leaderboard import page, the_table

    if not store.url.startswith("sqlite"):
        pytest.skip("the page test runs once")
    monkeypatch.setenv("BUDGET_ARENA_DB", store.url)
    first = the_table(page())
    stored_boards.flush()
    st.cache_resource.clear()  # a server start: nothing in memory
    import app.leaderboard_page

    def no_computing(*args, **kwargs):
        raise AssertionError("the page computed a board it had stored")

    monkeypatch.setattr(app.leaderboard_page, "summary_leaderboard", no_computing)
    at = page()
    pd.testing.assert_frame_equal(the_table(at), first)
    assert len(at.dataframe) == 2  # and the head to head's first cell, from the stored board


def test_a_board_read_from_the_store_recomputed_after_a_new_result_draws_only_what_changed(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that only read the stored board (a server just started) gets its intervals with
    it: after one new result it draws the groups and cells that changed, not every one."""
    from reasoning import bootstrap, pair_table, rank_intervals

    def forget() -> None:
        bootstrap.forget_intervals()
        pair_table.forget_cells()
        rank_intervals.forget_products()

    drawn: list[str] = []
    real_kinds, real_cells = bootstrap._draw_kinds_ci, pair_table._cell_intervals
    monkeypatch.setattr(bootstrap, "_draw_kinds_ci", lambda *a: drawn.append("interval") or real_kinds(*a))
    monkeypatch.setattr(pair_table, "_cell_intervals", lambda *a: drawn.append("cell") or real_cells(*a))
    read = Reader(store)
    forget()
    read()
    cold = {kind: drawn.count(kind) for kind in ("interval", "cell")}
    forget()  # a new process: nothing memoised
    read()  # reads the stored board, and its intervals
    drawn.clear()
    seed(store, runs=1, seed_value=41, start=datetime.now(UTC))
    after = read()
    assert read.computed == 2
    assert 0 < drawn.count("interval") < cold["interval"] / 4  # the groups of the new run's entries
    assert drawn.count("cell") <= 1  # at most the cell shown first, if the new run changed it
    forget()
    assert_same(after.board, read.fresh())


# The modules the board code imports whose code cannot change a board's number: the store, the
# engine's types and the wording and charts around them. Any other module it imports must be in
# BOARD_CODE (a stored board is keyed by that code: a change to it must compute boards again).
NOT_BOARD_NUMBERS = {
    "app.leaderboard_charts", "reasoning.answers", "reasoning.answers.budget_statements",
    "reasoning.answers.equivalence", "reasoning.answers.parsing", "reasoning.answers.values", "reasoning.budget",
    "reasoning.config", "reasoning.context", "reasoning.events", "reasoning.memo", "reasoning.metering",
    "reasoning.model_protocol", "reasoning.models.providers", "reasoning.plugin_loading", "reasoning.prices",
    "reasoning.strategies.anytime", "reasoning.strategies.base", "reasoning.strategies.support.prompts",
    "reasoning.strategies.support.sizing", "reasoning.wording", "storage.board_store", "storage.database",
    "storage.ids", "storage.leaderboard_reads", "storage.liveness", "storage.migrate", "storage.query_support",
    "storage.store", "storage.tables",
}


def test_every_module_the_board_code_imports_is_in_its_key_or_named_as_not_deciding_numbers() -> None:
    from app.stored_boards import BOARD_CODE
    from tests.system.test_architecture import import_graph

    graph, reached, todo = import_graph(), set(), ["app.stored_boards"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph.get(module, ()))
    keyed = {name.removesuffix(".py").replace("/", ".") for name in BOARD_CODE}
    assert reached - NOT_BOARD_NUMBERS - keyed == set(), "add these to BOARD_CODE (or to NOT_BOARD_NUMBERS)"
    assert keyed <= reached  # no stale name in BOARD_CODE
