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

from app.leaderboard_charts import (
    ON_FRONTIER,
    accuracy_budget_chart,
    curve_data,
    curve_spec,
    pareto_chart,
    pareto_data,
    pareto_spec,
    vega_spec,
)
from app.leaderboard_page import full_results_csv
from app.leaderboard_rows import label_knob_variants, label_versions, with_budget
from app.leaderboard_view import (
    LEADERBOARD_COLUMNS,
    LeaderboardFilters,
    apply_filters,
    board_csv,
    compute_leaderboard,
)
from app.results_cache import ResultsCache
from app.state import ROOT
from storage import forget_store, new_run_id, open_store, strategy_results
from storage.leaderboard_reads import results_version
from storage.store import Store
from storage.tables import Run, RunStrategy, Sweep

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
             "output_tokens": tokens // 2, "calls": 1, "usd": usd, "seconds": 1.0, "finished": created or NOW}
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


def page(query: dict[str, str] | None = None) -> AppTest:
    """The leaderboard as the app shows it: through the navigation, so links to other pages work
    (`query`: the address's query parameters, e.g. {"sweep": ID})."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at.switch_page("../pages/leaderboard.py").run()


def the_table(at: AppTest) -> pd.DataFrame:
    """The ranked table (the page's first dataframe; the head-to-head matrices follow it)."""
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe and at.dataframe[0].proto.id.endswith("lb.table") or "rank range" in at.dataframe[0].value
    return at.dataframe[0].value


def assert_matches_expected(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    table = table.reset_index(drop=True)
    for column in expected.columns:
        got, want = table[column].tolist(), expected[column].tolist()
        if isinstance(want[0], float):
            # The page shows an infinite cost per correct answer (none correct) as an empty cell, "–".
            want = [math.nan if column.endswith("/ correct") and math.isinf(w) else w for w in want]
            assert got == pytest.approx(want, rel=1e-9, nan_ok=True), column
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
    # Names carry the model. A on fake:other ranks first on one problem it got right, but in
    # resamples that draw A on fake:m's easy problem twice the two tie: no clear winner.
    assert "**No clear winner (A · fake:other ranks 1–2 in 95% of resamples)**" in at.markdown[0].value
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
    # B (1 of 4) and C (0 of 4) alone: their intervals overlap and so do their rank ranges, so no
    # frontier is claimed between them.
    assert_matches_expected(the_table(at), EXPECTED.iloc[1:].assign(rank=[1, 2], Pareto=[False, False]))

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
        if element.proto.data.data:  # the chart's own data (st.vega_lite_chart(data, spec))
            frames.append(pa.ipc.open_stream(element.proto.data.data).read_pandas())
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
    assert [b.proto.label for b in at.get("download_button")] == ["Download leaderboard CSV", "Download results CSV",
                                                                 "Download report (HTML)",
                                                                 "Download head-to-head CSV"]

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


def test_the_pages_chart_specs_are_the_charts_without_their_data(seeded):
    """The page sends its charts as specs written without Altair's validation, their data apart:
    the specs are the full charts' with the data left out, and valid Vega-Lite."""
    import altair as alt

    board = compute_leaderboard(strategy_results(store=seeded), "total_tokens", n_boot=100)

    def without_data(spec: dict) -> dict:
        spec = {k: v for k, v in spec.items() if k not in ("data", "datasets", "config")}
        return {**spec, "layer": [{k: v for k, v in layer.items() if k != "data"} for layer in spec["layer"]]}

    for build, data in ((lambda **kw: accuracy_budget_chart(board.curve, **kw), curve_data(board.curve)),
                        (lambda **kw: pareto_chart(board.board, **kw), pareto_data(board.board))):
        page_spec = vega_spec(lambda build=build: build(with_data=False))
        assert "datasets" not in page_spec and all("data" not in layer for layer in page_spec["layer"])
        assert page_spec == without_data(build().to_dict())
        alt.LayerChart.from_dict({**page_spec, "data": {"values": data.to_dict("records")}}, validate=True)
    # the page's specs, built once per title and axis, are these charts' at its height
    assert curve_spec("budget (tokens)", 300) == vega_spec(
        lambda: accuracy_budget_chart(board.curve, with_data=False).properties(height=300))
    assert pareto_spec(board.board, "mean_usd", "dollars", 300) == vega_spec(
        lambda: pareto_chart(board.board, "mean_usd", "dollars", with_data=False).properties(height=300))


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


# ---- how results are counted, versions, over-cap results, sweeps --------------------------------


def add_entries(store: Store, entries: list[dict], *, model: str = "fake:m", budget: int = 100, item_id: str = "1",
                dataset: str | None = "toy", reference: str | None = "4", sweep_id: str | None = None) -> str:
    """One run holding these strategy entries. Each entry: strategy and correct, and any
    run_strategy column to override (status, calls, output_tokens, error, over_cap, fingerprint,
    budget: the entry's own caps)."""
    run_id = new_run_id()
    defaults = {"knobs": {}, "status": "done", "stop_reason": "done", "answer": "4", "total_tokens": 50,
                "output_tokens": 20, "calls": 1, "usd": 0.0, "seconds": 1.0, "finished": NOW, "error": None,
                "over_cap": False, "fingerprint": None, "budget": None}
    with store.write() as conn:
        conn.execute(insert(Run).values(
            id=run_id, created=NOW, finished=NOW, problem=f"problem {item_id}", reference=reference, model=model,
            model_options={}, budget={"total_tokens": budget}, dataset=dataset, item_id=item_id, status="done",
            sweep_id=sweep_id))
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": i, **defaults, **entry} for i, entry in enumerate(entries)
        ])
    return run_id


