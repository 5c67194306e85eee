"""Live view: how soon stored text reaches a real browser while 8 strategies stream at once.

`budget-arena serve` runs on a free port with a private BUDGET_ARENA_DATA_DIR. This process submits
runs through the storage runner, writing to the same SQLite file: --strategies chain_of_thought
strategies on a fake model streaming --tokens words each at one word per --token-delay seconds
(200 words/s per strategy by default). Headless chromium (/usr/bin/chromium, Playwright) opens each
run's page (`/run?run=<id>`) while it streams.

* Stored -> shown: every text row the recorder commits is timed right after its transaction
  (commit time, this process), and a MutationObserver in the page timestamps each pane's newest
  word as soon as the DOM shows it. The latency of a row is (first time its last word, or a later
  one, is on the page) - (its commit time). Rows committed before a pane's first paint are left
  out (they measure page load). Target: p95 under 0.5 s. Words name their pane (p3w17), so a
  wrapper around the page's WebSocket also timestamps each pane's newest word arriving from the
  server: the latency splits into stored -> in the browser (waiting for the next repaint, the
  fragment's script, the send) and in the browser -> on the page (rendering).
* A click while streaming: (1) the newest stream's expander of pane 0 is collapsed by a click:
  time until the page shows it collapsed, and whether it is still collapsed a second later, after
  a few repaints; (2) the "Cancel run" button nine tenths of the way through, a full rerun of the
  page script under load: time until the page answers (the run executes in this bench process: the
  app asks for the cancel through the store and this process's runner stops it). Target: answered
  within 1 s.
* The app process's resident memory (VmRSS) after the first page load and after every run.

The runs execute in this process, not in the app's: the app only reads the store and renders, as it
does for a run started by another process or opened from a share link (the runner's own cost at this
rate is small: see the bench-process CPU row).

The app is served as `budget-arena serve` serves it (app/asgi.py: with the live text feed), its
main script behind a wrapper that times each repaint of the panes. What-ifs, without editing app/:
--repaint S sets the panes' repaint interval to S (app.run_page.REPAINT_SECONDS and
FED_REPAINT_SECONDS); --app-env NAME=VALUE adds to the app's environment (Streamlit options such as
STREAMLIT_SERVER_FILE_WATCHER_TYPE=none).

    .venv/bin/python bench/live_view.py [--runs 10] [--strategies 8] [--tokens 1500] [--token-delay 0.005]
                                        [--repaint 0.25] [--app-env NAME=VALUE]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app.run_page  # noqa: E402
from bench.live_view_app import FEED, cpu_snapshot, repaints, rss_mb, start_app, stop_app  # noqa: E402
from bench.live_view_page import CANCEL_JS, EXPANDER_JS, OBSERVER_JS, browser_metrics  # noqa: E402
from reasoning.models.fake import FakeModel  # noqa: E402
from storage import RunSpec, get_runner, open_store  # noqa: E402
from storage.recorder import RunRecorder  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
SHIPPED_REPAINT = getattr(app.run_page, "FED_REPAINT_SECONDS" if FEED else "REPAINT_SECONDS")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1500, "height": 1100}
PROBLEM = "Count out loud, one word at a time, then give the answer."
WORD = re.compile(r"p(\d+)w(\d+)")
CANCEL_ANSWER = "Cancel requested"  # the app asks the runner of this process, through the store

@dataclass
class PaneWords(FakeModel):
    """Strategy i streams `p{i}w1 p{i}w2 ...`, so a word on the page or in a websocket message names its
    pane. The index comes from the strategy's temperature knob (i / 100)."""

    words: int = 1500

    async def stream(self, messages, *, max_tokens: int, temperature: float = 0.7, **options):  # type: ignore[no-untyped-def]
        # FakeModel reads `replies` before its first await, so concurrent calls cannot mix them up.
        self.replies = "".join(f"p{round(temperature * 100)}w{k} " for k in range(1, self.words + 1)) + "Answer: 1"
        async for chunk in super().stream(messages, max_tokens=max_tokens, temperature=temperature, **options):
            yield chunk


