"""The run page's renderer: header, actions, one pane per strategy and the run's charts.

A live run repaints in a fragment a few times a second; each repaint reads only the events after
the last one it saw (the folded view is kept in st.session_state by run id). A finished run is
the same page without the timer, and can be replayed at its original pace. Model output is shown
as escaped markdown: never HTML. Script thread only.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app.charts import quality_chart, quality_steps, spend_chart, spend_frame
from app.controls import strategy_title
from app.html_export import run_html
from app.panes import (
    NoteView,
    PaneView,
    RunView,
    confidence_text,
    literal_markdown,
    note_data_text,
    shown_spend,
    spend_bar,
    stop_text,
    verdict_text,
)
from app.run_summary import entry_row, markdown_table, summary_headline, summary_records
from app.state import page_path, runner
from app.stored_view import ended_view, fold_runs_when_they_end, stream_size
from app.tree_view import render_strategy_view
from reasoning.budget import Budget
from reasoning.entries import entry_budget, entry_labels
from reasoning.tokens import count_text
from reasoning.wording import plural
from storage.export import export_run_json
from storage.liveness import request_cancel
from storage.queries import RunInfo, StrategyInfo, curve_points, events_since, get_run, replay
from storage.runner import run_store_error
from storage.store import default_url, open_store

fold_runs_when_they_end()  # this process's runner stores each run's fold as the run ends (a share link reads it)

REPAINT_SECONDS = 0.4
CHART_SECONDS = 2.0  # a live run's charts repaint apart from its panes, this often
PANE_MIN_WIDTH = "22rem"  # panes flow into as many columns of at least this width as the page holds
STREAMS_SHOWN = 6  # newest streams in their own expanders; older ones share one
NOTES_SHOWN = 8
STATUS_COLORS = {"running": "blue", "queued": "gray", "loading model": "violet", "reading prompt": "orange",
                 "generating": "blue", "done": "green", "error": "red", "cancelled": "orange",
                 "interrupted": "orange"}
REPLAY_SPEEDS = (1.0, 2.0, 5.0)
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
    replaying = _replay_state(info.id) is not None
    every = REPAINT_SECONDS if (active or replaying) else None
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


def share_link(base_url: str | None, run_id: str) -> str:
    """The run page's full URL (relative when the browser's URL is unknown, as in tests)."""
    base = (base_url or "").split("?")[0].rstrip("/")
    if not base.endswith("/run"):
        base = base + "/run" if base else "/run"
    return f"{base}?{urlencode({'run': run_id})}"


def _actions(info: RunInfo) -> None:
    replaying = _replay_state(info.id) is not None
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
                st.session_state.pop(_replay_key(info.id), None)
                st.rerun()
        else:
            if st.button("Replay", icon=":material/replay:", key=f"replay.start.{info.id}",
                         help="Show the run again as it happened, at its original pace (or faster)."):
                _start_replay(info.id)
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


# ---- replay ----------------------------------------------------------------------------------


def _replay_key(run_id: str) -> str:
    return f"_replay.{run_id}"


def _replay_state(run_id: str) -> dict[str, Any] | None:
    return st.session_state.get(_replay_key(run_id))


def _start_replay(run_id: str) -> None:
    info = get_run(run_id)
    if info is None:
        return
    st.session_state[_replay_key(run_id)] = {
        "started": time.monotonic(),
        "speed": float(st.session_state.get(f"replay.speed.{run_id}", 1.0)),
        "events": replay(run_id),
        "position": 0,
        "view": _new_view(info),
    }


def _replay_step(state: dict[str, Any]) -> tuple[RunView, float, float, bool]:
    """Apply the events whose time has come; returns the view, the replay clock, the run's
    length in seconds, and whether the replay has shown every event."""
    events = state["events"]
    clock = (time.monotonic() - state["started"]) * state["speed"]
    start = state["position"]
    end = start
    while end < len(events) and events[end].elapsed <= clock:
        end += 1
    state["view"].apply(events[start:end])
    state["position"] = end
    length = events[-1].elapsed if events else 0.0
    return state["view"], clock, length, end >= len(events)


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
    state = _replay_state(run_id)
    if state is not None:
        view, clock, length, finished = _replay_step(state)
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
    render_summary(view, info, curve, run_active=run_active, count_tokens=tokens)
    render_panes(view, info.strategies, info.budget, curve, run_active=run_active, now=now, count_tokens=tokens)
    if state is not None and finished:
        st.session_state.pop(_replay_key(run_id), None)
        st.rerun()  # the whole page: the timer stops and the Replay button returns
    elif state is None and was_active and not run_active:
        st.rerun()  # the run ended: redraw the header and actions, and stop repainting


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
        rows.append(entry_row(pane, _pane_title(pane), status, budget, _verdict(pane, stored, curve), spent,
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
    charts need not move at every repaint of the panes (CHART_SECONDS; the panes: REPAINT_SECONDS)."""
    info = get_run(run_id)
    state = _replay_state(run_id)
    view = state["view"] if state is not None else st.session_state.get(f"_view.{run_id}")
    if info is None or view is None:
        return
    curve = curve_points(run_id)
    if state is not None:
        curve = curve[curve["seq"] <= view.last_seq]
    render_charts(view, curve, has_reference=bool(info.reference))


