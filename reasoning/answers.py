"""Extract a final answer from free text and judge it against a reference."""

from __future__ import annotations

import re

_ANSWER_LINE = re.compile(r"(?im)^\s*\**\s*(?:final\s+)?answer\s*\**\s*[:：]\s*(.+?)\s*$")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text: str | None) -> str | None:
    """The model's final answer: the last `Answer: X` line, else None."""
    if not text:
        return None
    found = _ANSWER_LINE.findall(text)
    if found:
        return found[-1].strip().rstrip(".")
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None
