"""The run page's panes: one bordered pane per entry (title and status badge, spend bar, call
state, best answer and its verdict, stop reason, the strategy's own view, decisions, streamed text).

A running entry's pane is drawn by two components of our own (app.live_pane: its top and its
streamed text) between Streamlit's view of the strategy and its decisions; an ended one by
Streamlit's elements alone. Model output is shown as escaped markdown (app.markdown_text.literal_markdown)
or as text nodes: never HTML. Script thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app.controls import strategy_title
from app.live_pane import render_live_head, render_live_streams
from app.markdown_text import literal_markdown
from app.pane_text import confidence_text, note_data_text, shown_spend, spend_bar, stop_text, verdict_text
from app.panes import NoteView, PaneView, RunView
from app.stored_view import stream_size
from app.tree_view import render_strategy_view
from reasoning.entries import entry_budget
from reasoning.wording import plural
from storage.queries import StrategyInfo

PANE_MIN_WIDTH = "22rem"  # panes flow into as many columns of at least this width as the page holds
STREAMS_SHOWN = 6  # newest streams in their own expanders; older ones share one
NOTES_SHOWN = 8
STATUS_COLORS = {"running": "blue", "queued": "gray", "loading model": "violet", "reading prompt": "orange",
                 "generating": "blue", "done": "green", "error": "red", "cancelled": "orange",
                 "interrupted": "orange"}
PROVISIONAL = "≈ counted from the text streamed so far; settled when the call reports its usage"
OVER_CAP = "Over cap: the provider reported more than this budget allowed (figures as reported; see notes)"
LOADED = "The model loaded in {:.1f} s before this strategy's first call."


def render_panes(view: RunView, strategies: Sequence[StrategyInfo], budget: dict[str, Any], curve: pd.DataFrame,
                 *, run_active: bool, now: float | None = None, count_tokens=len,  # noqa: ANN001
                 feed: str | None = None) -> None:
    """One pane per entry. `feed`: the run's live text feed while it runs (app.live_pane.feed_path)."""
    with st.container(key="panes"):  # a CSS grid (app.run_page.PAGE_CSS): as many columns as the page is wide
        for pane in view.panes:
            info = strategies[pane.index] if pane.index < len(strategies) else None
            # each entry's bar against its own caps
            own = entry_budget(info.budget if info is not None else None, budget)
            render_pane(pane, info, own, curve, run_active=run_active, now=now, count_tokens=count_tokens,
                        seq=view.last_seq, feed=feed)


def pane_title(pane: PaneView) -> str:
    """The strategy's title, with the entry's budget when the label carries one ("Direct answer @ 300")."""
    title = strategy_title(pane.strategy)
    _, at, tag = (pane.label or "").partition("@")
    if not at:
        return title
    return f"{title} @ {tag} tokens" if tag.replace(",", "").isdigit() else f"{title} @ {tag}"


def stored_verdict(pane: PaneView, info: StrategyInfo | None, curve: pd.DataFrame) -> bool | None:
    """The stored judgement of the answer shown: its curve point's, else the strategy's final one."""
    if pane.best_seq is not None and not curve.empty:
        match = curve.loc[curve["seq"] == pane.best_seq, "correct"]
        if not match.empty and pd.notna(match.iloc[0]):
            return bool(match.iloc[0])
    if pane.ended and info is not None and info.correct is not None:
        return bool(info.correct)
    return None


