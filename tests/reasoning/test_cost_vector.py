"""The cost vector (reasoning.budget.Cost): its algebra over the four caps, None as an uncapped cap,
and sizing on top of it; that no module spells out the four caps by hand; and the one dollar
estimate (reasoning.cost_estimate) sweeps and the Compare form share."""

from __future__ import annotations

import ast
import math

import pytest

from app.controls import estimate_cost as form_estimate
from app.model_picker import KeyChoice, model_choice
from reasoning.budget import CAP_NAMES, Budget, Cost, Spend
from reasoning.context import Reply
from reasoning.cost_estimate import CostEstimate, cap_bound_usd
from reasoning.datasets import Item
from reasoning.model_protocol import Usage
from reasoning.prices import UNKNOWN, ModelPrice, price_for
from reasoning.strategies.support.sizing import (
    CallCost,
    fits,
    how_many,
    largest_affordable,
    next_round,
    token_equivalent,
)
from reasoning.sweep import estimate_cost as sweep_estimate
from reasoning.sweep_plan import Cell, StrategyChoice
from tests.support import ROOT

PRICE = ModelPrice(input_per_mtok=1.0, output_per_mtok=4.0, known=True)


def test_addition_subtraction_and_scaling_go_cap_by_cap() -> None:
    a, b = Cost(100, 20, 0.5, 1.0), Cost(10, 5, 0.25, 0.5)
    assert a + b == Cost(110, 25, 0.75, 1.5)
    assert a - b == Cost(90, 15, 0.25, 0.5)
    assert a * 2 == 2 * a == Cost(200, 40, 1.0, 2.0)
    assert a / 4 == Cost(25, 5, 0.125, 0.25)
    assert sum([a, b, b], Cost()) == Cost(120, 30, 1.0, 2.0)
    assert Cost() == Cost(0, 0, 0.0, 0.0)  # the zero vector


def test_none_is_an_uncapped_cap_it_absorbs_sums_and_differences() -> None:
    caps = Budget(total_tokens=1000, usd=2.0)  # output tokens and seconds uncapped
    left = caps - Cost(300, 100, 0.5, 7.0)
    assert left == Cost(700, None, 1.5, None)
    assert type(left) is Cost  # arithmetic on caps gives an amount, not a validated Budget
    assert (left + Cost(1, 1, 1.0, 1.0)).output_tokens is None
    assert (left * 3).seconds is None
    with pytest.raises(ValueError, match="unbounded"):
        _ = Cost(1, 1, 1.0, 1.0) - left


def test_min_is_the_tighter_cap_and_max_the_dearer_cost() -> None:
    run, ceiling = Budget(total_tokens=5000, seconds=30), Budget(total_tokens=2000, usd=1.0)
    assert run.min(ceiling) == Cost(2000, None, 1.0, 30)  # an uncapped cap loses to any number
    assert run.max(ceiling) == Cost(5000, None, None, None)  # and wins a max
    assert Cost(10, 50, 0.1, 2.0).max(Cost(20, 5, 0.05, 3.0)) == Cost(20, 50, 0.1, 3.0)


def test_clamped_reads_a_passed_cap_as_zero_of_its_kind() -> None:
    left = (Budget(total_tokens=100, usd=1.0, seconds=5) - Cost(150, 0, 1.5, 2.0)).clamped()
    assert left == Cost(0, None, 0.0, 3.0)
    assert isinstance(left.total_tokens, int) and isinstance(left.usd, float)
    assert left.exhausted() == "total_tokens"  # the first used-up cap, in CAP_NAMES order
    assert Cost(5, None, 0.0, None).exhausted() == "usd"
    assert Budget(usd=1.0).exhausted() is None and Budget().is_unbounded and not Budget(seconds=1).is_unbounded


