"""Loopback stub servers that speak the OpenAI and Anthropic streaming formats.

They let provider and fault tests drive the real SDKs over real HTTP (respx cannot intercept these
SDKs' HTTP client), with no network and no keys. Each stub is a stdlib ThreadingHTTPServer on
127.0.0.1:<free port>, scripted per request and recording what it received:

    from tests.stubs import StubReply
    from tests.stubs.anthropic_stub import AnthropicStub

    with AnthropicStub() as stub:                          # or the `anthropic_server` fixture
        stub.queue(StubReply(text="Answer: 4", thinking="2 + 2 is 4"),
                   StubReply.http_error(429, retry_after=0))
        model = get_model("anthropic:claude-x", base_url=stub.base_url, api_key="sk-ant-test")
        ...
        assert stub.requests[0].body["thinking"]["budget_tokens"] == 2048

Replies queued with `queue()` are served one per request, in order; when the queue is empty the
stub serves `stub.default` (a plain successful reply unless a test changes it). A test that needs
to answer by what was asked (say, fault only one strategy of a run) sets `stub.responder`, a
function of the RecordedRequest returning a StubReply, or None to fall back to the queue.

Faults a reply can carry (see StubReply): an HTTP error status (429 with retry-after, 500, 529),
an error event mid-stream, a stream cut after N events (the socket is closed without ending the
chunked body), a reply that never ends (keeps sending slowly until the client goes away), an event
whose data is not JSON (`garbage_after`), and a per-event delay. For "connection refused", point a
client at `closed_port_url()`.

How the server counts: `stub.prompt_counter` (request body -> prompt tokens) sets the usage it
reports, e.g. twice our own estimate, and `stub.tokenizer` turns on the provider's token-counting
endpoint that answers with the same count (OpenAIStub: "vllm" or "llama.cpp"; AnthropicStub:
"anthropic"). `stub.honour_max_tokens` cuts replies at the request's max_tokens.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

_PIECE = re.compile(r"\S+\s*|\s+")
ENDLESS_INTERVAL = 0.05  # seconds between events of a never-ending reply when no delay is set
GARBAGE = '{"choices": [{"delta": {"content": "half'  # a JSON object cut mid-string


def split_pieces(text: str) -> list[str]:
    """How a stub streams text: one delta per whitespace-delimited word (with its trailing space)."""
    return _PIECE.findall(text)


def count_words(value: Any) -> int:
    """Whitespace words in any JSON value's strings: the stubs' stand-in for a tokenizer."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k not in ("role", "type"))
    return 0


@dataclass
class StubReply:
    """What the stub answers to one request. The defaults are a plain successful reply.

    Token counts left as None are derived: input = words in the request's messages (and system),
    output = streamed pieces of thinking and text, reasoning = pieces of thinking."""

    text: str = "Let me think. 2 + 2 = 4. Answer: 4"
    thinking: str = ""  # Anthropic: thinking_delta events; OpenAI: delta.reasoning_content
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int = 0
    finish: str = "stop"  # "stop" or "length"; each stub maps it to its provider's stop reason
    send_usage: bool = True  # OpenAI: False mimics servers that never send a usage chunk
    delay: float = 0.0  # seconds before every event after the first
    status: int = 200  # an error status answers with the provider's JSON error body instead
    retry_after: float | None = None  # sent as the retry-after header with an error status
    error_message: str | None = None
    echo_key: bool = False  # the error message quotes the key the request carried, as some servers do
    cut_after: int | None = None  # close the socket after this many events, mid-body
    error_event_after: int | None = None  # Anthropic: an `event: error` (overloaded) after N events
    endless: bool = False  # after the text, keep sending deltas until the client disconnects
    wait_before: float = 0.0  # seconds before the status line: no byte of the response until then
    garbage_after: int | None = None  # after this many events, one event whose data is not JSON

    @classmethod
    def http_error(cls, status: int, *, retry_after: float | None = None, message: str | None = None) -> StubReply:
        return cls(status=status, retry_after=retry_after, error_message=message)

    @classmethod
    def cut(cls, after_events: int, **fields: Any) -> StubReply:
        return cls(cut_after=after_events, **fields)

    @classmethod
    def never_ending(cls, *, delay: float = ENDLESS_INTERVAL, **fields: Any) -> StubReply:
        return cls(endless=True, delay=delay, **fields)

    def usage_numbers(self, request_body: dict[str, Any] | None,
                      prompt_counter: Callable[[dict[str, Any]], int] | None = None) -> tuple[int, int, int]:
        """(input, output, reasoning) tokens this reply reports (input: the server's prompt counter
        when it has one, else the words of the request)."""
        body = request_body or {}
        if prompt_counter is not None:
            counted = prompt_counter(body)
        else:
            counted = max(1, count_words(body.get("messages", [])) + count_words(body.get("system", "")))
        think_pieces = len(split_pieces(self.thinking))
        out_pieces = think_pieces + len(split_pieces(self.text))
        return (
            self.input_tokens if self.input_tokens is not None else counted,
            self.output_tokens if self.output_tokens is not None else out_pieces,
            self.reasoning_tokens if self.reasoning_tokens is not None else think_pieces,
        )


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # the parsed JSON body, or None
    received: float = 0.0  # time.monotonic() when the request arrived (retry backoff is visible in the gaps)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class ClientGone(Exception):
    """The client closed the connection while the stub was still writing."""


