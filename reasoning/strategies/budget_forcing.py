"""budget_forcing: s1's test-time budget forcing (Muennighoff et al., 2025).

The model thinks inside <think>...</think>, its thinking continued as a trailing assistant message:
- at the thinking cap (the knob, lowered to what the budget can pay for along with the answer) the
  end of thinking is forced: "</think>" and "Final Answer:" are appended and a short answer generated;
- when the model ends its thinking before `min_thinking_tokens`, the end is suppressed: "Wait" is
  appended to the thinking and it is continued, at most `max_waits` times.
The end of thinking is detected in the text ("</think>"), by a provider that streams thinking apart
from text, or by the model simply stopping. Only models that continue an assistant message can do
this (local completion mode, Anthropic prefill, the fake model).
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.answers import forced_answer, stated_answer
from reasoning.context import MIN_USEFUL_TOKENS, Context, Reply
from reasoning.model_protocol import Message, Model
from reasoning.strategies.base import StrategyBase, knob, register
from reasoning.strategies.support.prompts import FINAL_ANSWER_CUE, THINK_END, THINK_START, think_then_answer
from reasoning.strategies.support.sizing import call_cost, largest_affordable

WAIT = "Wait"


def split_thinking(reply: Reply) -> tuple[str, bool, str]:
    """(thinking in this reply, whether the thinking ended, text after the end of thinking)."""
    if reply.thinking:  # the provider streamed thinking apart: any text after it ends the thinking
        return reply.thinking, bool(str(reply).strip()) or not reply.truncated, str(reply)
    text = str(reply)
    if THINK_END in text:
        before, _, after = text.partition(THINK_END)
        return before, True, after
    return text, not reply.truncated, ""


def thinking_messages(prompt: list[Message], thinking: str) -> list[Message]:
    return prompt + [{"role": "assistant", "content": f"{THINK_START}\n{thinking}"}]


def answer_messages(prompt: list[Message], thinking: str) -> list[Message]:
    return prompt + [{"role": "assistant",
                      "content": f"{THINK_START}\n{thinking.rstrip()}\n{THINK_END}\n\n{FINAL_ANSWER_CUE}"}]


@register
@dataclass
class BudgetForcing(StrategyBase):
    name = "budget_forcing"
    title = "Budget forcing (s1)"
    summary = ("Thinks inside <think>…</think> up to a cap, then forces `Final Answer:`; a thinking "
               "that ends too early is extended with 'Wait'.")

    max_thinking_tokens: int = knob(2048, "thinking cap in tokens (the budget may lower it)", min=32, max=65536)
    min_thinking_tokens: int = knob(256, "thinking that ends before this many tokens gets a 'Wait'", min=0,
                                    max=65536)
    max_waits: int = knob(2, "most times the end of thinking is suppressed", min=0, max=16)
    answer_tokens: int = knob(48, "longest final answer in tokens", min=8, max=1024)
    temperature: float = knob(0.0, "sampling temperature", min=0.0, max=2.0)

    def unsupported_reason(self, model: Model) -> str | None:
        if not model.capabilities.continues_assistant:
            return ("budget forcing continues the model's own thinking, which needs a model that continues "
                    "a trailing assistant message (local completion mode, Anthropic prefill, the fake model)")
        return None

    async def solve(self, problem: str, ctx: Context) -> str | None:
        prompt = think_then_answer(problem)
        thinking, after = "", ""
        used = waits = 0
        forced = False
        while True:
            allowance = self._allowance(ctx, prompt, thinking, used)
            if allowance < MIN_USEFUL_TOKENS:
                forced = True
                break
            reply = await ctx.generate(thinking_messages(prompt, thinking),
                                       label="thinking" if not waits else f"thinking after wait {waits}",
                                       max_tokens=allowance, temperature=self.temperature)
            used += reply.usage.output_tokens
            thought, ended, after = split_thinking(reply)
            thinking += thought
            if not ended:  # cut at the cap
                forced = True
                break
            if used >= self.min_thinking_tokens or waits >= self.max_waits:
                break
            waits += 1
            thinking = f"{thinking.rstrip()}\n{WAIT}"
            ctx.note("wait", f"thinking ended after {used} tokens (minimum {self.min_thinking_tokens}): "
                     f"appended '{WAIT}' ({waits} of {self.max_waits})", thinking_tokens=used, waits=waits)
        answer = None if forced else stated_answer(after)
        if answer is None:
            reply = await ctx.generate(answer_messages(prompt, thinking), label="final answer",
                                       max_tokens=self.answer_tokens, temperature=0.0)
            answer = forced_answer(reply)
        ctx.note("thinking", f"{used} thinking tokens, {waits} wait(s); thinking "
                 + ("ended by force at the cap" if forced else "ended by the model"),
                 thinking_tokens=used, waits=waits, forced_end=forced, cap=self.max_thinking_tokens)
        ctx.partial(answer)
        return answer

    def _allowance(self, ctx: Context, prompt: list[Message], thinking: str, used: int) -> int:
        """The next thinking call's max_tokens: what is left of the cap, lowered so that the forced
        answer (which re-reads the whole thinking) can still be paid for."""
        cap = self.max_thinking_tokens - used
        if cap <= 0:
            return 0
        think_prompt = ctx.model.count_tokens(thinking_messages(prompt, thinking))
        answer_prompt = ctx.model.count_tokens(answer_messages(prompt, thinking))
        return largest_affordable(ctx.remaining(), cap, lambda n: call_cost(ctx, think_prompt, n)
                                  + call_cost(ctx, answer_prompt + n, self.answer_tokens))
