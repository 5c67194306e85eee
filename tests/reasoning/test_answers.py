"""Answer extraction and equivalence: a table of right and wrong cases, traps included."""

from __future__ import annotations

import threading

import pytest

from reasoning.answers import (
    answer_key,
    check,
    extract_answer,
    forced_answer,
    is_equivalent,
    parse_budget,
    parse_score,
    parse_token_count,
    stated_answer,
    strip_budget,
)

EXTRACT = [
    ("Let me think. 2 + 2 = 4. Answer: 4", "4"),
    ("Answer: 5\nWait, I made an error.\nAnswer: 6", "6"),  # the last Answer: wins
    ("**Answer:** $18", "$18"),
    ("Final answer: 72.", "72"),
    ('Answer: "14"', "14"),  # quotes around the whole value (seen on the local model: "14" split the vote)
    ("The answer is “14”.", "14"),
    ('Answer: 5\'10"', '5\'10"'),  # quotes that are part of the value stay
    ('Answer: "a" or "b"', '"a" or "b"'),
    ("Answer:\n\n  72", "72"),  # value on the next line
    ("42 apples and 3 oranges, Answer: 3", "3"),
    ("so the result is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\frac{\\sqrt{2}}{2}} is it", "\\frac{\\sqrt{2}}{2}"),  # nested braces
    ("first \\boxed{3} then \\boxed{5}", "5"),
    ("The final answer is $\\boxed{2\\sqrt{2}}$. I hope it is correct.", "2\\sqrt{2}"),
    ("Answer: $\\boxed{17}$", "17"),
    ("Natalia sold 48/2 = 24 clips in May.\n#### 1,234", "1,234"),
    ("The answer is (B).", "B"),
    ("The answer is C", "C"),
    ("(B)", "B"),
    ("B) 42", "B"),
    ("Yes.", "yes"),
    ("No, 17 is prime.", "no"),
    ("The answer is not 42, it is 41", "41"),  # a negated claim is not the answer
    ("the answer isn't 5, it's 6", "6"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is 42, because 6 * 7 = 42 and nothing else.", "42"),
    ("The answer is (1, 2).", "(1, 2)"),
    ("I think the result is 7 or so", "7"),  # last number as a fallback
    ("It costs $1,250 in total.", "$1,250"),
    ("\\frac{3}{4}", "\\frac{3}{4}"),  # a bare formula is its own answer
    ("So 20 - 12 = 8. Answer: <answer>` is the format", "8"),  # an echoed instruction is no answer
    ("", None),
    ("I have no idea.", None),
    (None, None),
    # how capable models write: the value, without wrappers, working or unit words
    ("**Answer: 42**", "42"),
    ("**Answer:** 42 trees", "42"),
    ("Answer: 42. Each row has 7 trees, so that is all of them.", "42"),
    ("Final answer: **Answer: 4**", "4"),  # a nested label is no part of the value
    ("Answer: The answer is 4", "4"),
    ("The answer is $42.", "$42"),
    ("The answer is: **42**.", "42"),
    ("Answer: 12 * 3 = 36 dollars", "36"),  # working: the value is its result
    ("Answer: 6 × 7 = 42", "42"),
    ("Answer: 12 x 3 = $36", "$36"),
    ("Answer: $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("Answer: 2x + 3 = 7", "2x + 3 = 7"),  # an equation in a variable is not working
    ("Answer: 1.5 million", "1.5 million"),  # a magnitude changes the value: kept
    ("Answer: 2 pi", "2 pi"),
    ("Answer: 50%", "50%"),
    ("Each row has 7.\n6 rows.\n\n### Final answer\n42 trees", "42"),  # the last line is the answer
    ("Options 6 and 7 multiply.\n\n(B)", "B"),
    ("Let me check.\nYes, the total is 36.", "36"),  # a yes/no leading prose is no answer
    ("It is 3 slices of 4, so \\frac{3}{4}\nof the pizza.", "\\frac{3}{4}"),  # \frac{3}{4} is one number
    ("<budget>512</budget>", None),  # a budget tag is never an answer
    ("<budget>512</budget>\nEach row has 7 trees: 6 × 7 = 42.", "42"),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT)
def test_extract_answer(text: str | None, expected: str | None) -> None:
    assert extract_answer(text) == expected


EQUIVALENT = [
    # integers, decimals, separators, signs
    ("42", "42", True),
    ("42", "420", False),
    ("42.0", "42", True),
    ("3.50", "3.5", True),
    ("-3", "3", False),
    ("−3", "-3", True),  # unicode minus
    ("1,000", "1000", True),
    ("1,5", "15", False),  # not a thousands separator
    ("1\\,000", "1000", True),
    ("1{,}000", "1000", True),
    ("1e3", "1000", True),
    # fractions
    ("3/4", "0.75", True),
    ("\\frac{3}{4}", "0.75", True),
    ("\\dfrac{3}{4}", "3/4", True),
    ("\\frac12", "0.5", True),
    ("0.333", "1/3", False),  # a rounded decimal is not the fraction
    ("2/3", "3/2", False),
    # percentages: one-sided % accepts p and p/100; without % no scaling
    ("50%", "50", True),
    ("50%", "0.5", True),
    ("50\\%", "50", True),
    ("50 percent", "50", True),
    ("0.5", "50", False),
    ("50%", "5", False),
    # units and currency stripped
    ("$18", "18", True),
    ("\\$18.00", "18", True),
    ("18 dollars", "18", True),
    ("\\text{18 dollars}", "18", True),
    ("60 km/h", "60", True),
    ("30^\\circ", "30", True),
    ("x = 5", "5", True),
    # a prediction with more than one number is not the reference number
    ("42 apples and 3 oranges", "42", False),
    ("not 42, it is 41", "42", False),
    ("between 40 and 42", "42", False),
    # LaTeX through math-verify
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\sqrt{2}", "\\sqrt{3}", False),
    ("\\pi/2", "\\frac{\\pi}{2}", True),
    ("x^2+1", "1+x^2", True),
    ("(1,2)", "(1, 2)", True),
    ("(1,3)", "(1, 2)", False),
    ("6 \\times 7", "42", True),
    ("7/2", "3\\frac{1}{2}", True),
    # yes/no
    ("Yes", "yes", True),
    ("Yes, because 17 is prime", "yes", True),
    ("True", "yes", True),
    ("no", "yes", False),
    ("Not sure", "no", False),
    # choice letters
    ("B", "(b)", True),
    ("(B) 42", "B", True),
    ("option C", "C", True),
    ("C", "B", False),
    ("I think B", "B", False),  # no committed choice letter leads it
    # strings, case and whitespace
    ("Paris", "paris ", True),
    ("New  York", "new york", True),
    ("London", "Paris", False),
    # magnitudes scale; on one side only, either reading counts (as with %)
    ("1.5 million", "1500000", True),
    ("1.5 million", "1.5", True),
    ("1.5 million", "15", False),
    ("2 million", "2 thousand", False),
    ("2 dozen", "24", True),
    # nothing to compare
    (None, "42", False),
    ("", "42", False),
]


@pytest.mark.parametrize(("predicted", "reference", "expected"), EQUIVALENT)
def test_is_equivalent(predicted: str | None, reference: str, expected: bool) -> None:
    assert is_equivalent(predicted, reference) is expected


CHECK = [
    ('Answer: "14"', "14", True),
    ("Step by step... so 6 * 7 = 42.\nAnswer: 42", "42", True),
    ("The answer is not 42, it is 41", "42", False),
    ("The answer is not 42, it is 41", "41", True),
    ("42 apples and 3 oranges, Answer: 3", "42", False),
    ("We get 42 first, then subtract 1. Answer: 41", "42", False),
    ("Answer: 42\n\n(I considered 41 too.)", "42", True),
    ("She pays \\boxed{\\$1{,}250}.", "1250", True),
    ("#### 72", "72", True),
    ("The answer is (C).", "C", True),
    ("The answer is (C).", "B", False),
    ("Answer: yes", "Yes", True),
    ("So the probability is $\\boxed{\\frac{1}{4}}$.", "0.25", True),
]


@pytest.mark.parametrize(("text", "reference", "expected"), CHECK)
def test_check(text: str, reference: str, expected: bool) -> None:
    assert check(text, reference) is expected


def test_check_without_reference_is_unknown() -> None:
    assert check("Answer: 42", None) is None
    assert check("Answer: 42", "  ") is None


def test_math_verify_works_off_the_main_thread() -> None:
    """Runs execute in a background thread, where math-verify's signal timeouts cannot work."""
    results: list[bool] = []
    errors: list[BaseException] = []

    def judge() -> None:
        try:
            results.append(is_equivalent("2\\sqrt{2}+0", "\\sqrt{8}"))
            results.append(is_equivalent("\\sqrt{5}", "\\sqrt{8}"))
        except BaseException as exc:  # surfaced below; a thread swallows it otherwise
            errors.append(exc)

    worker = threading.Thread(target=judge)
    worker.start()
    worker.join(30)
    assert not errors
    assert results == [True, False]


@pytest.mark.parametrize(
    ("answers", "same"),
    [
        (["$1,000", "1000", "1000.0", "1,000 dollars"], True),
        (["(B)", "b", "B"], True),
        (["Yes", "yes"], True),
        (["0.25", "1/4"], True),
        (["42", "41"], False),
        (["Paris", "London"], False),
        (["80 cents", "Answer: 80", "80", "**80**", "The answer is 80."], True),
        (["(B) 42", "(B)", "b", "The answer is (B)."], True),
        (["\\frac{3}{4}", "3/4", "0.75", "$\\frac{3}{4}$"], True),
        (["12 * 3 = 36", "36 dollars"], True),
        (["Answer: 80", "Answer: 8"], False),
    ],
)
def test_answer_key_groups_votes(answers: list[str], same: bool) -> None:
    keys = {answer_key(a) for a in answers}
    assert (len(keys) == 1) is same


# ---- the other replies strategies read --------------------------------------------------------------

STATED = [
    ("so the total is 12.\nAnswer: 12", "12"),
    ("The farmer plants $\\boxed{42}$ trees.", "42"),
    ("#### 42", "42"),
    ("So the answer is 42 trees.", "42"),
    ("Add 5 and 7 to get 12.", None),  # a number alone does not finish a step
    ("To find the answer is easy: multiply the rows.", None),  # "the answer is" + prose states nothing
    ("<budget>300</budget>", None),
    ("Answer: <answer>", None),  # the format echoed
]


@pytest.mark.parametrize(("text", "expected"), STATED)
def test_stated_answer(text: str, expected: str | None) -> None:
    assert stated_answer(text) == expected


FORCED = [
    (" 42", "42"),
    (" **42**.", "42"),
    (" $\\boxed{42}$", "42"),
    (" 12 * 3 = 36 dollars.", "36"),  # Anytime reported this working as its answer
    (" 36 dollars.\n\nBecause 12 * 3 = 36.", "36"),
    (" The final answer is $42$.", "42"),
    (": 42", "42"),
    (" is 42.", "42"),
    (" (B)", "B"),
    (" Paris.", "Paris"),  # a word answer stands
    (" Let me check once more.\n6 × 7 = 42", "42"),  # prose first line, the value after it
    ("\n\n42", "42"),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), FORCED)
def test_forced_answer(text: str, expected: str | None) -> None:
    assert forced_answer(text) == expected


SCORES = [
    ("8", 7 / 9),
    ("Score: 8/10", 7 / 9),
    ("0.8", 7 / 9),  # a rating on [0, 1]: the same share of the scale
    ("80%", 7 / 9),
    ("4/5", 7 / 9),
    ("**Rating:** 8 out of 10", 7 / 9),
    ("I'd rate it 8.", 7 / 9),
    ("Step 1 is right. Score: 8/10", 7 / 9),  # the first number is not the rating
    ("On a scale of 1 to 10: 8", 7 / 9),  # the echoed scale is not the rating
    ("\\boxed{8}", 7 / 9),
    ("10", 1.0),
    ("15", 1.0),
    ("0", 0.0),
    ("1", 0.0),
    ("no idea", None),
    ("", None),
]


@pytest.mark.parametrize(("reply", "score"), SCORES)
def test_parse_score(reply: str, score: float | None) -> None:
    result = parse_score(reply)
    assert result == (None if score is None else pytest.approx(score))


BUDGET_REPLIES = [
    ("<budget>300</budget>", 300),
    ("<BUDGET> 1,024 </BUDGET>", 1024),
    ("<budget>~90", 90),
    ("about 300 tokens", 300),
    ("I estimate this needs about 300 tokens, step 1 included.", 300),
    ("Step 1 takes 50 tokens, step 2 takes 100: 150 tokens in all.", 150),
    ("Budget: 250 tokens", 250),
    ("**Budget:** 250", 250),
    ("[[300]]", 300),
    ("120", 120),
    ("400 tokens.", 400),
    ("I'd guess a few hundred", None),
    ("<budget>0</budget>", None),
]


@pytest.mark.parametrize(("reply", "budget"), BUDGET_REPLIES)
def test_parse_budget(reply: str, budget: int | None) -> None:
    assert parse_budget(reply) == budget


@pytest.mark.parametrize(
    ("reply", "tokens"),
    [("150", 150), ("[[1,200]]", 1200), ("About 80 tokens.", 80), ("Budget: 64", 64), ("about 300 tokens", 300),
     ("Estimated: 90", 90), ("50% more", None), ("none", None)],
)
def test_parse_token_count(reply: str, tokens: int | None) -> None:
    assert parse_token_count(reply) == tokens


@pytest.mark.parametrize(
    ("reply", "answer"),
    [("<budget>512</budget>", None), ("about 300 tokens", None), ("Budget: 300\nSo 6 × 7 = 42.", "42"),
     ("I will stay within about 300 tokens. The farmer has 36 tokens.", "36"),  # only the budget goes
     ("Answer: 300", "300")],  # an explicit answer that equals the budget is still the answer
)
def test_strip_budget_leaves_no_budget_to_read_as_the_answer(reply: str, answer: str | None) -> None:
    assert extract_answer(strip_budget(reply, [300, 512])) == answer
