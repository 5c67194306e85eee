"""Answer parsing: what a model committed to in free text, and its rating replies.

extract_answer(text) finds the answer a model committed to, in this order (the first rule that
matches wins; within a rule the last occurrence wins):
  1. `Answer: X` (also `Final answer:`, markdown bold), 2. `\\boxed{X}` (nested braces),
  3. GSM8K `#### X`, 4. `the answer is X` (not when negated: "the answer is not 42"),
  5. a reply that is itself a bare answer: a choice letter "(B)", yes/no, a number, a formula,
  6. a last line that is itself such a bare answer (multi-line working ending in "42" or "(B)"),
  7. the last number in the text (`\\frac{3}{4}` counts as one number).
A `<budget>N</budget>` tag is never an answer: it is removed first (SelfBudgeter's model may echo it).
The value found is then tidied into the value itself: wrappers go (markdown bold, `$...$`,
`\\boxed{}`, a nested "Answer:" label, a trailing period), working goes ("12 * 3 = 36 dollars"
gives "36 dollars": the result of arithmetic working, not an equation in a variable such as
"2x + 3 = 7"), and so does a trailing unit word ("36 dollars" gives "36"; currency signs, `%` and
magnitudes such as "million" stay, as they change the value).

The other replies strategies read live here too, so every parser sees the same forms:
  - stated_answer: the answer of a text that explicitly states one (label, box, ####, "the answer
    is 42"): a reasoning step that merely mentions a number has not finished;
  - forced_answer: the answer of a reply to an answer cue ("...the final answer is", "Final Answer:");
  - parse_score: a rating ("8", "Score: 8/10", "0.8", "80%", "I'd rate it 9 out of 10").
Token budgets stated in a reply are read by reasoning.answers.budget_statements.
"""

from __future__ import annotations

import re

from reasoning.answers.budget_statements import _BUDGET_TAG
from reasoning.answers.values import (
    _BARE_CHOICE,
    _BOXED,
    _CHOICE,
    _MAGNITUDES,
    _MATH_WORDS,
    _braced,
    _choice,
    _looks_mathy,
    _number,
    _unwrap,
    _yes_no,
)

_ANSWER_LABEL = re.compile(r"(?i)(?<![a-z])(?:final\s+)?answer\s*\**\s*[:：]\s*\**[ \t]*(?P<value>[^\n]*)")
_ANSWER_IS = re.compile(
    r"(?i)\b(?:final\s+)?answer\s*(?:(?:is|would\s+be|will\s+be|should\s+be)(?=[\s:])|=)"
    r"\s*:?\s*(?!\s|not\b)(?P<value>[^\n]+)"
)
# An answer wrapped in a second label: "Final answer: **Answer: 4**", "Answer: The answer is 4".
_NESTED_LABEL = re.compile(
    r"(?is)^(?:(?:so|thus|hence|therefore)\s*,?\s+)?(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|[:：=])\s*:?\s*"
    r"(?P<value>.+)$"
)
_GSM8K = re.compile(r"(?m)^\s*####\s*(?P<value>[^\n]+)")
# A number in running text; `\frac{3}{4}` is one number, not a 3 and a 4.
_NUMBER_TOKEN = re.compile(
    r"\\[dt]?frac\s*\{\s*-?\d+\s*\}\s*\{\s*\d+\s*\}"
    r"|(?<![\w.])[-−]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?![\w])"
)


def extract_answer(text: str | None) -> str | None:
    """The final answer a model committed to in free text, or None when it gave none."""
    if not text or not str(text).strip():
        return None
    text = _BUDGET_TAG.sub(" ", str(text))
    for finder in (_labelled, _boxed, _gsm8k, _answer_is, _bare_answer, _last_line, _last_number):
        value = finder(text)
        if value:
            return value
    return None


def stated_answer(text: str | None) -> str | None:
    """The answer of a text that explicitly states one: an `Answer:` label, a `\\boxed{}`, `####`, or
    "the answer is X" with X an answer-like value. A reasoning step that merely mentions a number has
    not finished (extract_answer alone would fall back to its last number)."""
    if not text or not str(text).strip():
        return None
    text = _BUDGET_TAG.sub(" ", str(text))
    for finder in (_labelled, _boxed, _gsm8k, _claimed):
        value = finder(text)
        if value:
            return value
    return None


def forced_answer(text: str | None) -> str | None:
    """The answer of a reply to an answer cue ("...the final answer is", "Final Answer:"): the answer
    it states explicitly if any, else its first line taken as the answer (" **36**", " 36 dollars.",
    " 12 * 3 = 36" all give "36"). When the first line is prose ("Let me check.") and the rest of
    the reply holds an answer-like value, that value is the answer; a prose first line otherwise
    stands (the answer may be a word)."""
    if not text or not str(text).strip():
        return None
    text = _BUDGET_TAG.sub(" ", str(text))
    stated = stated_answer(text)
    if stated is not None:
        return stated
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = re.sub(r"(?i)^(?:[:：=]|is\b)\s*", "", first).strip()  # the cue's own "is" or colon, repeated
    answer = extract_answer("Answer: " + first) if first else None
    if answer is None or not _is_value(answer):
        rest = extract_answer(text)
        if rest is not None and _is_value(rest):
            return rest
    return answer