NOT_SUPPORTED = "native_thinking needs a model with native thinking; local:smollm2 has none"


@pytest.fixture
def with_failures(store):
    """Two problems at 100 tokens: A right on both, B right on one; N (like native_thinking on the
    local model) failed before any call on both; E errored after spending on problem 2 (scored
    wrong: it had no answer) and was right on problem 1."""
    for item, b_correct in (("1", True), ("2", False)):
        add_entries(store, [
            {"strategy": "A", "correct": True},
            {"strategy": "B", "correct": b_correct},
            {"strategy": "N", "correct": False, "status": "error", "stop_reason": "error", "answer": None,
             "calls": 0, "output_tokens": 0, "total_tokens": 0, "error": NOT_SUPPORTED},
            {"strategy": "E", "correct": item == "1", "answer": "4" if item == "1" else None,
             **({"status": "error", "stop_reason": "error", "error": "provider closed the stream"}
                if item == "2" else {})},
        ], item_id=item)
    return store


def test_failed_results_are_counted_not_scored_and_errored_ones_are_scored(with_failures):
    results = strategy_results(store=with_failures)
    board = compute_leaderboard(results, "total_tokens", n_boot=200).board.set_index("strategy")
    assert board.loc[["A", "E", "B"], "rank"].notna().all() and pd.isna(board.loc["N", "rank"])
    assert board.loc["N", "n"] == 0 and board.loc["N", "failed"] == 2 and math.isnan(board.loc["N", "accuracy"])
    assert board.loc["N", "failure_reasons"] == [f"{NOT_SUPPORTED} (×2)"]
    assert not board.loc["N", "on_frontier"] and math.isnan(board.loc["N", "auc"])
    assert (board.loc["E", "n"], board.loc["E", "errored"], board.loc["E", "accuracy"]) == (2, 1, 0.5)
    assert board.loc[["A", "B", "E"], "failed"].tolist() == [0, 0, 0]
    csv = pd.read_csv(io.StringIO(board_csv(board.reset_index(), "total_tokens"))).set_index("strategy")
    assert csv.loc["N", "failed"] == 2 and NOT_SUPPORTED in csv.loc["N", "failure_reasons"]


def test_the_page_shows_failures_with_their_reasons(with_failures):
    at = page()
    table = the_table(at).set_index("strategy")
    assert pd.isna(table.loc["N", "rank"]) and table.loc["N", "failed"] == 2 and table.loc["N", "results"] == 0
    assert NOT_SUPPORTED in table.loc["N", "why failed"] and table.loc["E", "errored"] == 1
    headline = at.markdown[0].value
    # two problems cannot separate A (2 of 2) from B and E (1 of 2); N is no candidate at all
    assert headline.startswith("**No clear winner (every accuracy interval and rank range overlaps the others)**")
    assert "6 scored results (1 errored), 2 failed (not scored)" in headline
    expander = next(e for e in at.expander if "results were not scored" in e.label)
    assert expander.label == "Why 2 results were not scored" and NOT_SUPPORTED in expander.text[0].value
    assert "counted as *failed*" in at.caption[0].value and "*errored*" in at.caption[0].value


