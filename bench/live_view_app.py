"""bench/live_view.py's app under test: served as `budget-arena serve` serves it (its Streamlit
options; app/asgi.py with the live text feed, or app/main.py in a tree without it), its main script
behind a wrapper that times each repaint of the panes; the CPU time and memory of its processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "app" / "asgi.py").exists()  # a tree with the live text feed (an older one has none)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The app's own main script behind a wrapper that (1) times every repaint of the live body (start,
# wall and thread-CPU seconds, one line each in BENCH_TIMINGS) and (2) for --repaint, sets
# app.run_page's repaint intervals first (a what-if for the repaint interval, without editing app/).
# The server is started with `budget-arena serve`'s own Streamlit options (app.cli.serve).
BENCH_MAIN = """import functools, os, runpy, time
import app.run_page as page
if os.environ.get("BENCH_REPAINT_SECONDS"):
    page.REPAINT_SECONDS = page.FED_REPAINT_SECONDS = float(os.environ["BENCH_REPAINT_SECONDS"])
if not getattr(page, "_bench_timed", False):  # the main script runs again at every full rerun
    body = page.{body}

    @functools.wraps(body)
    def timed(*args, **kwargs):
        start, wall, cpu = time.time(), time.perf_counter(), time.thread_time()
        try:
            return body(*args, **kwargs)
        finally:
            with open(os.environ["BENCH_TIMINGS"], "a") as log:
                log.write(f"{{start}} {{time.perf_counter() - wall}} {{time.thread_time() - cpu}}\\n")

    page.{body} = timed
    page._bench_timed = True
runpy.run_path({main!r}, run_name="__main__")
"""
LIVE_BODY = "_live_body"  # the function each repaint of the panes runs (app.run_page)
# ...served as app/asgi.py serves app/main.py: with the run page's live text feed (app.live_feed).
BENCH_ASGI = """import streamlit as st
from app.live_feed import routes
app = st.App({main!r}, routes=routes(st.get_option("server.baseUrlPath")))
"""


def start_app(data: Path, repaint: float | None, app_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    from app.cli.serve import streamlit_command

    port = free_port()
    env = {**os.environ, **app_env, "BUDGET_ARENA_DATA_DIR": str(data), "BENCH_TIMINGS": str(data / "repaints.txt")}
    env.pop("BUDGET_ARENA_DB", None)
    if repaint is not None:
        env["BENCH_REPAINT_SECONDS"] = str(repaint)
    log = (data / "server.log").open("w")
    wrapper = data / "bench_main.py"
    wrapper.write_text(BENCH_MAIN.format(main=str(ROOT / "app" / "main.py"), body=LIVE_BODY))
    command = streamlit_command(port, "127.0.0.1")
    if FEED:
        served = data / "bench_asgi.py"
        served.write_text(BENCH_ASGI.format(main=str(wrapper)))
        command[command.index(str(ROOT / "app" / "asgi.py"))] = str(served)
    else:
        command[command.index(str(ROOT / "app" / "main.py"))] = str(wrapper)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited:\n{(data / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the app did not start within 60 s")


def stop_app(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads)."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children[int(fields[1])].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_snapshot(app_pid: int) -> dict[str, float]:
    app = [app_pid, *descendants(app_pid)]
    browser = [pid for pid in descendants(os.getpid()) if pid not in app]
    return {"app": cpu_seconds(app), "browser": cpu_seconds(browser), "bench": time.process_time(),
            "wall": time.monotonic(), "epoch": time.time()}


def repaints(timings: Path, start: float, end: float) -> list[tuple[float, float, float]]:
    """(start epoch, wall s, CPU s) of each repaint of the live body that started in [start, end]."""
    if not timings.exists():
        return []
    rows = [tuple(float(x) for x in line.split()) for line in timings.read_text().splitlines() if line.strip()]
    return sorted(r for r in rows if start <= r[0] <= end)  # type: ignore[misc]
