"""A scripted model for tests: replies, token counts, delays and faults chosen by the test.

A token is a whitespace-delimited word (with its trailing space), so a test can count exactly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.model_protocol import Capabilities, Chunk, Message, ModelError, Usage

Script = str | Sequence[str] | Callable[[Sequence[Message], int], str]
_TOKEN = re.compile(r"\S+\s*|\s+")
PER_MESSAGE_OVERHEAD = 2


def fake_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@dataclass
class FakeModel:
    """replies: one reply, a list cycled call by call, or a function (messages, call_index) -> reply.

    A reply may hold thinking as "<think>...</think>rest"; it streams as ThinkingDelta."""

    replies: Script = "Let me think step by step. 2 + 2 = 4. Answer: 4"
    name: str = "fake:scripted"
    token_delay: float = 0.0  # seconds per streamed token
    report_usage: bool = True  # False: the stream ends with an estimated Usage, as some servers do
    fail_after_tokens: int | None = None  # raise a ModelError after this many tokens
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(continues_assistant=True, thinking_budget=True,
                                             shows_thinking=True)
    )
    calls: list[dict] = field(default_factory=list)  # what each call was asked, for assertions

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(fake_tokens(m["content"])) + PER_MESSAGE_OVERHEAD for m in messages)

    def _reply(self, messages: Sequence[Message], index: int) -> str:
        if isinstance(self.replies, str):
            return self.replies
        if callable(self.replies):
            return self.replies(messages, index)
        return self.replies[index % len(self.replies)]

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7, **options
    ) -> AsyncIterator[Chunk]:
        index = len(self.calls)
        self.calls.append({"messages": list(messages), "max_tokens": max_tokens,
                           "temperature": temperature, **options})
        reply = self._reply(messages, index)
        thinking, _, text = reply.partition("</think>") if "</think>" in reply else ("", "", reply)
        thinking = thinking.removeprefix("<think>")
        pieces = [("thinking", t) for t in fake_tokens(thinking)] + [("text", t) for t in fake_tokens(text)]
        sent = reasoning = 0
        for kind, token in pieces:
            if sent >= max_tokens:
                break
            if self.fail_after_tokens is not None and sent >= self.fail_after_tokens:
                raise ModelError("fake model: stream cut mid-way", status=None, retryable=True)
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            else:
                await asyncio.sleep(0)
            sent += 1
            if kind == "thinking":
                reasoning += 1
                yield Chunk(thinking=token)
            else:
                yield Chunk(text=token)
        finish = "length" if sent < len(pieces) else "stop"
        usage = Usage(self.count_tokens(messages), sent, reasoning_tokens=reasoning,
                      estimated=not self.report_usage)
        yield Chunk(usage=usage, finish_reason=finish)


def build(name: str, **options: Any) -> FakeModel:
    """get_model's constructor: "fake" is FakeModel's default name, "fake:NAME" names it."""
    return FakeModel(**options) if not name else FakeModel(name=f"fake:{name}", **options)
