"""The app in a real browser: `budget-arena serve` (what `make run` starts) on a free port with a
private data directory, driven by Playwright on Debian's chromium (never `playwright install`); the
server and the `browser` fixture come from tests/support.py and tests/conftest.py.

1. Three strategies on the bundled local model, started from the compare page: the text of each
   pane grows while it runs, every pane ends with a final answer, the charts draw, and the share
   link shows the same run in a second browser context. Screenshots: see SCREENSHOTS below.
2. A model reply holding <script>, raw HTML, markdown, a URL and TeX is shown as literal text: no
   script runs, and nothing in the reply becomes an element (tag, bold, link or typeset math).
3. A dataset problem picked on the compare page (the picker used to crash it) runs on the local
   model and its reference judges the answer; a sweep of an uploaded JSONL file reaches its own
   leaderboard; "Try the demo sweep" runs on the local model and opens its leaderboard, whose
   screenshot is the README's leaderboard.png (BUDGET_ARENA_DEMO_SIZE=20, the full demo).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, served_app

pytestmark = [pytest.mark.browser, pytest.mark.local_model]

# The README's screenshots are refreshed on request only, so a test run never edits tracked files:
#   BUDGET_ARENA_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/app/test_browser.py
SCREENSHOTS = Path(os.environ.get("BUDGET_ARENA_SCREENSHOTS") or ROOT / ".pytest-screenshots").resolve()
VIEWPORT = {"width": 1500, "height": 1100}
PROBLEM = "Tom buys 4 pens at 3 dollars each and pays with a 20 dollar bill. How much change does he get?"
# The local model serves one call at a time, so the panes stream in turn: a small budget keeps the
# whole run short on a busy 2-core machine while every strategy still gets calls of its own.
STRATEGIES = ("Self-consistency", "Chain-of-thought", "Direct answer")
TOKENS_PER_STRATEGY = "300"
HOSTILE_REPLY = ("<script>alert(1)</script> <b>bold</b> <img src=x onerror=alert(2)> **strong** "
                 "[a link](http://x.test/) www.example.com $x^2$ Answer: 4")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The demo sweep's size: 2 problems (12 strategy runs) keeps its test short; the README's
    # leaderboard screenshot is of the full demo (BUDGET_ARENA_DEMO_SIZE=20, see the demo test).
    env = {"BUDGET_ARENA_ENABLE_FAKE": "1", "BUDGET_ARENA_DEMO_SIZE": os.environ.get("BUDGET_ARENA_DEMO_SIZE", "2")}
    with served_app(tmp_path_factory.mktemp("browser-data"), env) as url:
        yield url


# ---- helpers ---------------------------------------------------------------------------------


def _open_compare(page, app_url: str) -> None:
    page.goto(app_url + "/")
    page.get_by_role("heading", name="Budget Arena").wait_for(timeout=30_000)
    page.get_by_role("textbox", name="Problem to solve").wait_for()


def _fill(locator, value: str) -> None:
    locator.fill(value)
    locator.press("Tab")  # Streamlit commits a text or number field when it loses focus
    time.sleep(0.6)


def _pick_strategies(page, titles: tuple[str, ...]) -> None:
    """Replace the selected strategies by `titles`, waiting for each change to show as a chip: on a
    busy machine a click can land before the rerun of the previous one has redrawn the widget."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    select = page.locator("[data-testid='stMultiSelect']").filter(has_text="Strategies")
    chips = select.locator("[data-tag]")
    page.get_by_role("button", name="Clear all").first.click()
    page.wait_for_function("el => el.querySelectorAll(\"[data-tag]\").length === 0",
                           arg=select.element_handle(), timeout=15_000)
    box = page.get_by_role("combobox", name=re.compile("Strategies"))
    for title in titles:
        for attempt in range(3):  # a rerun may redraw the widget under the click: try again
            box.click()
            page.get_by_role("option", name=re.compile("^" + re.escape(title))).click()
            try:
                chips.filter(has_text=title).first.wait_for(timeout=10_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
                if attempt == 2:
                    raise
    page.keyboard.press("Escape")
    time.sleep(0.6)
    shown = chips.all_inner_texts()
    assert len(shown) == len(titles) and all(any(t in c for c in shown) for t in titles), shown


def _wait_for_run_page(page) -> str:
    page.wait_for_url(re.compile(r"/run\?run="), timeout=30_000)
    page.locator(".st-key-pane-0").wait_for(timeout=30_000)
    return page.url.split("run=")[1]


def _snapshot(page, count: int) -> list[tuple[str, int]]:
    """Each pane's visible text and how many characters it has streamed so far: the sum of its
    stream expanders' "· N chars" labels, which stay in view when an older stream folds up."""
    texts = page.evaluate(
        """count => Array.from({length: count}, (_, i) => {
            const pane = document.querySelector(`.st-key-pane-${i}`);
            return pane ? pane.innerText : "";
        })""", count)
    return [(text, sum(int(n.replace(",", "")) for n in re.findall(r"· ([\d,]+) chars", text))) for text in texts]


def _screenshot_whole_page(page, path: Path, max_height: int = 2600) -> None:
    """Streamlit scrolls inside its main section, so full_page=True stops at the viewport: grow
    the viewport to the content instead (capped, to keep the PNG small), then put it back."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max_height, max(VIEWPORT["height"], height))})
    time.sleep(1.0)  # charts re-render at the new size
    page.screenshot(path=path)
    page.set_viewport_size(VIEWPORT)


def _answers(page, count: int) -> list[str]:
    return [page.locator(f".st-key-answer-{i}").inner_text() for i in range(count)]


# ---- tests -----------------------------------------------------------------------------------


def test_three_strategies_on_the_local_model_stream_finish_and_share(browser, app_url: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    _open_compare(page, app_url)
    page.get_by_text("Local: SmolLM2").first.wait_for()  # the default provider: ready, no key
    _fill(page.get_by_role("textbox", name="Problem to solve"), PROBLEM)
    _fill(page.get_by_role("textbox", name="Reference answer (optional)"), "8")
    _pick_strategies(page, STRATEGIES)
    _fill(page.get_by_role("spinbutton", name="Total tokens"), TOKENS_PER_STRATEGY)
    # One llama.cpp thread: on a shared 2-core machine two threads wait for each other at every layer
    # and decode several times slower.
    _fill(page.get_by_role("spinbutton", name="CPU threads"), "1")
    # No time cap: a strategy's seconds count while its calls wait for the one local model.
    _fill(page.get_by_role("spinbutton", name="Seconds"), "0")
    page.get_by_text("Worst-case cost: $0 (local)").wait_for()
    page.screenshot(path=SCREENSHOTS / "compare.png")
    page.get_by_role("button", name="Run").click()

    run_id = _wait_for_run_page(page)
    count = len(STRATEGIES)
    growth = [0] * count  # samples in which a still-running pane's streamed text got longer
    last = [0] * count
    live_shot = False
    deadline = time.monotonic() + 150  # ~20 s on an idle 2-core machine; much more when it is shared
    while time.monotonic() < deadline:
        panes = _snapshot(page, count)
        for i, (text, streamed) in enumerate(panes):
            if streamed > last[i] and "Stopped:" not in text:
                growth[i] += 1
            last[i] = max(last[i], streamed)
        ended = all("Stopped:" in text for text, _ in panes)
        if not live_shot and sum(1 for size in last if size) >= 2 and not ended:
            page.screenshot(path=SCREENSHOTS / "run-live.png")
            live_shot = True
        if ended:
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"the run did not finish in time; panes: {_snapshot(page, count)}")
    assert all(g >= 2 for g in growth), f"each pane's text should grow while it runs; growth samples: {growth}"
    assert live_shot, "no moment with text in several panes while the run was going"

    page.get_by_role("heading", name="Spend over time").wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] canvas, "
                           "[data-testid=\"stVegaLiteChart\"] svg').length >= 2", timeout=20_000)
    time.sleep(1.5)  # the page reruns once when the run ends; let it settle
    answers = _answers(page, count)
    assert all("Final answer:" in a for a in answers), answers
    assert page.get_by_text("Replay").first.is_visible()
    _screenshot_whole_page(page, SCREENSHOTS / "run-finished.png")

    link = page.locator("[data-testid='stCode']").first.inner_text().strip()
    assert link.endswith(f"/?run={run_id}") and link.startswith(app_url)
    other = browser.new_context(viewport=VIEWPORT).new_page()
    failed: list[str] = []
    other.on("response", lambda response: response.status >= 400 and failed.append(f"{response.status} {response.url}"))
    other.goto(link)
    other.locator(f".st-key-pane-{count - 1}").wait_for(timeout=30_000)
    other.get_by_text(PROBLEM).wait_for()
    assert "?run=" in other.url and other.get_by_role("heading", name="Run").count() >= 1
    assert not failed, failed  # a link to /run made the frontend probe /run/_stcore/health first (404s)
    assert _answers(other, count) == answers
    assert [size for _, size in _snapshot(other, count)] == [size for _, size in _snapshot(page, count)]
    assert other.get_by_text(f"id {run_id}").count() == 1
    other.context.close()
    context.close()


def test_html_in_a_model_reply_is_shown_as_text(browser, app_url: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _open_compare(page, app_url)
    page.get_by_text("Fake (scripted replies").click()
    reply_box = page.get_by_role("textbox", name="Scripted reply (every call gets it)")
    reply_box.wait_for()
    _fill(reply_box, HOSTILE_REPLY)
    _fill(page.get_by_role("textbox", name="Problem to solve"), "What is <i>2+2</i>?")
    _pick_strategies(page, ("Chain-of-thought",))
    page.get_by_role("button", name="Run").click()
    _wait_for_run_page(page)
    page.wait_for_function("() => document.body.innerText.includes('Stopped:')", timeout=30_000)
    time.sleep(1.5)

    streams = page.locator(".st-key-streams-0").inner_text()
    assert HOSTILE_REPLY in streams.replace("\u2060", "")  # as typed (an invisible word joiner keeps URLs text)
    assert "What is <i>2+2</i>?" in page.locator("main").inner_text()
    main = page.locator("main")
    assert main.locator("b", has_text="bold").count() == 0
    assert main.locator("i", has_text="2+2").count() == 0
    assert main.locator("img[src='x']").count() == 0
    assert main.locator("strong", has_text="strong").count() == 0
    assert main.locator("a[href*='x.test'], a[href*='example.com']").count() == 0
    assert main.locator(".katex").count() == 0  # $x^2$ is not typeset as math
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert dialogs == []
    context.close()


def test_one_strategy_at_three_budgets_runs_three_panes_on_the_local_model(browser, app_url: str) -> None:
    """Entries: Direct answer at 150, 300 and 600 total tokens, typed in its "token budgets" field,
    run side by side on the bundled model; each pane is named by its budget and ends with an answer."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    _open_compare(page, app_url)
    page.get_by_text("Local: SmolLM2").first.wait_for()
    _fill(page.get_by_role("textbox", name="Problem to solve"), "What is 7 * 4?")
    _fill(page.get_by_role("textbox", name="Reference answer (optional)"), "28")
    _pick_strategies(page, ("Direct answer",))
    _fill(page.get_by_role("spinbutton", name="CPU threads"), "1")
    _fill(page.get_by_role("spinbutton", name="Seconds"), "0")
    _fill(page.get_by_role("textbox", name="Direct answer: token budgets"), "150, 300, 600")
    # The entries are listed before Run (a word joiner keeps each name@ from becoming an e-mail link).
    page.wait_for_function("() => document.body.innerText.replaceAll('\\u2060', '')"
                           ".includes('3 entries: direct@150 · direct@300 · direct@600')", timeout=15_000)
    page.get_by_role("button", name="Run").click()

    _wait_for_run_page(page)
    page.wait_for_function(
        "() => [0, 1, 2].every(i => (document.querySelector(`.st-key-pane-${i}`) || {}).innerText?.includes('Stopped:'))",
        timeout=150_000)
    time.sleep(1.5)  # the page reruns once when the run ends
    assert page.locator(".st-key-pane-3").count() == 0  # three entries, three panes
    for i, budget in enumerate(("150", "300", "600")):
        pane = page.locator(f".st-key-pane-{i}").inner_text()
        assert f"Direct answer @ {budget} tokens" in pane, pane
        assert f"/ {budget} tokens" in pane, pane  # its spend bar is against its own cap
    answers = _answers(page, 3)
    assert all("Final answer:" in a for a in answers), answers
    page.get_by_role("heading", name="Spend over time").wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg').length >= 1",
                           timeout=20_000)
    time.sleep(1.0)
    charts = page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]'))"
                           ".map(e => e.textContent).join(' | ')")
    assert all(f"{i}. direct@{b}" in charts for i, b in ((1, 150), (2, 300), (3, 600))), charts  # legends
    assert "NaN" not in charts and "NaN" not in page.locator("main").inner_text()
    context.close()