def test_all_failed_means_nothing_ranked_and_no_claims(store):
    add_entries(store, [{"strategy": "N", "correct": False, "status": "error", "calls": 0, "output_tokens": 0,
                         "error": "connection refused"}])
    at = page()
    table = the_table(at)
    assert table["strategy"].tolist() == ["N"] and pd.isna(table.loc[0, "rank"])
    assert "Nothing ranked: every result failed" in at.markdown[0].value
    assert not at.get("vega_lite_chart")  # no curve of results that do not exist


def test_no_clear_winner_when_every_accuracy_is_zero(store):
    for item in ("1", "2", "3"):
        add_entries(store, [{"strategy": "A", "correct": False, "total_tokens": 10},
                            {"strategy": "B", "correct": False, "total_tokens": 90}], item_id=item)
    board = compute_leaderboard(strategy_results(store=store), "total_tokens", n_boot=200).board
    assert not board["on_frontier"].any()  # the cheaper one is not "on a frontier" of nothing
    at = page()
    assert "**No clear winner (every accuracy is the same)** · no Pareto frontier claimed" in at.markdown[0].value
    assert "none" in at.caption[-1].value  # the frontier caption under the cost chart


def test_over_cap_results_are_left_out_unless_included(store):
    add_entries(store, [{"strategy": "A", "correct": True}, {"strategy": "B", "correct": False}], item_id="1")
    add_entries(store, [{"strategy": "A", "correct": True, "over_cap": True, "total_tokens": 200_000},
                        {"strategy": "B", "correct": False}], item_id="2")
    default = compute_leaderboard(strategy_results(store=store), "total_tokens", n_boot=100)
    assert default.board.set_index("strategy").loc["A", "n"] == 1 and default.over_cap_left_out == 1
    included = compute_leaderboard(strategy_results(store=store), "total_tokens", n_boot=100, include_over_cap=True)
    assert included.board.set_index("strategy").loc["A", "mean_tokens"] == (50 + 200_000) / 2
    at = page()
    assert the_table(at).set_index("strategy").loc["A", "results"] == 1
    assert "1 over-cap results (the provider reported more usage than the call was granted) are left out." in [
        c.value for c in at.caption]
    at.toggle(key="lb.over_cap").set_value(True).run()
    assert the_table(at).set_index("strategy").loc["A", "results"] == 2
    assert "1 over-cap results are included." in [c.value for c in at.caption]


def test_strategy_versions_are_kept_apart_unless_pooled(store):
    for item in ("1", "2"):
        add_entries(store, [{"strategy": "cot", "correct": True, "fingerprint": "aaaaaaa111"},
                            {"strategy": "cot", "correct": False, "fingerprint": "bbbbbbb222"},
                            {"strategy": "direct", "correct": False, "fingerprint": "ccccccc333"}], item_id=item)
    add_entries(store, [{"strategy": "cot", "correct": True}], item_id="3")  # stored before fingerprints
    at = page()
    names = the_table(at)["strategy"].tolist()
    assert sorted(names) == ["cot (version aaaaaaa)", "cot (version bbbbbbb)", "cot (version unrecorded)", "direct"]
    assert "Strategy versions (prompts or knobs changed) are ranked apart: cot (3)." in [c.value for c in at.caption]
    at.toggle(key="lb.pool").set_value(True).run()
    table = the_table(at).set_index("strategy")
    assert sorted(table.index) == ["cot", "direct"] and table.loc["cot", "results"] == 5
    assert "Versions pooled into one row each: cot (3)." in [c.value for c in at.caption]


def test_versions_that_differ_by_knobs_are_named_by_their_knobs():
    rows = pd.DataFrame({"strategy": ["sc", "sc", "sc", "cot"], "fingerprint": ["f1", "f2", "f3", "f9"],
                         "knobs": [{"stop": "esc"}, {"stop": "beta"}, {"stop": "beta"}, {}]})
    assert label_versions(rows)["strategy"].tolist() == [
        "sc (stop=esc)", "sc (stop=beta) (version f2)", "sc (stop=beta) (version f3)", "cot"]


