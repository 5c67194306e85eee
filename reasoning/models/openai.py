"""OpenAI Chat Completions, streamed; any OpenAI-compatible server is the same class with a base_url.

vLLM, Ollama, llama.cpp's server and LM Studio speak this API, so `base_url` is configuration, not a
new provider. Reasoning models (o1/o3/o4, gpt-5) take max_completion_tokens and reasoning_effort and
no temperature; their reasoning tokens are already part of completion tokens, so they are recorded,
never added. A server that reports no usage (llama.cpp's does not) gets a flagged estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import threading
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlparse

import httpx2
import openai

from reasoning import tokens
from reasoning.config import get_settings
from reasoning.metering import CountCache
from reasoning.model_protocol import Capabilities, Chunk, Message, ModelConfigError, ModelError, Usage
from reasoning.models.providers import NO_KEY
from reasoning.redaction import base_and_query, redact, redact_url

CONNECT_TIMEOUT = 10.0
RUNAWAY_SLACK = 16  # streamed pieces tolerated beyond max_tokens before a reply counts as runaway
OPENAI_HOST = "api.openai.com"

# o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, ... ("gpt-5-chat" is a chat model and takes max_tokens).
_REASONING_NAME = re.compile(r"^(o\d+|gpt-5(?!.*-chat))(\b|[-_.])")
_STATUS_WORDS = {400: "bad request", 401: "authentication failed", 403: "permission denied",
                 404: "not found (check the model name and base_url)", 408: "request timed out",
                 409: "conflict", 413: "request too large", 422: "unprocessable request",
                 429: "rate limited", 500: "server error", 502: "bad gateway", 503: "service unavailable",
                 504: "gateway timeout", 529: "overloaded"}


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models, also behind a router prefix such as "openai/o3-mini"."""
    return bool(_REASONING_NAME.match(model.rsplit("/", 1)[-1].lower()))


def client_limits(timeout: float | None, max_retries: int | None) -> tuple[float, int]:
    """The SDK client's timeout (seconds of silence) and retries: as given, else from Settings
    (BUDGET_ARENA_PROVIDER_TIMEOUT, BUDGET_ARENA_PROVIDER_MAX_RETRIES)."""
    settings = get_settings()
    timeout = settings.provider_timeout if timeout is None else float(timeout)
    max_retries = settings.provider_max_retries if max_retries is None else int(max_retries)
    if timeout <= 0 or max_retries < 0:
        raise ModelConfigError(f"timeout must be above 0 and max_retries at least 0; got {timeout:g} and {max_retries}")
    return timeout, max_retries


def is_runaway(pieces: int, max_tokens: int) -> bool:
    """More streamed pieces than max_tokens allows (each non-empty delta holds at least one token):
    a server that ignores max_tokens would otherwise stream, and bill, without end."""
    return pieces > max_tokens + RUNAWAY_SLACK


def runaway_message(max_tokens: int) -> str:
    return (f"the server kept streaming past the {max_tokens:,} tokens asked for (it ignores max_tokens); "
            "the reply was stopped")


def stall_message(timeout: float) -> str:
    return f"the stream stalled: no data within {timeout:g} s (timed out)"


def reasoning_delta(delta: Any) -> Any:
    """The reasoning text of a streamed delta: vLLM, llama.cpp, Ollama and DeepSeek send it beside the
    content as `reasoning_content` or `reasoning`, fields the SDK does not declare (so they land in
    model_extra). Looked up, not getattr'd: a missing field raises inside pydantic, and that cost
    more than all the rest of a chunk's handling (about 14 us a chunk)."""
    extra = delta.model_extra or {}
    fields = delta.__dict__  # a newer SDK may declare them
    return (extra.get("reasoning_content") or fields.get("reasoning_content")
            or extra.get("reasoning") or fields.get("reasoning"))


