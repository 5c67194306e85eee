"""The Leaderboard page: filters, the ranked table, accuracy-budget curves, the Pareto chart, CSV.

The data path lives in app/leaderboard_view.py and the charts in app/leaderboard_charts.py; this
module only lays them out. The page reads the store's result summary (storage.result_summary: a
few hundred packed rows, brought up to date with what ended since; app.leaderboard_summary
computes the boards from it, the same as from the rows), kept in memory per store
(app/results_cache.py), and boards are cached per filter set and `results_version` (a cheap
fingerprint of the ended results), so a widget click does not reread the store and a new result is
never hidden behind a stale cache. A computed board is also kept in the store (app.stored_boards)
while the results it counts are the same, so a new session reads it instead of computing it; the
head to head shows one (model, budget) cell at a time and draws its intervals when it is shown.
Script thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

import pandas as pd
import streamlit as st

from app import stored_boards
from app.head_to_head import SIGNIFICANCE, pairs_csv, shown_cell, table_cells
from app.html_leaderboard import page_report
from app.leaderboard_charts import curve_data, curve_spec, pareto_data, pareto_spec, series_labels
from app.leaderboard_summary import (
    Selection,
    caps_present,
    date_span,
    filter_options,
    head_to_head,
    result_count,
    scored_count,
)
from app.leaderboard_summary import compute_leaderboard as summary_leaderboard
from app.leaderboard_view import (
    COST_AXES,
    Leaderboard,
    LeaderboardFilters,
    RowChoice,
    board_csv,
    budget_text,
    cap_title,
    default_cap,
    display_table,
    results_csv,
    results_for_download,
    summary,
    with_frontier,
)
from app.results_cache import SummaryCache
from app.state import page_path, store
from app.stored_boards import StoredLeaderboard
from storage.leaderboard_reads import ResultsVersion, strategy_results
from storage.result_summary import ResultSummary
from storage.store import open_store

CAPTION = ("Strategies ranked by budget efficiency over the stored results that have a reference answer: area "
           "under the accuracy-budget curve (log budget axis), then accuracy. Intervals are 95% bootstrap intervals "
           "over problems; the rank range is where a strategy ranks in 95% of bootstrap resamples. A result that "
           "made no successful model call (unsupported model, budget too small for one call, provider "
           "unreachable) is not a result: it is counted as *failed* and left out of every metric. A result that "
           "errored after spending is scored as what it answered (wrong when it had no answer) and counted as "
           "*errored*.")

CACHED_STORES = 4
CACHED_BOARDS = 16  # filter combinations (each a few small frames)
CHART_HEIGHT = 420


# cache_resource, not cache_data: the summary and boards are read-only here, and cache_data would
# pickle a copy on every rerun. Boards are keyed on results_version, so a new result is never
# hidden behind a stale entry.
@st.cache_resource(max_entries=CACHED_STORES)
def summary_cache(store_url: str) -> SummaryCache:
    return SummaryCache(open_store(store_url))


def load_summary(store_url: str, version: ResultsVersion | None = None) -> ResultSummary:
    """The summary as of `version`, or as of now (app.results_cache.SummaryCache.current)."""
    with st.spinner("Reading stored results…", show_time=True):
        cache = summary_cache(store_url)
        return cache.current() if version is None else cache.summary(version)


@st.cache_resource(max_entries=CACHED_BOARDS, show_spinner="Computing metrics…")
def cached_leaderboard(store_url: str, version: ResultsVersion, filters: LeaderboardFilters, cap: str,
                       choice: RowChoice) -> StoredLeaderboard:
    """The board of these filters: kept in this process per summary version, and in the store
    (app.stored_boards) for new sessions and other processes while the results are the same."""
    selection = Selection(load_summary(store_url, version), filters)

    def compute() -> Leaderboard:
        return summary_leaderboard(selection, cap, split_knobs=choice.split_knobs,
                                   include_over_cap=choice.include_over_cap, pool_versions=choice.pool_versions)

    return stored_boards.leaderboard(open_store(store_url), selection, filters, cap, choice, compute,
                                     lambda order: head_to_head(selection, cap, order, choice=choice))


def render_leaderboard_page() -> None:
    st.title("Leaderboard")
    st.caption(CAPTION)
    try:
        the_store = store()
        stored = load_summary(the_store.url)
        version = stored.version
    except Exception as exc:  # an unreachable or broken store: say so, no stack trace
        st.error(f"Could not read the run store: {type(exc).__name__}: {exc}")
        return
    if len(stored.rows) == 0:
        st.info("No finished results yet. Run strategies on the Compare page with a reference answer (type one, "
                "or pick a dataset item, which fills it in) and they are ranked here.")
        st.page_link(str(page_path("compare")), label="Compare strategies", icon=":material/compare_arrows:")
        return

    filters = filter_controls(stored)
    selection = Selection(stored, filters)
    if result_count(selection) == 0:
        st.warning("No results match these filters.")
        return
    caps = caps_present(selection)
    cap = default_cap(caps)
    if cap is None:
        st.warning("None of these results ran under a budget cap, so there is no budget axis to rank them on.")
        return
    axis_col, split_col, cap_col, pool_col = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
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
    with cap_col:
        over_cap = st.toggle("Include over-cap results", key="lb.over_cap",
                             help="Results whose provider reported more usage than the call was granted (over_cap) "
                                  "are left out by default: their figures cannot be trusted.")
    with pool_col:
        pool = st.toggle("Pool strategy versions", key="lb.pool",
                         help="Results of a strategy whose prompts or knobs changed (another fingerprint) are "
                              "ranked apart by default; pool them into one row.")
    choice = RowChoice(split_knobs=split, include_over_cap=over_cap, pool_versions=pool)
    if scored_count(selection) == 0:
        st.info("These results have no reference answers, so there is no accuracy to rank. Runs with a reference "
                "answer (typed on the Compare page, or from a dataset item) are scored.")
        return

    stored = cached_leaderboard(the_store.url, version, filters, cap, choice)
    board = stored.board
    if board.board.empty:
        st.info(f"No scored result ran with a {cap_title(cap)} cap.")
        return
    render_board(board, filters, choice)
    if board.board["rank"].notna().any():
        render_head_to_head(board, stored.cell)
        stored.save_drawn()  # the cell just drawn, for the next reader
        render_charts(board)


def filter_controls(stored: ResultSummary) -> LeaderboardFilters:
    options, (first, last) = filter_options(stored), date_span(stored)
    sweeps = options["sweeps"]
    wanted = st.query_params.get("sweep")
    if wanted and st.session_state.get("lb.sweep_from_link") != wanted:
        # A link's ?sweep=ID preselects that sweep once; later picks are the visitor's.
        st.session_state["lb.sweep_from_link"] = wanted
        if wanted in sweeps:
            st.session_state["lb.sweep"] = wanted
        else:
            st.warning(f"No finished result of sweep {wanted!r} yet: showing every result.")
    with st.container(border=True):
        model_col, dataset_col, strategy_col, sweep_col, date_col = st.columns(5)
        models = model_col.multiselect("Model", options["models"], key="lb.models", placeholder="all models")
        datasets = dataset_col.multiselect("Dataset", options["datasets"], key="lb.datasets",
                                           placeholder="all datasets")
        strategies = strategy_col.multiselect("Strategy", options["strategies"], key="lb.strategies",
                                              placeholder="all strategies")
        sweep = sweep_col.selectbox("Sweep", sweeps, index=None, key="lb.sweep", placeholder="all results",
                                    on_change=_sweep_to_link, help="Only the results of one sweep.")
        # Empty by default (all dates), not (first, last): a keyed widget keeps its value, so a default
        # range would silently leave out the days that results arrive on after the page opened.
        picked = date_col.date_input("Dates (UTC)", value=(), key="lb.dates", format="YYYY-MM-DD",
                                     help=f"Empty: every date. Results span {first} to {last}.")
    start, end = date_range(picked)
    if len(datasets or options["datasets"]) > 1:
        st.caption("Results from different datasets are pooled; pick one dataset to rank on it alone.")
    return LeaderboardFilters(models=tuple(models), datasets=tuple(datasets), strategies=tuple(strategies),
                              start=start, end=end, sweep=sweep)


def _sweep_to_link() -> None:
    """The picked sweep goes into the address (?sweep=ID), so the page's link shows the same board."""
    picked = st.session_state.get("lb.sweep")
    if picked:
        st.query_params["sweep"] = picked
        st.session_state["lb.sweep_from_link"] = picked
    elif "sweep" in st.query_params:
        del st.query_params["sweep"]


