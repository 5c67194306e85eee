"""Equivalence: whether an answer means the same as a reference, and the key votes are grouped by.

is_equivalent(predicted, reference) decides, in order:
  - equal ignoring case and whitespace -> True;
  - the reference is a choice letter (A-J) -> the prediction's choice letter must match;
  - the reference is yes/no (true/false) -> the prediction's leading yes/no must match;
  - both are plain numbers (integers, decimals, `1,234`, fractions `3/4` or `\\frac{3}{4}`,
    `$`/currency, trailing unit words, `%`) -> numeric equality (relative tolerance 1e-6);
    percentages: when exactly one side carries `%`, either reading counts, so `50%` == `50`
    (GSM8K writes percentages as bare numbers) and `50%` == `0.5`; `0.5` != `50` (no `%`).
    magnitudes scale ("1.5 million" == 1500000; hundred, thousand, million, billion, trillion, dozen),
    and as with %, a magnitude on one side only allows either reading ("3 million" == "3");
    A prediction holding more than one number ("42 apples and 3 oranges") is not a plain number;
  - either side looks like mathematics (LaTeX, an expression, a tuple) -> math-verify;
  - otherwise False: a prose answer that merely mentions the right number is not correct.
judge(answer, reference) is that verdict for an extracted answer (None without a reference);
check(text, reference) is judge(extract_answer(text), reference).

answer_key(answer) is the canonical form votes are grouped by (self_consistency, debate):
"80 cents", "Answer: 80", "$80.00" and "80" share the key "80"; "(B) 42" and "b" share "B".

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

from reasoning.answers.parsing import _tidy, extract_answer
from reasoning.answers.values import (
    _BARE_CHOICE,
    _MAX_MATH_CHARS,
    _choice,
    _clean,
    _looks_mathy,
    _magnitude,
    _number,
    _yes_no,
)

MATH_VERIFY_SECONDS = 5.0


def _fold(value: str) -> str:
    return re.sub(r"\s+", "", value).lower()


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    (x, x_pct), (y, y_pct) = a, b
    if x_pct == y_pct:
        return _close(x, y)
    pct, bare = (x, y) if x_pct else (y, x)
    return _close(pct, bare) or _close(pct / 100, bare)


def _close(x: Fraction, y: Fraction) -> bool:
    return x == y or abs(x - y) <= Fraction(1, 10**6) * max(abs(x), abs(y))


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
        if _numbers_equal(pred_number, ref_number):
            return True
        # As with %, a magnitude on one side only allows either reading: "3 million" answers both
        # "3000000" and a question asked in millions ("3").
        scales = _magnitude(pred), _magnitude(ref)
        if (scales[0] == 1) == (scales[1] == 1):
            return False
        (p, p_pct), (r, r_pct) = pred_number, ref_number
        return _numbers_equal((p / scales[0], p_pct), (r / scales[1], r_pct))
    if _looks_mathy(pred) and _looks_mathy(ref) or (
        (pred_number or ref_number) and (_looks_mathy(pred) or _looks_mathy(ref))
    ):
        return _math_verify(pred, ref)
    return False


def judge(answer: str | None, reference: str | None) -> bool | None:
    """Whether an extracted answer is right against a reference; None when there is no reference to
    judge by, or when the comparison itself failed (logged: a comparison bug must not lose a run)."""
    if reference is None or not str(reference).strip():
        return None
    if not answer:
        return False
    try:
        return bool(is_equivalent(answer, reference))
    except Exception:
        logging.getLogger(__name__).exception("is_equivalent failed on %r vs %r", answer, reference)
        return None


def check(text: str | None, reference: str | None) -> bool | None:
    """Whether the answer in a model's text is right; None when there is no reference to judge by."""
    return judge(extract_answer(text), reference)


def answer_key(answer: str | None) -> str | None:
    """A canonical form for counting votes: `$1,000`, `1000.0`, `1000 dollars`, `Answer: 1000` and
    `1000` share one key; so do `(B) 42`, `(B)` and `b`."""
    if answer is None:
        return None
    value = _clean(_tidy(str(answer)) or "")
    if not value:
        return None
    choice = _BARE_CHOICE.match(value) or re.match(r"^\s*\(?([A-J])\)\s", value)  # "(B) 42", "B) 42"
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
