"""Following a sweep on the Sweep page: its progress bar (counts, money, time left), a Stop button,
its leaderboard so far, and the recent sweeps of the store, repainted every second while the
followed sweep runs (here in a thread of the app, or elsewhere: a command-line sweep on this
store). Script thread only. The time left is measured at the pace of this session (sweep_eta).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app.markdown_text import literal_markdown
from app.state import page_path, store
from reasoning.sweep import SweepProgress
from storage.sweeps import SweepInfo, get_sweep, list_sweeps, sweep_handle

S = "sw."  # prefix of the Sweep page's session-state keys
ACTIVE = f"{S}active"  # the sweep this session follows
OPEN_WHEN_DONE = "_sweep_open_when_done"  # a demo sweep whose leaderboard opens when it ends
ETA_STATE = "_sweep_eta"
MIN_CELLS_FOR_ETA = 3
REFRESH_SECONDS = 1.0


def follow_sweeps() -> None:
    """The followed sweep's progress and the recent sweeps, repainted together (one read of the
    store for both) every second while the followed sweep runs."""
    sweep_id = st.session_state.get(ACTIVE)
    if sweep_id and st.session_state.get(OPEN_WHEN_DONE) == sweep_id and not _is_running(sweep_id):
        del st.session_state[OPEN_WHEN_DONE]  # once: a demo stopped or failed stays here, with its reason
        info = get_sweep(sweep_id, store=store())
        if info is not None and info.status == "done":
            st.switch_page(page_path("leaderboard"), query_params={"sweep": sweep_id})
    running = bool(sweep_id) and _is_running(sweep_id)
    st.fragment(run_every=REFRESH_SECONDS if running else None)(_live_body)(sweep_id)
    _follow_picker()


def _live_body(sweep_id: str | None) -> None:
    sweeps = list_sweeps(limit=20, store=store())
    if sweep_id:
        st.divider()
        _progress_body(sweep_id)
    if not sweeps.empty:
        st.divider()
        st.subheader("Recent sweeps")
        st.dataframe(recent_table(sweeps), hide_index=True, key="sweep_list",
                     column_config={"spent": st.column_config.NumberColumn(format="$%.4f")})


def shown_dataset(spec: str) -> str:
    """A sweep's dataset as shown to visitors: a file's name, never its path on the server."""
    return "file: " + Path(spec.removeprefix("file:")).name if spec.startswith("file:") else spec


def recent_table(sweeps: pd.DataFrame) -> pd.DataFrame:
    """list_sweeps as shown: progress counts finished cells, failed ones included, as the bar does."""
    completed = sweeps["done"] + sweeps["failed"]
    return pd.DataFrame({
        "id": sweeps["id"], "created": sweeps["created"], "status": sweeps["status"],
        "dataset": sweeps["dataset"].astype(str).map(shown_dataset),
        "model": sweeps["model"], "progress": completed.astype(str) + " / " + sweeps["total_cells"].astype(str),
        "failed": sweeps["failed"], "spent": sweeps["spent_usd"],
    })


def _follow_picker() -> None:
    sweeps = list_sweeps(limit=20, store=store())
    ids = [sid for sid in sweeps["id"] if sid != st.session_state.get(ACTIVE)] if not sweeps.empty else []
    if ids:
        st.selectbox("Follow a sweep", ids, index=None, key=f"{S}follow", placeholder="Pick a sweep id",
                     on_change=_follow_picked)


def _is_running(sweep_id: str) -> bool:
    """Running here (a thread of this process) or elsewhere (a command-line sweep on this store)."""
    handle = sweep_handle(sweep_id)
    if handle is not None:
        return not handle.done
    info = get_sweep(sweep_id, store=store())
    return info is not None and info.status == "running"


def _progress_body(sweep_id: str) -> None:
    handle = sweep_handle(sweep_id)
    info = get_sweep(sweep_id, store=store())
    live = handle.progress if handle is not None else None
    if info is None and live is None:
        st.warning(f"Sweep {sweep_id} is not in this store.")
        return
    st.subheader(f"Sweep {sweep_id}")
    completed, total, status = _numbers(info, live)
    eta = _shown_eta(sweep_id, live, _cells_per_problem(handle, info))
    st.progress(min(1.0, completed / total) if total else 1.0, text=progress_text(info, live, eta))
    running = _is_running(sweep_id)
    if running and handle is not None:
        st.button("Stop sweep", icon=":material/stop:", key="sweep_cancel", on_click=handle.cancel,
                  help="Cells in flight end with their best answer so far; starting the sweep again resumes it.")
    elif handle is not None and handle.error:
        st.error(literal_markdown(f"The sweep failed: {handle.error}"))
    st.page_link(page_path("leaderboard"), label="Open this sweep's leaderboard", icon=":material/leaderboard:",
                 query_params={"sweep": sweep_id})
    _mini_board(sweep_id)
    if not running and st.session_state.get(f"{S}refreshed") != (sweep_id, status):
        st.session_state[f"{S}refreshed"] = (sweep_id, status)
        st.rerun()  # the fragment stops refreshing: repaint the page once with the final state


def _numbers(info: SweepInfo | None, live: SweepProgress | None) -> tuple[int, int, str]:
    """Finished cells, all cells and the status. The counts are the store's when it has the sweep,
    the same figures as the Recent sweeps list; the status is the live one when this process runs it."""
    if info is not None:
        return info.completed, info.total_cells, live.status if live is not None else info.status
    assert live is not None
    return live.completed, live.total, live.status


def _cells_per_problem(handle: Any, info: SweepInfo | None) -> int:
    plan = handle.prepared.plan.as_dict() if handle is not None else (info.plan if info is not None else {})
    return max(1, len(plan.get("strategies") or []) * len(plan.get("budgets") or []) * int(plan.get("repeats") or 1))


def sweep_eta(live: SweepProgress, cells_per_problem: int, min_cells: int = MIN_CELLS_FOR_ETA) -> float | None:
    """Seconds left: the cells still to run at the pace of this session so far (cells finished per
    second since it started). None until at least one problem's worth of cells (and `min_cells`) has
    finished: cells are run problem by problem, and a problem's cells range from a quick direct answer
    to a slow self-consistency vote, so a pace measured over fewer is biased either way."""
    ran = live.done + live.failed
    todo = live.total - live.skipped
    if live.status != "running" or ran == 0 or ran < min(todo, max(min_cells, cells_per_problem)):
        return None
    return live.elapsed / ran * live.remaining


def _shown_eta(sweep_id: str, live: SweepProgress | None, cells_per_problem: int) -> float | None:
    """sweep_eta, measured when a cell finishes and then counted down by the clock until the next
    one finishes (measured afresh between finishes, the estimate would grow while a slow cell runs)."""
    if live is None:
        return None
    ran = live.done + live.failed
    now = time.monotonic()
    saved = st.session_state.get(ETA_STATE)
    if saved is not None and saved[0] == (sweep_id, ran):
        return None if saved[1] is None else max(0.0, saved[1] - (now - saved[2]))
    eta = sweep_eta(live, cells_per_problem)
    st.session_state[ETA_STATE] = ((sweep_id, ran), eta, now)
    return eta


def progress_text(info: SweepInfo | None, live: SweepProgress | None, eta: float | None = None) -> str:
    """The line under the progress bar: counts, money and time left."""
    completed, total, status = _numbers(info, live)
    parts = [f"{status}: {completed:,} of {total:,} strategy runs"]
    if live is not None:
        if live.failed:
            parts.append(f"{live.failed} failed")
        if live.running:
            parts.append(f"{live.running} running")
        if live.spent_usd or live.max_usd is not None:
            parts.append(f"${live.spent_usd:.4f} spent" + (f" of ${live.max_usd:g}" if live.max_usd else ""))
        if eta is not None and math.isfinite(eta) and status == "running":
            parts.append(f"about {_duration(eta)} left" if eta >= 1 else "finishing")
    elif info is not None and info.spent_usd:
        parts.append(f"${info.spent_usd:.4f} spent")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _mini_board(sweep_id: str) -> None:
    """This sweep's leaderboard so far (the Leaderboard page has the charts and filters)."""
    from app.leaderboard_view import caps_present, compute_leaderboard, default_cap
    from storage.leaderboard_reads import strategy_results

    results = strategy_results(sweep_id=sweep_id, store=store())
    if results.empty or not results["correct"].notna().any():
        return
    cap = default_cap(caps_present(results))
    if cap is None:
        return
    board = compute_leaderboard(results, cap, n_boot=200, paired=False)
    if not board.board.empty:
        st.dataframe(sweep_table(board.board), hide_index=True, key="sweep_board")