def date_range(picked: object) -> tuple[date | None, date | None]:
    """st.date_input gives a tuple of 0, 1 (while choosing) or 2 dates, or one date."""
    if isinstance(picked, date):
        return picked, picked
    chosen = [d for d in (picked or ()) if isinstance(d, date)]  # type: ignore[union-attr]
    if not chosen:
        return None, None
    return chosen[0], chosen[-1] if len(chosen) > 1 else None


def render_board(board: Leaderboard, filters: LeaderboardFilters, choice: RowChoice) -> None:
    """The ranked table, its headline and downloads."""
    facts = summary(board.board)
    ranked = board.board.loc[board.board["rank"].notna()]
    results = int(ranked["n"].sum())
    failed, errored = int(board.board["failed"].sum()), int(board.board["errored"].sum())
    head = (f"**Best by area under the curve:** {facts['best']}" if facts["best"]
            else f"**{facts['verdict'][0].upper() + facts['verdict'][1:]}**")
    frontier = f"**Pareto frontier (mean tokens against accuracy):** {', '.join(facts['frontier'])}" \
        if facts["frontier"] else "no Pareto frontier claimed"
    st.markdown(f"{head} · {frontier} · {results:,} scored results"
                + (f" ({errored:,} errored)" if errored else "")
                + (f", {failed:,} failed (not scored)" if failed else "")
                + f", budget axis: {cap_title(board.cap)}")
    notes = row_notes(board)
    if notes:
        st.caption(" ".join(notes))
    table = display_table(board.board)
    # A cost per correct answer with none correct is infinite, which the grid prints "Infinity":
    # it reads "–" here as on the Sweep page's table (the HTML report writes ∞ with a tooltip).
    for column in ("tokens / correct", "$ / correct"):
        table[column] = table[column].where(table[column].abs() != float("inf"))
    percent = st.column_config.NumberColumn(format="percent")
    acc_cols = [c for c in table.columns if c.startswith("accuracy @ ")]
    st.dataframe(
        table,
        hide_index=True,
        key="lb.table",
        placeholder="–",  # an empty cell (no correct answer, no frontier) reads "–", not "None"
        column_config={
            "rank": st.column_config.NumberColumn(width="small", help="Empty: every result failed (not ranked)."),
            "rank range": st.column_config.TextColumn(
                width="small", help="Where the strategy ranks in 95% of bootstrap resamples of the problems. "
                                    "Overlapping ranges: the order between them is not settled."),
            "results": st.column_config.NumberColumn(help="Scored results (failed ones are not counted here)."),
            "failed": st.column_config.NumberColumn(
                help="Results that made no successful model call: not scored. The reasons are in 'why failed'."),
            "errored": st.column_config.NumberColumn(
                help="Results that ended in an error after spending: scored as what they answered."),
            "accuracy": percent, "CI low": percent, "CI high": percent,
            **{c: percent for c in acc_cols},
            "tokens / correct": st.column_config.NumberColumn(format="%.0f", help="–: no correct answer."),
            "$ / correct": st.column_config.NumberColumn(format="$%.5f", help="–: no correct answer."),
            "AUC": st.column_config.NumberColumn(format="%.3f", help="Mean accuracy across the budget range "
                                                                     "(area under the curve, log budget axis)."),
            "Anytime Index / 1k tokens": st.column_config.NumberColumn(
                format="%.4f", help="Mean accuracy gained per 1,000 tokens between successive budgets."),
            "mean tokens": st.column_config.NumberColumn(format="%.0f"),
            "mean $": st.column_config.NumberColumn(format="$%.5f"),
            "Pareto": st.column_config.CheckboxColumn(help="On the cost-accuracy Pareto frontier (mean tokens)."),
            "why failed": st.column_config.TextColumn(help="The failed results' errors, with how often each."),
        },
    )
    if failed:
        with st.expander(f"Why {failed:,} results were not scored", key="lb.failed"):
            failing = board.board.loc[board.board["failed"] > 0]
            for name, reasons in zip(series_labels(failing), failing["failure_reasons"], strict=True):
                st.markdown(f"**{name}**")
                for reason in reasons:
                    st.text(reason)
    with st.container(horizontal=True):
        st.download_button("Download leaderboard CSV", partial(board_csv, board.board, board.cap), file_name="leaderboard.csv",
                           mime="text/csv", icon=":material/download:", key="lb.csv", on_click="ignore")
        st.download_button("Download results CSV", partial(full_results_csv, filters, board.cap, choice),
                           file_name="results.csv", mime="text/csv", icon=":material/download:", key="lb.results_csv", on_click="ignore",
                           help="The filtered per-result rows the leaderboard was computed from, with their "
                                "outcome (ok, errored, failed).")
        st.download_button("Download report (HTML)", partial(page_report, board, filters, choice, store()),
                           file_name="leaderboard.html", mime="text/html", icon=":material/html:", key="lb.report",
                           on_click="ignore", help="This board as one file (ranking, head to head, charts, filters, "
                           "price date and app version): opens in any browser, no server or network needed.")


