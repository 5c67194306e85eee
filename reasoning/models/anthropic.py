"""Anthropic Messages API, streamed, with extended thinking surfaced separately from the answer.

Call options: `thinking_budget` (extended thinking budget_tokens: at least 1,024 and below
max_tokens), `effort` (output_config.effort, for models that take an effort level) and `stop`
(stop_sequences). System messages go to the `system` parameter; a trailing assistant message is
continued (prefill), which the API does not allow together with thinking.

`temperature` is accepted (the Model protocol requires it) and not sent: the API version the
installed SDK speaks (anthropic-version 2026-10-21, SDK 2.x) refuses temperature, top_p and top_k
with a 400, even at their defaults, and the SDK no longer has those parameters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlparse

import anthropic

from reasoning import tokens
from reasoning.model_protocol import Capabilities, Chunk, Message, ModelConfigError, ModelError, Usage
from reasoning.models.sdk import (
    TOKENIZE_TIMEOUT,
    TRANSPORT_ERRORS,
    SDKModel,
    cause_text,
    is_retryable_status,
    probe_lock,
)
from reasoning.redaction import redact_url

MIN_THINKING_BUDGET = 1024
ANTHROPIC_HOST = "api.anthropic.com"
# Servers (base URL) known to have the token-counting endpoint (True) or not (False: it answered
# 404 or alike, and is not asked again by this process).
_count_endpoints: dict[str, bool] = {}
# Claude's tokenizer yields more tokens than o200k_base for the same text; counts lean upward so a
# budget check does not let a prompt through that the bill would then exceed.
TOKEN_MARGIN = 1.2
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
_STREAM_ERROR_STATUS = {"rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}
# "claude-opus-4-5-20251101" -> (opus, 4, 5); "claude-3-7-sonnet-20250219" -> (None, 3, 7).
_GENERATION = re.compile(r"claude-(?:(opus|sonnet|haiku)-)?(\d+)(?:[-.](\d{1,2}))?(?!\d)")


def generation(model: str) -> tuple[str | None, int, int] | None:
    """(family, major, minor) parsed from a Claude model id, None for names it cannot read."""
    found = _GENERATION.search(model.lower())
    if found is None:
        return None
    family, major, minor = found.groups()
    return family, int(major), int(minor or 0)


def supports_thinking(model: str) -> bool:
    """Extended thinking arrived with Claude 3.7; unknown names are assumed current."""
    gen = generation(model)
    return gen is None or gen[1:] >= (3, 7)


def supports_effort(model: str) -> bool:
    """The effort parameter: Claude Opus 4.5 and every model from 4.6 on."""
    gen = generation(model)
    if gen is None:
        return False
    family, major, minor = gen
    return (major, minor) >= (4, 6) or (family == "opus" and (major, minor) >= (4, 5))


class AnthropicModel(SDKModel[anthropic.AsyncAnthropic]):
    """One Claude model. Options beyond SDKModel's: request fields sent with every call through
    extra_body (e.g. beta parameters)."""

    provider = "anthropic"
    client_class = anthropic.AsyncAnthropic

    def _configure(self) -> None:
        self.capabilities = Capabilities(
            thinking_budget=supports_thinking(self.model),
            reasoning_effort=supports_effort(self.model),
            continues_assistant=True,
            shows_thinking=True,
        )

    def _key(self, key: str | None) -> str:
        if key is None:
            raise ModelConfigError(f"{self.name} needs an Anthropic API key: set {self.key_env} or enter a key")
        return key

    def _touch_resources(self, client: anthropic.AsyncAnthropic) -> None:
        client.messages  # noqa: B018  (the property imports the resource)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """An estimate (Claude's tokenizer is not public offline), leaning upward."""
        return math.ceil(tokens.count_messages(messages, self.name) * TOKEN_MARGIN)

    exact_token_counts = False  # count_tokens is an estimate; count_prompt_tokens asks the API

    async def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        """Anthropic's own count of this prompt (POST /v1/messages/count_tokens: free, and rate limited
        apart from messages). None when the server has no such endpoint (a compatible server) or the
        request failed; the caller then estimates."""
        where = self.base_url or ANTHROPIC_HOST
        if _count_endpoints.get(where) is False:
            return None
        full = self.request_body(messages, max_tokens=MIN_THINKING_BUDGET + 1, temperature=0.0)
        body = {k: full[k] for k in ("model", "messages", "system") if k in full}
        key = json.dumps(body, ensure_ascii=False)
        cached = self._counts.get(key)
        if cached is not None:
            return cached
        if where not in _count_endpoints:
            async with probe_lock(where):  # parallel calls to a new server: one finds out, the others wait
                if where not in _count_endpoints:
                    return await self._ask_count(where, body, key)
        return None if _count_endpoints.get(where) is False else await self._ask_count(where, body, key)

    async def _ask_count(self, where: str, body: dict[str, Any], key: str) -> int | None:
        client = self._client().with_options(max_retries=0, timeout=min(self.timeout, TOKENIZE_TIMEOUT))
        try:
            counted = (await client.messages.count_tokens(**body)).input_tokens
        except anthropic.APIStatusError as exc:
            if exc.status_code in (404, 405, 501):  # no such endpoint (a 400 is about this prompt)
                _count_endpoints[where] = False
            return None
        except (anthropic.APIError, *TRANSPORT_ERRORS):
            return None
        if not isinstance(counted, int):
            return None
        _count_endpoints[where] = True
        self._counts.put(key, counted)
        return counted

    def request_body(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float, **options: Any
    ) -> dict[str, Any]:
        """The Messages API arguments for one streamed call (options left as None are ignored)."""
        options = {k: v for k, v in options.items() if v is not None}
        budget = options.pop("thinking_budget", None)
        effort = options.pop("effort", None) or options.pop("reasoning_effort", None)
        stop = options.pop("stop", None)
        if "top_p" in options or "top_k" in options:
            raise ModelConfigError(f"{self.name}: the Anthropic API no longer takes sampling parameters "
                                   "(top_p, top_k)")
        if options:
            raise ModelConfigError(f"{self.name} does not take the option(s): {', '.join(sorted(options))}")

        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
        turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
        prefill = bool(turns) and turns[-1]["role"] == "assistant"
        if prefill:
            # The API refuses a final assistant turn that ends in whitespace.
            turns[-1]["content"] = turns[-1]["content"].rstrip()
            if not turns[-1]["content"]:
                turns.pop()
                prefill = False
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "messages": turns,
                                "stream": True}
        if system:
            body["system"] = system
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if budget is not None:
            self._check_thinking(budget, max_tokens, prefill)
            body["thinking"] = {"type": "enabled", "budget_tokens": int(budget)}
        if effort:
            if effort not in EFFORT_LEVELS:
                raise ModelConfigError(f"{self.name}: effort must be one of {', '.join(EFFORT_LEVELS)}, "
                                       f"got {effort!r}")
            body["output_config"] = {"effort": effort}
        if self.extra:
            body["extra_body"] = dict(self.extra)
        return body

    def _check_thinking(self, budget: Any, max_tokens: int, prefill: bool) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int | float) or int(budget) != budget:
            raise ModelConfigError(f"{self.name}: thinking_budget must be a whole number of tokens, got {budget!r}")
        if budget < MIN_THINKING_BUDGET or budget >= max_tokens:
            raise ModelConfigError(
                f"{self.name}: thinking_budget must be at least {MIN_THINKING_BUDGET:,} tokens and below "
                f"max_tokens ({max_tokens:,}); got {int(budget):,}"
            )
        if prefill:
            raise ModelConfigError(
                f"{self.name}: extended thinking cannot continue a trailing assistant message; "
                "drop the prefill or the thinking budget"
            )

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7, **options: Any
    ) -> AsyncIterator[Chunk]:
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, **options)
        input_tokens = cached = output_tokens = 0
        reported_thinking: int | None = None
        thinking: list[str] = []
        stop_reason: str | None = None
        finished = started = began = False  # began: message_start arrived (the prompt was read)
        pieces = 0
        try:
            response = await self._client().messages.create(**body)
            started = True
            async with response:
                async for event in response:
                    if event.type == "message_start":
                        began = True
                        u = event.message.usage
                        cached = u.cache_read_input_tokens or 0
                        # input_tokens excludes cache reads and writes; all three are prompt tokens.
                        input_tokens = u.input_tokens + cached + (u.cache_creation_input_tokens or 0)
                        output_tokens = u.output_tokens
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            pieces += 1
                            yield Chunk(text=delta.text)
                        elif delta.type == "thinking_delta" and delta.thinking:
                            pieces += 1
                            thinking.append(delta.thinking)
                            yield Chunk(thinking=delta.thinking)
                        self._check_runaway(pieces, max_tokens)
                    elif event.type == "message_delta":
                        output_tokens = event.usage.output_tokens  # cumulative
                        details = event.usage.output_tokens_details
                        if details is not None:
                            reported_thinking = details.thinking_tokens
                        stop_reason = event.delta.stop_reason or stop_reason
                    elif event.type == "message_stop":
                        finished = True
        except anthropic.APIError as exc:
            raise self._error(exc, began=began) from None
        except TRANSPORT_ERRORS as exc:  # the SDK leaves transport errors inside a stream unwrapped
            raise self._transport_error(exc, started=started, began=began) from None
        if not finished:
            raise self._model_error("the stream ended before the reply was finished", retryable=True,
                                    started=began)
        # Thinking tokens are part of output_tokens; when the API does not break them out, the
        # streamed thinking text gives the split (the total stays exact).
        if reported_thinking is None:
            reported_thinking = tokens.count_text("".join(thinking), self.name) if thinking else 0
        usage = Usage(input_tokens, output_tokens, reasoning_tokens=min(reported_thinking, output_tokens),
                      cached_input_tokens=cached)
        yield Chunk(usage=usage, finish_reason="length" if stop_reason == "max_tokens" else "stop")

    def _where(self) -> str:
        """Who answered, for an error: "Anthropic API at https://api.anthropic.com" or
        "anthropic-compatible server at http://host:8080" (credentials cut from the URL)."""
        if self.base_url is None or (urlparse(self.base_url).hostname or "") == ANTHROPIC_HOST:
            return f"Anthropic API at {redact_url(self.base_url or f'https://{ANTHROPIC_HOST}')}"
        return f"anthropic-compatible server at {redact_url(self.base_url)}"

    def _error(self, exc: anthropic.APIError, *, began: bool = False) -> ModelError:
        where = self.base_url or "https://api.anthropic.com"
        if isinstance(exc, anthropic.APITimeoutError):
            return self._model_error(f"no reply from {where} within {self.timeout:g} s (timed out)",
                                     retryable=True, started=began)
        if isinstance(exc, anthropic.APIConnectionError):
            return self._model_error(f"could not connect to {where}{cause_text(exc)}", retryable=True,
                                     started=began)
        if isinstance(exc, anthropic.APIStatusError):
            message = exc.api_message or exc.message
            if exc.status_code == 200:  # an `event: error` inside an open stream
                status = _STREAM_ERROR_STATUS.get(exc.type or "")
                return self._model_error(f"the server reported an error mid-stream ({exc.type}): {message}",
                                         status=status, retryable=status is None or is_retryable_status(status),
                                         started=began)
            return self._refused(exc.status_code, message, exc.response.headers)
        return self._model_error(f"request failed: {exc.message}", retryable=False)


def build(name: str, **options: Any) -> AnthropicModel:
    """get_model's constructor for "anthropic:MODEL"."""
    return AnthropicModel(name, **options)
