"""Request checks and deployment limits: each refusal is clear and names what to change."""

from __future__ import annotations

import pytest

from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.deployment_limits import LimitError, RateLimiter, check_budget, check_model, check_request
from reasoning.models import local
from reasoning.models.providers import PROVIDER_INFO
from reasoning.sweep import default_concurrency

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


def test_the_registry_decides_which_providers_and_model_files_the_limits_let_through(tmp_path):
    # The fake is a test double, never refused for not being among the offered providers (a list of
    # models still binds it); the local provider's names are files, which gguf_dirs govern and the
    # list of models does not.
    local_only = Limits(providers=["local"])
    assert check_model("fake", local_only) == "fake" and check_model("fake:scripted", local_only) == "fake:scripted"
    with pytest.raises(LimitError, match="model 'fake' is not offered"):
        check_model("fake", STRICT)
    assert check_model("local:/any/where.gguf", STRICT) == "local:/any/where.gguf"
    with pytest.raises(LimitError, match="provider 'anthropic' is not offered"):
        check_model("anthropic:claude-x", STRICT)
    shared = STRICT.model_copy(update={"gguf_dirs": [tmp_path]})
    for spec in ("local", "local:smollm2", f"local:{tmp_path / 'm.gguf'}"):
        assert check_model(spec, shared) == spec
    with pytest.raises(LimitError, match="runs GGUF files from"):
        check_model("local:/elsewhere/m.gguf", shared)
    assert PROVIDER_INFO["local"].bundled_models == (local.DEFAULT_NAME,)


def test_a_sweep_runs_one_cell_at_a_time_on_the_local_engine_and_more_elsewhere():
    assert [default_concurrency(s) for s in ("local", "local:/m.gguf", "fake", "openai:gpt-4o-mini",
                                             "anthropic:claude-x", "unknown:model")] == [1, 1, 16, 4, 4, 4]
