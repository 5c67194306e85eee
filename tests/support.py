"""Helpers shared by tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

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


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> bytes:
    """Poll `url` until it answers 200 and return the body; fail with the server's log if the
    process exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return response.read()
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"no answer from {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen, *, group: bool = False) -> None:
    """SIGTERM (to the whole process group if it was started with start_new_session), then SIGKILL
    after 10 s."""
    if process.poll() is not None:
        return
    (os.killpg if group else os.kill)(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
        process.wait(10)
