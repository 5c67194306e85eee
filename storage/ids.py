"""Run ids: short, URL-safe and unguessable. The id is the whole share link (`?run=<id>`)."""

from __future__ import annotations

import re
import secrets

RUN_ID_BYTES = 12  # 96 random bits
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{16}")


def new_run_id() -> str:
    return secrets.token_urlsafe(RUN_ID_BYTES)


def is_valid_run_id(value: object) -> bool:
    """True if `value` has the shape of a run id (it may still name no run)."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None