# ---- panes -----------------------------------------------------------------------------------


def render_panes(view: RunView, strategies: Sequence[StrategyInfo], budget: dict[str, Any], curve: pd.DataFrame,
                 *, run_active: bool, now: float | None = None, count_tokens=len) -> None:  # noqa: ANN001
    with st.container(key="panes"):  # a CSS grid (PAGE_CSS): as many columns as the page is wide
        for pane in view.panes:
            info = strategies[pane.index] if pane.index < len(strategies) else None
            # each entry's bar against its own caps
            own = entry_budget(info.budget if info is not None else None, budget)
            render_pane(pane, info, own, curve, run_active=run_active, now=now, count_tokens=count_tokens)


def _pane_title(pane: PaneView) -> str:
    """The strategy's title, with the entry's budget when the label carries one ("Direct answer @ 300")."""
    title = strategy_title(pane.strategy)
    _, at, tag = (pane.label or "").partition("@")
    if not at:
        return title
    return f"{title} @ {tag} tokens" if tag.replace(",", "").isdigit() else f"{title} @ {tag}"


def _verdict(pane: PaneView, info: StrategyInfo | None, curve: pd.DataFrame) -> bool | None:
    """The stored judgement of the answer shown: its curve point's, else the strategy's final one."""
    if pane.best_seq is not None and not curve.empty:
        match = curve.loc[curve["seq"] == pane.best_seq, "correct"]
        if not match.empty and pd.notna(match.iloc[0]):
            return bool(match.iloc[0])
    if pane.ended and info is not None and info.correct is not None:
        return bool(info.correct)
    return None


def render_pane(pane: PaneView, info: StrategyInfo | None, budget: dict[str, Any], curve: pd.DataFrame,
                *, run_active: bool, now: float | None = None, count_tokens=len) -> None:  # noqa: ANN001
    status = pane.status(info.status if info else None, run_active)
    error = pane.error or (info.error if info is not None and not pane.ended and not run_active else None)
    # Keyed containers (CSS class st-key-...) let the browser test find a pane's parts.
    with st.container(border=True, key=f"pane-{pane.index}"):
        # The badge follows the title in one line of markdown: in a column of its own it was cut to "runn…".
        color = STATUS_COLORS.get(status, "gray")
        st.markdown(f"**{pane.index + 1}\\. {literal_markdown(_pane_title(pane))}** "
                    f":{color}-badge[{literal_markdown(status)}]")
        if pane.knobs:
            st.caption(literal_markdown(", ".join(f"{k}={v}" for k, v in pane.knobs.items())))
        spent, provisional = shown_spend(pane, count_tokens)
        bar = spend_bar(spent, budget, provisional=provisional)
        suffix = " (estimated)" if pane.ended and spent.estimated else ""
        st.progress(bar.fraction, text=literal_markdown(bar.text + suffix))
        state = _state_text(pane, status, now) if run_active else None
        if state or provisional:
            st.caption(literal_markdown(" · ".join(part for part in (
                state, "≈ counted from the text streamed so far; settled when the call reports its usage"
                if provisional else None) if part)))
        if pane.spent.over_cap:  # Context flags reports that cannot be true and spends past a cap
            st.warning("Over cap: the provider reported more than this budget allowed (figures as reported; see notes)")

        with st.container(key=f"answer-{pane.index}"):
            _answer(pane, info, curve)
        if error:
            st.error(literal_markdown(error))
        if pane.ended:
            spent = pane.spent
            st.caption(literal_markdown(
                f"Stopped: {_stop_words(pane)} · {plural(spent.total_tokens, 'token')} in "
                f"{plural(spent.calls, 'call')} · ${spent.usd:.4f} · {spent.seconds:.1f} s"))
        if pane.load_seconds is not None:
            st.caption(f"The model loaded in {pane.load_seconds:.1f} s before this strategy's first call.")
        render_strategy_view(pane)
        _notes(pane)
        with st.container(key=f"streams-{pane.index}"):
            _streams(pane)


def _stop_words(pane: PaneView) -> str:
    """Why it stopped; on a budget stop the cap that bound ("budget reached: 1,500-token cap")."""
    words = stop_text(pane.stop)
    detail = (pane.stop_detail or "").removeprefix("stopped: ")
    return f"{words} ({detail})" if detail else words


def _state_text(pane: PaneView, status: str, now: float | None) -> str | None:
    """What the pane's calls are doing and for how long ("queued for 4 s"); None when running."""
    if status not in ("queued", "loading model", "reading prompt", "generating") or pane.ended:
        return None
    calls = len(pane.calls)
    waiting = sum(1 for s in pane.calls.values() if s == "queued")
    text = {"queued": "waiting for the model (every slot busy)", "loading model": "loading the model",
            "reading prompt": "the model is reading the prompt", "generating": "generating"}[status]
    if now is not None and pane.state_since is not None and pane.call_state == status:
        text += f" for {max(0.0, now - pane.state_since):.0f} s"
    if calls > 1:
        text += f" · {plural(calls, 'call')} in flight" + (f", {waiting} queued" if waiting and status != "queued" else "")
    return text


