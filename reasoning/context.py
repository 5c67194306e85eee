"""Context: the only metered path from a strategy to a model.

Every call goes through `generate`, which (1) refuses when a cap is reached, counting reservations,
(2) clamps max_tokens to what the remaining tokens and dollars can buy after the prompt,
(3) reserves that worst case so parallel calls cannot spend the same remainder twice,
(4) streams, emitting text and thinking deltas, and (5) settles with the reported (or estimated) usage.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reasoning.budget import Budget, BudgetExhausted, Spend
from reasoning.events import Event, Note, PartialAnswer, SpendUpdate, TextDelta, ThinkingDelta
from reasoning.models.base import Message, Model, Usage
from reasoning.prices import ModelPrice

# A call that could only produce fewer tokens than this is refused instead of started.
MIN_USEFUL_TOKENS = 16


class Reply(str):
    """The text of one call (a str), with what a strategy may need to know about it."""

    thinking: str
    usage: Usage
    truncated: bool  # stopped by max_tokens rather than by the model

    def __new__(cls, text: str, *, thinking: str = "", usage: Usage, truncated: bool) -> Reply:
        obj = super().__new__(cls, text)
        obj.thinking = thinking
        obj.usage = usage
        obj.truncated = truncated
        return obj


@dataclass(frozen=True)
class _Reservation:
    tokens: int
    output_tokens: int
    usd: float


class Context:
    def __init__(
        self,
        model: Model,
        budget: Budget,
        *,
        price: ModelPrice,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.model = model
        self.budget = budget
        self.price = price
        self._emit = emit
        self._clock = clock
        self._started = clock()
        self._spent = Spend()
        self._reserved: list[_Reservation] = []
        self.best_answer: str | None = None
        self.best_confidence: float | None = None

    # ---- reading the budget -------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    @property
    def spent(self) -> Spend:
        return self._spent.with_seconds(self.elapsed)

    def _committed(self) -> tuple[int, int, float]:
        """Spent plus reserved: tokens, output tokens, dollars."""
        tokens = self._spent.total_tokens + sum(r.tokens for r in self._reserved)
        output = self._spent.output_tokens + sum(r.output_tokens for r in self._reserved)
        usd = self._spent.usd + sum(r.usd for r in self._reserved)
        return tokens, output, usd

    def remaining(self) -> Budget:
        """What is left of every cap that is set (None where uncapped), net of reservations.

        A cap that is used up reads as 0 here (Budget itself only holds positive caps, so this
        returns a plain Budget built without validation)."""
        tokens, output, usd = self._committed()
        b = self.budget
        left = _RemainingBudget(
            total_tokens=None if b.total_tokens is None else max(0, b.total_tokens - tokens),
            output_tokens=None if b.output_tokens is None else max(0, b.output_tokens - output),
            usd=None if b.usd is None else max(0.0, b.usd - usd),
            seconds=None if b.seconds is None else max(0.0, b.seconds - self.elapsed),
        )
        return left

    def _output_limits(self, prompt_tokens: int) -> dict[str, int]:
        """For each set cap, the most output tokens one call with this prompt could still buy."""
        left = self.remaining()
        limits: dict[str, int] = {}
        if left.total_tokens is not None:
            limits["total_tokens"] = left.total_tokens - prompt_tokens
        if left.output_tokens is not None:
            limits["output_tokens"] = left.output_tokens
        if left.usd is not None:
            prompt_cost = self.price.input_cost(prompt_tokens)
            per_output = self.price.output_per_token
            if per_output > 0:
                limits["usd"] = math.floor((left.usd - prompt_cost) / per_output)
            elif prompt_cost > left.usd:
                limits["usd"] = 0
        return {cap: max(0, int(n)) for cap, n in limits.items()}

    def affordable_output_tokens(self, prompt_tokens: int = 0) -> int | None:
        """The most output tokens one call with this prompt could still buy (None: unbounded)."""
        limits = self._output_limits(prompt_tokens)
        return min(limits.values()) if limits else None

    def _check_caps(self) -> None:
        left = self.remaining()
        for cap in ("total_tokens", "output_tokens", "usd", "seconds"):
            value = getattr(left, cap)
            if value is not None and value <= 0:
                raise BudgetExhausted(cap)

    # ---- calling the model --------------------------------------------------------------------

    async def generate(
        self,
        messages: Sequence[Message] | str,
        *,
        label: str = "",
        max_tokens: int = 1024,
        temperature: float = 0.7,
        min_tokens: int = MIN_USEFUL_TOKENS,
        **options: Any,
    ) -> Reply:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        self._check_caps()
        prompt_tokens = self.model.count_tokens(messages)
        limits = self._output_limits(prompt_tokens)
        granted = min([max_tokens, *limits.values()])
        # A capped call that can buy no output at all would still pay its prompt: refuse it too.
        if granted < min(min_tokens, max_tokens) or (limits and granted < 1):
            binding = min(limits, key=limits.__getitem__)
            raise BudgetExhausted(
                binding, f"only {granted} output tokens affordable after a {prompt_tokens}-token prompt"
            )
        reservation = _Reservation(
            tokens=prompt_tokens + granted,
            output_tokens=granted,
            usd=self.price.input_cost(prompt_tokens) + self.price.output_per_token * granted,
        )
        self._reserved.append(reservation)
        text_parts: list[str] = []
        thinking_parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        try:
            async for chunk in self.model.stream(
                messages, max_tokens=granted, temperature=temperature, **options
            ):
                if chunk.thinking:
                    thinking_parts.append(chunk.thinking)
                    self._emit(ThinkingDelta(label, chunk.thinking))
                if chunk.text:
                    text_parts.append(chunk.text)
                    self._emit(TextDelta(label, chunk.text))
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish = chunk.finish_reason
        finally:
            self._reserved.remove(reservation)
            if usage is None:
                # The stream broke before its usage chunk: charge what we can see, flagged.
                usage = Usage(prompt_tokens, min(granted, _estimate(self.model, text_parts, thinking_parts)),
                              estimated=True)
            self._settle(usage, granted)
        return Reply(
            "".join(text_parts),
            thinking="".join(thinking_parts),
            usage=usage,
            truncated=finish == "length" or (finish is None and usage.output_tokens >= granted),
        )

    def _settle(self, usage: Usage, granted: int) -> None:
        s = self._spent
        self._spent = replace(
            s,
            input_tokens=s.input_tokens + usage.input_tokens,
            output_tokens=s.output_tokens + usage.output_tokens,
            reasoning_tokens=s.reasoning_tokens + usage.reasoning_tokens,
            cached_input_tokens=s.cached_input_tokens + usage.cached_input_tokens,
            usd=s.usd + self.price.cost(usage),
            calls=s.calls + 1,
            estimated=s.estimated or usage.estimated,
        )
        self._emit(SpendUpdate(self.spent))

    async def gather(self, *calls: Awaitable[Any]) -> list[Any]:
        """Run calls in parallel; each reserves its worst case before it streams.

        A call refused for budget yields None in its place; if every call is refused, the
        BudgetExhausted propagates so the run ends as a budget stop."""
        results = await asyncio.gather(*calls, return_exceptions=True)
        exhausted: BudgetExhausted | None = None
        out: list[Any] = []
        for result in results:
            if isinstance(result, BudgetExhausted):
                exhausted = result
                out.append(None)
            elif isinstance(result, BaseException):
                raise result
            else:
                out.append(result)
        if exhausted is not None and all(r is None for r in out):
            raise exhausted
        return out

    # ---- reporting ----------------------------------------------------------------------------

    def partial(self, answer: str | None, confidence: float | None = None) -> None:
        """Report the best answer so far: it is what a budget stop returns, and it draws curves."""
        if answer is None or not str(answer).strip():
            return
        self.best_answer = str(answer).strip()
        self.best_confidence = confidence
        self._emit(PartialAnswer(self.best_answer, confidence, self.spent))

    def note(self, label: str, text: str, **data: Any) -> None:
        self._emit(Note(label, text, data or None))


@dataclass(frozen=True)
class _RemainingBudget(Budget):
    """A Budget that may hold zeros: what is left, not what was asked."""

    def __post_init__(self) -> None:  # remaining amounts are computed, never user input
        pass


def _estimate(model: Model, text_parts: list[str], thinking_parts: list[str]) -> int:
    produced = "".join(text_parts) + "".join(thinking_parts)
    if not produced:
        return 0
    # The difference cancels the per-message overhead a counter adds: only the text is counted.
    return model.count_tokens([{"role": "assistant", "content": produced}]) - model.count_tokens(
        [{"role": "assistant", "content": ""}]
    )
