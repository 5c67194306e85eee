"""Helpers shared by tests: CI-aware skips, free ports, waiting on a server, stopping a process, and
the browser tests' app server and chromium (tests/conftest.py's `browser` fixture launches it), and a
private store the app under AppTest opens too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Debian's chromium, driven by Playwright (never `playwright install`: no browser download).
ROOT = Path(__file__).resolve().parents[1]  # the repository
MAIN = str(ROOT / "app" / "main.py")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


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


def require_browser() -> None:
    """Skip a browser test with the reason on a user's machine, fail it under CI, unless chromium
    and Playwright are installed."""
    if not CHROMIUM.exists():
        require_in_ci(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_in_ci("playwright is missing: install the project (pip install -e '.[test]')")


@contextmanager
def launched_browser() -> Iterator[Any]:
    """A headless chromium through Playwright, closed on exit."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served_app(data: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`budget-arena serve` (what `make run` starts) on a free port, with `data` as its data directory
    (so its own SQLite store, whatever BUDGET_ARENA_DB says here) and `env` added to this process's
    environment; yields its URL once /_stcore/health answers, stops its process group on exit. Checks
    the browser first: no server starts for a test that will be skipped."""
    require_browser()
    command = Path(sys.executable).with_name("budget-arena")
    if not command.exists():
        require_in_ci(f"{command} is missing: install the project (pip install -e '.[test]')")
    port = free_port()
    environment = {**os.environ, "BUDGET_ARENA_DATA_DIR": str(data), **(env or {})}
    environment.pop("BUDGET_ARENA_DB", None)
    log_path = data / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(command), "serve", "--port", str(port)], env=environment, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/_stcore/health", server, log_path)
            yield url
        finally:
            stop_process(server, group=True)


@contextmanager
def page_store(directory: Path) -> Iterator[Any]:
    """A private SQLite store in `directory` that the app under AppTest opens too (BUDGET_ARENA_DB);
    its runner is closed and the store forgotten after."""
    from storage.runner import get_runner
    from storage.store import forget_store, open_store

    url = f"sqlite:///{directory / 'runs.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUDGET_ARENA_DB", url)
        store = open_store(url)
        try:
            yield store
        finally:
            get_runner(store).close()
            forget_store(store)
