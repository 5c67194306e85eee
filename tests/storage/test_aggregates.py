"""The leaderboard from the store's result summary (storage.result_summary, app.leaderboard_summary)
gives the numbers the rows give (app.leaderboard_view.compute_leaderboard over strategy_results):
on a seeded store with every kind of result (failed, errored, unscored, over cap, repeated runs,
knob settings, strategy versions, sweeps, entry budgets, problems typed without a dataset), for
every filter and row choice, to 1e-9. The summary follows the store: results that end are merged
into it, a deletion or a back-dated import rebuilds it, and the page reads no result rows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, insert, select

from app import leaderboard_view as rows_view
from app.leaderboard_summary import Selection, caps_present, date_span, filter_options, scored_count
from app.leaderboard_summary import compute_leaderboard as from_summary
from app.leaderboard_view import LEADERBOARD_COLUMNS, LeaderboardFilters, apply_filters, compute_leaderboard
from reasoning.bootstrap import bootstrap_ci, bootstrap_ci_counts, item_kinds
from reasoning.metrics import FAILED, failure_reason, result_outcomes
from storage import result_groups, result_summary
from storage.ids import new_run_id
from storage.leaderboard_reads import BUDGET_COLUMNS, results_version, strategy_results
from storage.result_summary import current_summary, load_summary, refresh
from storage.store import Store, forget_store, open_store
from storage.tables import ResultGroup, ResultSummaryState, Run, RunStrategy
from tests.storage.test_storage import BACKENDS, postgres_cluster  # noqa: F401  (the fixture, shared)

START = datetime(2026, 3, 1, tzinfo=UTC)
STRATEGIES = ("direct", "cot", "sc", "tot")
MODELS = ("fake:a", "fake:b")
DATASETS = ("toy", "big", None)


def seed(store: Store, runs: int = 160, *, seed_value: int = 3, start: datetime = START) -> None:
    """Runs of 2-4 entries with every kind of result the leaderboard counts differently."""
    rng = random.Random(seed_value)
    run_rows, entry_rows = [], []
    for i in range(runs):
        run_id = new_run_id()
        created = start + timedelta(hours=7 * i, microseconds=i)
        dataset = rng.choice(DATASETS)
        item = str(rng.randrange(6)) if dataset else None  # few items: repeated runs of one problem
        budget = rng.choice((100, 400, 1600))
        reference = None if rng.random() < 0.08 else "4"
        sweep = rng.choice((None, None, "sweep-1", "sweep-2"))
        run_rows.append({"id": run_id, "created": created, "finished": created, "problem": f"p {i}",
                         "reference": reference, "model": rng.choice(MODELS), "model_options": {},
                         "budget": {"total_tokens": budget, "usd": 0.5 if i % 5 == 0 else None},
                         "dataset": dataset, "item_id": item, "sweep_id": sweep, "status": "done"})
        names = rng.sample(STRATEGIES, rng.randint(2, 4))
        if i % 9 == 0:
            names.append("sc")  # the same strategy twice in one run, other knobs
        for index, name in enumerate(names):
            kind = rng.random()
            correct = None if reference is None else rng.random() < {"direct": 0.4, "cot": 0.6}.get(name, 0.7)
            entry = {"run_id": run_id, "strategy_index": index, "strategy": name, "status": "done",
                     "stop_reason": "done", "answer": "4" if correct else "5", "correct": correct,
                     "total_tokens": rng.randrange(10, budget), "output_tokens": rng.randrange(1, 50),
                     "calls": rng.randint(1, 3), "usd": rng.random() / 1000, "seconds": rng.random() * 5,
                     "finished": created + timedelta(seconds=1 + index), "error": None, "over_cap": False,
                     "knobs": {"samples": 3 + (index % 2)} if name == "sc" else {},
                     "fingerprint": ("fff1111" if i % 4 else "eee2222") if name == "cot" else None,
                     "budget": {"total_tokens": budget * 2} if name == "tot" and i % 3 == 0 else None}
            if kind < 0.06:  # failed: no call made
                entry.update(status="error", stop_reason="error", calls=0, output_tokens=0, total_tokens=0,
                             error=rng.choice(("provider unreachable", "not supported  here")), answer=None)
            elif kind < 0.12:  # errored after spending: scored as what it answered
                entry.update(status="error", stop_reason="error", error="stream closed")
            elif kind < 0.15:
                entry.update(over_cap=True, total_tokens=budget * 50)
            entry_rows.append(entry)
    with store.write() as conn:
        conn.execute(insert(Run), run_rows)
        conn.execute(insert(RunStrategy), entry_rows)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    url = (f"sqlite:///{tmp_path / 'aggregates.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_cluster").create_database())
    the_store = open_store(url)
    yield the_store
    forget_store(the_store)


@pytest.fixture
def seeded(store: Store) -> Store:
    seed(store)
    return store


def both(store: Store, filters: LeaderboardFilters, cap: str = "total_tokens", **choice):
    rows = apply_filters(strategy_results(columns=LEADERBOARD_COLUMNS, store=store), filters)
    selection = Selection(current_summary(store), filters)
    return (compute_leaderboard(rows, cap, n_boot=200, **choice),
            from_summary(selection, cap, n_boot=200, **choice))


def assert_same(row, agg) -> None:
    for name in ("board", "curve", "pairs"):
        pd.testing.assert_frame_equal(getattr(row, name), getattr(agg, name), check_exact=False, rtol=1e-9,
                                      atol=1e-12, check_dtype=False)
    assert (row.over_cap_left_out, row.over_cap_included, row.versions, row.pooled, row.cap) == \
        (agg.over_cap_left_out, agg.over_cap_included, agg.versions, agg.pooled, agg.cap)


CHOICES = [{}, {"split_knobs": True}, {"include_over_cap": True}, {"pool_versions": True},
           {"split_knobs": True, "include_over_cap": True, "pool_versions": True}]
FILTERS = [
    LeaderboardFilters(),
    LeaderboardFilters(models=("fake:a",)),
    LeaderboardFilters(datasets=("toy", "(own problems)")),
    LeaderboardFilters(strategies=("cot", "sc")),
    LeaderboardFilters(sweep="sweep-1"),
    LeaderboardFilters(start=date(2026, 3, 10), end=date(2026, 3, 30)),
    LeaderboardFilters(models=("fake:b",), start=date(2026, 3, 20)),
]


@pytest.mark.parametrize("choice", CHOICES, ids=lambda c: ",".join(c) or "default")
def test_the_summary_gives_the_rows_numbers_for_every_row_choice(seeded: Store, choice: dict) -> None:
    row, agg = both(seeded, LeaderboardFilters(), **choice)
    assert_same(row, agg)
    board = agg.board.set_index("strategy")
    assert board["failed"].sum() > 0 and board["errored"].sum() > 0  # the seed has every kind of result
    assert len(agg.pairs) > 10 and agg.pairs["n"].max() > 6  # repeated runs pair run by run


@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_the_summary_gives_the_rows_numbers_for_every_filter(seeded: Store, filters: LeaderboardFilters) -> None:
    assert_same(*both(seeded, filters))
    rows = apply_filters(strategy_results(columns=LEADERBOARD_COLUMNS, store=seeded), filters)
    selection = Selection(current_summary(seeded), filters)
    assert caps_present(selection) == rows_view.caps_present(rows) == ["total_tokens", "usd"]
    assert scored_count(selection) == rows_view.scored_count(rows)


def test_the_usd_axis_and_the_filter_choices_agree(seeded: Store) -> None:
    assert_same(*both(seeded, LeaderboardFilters(), cap="usd"))
    rows = strategy_results(columns=LEADERBOARD_COLUMNS, store=seeded)
    summary = current_summary(seeded)
    assert filter_options(summary) == rows_view.filter_options(rows)
    assert date_span(summary) == rows_view.date_span(rows)


def test_results_that_end_are_merged_and_equal_a_rebuild(seeded: Store) -> None:
    first = current_summary(seeded)
    seed(seeded, runs=12, seed_value=11, start=datetime.now(UTC))
    topped = current_summary(seeded, first)
    assert topped.version == results_version(store=seeded) and len(topped.rows) == len(first.rows) + \
        (topped.version.count - first.version.count)
    read = load_summary(seeded)  # the merged groups read into the cached summary == the summary read whole
    pd.testing.assert_frame_equal(topped.groups, read.groups)
    assert topped.rows.tobytes() == read.rows.tobytes() and topped.reasons == read.reasons
    assert topped.items.tolist() == read.items.tolist() and topped.version == read.version
    assert_same(*both(seeded, LeaderboardFilters()))  # the merged summary gives the rows' numbers
    merged = _content(seeded)
    result_summary.rebuild(seeded)
    assert _content(seeded) == merged  # merging gave what building from scratch gives


def _content(store: Store) -> dict:
    """Each group's stored values by its key (ids aside)."""
    with store.read() as conn:
        rows = conn.execute(select(ResultGroup.key, ResultGroup.results, ResultGroup.rows, ResultGroup.costs,
                                   ResultGroup.failures, ResultGroup.created_min, ResultGroup.created_max)).all()
        return {row[0]: tuple(row[1:]) for row in rows}


