"""Extract a final answer from free text and judge it against a reference.

extract_answer(text) finds the answer a model committed to, in this order (the first rule that
matches wins; within a rule the last occurrence wins):
  1. `Answer: X` (also `Final answer:`, markdown bold), 2. `\\boxed{X}` (nested braces),
  3. GSM8K `#### X`, 4. `the answer is X` (not when negated: "the answer is not 42"),
  5. a reply that is itself a bare answer: a choice letter "(B)", yes/no, a number, a formula,
  6. the last number in the text.

is_equivalent(predicted, reference) decides, in order:
  - equal ignoring case and whitespace -> True;
  - the reference is a choice letter (A-J) -> the prediction's choice letter must match;
  - the reference is yes/no (true/false) -> the prediction's leading yes/no must match;
  - both are plain numbers (integers, decimals, `1,234`, fractions `3/4` or `\\frac{3}{4}`,
    `$`/currency, trailing unit words, `%`) -> numeric equality (relative tolerance 1e-6);
    percentages: when exactly one side carries `%`, either reading counts, so `50%` == `50`
    (GSM8K writes percentages as bare numbers) and `50%` == `0.5`; `0.5` != `50` (no `%`).
    A prediction holding more than one number ("42 apples and 3 oranges") is not a plain number;
  - either side looks like mathematics (LaTeX, an expression, a tuple) -> math-verify;
  - otherwise False: a prose answer that merely mentions the right number is not correct.

math-verify guards its work with signal.alarm, which only works in the main thread and would also
cancel any other SIGALRM user (pytest-timeout). Runs happen in background threads, so its own
timeouts are always disabled and each comparison runs in a daemon worker thread with a deadline;
an overrun is judged not equivalent. Inputs are length-capped so runaways are rare.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from fractions import Fraction

__all__ = ["answer_key", "check", "extract_answer", "is_equivalent"]

MATH_VERIFY_SECONDS = 5.0
_MAX_MATH_CHARS = 300

# ---- extraction -------------------------------------------------------------------------------

_ANSWER_LABEL = re.compile(r"(?i)(?<![a-z])(?:final\s+)?answer\s*\**\s*[:：]\s*\**[ \t]*(?P<value>[^\n]*)")
_ANSWER_IS = re.compile(
    r"(?i)\b(?:final\s+)?answer\s*(?:(?:is|would\s+be|will\s+be|should\s+be)(?=[\s:])|=)"
    r"\s*:?\s*(?!\s|not\b)(?P<value>[^\n]+)"
)
_GSM8K = re.compile(r"(?m)^\s*####\s*(?P<value>[^\n]+)")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-−]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?![\w])")
# A choice letter leading an answer: "(B) 42", "B) 42", "B. 42", "option B".
_CHOICE = re.compile(r"^\s*(?:(?:[Oo]ption|[Cc]hoice)\s+\(?([A-J])\)?(?![\w])|\(([A-J])\)|([A-J])[.:)](?!\w))")
_BARE_CHOICE = re.compile(r"^\s*(?:(?:[Oo]ption|[Cc]hoice)\s+)?\(?([A-Ja-j])\)?\.?\s*$")
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}


def extract_answer(text: str | None) -> str | None:
    """The final answer a model committed to in free text, or None when it gave none."""
    if not text or not text.strip():
        return None
    text = str(text)
    for finder in (_labelled, _boxed, _gsm8k, _answer_is, _bare_answer, _last_number):
        value = finder(text)
        if value:
            return value
    return None


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
    return _tidy(value)


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


def _gsm8k(text: str) -> str | None:
    matches = _GSM8K.findall(text)
    return _tidy(matches[-1]) if matches else None


def _answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    return _tidy(_first_clause(matches[-1].group("value")))


def _first_clause(value: str) -> str:
    """Cut "42, because ..." or "42. Then ..." at the end of the first clause, outside brackets."""
    depth = 0
    for i, ch in enumerate(value):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in ",;." and (i + 1 == len(value) or value[i + 1] in " \t"):
            return value[:i]
    return value


def _bare_answer(text: str) -> str | None:
    stripped = _unwrap(text.strip())
    if "\n" in stripped:
        return None
    choice = _BARE_CHOICE.match(stripped)
    if choice:
        return choice.group(1).upper()
    if _yes_no(stripped) and len(stripped.split()) <= 30:
        return _yes_no(stripped)
    if _CHOICE.match(stripped) and len(stripped.split()) <= 12:  # "B) 42" / "(C) the third one"
        return _choice(stripped)
    if _number(stripped) is not None or (_looks_mathy(stripped) and len(stripped) <= 80):
        return _tidy(stripped)
    return None


def _last_number(text: str) -> str | None:
    numbers = _NUMBER_TOKEN.findall(text)
    return _tidy(numbers[-1].replace("−", "-")) if numbers else None


def _tidy(value: str | None) -> str | None:
    """Strip the wrappers around an answer: markdown bold, $...$, \\boxed{}, a trailing period."""
    if value is None:
        return None
    value = value.strip().strip("*").strip()
    value = _unwrap(value)
    inner = re.match(r"(?i)^the\s+(?:final\s+)?answer\s+is\s*:?\s*(.+)$", value)
    if inner:
        value = _first_clause(inner.group(1))
    value = value.strip().rstrip(".").strip()
    choice = _BARE_CHOICE.match(value)
    if choice and (len(value) > 1 or value.isupper()):  # "(B)" -> "B"; a lone "x" stays a variable
        return choice.group(1).upper()
    return value or None


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


# ---- comparison -------------------------------------------------------------------------------

_CURRENCY = "$€£¥"
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
_MATH_WORDS = {
    "sqrt", "frac", "dfrac", "tfrac", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln",
    "exp", "inf", "infty", "cdot", "times", "div", "pm", "mp", "le", "ge", "leq", "geq", "neq",
    "arcsin", "arccos", "arctan", "mod", "gcd", "lcm", "max", "min", "deg", "circ",
}


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


def _fold(value: str) -> str:
    return re.sub(r"\s+", "", value).lower()


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
    return number, match.group("pct") is not None


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    (x, x_pct), (y, y_pct) = a, b
    if x_pct == y_pct:
        return _close(x, y)
    pct, bare = (x, y) if x_pct else (y, x)
    return _close(pct, bare) or _close(pct / 100, bare)


def _close(x: Fraction, y: Fraction) -> bool:
    return x == y or abs(x - y) <= Fraction(1, 10**6) * max(abs(x), abs(y))


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


def is_equivalent(predicted: str | None, reference: str | None) -> bool:
    """Whether an extracted answer means the same as the reference (see the module docstring)."""
    if predicted is None or reference is None:
        return False
    pred, ref = _clean(str(predicted)), _clean(str(reference))
    if not pred or not ref:
        return False
    if _fold(pred) == _fold(ref):
        return True
    ref_choice = _BARE_CHOICE.match(ref)
    if ref_choice:
        return _choice(pred) == ref_choice.group(1).upper()
    ref_yes_no = _yes_no(ref) if len(ref.split()) == 1 else None
    if ref_yes_no:
        return _yes_no(pred) == ref_yes_no
    pred_number, ref_number = _number(pred), _number(ref)
    if pred_number is not None and ref_number is not None:
        return _numbers_equal(pred_number, ref_number)
    if _looks_mathy(pred) and _looks_mathy(ref) or (
        (pred_number or ref_number) and (_looks_mathy(pred) or _looks_mathy(ref))
    ):
        return _math_verify(pred, ref)
    return False


def check(text: str | None, reference: str | None) -> bool | None:
    """Whether the answer in a model's text is right; None when there is no reference to judge by."""
    if reference is None or not str(reference).strip():
        return None
    return is_equivalent(extract_answer(text), reference)


