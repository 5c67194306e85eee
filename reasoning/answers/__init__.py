"""Read what a model committed to in free text, and judge it against a reference.

The package's public names, used by the strategies, the datasets and the recorder:
  - parsing: extract_answer (the answer a reply commits to), stated_answer, forced_answer, and
    parse_score (a rating reply);
  - equivalence: is_equivalent (numbers, %, magnitudes, choice letters, yes/no, math-verify),
    judge and check (a verdict against a reference), answer_key (the key votes are grouped by);
  - budget_statements: parse_budget, parse_token_count, strip_budget (a budget a reply states);
  - values: the forms a value takes, shared by parsing and equivalence.
Each module's docstring states its rules.
"""

from __future__ import annotations

from reasoning.answers.budget_statements import parse_budget, parse_token_count, strip_budget
from reasoning.answers.equivalence import answer_key, check, is_equivalent, judge
from reasoning.answers.parsing import extract_answer, forced_answer, parse_score, stated_answer

__all__ = [
    "answer_key",
    "check",
    "extract_answer",
    "forced_answer",
    "is_equivalent",
    "judge",
    "parse_budget",
    "parse_score",
    "parse_token_count",
    "stated_answer",
    "strip_budget",
]
