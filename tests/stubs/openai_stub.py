"""A loopback stub of OpenAI's Chat Completions API (POST /v1/chat/completions, streamed SSE).

One streamed reply is: a role chunk, `delta.reasoning_content` chunks for thinking (as vLLM,
llama.cpp and DeepSeek send it), `delta.content` chunks, a chunk with finish_reason, then, when the
request asked for `stream_options.include_usage` and the reply has `send_usage`, a usage chunk
(`choices: []`, completion_tokens_details.reasoning_tokens, prompt_tokens_details.cached_tokens),
and `data: [DONE]`. GET /v1/models lists one model. Point the SDK at `stub.base_url` (ends in /v1).

Use as a context manager (`with OpenAIStub() as stub:`) or through the `openai_server` fixture:
`from tests.stubs.openai_stub import openai_server_fixture  # noqa: F401`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.stubs import RecordedRequest, StubReply, StubServer, split_pieces

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                429: "requests", 500: "server_error", 503: "server_error"}


class OpenAIStub(StubServer):
    base_path = "/v1"
    routes = {"/v1/chat/completions": "serve_reply", "/v1/models": "list_models",
              "/tokenize": "tokenize", "/apply-template": "apply_template"}
    model_id = "stub-model"

    # ---- token counting, at the server root as vLLM and llama.cpp's server have it -------------

    def tokenize(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        """vLLM: {"messages": [...]} -> {"count": N, ...}. llama.cpp: {"content": text} -> {"tokens": [...]}
        (given anything else, llama.cpp answers {"tokens": []})."""
        body = request.body or {}
        if self.tokenizer == "vllm":
            count = self.prompt_tokens(body)
            self.send_json(handler, 200, {"count": count, "max_model_len": 8192, "tokens": list(range(count))})
        elif self.tokenizer == "llama.cpp":
            content = body.get("content")
            # This stub's chat template renders the messages as JSON, so the count can be recovered.
            count = self.prompt_tokens({"messages": json.loads(content)}) if isinstance(content, str) else 0
            self.send_json(handler, 200, {"tokens": [0] * count})
        else:
            self.send_json(handler, 404, self.error_body(404, "File Not Found"))

    def apply_template(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        if self.tokenizer != "llama.cpp":
            self.send_json(handler, 404, self.error_body(404, "File Not Found"))
            return
        self.send_json(handler, 200, {"prompt": json.dumps((request.body or {}).get("messages", []))})

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        code = "rate_limit_exceeded" if status == 429 else None
        return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"),
                          "param": None, "code": code}}

    def list_models(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        self.send_json(handler, 200, {"object": "list", "data": [
            {"id": self.model_id, "object": "model", "created": 0, "owned_by": "stub"}]})

    def events(self, reply: StubReply, request: RecordedRequest) -> Iterator[tuple[str | None, Any]]:
        events = self._reply_events(reply, request)
        if reply.error_event_after is None:
            yield from events
            return
        yield from itertools.islice(events, reply.error_event_after)
        yield None, self.error_body(500, reply.error_message or "The server had an error while processing "
                                                                "your request")

    def _reply_events(self, reply: StubReply, request: RecordedRequest) -> Iterator[tuple[str | None, Any]]:
        body = request.body or {}
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())
        base = {"id": f"chatcmpl-stub{len(self.requests)}", "object": "chat.completion.chunk",
                "created": created, "model": body.get("model", self.model_id)}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if wants_usage:
                data["usage"] = None  # OpenAI sends an explicit null until the usage chunk
            return data

        yield None, chunk({"role": "assistant", "content": ""})
        for piece in split_pieces(reply.thinking):
            yield None, chunk({"reasoning_content": piece})
        pieces: Iterator[str] = iter(split_pieces(reply.text))
        if reply.endless:
            pieces = itertools.chain(pieces, itertools.repeat("more "))
        for piece in pieces:
            yield None, chunk({"content": piece})
        yield None, chunk({}, "length" if reply.finish == "length" else "stop")
        if wants_usage and reply.send_usage:
            input_tokens, output_tokens, reasoning_tokens = reply.usage_numbers(body, self.prompt_counter)
            yield None, {**base, "choices": [], "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_input_tokens, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0},
            }}
        yield None, "[DONE]"


@pytest.fixture(name="openai_server")
def openai_server_fixture() -> Iterator[OpenAIStub]:
    """A started OpenAIStub, stopped after the test."""
    with OpenAIStub() as stub:
        yield stub
