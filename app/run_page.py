"""The run page's renderer: header, actions, the summary table, the panes (app.run_panes) and the
run's charts.

A live run repaints in a fragment (repaint_seconds); each repaint reads only the events after the
last one it saw (the folded view is kept in st.session_state by run id). In between, the streamed
text arrives through the live feed (app.live_feed) when the server offers it. A finished run is the
same page without the timer, and can be replayed at its original pace. Model output is shown as
escaped markdown or as text: never HTML. Script thread only.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app.charts import quality_chart, quality_steps, spend_chart, spend_frame
from app.html_export import run_html
from app.live_feed import mounted as feed_mounted
from app.live_pane import feed_path
from app.markdown_text import literal_markdown
from app.pane_text import shown_spend
from app.panes import RunView
from app.run_panes import PANE_MIN_WIDTH, STATUS_COLORS, pane_title, render_panes, stored_verdict
from app.run_replay import REPLAY_SPEEDS, replay_key, replay_state, replay_step, start_replay
from app.run_summary import entry_row, markdown_table, summary_headline, summary_records
from app.state import page_path, runner, share_link
from app.stored_view import ended_view, fold_runs_when_they_end
from reasoning.budget import Budget
from reasoning.entries import entry_budget, entry_labels
from reasoning.tokens import count_text
from storage.export import export_run_json
from storage.liveness import request_cancel
from storage.queries import RunInfo, curve_points, events_since, get_run
from storage.runner import run_store_error
from storage.store import default_url, open_store

fold_runs_when_they_end()  # this process's runner stores each run's fold as the run ends (a share link reads it)

REPAINT_SECONDS = 0.4  # a live run's panes repaint this often...
FED_REPAINT_SECONDS = 1.0  # ...or this often when the live feed brings their text (app.live_feed)
CHART_SECONDS = 2.0  # a live run's charts repaint apart from its panes, this often
# Panes in a CSS grid: 4 to a row at 1,920 px, 3 at 1,500, one under the other on a phone (st.columns
# fixes the count on the server, which does not know the window's width). Code blocks (the share
# link) wrap instead of scrolling out of a narrow page.
PAGE_CSS = f"""<style>
.st-key-panes {{ display: grid !important; gap: 1rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, {PANE_MIN_WIDTH}), 1fr)); align-items: start; }}
.st-key-panes > div {{ width: auto !important; min-width: 0; }}
</style>"""


def render_run_page(run_id: str | None) -> None:
    if not run_id:
        st.title("Run")
        st.info("No run chosen. Start one on the Compare page, or open a run's link.")
        st.page_link(str(page_path("compare")), label="Compare strategies", icon=":material/compare_arrows:")
        return
    try:
        info = get_run(run_id)
    except Exception as exc:  # the store is unreachable or broken: say so, no stack trace
        st.error(f"Could not read the run store: {type(exc).__name__}: {literal_markdown(str(exc))}")
        return
    if info is None:
        st.title("No such run")
        st.error(f"No such run: {literal_markdown(run_id[:80])}. The link may be mistyped, or the run was "
                 "recorded in another store.")
        st.page_link(str(page_path("compare")), label="Start a new run", icon=":material/compare_arrows:")
        return
    st.html(PAGE_CSS)
    _header(info)
    # A run whose writes failed never gets its end written: a banner instead of repainting forever.
    store_failure = run_store_error(info.id) if info.is_active else None
    if store_failure:
        st.error("Store error: this run's results could not be stored, so it will not finish. "
                 + literal_markdown(store_failure), icon=":material/database:")
    active = info.is_active and not store_failure
    _actions(info)
    replaying = replay_state(info.id) is not None
    every = repaint_seconds() if (active or replaying) else None
    st.fragment(run_every=every)(_live_body)(info.id, active)
    st.fragment(run_every=CHART_SECONDS if (active or replaying) else None)(_charts_body)(info.id)


# ---- header and actions ----------------------------------------------------------------------


def _header(info: RunInfo) -> None:
    st.title("Run")
    status_col, meta_col = st.columns([1, 5], vertical_alignment="center")
    with status_col:
        st.badge(info.status, color=STATUS_COLORS.get(info.status, "gray"))
    with meta_col:
        created = info.created.strftime("%Y-%m-%d %H:%M:%S UTC") if info.created else ""
        st.caption(literal_markdown(f"{info.model} · {_budgets_text(info)} · {created} · id {info.id}"))
    with st.container(border=True):
        st.markdown("**Problem**")
        st.markdown(literal_markdown(info.problem))
        if info.reference:
            st.markdown("**Reference answer:** " + literal_markdown(info.reference))
        if info.dataset:
            st.caption(literal_markdown(f"from dataset {info.dataset}, item {info.item_id or '?'}"))
    if info.error:
        st.error(literal_markdown(info.error))


def _budget_text(budget: dict[str, Any]) -> str:
    try:
        return Budget.from_dict(budget).describe()
    except (TypeError, ValueError):
        return str(budget)


def _budgets_text(info: RunInfo) -> str:
    """The run's budget in the header; entries with budgets of their own are named with theirs."""
    budgets = [entry_budget(s.budget, info.budget) for s in info.strategies]
    if not budgets or all(budget == budgets[0] for budget in budgets):
        return f"budget per strategy: {_budget_text(budgets[0] if budgets else info.budget)}"
    listed = "; ".join(f"{label}: {_budget_text(budget)}" for label, budget in zip(_labels(info), budgets, strict=True))
    return f"budget per entry: {listed}"


