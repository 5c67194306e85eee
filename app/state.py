"""Session and process helpers shared by the pages: page paths, the store and runner, form state
that survives page switches, and the per-session run-rate limit (reasoning.deployment_limits.RateLimiter).
Script thread only."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

from reasoning.deployment_limits import RateLimiter
from storage.runner import Runner, get_runner
from storage.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"
# Which session-state keys are form state, declared by prefix. A key starting with one of
# FORM_PREFIXES is written back on every run so its value outlives a visit to another page. Widgets
# whose value is an action, not a setting (buttons, file uploaders, download buttons), must not
# be: Streamlit refuses a value written to them (StreamlitValueAssignmentNotAllowedError), and a
# click must not repeat on the next page. Their keys come from action_key(), outside these prefixes
# (tests/app/test_form_state.py checks every such widget in app/ and pages/).
FORM_PREFIXES = ("cmp.", "sw.")
ACTION_PREFIX = "act."
_SESSION_KEY = "_rate_limit_session"


# The pages app/main.py serves under a path of their own, as (url path and pages/ file, title, icon);
# Compare, the landing page, is the root.
NAVIGATION = (
    ("run", "Run", ":material/play_circle:"),
    ("leaderboard", "Leaderboard", ":material/leaderboard:"),
    ("history", "History", ":material/history:"),
    ("sweep", "Sweep", ":material/stacked_line_chart:"),
)
PAGE_URL_PATHS = tuple(path for path, _, _ in NAVIGATION)


def share_link(page_url: str | None, run_id: str) -> str:
    """A run's share link seen from any page of the app (the browser's URL of that page; relative
    when it is unknown, as under AppTest): the app's root with ?run=, which the landing page opens
    on the run page. A link straight to /run made Streamlit's frontend probe /run/_stcore/health
    and /run/_stcore/host-config before the root's (two 404s per visit, streamlit/streamlit#7074).
    An app served under a base path keeps it."""
    base = (page_url or "").split("#")[0].split("?")[0].rstrip("/")
    head, _, last = base.rpartition("/")
    if last in PAGE_URL_PATHS and "//" in base and head.count("/") >= 2:  # the page's own path part
        base = head
    query = urlencode({"run": run_id})
    return f"{base}/?{query}" if base else f"./?{query}"


def page_path(name: str) -> Path:
    """pages/<name>.py: what st.Page and st.switch_page take."""
    return PAGES / f"{name}.py"


def action_key(form_key: str) -> str:
    """The key of an action widget (button, file uploader) of a form: "cmp.use_item" ->
    "act.cmp.use_item", which keep_form_state() leaves alone."""
    return ACTION_PREFIX + form_key


def is_form_key(key: object) -> bool:
    return isinstance(key, str) and key.startswith(FORM_PREFIXES)


def keep_form_state() -> None:
    """Streamlit drops a widget's value when a page without the widget runs; writing the value
    back on every run keeps it (the compare form is as the user left it after viewing a run).
    Only form keys are written back (see FORM_PREFIXES)."""
    for key in list(st.session_state):
        if is_form_key(key):
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
