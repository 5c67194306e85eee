"""Numbers and counts as a reader says them: "1 token", "3 strategies", "1,000,000,000,000".

Python's `g` format writes a large number as "1e+12" and a count needs its plural chosen; every
message the app, the command line and the engine show can go through these functions. `sentence`
turns an error's message ("the problem is empty") into one for a page ("The problem is empty.").
"""

from __future__ import annotations

import math

_IRREGULAR = {"strategy": "strategies", "entry": "entries", "reply": "replies"}


def plural(count: float, word: str, many: str | None = None) -> str:
    """`count` and `word` in the singular for exactly 1, else in the plural: "1 token", "0 calls",
    "3 strategies". `many` overrides the plural (default: the word + "s", or a known irregular)."""
    number = number_text(count)
    if count == 1:
        return f"{number} {word}"
    return f"{number} {many or _IRREGULAR.get(word, word + 's')}"


def number_text(value: float, digits: int = 6) -> str:
    """A number with thousands separators and no exponent: 1e12 -> "1,000,000,000,000", 2.5 ->
    "2.5", 0.00012 -> "0.00012"; at most `digits` significant digits after the point. NaN and
    infinities as words (they are refused as input, but a message may still name one)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "not a number" if math.isnan(value) else ("infinity" if value > 0 else "minus infinity")
    if float(value).is_integer() and abs(value) < 1e21:
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def sentence(message: object) -> str:
    """An error's message (or any text) as a sentence: first letter upper case, a full stop unless it
    ends with one (or with ? or !)."""
    text = str(message).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")