def _labels(info: RunInfo) -> list[str]:
    return entry_labels([(s.strategy, s.budget) for s in info.strategies], info.budget)


def _actions(info: RunInfo) -> None:
    replaying = replay_state(info.id) is not None
    with st.container(horizontal=True, vertical_alignment="bottom"):
        if info.is_active:
            if st.button("Cancel run", icon=":material/stop_circle:", key=f"cancel.{info.id}"):
                if runner().cancel(info.id):
                    st.toast("Cancelling: each strategy stops with its best answer so far.")
                elif request_cancel(runner().store, info.id):  # another process runs it: it polls the store
                    st.toast("Cancel requested: the server running this run stops it within a second.")
                else:
                    st.info("This run has already ended.")
        elif replaying:
            if st.button("Stop replay", icon=":material/stop:", key=f"replay.stop.{info.id}"):
                st.session_state.pop(replay_key(info.id), None)
                st.rerun()
        else:
            if st.button("Replay", icon=":material/replay:", key=f"replay.start.{info.id}",
                         help="Show the run again as it happened, at its original pace (or faster)."):
                start_replay(info.id, _new_view)
                st.rerun()
            st.selectbox("Replay speed", REPLAY_SPEEDS, format_func=lambda s: f"{s:g}×",
                         key=f"replay.speed.{info.id}", label_visibility="collapsed", width=90)
        st.download_button("Download JSON", data=lambda: _export(info.id), file_name=f"run-{info.id}.json",
                           mime="application/json", icon=":material/download:", key=f"download.{info.id}",
                           on_click="ignore")
        st.download_button("Download HTML", data=lambda: run_html(info.id) or "", file_name=f"run-{info.id}.html",
                           mime="text/html", icon=":material/html:", key=f"download.html.{info.id}",
                           on_click="ignore", help="One file with the panes, charts and a replay: opens in any "
                           "browser, no server or network needed.")
    st.caption("Share link: anyone who can reach this server can open the run with it.")
    st.code(share_link(st.context.url, info.id), language=None, wrap_lines=True)


def _export(run_id: str) -> str:
    return json.dumps(export_run_json(run_id), indent=2)


# ---- the live body ---------------------------------------------------------------------------


def _new_view(info: RunInfo) -> RunView:
    return RunView.for_strategies([(s.strategy, s.knobs or {}) for s in info.strategies], _labels(info))