@dataclass
class Commit:
    run_id: str
    pane: int
    word: int
    at: float  # epoch seconds, right after the transaction


@dataclass
class RunResult:
    shown: list[float] = field(default_factory=list)  # stored -> on page, per committed text row
    arrived: list[float] = field(default_factory=list)  # stored -> in the browser (feed or websocket)
    by_feed: int = 0  # rows that reached the browser through the live text feed first
    rendered: list[float] = field(default_factory=list)  # in a websocket message -> on page
    waited: list[float] = field(default_factory=list)  # stored -> the next repaint starts reading
    delivered: list[float] = field(default_factory=list)  # that repaint starts -> in the browser
    repaint_wall: list[float] = field(default_factory=list)  # each repaint's script, wall seconds
    repaint_cpu: list[float] = field(default_factory=list)  # ... and its thread's CPU seconds
    repaints_per_second: float = 0.0  # repaints the app ran while streaming
    browser_busy: dict[str, float] = field(default_factory=dict)  # renderer main thread, seconds per second
    missing: int = 0
    expander_clicked: bool = False
    expander_ms: float | None = None  # None: it never showed collapsed (within 5 s)
    expander_stays: bool | None = None
    cancel_ms: float | None = None
    rss_mb: float = 0.0
    words_per_second: float = 0.0
    paints_per_second: float = 0.0
    kb_per_second: float = 0.0
    messages_per_repaint: float = 0.0  # websocket messages the page received per repaint of the app
    cpu: dict[str, float] = field(default_factory=dict)  # cores busy while streaming, by process


COMMITS: list[Commit] = []


def instrument_recorder() -> None:
    """Time every committed text row (bench only: wraps the recorder's transaction)."""
    original = RunRecorder._write_batch

    def timed(self: RunRecorder, batch) -> None:  # type: ignore[no-untyped-def]
        original(self, batch)
        now = time.time()
        for record in batch.records:
            if record.kind == "text" and record.parts:
                words = WORD.findall("".join(record.parts[-3:]))
                if words:
                    pane, word = words[-1]
                    COMMITS.append(Commit(self.run_id, int(pane), int(word), now))

    RunRecorder._write_batch = timed  # type: ignore[method-assign]


# ---- one run ---------------------------------------------------------------------------------


def first_at_or_after(sightings: list[tuple[int, float]], word: int) -> float | None:
    return next((at for seen, at in sightings if seen >= word), None)


def by_pane(rows: list[list[float]]) -> dict[int, list[tuple[int, float]]]:
    panes: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for pane, word, at in rows:
        panes[int(pane)].append((int(word), at / 1000))
    return panes


