"""The run page in a real browser: live spend, call states, the search tree, the summary
table and the page at a phone's and a wide screen's width.

`budget-arena serve` runs on a free port with a private data directory; this process records the
runs into the same SQLite store through the storage runner (as bench/live_view.py does), on
scripted models, so each state lasts as long as the test needs on a loaded machine. The page only
reads the store, as it does for a run of another process or a share link. Debian's chromium through
Playwright (never `playwright install`). Screenshots: run-420.png and run-1920.png under
BUDGET_ARENA_SCREENSHOTS (docs/screenshots for the README), else .pytest-screenshots.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reasoning.budget import Budget
from reasoning.model_protocol import Chunk, Message
from reasoning.models.fake import FakeModel
from tests.reasoning.test_strategies_search import SCORES, Scripted
from tests.support import ROOT, served_app

pytestmark = [pytest.mark.browser]

SCREENSHOTS = Path(os.environ.get("BUDGET_ARENA_SCREENSHOTS") or ROOT / ".pytest-screenshots").resolve()
VIEWPORT = {"width": 1500, "height": 1100}
REASONING = "Let me think step by step. Two and two make four. Answer: 4"


@dataclass
class Served:
    url: str
    runner: Any  # storage.runner.Runner on the server's store


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from storage import get_runner, open_store
    from storage.store import forget_store

    data = tmp_path_factory.mktemp("browser-run-data")
    with served_app(data) as url:
        store = open_store(f"sqlite:///{data / 'budget-arena.db'}")
        try:
            runner = get_runner(store)
            yield Served(url, runner)
            runner.close()
        finally:
            forget_store(store)


def submit(served: Served, model: Any, strategies: Sequence, budget: Budget, *, reference: str | None = "4",
           problem: str = "What is 2 + 2?") -> str:
    from storage import RunSpec

    return served.runner.submit(RunSpec(problem=problem, model=model, strategies=list(strategies), budget=budget,
                                        reference=reference))


def open_page(browser, served: Served, run_id: str, viewport: dict[str, int] = VIEWPORT):
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{served.url}/run?run={run_id}")
    page.locator(".st-key-pane-0").wait_for(timeout=60_000)
    return page


def pane_text(page, index: int = 0) -> str:
    return page.evaluate("i => (document.querySelector(`.st-key-pane-${i}`) || {}).innerText || ''", index)


def spend_shown(text: str) -> int | None:
    """The tokens a pane's spend bar shows ("≈ 1,234 tokens / 3,000 tokens")."""
    found = re.search(r"(?:≈ )?([\d,]+) tokens? / ", text)
    return int(found.group(1).replace(",", "")) if found else None


def badge(text: str) -> str:
    """The status after a pane's title (its first line)."""
    return text.split("\n", 1)[0].rsplit(" ", 2)[-1] if text else ""


@dataclass
class GatedModel(FakeModel):
    """A FakeModel whose calls wait until the test opens the gate: the page is open before the run
    moves (a page load takes seconds on a loaded machine, longer than many a run)."""

    gate: threading.Event | None = None

    async def _wait_for_gate(self) -> None:
        if self.gate is not None and not self.gate.is_set():
            await asyncio.to_thread(self.gate.wait, 120)

    async def stream(self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7,
                     **options: Any) -> AsyncIterator[Chunk]:
        await self._wait_for_gate()
        async for chunk in super().stream(messages, max_tokens=max_tokens, temperature=temperature, **options):
            yield chunk


def gated(gate: threading.Event, **fake: Any) -> GatedModel:
    return GatedModel(gate=gate, **fake)


# ---- live spend ---------------------------------------------------------------------------------


def test_a_panes_spend_grows_while_its_one_call_streams(served: Served, browser) -> None:
    """One chain-of-thought call streaming 90 words at 0.15 s each (~14 s): the spend bar moves with
    the text, marked ≈, and settles on the reported usage when the call ends."""
    words = " ".join(f"w{i}" for i in range(90)) + " Answer: 4"
    gate = threading.Event()
    run_id = submit(served, gated(gate, replies=words, token_delay=0.15), ["chain_of_thought"],
                    Budget(total_tokens=3000))
    page = open_page(browser, served, run_id)
    gate.set()
    seen: list[int] = []
    provisional = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = pane_text(page)
        if "Stopped:" in text:
            break
        tokens = spend_shown(text)
        if tokens is not None and (not seen or tokens != seen[-1]):
            seen.append(tokens)
        provisional = provisional or "≈" in text
        time.sleep(0.3)
    else:
        pytest.fail(f"the run did not finish; pane: {pane_text(page)}")
    rises = sum(1 for a, b in zip(seen, seen[1:], strict=False) if b > a)
    assert rises >= 4, f"the spend should grow while the call streams: {seen}"
    assert provisional, "a spend counted from streamed text is marked ≈"
    time.sleep(1.5)  # the page reruns once when the run ends
    final = pane_text(page)
    from storage.queries import get_run

    stored = get_run(run_id, store=served.runner.store)
    assert stored is not None and stored.strategies[0].calls == 1  # one call all along
    assert spend_shown(final) == stored.strategies[0].total_tokens and "≈" not in final.split("Stopped:")[0]
    page.context.close()