@st.cache_resource(max_entries=32, show_spinner=False)
def _ended_view(store_url: str, run_id: str, last_seq: int) -> RunView:
    """The fold of an ended run, shared by every session that opens its link: it cannot change any
    more (the key holds the store and the run's last event). Read from the fold stored once the run
    ended (app.stored_view: one row per entry; a stream's text is read when it is opened), else
    folded from every event and stored for the next visitor."""
    info = get_run(run_id)

    def fold() -> RunView:
        view = _new_view(info)
        view.apply(events_since(run_id, 0))
        return view

    return ended_view(open_store(store_url), run_id, last_seq, len(info.strategies), fold=fold)


def _live_body(run_id: str, was_active: bool) -> None:
    info = get_run(run_id)  # before the events: once it says "ended", every event is in
    if info is None:
        st.error("The run disappeared from the store.")
        return
    curve = curve_points(run_id)
    state = replay_state(run_id)
    if state is not None:
        view, clock, length, finished = replay_step(state)
        curve = curve[curve["seq"] <= view.last_seq]
        st.progress(min(1.0, clock / length) if length else 1.0,
                    text=f"Replaying at {state['speed']:g}×: {min(clock, length):.1f} s of {length:.1f} s")
        run_active = not finished
    else:
        key = f"_view.{run_id}"
        view = st.session_state.get(key)
        if view is None or len(view.panes) != len(info.strategies):
            fresh = _new_view(info) if info.is_active else _ended_view(default_url(), run_id, info.last_seq)
            view = st.session_state[key] = fresh
        view.apply(events_since(run_id, view.last_seq))
        run_active = info.is_active and run_store_error(run_id) is None
        finished = False
    now = clock if state is not None else _run_seconds(info)
    tokens = _token_counter(info.model)
    if view.skipped:  # rows this version cannot read (a newer version's kinds): said, not a crash
        st.warning(view.skipped_text())
    render_summary(view, info, curve, run_active=run_active, count_tokens=tokens)
    feed = feed_path(run_id) if state is None and run_active and feed_mounted() else None  # a replay: the past
    render_panes(view, info.strategies, info.budget, curve, run_active=run_active, now=now, count_tokens=tokens,
                 feed=feed)
    if state is not None and finished:
        st.session_state.pop(replay_key(run_id), None)
        st.rerun()  # the whole page: the timer stops and the Replay button returns
    elif state is None and was_active and not run_active:
        st.rerun()  # the run ended: redraw the header and actions, and stop repainting


def repaint_seconds() -> float:
    """The panes' repaint interval. With the live feed their stream text arrives as it is stored, and
    a repaint brings the rest (spend, call states, answers, decisions): once a second is enough, and
    each repaint costs the page and the app less often (it was most of their work while streaming)."""
    return FED_REPAINT_SECONDS if feed_mounted() else REPAINT_SECONDS


def _run_seconds(info: RunInfo) -> float | None:
    """Seconds since the run started (events' `elapsed` counts from about then)."""
    if info.created is None:
        return None
    created = info.created if info.created.tzinfo else info.created.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - created).total_seconds())


@functools.cache
def _token_counter(model: str):  # noqa: ANN202 - a cached closure
    """Counts streamed text as the run's model would, as our tokenizer estimates it (reasoning.tokens)."""
    return functools.partial(count_text, model_name=model)


# ---- the summary ------------------------------------------------------------------------------


