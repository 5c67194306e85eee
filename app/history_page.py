"""The History page: past runs, newest first, each with its share link; searchable and paged.

One page of runs is read at a time (list_runs with limit/offset, count_runs for the total), so the
page costs the same in a store of any size. Script thread only.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app.import_panel import render_import_panel
from app.state import page_path, share_link, store
from storage.run_history import MAX_SEARCH_CHARS, count_runs, history_options, list_runs

PAGE_SIZE = 50
PROBLEM_CHARS = 120  # the table shows the problem's start; the run page shows all of it
ANY = "(any)"
ROWS_IN_VIEW = 20  # the table scrolls beyond this
TABLE_HEADER_PX, TABLE_ROW_PX = 38, 35


def history_table(runs: pd.DataFrame, page_url: str | None) -> pd.DataFrame:
    """list_runs rows as shown: the link first, the problem shortened, the verdict count as text."""
    problem = runs["problem"].fillna("").astype(str).str.replace(r"\s+", " ", regex=True)
    shortened = problem.where(problem.str.len() <= PROBLEM_CHARS, problem.str.slice(0, PROBLEM_CHARS - 1) + "…")
    scored = runs["reference"].notna()
    correct = (runs["n_correct"].astype(str) + " / " + runs["n_strategies"].astype(str)).where(scored, "no reference")
    return pd.DataFrame({
        "link": [share_link(page_url, run_id) for run_id in runs["id"]],
        "created": runs["created"],
        "status": runs["status"],
        "problem": shortened,
        "model": runs["model"],
        "strategies": runs["strategies"],
        "correct": correct,
        "dataset": runs["dataset"],
        "tokens": runs["total_tokens"],
        "$": runs["usd"],
        "seconds": runs["seconds"],
        "id": runs["id"],
    })


def render_history_page() -> None:
    st.title("History")
    st.caption("Every run in the store, newest first. A run's link opens it on the Run page; anyone who can reach "
               "this server can open it.")
    render_import_panel(store)  # before the "no runs yet" stop: a new install imports runs here
    try:
        options = history_options(store=store())
    except Exception as exc:  # an unreachable or broken store: say so, no stack trace
        st.error(f"Could not read the run store: {type(exc).__name__}: {exc}")
        return
    if not options["statuses"]:
        st.info("No runs yet. Start one on the Compare page; every run is kept here with its link.")
        st.page_link(str(page_path("compare")), label="Compare strategies", icon=":material/compare_arrows:")
        return

    search_col, model_col, strategy_col, status_col = st.columns([3, 2, 2, 1])
    search = search_col.text_input("Search", key="hist.search", placeholder="problem text, model, strategy, status "
                                                                            "or a part of a run id")
    model = model_col.selectbox("Model", [ANY, *options["models"]], key="hist.model")
    strategy = strategy_col.selectbox("Strategy", [ANY, *options["strategies"]], key="hist.strategy")
    status = status_col.selectbox("Status", [ANY, *options["statuses"]], key="hist.status")
    dataset_col, sweep_col, toggle_col = st.columns([2, 2, 2], vertical_alignment="bottom")
    dataset = dataset_col.selectbox("Dataset", [ANY, *options["datasets"]], key="hist.dataset")
    sweep = sweep_col.selectbox("Sweep", [ANY, *options["sweeps"]], key="hist.sweep")
    # A sweep stores one run per cell: hundreds of them would bury the runs people started by hand.
    show_cells = toggle_col.toggle("Show sweep runs", key="hist.sweep_cells", disabled=sweep != ANY,
                                   help="Runs that are cells of a sweep are hidden unless this is on or a sweep "
                                        "is picked.")
    search = (search or "").strip()
    if len(search) > MAX_SEARCH_CHARS:
        st.warning(f"A search is at most {MAX_SEARCH_CHARS} characters; this one has {len(search):,}, so only "
                   f"its first {MAX_SEARCH_CHARS} are searched for.")
        search = search[:MAX_SEARCH_CHARS].strip()
    filters = {"search": search or None, "model": None if model == ANY else model,
               "strategy": None if strategy == ANY else strategy, "status": None if status == ANY else status,
               "dataset": None if dataset == ANY else dataset, "sweep_id": None if sweep == ANY else sweep,
               "sweep_cells": show_cells or sweep != ANY}

    if st.session_state.get("_hist.filters") != filters:  # new filters: back to the first page
        st.session_state["_hist.filters"] = filters
        st.session_state["hist.page"] = 1
    total = count_runs(**filters, store=store())
    hidden = 0 if filters["sweep_cells"] or not options["sweeps"] else (
        count_runs(**{**filters, "sweep_cells": True}, store=store()) - total)
    if total == 0:
        st.info("No runs match. The search looks for a part of the problem, the model or strategy name, the run "
                "or sweep id, or a whole status."
                + (f" {hidden:,} sweep runs match: turn on \"Show sweep runs\" to see them." if hidden else ""))
        return
    pages = math.ceil(total / PAGE_SIZE)
    page = 1
    if pages > 1:
        st.session_state["hist.page"] = min(max(1, int(st.session_state.get("hist.page", 1))), pages)
        page = int(st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="hist.page",
                                   width=160))
    runs = list_runs(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, store=store())
    first = (page - 1) * PAGE_SIZE + 1
    st.caption(f"Runs {first:,}-{first + len(runs) - 1:,} of {total:,}"
               + (f" ({hidden:,} sweep runs hidden)" if hidden else ""))
    st.dataframe(
        history_table(runs, st.context.url),
        hide_index=True,
        key="hist.table",
        height=TABLE_HEADER_PX + TABLE_ROW_PX * min(len(runs), ROWS_IN_VIEW),
        column_config={
            "link": st.column_config.LinkColumn("link", display_text="open", width="small",
                                                help="The run's share link (opens the Run page)."),
            "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
            "problem": st.column_config.TextColumn(width="large"),
            "tokens": st.column_config.NumberColumn(format="%d"),
            "$": st.column_config.NumberColumn(format="$%.4f"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )
