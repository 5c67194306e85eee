"""Budget statements in a model's reply: the token budget TALE and SelfBudgeter ask a model to state.

  - parse_budget / parse_token_count: a token budget ("<budget>300</budget>", "about 300 tokens",
    "[[300]]", "Budget: 300");
  - strip_budget: a reply with its budget statements removed, so a model that repeats its own budget
    is not read as answering it.
A `<budget>N</budget>` tag is never an answer: answer parsing removes it first (_BUDGET_TAG).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# SelfBudgeter's `<budget>N</budget>` (closing tag optional): a statement of cost, never an answer.
_BUDGET_TAG = re.compile(r"(?i)<\s*budget\s*>[^<\n]*(?:<\s*/\s*budget\s*>)?|<\s*/\s*budget\s*>")

_WHOLE = r"(\d{1,3}(?:,\d{3})+|\d+)"
_BUDGET_TAGGED = re.compile(rf"(?i)<\s*budget\s*>\s*(?:about\s+|around\s+|roughly\s+|~\s*|≈\s*)?{_WHOLE}")
_N_TOKENS = re.compile(rf"(?i)(?<![\d.,]){_WHOLE}\s*(?:tokens?|toks?)\b")
_BUDGET_LABELLED = re.compile(rf"(?i)\b(?:budget|estimated?|total)\b[^\d\n]{{0,20}}?(?<![\d.,]){_WHOLE}")
_BARE_COUNT = re.compile(rf"(?i)^\s*\[*\s*{_WHOLE}\s*\]*\s*(?:tokens?)?\s*\.?\s*$")
_FIRST_COUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.]*%)")


def parse_budget(text: str | None) -> int | None:
    """A stated token budget: `<budget>N</budget>` (closing tag optional), else the last "N tokens"
    ("about 300 tokens"), else a labelled "Budget: N" / "Estimate: N", else a bare N or [[N]].
    None for no such number, or for 0."""
    for pattern in (_BUDGET_TAGGED, _N_TOKENS, _BUDGET_LABELLED, _BARE_COUNT):
        matches = list(pattern.finditer(str(text or "")))
        if matches:
            match = matches[-1] if pattern is _N_TOKENS else matches[0]
            value = int(match.group(1).replace(",", ""))
            return value if value > 0 else None
    return None


def parse_token_count(text: str | None) -> int | None:
    """TALE's estimate: a stated budget as parse_budget reads it, else the first whole number
    ("[[150]]", "About 1,200 tokens.", "Budget: 64"); a percentage is not a count."""
    stated = parse_budget(text)
    if stated is not None:
        return stated
    match = _FIRST_COUNT.search(str(text or ""))
    return int(match.group(1).replace(",", "")) if match else None


def strip_budget(text: str | None, amounts: Iterable[int] = ()) -> str:
    """The text without `<budget>` tags and without statements of the given budgets ("about 300
    tokens", "Budget: 300"), so a model that repeats its own budget is not read as answering it."""
    text = _BUDGET_TAG.sub(" ", str(text or ""))
    for amount in {int(a) for a in amounts if a is not None}:
        number = rf"(?<![\d.,])(?:{amount}|{amount:,})(?![\d]|[.,]\d)"
        text = re.sub(rf"(?i)(?:\b(?:about|around|roughly|approximately|under|within|at\s+most)\s+|[~≈]\s*)?"
                      rf"{number}\s*(?:-\s*)?tokens?\b", " ", text)
        text = re.sub(rf"(?i)\bbudget\b[^\d\n]{{0,20}}?{number}", " ", text)
    return text
