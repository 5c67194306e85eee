"""Each word a run's page and its HTML file put beside a number says what the number is: a
strategy's confidence named for what it measures (vote share, Q(b), ...) in the HTML panes as on the
page, the quality axis titled for what it plots, and an entry that stopped on its own with no answer
"finished without an answer", not "finished"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import VERDICT, quality_axis_title, quality_chart, quality_steps
from app.html_export import KIND_CODES, run_html
from app.html_run_script import RUN_SCRIPT
from app.pane_text import confidence_text, stop_text
from reasoning.budget import Budget
from reasoning.models.fake import FakeModel
from storage import RunSpec, get_runner
from storage.queries import curve_points
from storage.store import Store
from tests.support import MAIN, page_store

SOLVED = "Let me think step by step. 2 + 2 = 4. Answer: 4"
# self_consistency (vote share), anytime (Q(b)), and direct, whose reply its 48-token max_tokens cuts
# before "Answer: 4": it stops on its own ("done") with no answer. No reference: quality is confidence.
ENTRIES: list[Any] = [("self_consistency", {"stop_rule": "fixed", "samples": 3}), ("anytime", {}), ("direct", {})]


def reply(messages: Sequence[dict[str, Any]], _: int) -> str:
    asked = messages[-1]["content"]
    if "Give only the final answer" in asked:  # direct's prompt (prompts.answer_only)
        return "step " * 100 + "Answer: 4"
    if "1-10" in asked or "rate" in asked.lower():  # anytime's rating of its forced answer
        return "8"
    return SOLVED


# ---- the words, unit by unit -------------------------------------------------------------------


def test_a_stop_on_its_own_without_an_answer_says_so() -> None:
    assert stop_text("done") == stop_text("done", answered=True) == "finished"
    assert stop_text("done", answered=False) == "finished without an answer"
    assert stop_text("budget", answered=False) == "budget reached"  # a cap stop reads the same either way
    assert stop_text("cancelled", answered=False) == "cancelled" and stop_text(None, answered=False) == ""


def _points(rows: list[tuple[int, str, float | None, bool | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"strategy_index": i, "strategy": s, "seq": n, "tokens": 10 * n, "usd": 0.0, "seconds": 1.0,
                          "answer": "4", "confidence": q, "correct": c,
                          "quality": q if c is None else float(c)} for n, (i, s, q, c) in enumerate(rows, 1)])


def test_the_quality_axis_is_titled_for_what_it_plots() -> None:
    no_reference = quality_steps(_points([(1, "anytime", 0.4, None), (0, "self_consistency", 1.0, None),
                                          (2, "direct", None, None)]))
    assert list(no_reference["measure"]) == ["Q(b)", "vote share", "reported confidence"]
    assert quality_axis_title(no_reference) == "vote share or Q(b)"  # entry order; direct plots nothing
    judged = quality_steps(_points([(0, "self_consistency", 1.0, True), (1, "direct", None, False)]))
    assert quality_axis_title(judged) == VERDICT == "right (1) or wrong (0)"
    # An answer the comparison could not judge keeps its strategy's confidence (storage.recorder).
    mixed = quality_steps(_points([(0, "tree_of_thoughts", 0.8, None), (1, "direct", None, True),
                                   (2, "value_tree", 0.5, None), (3, "a_plugin", 0.9, None)]))
    assert quality_axis_title(mixed) == "right (1) or wrong (0), else rating, reward R or reported confidence"
    assert quality_axis_title(quality_steps(_points([(0, "direct", None, None)]))) == "quality"  # nothing plotted
    assert quality_axis_title(quality_steps(_points([])[:0])) == "quality"


def test_the_quality_chart_takes_its_axis_title_from_its_points() -> None:
    steps = quality_steps(_points([(0, "self_consistency", 1.0, None), (1, "anytime", 0.4, None)]),
                          pd.DataFrame([{"strategy_index": 0, "strategy": "self_consistency", "tokens": 99, "usd": 0.0}]))
    assert steps["measure"].tolist() == ["vote share", "Q(b)", "vote share"]  # the end point keeps its measure
    line, dots = quality_chart(steps).to_dict()["layer"]
    assert line["encoding"]["y"]["title"] == "vote share or Q(b)"
    assert {"field": "measure", "title": "quality is", "type": "nominal"} in dots["encoding"]["tooltip"]
    assert quality_chart(steps, quality_title="given")["layer"][0].to_dict()["encoding"]["y"]["title"] == "given"


# ---- a recorded run: the HTML file and the page --------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with page_store(tmp_path_factory.mktemp("labels")) as the_store:
        yield the_store


@pytest.fixture(scope="module")
def labelled_run(store: Store) -> str:
    runner = get_runner(store)
    run_id = runner.submit(RunSpec(problem="What is 2+2?", model=FakeModel(replies=reply), strategies=ENTRIES,
                                   budget=Budget(total_tokens=3000), reference=None))
    assert runner.wait(run_id, 60) == "done"
    return run_id


def _data(html: str) -> dict[str, Any]:
    return json.loads(re.search(r'id="run-data">(.*?)</script>', html, re.S).group(1))


def test_the_html_file_words_confidence_and_stops_as_the_page_does(store: Store, labelled_run: str) -> None:
    html = run_html(labelled_run, store=store)
    assert html is not None
    data = _data(html)
    curve = curve_points(labelled_run, store=store)
    partials = [e for e in data["events"] if e[2] == KIND_CODES["partial"]]
    # Each partial carries its confidence as app.panes.confidence_text words it: no rule in the script.
    strategies = [name for name, _ in ENTRIES]
    assert [e[4] for e in partials] == [confidence_text(c, strategies[i])
                                        for i, c in zip(curve["strategy_index"], curve["confidence"], strict=True)]
    assert {e[4].split(" ")[0] for e in partials} == {"vote", "Q(b)"} and "vote share 100%" in {e[4] for e in partials}
    assert "Math.round(p.conf" not in RUN_SCRIPT and '"confidence "' not in RUN_SCRIPT
    assert data["no_confidence"] == "no confidence reported"
    assert data["stop_text"]["done"] == ["finished", "finished without an answer"]
    assert data["stop_text"]["budget"] == ["budget reached", "budget reached"]
    # The quality chart's axis: vote shares and Q(b), as there is no reference; never "self-reported".
    assert re.findall(r'class="axis-title">([^<]*)', html)[1] == "vote share or Q(b)"
    assert "self-reported" not in html


def test_the_page_says_an_entry_finished_without_an_answer(labelled_run: str) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["run"] = labelled_run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [re.sub(r"\\(.)", r"\1", c.value) for c in at.caption]  # without literal_markdown's escapes
    stops = [c.split(" · ")[0] for c in captions if c.startswith("Stopped:")]
    assert stops == ["Stopped: finished", "Stopped: finished", "Stopped: finished without an answer"]
    assert "vote share 100%" in captions and any(re.fullmatch(r"Q\(b\) \d\.\d\d", c) for c in captions)


@pytest.mark.browser
def test_the_html_file_in_a_browser_shows_the_same_words(browser: Any, store: Store, labelled_run: str,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "labels.html"
    path.write_text(run_html(labelled_run, store=store) or "", encoding="utf-8")
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-replay='ended']", timeout=10_000)
    panes = [page.locator(f"#pane-{i}").inner_text() for i in range(len(ENTRIES))]
    assert "vote share 100%" in panes[0] and "Stopped: finished ·" in panes[0]
    assert re.search(r"^Q\(b\) \d\.\d\d$", panes[1], re.M) and "Stopped: finished ·" in panes[1]
    assert "Final answer: none" in panes[2] and "Stopped: finished without an answer ·" in panes[2]
    assert not re.search(r"^confidence \d", " ".join(panes[:2]), re.M)  # the old wording
    page.click("#play")
    page.select_option("#speed", "50")
    page.wait_for_selector("body[data-replay='ended']", timeout=10_000)
    assert [page.locator(f"#pane-{i}").inner_text() for i in range(len(ENTRIES))] == panes
    assert not problems, problems
    page.close()