def one_run(page, cdp, url: str, args: argparse.Namespace, server_pid: int, timings: Path) -> RunResult:  # noqa: ANN001
    model = PaneWords(name="fake:bench", token_delay=args.token_delay, words=args.tokens)
    strategies = [("chain_of_thought", {"max_tokens": args.tokens + 50, "temperature": i / 100})
                  for i in range(args.strategies)]
    runner = get_runner()
    run_id = runner.submit(RunSpec(PROBLEM, model, strategies))
    started = time.time()
    page.goto(f"{url}/run?run={run_id}")
    page.locator(".st-key-streams-0 details[open]").wait_for(timeout=30_000)
    before = cpu_snapshot(server_pid)
    busy_before = browser_metrics(cdp)
    result = RunResult()
    # Click while the strategies are still streaming (a third of the way through).
    time.sleep(max(0.0, args.tokens * args.token_delay / 3 - (time.time() - started)))
    if runner.is_active(run_id):
        expander = page.evaluate(EXPANDER_JS)
        if expander:
            result.expander_clicked = True
            result.expander_ms, result.expander_stays = expander
    # Cancel late (nine tenths through): the run really stops (its runner, here, polls the store),
    # so the rows before it are the ones timed.
    time.sleep(max(0.0, args.tokens * args.token_delay * 0.9 - (time.time() - started)))
    if runner.is_active(run_id):
        result.cancel_ms = page.evaluate(CANCEL_JS, CANCEL_ANSWER)
    runner.wait(run_id, 600)
    after = cpu_snapshot(server_pid)
    busy_after = browser_metrics(cdp)
    ended = time.time()
    streaming = after["wall"] - before["wall"]
    result.cpu = {k: (after[k] - before[k]) / streaming for k in ("app", "browser", "bench")}
    result.browser_busy = {k: (busy_after[k] - busy_before[k]) / streaming for k in busy_after}
    runs = repaints(timings, before["epoch"], ended)
    result.repaint_wall = [wall for _, wall, _ in runs]
    result.repaint_cpu = [cpu for _, _, cpu in runs]
    result.repaints_per_second = len(runs) / streaming
    starts = [start for start, _, _ in repaints(timings, started, ended + 10)]
    result.words_per_second = args.tokens / (ended - started)

    commits = [c for c in COMMITS if c.run_id == run_id]
    final = {c.pane: c.word for c in commits}
    deadline = time.monotonic() + 10
    seen: list[list[float]] = []
    while time.monotonic() < deadline:
        seen = page.evaluate("window.__seen")
        shown = {int(p): int(k) for p, k, _ in seen}
        if all(shown.get(p, -1) >= k for p, k in final.items()):
            break
        time.sleep(0.1)
    arrived = by_pane(page.evaluate("window.__arrived"))
    pushed = by_pane(page.evaluate("window.__pushed"))
    painted = by_pane(seen)
    for commit in commits:
        sightings = painted.get(commit.pane, [])
        if not sightings or commit.at <= sightings[0][1]:
            continue  # committed before the pane's first paint: page load, not live latency
        shown_at = first_at_or_after(sightings, commit.word)
        in_repaint = first_at_or_after(arrived.get(commit.pane, []), commit.word)
        in_feed = first_at_or_after(pushed.get(commit.pane, []), commit.word)
        arrived_at = min((t for t in (in_repaint, in_feed) if t is not None), default=None)
        if shown_at is None:
            result.missing += 1
            continue
        result.shown.append(shown_at - commit.at)
        if arrived_at is not None:
            result.arrived.append(arrived_at - commit.at)
            result.rendered.append(shown_at - arrived_at)
            if arrived_at == in_feed:
                result.by_feed += 1
                continue
            # The first repaint that started after the commit read it (a repaint that started
            # before may have read it too; then the wait is overstated by less than one repaint).
            next_start = next((start for start in starts if start >= commit.at), None)
            if next_start is not None and next_start <= arrived_at:
                result.waited.append(next_start - commit.at)
                result.delivered.append(arrived_at - next_start)
    rates = [len(v) / (v[-1][1] - v[0][1]) for v in painted.values() if len(v) > 1 and v[-1][1] > v[0][1]]
    result.paints_per_second = statistics.median(rates) if rates else 0.0
    messages = [m for m in page.evaluate("window.__messages") if before["epoch"] <= m[0] / 1000 <= ended]
    result.kb_per_second = sum(size for _, size in messages) / 1024 / streaming
    result.messages_per_repaint = len(messages) / len(runs) if runs else math.nan
    result.rss_mb = rss_mb(server_pid)
    return result


# ---- report ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else math.nan


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def spread(values: list[float], fmt: str = "{:.0f}", unit: str = "") -> str:
    return f"{fmt.format(min(values))} - {fmt.format(max(values))}{unit}" if values else "n/a"


def median(values: list[float], fmt: str = "{:.0f}", unit: str = "") -> str:
    return fmt.format(statistics.median(values)) + unit if values else "n/a"


