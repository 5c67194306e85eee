"""Request checks shared by every entry point (web app, CLI, sweeps): bad input and the limits of a
shared deployment (reasoning.config.Limits) are refused here, before anything is stored or run."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.context import MIN_USEFUL_TOKENS
from reasoning.metering import INITIAL_MARGIN, Calibration
from reasoning.models.providers import provider_info
from reasoning.tokens import count_messages
from reasoning.wording import number_text

# C0 controls other than tab, newline and carriage return, plus DEL: never meaningful in a problem
# (and NUL cannot be stored in a PostgreSQL text at all).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A lone surrogate is not text: Python reads bytes that are not UTF-8 (from argv, or stdin in the C
# locale) as U+DC80..U+DCFF ("surrogateescape"), and no store can encode them.
_SURROGATE = re.compile("[\ud800-\udfff]")


# Beyond these a budget is a typo, not a plan (100M tokens is ~$1,000 of a frontier model's output).
PLAUSIBLE_CEILINGS = {"total_tokens": 100_000_000, "output_tokens": 100_000_000, "usd": 10_000.0,
                      "seconds": 7 * 24 * 3600.0}


class LimitError(ValueError):
    """A request the deployment refuses; the message says which limit and how to stay within it."""


def check_problem(problem: object, limits: Limits) -> str:
    return check_text(problem, limits, what="the problem")


def check_text(text: object, limits: Limits, *, what: str = "the problem") -> str:
    """A problem (or reference answer) a run may store: text, not empty, within the deployment's
    length, no control characters, valid Unicode."""
    if not isinstance(text, str):
        raise LimitError(f"{what} must be text, got {type(text).__name__}")
    if not text.strip():
        raise LimitError(f"{what} is empty")
    if len(text) > limits.max_problem_chars:
        raise LimitError(
            f"{what} is {len(text):,} characters; this deployment allows at most {limits.max_problem_chars:,}"
        )
    match = _CONTROL.search(text)
    if match:
        raise LimitError(
            f"{what} contains a control character (U+{ord(match.group()):04X}) at position {match.start()}; remove it"
        )
    match = _SURROGATE.search(text)
    if match:
        code = ord(match.group())
        byte = f"byte 0x{code - 0xDC00:02X}, which is not UTF-8" if 0xDC80 <= code <= 0xDCFF \
            else f"a lone surrogate U+{code:04X}"
        raise LimitError(f"{what} is not valid UTF-8 text: position {match.start()} holds {byte}; "
                         "save it as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)")
    return text


def check_texts(problem: object, reference: object, limits: Limits) -> str:
    """The texts of one run or one sweep item: its problem, and its reference answer when it has one.
    The single check `run` (check_request) and `sweep` (storage.sweeps.check_items) both use."""
    check_text(problem, limits, what="the problem")
    if reference is not None and (not isinstance(reference, str) or reference.strip()):
        check_text(reference, limits, what="the reference answer")
    return problem  # type: ignore[return-value]


def check_budget(budget: Budget, limits: Limits, *, require_cap: bool = True) -> Budget:
    """The budget to run with: refused above a ceiling; a cap left unset gets the ceiling, so no run
    on a shared deployment can spend without bound in any dimension the host limited.
    require_cap=False lets an unbounded budget through (a run whose entries all have caps of their own)."""
    if require_cap and budget.is_unbounded and all(
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
            raise LimitError(f"the {cap.replace('_', ' ')} budget {number_text(value)} is not plausible; "
                             f"at most {PLAUSIBLE_CEILINGS[cap]:,.0f} is accepted")
        if ceiling is not None and value is not None and value > ceiling:
            raise LimitError(f"the {cap.replace('_', ' ')} budget {number_text(value)} is above this deployment's "
                             f"limit of {number_text(ceiling)}")
        filled[cap] = ceiling if value is None else value
    return Budget(**filled)


def check_strategies(names: list[str], limits: Limits) -> list[str]:
    if not names:
        raise LimitError("choose at least one strategy")
    if len(names) > limits.max_strategies:
        raise LimitError(f"{len(names)} strategies chosen; at most {limits.max_strategies} per run")
    return names


def check_model(model_spec: str, limits: Limits) -> str:
    """The registry says which providers pass whatever providers the host offers (test doubles) and
    whose model names are files, governed by gguf_dirs rather than the list of models (local)."""
    provider, _, name = model_spec.partition(":")
    info = provider_info(provider)
    if provider not in limits.providers and not (info is not None and info.test_double):
        raise LimitError(f"provider {provider!r} is not offered here; offered: {', '.join(limits.providers)}")
    # The names that are no file (the default and the shipped weights); None: no name is a file.
    bundled = ("", *info.bundled_models) if info is not None and info.model_files else None
    if limits.models is not None and model_spec not in limits.models and bundled is None:
        raise LimitError(f"model {model_spec!r} is not offered here; offered: {', '.join(limits.models)}")
    if bundled is not None and name.strip() not in bundled and not gguf_path_allowed(name, limits):
        raise LimitError(outside_gguf_dirs(limits))
    return model_spec


def gguf_path_allowed(path: str, limits: Limits) -> bool:
    """May a visitor run this GGUF file: any path when the host set no gguf_dirs, else only files
    under one of them (after resolving `..` and symlinks, so neither leads out). Whether the file
    exists plays no part: the answer must not tell a visitor which server paths exist."""
    if limits.gguf_dirs is None:
        return True
    try:
        target = Path(path.strip()).expanduser().resolve()
        return any(target.is_relative_to(Path(folder).expanduser().resolve()) for folder in limits.gguf_dirs)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: not a path we run
        return False


def outside_gguf_dirs(limits: Limits) -> str:
    """The refusal for a GGUF path outside the host's folders: the same words whatever the path."""
    folders = ", ".join(str(folder) for folder in limits.gguf_dirs or [])
    if not folders:
        return "this server runs no GGUF files of visitors' choosing; use the bundled model"
    return f"this server runs GGUF files from {folders} only; give the path of a .gguf file there"


