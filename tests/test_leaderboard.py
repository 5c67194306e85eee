"""The Leaderboard page (AppTest on a private store seeded with known results), its data path and
its charts.

The seeded results are small enough to work out by hand: two problems, budgets of 100 and 1,000
tokens, three strategies on model fake:m, plus one result on another model, dataset and day (for
the filters) and one without a reference answer (never scored).
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import delete, insert
from streamlit.testing.v1 import AppTest

from app.leaderboard_charts import ON_FRONTIER, accuracy_budget_chart, pareto_chart
from app.leaderboard_page import full_results_csv
from app.leaderboard_view import (
    LEADERBOARD_COLUMNS,
    LeaderboardFilters,
    apply_filters,
    board_csv,
    compute_leaderboard,
    label_knob_variants,
    with_budget,
)
from app.results_cache import ResultsCache
from app.state import ROOT
from storage import forget_store, new_run_id, open_store, strategy_results
from storage.queries import results_version
from storage.store import Store
from storage.tables import Run, RunStrategy

MAIN = str(ROOT / "app" / "main.py")
NOW = datetime.now(UTC)
LAST_WEEK = NOW - timedelta(days=10)

# (budget, item, {strategy: (correct, tokens, usd)}) on model fake:m, dataset "toy"
MAIN_RESULTS = [
    (100, "1", {"A": (True, 80, 0.008), "B": (False, 50, 0.005), "C": (False, 100, 0.01)}),
    (100, "2", {"A": (False, 100, 0.010), "B": (False, 60, 0.006), "C": (False, 100, 0.01)}),
    (1000, "1", {"A": (True, 600, 0.060), "B": (True, 300, 0.030), "C": (False, 1000, 0.1)}),
    (1000, "2", {"A": (True, 900, 0.090), "B": (False, 400, 0.040), "C": (False, 1000, 0.1)}),
]
# Worked out from MAIN_RESULTS. A: 3 of 4 right, 1,680 tokens and $0.168 spent; at 100 tokens 1 of 2
# right with 90 tokens spent on average, at 1,000 both right with 750. AUC over a log axis with two
# budgets is the mean of the two accuracies; the Anytime Index is the accuracy gained per token
# between them. B: 1 of 4, 810 tokens. C: none right (per correct: infinite), dominated by A.
EXPECTED = pd.DataFrame([
    {"rank": 1, "strategy": "A", "results": 4, "accuracy": 0.75, "accuracy @ 100": 0.5, "accuracy @ 1000": 1.0,
     "tokens / correct": 1680 / 3, "$ / correct": 0.168 / 3, "AUC": 0.75,
     "Anytime Index / 1k tokens": 1000 * 0.5 / (750 - 90), "mean tokens": 420.0, "mean $": 0.042, "Pareto": True},
    {"rank": 2, "strategy": "B", "results": 4, "accuracy": 0.25, "accuracy @ 100": 0.0, "accuracy @ 1000": 0.5,
     "tokens / correct": 810.0, "$ / correct": 0.081, "AUC": 0.25,
     "Anytime Index / 1k tokens": 1000 * 0.5 / (350 - 55), "mean tokens": 202.5, "mean $": 0.02025, "Pareto": True},
    {"rank": 3, "strategy": "C", "results": 4, "accuracy": 0.0, "accuracy @ 100": 0.0, "accuracy @ 1000": 0.0,
     "tokens / correct": math.inf, "$ / correct": math.inf, "AUC": 0.0,
     "Anytime Index / 1k tokens": 0.0, "mean tokens": 550.0, "mean $": 0.055, "Pareto": False},
])


def add_run(store: Store, *, model: str, budget: int, results: dict[str, tuple[bool | None, int, float]],
            reference: str | None = "4", dataset: str | None = "toy", item_id: str | None = "1",
            created: datetime | None = None, knobs: dict[str, dict] | None = None) -> str:
    run_id = new_run_id()
    with store.write() as conn:
        conn.execute(insert(Run).values(
            id=run_id, created=created or NOW, finished=created or NOW, problem=f"problem {item_id}",
            reference=reference, model=model, model_options={}, budget={"total_tokens": budget}, dataset=dataset,
            item_id=item_id, status="done"))
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": i, "strategy": name, "knobs": (knobs or {}).get(name, {}),
             "status": "done", "answer": "4" if correct else "5", "correct": correct, "total_tokens": tokens,
             "usd": usd, "seconds": 1.0, "finished": created or NOW}
            for i, (name, (correct, tokens, usd)) in enumerate(results.items())
        ])
    return run_id


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private SQLite store that the app's pages open too (BUDGET_ARENA_DB)."""
    url = f"sqlite:///{tmp_path / 'leaderboard.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    the_store = open_store(url)
    yield the_store
    forget_store(the_store)


