"""A loopback stub of Anthropic's Messages API (POST /v1/messages, streamed SSE).

One streamed reply is: message_start (input usage), ping, a thinking block (thinking_delta events
then a signature_delta) when the reply has thinking, a text block (text_delta events),
message_delta (stop_reason and output usage), message_stop. Point the SDK at `stub.base_url`.

Use as a context manager (`with AnthropicStub() as stub:`) or through the `anthropic_server`
fixture: `from tests.stubs.anthropic_stub import anthropic_server_fixture  # noqa: F401`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.stubs import RecordedRequest, StubReply, StubServer, split_pieces

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}
SIGNATURE = "EqQBCkYIBxgCKkBstub-signature"


class AnthropicStub(StubServer):
    routes = {"/v1/messages": "serve_reply", "/v1/messages/count_tokens": "count_tokens"}
    garbage_event = "content_block_delta"

    def count_tokens(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        """The token-counting endpoint (when stub.tokenizer == "anthropic"): {"input_tokens": N}."""
        if self.tokenizer != "anthropic":
            self.send_json(handler, 404, self.error_body(404, "Not found"))
            return
        self.send_json(handler, 200, {"input_tokens": self.prompt_tokens(request.body or {})})

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}

    def events(self, reply: StubReply, request: RecordedRequest) -> Iterator[tuple[str | None, Any]]:
        events = self._reply_events(reply, request)
        if reply.error_event_after is None:
            yield from events
            return
        yield from itertools.islice(events, reply.error_event_after)
        yield "error", self.error_body(529, reply.error_message or "Overloaded")

    def _reply_events(self, reply: StubReply, request: RecordedRequest) -> Iterator[tuple[str, Any]]:
        body = request.body or {}
        input_tokens, output_tokens, reasoning_tokens = reply.usage_numbers(body, self.prompt_counter)
        yield "message_start", {
            "type": "message_start",
            "message": {
                "id": f"msg_stub_{len(self.requests)}", "type": "message", "role": "assistant",
                "model": body.get("model", "claude-stub"), "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                          "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": reply.cached_input_tokens},
            },
        }
        yield "ping", {"type": "ping"}
        index = 0
        if reply.thinking:
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
            for piece in split_pieces(reply.thinking):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "thinking_delta", "thinking": piece}}
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "signature_delta", "signature": SIGNATURE}}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
            index += 1
        yield "content_block_start", {"type": "content_block_start", "index": index,
                                      "content_block": {"type": "text", "text": ""}}
        pieces: Iterator[str] = iter(split_pieces(reply.text))
        if reply.endless:
            pieces = itertools.chain(pieces, itertools.repeat("more "))
        for piece in pieces:
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": piece}}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        usage: dict[str, Any] = {"output_tokens": output_tokens}
        if reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": reasoning_tokens}
        yield "message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens" if reply.finish == "length" else "end_turn",
                      "stop_sequence": None},
            "usage": usage,
        }
        yield "message_stop", {"type": "message_stop"}


@pytest.fixture(name="anthropic_server")
def anthropic_server_fixture() -> Iterator[AnthropicStub]:
    """A started AnthropicStub, stopped after the test."""
    with AnthropicStub() as stub:
        yield stub