# Errors that mean a reply could not be read: data that is not JSON (json.JSONDecodeError is a
# ValueError), or JSON of another shape, which the SDK hands on unvalidated until a field is missing.
UNREADABLE = (ValueError, AttributeError, TypeError, KeyError, IndexError)


def unreadable_message(where: str, exc: BaseException) -> str:
    """"openai-compatible server at http://host:8000/v1 sent an unreadable reply: JSONDecodeError: ..."."""
    detail = " ".join(str(exc).split())[:200]
    return f"{where} sent an unreadable reply: {type(exc).__name__}: {detail}"


# What httpx's transport imports on its first connection (anyio's asyncio backend and streams):
# ~0.1 s that would otherwise run on the event loop inside a run's first call.
_TRANSPORT_MODULES = ("anyio._backends._asyncio", "anyio._core._sockets", "anyio._core._streams",
                      "anyio.streams.memory", "anyio.streams.stapled", "anyio.to_thread")


def preload_transport() -> None:
    for module in _TRANSPORT_MODULES:
        with contextlib.suppress(ImportError):  # another anyio layout: the first call imports what it needs
            importlib.import_module(module)


def status_words(status: int) -> str:
    return _STATUS_WORDS.get(status, "server error" if status >= 500 else "request refused")


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in (408, 409, 429) or status >= 500)


