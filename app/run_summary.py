"""The run summary: one row per entry with its final answer, its verdict (or confidence), its spend
against each cap, its calls and why it stopped; with a reference, which entries answered right at
the least spend. Pure functions of the folded panes and the stored strategy rows (no Streamlit
here), plus the same table as GitHub-flavoured markdown to copy.

A row is filled in as its entry ends; a running entry shows its state and its spend so far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.panes import PaneView, confidence_text, stop_text
from reasoning.budget import CAP_NAMES, Spend
from reasoning.wording import number_text, plural

CAP_COLUMNS = {"total_tokens": "tokens", "output_tokens": "output tokens", "usd": "dollars", "seconds": "seconds"}


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
    stop: str  # why it stopped, the binding cap named when known
    ended: bool
    provisional: bool = False  # the spend counts text not yet reported (app.panes.shown_spend): shown with ≈


def entry_row(pane: PaneView, title: str, status: str, budget: Mapping[str, Any], correct: bool | None,
              spent: Spend | None = None, provisional: bool = False) -> EntryRow:
    """The pane's row; `spent` is what the pane shows (app.panes.shown_spend), else its last report."""
    if pane.ended:
        stop = pane.stop_detail or stop_text(pane.stop)
        if pane.error and pane.stop == "error":
            stop = f"failed: {pane.error.splitlines()[0][:120]}"
    else:
        stop = status if status not in ("done", "error", "cancelled") else stop_text(pane.stop)
    answer = pane.final_answer if pane.ended else pane.best_answer
    return EntryRow(pane.index, title, status, answer, correct, pane.confidence, spent or pane.spent, budget, stop,
                    pane.ended, provisional and not pane.ended)


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


def _verdict(row: EntryRow, has_reference: bool) -> str:
    if not row.ended:
        return "–"
    if has_reference:
        return {True: "right", False: "wrong"}.get(row.correct, "not judged") if row.answer else "no answer"
    return confidence_text(row.confidence) if row.answer else "no answer"


def summary_records(rows: Sequence[EntryRow], *, has_reference: bool) -> list[dict[str, str]]:
    """The table's rows as text, in entry order (spend columns read "used / cap")."""
    marks = cheapest_right(rows) if has_reference else {}
    caps = _shown_caps(rows)
    records = []
    for row in rows:
        record = {"#": str(row.index + 1), "entry": row.entry,
                  "answer": row.answer if row.answer is not None else ("none" if row.ended else "…"),
                  "right?" if has_reference else "confidence": _verdict(row, has_reference)}
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
    ended = [r for r in rows if r.ended]
    text = f"{len(ended)} of {plural(len(rows), 'entry')} finished"
    if has_reference and ended:
        right = [r for r in ended if r.correct]
        text += f" · {len(right)} right"
        marks = cheapest_right(rows)
        if marks:
            names = [r.entry for r in rows if "tokens" in marks.get(r.index, [])]
            text += " · right at the least tokens: " + ", ".join(names)
    return text


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
