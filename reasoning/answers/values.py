"""The forms an answer's value takes, read the same way by answer parsing and by equivalence.

A plain number (`1,234`, `3/4`, `\\frac{3}{4}`, `$5`, `50%`, `1.5 million`, `36 dollars`) as a Fraction
with its percent flag; a choice letter ("(B)", "option B"); yes/no (true/false); whether a value
looks like mathematics worth math-verify (LaTeX, an expression, a tuple) rather than prose; and the
LaTeX and typography that do not change a value (`$...$`, `\\boxed{}`, `\\text{}`, `1\\,000`).
The underscored names are the package's own: reasoning.answers.parsing and .equivalence use them.
"""

from __future__ import annotations

import re
from fractions import Fraction

_MAX_MATH_CHARS = 300
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
# A choice letter leading an answer: "(B) 42", "B) 42", "B. 42", "option B".
_CHOICE = re.compile(r"^\s*(?:(?:[Oo]ption|[Cc]hoice)\s+\(?([A-J])\)?(?![\w])|\(([A-J])\)|([A-J])[.:)](?!\w))")
_BARE_CHOICE = re.compile(r"^\s*(?:(?:[Oo]ption|[Cc]hoice)\s+)?\(?([A-Ja-j])\)?\.?\s*$")
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}
_PLAIN_NUMBER = re.compile(
    r"""^(?P<sign>[-+])?\s*[$€£¥]?\s*(?P<sign2>[-+])?\s*
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:\s*/\s*(?P<den>\d+))?
    (?:[eE](?P<exp>[-+]?\d+))?
    \s*(?P<pct>%|percent\b|per\s*cent\b)?
    \s*(?P<unit>[^\W\d_][^\W\d_°²³/.'-]*(?:[\s/-]+[^\W\d_][^\W\d_°²³'.-]*){0,2})?\s*\.?$""",
    re.VERBOSE,
)
_LATEX_FRAC = re.compile(r"^(?P<sign>-)?\s*\\frac\s*\{\s*(?P<num>-?\d+)\s*\}\s*\{\s*(?P<den>\d+)\s*\}(?P<rest>.*)$")
# Words that scale a number rather than name its unit: "1.5 million" is 1,500,000, not 1.5.
_MAGNITUDES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12,
               "dozen": 12}
_MATH_WORDS = {
    "sqrt", "frac", "dfrac", "tfrac", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln",
    "exp", "inf", "infty", "cdot", "times", "div", "pm", "mp", "le", "ge", "leq", "geq", "neq",
    "arcsin", "arccos", "arctan", "mod", "gcd", "lcm", "max", "min", "deg", "circ",
}


def _braced(text: str, open_at: int) -> str | None:
    """The text inside the brace group opening at open_at, or None if it never closes."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def _unwrap(value: str) -> str:
    for _ in range(3):
        before = value
        if len(value) >= 2 and value.startswith("$") and value.endswith("$") and value.count("$") in (2, 4):
            value = value.strip("$").strip()
        for pair in (("\\(", "\\)"), ("\\[", "\\]")):
            if value.startswith(pair[0]) and value.endswith(pair[1]):
                value = value[len(pair[0]) : -len(pair[1])].strip()
        boxed = _BOXED.match(value)
        if boxed and value[boxed.end() : boxed.end() + 1] == "{":
            inner = _braced(value, boxed.end())
            if inner is not None and boxed.end() + len(inner) + 2 == len(value):
                value = inner.strip()
        if value == before:
            break
    return value


def _clean(value: str) -> str:
    """Normalise LaTeX and typography that do not change the value."""
    value = _unwrap(str(value).strip())
    value = value.replace("−", "-").replace("–", "-").replace("\u00a0", " ")
    value = re.sub(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}", r" \1 ", value)
    value = re.sub(r"\\[dt]frac", r"\\frac", value)
    value = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", value)  # \frac12
    value = value.replace("\\left", "").replace("\\right", "").replace("\\!", "")
    value = value.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%")
    value = re.sub(r"(?<=\d)\\[,;: ]\s*(?=\d)", "", value)  # 1\,000
    value = re.sub(r"\^\s*\{?\\circ\}?|°", "", value)
    value = re.sub(r"\\[,;: ]", " ", value)
    value = re.sub(r"^[a-zA-Z]\s*=\s*(?=\S)", "", value)  # "x = 5"
    return re.sub(r"\s+", " ", value).strip().rstrip(".").strip()


def _number(value: str) -> tuple[Fraction, bool] | None:
    """A plain number with its percent flag, or None if the text is more than one number."""
    value = _clean(value) if value else value
    if not value:
        return None
    frac = _LATEX_FRAC.match(value)
    if frac and not frac.group("rest").strip(" %"):
        number = Fraction(int(frac.group("num")), int(frac.group("den"))) if int(frac.group("den")) else None
        if number is None:
            return None
        return (-number if frac.group("sign") else number), "%" in frac.group("rest")
    match = _PLAIN_NUMBER.match(value)
    if not match:
        return None
    try:
        number = Fraction(match.group("num").replace(",", ""))
        if match.group("den"):
            den = int(match.group("den"))
            if den == 0 or "." in match.group("num"):
                return None
            number /= den
        if match.group("exp"):
            number *= Fraction(10) ** int(match.group("exp"))
    except (ValueError, ZeroDivisionError):
        return None
    if (match.group("sign") == "-") != (match.group("sign2") == "-"):
        number = -number
    return number * _scale(match), match.group("pct") is not None


def _magnitude(value: str) -> int:
    """The scale a magnitude word gives a plain number ("1.5 million" -> 10**6), else 1."""
    match = _PLAIN_NUMBER.match(_clean(value))
    return _scale(match) if match else 1


def _scale(match: re.Match[str]) -> int:
    unit = (match.group("unit") or "").lower().split()
    return _MAGNITUDES.get(unit[0], 1) if unit else 1


def _choice(value: str) -> str | None:
    bare = _BARE_CHOICE.match(value)
    if bare:
        return bare.group(1).upper()
    lead = _CHOICE.match(value)
    if lead:
        return next(g for g in lead.groups() if g).upper()
    said = re.search(r"(?i)\b(?:answer|option|choice)\s+(?:is\s+)?\(?([A-J])\)?(?![\w])", value)
    if said:
        return said.group(1).upper()
    bracketed = set(re.findall(r"\(([A-J])\)", value))
    return bracketed.pop() if len(bracketed) == 1 else None


def _yes_no(value: str) -> str | None:
    first = re.match(r"\W*([A-Za-z]+)", value)
    if not first:
        return None
    word = first.group(1).lower()
    return "yes" if word in _YES else "no" if word in _NO else None


def _looks_mathy(value: str) -> bool:
    """LaTeX, an expression, a tuple or a set: worth math-verify. Prose is not."""
    if not value or len(value) > _MAX_MATH_CHARS:
        return False
    if not re.search(r"\d|\\|[a-zA-Z]", value):
        return False
    words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", " ", value))
    if any(w.lower() not in _MATH_WORDS for w in words):
        return False
    return bool(re.search(r"[\\^{}=+*/()\[\]<>,]|\d\s*[a-z]|[a-z]\s*\d|^-?[a-z]$", value))