# ---- streamed text: pushed by the live feed, shown as text ----------------------------------------

# Counts the text messages of the page's WebSockets (the live feed's; Streamlit's own are binary).
FEED_COUNTER = """
(() => {
  window.__feedMessages = 0;
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => { if (typeof e.data === 'string') window.__feedMessages++; });
    return ws;
  };
  for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) window.WebSocket[name] = Native[name];
  window.WebSocket.prototype = Native.prototype;
})();
"""
# A running pane's stream text as written: one block per line, a long line continued in blocks
# marked ba-cont (app/components/live_pane_streams.js).
SHOWN_TEXT = """i => [...(document.querySelector(`.st-key-streams-${i} .ba-text`) || {children: []}).children]
  .map((line, k) => (k && !line.classList.contains('ba-cont') ? '\\n' : '') + line.textContent).join('')"""
HOSTILE = ("Let me think. <b>2</b> + 2 **is** [4](http://x.test) <img src=x onerror=alert(1)>\n"
           "<script>alert(2)</script>\n\n$x^2$ " + " ".join(f"w{i}" for i in range(60)))


@dataclass
class HeldModel(GatedModel):
    """Streams its reply, then holds the call open until `release` is set: the page still shows the
    entry as running, its text as the live view drew it."""

    release: threading.Event | None = None

    async def stream(self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7,
                     **options: Any) -> AsyncIterator[Chunk]:
        async for chunk in super().stream(messages, max_tokens=max_tokens, temperature=temperature, **options):
            if self.release is not None and chunk.usage is not None:  # the last chunk: hold it back
                await asyncio.to_thread(self.release.wait, 120)
            yield chunk


def test_streamed_text_is_pushed_as_it_is_stored_and_shown_as_written(served: Served, browser) -> None:
    """A running entry's text arrives through the live feed (a WebSocket of its own, app.live_feed)
    between the page's repaints, ends up exactly the model's text however the feed and the repaints
    interleave (no word twice, none lost), and markup in it is text: no element is made of it."""
    gate, release = threading.Event(), threading.Event()
    run_id = submit(served, HeldModel(gate=gate, release=release, replies=HOSTILE, token_delay=0.05),
                    ["chain_of_thought"], Budget(total_tokens=3000))
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(FEED_COUNTER)
    page = context.new_page()
    page.goto(f"{served.url}/run?run={run_id}")
    page.locator(".st-key-pane-0").wait_for(timeout=60_000)
    gate.set()
    try:
        page.wait_for_function(f"() => ({SHOWN_TEXT})(0).endsWith('w59')", timeout=60_000)
        time.sleep(2.5)  # repaints after the last word: they must not add it again
        assert page.evaluate(f"() => ({SHOWN_TEXT})(0)") == HOSTILE
        assert page.evaluate("window.__feedMessages") > 0, "the text should come through the live feed"
        made = set(page.evaluate("() => [...document.querySelectorAll('.st-key-pane-0 *')].map(e => e.tagName)"))
        assert not {"B", "IMG", "SCRIPT", "A", "EM", "CODE"} & made, made
        assert badge(pane_text(page)) == "generating"
    finally:
        release.set()
    page.wait_for_function("() => (document.querySelector('.st-key-pane-0') || {}).innerText?.includes('Stopped:')",
                           timeout=60_000)
    context.close()



# The component alone, in a blank page: a fake WebSocket stands in for the feed, so the test decides
# how the feed's deltas and the repaints interleave.
FAKE_SOCKET = """
window.sockets = [];
window.WebSocket = class { constructor(url) { this.url = String(url); window.sockets.push(this);
  setTimeout(() => this.onopen && this.onopen(), 0); } close() {} };
"""


