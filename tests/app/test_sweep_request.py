"""One sweep check for the Sweep page and `budget-arena sweep` (app.sweep_request.checked_plan):
counts are whole numbers in range, refused with the same words from either entry point, never read
as another number."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import EXIT_BAD_INPUT, app
from app.sweep_request import MAX_BUILTIN_PROBLEMS, checked_plan, whole_count
from reasoning.config import Limits
from reasoning.sweep_plan import SweepPlanError

PLAN = {"dataset": "basic_arithmetic", "strategies": [("direct", {})], "budgets": ["100"], "cap": "total_tokens",
        "model": "fake"}


@pytest.mark.parametrize(("value", "expected"), [(3, 3), (3.0, 3), (0.0, 0)])
def test_a_whole_number_passes_as_an_int(value: float, expected: int) -> None:
    number = whole_count(value, "x", 0)
    assert number == expected and type(number) is int


@pytest.mark.parametrize(("value", "message"), [
    (1e12, "x must be a whole number from 1 to 10, got 1,000,000,000,000"),
    (2.5, "x must be a whole number, got 2.5"),
    (float("nan"), "x must be a whole number, got not a number"),
    (float("inf"), "x must be a whole number, got infinity"),
    (True, "x must be a whole number, got True"),
    (0, "x must be a whole number from 1 to 10, got 0"),
])
def test_anything_else_is_refused_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(SweepPlanError) as refused:
        whole_count(value, "x", 1, 10)
    assert str(refused.value) == message


def test_a_built_in_set_is_capped_a_files_subset_is_not(tmp_path: Path) -> None:
    limits = Limits()
    assert checked_plan(**PLAN, limits=limits, size=MAX_BUILTIN_PROBLEMS, seed=7.0, repeats=2.0).size == \
        MAX_BUILTIN_PROBLEMS
    with pytest.raises(SweepPlanError, match="from 1 to 10,000, got 10,001"):
        checked_plan(**PLAN, limits=limits, size=MAX_BUILTIN_PROBLEMS + 1)
    plan = checked_plan(**{**PLAN, "dataset": f"file:{tmp_path / 'x.jsonl'}"}, limits=limits, size=50_000)
    assert (plan.size, plan.seed, plan.repeats) == (50_000, 0, 1)  # a subset larger than the file takes all
    with pytest.raises(SweepPlanError, match="give at least one budget"):
        checked_plan(**{**PLAN, "budgets": [" "]}, limits=limits)


@pytest.mark.parametrize(("args", "message"), [
    (["--size", "20000"], "size (the number of problems) must be a whole number from 1 to 10,000, got 20,000"),
    (["--repeats", "1000"], "repeats must be a whole number from 1 to 100, got 1,000"),
    (["--repeats", "0"], "repeats must be a whole number from 1 to 100, got 0"),
    (["--seed", "-1"], "the seed must be a whole number from 0 to 9,007,199,254,740,991, got -1"),
])
def test_the_command_line_refuses_the_same_counts_with_the_same_words(db: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["sweep", "basic_arithmetic", "-b", "100", "-s", "direct", "--model", "fake",
                                      *args, "--db", db], catch_exceptions=False)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in " ".join(result.stderr.split())