def test_a_deletion_or_a_back_dated_result_rebuilds(seeded: Store) -> None:
    current_summary(seeded)
    with seeded.write() as conn:
        victim = conn.scalar(select(Run.id).order_by(Run.created).limit(1))
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
        conn.execute(delete(Run).where(Run.id == victim))
    done = refresh(seeded)
    assert done.rebuilt and done.version == results_version(store=seeded)
    assert_same(*both(seeded, LeaderboardFilters()))
    seed(seeded, runs=3, seed_value=5, start=START - timedelta(days=400))  # an import: finished long ago
    done = refresh(seeded)
    assert done.rebuilt and load_summary(seeded).version == results_version(store=seeded)
    assert_same(*both(seeded, LeaderboardFilters()))


def test_a_refresh_another_process_made_first_is_not_merged_twice(seeded: Store) -> None:
    before = current_summary(seeded)
    seed(seeded, runs=4, seed_value=12, start=datetime.now(UTC))
    newer = result_summary._read(seeded, ended_after=before.version.newest)
    version = results_version(store=seeded)
    assert result_summary._merge(seeded, before.version, version, newer) is not None
    # a second process that read the same state: its merge is refused, nothing counted twice
    assert result_summary._merge(seeded, before.version, version, newer) is None
    with seeded.read() as conn:
        assert conn.scalar(select(ResultSummaryState.results)) == version.count
        assert conn.scalar(select(func.sum(ResultGroup.results))) == version.count