def render_pane(pane: PaneView, info: StrategyInfo | None, budget: dict[str, Any], curve: pd.DataFrame,
                *, run_active: bool, now: float | None = None, count_tokens=len,  # noqa: ANN001
                seq: int = 0, feed: str | None = None) -> None:
    status = pane.status(info.status if info else None, run_active)
    error = pane.error or (info.error if info is not None and not pane.ended and not run_active else None)
    if not pane.ended:  # still running: its top and its streams are components (app.live_pane)
        with st.container(border=True, key=f"pane-{pane.index}"):
            render_live_head(pane, live_head_data(pane, info, budget, curve, status, error, run_active=run_active,
                                                  now=now, count_tokens=count_tokens))
            render_strategy_view(pane)
            _notes(pane)
            if pane.streams:
                with st.container(key=f"streams-{pane.index}"):
                    render_live_streams(pane, STREAMS_SHOWN, seq=seq, feed=feed)
        return
    # An ended entry. Keyed containers (CSS class st-key-...) let the browser test find a pane's parts.
    with st.container(border=True, key=f"pane-{pane.index}"):
        # The badge follows the title in one line of markdown: in a column of its own it was cut to "runn…".
        color = STATUS_COLORS.get(status, "gray")
        st.markdown(f"**{pane.index + 1}\\. {literal_markdown(pane_title(pane))}** "
                    f":{color}-badge[{literal_markdown(status)}]")
        if pane.knobs:
            st.caption(literal_markdown(", ".join(f"{k}={v}" for k, v in pane.knobs.items())))
        spent = pane.spent
        bar = spend_bar(spent, budget)
        st.progress(bar.fraction, text=literal_markdown(bar.text + (" (estimated)" if spent.estimated else "")))
        if spent.over_cap:  # Context flags reports that cannot be true and spends past a cap
            st.warning(OVER_CAP)
        with st.container(key=f"answer-{pane.index}"):
            _answer(pane, info, curve)
        if error:
            st.error(literal_markdown(error))
        st.caption(literal_markdown(
            f"Stopped: {_stop_words(pane)} · {plural(spent.total_tokens, 'token')} in "
            f"{plural(spent.calls, 'call')} · ${spent.usd:.4f} · {spent.seconds:.1f} s"))
        if pane.load_seconds is not None:
            st.caption(LOADED.format(pane.load_seconds))
        render_strategy_view(pane)
        _notes(pane)
        with st.container(key=f"streams-{pane.index}"):
            _streams(pane)


def live_head_data(pane: PaneView, info: StrategyInfo | None, budget: dict[str, Any], curve: pd.DataFrame,
                   status: str, error: str | None, *, run_active: bool, now: float | None,
                   count_tokens=len) -> dict[str, Any]:  # noqa: ANN001
    """What the top of a running entry's pane shows, as plain text (the same words as an ended
    pane's Streamlit elements; app.live_pane draws them)."""
    spent, provisional = shown_spend(pane, count_tokens)
    bar = spend_bar(spent, budget, provisional=provisional)
    state = _state_text(pane, status, now) if run_active else None
    return {
        "title": f"{pane.index + 1}. {pane_title(pane)}", "status": status, "color": STATUS_COLORS.get(status, "gray"),
        "knobs": ", ".join(f"{k}={v}" for k, v in pane.knobs.items()),
        "bar_text": bar.text, "fraction": bar.fraction,
        "state": " · ".join(part for part in (state, PROVISIONAL if provisional else None) if part),
        "over_cap": OVER_CAP if pane.spent.over_cap else "",
        "answer_label": "Best answer so far:" if pane.best_answer else "",
        "answer": pane.best_answer or "",
        "verdict": verdict_text(stored_verdict(pane, info, curve)) if pane.best_answer else "",
        "confidence": confidence_text(pane.confidence, pane.strategy) if pane.best_answer else "No answer yet.",
        "error": error or "",
        "load": LOADED.format(pane.load_seconds) if pane.load_seconds is not None else "",
    }


def _stop_words(pane: PaneView) -> str:
    """Why it stopped; on a budget stop the cap that bound ("budget reached: 1,500-token cap")."""
    words = stop_text(pane.stop, answered=bool(pane.best_answer))  # "finished without an answer"
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
    """An ended entry's final answer, right/wrong and confidence (a running one's: live_head_data)."""
    if pane.best_answer:
        verdict = verdict_text(stored_verdict(pane, info, curve))
        mark = {"right": " :green-badge[:material/check: right]",
                "wrong": " :red-badge[:material/close: wrong]"}.get(verdict, "")
        st.markdown(f"**Final answer:** {literal_markdown(pane.best_answer)}{mark}")
        st.caption(confidence_text(pane.confidence, pane.strategy))
    else:
        st.markdown("**Final answer:** none")


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
    # Keyed expanders keep a reader's open/closed choice across reruns, and a closed one draws
    # nothing (on_change="rerun" tracks it; the entry has ended, so its labels no longer change): a
    # share link sends no stream it does not show, and a stored fold's text is read only when opened.
    if older:
        with st.expander(f"{len(older)} earlier output(s)", key=f"older-{pane.index}", on_change="rerun") as box:
            if box.open is not False:
                for stream in older:
                    st.markdown(f"**{literal_markdown(stream.label or 'output')}**")
                    _stream_text(stream.text, stream.thinking)
    for stream in recent:
        with st.expander(f"{literal_markdown(stream.label or 'output')} · {stream_size(stream):,} chars",
                         expanded=stream.label == newest, key=f"stream-{pane.index}-{stream.first_seq}",
                         on_change="rerun") as box:
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
