"""How many tokens a prompt will be charged, decided before the call so that a cap holds.

A cap is only a promise if the prompt is counted the way the server will count it. In order of trust:

1. The provider's own tokenizer: Anthropic's token-counting endpoint, `/tokenize` on vLLM and
   llama.cpp servers, the local model's own tokenizer (LocalModel.count_tokens is exact). A model
   offers it as `async count_prompt_tokens(messages) -> int | None`.
2. Our estimate (tiktoken; o200k_base for models whose tokenizer we lack) times the ratio this
   model's reported usage has shown: reported / counted, the largest of the recent calls, with a
   little slack for prompts whose ratio differs from the ones seen.
3. Before any report: our estimate times INITIAL_MARGIN. A model with a smaller vocabulary than
   o200k_base (older 32k-token ones, most of all on code and non-English text) counts more tokens
   for the same text; with 2x, a server counting up to twice our estimate cannot push a capped call
   past its cap. A server that reports no usage at all is charged our own count, which needs no
   margin: once a call has shown that, the estimate is reserved as is.

Ratios are kept per model (name and base URL) for the process, so only a model's first call pays the
margin. A report far above any estimate (IMPOSSIBLE_FACTOR) is not learned from: it marks the
result over_cap instead (see Context).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

INITIAL_MARGIN = 2.0  # prompt reserve / estimate until the model's first reported usage
RATIO_SLACK = 1.05  # on a learned ratio: the next prompt's ratio may be a little above the ones seen
RATIO_WINDOW = 32  # the learned ratio is the largest of this many recent calls
# A prompt reported above IMPOSSIBLE_FACTOR x what was counted (+ IMPOSSIBLE_SLACK tokens for chat
# templates that add a fixed preamble to a short prompt) cannot be that prompt: the report is wrong.
IMPOSSIBLE_FACTOR = 4.0
IMPOSSIBLE_SLACK = 64


def counts_exactly(model: Any) -> bool:
    """Whether model.count_tokens is the count the provider will report (a model says otherwise with
    `exact_token_counts = False`; models that estimate set it, the fake and local models count exactly)."""
    return bool(getattr(model, "exact_token_counts", True))


@dataclass(frozen=True)
class PromptCount:
    """One prompt, counted before its call."""

    estimate: int  # model.count_tokens: our tokenizer (exact for some models)
    counted: int | None  # the provider's own tokenizer, when it offers one
    reserve: int  # what the call reserves for its prompt
    exact: bool  # `basis` is the provider's own count

    @property
    def basis(self) -> int:
        return self.counted if self.counted is not None else self.estimate

    def is_impossible(self, reported: int) -> bool:
        return reported > IMPOSSIBLE_FACTOR * self.basis + IMPOSSIBLE_SLACK


class Calibration:
    """Reported / counted prompt ratios of one model, for exact counts and for estimates apart
    (thread-safe: sweeps in several threads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ratios: dict[bool, deque[float]] = {True: deque(maxlen=RATIO_WINDOW), False: deque(maxlen=RATIO_WINDOW)}
        # A call ended with no usage reported (llama-cpp-python's server sends none): what is charged
        # is then our own count, so the estimate needs no margin to hold the cap.
        self.unreported = False

    def ratio(self, exact: bool) -> float | None:
        with self._lock:
            seen = self._ratios[exact]
            return max(seen) if seen else None

    def factor(self, exact: bool) -> float:
        """Prompt reserve per counted token."""
        ratio = self.ratio(exact)
        if ratio is None:
            return 1.0 if exact or self.unreported else INITIAL_MARGIN
        # An exact counter is trusted unless a report proved it low; an estimate never reserves
        # below itself (a ratio under 1 from one short prompt does not hold for the next).
        return max(1.0, ratio) if exact else max(1.0, ratio * RATIO_SLACK)

    def reserve(self, basis: int, exact: bool) -> int:
        # (less a hair, so that 100 x 1.03 is 103, not the 104 its binary product rounds up to)
        return math.ceil(basis * self.factor(exact) - 1e-9)

    def best_guess(self, count: PromptCount) -> int:
        """The likeliest charge for a prompt whose call reported nothing (an interrupted stream)."""
        ratio = self.ratio(count.exact)
        return count.basis if ratio is None else max(count.basis, round(count.basis * ratio))

    def observe(self, count: PromptCount, reported: int) -> None:
        if count.basis <= 0 or reported <= 0 or count.is_impossible(reported):
            return
        with self._lock:
            self._ratios[count.exact].append(reported / count.basis)


class CountCache:
    """A provider's counts of recent prompts, least recently used dropped first: parallel samples
    and later rounds send the same prompt again, and each count is an HTTP request."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._counts: OrderedDict[str, int] = OrderedDict()

    def get(self, prompt_key: str) -> int | None:
        found = self._counts.get(prompt_key)
        if found is not None:
            self._counts.move_to_end(prompt_key)
        return found

    def put(self, prompt_key: str, count: int) -> None:
        self._counts[prompt_key] = count
        self._counts.move_to_end(prompt_key)
        if len(self._counts) > self._size:
            self._counts.popitem(last=False)


_calibrations: dict[str, Calibration] = {}
_calibrations_lock = threading.Lock()


def calibration_for(model: Any) -> Calibration:
    """The process's calibration for a model (keyed by its name and base URL)."""
    key = f"{model.name}@{getattr(model, 'base_url', None) or ''}"
    with _calibrations_lock:
        found = _calibrations.get(key)
        if found is None:
            found = _calibrations[key] = Calibration()
        return found


def forget_calibrations() -> None:
    """Drop every learned ratio (tests)."""
    with _calibrations_lock:
        _calibrations.clear()


async def count_prompt(model: Any, messages: Any, calibration: Calibration | None = None) -> PromptCount:
    """Count a prompt for a call: the provider's tokenizer where it has one, else our estimate, and
    the reserve the call must hold for it (by `calibration`, the model's own by default)."""
    estimate = model.count_tokens(messages)
    counted: int | None = None
    provider_count = getattr(model, "count_prompt_tokens", None)
    if provider_count is not None:
        counted = await provider_count(messages)
    exact = counted is not None or counts_exactly(model)
    basis = counted if counted is not None else estimate
    reserve = (calibration or calibration_for(model)).reserve(basis, exact)
    return PromptCount(estimate=estimate, counted=counted, reserve=reserve, exact=exact)
