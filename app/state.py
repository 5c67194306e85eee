"""Session and process helpers shared by the pages: page paths, the store and runner, form state
that survives page switches, and the per-session run-rate limit (reasoning.limits.RateLimiter).
Script thread only."""

from __future__ import annotations

import uuid
from pathlib import Path

import streamlit as st

from reasoning.limits import RateLimiter
from storage.runner import Runner, get_runner
from storage.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"
FORM_PREFIXES = ("cmp.", "sw.")  # widget keys whose values should outlive a visit to another page
_SESSION_KEY = "_rate_limit_session"


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


@st.cache_resource(show_spinner=False)
def _rate_limiter(per_hour: int | None) -> RateLimiter:
    """One limiter per process (per configured rate), shared by every browser session."""
    return RateLimiter(per_hour)


def session_key() -> str:
    """A random id for this browser session: what the rate limiter counts runs by."""
    return st.session_state.setdefault(_SESSION_KEY, uuid.uuid4().hex)


def take_run_slot(per_hour: int | None) -> None:
    """Count one run against this session's hourly allowance; LimitError when it is used up."""
    _rate_limiter(per_hour).acquire(session_key())
