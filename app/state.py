"""Session and process helpers shared by the pages: page paths, the store and runner, form state
that survives page switches, and the per-session run-rate limit. Script thread only."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from storage.runner import Runner, get_runner
from storage.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"
FORM_PREFIXES = ("cmp.",)  # widget keys whose values should outlive a visit to another page
_RUN_TIMES = "_run_submit_times"


def page_path(name: str) -> Path:
    """pages/<name>.py: what st.Page and st.switch_page take."""
    return PAGES / f"{name}.py"


def keep_form_state() -> None:
    """Streamlit drops a widget's value when a page without the widget runs; writing the value
    back on every run keeps it (the compare form is as the user left it after viewing a run)."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(FORM_PREFIXES):
            st.session_state[key] = st.session_state[key]


def store() -> Store:
    return open_store()


def runner() -> Runner:
    return get_runner(store())


def runs_left_this_hour(limit: int | None, now: float | None = None) -> int | None:
    """How many more runs this browser session may start in the coming hour (None: no limit)."""
    if limit is None:
        return None
    now = time.time() if now is None else now
    recent = [t for t in st.session_state.get(_RUN_TIMES, []) if now - t < 3600]
    st.session_state[_RUN_TIMES] = recent
    return max(0, limit - len(recent))


def record_run_started() -> None:
    st.session_state.setdefault(_RUN_TIMES, []).append(time.time())
