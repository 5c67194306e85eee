"""The Model protocol every provider implements, the small types its stream yields, and the two
errors a model raises.

The engine's side of the contract: strategies, the context and the runner program against these
types; reasoning.models (the providers) implements them. Nothing here imports a provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. reasoning_tokens is part of output_tokens, never added on top."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0
    estimated: bool = False  # the provider reported nothing; counted with a tokenizer


@dataclass(frozen=True)
class Chunk:
    """One piece of a streamed reply. The last chunk of every stream carries Usage."""

    text: str = ""
    thinking: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None  # "stop", "length", ... on the last chunk when known


@dataclass(frozen=True)
class Capabilities:
    thinking_budget: bool = False  # Anthropic-style budget_tokens for extended thinking
    reasoning_effort: bool = False  # OpenAI-style reasoning_effort / Anthropic effort
    continues_assistant: bool = False  # a trailing assistant message is continued, not answered
    shows_thinking: bool = False  # thinking text is streamed back


class ModelError(Exception):
    """A provider failed. The message is safe to show: it never contains a key.

    `started`: the server had accepted the request and begun its reply (HTTP 200, a stream open)
    before it failed, so it processed the prompt; False when it refused or was never reached, and
    such a call costs nothing."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 started: bool = False):
        self.status = status
        self.retryable = retryable
        self.started = started
        super().__init__(message)


class ModelConfigError(ValueError):
    """Bad model selection: unknown provider, missing key, missing file. Said before any call."""


@runtime_checkable
class Model(Protocol):
    name: str  # "openai:gpt-4o-mini", "anthropic:claude-...", "local:smollm2", "fake:..."
    capabilities: Capabilities

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float, **options
    ) -> AsyncIterator[Chunk]: ...

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens this call will be charged for (an upper-leaning estimate if not exact).

        Optional beside it (see reasoning.metering): `exact_token_counts = False` on a model whose
        count is an estimate, and `async count_prompt_tokens(messages) -> int | None`, the
        provider's own count (None when it has none or it failed)."""
        ...