# ---- datasets, uploads and the demo sweep ----------------------------------------------------------


def _select(page, label: str, option: str) -> None:
    """Pick `option` (its text starts so) in the Streamlit selectbox labelled `label`."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=re.compile("^" + re.escape(option))).first.click()
    time.sleep(0.6)


def _value_is(page, name: str, value: str, role: str = "textbox") -> None:
    page.wait_for_function("([name, value]) => Array.from(document.querySelectorAll('textarea, input'))"
                           ".some(e => e.getAttribute('aria-label') === name && e.value === value)",
                           arg=[name, value], timeout=15_000)


def _run_on_the_local_model(page, strategies: tuple[str, ...], tokens: str) -> None:
    """The strategies, the budget and one CPU thread (two wait for each other on a shared 2-core machine)."""
    page.get_by_text("Local: SmolLM2").first.wait_for()
    _pick_strategies(page, strategies)
    _fill(page.get_by_role("spinbutton", name="CPU threads"), "1")
    _fill(page.get_by_role("spinbutton", name="Total tokens"), tokens)
    _fill(page.get_by_role("spinbutton", name="Seconds"), "0")


def test_a_dataset_problem_picked_on_compare_runs_on_the_local_model_and_is_judged(browser, app_url: str) -> None:
    """The picker crashed the page (StreamlitValueAssignmentNotAllowedError on 'cmp.use_item'):
    switch it on, pick a problem, use it, run it, and see its reference judge the answer."""
    from reasoning.datasets import GRADED, load_builtin

    items = load_builtin(GRADED, size=20).items
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    _open_compare(page, app_url)
    _value_is(page, "Problem to solve", items[0].problem)  # the page starts on a problem of the calibrated set
    _value_is(page, "Reference answer (optional)", items[0].reference)
    page.get_by_text("Pick a problem from a dataset").click()
    page.get_by_role("button", name="Use this problem").wait_for()
    _select(page, "Problem from the dataset", f"4. {items[3].problem}")
    page.get_by_role("button", name="Use this problem").click()
    _value_is(page, "Problem to solve", items[3].problem)
    _value_is(page, "Reference answer (optional)", items[3].reference)
    assert page.get_by_text("StreamlitValueAssignmentNotAllowedError").count() == 0
    _run_on_the_local_model(page, ("Direct answer",), "300")
    page.get_by_role("button", name="Run").click()

    _wait_for_run_page(page)
    page.wait_for_function("() => (document.querySelector('.st-key-pane-0') || {}).innerText?.includes('Stopped:')",
                           timeout=120_000)
    time.sleep(1.5)  # the page reruns once when the run ends
    answer = _answers(page, 1)[0]
    assert "Final answer:" in answer and re.search(r"\b(right|wrong)\b", answer), answer
    assert items[3].problem in page.locator("main").inner_text()
    context.close()


def test_a_sweep_of_an_uploaded_file_reaches_its_own_leaderboard(browser, app_url: str, tmp_path: Path) -> None:
    problems = tmp_path / "my_problems.jsonl"
    problems.write_text('{"question": "What is 7 * 4?", "answer": "28"}\n'
                        '{"question": "What is 3 + 5?", "answer": "8"}\n', encoding="utf-8")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(app_url + "/sweep")
    page.get_by_role("heading", name="Sweep", exact=True).wait_for(timeout=30_000)
    page.get_by_text("Upload a file").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(problems))
    page.get_by_text("my_problems.jsonl: 2 problems").wait_for(timeout=20_000)
    _pick_strategies(page, ("Direct answer",))
    _fill(page.get_by_role("textbox", name="Budget grid"), "200")
    _fill(page.get_by_role("spinbutton", name="CPU threads"), "1")
    page.get_by_text("2 problems x 1 strategy x 1 budget = 2 strategy runs").wait_for(timeout=15_000)
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_function("() => document.body.innerText.includes('done: 2 of 2 strategy runs')", timeout=120_000)
    time.sleep(2.0)  # the page repaints once when the sweep ends
    links = page.get_by_role("link", name="Open this sweep's leaderboard")
    assert links.count() == 1, links.count()
    link = links.first
    assert re.fullmatch(r"(.*/)?leaderboard\?sweep=sw-\w+", link.get_attribute("href") or ""), link.get_attribute("href")
    link.click()
    page.wait_for_url(re.compile(r"/leaderboard\?sweep=sw-"), timeout=30_000)
    page.get_by_role("heading", name="Leaderboard").wait_for(timeout=30_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    page.get_by_text("2 scored results").wait_for(timeout=30_000)  # this sweep's two, nothing else
    assert "Only direct is ranked" in page.locator("main").inner_text()
    context.close()


def test_the_demo_sweep_runs_on_the_local_model_and_opens_its_leaderboard(browser, app_url: str) -> None:
    """"Try the demo sweep": graded_arithmetic x direct, chain_of_thought, self_consistency x two
    budgets on the bundled model (BUDGET_ARENA_DEMO_SIZE problems), a progress bar, then the
    Leaderboard filtered to the sweep, with its curves and the head-to-head table. Its screenshot
    is the README's leaderboard.png when BUDGET_ARENA_SCREENSHOTS names docs/screenshots."""
    from app.demo import DEMO_BUDGETS, DEMO_STRATEGIES

    cells = int(os.environ.get("BUDGET_ARENA_DEMO_SIZE") or 2) * len(DEMO_STRATEGIES) * len(DEMO_BUDGETS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(app_url + "/sweep")
    page.get_by_role("button", name="Try the demo sweep").click()
    page.get_by_text(re.compile(r"running: \d+ of " + str(cells) + " strategy runs")).first.wait_for(timeout=60_000)
    # 120 strategy runs take minutes on 2 cores (7 min measured on a busy machine).
    page.wait_for_url(re.compile(r"/leaderboard\?sweep=sw-"), timeout=(60 + 30 * cells) * 1000)
    page.get_by_role("heading", name="Head to head at equal budget").wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] canvas, "
                           "[data-testid=\"stVegaLiteChart\"] svg').length >= 1", timeout=30_000)
    main = page.locator("main").inner_text()
    assert all(strategy in main for strategy in DEMO_STRATEGIES), main
    assert "NaN" not in main and "Infinity" not in main
    time.sleep(2.0)  # the charts finish drawing
    _screenshot_whole_page(page, SCREENSHOTS / "leaderboard.png", max_height=3000)
    context.close()