def _labelled(text: str) -> str | None:
    # Small models often echo the format instruction ("Answer: <answer>"): that is no answer.
    matches = [m for m in _ANSWER_LABEL.finditer(text) if not m.group("value").lstrip("*` ").startswith("<answer>")]
    if not matches:
        return None
    last = matches[-1]
    value = last.group("value").strip()
    if not value.strip("* "):  # "Answer:" with the value on the next non-empty line
        rest = [line.strip() for line in text[last.end():].splitlines() if line.strip()]
        value = rest[0] if rest else ""
    return _tidy(_first_clause(value, stops="."))  # "Answer: 42. Each row has 7 trees."


def _boxed(text: str) -> str | None:
    found = None
    for match in _BOXED.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            inner = _braced(text, start)
            if inner is not None:
                found = inner
        else:
            bare = re.match(r"\S+", text[start:])  # `\boxed 5`
            if bare:
                found = bare.group(0)
    return _tidy(found) if found is not None else None


def _gsm8k(text: str) -> str | None:
    matches = _GSM8K.findall(text)
    return _tidy(matches[-1]) if matches else None


def _answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    return _tidy(_first_clause(matches[-1].group("value")))


def _claimed(text: str) -> str | None:
    """"the answer is X" when X is answer-like: "the answer is easy to find" states nothing."""
    value = _answer_is(text)
    return value if value is not None and _is_value(value) else None


def _first_clause(value: str, stops: str = ",;.") -> str:
    """Cut "42, because ..." or "42. Then ..." at the end of the first clause, outside brackets."""
    depth = 0
    for i, ch in enumerate(value):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in stops and (i + 1 == len(value) or value[i + 1] in " \t"):
            return value[:i]
    return value


def _bare_answer(text: str, prose_yes_no: bool = True) -> str | None:
    stripped = _strip_wrappers(_unwrap(text.strip()))
    if "\n" in stripped or not stripped:
        return None
    choice = _BARE_CHOICE.match(stripped)
    if choice:
        return choice.group(1).upper()
    words = len(stripped.split())
    if _yes_no(stripped) and (words <= 30 if prose_yes_no else words == 1):
        return _yes_no(stripped)
    if _CHOICE.match(stripped) and words <= 12:  # "B) 42" / "(C) the third one"
        return _choice(stripped)
    if _number(stripped) is not None or (_looks_mathy(stripped) and len(stripped) <= 80):
        return _tidy(stripped)
    return None


def _last_line(text: str) -> str | None:
    """Multi-line working whose last line is itself an answer ("...\\n\\n42", "...\\n(B)"). A
    yes/no counts only alone: "Yes, the total is 36." is prose about the last number."""
    lines = [line for line in text.splitlines() if line.strip()]
    return _bare_answer(lines[-1], prose_yes_no=False) if len(lines) > 1 else None


def _last_number(text: str) -> str | None:
    numbers = _NUMBER_TOKEN.findall(text)
    return _tidy(numbers[-1].replace("−", "-")) if numbers else None


def _is_value(value: str) -> bool:
    """Whether a tidied value reads as an answer: a number, a choice, yes/no or mathematics."""
    return bool(
        _number(value) is not None or _BARE_CHOICE.match(value) or _CHOICE.match(value)
        or (_yes_no(value) and len(value.split()) <= 3) or _looks_mathy(value)
    )


def _tidy(value: str | None) -> str | None:
    """The value itself: wrappers (markdown, $...$, \\boxed{}, a nested label, a trailing period),
    arithmetic working and a trailing unit word removed."""
    if value is None:
        return None
    value = _strip_wrappers(value)
    for _ in range(3):
        before = value
        value = _strip_wrappers(_unwrap(value))
        inner = _NESTED_LABEL.match(value)
        if inner and not inner.group("value").lstrip().lower().startswith("not "):
            value = _strip_wrappers(_first_clause(inner.group("value")))
        if value == before:
            break
    choice = _BARE_CHOICE.match(value)
    if choice and (len(value) > 1 or value.isupper()):  # "(B)" -> "B"; a lone "x" stays a variable
        return choice.group(1).upper()
    return _plain_value(value) or None


_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“"}


def _strip_wrappers(value: str) -> str:
    """Markdown emphasis and code marks around a value, a pair of quotes around all of it
    ('Answer: "14"' is 14, not a different answer from 14), and a trailing full stop."""
    before = None
    while value != before:
        before = value
        value = value.strip().strip("*_`").strip()
        value = re.sub(r"[.。]+$", "", value)
        if len(value) >= 2 and _QUOTE_PAIRS.get(value[0]) == value[-1] and value[-1] not in value[1:-1]:
            value = value[1:-1]
    return value


