"""app.summary_memo: what the summary path memoises between summaries gives, after each merge,
exactly what counting the selected results one by one gives (app.leaderboard_summary's per-result
path), whether the new results sort after every other (carried on) or among them (a new order, or
carried on when no item's number moves), with new items, ties, failures and new groups."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from app import summary_memo
from app.leaderboard_summary import (
    Selection,
    SummaryCounts,
    _counts_by_group,
    _counts_per_result,
    _filter_options,
    filter_options,
    result_count,
    scored_count,
)
from app.leaderboard_view import LeaderboardFilters, RowChoice
from reasoning.memo import Memo
from storage.ids import new_run_id
from storage.result_summary import ResultSummary, current_summary
from storage.store import Store, forget_store, open_store
from storage.tables import Run, RunStrategy
from tests.storage.test_aggregates import START, seed

FINISHED = itertools.count()  # each new run ends after the last (merged, not rebuilt)
CHOICES = [RowChoice(), RowChoice(split_knobs=True), RowChoice(include_over_cap=True),
           RowChoice(True, True, True)]


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    the_store = open_store(f"sqlite:///{tmp_path / 'memo.db'}")
    seed(the_store, runs=60)
    yield the_store
    forget_store(the_store)


def add_run(store: Store, created, *, item: str | None = "1", strategies=("cot", "direct"), model: str = "fake:a",
            failed: bool = False) -> None:
    run_id = new_run_id()
    with store.write() as conn:
        conn.execute(insert(Run).values(id=run_id, created=created, finished=created, problem="one more",
                                        reference="4", model=model, model_options={},
                                        budget={"total_tokens": 400}, dataset="toy" if item else None,
                                        item_id=item, status="done"))
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": i, "strategy": name, "knobs": {}, "status": "error" if failed
             else "done", "answer": "4", "correct": i % 2 == 0, "total_tokens": 0 if failed else 100, "usd": 0.001,
             "seconds": 1.0, "calls": 0 if failed else 1, "error": "provider unreachable" if failed else None,
             "fingerprint": "fff1111" if name == "cot" else None, "finished": START + timedelta(days=400, seconds=next(FINISHED))}
            for i, name in enumerate(strategies)])


def assert_same(a: SummaryCounts, b: SummaryCounts) -> None:
    for name in ("cells", "sums", "errored", "failed"):
        pd.testing.assert_frame_equal(getattr(a.counts, name), getattr(b.counts, name), check_exact=True)
    for name in ("model", "budget", "series", "item", "correct"):
        left, right = getattr(a.pairs, name), getattr(b.pairs, name)
        assert type(left) is type(right) and np.array_equal(np.asarray(left), np.asarray(right)), name
    assert (a.over_cap, a.versions) == (b.over_cap, b.versions)


def check(summary: ResultSummary) -> None:
    groups = summary.groups
    assert filter_options(summary) == _filter_options(groups.loc[groups["results"] > 0])  # memoised: the same
    for choice in CHOICES:
        for filters in (LeaderboardFilters(), LeaderboardFilters(models=("fake:b",))):
            selection = Selection(summary, filters)
            codes = summary.rows["code"][selection.index]
            assert result_count(selection) == len(codes) > 0
            assert scored_count(selection) == int(np.count_nonzero(codes % 3))  # a verdict: code % 3 != 0
            assert_same(_counts_by_group(selection, "total_tokens", choice),
                        _counts_per_result(selection, "total_tokens", choice))


@pytest.fixture
def orders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the scored results were ordered afresh."""
    built: list[int] = []
    original = summary_memo.ScoredOrder.__init__

    def counted(self, *args, **kwargs) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(summary_memo.ScoredOrder, "__init__", counted)
    monkeypatch.setattr(summary_memo, "_ORDERS", Memo("test.orders", 2 * len(CHOICES), record=False))  # every board checked kept
    return built


def test_a_newer_result_is_carried_on_and_counts_as_the_rows_do(store: Store, orders: list[int]) -> None:
    summary = current_summary(store)
    check(summary)
    carried = 0
    for step, item in enumerate(("1", "1", "77", None, "78", None)):  # known and new items, a run's own problem
        built, groups = len(orders), len(summary.groups)
        add_run(store, START + timedelta(days=200 + step), item=item, failed=step == 3)
        summary = current_summary(store, summary)
        check(summary)
        if len(summary.groups) == groups:  # no new group: the kept order was carried on
            assert len(orders) == built
            carried += 1
    assert carried >= 3


def test_results_created_among_the_others_count_as_the_rows_do(store: Store, orders: list[int]) -> None:
    summary = current_summary(store)
    add_run(store, START + timedelta(days=300), item="1")  # the groups the runs below add to
    summary = current_summary(store, summary)
    check(summary)
    carried = 0
    for created, item in ((START + timedelta(days=3, minutes=1), "1"),  # among them, a known item
                          (START + timedelta(days=3, minutes=2), "99"),  # among them, a new item: renumbered
                          (START - timedelta(days=1), "3"),  # before every other: item 3 now first
                          (START - timedelta(days=2), "98"),  # a new item first of all
                          (START + timedelta(hours=7 * 5, microseconds=5), "2")):  # the time of a seeded run
        built, groups = len(orders), len(summary.groups)
        add_run(store, created, item=item)
        summary = current_summary(store, summary)
        check(summary)
        carried += len(orders) == built and len(summary.groups) == groups
    assert carried >= 4  # a tie with a seeded result may be ordered afresh; the others are carried on


def test_a_new_group_and_a_new_model_count_as_the_rows_do(store: Store) -> None:
    summary = current_summary(store)
    check(summary)
    add_run(store, START + timedelta(days=300), strategies=("brand_new", "cot"), model="fake:c")
    summary = current_summary(store, summary)
    check(summary)