class EventWriter:
    """Writes SSE events as an HTTP/1.1 chunked body, applying a reply's delay and cut fault."""

    def __init__(self, handler: BaseHTTPRequestHandler, reply: StubReply, stopping: threading.Event):
        self._handler = handler
        self._reply = reply
        self._stopping = stopping
        self.sent = 0

    def _write(self, data: bytes) -> None:
        try:
            self._handler.wfile.write(data)
            self._handler.wfile.flush()
        except OSError as exc:  # BrokenPipe, ConnectionReset: the client went away
            raise ClientGone from exc

    def event(self, data: dict[str, Any] | str, *, name: str | None = None) -> None:
        """Send one SSE event; raises ClientGone when the client left or the stub is stopping."""
        if self._stopping.is_set():
            raise ClientGone
        if self._reply.cut_after is not None and self.sent >= self._reply.cut_after:
            self.cut()
        if self.sent and self._reply.delay:
            time.sleep(self._reply.delay)
        payload = data if isinstance(data, str) else json.dumps(data)
        text = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
        raw = text.encode()
        self._write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.sent += 1

    def finish(self) -> None:
        self._write(b"0\r\n\r\n")

    def cut(self) -> None:
        """Drop the connection mid-body, as a crashed proxy or a reset would."""
        self._handler.close_connection = True
        with contextlib.suppress(OSError):
            self._handler.connection.shutdown(socket.SHUT_RDWR)
        raise ClientGone


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a cancelled stream, a closed keep-alive) are normal here.
        if not isinstance(sys.exc_info()[1], ConnectionError | ClientGone):
            super().handle_error(request, client_address)


