"""OpenAI Chat Completions, streamed; any OpenAI-compatible server is the same class with a base_url.

vLLM, Ollama, llama.cpp's server and LM Studio speak this API, so `base_url` is configuration, not a
new provider. Reasoning models (o1/o3/o4, gpt-5) take max_completion_tokens and reasoning_effort and
no temperature; their reasoning tokens are already part of completion tokens, so they are recorded,
never added. A server that reports no usage (llama.cpp's does not) gets a flagged estimate.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlparse

import openai

from reasoning import tokens
from reasoning.model_protocol import Capabilities, Chunk, Message, ModelConfigError, ModelError, Usage
from reasoning.models.providers import NO_KEY
from reasoning.models.sdk import (
    TOKENIZE_TIMEOUT,
    TRANSPORT_ERRORS,
    SDKModel,
    cause_text,
    probe_lock,
    stall_message,
)
from reasoning.redaction import base_and_query, redact_url

OPENAI_HOST = "api.openai.com"

# o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, ... ("gpt-5-chat" is a chat model and takes max_tokens).
_REASONING_NAME = re.compile(r"^(o\d+|gpt-5(?!.*-chat))(\b|[-_.])")


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models, also behind a router prefix such as "openai/o3-mini"."""
    return bool(_REASONING_NAME.match(model.rsplit("/", 1)[-1].lower()))


def reasoning_delta(delta: Any) -> Any:
    """The reasoning text of a streamed delta: vLLM, llama.cpp, Ollama and DeepSeek send it beside the
    content as `reasoning_content` or `reasoning`, fields the SDK does not declare (so they land in
    model_extra). Looked up, not getattr'd: a missing field raises inside pydantic, and that cost
    more than all the rest of a chunk's handling (about 14 us a chunk)."""
    extra = delta.model_extra or {}
    fields = delta.__dict__  # a newer SDK may declare them
    return (extra.get("reasoning_content") or fields.get("reasoning_content")
            or extra.get("reasoning") or fields.get("reasoning"))


