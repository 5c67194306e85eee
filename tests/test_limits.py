"""Request checks and deployment limits: each refusal is clear and names what to change."""

from __future__ import annotations

import pytest

from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.deployment_limits import LimitError, RateLimiter, check_budget, check_request

OPEN = Limits()
STRICT = Limits(max_total_tokens=5000, max_usd=0.5, max_problem_chars=100, max_strategies=2,
                providers=["local", "openai"], models=["openai:gpt-4o-mini"])


@pytest.mark.parametrize(
    "problem, strategies, budget, model, limits, message",
    [
        ("", ["direct"], Budget(total_tokens=100), "local", OPEN, "empty"),
        ("  \n\t ", ["direct"], Budget(total_tokens=100), "local", OPEN, "empty"),
        (None, ["direct"], Budget(total_tokens=100), "local", OPEN, "must be text"),
        (42, ["direct"], Budget(total_tokens=100), "local", OPEN, "must be text"),
        ("x" * 1_000_000, ["direct"], Budget(total_tokens=100), "local", OPEN, "at most 20,000"),
        ("what is\x00 2+2", ["direct"], Budget(total_tokens=100), "local", OPEN, r"U\+0000"),
        ("bell\x07", ["direct"], Budget(total_tokens=100), "local", OPEN, "control character"),
        ("2+2", [], Budget(total_tokens=100), "local", OPEN, "at least one strategy"),
        ("2+2", ["a", "b", "c"], Budget(total_tokens=100), "local", STRICT, "at most 2"),
        ("2+2", ["direct"], Budget(), "local", OPEN, "at least one budget cap"),
        ("2+2", ["direct"], Budget(total_tokens=10**6), "local", STRICT, "above this deployment's limit"),
        ("2+2", ["direct"], Budget(total_tokens=10**12), "local", OPEN, "not plausible"),
        ("2+2", ["direct"], Budget(usd=1e9), "local", OPEN, "not plausible"),
        ("2+2", ["direct"], Budget(total_tokens=100, usd=5.0), "local", STRICT, "limit of 0.5"),
        ("2+2", ["direct"], Budget(total_tokens=100), "anthropic:claude-x", STRICT, "not offered"),
        ("2+2", ["direct"], Budget(total_tokens=100), "openai:gpt-5", STRICT, "not offered"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(problem, strategies, budget, model, limits, message):
    with pytest.raises(LimitError, match=message):
        check_request(problem, strategies, budget, model, limits)


def test_a_good_request_passes_and_unset_caps_get_the_ceiling():
    budget = check_request("What is 2+2?\nShow work.", ["direct"], Budget(total_tokens=1000),
                           "openai:gpt-4o-mini", STRICT)
    assert budget == Budget(total_tokens=1000, usd=0.5)
    assert check_budget(Budget(seconds=5), OPEN) == Budget(seconds=5)


def test_rate_limiter_allows_n_per_sliding_hour_per_session():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.acquire("a")
    limiter.acquire("a")
    limiter.acquire("b")  # another session has its own allowance
    with pytest.raises(LimitError, match="2 runs in the last hour"):
        limiter.acquire("a")
    now[0] = 3601
    limiter.acquire("a")
    assert RateLimiter(None).acquire("x") is None