class StubServer:
    """Shared machinery: the HTTP server, the reply queue and the request log.

    Subclasses set `routes` ({path: method name}) and implement the streaming format."""

    base_path = ""  # what base_url appends to the origin ("/v1" for OpenAI-style clients)
    routes: dict[str, str] = {}
    garbage_event: str | None = None  # the SSE event name a garbage event is sent under

    def __init__(self, default: StubReply | None = None):
        self.default = default or StubReply()
        # How the server counts a prompt (request body -> tokens), for its usage reports and its
        # token-counting endpoint; None: the words of the request's messages.
        self.prompt_counter: Callable[[dict[str, Any]], int] | None = None
        # Which token-counting endpoint the server offers (each stub says which it can mimic); None: none.
        self.tokenizer: str | None = None
        # Stop each reply at the request's max_tokens (finish "length"), as real servers do; by
        # default a stub streams its whole reply, like a server that ignores max_tokens.
        self.honour_max_tokens = False
        self.requests: list[RecordedRequest] = []
        self._queue: list[StubReply] = []
        self.responder: Callable[[RecordedRequest], StubReply | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting and inspection -------------------------------------------------------------

    def queue(self, *replies: StubReply) -> None:
        """Serve these replies to the next requests, one each, before falling back to `default`."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def last_request(self) -> RecordedRequest:
        if not self.requests:
            raise AssertionError("the stub has received no request")
        return self.requests[-1]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("stub not started")
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's base_url."""
        return self.origin + self.base_path

    def _next_reply(self, request: RecordedRequest) -> StubReply:
        chosen = self.responder(request) if self.responder is not None else None
        if chosen is not None:
            return chosen
        with self._lock:
            return self._queue.pop(0) if self._queue else replace(self.default)

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_POST(self) -> None:
                stub._handle(self, "POST")

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends never-ending replies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request handling ---------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = handler.path.split("?", 1)[0]
        request = RecordedRequest(method, path, {k.lower(): v for k, v in handler.headers.items()}, body,
                                  time.monotonic())
        with self._lock:
            self.requests.append(request)
        route = self.routes.get(path)
        if route is None:
            self.send_json(handler, 404, self.error_body(404, f"no route for {method} {path}"))
            return
        getattr(self, route)(handler, request)

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        """The server's count of a request's prompt."""
        if self.prompt_counter is not None:
            return self.prompt_counter(body)
        return max(1, count_words(body.get("messages", [])) + count_words(body.get("system", "")))

    def serve_reply(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        reply = self._next_reply(request)
        if self.honour_max_tokens:
            reply = within_max_tokens(reply, request.body or {})
        if reply.wait_before and self._stopping.wait(reply.wait_before):
            handler.close_connection = True  # stopping: drop the request unanswered
            return
        if reply.status != 200:
            headers = {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
            message = reply.error_message or self.default_error_message(reply.status)
            if reply.echo_key:
                message += f"; key received: {request_key(request)}"
            self.send_json(handler, reply.status, self.error_body(reply.status, message), headers)
            return
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        writer = EventWriter(handler, reply, self._stopping)
        events = self.events(reply, request)
        if reply.garbage_after is not None:  # a broken proxy or server: data that is not JSON
            events = itertools.chain(itertools.islice(events, reply.garbage_after),
                                     [(self.garbage_event, GARBAGE)])
        try:
            for name, data in events:
                writer.event(data, name=name)
            writer.finish()
        except ClientGone:
            handler.close_connection = True

    @staticmethod
    def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any,
                  headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(raw)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(raw)
        handler.wfile.flush()

    @staticmethod
    def default_error_message(status: int) -> str:
        return {429: "Rate limit reached, slow down", 500: "Internal server error",
                529: "Overloaded"}.get(status, f"stub error {status}")

    # ---- provider format (subclasses) ---------------------------------------------------------

    def events(self, reply: StubReply, request: RecordedRequest) -> Iterator[tuple[str | None, Any]]:
        """(event name or None, data) pairs of one streamed reply."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError


def within_max_tokens(reply: StubReply, body: dict[str, Any]) -> StubReply:
    """The reply cut to the request's max_tokens (thinking first, then text), finish "length"."""
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    thinking, text = split_pieces(reply.thinking), split_pieces(reply.text)
    if not isinstance(limit, int) or len(thinking) + len(text) <= limit or reply.endless:
        return reply
    kept_thinking = thinking[:limit]
    kept_text = text[:max(0, limit - len(kept_thinking))]
    return replace(reply, thinking="".join(kept_thinking), text="".join(kept_text), finish="length")


def request_key(request: RecordedRequest) -> str:
    """The API key a request carried (OpenAI: Authorization: Bearer; Anthropic: x-api-key)."""
    bearer = request.header("authorization") or ""
    return request.header("x-api-key") or bearer.removeprefix("Bearer ").strip()


def closed_port_url(path: str = "") -> str:
    """A loopback URL where nothing listens, so connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


__all__ = ["ClientGone", "EventWriter", "RecordedRequest", "StubReply", "StubServer", "closed_port_url",
           "count_words", "request_key", "split_pieces", "within_max_tokens"]