def test_exceeds_names_the_first_cap_passed_and_ignores_uncapped_ones() -> None:
    caps = Budget(total_tokens=1000, output_tokens=200, usd=0.01)
    assert Cost(1000, 200, 0.01, 99.0).exceeds(caps) is None  # at a cap is within it; seconds uncapped
    assert Cost(1001, 201, 0.02, 0.0).exceeds(caps) == "total_tokens"
    assert Cost(10, 201, 0.0, 0.0).exceeds(caps) == "output_tokens"
    hair_above = 0.01 * (1 + 1e-12)
    assert Cost(10, 10, hair_above, 0.0).exceeds(caps) == "usd"
    assert Cost(10, 10, hair_above, 0.0).exceeds(caps, usd_rel_tol=1e-9) is None  # float sums of prices
    assert Cost(2000, 2000, None, 0.0).exceeds(Budget()) is None  # nothing capped, nothing exceeded
    assert Cost(1, 1, None, 0.0).exceeds(caps) == "usd"  # an unbounded amount passes any set cap


def test_counts_hold_each_cap_apart_and_a_used_up_cap_buys_nothing() -> None:
    unit = Cost(100, 20, 0.001, 0.5)
    left = Budget(total_tokens=1000, output_tokens=100, usd=0.01)
    assert left.counts(unit) == {"total_tokens": 10, "output_tokens": 5, "usd": pytest.approx(10)}
    assert left.counts(unit, reserve=Cost(500, 0, 0.0, 0.0))["total_tokens"] == 5
    # A cap the unit does not use limits nothing while some of it is left, and everything once not.
    free = Cost(100, 20, 0.0, 0.0)
    assert "usd" not in left.counts(free)
    assert Cost(1000, None, 0.0, None).counts(free) == {"total_tokens": 10, "usd": 0.0}
    assert Budget().counts(unit) == {}


def test_the_worst_case_of_a_call_and_the_charge_of_a_reply_use_the_models_prices() -> None:
    worst = Cost.of_call(PRICE, prompt_tokens=1000, output_tokens=500)
    assert worst == Cost(1500, 500, pytest.approx(1000 * 1e-6 + 500 * 4e-6), 0.0)
    charged = Cost.of_usage(PRICE, Usage(1000, 200))
    assert charged == Cost(1200, 200, pytest.approx(PRICE.cost(Usage(1000, 200))), 0.0)
    spend = Spend(input_tokens=1000, output_tokens=200, usd=0.5, seconds=3.0, calls=2)
    assert spend.cost == Cost(1200, 200, 0.5, 3.0)
    assert spend.plus(Usage(10, 5, estimated=True), 0.25, counted=True) == Spend(
        input_tokens=1010, output_tokens=205, usd=0.75, seconds=3.0, calls=3, estimated=True)


def test_budget_is_a_validated_cost_of_caps() -> None:
    assert Budget(total_tokens=10).as_dict() == {"total_tokens": 10, "output_tokens": None, "usd": None,
                                                  "seconds": None}
    assert Budget.from_dict({"usd": 1.5}) == Budget(usd=1.5)
    for bad in ({"total_tokens": 0}, {"usd": math.nan}, {"seconds": -1}, {"output_tokens": 2.5}):
        with pytest.raises(ValueError):
            Budget(**bad)
    assert Budget(total_tokens=10) != Cost(10, None, None, None)  # a Budget is what a user asked for


def test_sizing_on_the_vector() -> None:
    unit = Cost(total_tokens=100, output_tokens=20, usd=0.001, seconds=0.5)
    assert how_many(Budget(total_tokens=1000, seconds=1.0), unit) == 2  # the tightest cap decides
    assert how_many(Budget(), unit) is None
    assert token_equivalent(Budget(usd=0.0025), unit) == 250
    assert fits(Budget(total_tokens=100), unit) and not fits(Budget(total_tokens=99), unit)
    left = Budget(total_tokens=1000)
    assert largest_affordable(left, 5000, lambda n: Cost(100 + n, n, 0.0, 0.0)) == 900
    assert largest_affordable(left, 5000, lambda n: Cost(100 + n, n, 0.0, 0.0), reserve=Cost(400, 0, 0.0, 0.0)) == 500
    assert largest_affordable(left, 500, lambda n: Cost(100 + n, n, 0.0, 0.0)) == 500


