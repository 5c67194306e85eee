"""Request checks shared by every entry point (web app, CLI, sweeps): bad input and the limits of a
shared deployment (reasoning.config.Limits) are refused here, before anything is stored or run."""

from __future__ import annotations

import re
import threading
import time
from collections import deque

from reasoning.budget import Budget
from reasoning.config import Limits

# C0 controls other than tab, newline and carriage return, plus DEL: never meaningful in a problem.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Beyond these a budget is a typo, not a plan (100M tokens is ~$1,000 of a frontier model's output).
PLAUSIBLE_CEILINGS = {"total_tokens": 100_000_000, "output_tokens": 100_000_000, "usd": 10_000.0,
                      "seconds": 7 * 24 * 3600.0}


class LimitError(ValueError):
    """A request the deployment refuses; the message says which limit and how to stay within it."""


def check_problem(problem: object, limits: Limits) -> str:
    if not isinstance(problem, str):
        raise LimitError(f"the problem must be text, got {type(problem).__name__}")
    if not problem.strip():
        raise LimitError("the problem is empty")
    if len(problem) > limits.max_problem_chars:
        raise LimitError(
            f"the problem is {len(problem):,} characters; this deployment allows at most "
            f"{limits.max_problem_chars:,}"
        )
    match = _CONTROL.search(problem)
    if match:
        raise LimitError(
            f"the problem contains a control character (U+{ord(match.group()):04X}) at position "
            f"{match.start()}; remove it"
        )
    return problem


def check_budget(budget: Budget, limits: Limits) -> Budget:
    """The budget to run with: refused above a ceiling; a cap left unset gets the ceiling, so no run
    on a shared deployment can spend without bound in any dimension the host limited."""
    if budget.is_unbounded and all(
        c is None for c in (limits.max_total_tokens, limits.max_output_tokens, limits.max_usd, limits.max_seconds)
    ):
        raise LimitError("set at least one budget cap: tokens, output tokens, dollars or seconds")
    filled = {}
    for cap, ceiling in (
        ("total_tokens", limits.max_total_tokens),
        ("output_tokens", limits.max_output_tokens),
        ("usd", limits.max_usd),
        ("seconds", limits.max_seconds),
    ):
        value = getattr(budget, cap)
        if value is not None and value > PLAUSIBLE_CEILINGS[cap]:
            raise LimitError(f"the {cap.replace('_', ' ')} budget {value:g} is not plausible; "
                             f"at most {PLAUSIBLE_CEILINGS[cap]:,.0f} is accepted")
        if ceiling is not None and value is not None and value > ceiling:
            raise LimitError(f"the {cap.replace('_', ' ')} budget {value:g} is above this deployment's limit of {ceiling:g}")
        filled[cap] = ceiling if value is None else value
    return Budget(**filled)


def check_strategies(names: list[str], limits: Limits) -> list[str]:
    if not names:
        raise LimitError("choose at least one strategy")
    if len(names) > limits.max_strategies:
        raise LimitError(f"{len(names)} strategies chosen; at most {limits.max_strategies} per run")
    return names


def check_model(model_spec: str, limits: Limits) -> str:
    provider = model_spec.split(":", 1)[0]
    if provider not in limits.providers and provider != "fake":
        raise LimitError(f"provider {provider!r} is not offered here; offered: {', '.join(limits.providers)}")
    if limits.models is not None and model_spec not in limits.models and provider != "local":
        raise LimitError(f"model {model_spec!r} is not offered here; offered: {', '.join(limits.models)}")
    return model_spec


def check_request(problem: object, strategies: list[str], budget: Budget, model_spec: str, limits: Limits) -> Budget:
    """Every check above, in the order a person would fix them; returns the budget to run with."""
    check_problem(problem, limits)
    check_strategies(strategies, limits)
    check_model(model_spec, limits)
    return check_budget(budget, limits)


class RateLimiter:
    """At most `per_hour` runs per key (a browser session) in any sliding hour. Thread-safe."""

    def __init__(self, per_hour: int | None, clock=time.monotonic):  # type: ignore[no-untyped-def]
        self.per_hour = per_hour
        self._clock = clock
        self._starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        if self.per_hour is None:
            return
        now = self._clock()
        with self._lock:
            starts = self._starts.setdefault(key, deque())
            while starts and now - starts[0] >= 3600:
                starts.popleft()
            if len(starts) >= self.per_hour:
                wait_minutes = max(1, round((3600 - (now - starts[0])) / 60))
                raise LimitError(
                    f"this session has started {self.per_hour} runs in the last hour, the limit here; "
                    f"try again in about {wait_minutes} min"
                )
            starts.append(now)