def report(results: list[RunResult], args: argparse.Namespace, rss_start: float, load: tuple[float, ...]) -> None:
    def pooled(name: str) -> list[float]:
        return [x for r in results for x in getattr(r, name)]

    def per_run(name: str, q: float) -> list[float]:
        return [percentile(getattr(r, name), q) * 1000 for r in results if getattr(r, name)]

    shown, arrived, rendered = pooled("shown"), pooled("arrived"), pooled("rendered")
    expander = [r.expander_ms for r in results if r.expander_ms is not None]
    cancel = [r.cancel_ms for r in results if r.cancel_ms is not None]
    print(f"\n{len(results)} runs x {args.strategies} strategies streaming {args.tokens:,} words each at one word per "
          f"{args.token_delay * 1000:g} ms (fake model); headless chromium on /run?run=<id>; "
          f"load average {load[0]:.1f} at the start ({os.cpu_count()} cores); live page repaint interval "
          f"{args.repaint if args.repaint is not None else SHIPPED_REPAINT:g} s"
          f"{', text pushed by the live feed' if FEED else ', no live feed'}"
          f"{' (--repaint what-if)' if args.repaint is not None else ' (as shipped)'}"
          f"{''.join(f'; app env {k}={v}' for k, v in args.app_env)}\n")
    print("| figure | all runs pooled | per-run spread (min - max) |")
    print("|---|---|---|")
    print(f"| stored -> on page, p50 | {ms(percentile(shown, 50))} | {spread(per_run('shown', 50), unit=' ms')} |")
    print(f"| **stored -> on page, p95** (target < 500 ms) | {ms(percentile(shown, 95))} | "
          f"{spread(per_run('shown', 95), unit=' ms')} |")
    print(f"| stored -> on page, max | {ms(max(shown))} | |")
    print(f"|   stored -> reaches the browser (live feed, or next repaint + script + websocket), p50 / p95 | "
          f"{ms(percentile(arrived, 50))} / {ms(percentile(arrived, 95))} | |")
    print(f"|   rows that reached the browser through the live text feed first | "
          f"{sum(r.by_feed for r in results):,} of {len(arrived):,} | |")
    print(f"|   reaches the browser -> on page (rendering), p50 / p95 | "
          f"{ms(percentile(rendered, 50))} / {ms(percentile(rendered, 95))} | |")
    waited, delivered = pooled("waited"), pooled("delivered")
    wall, cpu = pooled("repaint_wall"), pooled("repaint_cpu")
    print(f"|   (rows first in a repaint) stored -> the next repaint starts (the poll's wait), p50 / p95 | "
          f"{ms(percentile(waited, 50))} / {ms(percentile(waited, 95))} | |")
    print(f"|   that repaint starts -> in the browser (script, websocket), p50 / p95 | "
          f"{ms(percentile(delivered, 50))} / {ms(percentile(delivered, 95))} | |")
    print(f"| a repaint's script: wall, p50 / p95 | {ms(percentile(wall, 50))} / {ms(percentile(wall, 95))} | |")
    print(f"| a repaint's script: CPU, p50 / p95 | {ms(percentile(cpu, 50))} / {ms(percentile(cpu, 95))} | |")
    print(f"| repaints per second (app) | {median([r.repaints_per_second for r in results], '{:.1f}')} | "
          f"{spread([r.repaints_per_second for r in results], '{:.1f}')} |")
    for name, label in (("task", "all tasks"), ("script", "JavaScript"), ("layout", "style and layout")):
        values = [r.browser_busy.get(name, math.nan) for r in results]
        print(f"| browser main thread busy while streaming: {label} | {median(values, '{:.2f}', ' s/s')} | "
              f"{spread(values, '{:.2f}')} |")
    print(f"| text rows timed (not on the page within 10 s) | {len(shown):,} ({sum(r.missing for r in results)}) | |")
    print(f"| repaints per second seen in each pane | {median([r.paints_per_second for r in results], '{:.1f}')} | "
          f"{spread([r.paints_per_second for r in results], '{:.1f}')} |")
    print(f"| websocket traffic to the page | {median([r.kb_per_second for r in results], unit=' KB/s')} | "
          f"{spread([r.kb_per_second for r in results], unit=' KB/s')} |")
    print(f"| websocket messages per repaint | {median([r.messages_per_repaint for r in results])} | "
          f"{spread([r.messages_per_repaint for r in results])} |")
    print(f"| words streamed per second per strategy (asked: {1 / args.token_delay:.0f}) | "
          f"{median([r.words_per_second for r in results])} | {spread([r.words_per_second for r in results])} |")
    for name, label in (("app", "app process (Streamlit)"), ("browser", "chromium"),
                        ("bench", "bench process (runner, fake model, store)")):
        values = [r.cpu[name] for r in results]
        print(f"| CPU while streaming: {label} | {median(values, '{:.2f}', ' cores')} | {spread(values, '{:.2f}')} |")
    print(f"| **click: expander collapses** (target < 1 s) | {median(expander, unit=' ms')} | "
          f"{spread(expander, unit=' ms')} |")
    clicked = sum(r.expander_clicked for r in results)
    print(f"|   collapsed within 5 s / still collapsed 1 s later, after repaints | {len(expander)}/{clicked} / "
          f"{sum(bool(r.expander_stays) for r in results)}/{clicked} | |")
    print(f"| **click: Cancel run answered** (a full rerun; target < 1 s) | {median(cancel, unit=' ms')} | "
          f"{spread(cancel, unit=' ms')} |")
    print(f"| app RSS after the first page load | {rss_start:.0f} MB | |")
    print(f"| **app RSS after {len(results)} runs** | {results[-1].rss_mb:.0f} MB | "
          f"{spread([r.rss_mb for r in results], unit=' MB')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--strategies", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=1500, help="words each strategy streams")
    parser.add_argument("--token-delay", type=float, default=0.005, help="fake model seconds per word")
    parser.add_argument("--repaint", type=float, default=None,
                        help="what-if: run the app with its repaint interval set to this (default: as shipped)")
    parser.add_argument("--app-env", action="append", default=[], type=lambda kv: tuple(kv.split("=", 1)),
                        metavar="NAME=VALUE", help="what-if: extra environment for the app, e.g. "
                        "STREAMLIT_SERVER_FILE_WATCHER_TYPE=none (repeatable)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = tempfile.TemporaryDirectory(prefix="budget-arena-live-")
    data = Path(tmp.name)
    os.environ["BUDGET_ARENA_DATA_DIR"] = str(data)
    os.environ.pop("BUDGET_ARENA_DB", None)
    open_store()  # creates the schema before the app opens the file
    instrument_recorder()
    load = os.getloadavg()
    server, url = start_app(data, args.repaint, dict(args.app_env))
    results: list[RunResult] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(OBSERVER_JS)
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(url + "/")
            page.locator("h1").first.wait_for(timeout=60_000)
            rss_start = rss_mb(server.pid)
            for i in range(args.runs):
                r = one_run(page, cdp, url, args, server.pid, data / "repaints.txt")
                results.append(r)
                print(f"run {i + 1}: {len(r.shown)} rows, p50 {ms(percentile(r.shown, 50))}, p95 "
                      f"{ms(percentile(r.shown, 95))} (to browser p95 {ms(percentile(r.arrived, 95))}), missing "
                      f"{r.missing}, expander {r.expander_ms} ms (stays {r.expander_stays}), cancel {r.cancel_ms} ms, "
                      f"{r.words_per_second:.0f} words/s, {r.paints_per_second:.1f} paints/s, "
                      f"CPU {', '.join(f'{k} {v:.2f}' for k, v in r.cpu.items())}, RSS {r.rss_mb:.0f} MB",
                      file=sys.stderr)
            browser.close()
    finally:
        get_runner().close()
        stop_app(server)
    report(results, args, rss_start, load)
    tmp.cleanup()


if __name__ == "__main__":
    main()
