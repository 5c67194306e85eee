"""Per-provider rate limits for model calls: pacing (requests per minute), and calls refused with
429 (or Anthropic's 529 "overloaded") retried after an exponential backoff with jitter, honouring
the wait the provider asked for. One limiter per provider per process, shared by every sweep, so a
429 seen by one call holds back the others too.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from reasoning.model_protocol import Model, ModelError
from reasoning.models.providers import provider_info, provider_of


@dataclass(frozen=True)
class RateLimit:
    """How hard one provider may be driven, and how a refused call (429) is retried."""

    requests_per_minute: float | None = None  # None: no pacing
    max_retries: int = 6
    base_delay: float = 1.0  # first backoff; doubles each retry, with jitter
    max_delay: float = 60.0


RATE_LIMITED_STATUSES = frozenset({429, 529})  # 529: Anthropic's "overloaded"
_RETRY_AFTER = re.compile(r"retry after ([0-9]+(?:\.[0-9]+)?) ?s", re.I)


def is_rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, ModelError) and exc.status in RATE_LIMITED_STATUSES


def retry_after(exc: BaseException) -> float | None:
    """The wait a provider asked for ("retry after 7 s" in the error message), if any."""
    match = _RETRY_AFTER.search(str(exc))
    return float(match.group(1)) if match else None


class ProviderLimiter:
    """Paces calls to one provider and holds them all back after a 429. Thread-safe (sweeps in
    several threads share it): it only hands out times to wait, each caller sleeps in its own loop."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self.rate_limited = 0  # 429s seen
        self.retries = 0

    def reserve(self) -> float:
        """Seconds the caller must wait before its call (0: go now)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self.limit.requests_per_minute:
                start = max(start, self._next_slot)
                self._next_slot = start + 60.0 / self.limit.requests_per_minute
            return start - now

    def backoff(self, attempt: int, asked: float | None, rng: random.Random) -> float:
        """Record a 429 and return how long to wait before retry `attempt` (0-based). Every caller
        waits too: one refused call means the provider wants fewer calls, not just this one again."""
        delay = min(self.limit.max_delay, self.limit.base_delay * 2**attempt) * (0.5 + rng.random() / 2)
        if asked is not None:
            delay = max(delay, min(asked, self.limit.max_delay))
        with self._lock:
            self.rate_limited += 1
            self._paused_until = max(self._paused_until, self._clock() + delay)
        return delay


def default_rate_limit(provider: str) -> RateLimit:
    """The registry's pacing for the provider (OpenAI 500, Anthropic 50 requests a minute); none for
    the others, whose 429s are still retried."""
    info = provider_info(provider)
    return RateLimit(requests_per_minute=info.requests_per_minute if info is not None else None)


_limiters: dict[str, ProviderLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, limit: RateLimit | None = None) -> ProviderLimiter:
    """The process's limiter for a provider (key: "openai", or "openai@<base_url>" for a server)."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            family = key.partition("@")[0]
            limiter = _limiters[key] = ProviderLimiter(limit or default_rate_limit(family))
        return limiter


class RateLimitedModel:
    """A model whose calls go through a provider limiter, and whose calls refused with 429 before
    any output are retried after a backoff. A call cut after output began is not retried (its
    tokens were streamed and charged); it fails as it would have."""

    def __init__(self, model: Model, limiter: ProviderLimiter, *,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, seed: int | None = None):
        self.inner = model
        self.limiter = limiter
        self._sleep = sleep
        self._rng = random.Random(seed)

    def __getattr__(self, name: str) -> Any:  # name, capabilities, base_url, ... of the real model
        return getattr(self.inner, name)

    def count_tokens(self, messages: Any) -> int:
        return self.inner.count_tokens(messages)

    async def stream(self, messages: Any, **kwargs: Any) -> AsyncIterator[Any]:
        attempt = 0
        while True:
            wait = self.limiter.reserve()
            if wait > 0:
                await self._sleep(wait)
            started = False
            try:
                async for chunk in self.inner.stream(messages, **kwargs):
                    started = True
                    yield chunk
                return
            except ModelError as exc:
                if started or not is_rate_limited(exc) or attempt >= self.limiter.limit.max_retries:
                    raise
                delay = self.limiter.backoff(attempt, retry_after(exc), self._rng)
                self.limiter.retries += 1
                attempt += 1
                await self._sleep(delay)


def rate_limited(model: Model, limit: RateLimit | None = None) -> Model:
    """Wrap a model in its provider's shared limiter (a compatible server gets its own)."""
    if isinstance(model, RateLimitedModel):
        return model
    key = provider_of(model.name)
    base_url = getattr(model, "base_url", None)
    if base_url:
        key = f"{key}@{base_url}"
    return RateLimitedModel(model, limiter_for(key, limit))  # type: ignore[return-value]