def test_an_entry_budget_overrides_the_runs(store):
    # One run, the same strategy at two budgets of its own (entries), beside one on the run's budget.
    add_entries(store, [{"strategy": "A", "correct": False, "budget": {"total_tokens": 300}},
                        {"strategy": "A", "correct": True, "budget": {"total_tokens": 600}},
                        {"strategy": "B", "correct": True}], budget=600)
    results = strategy_results(store=store)
    assert results["budget_total_tokens"].tolist() == [300.0, 600.0, 600.0]
    board = compute_leaderboard(results, "total_tokens", n_boot=100).board.set_index("strategy")
    assert board.loc["A", ["acc@300", "acc@600"]].tolist() == [0.0, 1.0]


def add_sweep(store: Store, sweep_id: str) -> None:
    with store.write() as conn:
        conn.execute(insert(Sweep).values(id=sweep_id, name="test sweep", created=NOW, status="done", plan={},
                                          dataset="toy", model="fake:m", total_cells=2))


def test_sweep_filter_and_its_link(store):
    add_entries(store, [{"strategy": "A", "correct": True}], item_id="1", sweep_id="sw-one")
    add_entries(store, [{"strategy": "B", "correct": True}], item_id="1", sweep_id="sw-two")
    add_entries(store, [{"strategy": "C", "correct": True}], item_id="1")
    at = page()
    assert sorted(the_table(at)["strategy"]) == ["A", "B", "C"]
    at.selectbox(key="lb.sweep").set_value("sw-two").run()
    assert the_table(at)["strategy"].tolist() == ["B"] and at.query_params["sweep"] == "sw-two"

    linked = page({"sweep": "sw-one"})
    assert linked.selectbox(key="lb.sweep").value == "sw-one"
    assert the_table(linked)["strategy"].tolist() == ["A"]
    unknown = page({"sweep": "sw-nope"})
    assert "No finished result of sweep 'sw-nope' yet" in unknown.warning[0].value
    assert len(the_table(unknown)) == 3


# ---- head to head ---------------------------------------------------------------------------------


@pytest.fixture
def head_to_head(store):
    """30 problems at 1,024 tokens: S right on 25, T on 10 (S alone right on 15, never T alone),
    U identical to T; at 256 tokens S and T are right on the same 12 problems."""
    for i in range(30):
        add_entries(store, [{"strategy": "S", "correct": i < 25}, {"strategy": "T", "correct": i < 10},
                            {"strategy": "U", "correct": i < 10}], budget=1024, item_id=str(i))
        add_entries(store, [{"strategy": "S", "correct": i < 12}, {"strategy": "T", "correct": i < 12}],
                    budget=256, item_id=str(i))
    return store


def test_head_to_head_on_the_page(head_to_head):
    at = page()
    assert not at.exception
    picker = at.radio(key="lb.h2h.cell")
    assert picker.options == ["256 tokens", "1,024 tokens"] and picker.value == "256 tokens"
    assert len(at.dataframe) == 2  # the ranked table and one budget's head-to-head matrix
    quiet = [m.value for m in at.markdown if m.value.startswith("At 256 tokens")]
    assert quiet[0].startswith("At 256 tokens: no clear difference (smallest Holm-adjusted p = 1.00); with 30 problems")
    picker.set_value("1,024 tokens")
    at.run()
    assert not at.exception
    sentences = [m.value for m in at.markdown if m.value.startswith("At ")]
    # McNemar on 15 vs 0 discordant problems: p = 2 / 2^15; Holm over the 4 pairs at both budgets multiplies by 4
    p_holm = 4 * 2 / 2**15
    assert sentences[0].startswith("At 1,024 tokens S beats T by +50 pts [")
    assert sentences[0].endswith(f"p = {p_holm:.3f} (Holm-adjusted) over 30 problems") or "p < 0.001" in sentences[0]
    assert any(s.startswith("At 1,024 tokens S beats U by +50 pts") for s in sentences)
    assert not any("T beats U" in s or "U beats T" in s or s.startswith("At 256") for s in sentences)
    matrix = at.dataframe[1].value
    assert matrix.loc["S", "T"].startswith("+50 [") and matrix.loc["T", "S"].startswith("-50 [")
    assert matrix.loc["T", "U"] == "+0 [0, 0]" and matrix.loc["S", "S"] == "—"
    table = the_table(at).set_index("strategy")
    assert table.loc["S", "rank range"] == "1" and table.loc["T", "rank range"] == "2–3"


