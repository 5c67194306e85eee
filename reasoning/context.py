"""Context: the only metered path from a strategy to a model.

Every call goes through `generate`, which (1) refuses when a cap is reached, counting reservations,
(2) counts the prompt as the server will (reasoning.metering: the provider's tokenizer, else our
estimate times the model's learned ratio or a safety margin) and clamps max_tokens to what the
remaining tokens and dollars can buy after it, (3) reserves that worst case so parallel calls cannot
spend the same remainder twice, (4) streams, emitting text and thinking deltas, and (5) settles with
the reported usage; a call that stopped early is charged what it streamed (flagged estimated), one
that produced nothing is charged nothing. A report that cannot be true (more output than granted, a
prompt far above its count) or a spend past a cap marks the result over_cap, with a Note.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reasoning.budget import Budget, BudgetExhausted, Cost, Spend
from reasoning.events import Event, Note, PartialAnswer, SpendUpdate, TextDelta, ThinkingDelta
from reasoning.metering import PromptCount, calibration_for, count_prompt
from reasoning.model_protocol import Message, Model, ModelError, Usage
from reasoning.prices import ModelPrice

# A call that could only produce fewer tokens than this is refused instead of started.
MIN_USEFUL_TOKENS = 16
# While a call streams, a SpendUpdate counting what it streamed so far goes out at most this often
# (seconds), so the store holds a spend for a run whose process dies mid-stream.
PROVISIONAL_INTERVAL = 1.0


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


@dataclass(eq=False)
class _Call:
    """One model call while it streams, and what it was charged once it ended."""

    label: str
    prompt: PromptCount
    granted: int
    reservation: Cost  # the call's worst case, held until it is charged
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    usage: Usage | None = None  # as the provider reported it (or estimated it, flagged)
    finish: str | None = None
    server_started: bool = False  # a ModelError said the server had begun its reply
    charged: Usage | None = None  # set once, by Context._finish


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
        self._reserved: list[Cost] = []
        self._in_flight: list[_Call] = []
        self._calibration = calibration_for(model)
        self._last_spend_update = self._started
        self.best_answer: str | None = None
        self.best_confidence: float | None = None
        # The cap that cut the latest call short (its max_tokens lowered to what the cap could buy,
        # and the reply ran into it), else None. A strategy that returns after such a call was
        # ended by that cap, not by itself: run() reports stop "budget" naming it.
        self.last_call_cut_by: str | None = None

    # ---- reading the budget -------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    @property
    def spent(self) -> Spend:
        return self._spent.with_seconds(self.elapsed)

    def remaining(self) -> Cost:
        """What is left of every cap that is set (None where uncapped), net of reservations; a cap
        that is used up reads as 0."""
        committed = self.spent.cost + sum(self._reserved, Cost())
        return (self.budget - committed).clamped()

    def _output_limits(self, prompt_tokens: int) -> dict[str, int]:
        """For each set cap, the most output tokens one call with this prompt could still buy. The
        seconds cap is held by the deadline, not by a call's length, so it is left out."""
        left = replace(self.remaining(), seconds=None)
        per_token = Cost.of_call(self.price, 0, 1)
        counts = left.counts(per_token, reserve=Cost.of_call(self.price, prompt_tokens, 0))
        return {cap: max(0, math.floor(n)) for cap, n in counts.items()}

    def affordable_output_tokens(self, prompt_tokens: int = 0) -> int | None:
        """The most output tokens one call with this prompt could still buy (None: unbounded)."""
        limits = self._output_limits(prompt_tokens)
        return min(limits.values()) if limits else None

    def _check_caps(self) -> None:
        cap = self.remaining().exhausted()
        if cap is not None:
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
        prompt = await count_prompt(self.model, messages, self._calibration)
        limits = self._output_limits(prompt.reserve)
        granted = min([max_tokens, *limits.values()])
        tightest = min(limits, key=limits.__getitem__) if limits else None  # the cap that binds first
        # A capped call that can buy no output at all would still pay its prompt: refuse it too.
        if granted < min(min_tokens, max_tokens) or (limits and granted < 1):
            assert tightest is not None  # either test holds only when some cap is set
            raise BudgetExhausted(
                tightest, f"only {granted} output tokens affordable after a {prompt.reserve}-token prompt"
            )
        call = _Call(label, prompt, granted, Cost.of_call(self.price, prompt.reserve, granted))
        self._reserved.append(call.reservation)
        self._in_flight.append(call)
        try:
            async for chunk in self.model.stream(
                messages, max_tokens=granted, temperature=temperature, **options
            ):
                if chunk.thinking:
                    call.thinking.append(chunk.thinking)
                    self._emit(ThinkingDelta(label, chunk.thinking))
                if chunk.text:
                    call.text.append(chunk.text)
                    self._emit(TextDelta(label, chunk.text))
                if chunk.usage is not None:
                    call.usage = chunk.usage
                if chunk.finish_reason:
                    call.finish = chunk.finish_reason
                if self._clock() - self._last_spend_update >= PROVISIONAL_INTERVAL:
                    self._emit_provisional()
        except ModelError as exc:
            call.server_started = exc.started
            raise
        finally:
            self._finish(call)
        usage = call.charged
        assert usage is not None  # _finish charged it
        truncated = call.finish == "length" or (call.finish is None and usage.output_tokens >= granted)
        # Cut by a cap: the reply ran into max_tokens that the tightest cap had lowered.
        self.last_call_cut_by = tightest if truncated and granted < max_tokens else None
        return Reply("".join(call.text), thinking="".join(call.thinking), usage=usage, truncated=truncated)

    def _emit_provisional(self) -> None:
        """A SpendUpdate that counts what the calls in flight have streamed so far (flagged
        estimated), so a process killed mid-stream leaves a spend in the store, not 0."""
        spent = self._spent
        for call in self._in_flight:
            so_far = Usage(self._calibration.best_guess(call.prompt),
                           min(call.granted, _estimate(self.model, call.text, call.thinking)), estimated=True)
            spent = spent.plus(so_far, self.price.cost(so_far), counted=False)
        self._last_spend_update = self._clock()
        self._emit(SpendUpdate(spent.with_seconds(self.elapsed)))

    def settle_in_flight(self) -> None:
        """Charge every call still streaming for what it has streamed so far (flagged estimated),
        and stop waiting for it: run() calls this when a strategy ends at its deadline or on a
        cancel while a model is slow to stop (a local model finishing a token, a socket closing)."""
        for call in list(self._in_flight):
            self._finish(call)

    def _finish(self, call: _Call) -> None:
        """Release a call's reservation and charge it, once: what the provider reported, else what
        streamed (counted with our tokenizer, flagged estimated), else nothing."""
        if call.charged is not None:
            return
        self._reserved.remove(call.reservation)
        self._in_flight.remove(call)
        usage = call.usage
        replied = usage is not None or bool(call.text or call.thinking)
        if usage is None and replied:
            # The stream stopped before its usage chunk (cut, cancelled, the deadline): charge what
            # we saw: the prompt as best we can count it, the output counted from its text.
            output = min(call.granted, _estimate(self.model, call.text, call.thinking))
            usage = Usage(self._calibration.best_guess(call.prompt), output, estimated=True)
        elif usage is None and call.server_started:
            # The server took the request and processed the prompt, then broke before any output.
            usage = Usage(self._calibration.best_guess(call.prompt), 0, estimated=True)
        elif usage is None:
            # Refused, unreachable, rate limited, cancelled before any byte came back: the provider
            # produced nothing, so nothing is charged and no call is counted.
            call.charged = Usage(0, 0)
            return
        call.charged = usage
        over_cap = self._check_report(call, usage)
        self._settle(usage, counted=replied, over_cap=over_cap)

    def _check_report(self, call: _Call, usage: Usage) -> bool:
        """Flag a report that cannot be true (with a Note holding the reported figures), else learn
        the model's prompt ratio from it. True when the report is impossible."""
        if usage.estimated:
            if call.usage is not None:  # the call ended, and its server reported no usage
                self._calibration.unreported = True
            return False
        impossible = []
        if usage.output_tokens > call.granted:
            impossible.append(f"{usage.output_tokens:,} output tokens where {call.granted:,} were granted")
        if call.prompt.is_impossible(usage.input_tokens):
            impossible.append(f"a {usage.input_tokens:,}-token prompt counted at {call.prompt.basis:,}")
        if impossible:
            self.note(call.label, "over cap: the provider reported " + " and ".join(impossible),
                      over_cap=True, reported_input_tokens=usage.input_tokens,
                      reported_output_tokens=usage.output_tokens, granted_output_tokens=call.granted,
                      prompt_tokens_counted=call.prompt.basis)
            return True
        self._calibration.observe(call.prompt, usage.input_tokens)
        return False

    def _settle(self, usage: Usage, *, counted: bool = True, over_cap: bool = False) -> None:
        self._spent = spent = self._spent.plus(usage, self.price.cost(usage), counted=counted, over_cap=over_cap)
        # (a hair of tolerance on dollars: a sum of per-call prices may round just above a cap it met)
        if not spent.over_cap and spent.cost.exceeds(self.budget, usd_rel_tol=1e-9):
            # A plausible report still went past a cap (a prompt counted above its reserve): the
            # result did not keep its budget, so it is flagged rather than compared as if it had.
            self._spent = replace(spent, over_cap=True)
            self.note("budget", f"over cap: the provider counted more than was reserved; spent "
                      f"{spent.total_tokens:,} tokens (${spent.usd:.6f}) against {self.budget.describe()}",
                      over_cap=True, total_tokens=spent.total_tokens, output_tokens=spent.output_tokens,
                      usd=spent.usd)
        self._last_spend_update = self._clock()
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


def _estimate(model: Model, text_parts: list[str], thinking_parts: list[str]) -> int:
    produced = "".join(text_parts) + "".join(thinking_parts)
    if not produced:
        return 0
    # The difference cancels the per-message overhead a counter adds: only the text is counted.
    return model.count_tokens([{"role": "assistant", "content": produced}]) - model.count_tokens(
        [{"role": "assistant", "content": ""}]
    )
