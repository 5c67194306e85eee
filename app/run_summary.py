"""The run summary: one row per entry with its final answer, its verdict (or confidence), its spend
against each cap, its calls and why it stopped; with a reference, which entries answered right at
the least spend. Pure functions of the folded panes and the stored strategy rows (no Streamlit
here), plus the same table as GitHub-flavoured markdown to copy.

A row is filled in as its entry ends; a running entry shows its state and its spend so far. Each
ended row says how its entry ended (answered, stopped at its cap, cancelled, failed), and the
headline counts those: an entry stopped at a cap did not "finish", whatever answer it had by then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.pane_text import confidence_text
from app.panes import PaneView
from reasoning import metrics
from reasoning.budget import CAP_NAMES, Spend
from reasoning.wording import number_text, plural
from storage.leaderboard_reads import ENDED_STRATEGY_STATUSES

CAP_COLUMNS = {"total_tokens": "tokens", "output_tokens": "output tokens", "usd": "dollars", "seconds": "seconds"}
# How an entry ended, by FinalAnswer.stop ("done" without an answer is NO_ANSWER), or by the stored
# status of an entry that never sent its final answer (a run that stopped under it): the row's words.
ANSWERED, NO_ANSWER, AT_CAP, CANCELLED, FAILED, INTERRUPTED = (
    "answered", "ended without an answer", "stopped at its cap", "cancelled", "failed", "interrupted")
_BY_STOP = {"budget": AT_CAP, "cancelled": CANCELLED, "error": FAILED}
# The headline's counts, in this order ("2 answered, 1 stopped at a cap").
_COUNTED = {ANSWERED: "answered", NO_ANSWER: "ended without an answer", AT_CAP: "stopped at a cap",
            CANCELLED: "cancelled", FAILED: "failed", INTERRUPTED: "interrupted"}


@dataclass(frozen=True)
class EntryRow:
    index: int
    entry: str  # the pane's title ("Direct answer @ 300 tokens")
    status: str
    answer: str | None
    correct: bool | None  # None: no reference, or not judged yet
    confidence: float | None
    spent: Spend
    budget: Mapping[str, Any]
    stop: str  # how it ended (the binding cap named when known), or what it is doing
    ended: bool
    provisional: bool = False  # the spend counts text not yet reported (app.pane_text.shown_spend): shown with ≈
    ending: str | None = None  # ANSWERED, AT_CAP, ... once it ended or its run stopped; None while it runs
    strategy: str = ""  # what its confidence measures depends on it (app.pane_text.confidence_text)


def ending(pane: PaneView, status: str) -> str | None:
    """How the pane's entry ended (one of _COUNTED), or None while it may still go on. `status` is
    PaneView.status(): the stored status (interrupted, cancelled) when the run stopped first."""
    if pane.ended:
        if pane.stop in _BY_STOP:
            return _BY_STOP[pane.stop]
        return ANSWERED if pane.final_answer else NO_ANSWER
    return {"interrupted": INTERRUPTED, "cancelled": CANCELLED, "error": FAILED}.get(status)


def entry_row(pane: PaneView, title: str, status: str, budget: Mapping[str, Any], correct: bool | None,
              spent: Spend | None = None, provisional: bool = False) -> EntryRow:
    """The pane's row; `spent` is what the pane shows (app.pane_text.shown_spend), else its last report."""
    how = ending(pane, status)
    if how == AT_CAP and pane.stop_detail:  # the cap that bound: "stopped: 1,500-token cap"
        stop = f"{AT_CAP} ({pane.stop_detail.removeprefix('stopped: ')})"
    elif how == FAILED and pane.error:
        stop = f"failed: {pane.error.splitlines()[0][:120]}"
    else:
        stop = how or status
    answer = pane.final_answer if pane.ended else pane.best_answer
    return EntryRow(pane.index, title, status, answer, correct, pane.confidence, spent or pane.spent, budget, stop,
                    pane.ended, provisional and not pane.ended, how, pane.strategy)


def cheapest_right(rows: Sequence[EntryRow]) -> dict[int, list[str]]:
    """Among the entries that ended with a right answer, those at the least spend: by tokens, and by
    dollars when any call was priced. {entry index: ["tokens", "dollars"]}; ties all count."""
    right = [r for r in rows if r.ended and r.correct]
    marks: dict[int, list[str]] = {}
    if not right:
        return marks
    measures = [("tokens", lambda r: r.spent.total_tokens)]
    if any(r.spent.usd > 0 for r in right):
        measures.append(("dollars", lambda r: round(r.spent.usd, 10)))
    for name, measure in measures:
        least = min(measure(r) for r in right)
        for r in right:
            if measure(r) == least:
                marks.setdefault(r.index, []).append(name)
    return marks


