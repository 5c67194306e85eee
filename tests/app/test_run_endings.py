"""How each entry ended, said truthfully: the run summary (run page and HTML file) names an answer,
a cap stop, a cancellation and a failure as such and counts them; an entry with no answer reads "no
answer", not "wrong", in the HTML file and the JSON export, which say how the leaderboard scores it."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pandas as pd
import pytest

from app.html_export import run_html
from app.panes import RunView
from app.run_summary import AT_CAP, entry_row, summary_headline, summary_records
from reasoning.budget import Budget, Spend
from reasoning.models.fake import FakeModel
from storage import (
    RunSpec,
    export_run_json,
    export_runs_csv,
    forget_store,
    get_runner,
    import_run_json,
    open_store,
)
from tests.app.test_app_units import Row

CAPPED = "stopped: 300-token cap"


def _final(i: int, answer: str | None, stop: str, detail: str | None = None, error: str | None = None,
           calls: int = 1) -> Row:
    used = Spend(input_tokens=10 * calls, output_tokens=5 * calls, calls=calls)
    return Row(i + 1, i, "final", None, {"answer": answer, "stop": stop, "spent": used.as_dict(),
                                         "stop_detail": detail, "error": error})


def _rows(finals: list[Row], correct: list[bool | None], *, run_active: bool = False,
          stored: list[str] | None = None) -> list[Any]:
    names = [f"s{i}" for i in range(len(correct))]
    view = RunView.for_strategies([(n, {}) for n in names], names)
    view.apply(finals)
    stored = stored or ["done"] * len(names)
    return [entry_row(p, p.label, p.status(stored[p.index], run_active), {"total_tokens": 300}, c)
            for p, c in zip(view.panes, correct, strict=True)]


def test_each_row_says_how_its_entry_ended_and_the_headline_counts_them() -> None:
    rows = _rows([_final(0, "4", "done"), _final(1, "5", "budget", CAPPED), _final(2, None, "cancelled"),
                  _final(3, None, "error", error="HTTP 500 from the server\nmore"), _final(4, None, "budget", CAPPED)],
                 [True, False, False, False, False])
    records = summary_records(rows, has_reference=True)
    assert [r["stop"] for r in records] == ["answered", f"{AT_CAP} (300-token cap)", "cancelled",
                                            "failed: HTTP 500 from the server", f"{AT_CAP} (300-token cap)"]
    assert [r["right?"] for r in records] == ["right", "wrong", "no answer", "no answer", "no answer"]
    headline = summary_headline(rows, has_reference=True)
    assert "finished" not in headline
    # The cap stop without an answer (stored "done") and the failure after output (scored as "errored")
    # are judged False, so the leaderboard counts them wrong; a cancelled entry is no leaderboard result.
    assert headline == ("5 entries: 1 answered, 2 stopped at a cap, 1 cancelled, 1 failed · 1 right · "
                        "2 with no answer (the leaderboard counts them as wrong) · right at the least tokens: s0")


def test_a_cap_stop_before_any_call_is_left_out_of_the_leaderboard_not_counted_wrong() -> None:
    rows = _rows([_final(0, None, "budget", "stopped: 30-token cap", calls=0)], [False])
    assert summary_headline(rows, has_reference=True) == \
        "1 entry: 1 stopped at a cap · 0 right · 1 with no output (the leaderboard leaves it out)"


def test_an_entry_the_run_left_unfinished_is_counted_as_interrupted_or_running() -> None:
    rows = _rows([_final(0, "4", "done")], [True, None], stored=["done", "interrupted"])
    assert [r["stop"] for r in summary_records(rows, has_reference=True)] == ["answered", "interrupted"]
    assert summary_headline(rows, has_reference=True).startswith("2 entries: 1 answered, 1 interrupted · 1 right")
    live = _rows([_final(0, "4", "done")], [True, None], run_active=True)
    assert summary_headline(live, has_reference=True).startswith("1 of 2 entries ended (1 answered) · 1 still running")


def test_a_done_entry_without_an_answer_did_not_answer() -> None:
    rows = _rows([_final(0, None, "done")], [False])
    assert summary_records(rows, has_reference=True)[0]["stop"] == "ended without an answer"
    assert summary_headline(rows, has_reference=True) == \
        "1 entry: 1 ended without an answer · 0 right · 1 with no answer (the leaderboard counts it as wrong)"


# ---- the HTML file and the JSON export ----------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'endings.db'}")
    yield store
    get_runner(store).close()
    forget_store(store)


@pytest.fixture
def capped_run(store) -> str:
    """chain_of_thought answers right at 150 tokens and stops at a 30-token cap before any call; direct
    ends without an answer (its reply is cut before "Answer: 4")."""
    runner = get_runner(store)
    run_id = runner.submit(RunSpec(problem="What is 2+2?", model=FakeModel("step " * 100 + "Answer: 4"),
                                   strategies=[("chain_of_thought", {}, Budget(total_tokens=150)),
                                               ("chain_of_thought", {}, Budget(total_tokens=30)),
                                               ("direct", {}, Budget(total_tokens=400))], reference="4"))
    assert runner.wait(run_id, 60) == "done"
    return run_id


def _summary(html: str) -> list[list[str]]:
    table = re.search(r'<table id="summary">(.*?)</table>', html, re.S).group(1)
    body = table.split("<tbody>")[1]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_html_summary_says_how_each_entry_ended_and_no_answer_is_not_wrong(store, capped_run) -> None:
    html = run_html(capped_run, store=store)
    right, capped, unanswered = _summary(html)
    assert "@ 150 tokens" in right[1] and right[2:4] == ["4", "right"] and "answered" in right
    assert "@ 30 tokens" in capped[1] and capped[2:4] == ["none", "no answer"]
    assert any(cell == f"{AT_CAP} (30-token cap)" for cell in capped)
    assert unanswered[2:4] == ["none", "no answer"] and "ended without an answer" in unanswered
    assert "wrong" not in " ".join(capped + unanswered) and "finished" not in " ".join(right + capped + unanswered)
    headline = re.search(r'<p id="summary-headline">(.*?)</p>', html).group(1)
    assert headline.startswith("3 entries: 1 answered, 1 ended without an answer, 1 stopped at a cap · 1 right · "
                               "1 with no answer (the leaderboard counts it as wrong) · "
                               "1 with no output (the leaderboard leaves it out)")
    assert "call(s)" not in html  # the panes' script writes "1 call" / "2 calls"
    data = json.loads(re.search(r'id="run-data">(.*?)</script>', html, re.S).group(1))
    assert data["stop_status"]["budget"] == "done"  # the recorder's mapping, passed in, not copied
    assert "STOP_STATUS = {" not in html
    assert any(e[2] == 5 and e[7] == "stopped: 30-token cap" for e in data["events"])  # the pane names the cap


def test_the_json_export_tells_no_answer_from_a_wrong_answer(store, capped_run, tmp_path) -> None:
    exported = export_run_json(capped_run, store=store)
    assert [(s["correct"], s["verdict"]) for s in exported["strategies"]] == \
        [(True, "right"), (False, "no answer"), (False, "no answer")]
    assert "the leaderboard counts it as wrong" in exported["verdicts"]["no answer"]
    frame = pd.read_csv(io.StringIO(export_runs_csv([capped_run], store=store)))
    assert list(frame["verdict"]) == ["right", "no answer", "no answer"] and list(frame["correct"]) == [True, False, False]
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:  # the verdict is derived: it imports and exports again unchanged
        assert import_run_json(json.loads(json.dumps(exported)), store=other) == capped_run
        assert export_run_json(capped_run, store=other) == exported
    finally:
        forget_store(other)