def test_the_mean_cost_of_a_call_sizes_the_calls_still_to_make() -> None:
    cost = CallCost()
    assert cost.how_many_fit(Budget(total_tokens=1000)) is None  # nothing measured yet
    before = Spend()
    after = Spend(input_tokens=150, output_tokens=150, usd=0.003, seconds=2.0)
    cost.record(before, after, [None, None])  # nothing replied: nothing learned
    assert cost.calls == 0
    cost.record(before, after, [_reply(100), _reply(50), None])
    assert cost.total == Cost(300, 150, 0.003, 2.0) and cost.calls == 2
    assert cost.how_many_fit(Cost(1000, None, None, None)) == 6  # 1000 / 150 per call
    assert cost.how_many_fit(Cost(None, None, 0.003, 3.0)) == 2  # 0.0015 $ and 1 s per call
    assert cost.how_many_fit(Budget()) is None
    assert cost.output_headroom(1024) == 200


def test_a_round_is_estimated_from_the_last_one() -> None:
    last = Cost(1000, 300, 0.01, 4.0)  # three calls of 100 output tokens each
    need = next_round(last, 3, [400, 400])  # two calls, prompts now carrying others' solutions
    assert need == Cost(1000, 200, pytest.approx(0.01), 4.0)


def test_no_module_spells_out_the_four_caps_by_hand() -> None:
    """The caps are listed once (CAP_NAMES); a tuple, list or set of the four names anywhere else in
    our code is a cap loop written by hand, which Cost's operations replace. Checked: it finds the
    loops Context._check_caps and search.how_many held before the cost vector."""
    found = []
    for package in ("reasoning", "storage", "app", "pages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            the_list = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                        and any(getattr(target, "id", None) == "CAP_NAMES" for target in node.targets)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Tuple | ast.List | ast.Set) and id(node) not in the_list:
                    names = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                    if sorted(names) == sorted(CAP_NAMES):  # the four and nothing else (not a column list)
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "the four caps spelled out by hand (use CAP_NAMES or Cost): " + ", ".join(found)


def _reply(output_tokens: int) -> Reply:
    return Reply("Answer: 1", usage=Usage(50, output_tokens), truncated=False)


def test_sweeps_and_the_compare_form_answer_one_cost_estimate() -> None:
    """One class, one worst-case formula (cap_bound_usd): a sweep's two cells at 1,000 tokens and
    $0.001 cost what two Compare-form strategies at the same caps cost."""
    price = price_for("openai:gpt-4o-mini")
    budgets = [Budget(total_tokens=1000), Budget(total_tokens=1000, usd=0.0001)]
    item = Item("1", "What is 2 + 2?", "4", "tiny")
    cells = [Cell(f"k{i}", i, item, StrategyChoice("direct"), b, 0) for i, b in enumerate(budgets)]
    sweep = sweep_estimate(cells, price, "openai:gpt-4o-mini")
    assert isinstance(sweep, CostEstimate)
    assert sweep.total == pytest.approx(sum(cap_bound_usd(b, price) for b in budgets))
    assert sweep.per_strategy == pytest.approx(cap_bound_usd(budgets[0], price))
    assert 0 < (sweep.low_usd or 0) < sweep.total
    openai = model_choice("openai", model="gpt-4o-mini", key=KeyChoice("k", "typed"))
    form = form_estimate(openai, budgets[0], 10, 2, budgets)
    assert isinstance(form, CostEstimate) and form.total == pytest.approx(sweep.total)
    unpriced = sweep_estimate(cells, UNKNOWN, "openai:unknown")  # no price: no figure, not $0
    assert unpriced.total is None and unpriced.low_usd is None and "no price is known" in unpriced.text
    unbounded = sweep_estimate([Cell("k", 0, item, StrategyChoice("direct"), Budget(seconds=5), 0)], price, "openai:x")
    assert unbounded.total is None and "no upper bound" in unbounded.text