def answer_key(answer: str | None) -> str | None:
    """A canonical form for counting votes: `$1,000`, `1000.0` and `1000` share one key."""
    if answer is None:
        return None
    value = _clean(str(answer))
    if not value:
        return None
    choice = _BARE_CHOICE.match(value)
    if choice:
        return choice.group(1).upper()
    if len(value.split()) == 1 and _yes_no(value):
        return _yes_no(value)
    number = _number(value)
    if number is not None:
        return _canonical_number(number[0])
    return re.sub(r"\s+", " ", value).lower()


def _canonical_number(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    den = x.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:  # a terminating decimal
        return format(x.numerator / x.denominator, ".12g")
    return f"{x.numerator}/{x.denominator}"


# ---- math-verify, off the main thread ---------------------------------------------------------


class _QuietTimeoutWarning(logging.Filter):
    """math-verify warns once that its timeout is off; we supply our own deadline instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_QuietTimeoutWarning())


@functools.lru_cache(maxsize=4096)
def _math_verify(predicted: str, reference: str) -> bool:
    if len(predicted) > _MAX_MATH_CHARS or len(reference) > _MAX_MATH_CHARS:
        return False
    parse, verify = _load_math_verify()  # importing sympy is slow: not on the deadline
    result: list[bool] = []

    def work() -> None:
        try:
            gold = parse(_as_latex(reference), parsing_timeout=None)  # type: ignore[arg-type]
            target = parse(_as_latex(predicted), parsing_timeout=None)  # type: ignore[arg-type]
            result.append(bool(gold and target and verify(gold, target, timeout_seconds=None)))
        except Exception:  # a parser crash on odd input means "not shown equivalent"
            result.append(False)

    worker = threading.Thread(target=work, name="math-verify", daemon=True)
    worker.start()
    worker.join(MATH_VERIFY_SECONDS)
    return bool(result and result[0])


@functools.cache
def _load_math_verify():  # type: ignore[no-untyped-def]
    from math_verify import parse, verify

    return parse, verify


def _as_latex(value: str) -> str:
    return value if "$" in value else f"${value}$"