def _spent_against(spent: Spend, budget: Mapping[str, Any], cap: str) -> str:
    used = {"total_tokens": spent.total_tokens, "output_tokens": spent.output_tokens, "usd": spent.usd,
            "seconds": spent.seconds}[cap]
    limit = budget.get(cap)
    if cap == "usd":
        text = f"${used:.4f}" + (f" / ${number_text(limit)}" if limit else "")
    elif cap == "seconds":
        text = f"{used:.1f}" + (f" / {number_text(limit)}" if limit else "")
    else:
        text = f"{used:,}" + (f" / {number_text(limit)}" if limit else "")
    return text


def _shown_caps(rows: Sequence[EntryRow]) -> list[str]:
    """Tokens, dollars and seconds always; output tokens only when some entry caps them."""
    return [cap for cap in CAP_NAMES if cap != "output_tokens" or any(r.budget.get(cap) for r in rows)]


# Without a reference the column holds what each strategy measures of its answer, named in the cell
# ("vote share 75%", "Q(b) 0.62"): a vote share is not a confidence (app.pane_text.CONFIDENCE_MEANS).
MEASURE_COLUMN = "strategy's measure"


def _verdict(row: EntryRow, has_reference: bool) -> str:
    if not row.ended:
        return "–"
    if has_reference:
        return {True: "right", False: "wrong"}.get(row.correct, "not judged") if row.answer else "no answer"
    return confidence_text(row.confidence, row.strategy) if row.answer else "no answer"


def summary_records(rows: Sequence[EntryRow], *, has_reference: bool) -> list[dict[str, str]]:
    """The table's rows as text, in entry order (spend columns read "used / cap")."""
    marks = cheapest_right(rows) if has_reference else {}
    caps = _shown_caps(rows)
    records = []
    for row in rows:
        record = {"#": str(row.index + 1), "entry": row.entry,
                  "answer": row.answer if row.answer is not None else ("none" if row.ended else "…"),
                  "right?" if has_reference else MEASURE_COLUMN: _verdict(row, has_reference)}
        for cap in caps:
            approx = "≈ " if row.provisional and cap in ("total_tokens", "output_tokens", "usd") else ""
            record[CAP_COLUMNS[cap]] = approx + _spent_against(row.spent, row.budget, cap)
        record["calls"] = str(row.spent.calls)
        record["stop"] = row.stop
        if has_reference:
            record["least spend, right"] = " and ".join(marks.get(row.index, [])) or ""
        records.append(record)
    return records


def summary_headline(rows: Sequence[EntryRow], *, has_reference: bool) -> str:
    """How many entries ended and how ("3 entries: 2 answered, 1 stopped at a cap · 2 right"); with a
    reference, how many are right, and how the leaderboard scores an entry that gave no answer."""
    settled = [r for r in rows if r.ending is not None]
    counts = ", ".join(f"{sum(r.ending == key for r in settled)} {words}" for key, words in _COUNTED.items()
                       if any(r.ending == key for r in settled))
    if len(settled) == len(rows):
        text = f"{plural(len(rows), 'entry')}: {counts}" if rows else "no entries"
    else:
        text = f"{len(settled)} of {plural(len(rows), 'entry')} ended" + (f" ({counts})" if counts else "") \
            + f" · {len(rows) - len(settled)} still running"
    ended = [r for r in rows if r.ended]
    if has_reference and ended:
        right = [r for r in ended if r.correct]
        text += f" · {len(right)} right"
        scored, left_out = leaderboard_no_answers(ended)
        if scored:
            text += f" · {scored} with no answer (the leaderboard counts {_them(scored)} as wrong)"
        if left_out:
            text += f" · {left_out} with no output (the leaderboard leaves {_them(left_out)} out)"
        marks = cheapest_right(rows)
        if marks:
            names = [r.entry for r in rows if "tokens" in marks.get(r.index, [])]
            text += " · right at the least tokens: " + ", ".join(names)
    return text


def leaderboard_no_answers(rows: Sequence[EntryRow]) -> tuple[int, int]:
    """Of the ended rows judged with no answer: how many the leaderboard scores (as wrong: the
    recorder judges a missing answer False) and how many it leaves out as failed (no output), by
    the leaderboard's own rules (storage.queries.ENDED_STRATEGY_STATUSES, metrics.result_outcomes)."""
    unanswered = [r for r in rows if r.ended and not r.answer and r.correct is False
                  and r.status in ENDED_STRATEGY_STATUSES]
    if not unanswered:
        return 0, 0
    outcomes = metrics.result_outcomes(pd.DataFrame({"status": [r.status for r in unanswered],
                                             "calls": [r.spent.calls for r in unanswered],
                                             "output_tokens": [r.spent.output_tokens for r in unanswered]}))
    failed = int(outcomes.eq(metrics.FAILED).sum())
    return len(unanswered) - failed, failed


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _cell(text: str) -> str:
    """A markdown table cell: pipes escaped, line breaks as spaces (a table row is one line)."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(records: Sequence[Mapping[str, str]]) -> str:
    if not records:
        return ""
    columns = list(records[0])
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |",
             "|" + "|".join("---:" if c in ("#", "calls", *CAP_COLUMNS.values()) else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(_cell(record.get(c, "")) for c in columns) + " |" for record in records]
    return "\n".join(lines)