# "=" as in working ("12 * 3 = 36"), not "<=", ">=", "==", "!=", ":=".
_EQUALS = re.compile(r"(?<![<>!=:≤≥])=(?!=)")
_ARITHMETIC_COMMANDS = re.compile(r"\\(?:times|cdot|div|[dt]?frac|left|right|text|mathrm)(?![A-Za-z])")
_ARITHMETIC = re.compile(r"[\d\s.,+\-−*/×÷·^()\[\]{}$€£¥%]*")
# A number followed by unit words: "36 dollars", "42 trees in total", "60 km/h".
_NUMBER_AND_UNIT = re.compile(
    r"^(?P<num>[-−+]?\s*[$€£¥]?\s*[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?)"
    r"\s*(?P<unit>[^\W\d_][^\W\d_/'’-]*(?:[\s-]+[^\W\d_][^\W\d_/'’-]*){0,2})$"
)


def _plain_value(value: str) -> str:
    """"12 * 3 = 36 dollars" -> "36": the result of working, without its unit word."""
    value = _result_of_working(value)
    unit = _NUMBER_AND_UNIT.match(value)
    if unit:
        first_word = re.split(r"[\s/-]+", unit.group("unit"))[0].lower()
        keeps_value = (len(first_word) < 2 or first_word in _MATH_WORDS or first_word in _MAGNITUDES
                       or first_word in ("percent", "per"))
        if not keeps_value:
            return unit.group("num").strip()
    return value


def _result_of_working(value: str) -> str:
    """The right-hand side of arithmetic working ("6 × 7 = 42"); an equation in a variable
    ("2x + 3 = 7", "x^2 = 4") is an answer as it stands."""
    parts = _EQUALS.split(value)
    if len(parts) < 2:
        return value
    lhs, rhs = "=".join(parts[:-1]), _strip_wrappers(_unwrap(parts[-1].strip()))
    if not rhs or _number(rhs) is None:
        return value
    text = _ARITHMETIC_COMMANDS.sub(" ", lhs)
    if re.fullmatch(r"\s*[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)*\s*", text):  # "x = 5", "Total cost = 36"
        return rhs
    text = re.sub(r"(?<=\d)\s*[xX]\s*(?=[$€£¥]?\d)", " * ", text)  # "12 x 3"
    text = re.sub(r"[^\W\d_]{2,}", " ", text)  # unit words: "12 dollars * 3"
    if re.search(r"\d", text) and _ARITHMETIC.fullmatch(text):
        return rhs
    return value


# ---- ratings -----------------------------------------------------------------------------------

_SCORE_NUM = r"(?P<num>-?\d+(?:\.\d+)?)\s*(?P<pct>%)?"
_SCORE_DEN = r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?"
_RATING_LABEL = re.compile(
    r"(?i)\b(?:score|rating|rate|rated|grade|confidence)\b[^\d\n-]{0,15}?" + _SCORE_NUM + _SCORE_DEN
)
_OUT_OF = re.compile(r"(?i)(?<![\w.])" + _SCORE_NUM + r"\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?)(?![\w.])")
_ANY_SCORE = re.compile(r"(?<![\w.])" + _SCORE_NUM)
_SCALE_ECHO = re.compile(r"(?i)\bscale\s+(?:of|from)\s+-?\d+\s*(?:to|-|–)\s*\d+")


def parse_score(text: str | None, lo: float = 1, hi: float = 10) -> float | None:
    """A rating reply mapped from the scale [lo, hi] onto [0, 1] (None: no number in it).

    Read in order: a labelled rating ("Score: 8", "**Rating:** 8/10", "I'd rate it 8 out of 10"),
    then an "N/M" or "N out of M" anywhere, then the first number. "N/M" and "N%" are a share of the
    scale's top (4/5 on a 1-10 scale is 8); a decimal strictly between 0 and 1 ("0.8") is a rating
    on [0, 1] and counts as that share too, so "8", "8/10", "80%" and "0.8" all read as 8. The
    reply's echo of "on a scale of 1 to 10" is skipped. Out-of-scale values are clamped."""
    if not text:
        return None
    text = _SCALE_ECHO.sub(" ", re.sub(r"[*`_]|\\boxed\s*", " ", str(text)))
    found = _RATING_LABEL.search(text) or _OUT_OF.search(text) or _ANY_SCORE.search(text)
    if not found:
        return None
    number, value = found.group("num"), float(found.group("num"))
    den = found.groupdict().get("den")
    if den:
        if float(den) <= 0:
            return None
        value = value / float(den) * hi
    elif found.group("pct"):
        value = value / 100 * hi
    elif "." in number and 0 < value < 1:
        value *= hi
    value = min(max(value, lo), hi)
    return (value - lo) / (hi - lo)