@pytest.fixture
def seeded(store):
    for budget, item, results in MAIN_RESULTS:
        add_run(store, model="fake:m", budget=budget, item_id=item, results=results)
    add_run(store, model="fake:other", budget=100, dataset="other", item_id="9", created=LAST_WEEK,
            results={"A": (True, 70, 0.0)})
    add_run(store, model="fake:m", budget=100, reference=None, item_id="3", results={"A": (None, 10_000, 1.0)})
    return store


def page() -> AppTest:
    """The leaderboard as the app shows it: through the navigation, so links to other pages work."""
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    return at.switch_page("../pages/leaderboard.py").run()


def the_table(at: AppTest) -> pd.DataFrame:
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 1
    return at.dataframe[0].value


def assert_matches_expected(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    table = table.reset_index(drop=True)
    for column in expected.columns:
        got, want = table[column].tolist(), expected[column].tolist()
        if isinstance(want[0], float):
            assert got == pytest.approx(want, rel=1e-9), column
        else:
            assert got == want, column


# ---- the page ---------------------------------------------------------------------------------


def test_empty_store_says_how_to_fill_it(store):
    at = page()
    assert not at.exception
    assert "No finished results yet" in at.info[0].value
    assert not at.dataframe


def test_table_equals_metrics_worked_out_by_hand(seeded):
    at = page()
    at.multiselect(key="lb.models").set_value(["fake:m"]).run()
    table = the_table(at)
    assert_matches_expected(table, EXPECTED)
    assert set(table["model"]) == {"fake:m"}
    # Confidence intervals bracket the accuracy; a strategy always right or wrong has a zero-width one.
    assert (table["CI low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["CI high"]).all()
    assert table.loc[2, ["CI low", "CI high"]].tolist() == [0.0, 0.0]
    headline = at.markdown[0].value
    assert "**Best by area under the curve:** A" in headline and "A, B ·" in headline and "12 scored results" in headline


def test_every_model_by_default_and_the_unscored_result_never_counts(seeded):
    at = page()
    table = the_table(at)
    assert "**Best by area under the curve:** A · fake:other" in at.markdown[0].value  # names carry the model
    assert list(zip(table["strategy"], table["model"], strict=True)) == [
        ("A", "fake:other"), ("A", "fake:m"), ("B", "fake:m"), ("C", "fake:m")]  # one right answer: AUC 1
    assert table.loc[1, "results"] == 4 and table.loc[1, "tokens / correct"] == pytest.approx(1680 / 3)


def test_filters_by_dataset_strategy_and_date(seeded):
    at = page()
    at.multiselect(key="lb.datasets").set_value(["other"]).run()
    table = the_table(at)
    assert list(zip(table["strategy"], table["model"], table["results"], strict=True)) == [("A", "fake:other", 1)]

    at.multiselect(key="lb.datasets").set_value([]).run()
    at.multiselect(key="lb.strategies").set_value(["B", "C"]).run()
    assert_matches_expected(the_table(at), EXPECTED.iloc[1:].assign(rank=[1, 2]))

    at.multiselect(key="lb.strategies").set_value([]).run()
    at.date_input(key="lb.dates").set_value((LAST_WEEK.date(), LAST_WEEK.date())).run()
    assert list(the_table(at)["model"]) == ["fake:other"]

    at.date_input(key="lb.dates").set_value((NOW.date() + timedelta(days=1), NOW.date() + timedelta(days=2))).run()
    assert not at.exception and not at.dataframe
    assert "No results match these filters" in at.warning[0].value


def test_results_without_reference_explain_why_nothing_is_ranked(store):
    add_run(store, model="fake:m", budget=100, reference=None, results={"A": (None, 10, 0.0)})
    at = page()
    assert not at.exception and not at.dataframe
    assert "no reference answers" in at.info[0].value


def chart_data(at: AppTest) -> dict[str, list[pd.DataFrame]]:
    """Each Vega-Lite chart on the page by title, with the data frames it was sent."""
    charts = {}
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        frames = [pa.ipc.open_stream(d.data.data).read_pandas() for d in element.proto.datasets]
        charts[spec["title"] if isinstance(spec["title"], str) else spec["title"]["text"]] = frames
    return charts


def test_charts_show_the_curves_and_mark_the_frontier(seeded):
    at = page()
    at.multiselect(key="lb.models").set_value(["fake:m"]).run()
    assert not at.exception
    charts = chart_data(at)
    curve = charts["Accuracy against budget (band: bootstrap CI)"][0]
    assert sorted(zip(curve["strategy"], curve["budget"], curve["accuracy"], strict=True)) == [
        ("A", 100, 0.5), ("A", 1000, 1.0), ("B", 100, 0.0), ("B", 1000, 0.5), ("C", 100, 0.0), ("C", 1000, 0.0)]
    assert (curve["ci_low"] <= curve["accuracy"]).all() and (curve["accuracy"] <= curve["ci_high"]).all()
    points = max(charts["Cost against accuracy (dashed: Pareto frontier)"], key=len)
    assert dict(zip(points["strategy"], points["frontier"], strict=True)) == {
        "A": ON_FRONTIER, "B": ON_FRONTIER, "C": "dominated"}
    assert [b.proto.label for b in at.get("download_button")] == ["Download leaderboard CSV", "Download results CSV"]

    at.radio(key="lb.cost").set_value("mean_usd").run()
    assert not at.exception
    assert "On the frontier (mean dollars per result): A, B" in at.caption[-1].value


def test_a_new_result_shows_without_restart(seeded):
    at = page()
    at.multiselect(key="lb.models").set_value(["fake:m"]).run()
    before = the_table(at).set_index("strategy").loc["C", "results"]
    add_run(seeded, model="fake:m", budget=100, item_id="4", results={"C": (True, 20, 0.002)})
    at.run()
    after = the_table(at).set_index("strategy").loc["C"]
    assert (before, after["results"], after["accuracy"]) == (4, 5, 0.2)


# ---- the data path and charts without Streamlit -----------------------------------------------


def test_compute_leaderboard_matches_the_page(seeded):
    results = apply_filters(strategy_results(store=seeded), LeaderboardFilters(models=("fake:m",)))
    board = compute_leaderboard(results, "total_tokens").board
    assert list(board["strategy"]) == ["A", "B", "C"]
    assert board["tokens_per_correct"].tolist()[:2] == pytest.approx([560.0, 810.0])
    csv = board_csv(board, "total_tokens").splitlines()
    assert csv[0].startswith("rank,budget_axis,strategy,model,n,accuracy") and len(csv) == 4


def test_items_are_told_apart_by_dataset_and_typed_problems_by_run():
    rows = pd.DataFrame({"run_id": ["r1", "r2", "r3"], "dataset": ["a", "b", None], "item_id": ["1", "1", None],
                         "budget_total_tokens": [10.0, 10.0, 10.0]})
    assert list(with_budget(rows, "total_tokens")["item_id"]) == ["a/1", "b/1", "run/r3"]


def test_knob_variants_become_separate_rows_only_when_knobs_differ():
    rows = pd.DataFrame({"strategy": ["sc", "sc", "cot"],
                         "knobs": [{"stop": "esc", "n": 5}, {"stop": "beta", "n": 5}, {"x": 1}]})
    assert list(label_knob_variants(rows)["strategy"]) == ["sc (stop=esc)", "sc (stop=beta)", "cot"]


def test_pareto_chart_marks_the_frontier_and_the_curve_has_bands(seeded):
    results = apply_filters(strategy_results(store=seeded), LeaderboardFilters(models=("fake:m",)))
    board = compute_leaderboard(results, "total_tokens", n_boot=200)
    spec = pareto_chart(board.board).to_dict()
    points = next(iter(spec["datasets"].values()))
    marked = {p["strategy"]: p["frontier"] for p in points}
    assert marked == {"A": ON_FRONTIER, "B": ON_FRONTIER, "C": "dominated"}
    labels = [layer for layer in spec["layer"] if layer["mark"] == "text" or layer["mark"].get("type") == "text"]
    assert labels, "frontier points are labelled"

    curve_spec = accuracy_budget_chart(board.curve).to_dict()
    band = curve_spec["layer"][0]
    assert band["mark"]["type"] == "area" and {band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]} == {
        "ci_low", "ci_high"}
    curve_rows = next(iter(curve_spec["datasets"].values()))
    assert sorted((r["strategy"], r["budget"], r["accuracy"]) for r in curve_rows) == [
        ("A", 100, 0.5), ("A", 1000, 1.0), ("B", 100, 0.0), ("B", 1000, 0.5), ("C", 100, 0.0), ("C", 1000, 0.0)]


def test_the_page_reads_a_subset_of_columns_equal_to_the_full_rows(seeded):
    subset = strategy_results(columns=LEADERBOARD_COLUMNS, store=seeded)
    full = strategy_results(store=seeded)
    assert list(subset.columns) == list(LEADERBOARD_COLUMNS)
    pd.testing.assert_frame_equal(subset, full[list(LEADERBOARD_COLUMNS)])
    with pytest.raises(ValueError, match="unknown result columns"):
        strategy_results(columns=["strategy", "nope"], store=seeded)


def test_results_csv_has_every_stored_column_of_the_filtered_rows(seeded):
    rows = pd.read_csv(io.StringIO(full_results_csv(LeaderboardFilters(models=("fake:m",)), "total_tokens", False)))
    assert len(rows) == 13 and set(rows["model"]) == {"fake:m"}  # 12 scored + 1 without a reference
    assert {"answer", "reference", "input_tokens", "budget", "knobs"} <= set(rows.columns)
    assert sorted(rows.loc[rows["strategy"] == "A", "total_tokens"]) == [80, 100, 600, 900, 10_000]


# ---- the in-memory results and their top-ups ---------------------------------------------------


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["run_id", "strategy_index"]).reset_index(drop=True)


def test_results_cache_reads_only_what_ended_since_and_matches_a_full_read(seeded):
    cache = ResultsCache(seeded, LEADERBOARD_COLUMNS)
    first = cache.results(results_version(store=seeded))
    assert len(first) == 14 and cache.full_reads == 1
    assert cache.results(results_version(store=seeded)) is first  # same version: nothing read

    later = NOW + timedelta(seconds=5)
    added = add_run(seeded, model="fake:m", budget=100, item_id="5", created=later,
                    results={"B": (True, 30, 0.003), "C": (False, 40, 0.004)})
    topped = cache.results(results_version(store=seeded))
    assert cache.full_reads == 1 and len(topped) == 16
    assert set(topped.loc[topped["run_id"] == added, "strategy"]) == {"B", "C"}
    pd.testing.assert_frame_equal(sorted_rows(topped), sorted_rows(strategy_results(columns=LEADERBOARD_COLUMNS,
                                                                                    store=seeded)))


def test_results_cache_reads_everything_again_after_a_deletion_or_a_back_dated_result(seeded):
    cache = ResultsCache(seeded, LEADERBOARD_COLUMNS)
    cache.results(results_version(store=seeded))
    victim = strategy_results(store=seeded)["run_id"].iloc[0]
    with seeded.write() as conn:
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id == victim))
        conn.execute(delete(Run).where(Run.id == victim))
    add_run(seeded, model="fake:m", budget=100, item_id="6", created=NOW + timedelta(seconds=5),
            results={"A": (True, 1, 0.0), "B": (True, 1, 0.0), "C": (True, 1, 0.0)})
    after_delete = cache.results(results_version(store=seeded))
    assert cache.full_reads == 2 and victim not in set(after_delete["run_id"])

    add_run(seeded, model="fake:m", budget=100, item_id="7", created=LAST_WEEK, results={"A": (True, 1, 0.0)})
    after_import = cache.results(results_version(store=seeded))
    assert cache.full_reads == 3 and len(after_import) == len(strategy_results(store=seeded))