def test_the_stream_component_merges_the_feed_and_the_repaints(browser) -> None:
    """However deltas and repaints interleave (the feed ahead of a repaint, a delta again after a
    reconnect, a repaint ahead of the feed), each stream shows its text once, in order; a stream
    the feed starts gets a box; a repaint that disagrees redraws; markup stays text; a long line is
    cut into blocks that read back as the line."""
    page = browser.new_page()
    page.route("http://arena.test/**", lambda route: route.fulfill(body="<div id='host'></div>", content_type="text/html"))
    page.goto("http://arena.test/run?run=R")
    page.add_script_tag(content=FAKE_SOCKET)
    code = (ROOT / "app" / "components" / "live_pane_streams.js").read_text()
    page.evaluate("async code => { window.draw = (await import(URL.createObjectURL(new Blob([code], "
                  "{type: 'text/javascript'})))).default; }", code)

    def draw(seq: int, *streams: tuple[str, str]) -> None:
        data = {"pane": 0, "seq": seq, "feed": "_arena/live/R", "live": True, "older": [],
                "streams": [{"key": k, "label": k, "text": t, "thinking": "", "chars": len(t), "open": True}
                            for k, t in streams]}
        page.evaluate("d => window.draw({parentElement: document.getElementById('host'), data: d})", data)

    def push(*rows: tuple, kind: str = "text") -> None:
        message = {"seq": max(r[0] for r in rows), "rows": [[seq, 0, key, kind, text] for seq, key, text in rows]}
        page.evaluate("m => window.sockets[0].onmessage({data: JSON.stringify(m)})", message)

    def shown() -> dict[str, str]:
        return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#host details')].map(d =>
          [d.querySelector('summary').textContent, [...d.querySelector('.ba-text').children]
            .map((l, k) => (k && !l.classList.contains('ba-cont') ? '\\n' : '') + l.textContent).join('')]))""")

    draw(2, ("s", "a "))
    assert page.evaluate("window.sockets.map(s => s.url)") == ["ws://arena.test/_arena/live/R?after=2"]
    push((3, "s", "b "), (4, "s", "<b>c</b> "))
    draw(3, ("s", "a b "))  # a repaint behind the feed: the longer text stays
    push((4, "s", "<b>c</b> "))  # again, after a reconnect: skipped
    assert shown() == {"s · 13 chars": "a b <b>c</b> "}
    draw(6, ("s", "a b <b>c</b> d\ne"))  # a repaint ahead of the feed: its new words appended
    push((5, "s", "d\ne"), (7, "t", "new"))  # a delta the repaint held (skipped), a stream begun since
    assert shown() == {"s · 16 chars": "a b <b>c</b> d\ne", "t · 3 chars": "new"}
    line = " ".join(["word"] * 800)  # 3,999 characters in one line
    draw(8, ("s", "rewritten " + line), ("t", "new"))  # disagrees: drawn again from the repaint
    assert shown() == {f"s · {10 + len(line):,} chars": "rewritten " + line, "t · 3 chars": "new"}
    assert page.evaluate("document.querySelectorAll('#host .ba-cont').length") >= 2
    assert page.evaluate("document.querySelectorAll('#host b, #host script, #host img').length") == 0
    push((9, "u", "hmm"), kind="thinking")  # a stream that thinks first: no "(nothing yet)" under it
    assert page.evaluate("[...document.querySelectorAll('#host details')].pop().innerText") == "u · 3 chars\nThinking\nhmm"
    push((10, "u", "ok"))
    assert shown()["u · 5 chars"] == "ok"
    page.close()

# ---- call states --------------------------------------------------------------------------------


@dataclass
class WaitingModel(GatedModel):
    """A scripted model that, like the local model, reports each call's state to the strategy's call
    monitor (reasoning.call_states): `queued` until the gate opens and a while after, `reading
    prompt`, then `generating`."""

    queued_for: float = 3.0
    reading_for: float = 3.0

    async def stream(self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7,
                     **options: Any) -> AsyncIterator[Chunk]:
        from reasoning.call_states import current_monitor, new_call_id

        monitor, call = current_monitor(), new_call_id()
        if monitor is not None:
            monitor.begin(call)
            monitor.state(call, "queued")
        try:
            await self._wait_for_gate()
            await asyncio.sleep(self.queued_for)
            if monitor is not None:
                monitor.state(call, "reading prompt")
            await asyncio.sleep(self.reading_for)
            first = True
            async for chunk in FakeModel.stream(self, messages, max_tokens=max_tokens, temperature=temperature,
                                                **options):
                if first and monitor is not None:
                    monitor.state(call, "generating")
                    first = False
                yield chunk
        finally:
            if monitor is not None:
                monitor.end(call)


def test_a_pane_says_queued_then_reading_prompt_then_generating(served: Served, browser) -> None:
    gate = threading.Event()
    model = WaitingModel(replies=" ".join(["word"] * 40) + " Answer: 4", token_delay=0.15, gate=gate)
    run_id = submit(served, model, ["chain_of_thought"], Budget(total_tokens=3000))
    page = open_page(browser, served, run_id)
    page.wait_for_function("() => (document.querySelector('.st-key-pane-0') || {}).innerText?.includes('queued')",
                           timeout=30_000)
    gate.set()
    states: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = pane_text(page)
        state = "done" if "Stopped:" in text else next(
            (s for s in ("queued", "reading prompt", "generating", "running") if text.split("\n", 1)[0].endswith(s)),
            "")
        if state and (not states or states[-1] != state):
            states.append(state)
            if state == "queued":
                assert "waiting for the model" in text, text
        if state == "done":
            break
        time.sleep(0.25)
    assert states == ["queued", "reading prompt", "generating", "done"], states
    assert "running" not in states, states  # a call that reports its state is never just "running"
    page.context.close()


# ---- the search tree ----------------------------------------------------------------------------


def tree_and_answers(messages: Sequence[Message], index: int) -> str:
    """The tree prompts get tests.reasoning.test_strategies_search's scripted tree; any other prompt a short
    step-by-step reply (self-consistency, debate, anytime's reasoning...)."""
    prompt = messages[-1]["content"]
    if any(cue in prompt for cue in ("Write only the next step", "On a scale of 1 to 10", "Complete the solution")):
        return _SCRIPTED(messages, index)
    return REASONING


_SCRIPTED = Scripted(SCORES)


def test_the_value_tree_draws_its_nodes_and_best_path_growing_live(served: Served, browser) -> None:
    from storage.queries import events_since

    gate = threading.Event()
    model = gated(gate, replies=Scripted(SCORES), token_delay=1.5)  # ~5 s an expansion: four of them
    run_id = submit(served, model, [("value_tree", {"depth": 2})], Budget(), reference="BA",
                    problem="Pick the best branch.")
    page = open_page(browser, served, run_id)
    gate.set()
    counts: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        count = page.locator(".st-key-strategy-view-0 svg g.node").count()
        if count and (not counts or count != counts[-1]):
            counts.append(count)
        if "Stopped:" in pane_text(page):
            break
        time.sleep(0.3)
    tree = next(e for e in events_since(run_id, 0, store=served.runner.store)
                if e.kind == "note" and e.payload.get("label") == "tree").payload["data"]
    # Every node, the root included, once the browser has laid the last graph out (slow when loaded).
    page.wait_for_function("n => document.querySelectorAll('.st-key-strategy-view-0 svg g.node').length === n",
                           arg=len(tree["nodes"]), timeout=60_000)
    counts.append(len(tree["nodes"]))
    assert counts == sorted(counts) and len(set(counts)) >= 2, f"the tree should grow while the run goes: {counts}"
    svg = page.locator(".st-key-strategy-view-0 [data-testid='stGraphVizChart'] svg")
    shown = svg.text_content() or ""
    for node in tree["nodes"]:
        if node["id"] != "root":
            assert node["id"] in shown and f"R {node['R']:.2f}" in shown, (node, shown)
    best = tree["best_path"]  # argmax V from the root down (tests/reasoning/test_strategies_search.py checks the values)
    assert len(best) == 3 and best[0] == "root"
    best_nodes = svg.locator("g.node.best")  # drawn bold in amber (tree_view.BEST_COLOR)
    assert sorted(best_nodes.locator("title").all_text_contents()) == sorted(best)  # Graphviz names them
    assert f"best path (amber): {best[1]} > {best[2]}" in page.locator(".st-key-strategy-view-0").inner_text()
    # A node's step on hover (its tooltip) and on demand (the node picker).
    tooltips = page.evaluate("() => Array.from(document.querySelectorAll('.st-key-strategy-view-0 svg g.node a'))"
                             ".map(a => a.getAttribute('xlink:title') || a.getAttribute('title') || '')")
    assert any("Consider BA." in t for t in tooltips), tooltips
    page.context.close()


# ---- the summary and the page at two widths ------------------------------------------------------


SIX = ["direct", "chain_of_thought", ("self_consistency", {"stop_rule": "fixed", "samples": 3}),
       ("debate", {"rounds": 2}), ("anytime", {"max_checkpoint": 128}), ("value_tree", {"depth": 2})]


@pytest.fixture(scope="module")
def six_strategies(served: Served) -> str:
    run_id = submit(served, FakeModel(replies=tree_and_answers), SIX, Budget(total_tokens=4000))
    assert served.runner.wait(run_id, timeout=120) == "done"
    return run_id


def test_the_summary_lists_every_entry_and_copies_as_markdown(served: Served, browser, six_strategies: str) -> None:
    from storage.queries import get_run

    page = open_page(browser, served, six_strategies)
    summary = page.locator(".st-key-run-summary")
    summary.locator("table").wait_for(timeout=30_000)
    rows = summary.locator("tbody tr")
    assert rows.count() == len(SIX)
    info = get_run(six_strategies, store=served.runner.store)
    assert info is not None
    header = [h.strip() for h in summary.locator("thead th").all_inner_texts()]
    assert header[:4] == ["#", "entry", "answer", "right?"] and header[-1] == "least spend, right", header
    table = [dict(zip(header, (c.strip() for c in rows.nth(i).locator("td").all_inner_texts()), strict=True))
             for i in range(rows.count())]
    for row, stored in zip(table, info.strategies, strict=True):
        assert row["right?"] == ("right" if stored.correct else "wrong"), row
        assert row["tokens"] == f"{stored.total_tokens:,} / 4,000" and row["calls"] == str(stored.calls), row
    cheapest = min(s.total_tokens for s in info.strategies if s.correct)
    marked = [row for row in table if row["least spend, right"] == "tokens"]
    assert marked and all(row["tokens"] == f"{cheapest:,} / 4,000" for row in marked), table
    page.get_by_text("Copy as markdown").click()
    markdown = summary.locator("[data-testid='stCode']").inner_text()
    lines = markdown.strip().splitlines()
    assert lines[0].startswith("| # | entry | answer | right? |") and len(lines) == 2 + len(SIX), markdown
    page.context.close()


@pytest.mark.parametrize(("width", "per_row"), [(420, 1), (1920, 4)])
def test_the_page_fits_a_phone_and_uses_a_wide_screen(served: Served, browser, six_strategies: str, width: int,
                                                       per_row: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    warnings: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: message.type == "warning" and warnings.append(message.text))
    page.goto(f"{served.url}/run?run={six_strategies}")
    page.locator(f".st-key-pane-{len(SIX) - 1}").wait_for(timeout=60_000)
    page.locator(".st-key-strategy-view-5 svg g.node").first.wait_for(timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg, "
                           "[data-testid=\"stVegaLiteChart\"] canvas').length >= 2", timeout=30_000)
    time.sleep(2.0)
    tops = [page.locator(f".st-key-pane-{i}").bounding_box()["y"] for i in range(len(SIX))]
    assert sum(1 for top in tops if abs(top - tops[0]) < 2) == per_row, tops
    width_used = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width_used[0] <= width_used[1], f"horizontal overflow at {width} px: {width_used}"
    # Nothing cut off: an element reaching past the page's edge must sit in a box that scrolls it.
    cut = page.evaluate("""width => Array.from(document.querySelectorAll('main *')).filter(e => {
        if (e.getBoundingClientRect().right <= width + 1) return false;
        for (let a = e.parentElement; a && a.tagName !== 'MAIN'; a = a.parentElement) {
            const o = getComputedStyle(a).overflowX;
            if ((o === 'auto' || o === 'scroll') && a.getBoundingClientRect().right <= width + 1) return false;
        }
        return true;
    }).map(e => e.tagName + '.' + e.className + ' ' + (e.innerText || '').slice(0, 40))""", width)
    assert not cut, cut
    link = page.locator("[data-testid='stCode']").first
    assert link.bounding_box()["width"] <= width and f"run={six_strategies}" in link.inner_text().replace("\n", "")
    assert page.get_by_role("button", name="Deploy").count() == 0  # client.toolbarMode = "minimal"
    assert all(url.startswith(served.url) or url.startswith(("data:", "blob:")) for url in requests), \
        [u for u in requests if not u.startswith(served.url)]  # the favicon ships with the app
    assert not [w for w in warnings if "Channel" in w or "Conflicting" in w], warnings
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(6000, max(900, height))})
    time.sleep(1.5)  # charts re-render at the new size
    page.screenshot(path=SCREENSHOTS / f"run-{width}.png")
    context.close()
