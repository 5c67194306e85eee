"""The accuracy-budget chart of a store's results as a PNG, without vl-convert: Streamlit draws the
chart (its bundled Vega renderer, the same as the app's Leaderboard page) and Debian's headless
chromium, driven by Playwright, photographs it. `budget-arena leaderboard --chart x.png` needs the
vl-convert-python package instead; this script needs only what the test extras install.

    BUDGET_ARENA_DATA_DIR=/tmp/real_sweep .venv/bin/python docs/sweep/chart_png.py docs/sweep/accuracy_budget.png
    .venv/bin/python docs/sweep/chart_png.py out.png --db sqlite:////path/budget-arena.db --sweep sw-...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
APP = """
import json, sys
import streamlit as st
st.set_page_config(layout="centered")
st.vega_lite_chart(json.load(open(sys.argv[1])), width="content")
"""


def chart_spec(db: str | None, sweep_id: str | None, width: int, height: int) -> dict:
    from app.cli.leaderboard import board_or_none
    from app.leaderboard_charts import accuracy_budget_chart
    from app.leaderboard_view import cap_title
    from storage.store import open_store

    board = board_or_none(open_store(db) if db else open_store(), sweep_id=sweep_id)
    if board is None:
        raise SystemExit("no scored results in this store")
    chart = accuracy_budget_chart(board.curve, budget_title=f"budget ({cap_title(board.cap)}, log scale)")
    return chart.properties(width=width, height=height).to_dict()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(spec: dict, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        spec_path, app_path = Path(tmp) / "spec.json", Path(tmp) / "app.py"
        spec_path.write_text(json.dumps(spec))
        app_path.write_text(APP)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--", str(spec_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("streamlit did not start") from None
                    time.sleep(0.3)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 900, "height": 700}, device_scale_factor=2)
                page.goto(url)
                chart = page.locator('[data-testid="stVegaLiteChart"]').first
                chart.locator("canvas, svg").first.wait_for(timeout=60_000)
                page.wait_for_timeout(1000)  # let the chart finish its first paint
                out.parent.mkdir(parents=True, exist_ok=True)
                chart.screenshot(path=str(out))
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--db", help="store URL (default: the configured store)")
    parser.add_argument("--sweep", help="only this sweep's results")
    parser.add_argument("--width", type=int, default=560)
    parser.add_argument("--height", type=int, default=340)
    args = parser.parse_args()
    screenshot(chart_spec(args.db, args.sweep, args.width, args.height), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