def _percent(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.0%}"


def _count(value: Any) -> str:
    """A cost per correct answer: "–" when nothing was correct (it is infinite, or undefined)."""
    return "–" if value is None or pd.isna(value) or not math.isfinite(float(value)) else f"{float(value):,.0f}"


def sweep_table(board: pd.DataFrame) -> pd.DataFrame:
    """A metrics.leaderboard frame as text: accuracies as percentages with their 95% interval, and
    "–" where a figure does not exist (tokens per correct answer when none is correct)."""
    acc_cols = [c for c in board.columns if c.startswith("acc@")]
    return pd.DataFrame({
        "rank": board["rank"].map(lambda r: "–" if pd.isna(r) else str(int(r))),
        "strategy": board["strategy"].astype(str),
        "results": board["n"].astype(int),
        "accuracy [95% CI]": [f"{_percent(a)} [{_percent(lo)}–{_percent(hi)}]" if not pd.isna(a) else "–"
                              for a, lo, hi in zip(board["accuracy"], board["ci_low"], board["ci_high"], strict=True)],
        **{f"accuracy @ {c.removeprefix('acc@')}": board[c].map(_percent) for c in acc_cols},
        "tokens / correct": board["tokens_per_correct"].map(_count),
        "mean tokens": board["mean_tokens"].map(_count),
    }).reset_index(drop=True)


def _follow_picked() -> None:
    st.session_state[ACTIVE] = st.session_state.get(f"{S}follow")
    st.session_state[f"{S}follow"] = None