class OpenAIModel:
    """One OpenAI (or OpenAI-compatible) chat model. `self_hosted` is True for any base_url that is
    not api.openai.com: such a model has no list price, so price lookup should treat it as $0
    unless the user priced it."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        reasoning_effort: str | None = None,
        **extra: Any,
    ):
        """extra: server-specific request fields sent with every call (e.g. top_k for vLLM)."""
        if not model or not model.strip():
            raise ModelConfigError("openai: no model name given; write openai:MODEL_NAME")
        self.model = model.strip()
        self.name = f"openai:{self.model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").strip() or None
        host = (urlparse(self.base_url).hostname or "") if self.base_url else OPENAI_HOST
        self.self_hosted = host != OPENAI_HOST
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if key is None and self.base_url is None:
            raise ModelConfigError(
                f"{self.name} needs an OpenAI API key: set OPENAI_API_KEY, enter a key, or give a "
                "base_url for an OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio)"
            )
        self._api_key = key or NO_KEY
        self.timeout, self.max_retries = client_limits(timeout, max_retries)
        self.reasoning_effort = reasoning_effort
        self.extra = extra
        self.reasoning = is_reasoning_model(self.model)
        self.capabilities = Capabilities(reasoning_effort=self.reasoning)
        # httpx connection pools belong to one event loop; keep one client per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self._clients_lock = threading.Lock()  # warm_up builds a loop's client on a worker thread
        self._counts = CountCache()  # prompt -> the server's count

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        where = f", base_url={redact_url(self.base_url)!r}" if self.base_url else ""
        return f"OpenAIModel({self.model!r}{where})"

    def _client(self, loop: asyncio.AbstractEventLoop | None = None) -> openai.AsyncOpenAI:
        loop = loop or asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            base_url, query = base_and_query(self.base_url)  # ?api_key=... goes with every request
            client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=base_url,
                default_query=query,
                timeout=httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
                max_retries=self.max_retries,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close this event loop's HTTP client (optional: clients are also dropped with their loop)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return tokens.count_messages(messages, self.name)

    @property
    def exact_token_counts(self) -> bool:
        """tiktoken counts OpenAI's own models exactly; a compatible server's model is estimated."""
        return not self.self_hosted and tokens.is_exact(self.name)

    def warm_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """The slow parts of a first call, done by run() on a worker thread: building the loop's HTTP
        client (its TLS context: 0.2-0.4 s measured on a loaded 2-core machine, for every new model)
        and the SDK's lazily imported chat resources. On the event loop they held up the seconds cap."""
        with self._clients_lock:
            self._client(loop).chat.completions  # noqa: B018  (the property imports the resource)
        preload_transport()

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
                    if is_runaway(len(text) + len(thinking), max_tokens):
                        raise self._model_error(runaway_message(max_tokens), started=True)
        except openai.APIError as exc:
            raise self._error(exc, started=started, began=began) from None
        except httpx2.TimeoutException:  # a read timeout inside an open stream is not wrapped by the SDK
            raise self._model_error(stall_message(self.timeout), retryable=True, started=began) from None
        except httpx2.HTTPError as exc:  # transport trouble the SDK did not wrap
            where = "the stream was cut mid-way" if started else "connection failed"
            raise self._model_error(f"{where} ({type(exc).__name__}: {exc})", retryable=True,
                                    started=began) from None
        except UNREADABLE as exc:  # not JSON, or JSON of another shape (the SDK does not validate)
            raise self._model_error(unreadable_message(self._where(), exc), retryable=True,
                                    started=began, named=False) from None
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

    def _model_error(self, detail: str, *, status: int | None = None, retryable: bool = False,
                     started: bool = False, named: bool = True) -> ModelError:
        message = f"{self.name}: {detail}" if named else detail
        return ModelError(redact(message, self._api_key), status=status, retryable=retryable, started=started)

    def _where(self) -> str:
        """Who answered, for an error: "OpenAI at https://api.openai.com/v1" or
        "openai-compatible server at http://127.0.0.1:8000/v1" (credentials cut from the URL)."""
        if not self.self_hosted:
            return f"OpenAI at {redact_url(self.base_url or f'https://{OPENAI_HOST}/v1')}"
        return f"openai-compatible server at {redact_url(self.base_url or '')}"

    def _error(self, exc: openai.APIError, *, started: bool, began: bool = False) -> ModelError:
        where = self.base_url or f"https://{OPENAI_HOST}"
        if isinstance(exc, openai.APITimeoutError):
            if started:  # the SDK wraps a read timeout inside an open stream too
                return self._model_error(stall_message(self.timeout), retryable=True, started=began)
            return self._model_error(f"no reply from {where} within {self.timeout:g} s (timed out)",
                                     retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            reason = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            if started:
                return self._model_error(f"the stream was cut mid-way{reason}", retryable=True, started=began)
            return self._model_error(f"could not connect to {where}{reason}", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = f"{status_words(status)} (HTTP {status}): {_api_message(exc.body) or exc.message}"
            if status == 401:
                detail += "; check OPENAI_API_KEY" if not self.self_hosted else "; check the server's key"
            retry_after = exc.response.headers.get("retry-after")
            if retry_after:
                detail += f"; retry after {retry_after} s"
            return self._model_error(detail, status=status, retryable=is_retryable_status(status))
        # An error event inside an open stream.
        return self._model_error(f"the server reported an error mid-stream: {_api_message(exc.body) or exc.message}",
                                 retryable=True, started=began)


# How a compatible server counts a prompt, found once per server root and kept for the process:
# "vllm" (/tokenize takes the messages), "llama.cpp" (/apply-template, then /tokenize of the text),
# or None (no endpoint that counts a templated chat).
_server_tokenizers: dict[str, str | None] = {}
TOKENIZE_TIMEOUT = 5.0  # seconds: a counting request that takes longer falls back to the estimate
NO_ENDPOINT_STATUSES = frozenset({400, 404, 405, 422, 501})


def server_root(base_url: str | None) -> str:
    """The server's root: vLLM's and llama.cpp's tokenizer endpoints are not under /v1."""
    base = (base_and_query(base_url)[0] or "").rstrip("/")
    return base.removesuffix("/v1")


_probe_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def probe_lock(server: str) -> asyncio.Lock:
    """One lock per server (and event loop): parallel calls to a server not yet probed for a
    token-counting endpoint wait for the first probe instead of each sending one."""
    locks = _probe_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(server, asyncio.Lock())


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
    except (openai.APIError, httpx2.HTTPError, *UNREADABLE):
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
