"""`budget-arena serve`: the web app, supervised so a stop signal ends its runs `interrupted`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import STOP_SIGNALS, DbOption, exit_code_of, open_store_or_exit, out
from storage.importer import MAX_FILE_BYTES

UPLOAD_LIMIT_MB = MAX_FILE_BYTES // 1_000_000  # Streamlit's server.maxUploadSize is in whole MB


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 in Docker).")] = "127.0.0.1",
    db: DbOption = None,
) -> None:
    """Start the web app (Streamlit). SIGTERM or Ctrl-C stop it: runs in progress end interrupted (exit 143 or 130)."""
    # Open (and migrate) the store first: a bad URL fails here with a clear message, not in a page.
    store = open_store_or_exit(db)
    if db:
        os.environ["BUDGET_ARENA_DB"] = db
    command = streamlit_command(port, host)
    out.print(f"Budget Arena on http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}")
    if os.name != "posix":
        raise typer.Exit(subprocess.run(command, check=False).returncode)
    raise typer.Exit(_supervise(command, store))


def streamlit_command(port: int, host: str) -> list[str]:
    """The server's command line: the options of .streamlit/config.toml, given here too so they hold
    wherever `serve` is started."""
    main = Path(__file__).resolve().parents[1] / "asgi.py"  # app/main.py, with the run page's live text feed
    return [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.port", str(port), "--server.address", host,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button
        # The uploader states this limit ("50MB per file"); it is the importer's, not Streamlit's 200 MB.
        "--server.maxUploadSize", str(UPLOAD_LIMIT_MB),
        # No full garbage collection after every script run: a live run page reruns its fragments every
        # second, and each gc.collect(2) held the GIL for most of the app's CPU, stalling the live feed.
        "--runner.postScriptGC", "false",
    ]


SERVE_STOP_WAIT = 20.0  # seconds the server gets to stop after a signal before it is killed


def _supervise(command: list[str], store: Any) -> int:
    """Run the Streamlit server as a child and stay its parent (PID 1 in Docker, which stops a
    container with SIGTERM): SIGTERM and SIGINT are passed on, the server stops its runs (they end
    `interrupted`, events kept), and whatever it left active is marked interrupted here, even if it
    had to be killed. Returns 128 + the signal (143, 130), else the server's own exit code."""
    from storage.liveness import hostname, mark_interrupted, runs_owned_by

    child = subprocess.Popen(command)
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    stop_by: float | None = None
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and stop_by is None:
                    stop_by = time.monotonic() + SERVE_STOP_WAIT
                if stop_by is not None and time.monotonic() > stop_by:  # asked to stop, still running
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    left = runs_owned_by(store, hostname(), child.pid)
    how = signal.Signals(received[0]).name if received else f"exit code {code}"
    mark_interrupted(store, left, reason=f"interrupted: the server running it stopped ({how})")
    return exit_code_of(received[0]) if received else code