def render_summary(view: RunView, info: RunInfo, curve: pd.DataFrame, *, run_active: bool, count_tokens) -> None:  # noqa: ANN001
    """One row per entry, filled in as entries end; copyable as a markdown table."""
    if not any(p.ended for p in view.panes) and run_active:
        return
    rows = []
    for pane in view.panes:
        stored = info.strategies[pane.index] if pane.index < len(info.strategies) else None
        status = pane.status(stored.status if stored else None, run_active)
        budget = entry_budget(stored.budget if stored is not None else None, info.budget)
        spent, provisional = shown_spend(pane, count_tokens)  # the row shows what the pane shows
        rows.append(entry_row(pane, pane_title(pane), status, budget, stored_verdict(pane, stored, curve), spent,
                              provisional))
    has_reference = bool(info.reference)
    records = summary_records(rows, has_reference=has_reference)
    with st.container(key="run-summary"):
        st.subheader("Summary")
        st.caption(literal_markdown(summary_headline(rows, has_reference=has_reference))
                   + (" · spend columns read used / cap" if any(r.budget for r in rows) else ""))
        # A static table (its text in the page, wrapped, readable by a screen reader); its cells are
        # markdown, so every one goes through literal_markdown: an answer shows as written.
        shown = pd.DataFrame([{literal_markdown(k): literal_markdown(v) for k, v in r.items()} for r in records])
        st.table(shown, hide_index=True)
        with st.expander("Copy as markdown", key="summary.markdown"):
            st.code(markdown_table(records), language="markdown", wrap_lines=False)


def _charts_body(run_id: str) -> None:
    """The run's charts, in a fragment of their own: a chart costs more to build and draw than a
    pane (its Vega-Lite spec is validated and re-rendered whole), and while a run streams the
    charts need not move at every repaint of the panes (CHART_SECONDS; the panes: repaint_seconds)."""
    info = get_run(run_id)
    state = replay_state(run_id)
    view = state["view"] if state is not None else st.session_state.get(f"_view.{run_id}")
    if info is None or view is None:
        return
    curve = curve_points(run_id)
    if state is not None:
        curve = curve[curve["seq"] <= view.last_seq]
    render_charts(view, curve)


# ---- charts ----------------------------------------------------------------------------------


def render_charts(view: RunView, curve: pd.DataFrame) -> None:
    st.subheader("Quality against spend")
    steps = quality_steps(curve, pd.DataFrame(view.end_spends()), view.labels())
    if steps.empty:
        st.caption("No answers yet: each strategy's curve starts at its first answer.")
    elif steps["quality"].isna().all():
        st.caption("Answers arrived, but there is no reference answer and no strategy reported a confidence, "
                   "so there is no quality to plot.")
    elif (pd.to_numeric(steps["usd"]) > 0).any():
        tokens_col, usd_col = st.columns(2)
        with tokens_col:
            _draw_chart(quality_chart(steps, "tokens"), steps, "chart.quality.tokens")
        with usd_col:
            _draw_chart(quality_chart(steps, "usd"), steps, "chart.quality.usd")
    else:  # one chart across the page: a dollar axis would be flat
        _draw_chart(quality_chart(steps, "tokens"), steps, "chart.quality.tokens")
        st.caption("Every call was free (a local model), so there is no chart against dollars.")
    st.subheader("Spend over time")
    spend = spend_frame(view.spend_samples)
    if spend.empty:
        st.caption("Nothing spent yet.")
    else:
        _draw_chart(spend_chart(spend, "tokens"), spend, "chart.spend")


def _draw_chart(chart: alt.TopLevelMixin, data: pd.DataFrame, key: str) -> None:
    """The chart with its data sent beside its spec, not in it. st.altair_chart names the data by
    its hash inside the spec, so a repaint with one more point was a new spec, which the browser
    compiled and drew from scratch (the costliest part of a live repaint in the page); with the
    spec unchanged, it replaces only the data of the chart it has."""
    st.vega_lite_chart(data, _without_data(_bare(chart).to_dict()), width="stretch", key=key)


def _bare(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A shallow copy without its data (so building the spec does not serialize the frame)."""
    out = chart.copy(deep=False)
    out.data = alt.Undefined
    if getattr(out, "layer", alt.Undefined) is not alt.Undefined:
        out.layer = [_bare(layer) for layer in out.layer]
    return out


def _without_data(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with no data of its own anywhere (Altair names a layer's missing data "empty")."""
    spec.pop("datasets", None)
    spec.pop("data", None)
    for layer in spec.get("layer", []):
        _without_data(layer)
    return spec