def test_head_to_head_numbers(head_to_head):
    pairs = compute_leaderboard(strategy_results(store=head_to_head), "total_tokens", n_boot=300).pairs
    at_1024 = pairs.loc[pairs["budget"] == 1024].set_index(["a", "b"])
    s_t = at_1024.loc[("S", "T")]
    assert (s_t["n"], s_t["acc_a"], s_t["acc_b"], s_t["a_only"], s_t["b_only"]) == (30, 25 / 30, 10 / 30, 15, 0)
    assert s_t["p"] == pytest.approx(2 / 2**15) and s_t["p_holm"] == pytest.approx(4 * 2 / 2**15)
    assert s_t["ci_low"] > 0.25 and s_t["ci_high"] < 0.75
    assert len(pairs) == 4  # S-T, S-U, T-U at 1,024; S-T at 256


# ---- the command line ---------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from app.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_rows_carry_failures_and_pairs(with_failures, store):
    code, out, _ = run_cli("leaderboard", "--format", "json", "--db", store.url)
    rows = {r["strategy"]: r for r in json.loads(out)}
    assert code == 0 and rows["N"]["rank"] is None and rows["N"]["failed"] == 2 and rows["N"]["n"] == 0
    assert rows["E"]["errored"] == 1 and rows["A"]["rank"] == 1
    assert {"strategy", "model", "n", "failed", "errored", "accuracy", "auc", "rank_low", "rank_high"} <= set(rows["A"])
    code, out, _ = run_cli("leaderboard", "--pairs", "--format", "json", "--db", store.url)
    pairs = json.loads(out)
    assert code == 0 and {(p["a"], p["b"]) for p in pairs} == {("A", "E"), ("A", "B"), ("E", "B")} or len(pairs) == 3
    assert list(pairs[0])[:11] == ["a", "b", "budget", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high", "p",
                                   "p_holm"]


def test_cli_pairs_formats_and_toggles(head_to_head):
    url = head_to_head.url
    code, out, err = run_cli("leaderboard", "--pairs", "--db", url)
    assert code == 0 and "S" in out and "✓" in out and "At 1,024 tokens S beats T by +50 pts" in err
    markdown = run_cli("leaderboard", "--pairs", "--format", "markdown", "--db", url)[1]
    assert markdown.startswith("| budget") and markdown.count("\n|") == 1 + 4
    csv = pd.read_csv(io.StringIO(run_cli("leaderboard", "--pairs", "--format", "csv", "--db", url)[1]))
    assert len(csv) == 4 and {"a", "b", "p", "p_holm", "budget_axis"} <= set(csv.columns)
    assert run_cli("leaderboard", "--include-over-cap", "--pool-versions", "--db", url)[0] == 0
    table = run_cli("leaderboard", "--db", url)
    assert "ranks" in table[1] and "fail" in table[1] and "best: S" in table[2]


def test_cli_sweep_filter(store):
    add_sweep(store, "sw-one")
    add_entries(store, [{"strategy": "A", "correct": True}], sweep_id="sw-one")
    add_entries(store, [{"strategy": "B", "correct": True}])
    code, out, _ = run_cli("leaderboard", "--sweep", "sw-one", "--format", "json", "--db", store.url)
    assert code == 0 and [r["strategy"] for r in json.loads(out)] == ["A"]


def test_a_strategy_with_no_correct_answer_reads_a_dash_not_infinity(store):
    # Its tokens per correct answer is infinite; the grid printed that "Infinity".
    for i in range(3):
        add_entries(store, [{"strategy": "good", "correct": True}, {"strategy": "bad", "correct": False}],
                    item_id=str(i))
    table = the_table(page()).set_index("strategy")
    assert table.loc["good", "tokens / correct"] == 50
    assert pd.isna(table.loc["bad", "tokens / correct"]) and pd.isna(table.loc["bad", "$ / correct"])
    assert not any(math.isinf(v) for v in table["tokens / correct"].dropna())