def prompt_floor(problem: str, model_spec: str) -> tuple[int, int]:
    """The problem's size as a prompt (its tokens, estimated) and the smallest total-token budget
    that can pay for one call with it: the prompt plus MIN_USEFUL_TOKENS of answer, the least
    reasoning.context grants a call. Strategies wrap the problem in instructions, so a real first
    call costs more: this is a floor. The count is the model's own tokenizer for OpenAI models and
    o200k_base otherwise, whose 200k vocabulary counts fewer tokens than smaller ones (SmolLM2's
    49k), so the floor does not refuse a budget the model could have used."""
    prompt = count_messages([{"role": "user", "content": problem}], model_spec)
    return prompt, prompt + MIN_USEFUL_TOKENS


def check_budget_fits(problem: str, budget: Budget, model_spec: str, label: str = "") -> None:
    """Refuse a total-token cap that cannot pay for one useful call with this problem as the prompt
    (the run would store nothing but an immediate `budget reached`).

    The check is the floor, which holds whatever the model: metering reserves a prompt at its
    count where the provider's tokenizer (or an exact local one) gives it, but at INITIAL_MARGIN
    times our estimate on a server whose count we can only estimate, until its first reported usage
    (reasoning.metering). Which a model is, only the built model knows, so a refusal names both."""
    if budget.total_tokens is None:
        return
    prompt, floor = prompt_floor(problem, model_spec)
    if budget.total_tokens < floor:
        who = f"{label}: " if label else ""
        estimated = Calibration().reserve(prompt, exact=False) + MIN_USEFUL_TOKENS
        raise LimitError(
            f"{who}a total-token budget of {budget.total_tokens:,} cannot pay for one call: the problem is "
            f"{len(problem):,} characters, about {prompt:,} tokens as a prompt, and a call needs "
            f"{MIN_USEFUL_TOKENS} tokens of answer on top; give at least {floor:,} tokens, or {estimated:,} "
            f"on a server whose token counts we can only estimate, where a model's first call reserves "
            f"{INITIAL_MARGIN:g}x its prompt tokens"
        )


def check_supported(strategies: Sequence[Any], model: Any) -> None:
    """Refuse a strategy that cannot run on this model (Strategy.unsupported_reason: native_thinking
    needs a provider-side reasoning control, budget_forcing a model that continues its own turn)
    before anything is stored; reasoning.run.check_run says the same at run time."""
    for strategy in strategies:
        reason = strategy.unsupported_reason(model)
        if reason:
            raise LimitError(f"{strategy.name} cannot run on {model.name}: {reason}")


def check_request(problem: object, strategies: list[str], budget: Budget, model_spec: str, limits: Limits,
                  *, reference: object = None) -> Budget:
    """Every check above, in the order a person would fix them; returns the budget to run with."""
    return check_entries(problem, [(name, None) for name in strategies], budget, model_spec, limits,
                         reference=reference)[0]


def check_entries(problem: object, entries: Sequence[tuple[str, int | None]], budget: Budget, model_spec: str,
                  limits: Limits, *, reference: object = None) -> tuple[Budget, list[Budget | None]]:
    """check_request for a run of entries, each a strategy and its own total-token cap (None: the
    run's; other caps are shared). Returns the run's budget (ceilings filled) and each entry's own
    budget (None where it runs under the run's). Every entry's caps pass the ceilings and can pay
    for a call with the problem as its prompt."""
    check_texts(problem, reference, limits)
    check_strategies([name for name, _ in entries], limits)
    check_model(model_spec, limits)
    every_entry_capped = bool(entries) and all(tokens is not None for _, tokens in entries)
    run_budget = check_budget(budget, limits, require_cap=not every_entry_capped)
    own: list[Budget | None] = []
    for name, tokens in entries:
        if tokens is None:
            own.append(None)
            continue
        try:
            entry = replace(budget, total_tokens=tokens)
        except ValueError as exc:  # Budget's own rules: a positive whole number of tokens
            raise LimitError(f"{name}@{tokens}: {exc}") from None
        own.append(check_budget(entry, limits))
    named = any(b is not None for b in own) and len(entries) > 1
    for (name, _), entry in zip(entries, own, strict=True):
        caps = entry or run_budget
        label = f"{name}@{caps.total_tokens:,}" if named and caps.total_tokens else ""
        check_budget_fits(problem, caps, model_spec, label)  # type: ignore[arg-type]
    return run_budget, own


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