def _answer(pane: PaneView, info: StrategyInfo | None, curve: pd.DataFrame) -> None:
    if pane.best_answer:
        verdict = verdict_text(_verdict(pane, info, curve))
        mark = {"right": " :green-badge[:material/check: right]",
                "wrong": " :red-badge[:material/close: wrong]"}.get(verdict, "")
        label = "Final answer" if pane.ended else "Best answer so far"
        st.markdown(f"**{label}:** {literal_markdown(pane.best_answer)}{mark}")
        st.caption(confidence_text(pane.confidence))
    elif pane.ended:
        st.markdown("**Final answer:** none")
    else:
        st.caption("No answer yet.")


def _notes(pane: PaneView) -> None:
    """The newest decision in view; every decision (with its data on hover) in an expander."""
    if not pane.notes:
        return
    _note(pane.notes[-1], prefix="Latest decision · ")
    if len(pane.notes) > 1:
        with st.expander(f"All decisions ({len(pane.notes)})"):
            shown = pane.notes[-NOTES_SHOWN:]
            if len(pane.notes) > len(shown):
                st.caption(f"{len(pane.notes) - len(shown)} earlier decisions not shown (see Download JSON).")
            for note in shown:
                _note(note)


def _note(note: NoteView, prefix: str = "") -> None:
    data = note_data_text(note.data)
    st.markdown(f"{prefix}**{literal_markdown(note.label)}**: {literal_markdown(note.text)}",
                help=literal_markdown(data) if data else None)


def _streams(pane: PaneView) -> None:
    if not pane.streams:
        return
    streams = sorted(pane.streams.values(), key=lambda s: s.first_seq)
    newest = pane.newest_label
    older, recent = streams[:-STREAMS_SHOWN], streams[-STREAMS_SHOWN:]
    # Keyed expanders keep a reader's open/closed choice across repaints; unkeyed, the growing
    # character count in the label made each repaint a new expander, undoing every click. Once the
    # entry has ended (its labels no longer change) a closed one draws nothing (on_change="rerun"
    # tracks it; a tracked expander whose label changes is reset at each repaint): a share link
    # sends no stream it does not show, and a stored fold's text is read only when it is opened.
    track = "rerun" if pane.ended else "ignore"
    if older:
        with st.expander(f"{len(older)} earlier output(s)", key=f"older-{pane.index}", on_change=track) as box:
            if box.open is not False:
                for stream in older:
                    st.markdown(f"**{literal_markdown(stream.label or 'output')}**")
                    _stream_text(stream.text, stream.thinking)
    for stream in recent:
        with st.expander(f"{literal_markdown(stream.label or 'output')} · {stream_size(stream):,} chars",
                         expanded=stream.label == newest, key=f"stream-{pane.index}-{stream.first_seq}",
                         on_change=track) as box:
            if box.open is not False:
                _stream_text(stream.text, stream.thinking)


def _stream_text(text: str, thinking: str) -> None:
    if thinking:
        st.caption("Thinking")
        st.caption(literal_markdown(thinking))
    if text:
        st.markdown(literal_markdown(text))
    elif not thinking:
        st.caption("(nothing yet)")


# ---- charts ----------------------------------------------------------------------------------


def render_charts(view: RunView, curve: pd.DataFrame, *, has_reference: bool) -> None:
    st.subheader("Quality against spend")
    quality_title = "right (1) or wrong (0)" if has_reference else "confidence (self-reported)"
    steps = quality_steps(curve, pd.DataFrame(view.end_spends()), view.labels())
    if steps.empty:
        st.caption("No answers yet: each strategy's curve starts at its first answer.")
    elif steps["quality"].isna().all():
        st.caption("Answers arrived, but there is no reference answer and no strategy reported a confidence, "
                   "so there is no quality to plot.")
    elif (pd.to_numeric(steps["usd"]) > 0).any():
        tokens_col, usd_col = st.columns(2)
        with tokens_col:
            st.altair_chart(quality_chart(steps, "tokens", quality_title=quality_title), width="stretch",
                            key="chart.quality.tokens")
        with usd_col:
            st.altair_chart(quality_chart(steps, "usd", quality_title=quality_title), width="stretch",
                            key="chart.quality.usd")
    else:  # one chart across the page: a dollar axis would be flat
        st.altair_chart(quality_chart(steps, "tokens", quality_title=quality_title), width="stretch",
                        key="chart.quality.tokens")
        st.caption("Every call was free (a local model), so there is no chart against dollars.")
    st.subheader("Spend over time")
    spend = spend_frame(view.spend_samples)
    if spend.empty:
        st.caption("Nothing spent yet.")
    else:
        st.altair_chart(spend_chart(spend, "tokens"), width="stretch", key="chart.spend")
