"""Run ids: short, URL-safe and unguessable. The id is the whole share link (`?run=<id>`)."""

from __future__ import annotations

import re
import secrets

RUN_ID_BYTES = 12  # 96 random bits
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{16}")


def new_run_id() -> str:
    """16 URL-safe characters that never start with "-" (a command line reads such an id as an
    option). Drawn again when it does (1 in 64): the first character then has 63 equally likely
    values instead of 64, so an id keeps 95.98 of its 96 random bits."""
    while True:
        run_id = secrets.token_urlsafe(RUN_ID_BYTES)
        if not run_id.startswith("-"):
            return run_id


def looks_like_dash_id(value: object) -> bool:
    """A run id a command line takes for an option: older ids may start with "-"."""
    return is_valid_run_id(value) and str(value).startswith("-")


def is_valid_run_id(value: object) -> bool:
    """True if `value` has the shape of a run id (it may still name no run)."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None
