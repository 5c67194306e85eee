"""What the two SDK providers (reasoning.models.openai and .anthropic) share: an HTTP client per
event loop, the client's timeout and retries, the mapping of transport and HTTP failures to a
ModelError whose message is safe to show, and the guards on a stream (a server that stalls, or one
that ignores max_tokens and would stream, and bill, without end).

A provider subclasses SDKModel with its SDK's client class and adds its request body, its stream's
events and its SDK's own error types.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import threading
import weakref
from typing import Any, ClassVar, Generic, TypeVar

import httpx2

from reasoning.config import get_settings
from reasoning.metering import CountCache
from reasoning.model_protocol import Capabilities, ModelConfigError, ModelError
from reasoning.models.providers import PROVIDER_INFO
from reasoning.redaction import base_and_query, redact, redact_url

CONNECT_TIMEOUT = 10.0
RUNAWAY_SLACK = 16  # streamed pieces tolerated beyond max_tokens before a reply counts as runaway
TOKENIZE_TIMEOUT = 5.0  # seconds: a counting request that takes longer falls back to the estimate

_STATUS_WORDS = {400: "bad request", 401: "authentication failed", 403: "permission denied",
                 404: "not found (check the model name and base_url)", 408: "request timed out",
                 409: "conflict", 413: "request too large", 422: "unprocessable request",
                 429: "rate limited", 500: "server error", 502: "bad gateway", 503: "service unavailable",
                 504: "gateway timeout", 529: "overloaded"}

# Errors that mean a reply could not be read: data that is not JSON (json.JSONDecodeError is a
# ValueError), or JSON of another shape, which the SDK hands on unvalidated until a field is missing.
UNREADABLE = (ValueError, AttributeError, TypeError, KeyError, IndexError)
# What the SDKs leave unwrapped inside an open stream: transport trouble, and replies they cannot read.
TRANSPORT_ERRORS = (httpx2.HTTPError, *UNREADABLE)

# What httpx's transport imports on its first connection (anyio's asyncio backend and streams):
# ~0.1 s that would otherwise run on the event loop inside a run's first call.
_TRANSPORT_MODULES = ("anyio._backends._asyncio", "anyio._core._sockets", "anyio._core._streams",
                      "anyio.streams.memory", "anyio.streams.stapled", "anyio.to_thread")


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


def unreadable_message(where: str, exc: BaseException) -> str:
    """"openai-compatible server at http://host:8000/v1 sent an unreadable reply: JSONDecodeError: ..."."""
    detail = " ".join(str(exc).split())[:200]
    return f"{where} sent an unreadable reply: {type(exc).__name__}: {detail}"


def preload_transport() -> None:
    for module in _TRANSPORT_MODULES:
        with contextlib.suppress(ImportError):  # another anyio layout: the first call imports what it needs
            importlib.import_module(module)


def status_words(status: int) -> str:
    return _STATUS_WORDS.get(status, "server error" if status >= 500 else "request refused")


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in (408, 409, 429) or status >= 500)


def cause_text(exc: BaseException) -> str:
    """" (ConnectError: ...)" for the error behind a connection failure, "" when there is none."""
    cause = exc.__cause__
    return f" ({type(cause).__name__}: {cause})" if cause is not None else ""


_probe_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def probe_lock(server: str) -> asyncio.Lock:
    """One lock per server (and event loop): parallel calls to a server not yet probed for a
    token-counting endpoint wait for the first probe instead of each sending one."""
    locks = _probe_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(server, asyncio.Lock())


Client = TypeVar("Client")  # the SDK's async client: openai.AsyncOpenAI, anthropic.AsyncAnthropic


class SDKModel(Generic[Client]):
    """A model served through a provider's SDK. The subclass sets `provider` (its registry name),
    and `client_class`, and says what it reads from its name and options
    (`_configure`), which key it sends (`_key`), what warm_up touches and who answered (`_where`)."""

    provider: ClassVar[str]  # its ProviderInfo's name: the key and base-URL variables are read from there
    client_class: ClassVar[Any]  # built as client_class(api_key=, base_url=, default_query=, timeout=, max_retries=)

    capabilities: Capabilities

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout: float | None = None, max_retries: int | None = None, **extra: Any) -> None:
        """api_key: else the provider's key variable; base_url: else its base-URL variable; timeout and
        max_retries: else Settings' (client_limits); extra: request fields sent with every call."""
        if not model or not model.strip():
            raise ModelConfigError(f"{self.provider}: no model name given; write {self.provider}:MODEL_NAME")
        self.model = model.strip()
        self.name = f"{self.provider}:{self.model}"
        info = PROVIDER_INFO[self.provider]
        self.key_env = info.key_env or ""
        self.base_url = (base_url or os.environ.get(info.base_url_env or "") or "").strip() or None
        self._api_key = self._key(api_key or os.environ.get(self.key_env) or None)
        self.timeout, self.max_retries = client_limits(timeout, max_retries)
        self.extra = extra
        # httpx connection pools belong to one event loop; keep one client per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = weakref.WeakKeyDictionary()
        self._clients_lock = threading.Lock()  # warm_up builds a loop's client on a worker thread
        self._counts = CountCache()  # prompt -> the server's own count
        self._configure()

    def _configure(self) -> None:
        """What the provider reads from the model's name and options: its capabilities, at least."""
        raise NotImplementedError

    def _key(self, key: str | None) -> str:
        """The key to send, from the one given or the host's (None: neither); raises ModelConfigError
        when the provider cannot do without one."""
        raise NotImplementedError

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        where = f", base_url={redact_url(self.base_url)!r}" if self.base_url else ""
        return f"{type(self).__name__}({self.model!r}{where})"

    def _client(self, loop: asyncio.AbstractEventLoop | None = None) -> Client:
        loop = loop or asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            base_url, query = base_and_query(self.base_url)  # ?api_key=... goes with every request
            client = self.client_class(
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
            await client.close()  # type: ignore[attr-defined]

    def warm_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """The slow parts of a first call, done by run() on a worker thread: building the loop's HTTP
        client (its TLS context: 0.2-0.4 s measured on a loaded 2-core machine, for every new model)
        and the SDK's lazily imported resources. On the event loop they held up the seconds cap."""
        with self._clients_lock:
            self._touch_resources(self._client(loop))
        preload_transport()

    def _touch_resources(self, client: Client) -> None:
        """Read the client's lazily imported resource properties (the SDK imports them on first use)."""

    def _where(self) -> str:
        """Who answered, for an error: the API or a compatible server, credentials cut from its URL."""
        raise NotImplementedError

    def _key_hint(self) -> str:
        """What a 401 asks the user to check."""
        return f"; check {self.key_env}"

    def _model_error(self, detail: str, *, status: int | None = None, retryable: bool = False,
                     started: bool = False, named: bool = True) -> ModelError:
        message = f"{self.name}: {detail}" if named else detail
        return ModelError(redact(message, self._api_key), status=status, retryable=retryable, started=started)

    def _check_runaway(self, pieces: int, max_tokens: int) -> None:
        if is_runaway(pieces, max_tokens):
            raise self._model_error(runaway_message(max_tokens), started=True)

    def _transport_error(self, exc: BaseException, *, started: bool, began: bool) -> ModelError:
        """One of TRANSPORT_ERRORS met inside a call: a stall, a cut connection or an unreadable reply.
        `started`: the response had arrived; `began`: its first event had (the prompt was read)."""
        if isinstance(exc, httpx2.TimeoutException):  # a read timeout inside an open stream
            return self._model_error(stall_message(self.timeout), retryable=True, started=began)
        if isinstance(exc, httpx2.HTTPError):
            where = "the stream was cut mid-way" if started else "connection failed"
            return self._model_error(f"{where} ({type(exc).__name__}: {exc})", retryable=True, started=began)
        # Not JSON, or JSON of another shape (the SDK does not validate).
        return self._model_error(unreadable_message(self._where(), exc), retryable=True, started=began, named=False)

    def _refused(self, status: int, message: str, headers: Any) -> ModelError:
        """The server answered with an error status before any reply: nothing was generated."""
        detail = f"{status_words(status)} (HTTP {status}): {message}"
        if status == 401:
            detail += self._key_hint()
        retry_after = headers.get("retry-after")
        if retry_after:
            detail += f"; retry after {retry_after} s"
        return self._model_error(detail, status=status, retryable=is_retryable_status(status))
