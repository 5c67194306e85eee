"""Helpers shared by tests."""

from __future__ import annotations

import os
import socket

import pytest


def require_in_ci(reason: str) -> None:
    """Skip with a visible reason on a user's machine; fail under CI (CI=true), where it must work."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI but unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
