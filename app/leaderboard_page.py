"""The Leaderboard page: filters, the ranked table, accuracy-budget curves, the Pareto chart, CSV.

The data path lives in app/leaderboard_view.py and the charts in app/leaderboard_charts.py; this
module only lays them out. The stored results are kept in memory per store (app/results_cache.py:
topped up with what ended since), and boards are cached per filter set and `results_version` (a
cheap fingerprint of the ended results), so a widget click does not reread a big store and a new
result is never hidden behind a stale cache. Script thread only.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import pandas as pd
import streamlit as st

from app.leaderboard_charts import accuracy_budget_chart, pareto_chart
from app.leaderboard_view import (
    COST_AXES,
    LEADERBOARD_COLUMNS,
    Leaderboard,
    LeaderboardFilters,
    apply_filters,
    board_csv,
    cap_title,
    caps_present,
    compute_leaderboard,
    date_span,
    default_cap,
    display_table,
    filter_options,
    results_csv,
    results_for_download,
    scored_count,
    summary,
    with_frontier,
)
from app.results_cache import ResultsCache
from app.state import page_path, store
from storage.queries import ResultsVersion, results_version, strategy_results
from storage.store import open_store

CACHED_STORES = 4
CACHED_BOARDS = 16  # filter combinations (each a few small frames)
CHART_HEIGHT = 420


# cache_resource, not cache_data: the results and boards are read-only here, and cache_data would
# pickle a copy of 100k rows on every rerun. Boards are keyed on results_version, so a new result
# is never hidden behind a stale entry.
@st.cache_resource(max_entries=CACHED_STORES)
def results_cache(store_url: str) -> ResultsCache:
    return ResultsCache(open_store(store_url), LEADERBOARD_COLUMNS)


def load_results(store_url: str, version: ResultsVersion) -> pd.DataFrame:
    with st.spinner("Reading stored results…", show_time=True):
        return results_cache(store_url).results(version)


@st.cache_resource(max_entries=CACHED_BOARDS, show_spinner="Computing metrics…")
def cached_leaderboard(store_url: str, version: ResultsVersion, filters: LeaderboardFilters, cap: str,
                       split_knobs: bool) -> Leaderboard:
    results = apply_filters(load_results(store_url, version), filters)
    return compute_leaderboard(results, cap, split_knobs=split_knobs)


def render_leaderboard_page() -> None:
    st.title("Leaderboard")
    st.caption("Strategies ranked by budget efficiency over the stored results that have a reference answer: "
               "area under the accuracy-budget curve (log budget axis), then accuracy. Intervals are 95% "
               "bootstrap intervals over problems.")
    try:
        the_store = store()
        version = results_version(store=the_store)
        results = load_results(the_store.url, version)
    except Exception as exc:  # an unreachable or broken store: say so, no stack trace
        st.error(f"Could not read the run store: {type(exc).__name__}: {exc}")
        return
    if results.empty:
        st.info("No finished results yet. Run strategies on the Compare page with a reference answer (type one, "
                "or pick a dataset item, which fills it in) and they are ranked here.")
        st.page_link(str(page_path("compare")), label="Compare strategies", icon=":material/compare_arrows:")
        return

    filters = filter_controls(results)
    filtered = apply_filters(results, filters)
    if filtered.empty:
        st.warning("No results match these filters.")
        return
    caps = caps_present(filtered)
    cap = default_cap(caps)
    if cap is None:
        st.warning("None of these results ran under a budget cap, so there is no budget axis to rank them on.")
        return
    axis_col, split_col = st.columns([2, 3], vertical_alignment="bottom")
    with axis_col:
        if len(caps) > 1:
            cap = st.selectbox("Budget axis", caps, index=caps.index(cap), format_func=cap_title, key="lb.cap",
                               help="Results are grouped by this cap's value; results without it are left out.")
        else:
            st.caption(f"Budget axis: {cap_title(cap)}")
    with split_col:
        split = st.toggle("Separate knob settings", key="lb.split",
                          help="Rank each strategy's knob settings (e.g. self-consistency's stopping rule) "
                               "as separate rows.")
    if scored_count(filtered) == 0:
        st.info("These results have no reference answers, so there is no accuracy to rank. Runs with a reference "
                "answer (typed on the Compare page, or from a dataset item) are scored.")
        return

    board = cached_leaderboard(the_store.url, version, filters, cap, split)
    if board.board.empty:
        st.info(f"No scored result ran with a {cap_title(cap)} cap.")
        return
    render_board(board, filters, split)
    render_charts(board)


def filter_controls(results: pd.DataFrame) -> LeaderboardFilters:
    options = filter_options(results)
    first, last = date_span(results)
    with st.container(border=True):
        model_col, dataset_col, strategy_col, date_col = st.columns(4)
        models = model_col.multiselect("Model", options["models"], key="lb.models", placeholder="all models")
        datasets = dataset_col.multiselect("Dataset", options["datasets"], key="lb.datasets",
                                           placeholder="all datasets")
        strategies = strategy_col.multiselect("Strategy", options["strategies"], key="lb.strategies",
                                              placeholder="all strategies")
        # Empty by default (all dates), not (first, last): a keyed widget keeps its value, so a default
        # range would silently leave out the days that results arrive on after the page opened.
        picked = date_col.date_input("Dates (UTC)", value=(), key="lb.dates", format="YYYY-MM-DD",
                                     help=f"Empty: every date. Results span {first} to {last}.")
    start, end = date_range(picked)
    if len(datasets or options["datasets"]) > 1:
        st.caption("Results from different datasets are pooled; pick one dataset to rank on it alone.")
    return LeaderboardFilters(models=tuple(models), datasets=tuple(datasets), strategies=tuple(strategies),
                              start=start, end=end)


def date_range(picked: object) -> tuple[date | None, date | None]:
    """st.date_input gives a tuple of 0, 1 (while choosing) or 2 dates, or one date."""
    if isinstance(picked, date):
        return picked, picked
    chosen = [d for d in (picked or ()) if isinstance(d, date)]  # type: ignore[union-attr]
    if not chosen:
        return None, None
    return chosen[0], chosen[-1] if len(chosen) > 1 else None


def render_board(board: Leaderboard, filters: LeaderboardFilters, split: bool) -> None:
    facts = summary(board.board)
    results = int(board.board["n"].sum())
    st.markdown(f"**Best by area under the curve:** {facts['best']} · **Pareto frontier (mean tokens against "
                f"accuracy):** {', '.join(facts['frontier']) or 'none'} · {results:,} scored results, budget axis: "
                f"{cap_title(board.cap)}")
    table = display_table(board.board)
    percent = st.column_config.NumberColumn(format="percent")
    acc_cols = [c for c in table.columns if c.startswith("accuracy @ ")]
    st.dataframe(
        table,
        hide_index=True,
        key="lb.table",
        column_config={
            "rank": st.column_config.NumberColumn(width="small"),
            "accuracy": percent, "CI low": percent, "CI high": percent,
            **{c: percent for c in acc_cols},
            "tokens / correct": st.column_config.NumberColumn(format="%.0f"),
            "$ / correct": st.column_config.NumberColumn(format="$%.5f"),
            "AUC": st.column_config.NumberColumn(format="%.3f", help="Mean accuracy across the budget range "
                                                                     "(area under the curve, log budget axis)."),
            "Anytime Index / 1k tokens": st.column_config.NumberColumn(
                format="%.4f", help="Mean accuracy gained per 1,000 tokens between successive budgets."),
            "mean tokens": st.column_config.NumberColumn(format="%.0f"),
            "mean $": st.column_config.NumberColumn(format="$%.5f"),
            "Pareto": st.column_config.CheckboxColumn(help="On the cost-accuracy Pareto frontier (mean tokens)."),
        },
    )
    with st.container(horizontal=True):
        st.download_button("Download leaderboard CSV", board_csv(board.board, board.cap), file_name="leaderboard.csv",
                           mime="text/csv", icon=":material/download:", key="lb.csv", on_click="ignore")
        st.download_button("Download results CSV", partial(full_results_csv, filters, board.cap, split),
                           file_name="results.csv", mime="text/csv", icon=":material/download:", key="lb.results_csv", on_click="ignore",
                           help="The filtered per-result rows the leaderboard was computed from.")


def full_results_csv(filters: LeaderboardFilters, cap: str, split: bool) -> str:
    """Every stored column of the rows behind the board: read when the button is clicked."""
    return results_csv(results_for_download(strategy_results(store=store()), filters, cap, split))


def render_charts(board: Leaderboard) -> None:
    st.altair_chart(accuracy_budget_chart(board.curve, f"budget ({cap_title(board.cap)})").properties(
        height=CHART_HEIGHT), width="stretch", key="lb.chart.curve")
    cost_col = st.radio("Cost axis", list(COST_AXES), format_func=COST_AXES.get, horizontal=True, key="lb.cost")
    marked = with_frontier(board.board, cost_col)
    st.altair_chart(pareto_chart(marked, cost_col, COST_AXES[cost_col]).properties(height=CHART_HEIGHT),
                    width="stretch", key="lb.chart.pareto")
    frontier = summary(marked)["frontier"]
    st.caption(f"On the frontier ({COST_AXES[cost_col]}): {', '.join(frontier) or 'none'}")