class OpenAIModel(SDKModel[openai.AsyncOpenAI]):
    """One OpenAI (or OpenAI-compatible) chat model. `self_hosted` is True for any base_url that is
    not api.openai.com: such a model has no list price, so price lookup should treat it as $0
    unless the user priced it. Options beyond SDKModel's: reasoning_effort (sent with every call),
    and server-specific request fields sent with every call (e.g. top_k for vLLM)."""

    provider = "openai"
    client_class = openai.AsyncOpenAI

    def _configure(self) -> None:
        host = (urlparse(self.base_url).hostname or "") if self.base_url else OPENAI_HOST
        self.self_hosted = host != OPENAI_HOST
        self.reasoning_effort: str | None = self.extra.pop("reasoning_effort", None)  # every call's, unless given
        self.reasoning = is_reasoning_model(self.model)
        self.capabilities = Capabilities(reasoning_effort=self.reasoning)

    def _key(self, key: str | None) -> str:
        if key is None and self.base_url is None:
            raise ModelConfigError(
                f"{self.name} needs an OpenAI API key: set {self.key_env}, enter a key, or give a "
                "base_url for an OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio)"
            )
        return key or NO_KEY  # a keyless compatible server: the SDK insists on a key

    def _touch_resources(self, client: openai.AsyncOpenAI) -> None:
        client.chat.completions  # noqa: B018  (the property imports the resource)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return tokens.count_messages(messages, self.name)

    @property
    def exact_token_counts(self) -> bool:
        """tiktoken counts OpenAI's own models exactly; a compatible server's model is estimated."""
        return not self.self_hosted and tokens.is_exact(self.name)

    async def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        """The server's own count of this prompt, chat template included: vLLM's `/tokenize` (given
        the messages) and llama.cpp's `/apply-template` then `/tokenize`, both at the server root.
        None for OpenAI's API (tiktoken counts its models exactly) and for servers without such an
        endpoint (llama-cpp-python's /extras/tokenize counts plain text, not a templated chat)."""
        if not self.self_hosted:
            return None
        return await _server_count(self, [{"role": m["role"], "content": m["content"]} for m in messages])

    def request_body(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float, **options: Any
    ) -> dict[str, Any]:
        """The Chat Completions arguments for one streamed call (options left as None are ignored)."""
        options = {k: v for k, v in options.items() if v is not None}
        effort = options.pop("reasoning_effort", None) or options.pop("effort", None) or self.reasoning_effort
        if "thinking_budget" in options:
            raise ModelConfigError(
                f"{self.name} takes reasoning_effort (low/medium/high), not a thinking token budget"
            )
        passthrough = {k: options.pop(k) for k in ("stop", "seed", "top_p") if k in options}
        if options:
            raise ModelConfigError(f"{self.name} does not take the option(s): {', '.join(sorted(options))}")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            **passthrough,
        }
        if self.reasoning:
            body["max_completion_tokens"] = max_tokens  # reasoning models refuse max_tokens and temperature
        else:
            body["max_tokens"] = max_tokens
            body["temperature"] = temperature
        if effort:
            # Sent whenever asked: compatible servers may serve reasoning models under other names.
            body["reasoning_effort"] = effort
        if self.extra:
            body["extra_body"] = dict(self.extra)
        return body

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7, **options: Any
    ) -> AsyncIterator[Chunk]:
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, **options)
        text: list[str] = []
        thinking: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        started = began = False  # the response arrived; its first event arrived (the prompt was read)
        try:
            response = await self._client().chat.completions.create(**body)
            started = True
            async with response:
                async for event in response:
                    began = True
                    if event.usage is not None:
                        usage = self._usage(event.usage)
                    for choice in event.choices[:1]:
                        delta = choice.delta
                        thought = reasoning_delta(delta)
                        if isinstance(thought, str) and thought:
                            thinking.append(thought)
                            yield Chunk(thinking=thought)
                        if delta.content:
                            text.append(delta.content)
                            yield Chunk(text=delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
                    self._check_runaway(len(text) + len(thinking), max_tokens)
        except openai.APIError as exc:
            raise self._error(exc, started=started, began=began) from None
        except TRANSPORT_ERRORS as exc:  # what the SDK does not wrap inside an open stream
            raise self._transport_error(exc, started=started, began=began) from None
        if finish is None:
            raise self._model_error("the stream ended before the reply was finished", retryable=True,
                                    started=True)
        if usage is None:
            usage = self._estimate(messages, text, thinking, max_tokens=max_tokens, finish=finish)
        yield Chunk(usage=usage, finish_reason=finish)

    @staticmethod
    def _usage(raw: Any) -> Usage:
        completion = raw.completion_tokens or 0
        details = raw.completion_tokens_details
        reasoning = (details.reasoning_tokens or 0) if details is not None else 0
        prompt_details = raw.prompt_tokens_details
        cached = (prompt_details.cached_tokens or 0) if prompt_details is not None else 0
        # reasoning tokens are inside completion_tokens: record them, never add them.
        return Usage(raw.prompt_tokens or 0, completion, reasoning_tokens=min(reasoning, completion),
                     cached_input_tokens=cached)

    def _estimate(self, messages: Sequence[Message], text: list[str], thinking: list[str], *,
                  max_tokens: int, finish: str) -> Usage:
        """The server reported nothing: count with our tokenizer, flagged as an estimate."""
        output = tokens.count_text("".join(thinking) + "".join(text), self.name)
        # A length stop means the server generated exactly max_tokens of its own tokens.
        output = max_tokens if finish == "length" else min(output, max_tokens)
        reasoning = min(output, tokens.count_text("".join(thinking), self.name)) if thinking else 0
        return Usage(self.count_tokens(messages), output, reasoning_tokens=reasoning, estimated=True)

    def _where(self) -> str:
        """Who answered, for an error: "OpenAI at https://api.openai.com/v1" or
        "openai-compatible server at http://127.0.0.1:8000/v1" (credentials cut from the URL)."""
        if not self.self_hosted:
            return f"OpenAI at {redact_url(self.base_url or f'https://{OPENAI_HOST}/v1')}"
        return f"openai-compatible server at {redact_url(self.base_url or '')}"

    def _key_hint(self) -> str:
        return "; check the server's key" if self.self_hosted else super()._key_hint()

    def _error(self, exc: openai.APIError, *, started: bool, began: bool = False) -> ModelError:
        where = self.base_url or f"https://{OPENAI_HOST}"
        if isinstance(exc, openai.APITimeoutError):
            if started:  # the SDK wraps a read timeout inside an open stream too
                return self._model_error(stall_message(self.timeout), retryable=True, started=began)
            return self._model_error(f"no reply from {where} within {self.timeout:g} s (timed out)",
                                     retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            reason = cause_text(exc)
            if started:
                return self._model_error(f"the stream was cut mid-way{reason}", retryable=True, started=began)
            return self._model_error(f"could not connect to {where}{reason}", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            return self._refused(exc.status_code, _api_message(exc.body) or exc.message, exc.response.headers)
        # An error event inside an open stream.
        return self._model_error(f"the server reported an error mid-stream: {_api_message(exc.body) or exc.message}",
                                 retryable=True, started=began)


# How a compatible server counts a prompt, found once per server root and kept for the process:
# "vllm" (/tokenize takes the messages), "llama.cpp" (/apply-template, then /tokenize of the text),
# or None (no endpoint that counts a templated chat).
_server_tokenizers: dict[str, str | None] = {}
NO_ENDPOINT_STATUSES = frozenset({400, 404, 405, 422, 501})


def server_root(base_url: str | None) -> str:
    """The server's root: vLLM's and llama.cpp's tokenizer endpoints are not under /v1."""
    base = (base_and_query(base_url)[0] or "").rstrip("/")
    return base.removesuffix("/v1")


async def _server_count(model: OpenAIModel, messages: list[dict[str, str]]) -> int | None:
    key = json.dumps(messages, ensure_ascii=False)
    cached = model._counts.get(key)
    if cached is not None:
        return cached
    root = server_root(model.base_url)
    if root not in _server_tokenizers:
        async with probe_lock(root):
            if root not in _server_tokenizers:
                return await _ask_server(model, root, "unknown", messages, key)
    kind = _server_tokenizers[root]
    return None if kind is None else await _ask_server(model, root, kind, messages, key)


async def _ask_server(model: OpenAIModel, root: str, kind: str, messages: list[dict[str, str]],
                      key: str) -> int | None:
    """Count with the server's tokenizer (`kind`, or "unknown": find out which it has, and remember)."""
    client = model._client().with_options(max_retries=0, timeout=min(model.timeout, TOKENIZE_TIMEOUT))
    count: int | None = None
    found: str | None = kind
    try:
        if found in ("unknown", "vllm"):
            reply = await client.post(f"{root}/tokenize", cast_to=object, body={
                "model": model.model, "messages": messages, "add_generation_prompt": True})
            if isinstance(reply, dict) and isinstance(reply.get("count"), int):
                found, count = "vllm", reply["count"]
            elif isinstance(reply, dict) and isinstance(reply.get("tokens"), list):
                found = "llama.cpp"  # answered with no `count`: llama.cpp's /tokenize, which wants `content`
            else:
                found = None
        if found == "llama.cpp":
            rendered = await client.post(f"{root}/apply-template", cast_to=object, body={"messages": messages})
            prompt = rendered.get("prompt") if isinstance(rendered, dict) else None
            reply = None if not isinstance(prompt, str) else await client.post(
                f"{root}/tokenize", cast_to=object, body={"content": prompt, "add_special": True,
                                                           "parse_special": True})
            ids = reply.get("tokens") if isinstance(reply, dict) else None
            if isinstance(ids, list):
                count = len(ids)
            else:
                found = None
    except openai.APIStatusError as exc:
        if exc.status_code not in NO_ENDPOINT_STATUSES:
            return None  # a passing fault: this prompt is estimated, the next one asks again
        found = None
    except (openai.APIError, *TRANSPORT_ERRORS):
        return None
    _server_tokenizers[root] = found
    if count is not None:
        model._counts.put(key, count)
    return count


def _api_message(body: object) -> str | None:
    """The human part of an error body: {"message": ...} or {"error": {"message": ...}}."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return None


def build(name: str, **options: Any) -> OpenAIModel:
    """get_model's constructor for "openai:MODEL" (base_url=... for a compatible server)."""
    return OpenAIModel(name, **options)