def row_notes(board: Leaderboard) -> list[str]:
    """What the toggles changed, in sentences (empty when they changed nothing)."""
    notes = []
    if board.over_cap_left_out:
        notes.append(f"{board.over_cap_left_out:,} over-cap results (the provider reported more usage than the call "
                     "was granted) are left out.")
    if board.over_cap_included:
        notes.append(f"{board.over_cap_included:,} over-cap results are included.")
    if board.versions:
        listed = ", ".join(f"{name} ({count})" for name, count in sorted(board.versions.items()))
        notes.append(f"Versions pooled into one row each: {listed}." if board.pooled else
                     f"Strategy versions (prompts or knobs changed) are ranked apart: {listed}.")
    return notes


def full_results_csv(filters: LeaderboardFilters, cap: str, choice: RowChoice | bool) -> str:
    """Every stored column of the rows behind the board: read when the button is clicked."""
    if isinstance(choice, bool):
        choice = RowChoice(split_knobs=choice)
    return results_csv(results_for_download(strategy_results(store=store()), filters, cap, choice.split_knobs,
                                            include_over_cap=choice.include_over_cap,
                                            pool_versions=choice.pool_versions))


def render_head_to_head(board: Leaderboard, draw: Callable[[str, float], pd.DataFrame] | None = None) -> None:
    """Every pair of strategies at each budget, paired on the problems both ran (McNemar, Holm):
    one (model, budget) cell at a time, whose intervals are drawn when it is picked (by `draw`,
    default the board's head-to-head)."""
    table = board.head_to_head
    cells = table_cells(table) if table is not None else []
    st.subheader("Head to head at equal budget")
    if table is None or not cells:
        st.caption("No two strategies have results on the same problems at the same budget and model yet.")
        return
    st.caption(f"Each cell: the row's accuracy minus the column's, in points, with a 95% paired bootstrap interval "
               f"over the problems both ran. Coloured cells are clear differences: exact McNemar test on the "
               f"problems where they disagree, Holm-adjusted across all {len(table.tests):,} pairs at every "
               f"budget, p < {SIGNIFICANCE:g}; grey cells are not (the intervals are per pair, not adjusted, so one "
               f"may exclude 0 in a grey cell).")
    several_models = len({m for m, _ in cells}) > 1
    labels = [budget_text(b, board.cap) + (f" · {m}" if several_models else "") for m, b in cells]
    picked = st.radio("Budget", labels, horizontal=True, key="lb.h2h.cell", label_visibility="collapsed",
                      help="The pairs at one budget (and model): their intervals are drawn when it is picked.")
    model, budget = cells[labels.index(picked)] if picked in labels else cells[0]
    pairs = (draw or table.cell)(model, budget)
    sentences, styler = shown_cell(pairs, board.cap, model, budget, several_models,
                                   tuple(board.board["strategy"].astype(str)))
    for sentence in sentences:
        st.markdown(sentence)
    st.dataframe(styler, key="lb.h2h", placeholder="–")
    st.download_button("Download head-to-head CSV", partial(_all_pairs_csv, board), file_name="head_to_head.csv",
                       mime="text/csv", icon=":material/download:", key="lb.pairs_csv", on_click="ignore",
                       help="Every pair at every budget, with its interval (drawn when clicked where not yet).")


def _all_pairs_csv(board: Leaderboard) -> str:
    return pairs_csv(board.pairs, board.cap) if board.pairs is not None else ""


def render_charts(board: Leaderboard) -> None:
    """The accuracy-budget curves and the cost-accuracy chart with its frontier."""
    st.vega_lite_chart(curve_data(board.curve), curve_spec(f"budget ({cap_title(board.cap)})", CHART_HEIGHT),
                       width="stretch", key="lb.chart.curve")
    cost_col = st.radio("Cost axis", list(COST_AXES), format_func=COST_AXES.get, horizontal=True, key="lb.cost")
    marked = with_frontier(board.board, cost_col)
    data = pareto_data(marked, cost_col)
    st.vega_lite_chart(data, pareto_spec(marked, cost_col, COST_AXES[cost_col], CHART_HEIGHT, data),
                       width="stretch", key="lb.chart.pareto")
    frontier = summary(marked)["frontier"]
    st.caption(f"On the frontier ({COST_AXES[cost_col]}): {', '.join(frontier) or 'none'}")