def test_results_are_coded_as_the_metrics_code_the_rows(seeded: Store) -> None:
    with seeded.read() as conn:
        results = result_groups.results_of(conn.execute(*result_groups.results_query()).all())
    rows = strategy_results(columns=LEADERBOARD_COLUMNS, store=seeded)  # the same results in the same order
    outcomes = result_outcomes(rows)
    verdict = pd.to_numeric(rows["correct"].astype(object), errors="coerce")
    verdicts = np.where(verdict.isna(), result_groups.NO_VERDICT,
                        np.where(verdict > 0.5, result_groups.RIGHT, result_groups.WRONG))
    assert results.codes == (verdicts + 3 * outcomes.map(result_groups.OUTCOME_CODES).to_numpy()).tolist()
    assert {c % 3 for c in results.codes} == {c // 3 for c in results.codes} == {0, 1, 2}  # every kind is there
    assert results.reasons == [failure_reason(row) if o == FAILED else None
                               for row, o in zip(rows.to_dict("records"), outcomes, strict=True)]
    costs = np.array(results.costs)
    assert np.array_equal(costs, rows[["total_tokens", "usd", "seconds"]].to_numpy(dtype=float))
    assert results.entries == rows["strategy_index"].tolist()
    budgets = [key[-len(BUDGET_COLUMNS):] for key in results.keys]
    assert np.array_equal(np.array(budgets, dtype=float), rows[BUDGET_COLUMNS].to_numpy(dtype=float), equal_nan=True)


def test_creation_times_one_by_one_are_pandas_parse() -> None:
    values = ["2026-03-01 10:20:30.123456", "2026-03-01T10:20:30", "1969-12-31 23:59:59.5", "2026-03-01 10:20:30.1",
              datetime(2026, 3, 1, 10, 20, 30, 7), datetime(1960, 1, 1, 5, tzinfo=timezone(timedelta(hours=-5)))]
    pandas = result_groups.created_micros(values * (result_groups._FEW_TIMES + 1))[:len(values)]  # too many: pandas
    assert result_groups.created_micros(values) == pandas
    assert pandas[2] == -500_000 and pandas[5] == (datetime(1960, 1, 1, 10, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) \
        // timedelta(microseconds=1)
    odd = ["2026-03-01 10:20:30.123456789", "2026-03-01 10:20:30+02:00"]  # not SQLite's text: pandas parses them
    assert result_groups.created_micros(odd) == [1772360430123456, 1772353230000000]


def _one_result(store: Store, strategy: str = "direct", fingerprint: str | None = None, **run: object) -> None:
    run_id, now = new_run_id(), datetime.now(UTC)
    with store.write() as conn:
        conn.execute(insert(Run).values(id=run_id, created=now, finished=now, problem="p", reference="4",
                                        model="fake:a", model_options={}, budget={"total_tokens": 100},
                                        status="done", **run))
        conn.execute(insert(RunStrategy).values(run_id=run_id, strategy_index=0, strategy=strategy, knobs={},
                                                status="done", answer="4", correct=True, total_tokens=50,
                                                output_tokens=5, calls=1, usd=0.001, seconds=1.0, finished=now,
                                                fingerprint=fingerprint))


def _same_as_read(summary: result_summary.ResultSummary, store: Store) -> None:
    read = load_summary(store)
    pd.testing.assert_frame_equal(summary.groups, read.groups)  # dtypes too
    assert summary.rows.tobytes() == read.rows.tobytes() and summary.reasons == read.reasons
    assert summary.items.tolist() == read.items.tolist() and summary.version == read.version
    assert summary.costs().tobytes() == read.costs().tobytes()


def test_a_merge_puts_its_groups_into_the_summary_as_a_read_gives_them(store: Store) -> None:
    _one_result(store)  # one group (id 0), one item (code 0): a merge numbers new ones after them
    first = current_summary(store)
    first.costs()  # kept costs are spliced too
    assert first.groups["fingerprint"].dtype == object and len(first.groups) == 1  # no fingerprint yet: None
    _one_result(store, strategy="cot", fingerprint="f00", dataset="toy", item_id="3", sweep_id="sweep-9")
    added = current_summary(store, first)  # a new group whose names change column types (None -> text)
    assert len(added.groups) == 2 and added.groups["id"].tolist() == [0, 1] and len(added.items) == 2
    _same_as_read(added, store)
    _one_result(store, dataset="toy", item_id="3")  # a third group...
    _one_result(store)  # ...and one more result in the first one, merged together
    grown = current_summary(store, added)
    assert grown.groups["results"].tolist() == [2, 1, 1] and grown.group_digest(1) == added.group_digest(1)
    _same_as_read(grown, store)
    _one_result(store, strategy="cot", fingerprint="f00", dataset="toy", item_id="3", sweep_id="sweep-9")  # same group
    merged = current_summary(store, grown)
    assert merged.groups["results"].tolist() == [2, 2, 1]
    _same_as_read(merged, store)
    assert_same(*both(store, LeaderboardFilters()))


def test_an_empty_store_has_an_empty_summary(store: Store) -> None:
    summary = current_summary(store)
    assert len(summary.rows) == 0 and summary.groups.empty and summary.version.count == 0


def test_the_page_reads_the_summary_not_the_rows(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.app.test_leaderboard import page, the_table

    if not seeded.url.startswith("sqlite"):
        pytest.skip("the page test runs once")
    monkeypatch.setenv("BUDGET_ARENA_DB", seeded.url)
    import app.leaderboard_page

    def no_rows(*args, **kwargs):
        raise AssertionError("the page read every result")

    monkeypatch.setattr(app.leaderboard_page, "strategy_results", no_rows)
    table = the_table(page())
    row, _ = both(seeded, LeaderboardFilters())
    expected = row.board.set_index(["strategy", "model"])
    shown = table.set_index(["strategy", "model"])
    assert sorted(shown.index) == sorted(expected.index)
    assert shown["results"].tolist() == expected.loc[shown.index, "n"].tolist()
    assert shown["accuracy"].tolist() == pytest.approx(expected.loc[shown.index, "accuracy"].tolist(), nan_ok=True)


def test_bootstrap_from_counts_equals_the_rows_and_kinds_sort_as_unique_does() -> None:
    rng = np.random.default_rng(1)
    items = rng.integers(0, 40, 500)
    correct = rng.integers(0, 2, 500).astype(float)
    sums = np.bincount(items, weights=correct, minlength=40)
    counts = np.bincount(items, minlength=40).astype(float)
    assert bootstrap_ci(correct, items) == bootstrap_ci_counts(sums[counts > 0], counts[counts > 0])
    signed = rng.integers(-3, 4, 300).astype(float)
    sizes = rng.integers(1, 5, 300).astype(float)
    kinds, many = item_kinds(signed, sizes)
    expected, inverse = np.unique(np.stack([signed, sizes], axis=1), axis=0, return_inverse=True)
    assert np.array_equal(kinds, expected) and np.array_equal(many, np.bincount(inverse.ravel()))
    halves = np.array([0.5, 0.25, 0.5])  # not whole numbers: the general path
    kinds, many = item_kinds(halves, np.ones(3))
    assert kinds.tolist() == [[0.25, 1.0], [0.5, 1.0]] and many.tolist() == [1, 2]


def test_the_page_cache_sees_a_result_at_once_and_a_deletion_at_the_next_count(seeded: Store,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.results_cache import SummaryCache

    cache = SummaryCache(seeded)
    first = cache.current()
    assert cache.current() is first  # nothing changed: no count, no read
    counted: list[bool] = []
    real = results_version

    def counting(**kwargs):
        counted.append(True)
        return real(**kwargs)

    monkeypatch.setattr("app.results_cache.results_version", counting)
    newest = first.version.newest
    seed(seeded, runs=1, seed_value=21, start=newest.replace(microsecond=0) + timedelta(seconds=5))
    with seeded.write() as conn:  # a result ending in the very microsecond of the newest one still shows
        conn.execute(RunStrategy.__table__.update().where(RunStrategy.finished > newest).values(finished=newest))
    after = cache.current()
    assert counted and after.version.count > first.version.count
    counted.clear()
    with seeded.write() as conn:
        victim = conn.scalar(select(Run.id).order_by(Run.created).limit(1))
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
    assert cache.current() is after and not counted  # a deletion waits for the next count...
    monkeypatch.setattr(SummaryCache, "COUNT_SECONDS", 0.0)
    assert cache.current().version == results_version(store=seeded) and counted  # ...and shows then


def test_a_new_process_reads_a_current_summary_without_counting_every_result(seeded: Store,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from app.results_cache import SummaryCache

    current_summary(seeded)  # the stored summary is up to date
    counted: list[bool] = []
    real = results_version

    def counting(**kwargs):
        counted.append(True)
        return real(**kwargs)

    monkeypatch.setattr("app.results_cache.results_version", counting)
    first = SummaryCache(seeded).current()
    assert not counted and first.version == results_version(store=seeded)  # no scan of every result
    # a result that ended after the stored summary's newest: the first read counts and merges it
    seed(seeded, runs=1, seed_value=22, start=datetime.now(UTC))
    fresh = SummaryCache(seeded).current()
    assert counted and fresh.version == results_version(store=seeded)
    # a deletion made while no process ran shows at the first count (at most COUNT_SECONDS later)
    counted.clear()
    with seeded.write() as conn:
        victim = conn.scalar(select(Run.id).order_by(Run.created).limit(1))
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
    cache = SummaryCache(seeded)
    assert cache.current().version == fresh.version and not counted
    monkeypatch.setattr(SummaryCache, "COUNT_SECONDS", 0.0)
    assert cache.current().version == results_version(store=seeded) and counted


def test_a_result_that_ends_is_merged_without_counting_and_a_deletion_shows_at_the_count(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.results_cache import SummaryCache

    cache = SummaryCache(seeded)
    first = cache.current()
    counted: list[bool] = []
    real = results_version

    def counting(**kwargs):
        counted.append(True)
        return real(**kwargs)

    monkeypatch.setattr("app.results_cache.results_version", counting)
    seed(seeded, runs=2, seed_value=23, start=datetime.now(UTC))
    merged = cache.current()
    assert not counted and merged.version == results_version(store=seeded) != first.version
    read = load_summary(seeded)  # what the merge stored is what a count and a full read give
    pd.testing.assert_frame_equal(merged.groups, read.groups)
    assert merged.rows.tobytes() == read.rows.tobytes() and merged.version == read.version
    assert_same(*both(seeded, LeaderboardFilters()))
    with seeded.write() as conn:  # a deletion, then another result: merged, the deletion not seen yet...
        victim = conn.scalar(select(Run.id).order_by(Run.created).limit(1))
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
    seed(seeded, runs=1, seed_value=24, start=datetime.now(UTC) + timedelta(seconds=30))
    stale, now = cache.current(), results_version(store=seeded)
    assert stale.version.newest == now.newest and stale.version.count > now.count and not counted
    monkeypatch.setattr(SummaryCache, "COUNT_SECONDS", 0.0)
    counted.clear()
    assert cache.current().version == results_version(store=seeded) and counted  # ...until the count
    assert_same(*both(seeded, LeaderboardFilters()))
