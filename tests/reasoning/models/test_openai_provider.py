"""The OpenAI provider against the loopback Chat Completions stub: requests, streams, usage, faults."""

from __future__ import annotations

import time

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, TextDelta
from reasoning.models import ModelConfigError, ModelError, get_model
from reasoning.models.openai import OpenAIModel, is_reasoning_model
from reasoning.run import run
from reasoning.strategies import make_strategy
from tests.stubs import StubReply, closed_port_url
from tests.stubs.openai_stub import OpenAIStub, openai_server_fixture  # noqa: F401  (pytest fixture)

KEY = "sk-proj-test-0123456789abcdefghij"
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


def model_for(stub: OpenAIStub, name: str = "gpt-4o-mini", **options) -> OpenAIModel:
    return get_model(f"openai:{name}", base_url=stub.base_url, api_key=KEY, max_retries=0, **options)


async def collect(model, messages=PROMPT, max_tokens=256, temperature=0.0, **options):
    return [c async for c in model.stream(messages, max_tokens=max_tokens, temperature=temperature, **options)]


async def failure(model, **options) -> ModelError:
    with pytest.raises(ModelError) as info:
        await collect(model, **options)
    return info.value


async def run_cot(model, budget=None):
    events = [e async for e in run(make_strategy("chain_of_thought"), "What is 2 + 2?", model,
                                   budget or Budget(total_tokens=5000))]
    finals = [e for e in events if isinstance(e, FinalAnswer)]
    assert len(finals) == 1 and events[-1] is finals[0]
    return events, finals[0]


# ---- streaming and usage ----------------------------------------------------------------------


async def test_text_streams_in_pieces_and_usage_is_reported_once(openai_server):
    openai_server.queue(StubReply(text="Two and two make four. Answer: 4", input_tokens=21, output_tokens=90,
                                  reasoning_tokens=64, cached_input_tokens=5))
    chunks = await collect(model_for(openai_server, "o3-mini"))
    texts = [c.text for c in chunks if c.text]
    assert len(texts) > 3 and "".join(texts) == "Two and two make four. Answer: 4"
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])
    usage = chunks[-1].usage
    # reasoning tokens are inside completion_tokens: recorded, never added on top
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (21, 90, 64)
    assert usage.cached_input_tokens == 5 and not usage.estimated
    assert chunks[-1].finish_reason == "stop"


async def test_reasoning_content_from_compatible_servers_streams_as_thinking(openai_server):
    openai_server.queue(StubReply(thinking="Two plus two is four.", text="Answer: 4"))
    chunks = await collect(model_for(openai_server, "some-reasoning-model"))
    assert "".join(c.thinking for c in chunks) == "Two plus two is four."
    assert "".join(c.text for c in chunks) == "Answer: 4"
    assert chunks[-1].usage.reasoning_tokens == 5  # the stub's thinking pieces


async def test_length_stop_is_reported(openai_server):
    openai_server.queue(StubReply(finish="length"))
    chunks = await collect(model_for(openai_server))
    assert chunks[-1].finish_reason == "length"


async def test_a_server_without_usage_gets_a_flagged_estimate(openai_server):
    model = model_for(openai_server, "my-llama")
    openai_server.queue(StubReply(text="Answer: 4", send_usage=False))
    usage = (await collect(model))[-1].usage
    assert usage.estimated
    assert usage.input_tokens == model.count_tokens(PROMPT)
    assert 0 < usage.output_tokens <= 256
    # A length stop means the server produced exactly max_tokens of its own tokens.
    openai_server.queue(StubReply(text="a b c d e f g h", send_usage=False, finish="length"))
    assert (await collect(model, max_tokens=20))[-1].usage.output_tokens == 20


# ---- what the SDK sends ------------------------------------------------------------------------


async def test_reasoning_model_gets_max_completion_tokens_and_effort_without_temperature(openai_server):
    model = model_for(openai_server, "o3-mini", reasoning_effort="high")
    assert model.capabilities.reasoning_effort
    await collect(model, max_tokens=300)
    body = openai_server.last_request.body
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert "temperature" not in body
    assert body["reasoning_effort"] == "high"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    await collect(model, reasoning_effort="low")  # the call's option wins over the constructor's
    assert openai_server.last_request.body["reasoning_effort"] == "low"


async def test_chat_model_gets_max_tokens_temperature_and_stop(openai_server):
    model = model_for(openai_server, "gpt-4o-mini")
    assert not model.capabilities.reasoning_effort
    await collect(model, max_tokens=123, temperature=0.3, stop=["\n\nQ:"])
    request = openai_server.last_request
    assert request.body["max_tokens"] == 123 and "max_completion_tokens" not in request.body
    assert request.body["temperature"] == 0.3 and "reasoning_effort" not in request.body
    assert request.body["stop"] == ["\n\nQ:"]
    assert request.body["messages"] == PROMPT
    assert request.header("authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("name", "reasoning"),
    [("o1", True), ("o3-mini", True), ("o4-mini-2025-04-16", True), ("gpt-5", True), ("gpt-5-mini", True),
     ("openai/o3-mini", True), ("gpt-5-chat-latest", False), ("gpt-4o-mini", False), ("gpt-4.1", False),
     ("omni-moderation-latest", False), ("smollm2", False)],
)
def test_reasoning_families_are_recognised(name, reasoning):
    assert is_reasoning_model(name) is reasoning


async def test_unsupported_options_are_refused_before_any_request(openai_server):
    model = model_for(openai_server)
    with pytest.raises(ModelConfigError, match="reasoning_effort"):
        await collect(model, thinking_budget=2048)
    with pytest.raises(ModelConfigError, match="logit_bias"):
        await collect(model, logit_bias={"1": 2})
    await collect(model, thinking_budget=None)  # options left as None are ignored
    assert len(openai_server.requests) == 1


# ---- configuration -----------------------------------------------------------------------------


def test_missing_key_names_the_environment_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        get_model("openai:gpt-4o-mini")


async def test_a_compatible_server_needs_no_key(openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = get_model("openai:local-model", base_url=openai_server.base_url, max_retries=0)
    chunks = await collect(model)
    assert "".join(c.text for c in chunks)
    assert openai_server.last_request.header("authorization") == "Bearer not-needed"


def test_env_base_url_and_self_hosted_flag(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert get_model("openai:gpt-4o-mini").self_hosted is False
    assert get_model("openai:gpt-4o-mini", base_url="https://api.openai.com/v1").self_hosted is False
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    model = get_model("openai:qwen")
    assert model.self_hosted and model.base_url == "http://127.0.0.1:8000/v1"
    assert KEY not in repr(model)


# ---- faults ------------------------------------------------------------------------------------


async def test_rate_limit_is_a_retryable_model_error_with_its_retry_after(openai_server):
    openai_server.queue(StubReply.http_error(429, retry_after=7))
    err = await failure(model_for(openai_server))
    assert (err.status, err.retryable) == (429, True)
    assert "rate limited (HTTP 429)" in str(err) and "retry after 7 s" in str(err)


async def test_server_error_is_a_retryable_model_error(openai_server):
    openai_server.queue(StubReply.http_error(500))
    err = await failure(model_for(openai_server))
    assert (err.status, err.retryable) == (500, True)
    assert "server error (HTTP 500): Internal server error" in str(err)


async def test_bad_request_is_not_retryable(openai_server):
    openai_server.queue(StubReply.http_error(400, message="Unsupported parameter: 'temperature'"))
    err = await failure(model_for(openai_server))
    assert (err.status, err.retryable) == (400, False)
    assert "Unsupported parameter" in str(err)


async def test_stream_cut_mid_way_is_a_model_error(openai_server):
    openai_server.queue(StubReply.cut(3))
    err = await failure(model_for(openai_server))
    assert err.retryable and "cut mid-way" in str(err)


async def test_error_event_mid_stream_is_a_model_error(openai_server):
    openai_server.queue(StubReply(error_event_after=2))
    err = await failure(model_for(openai_server))
    assert err.retryable and "mid-stream" in str(err)


async def test_connection_refused_is_a_model_error():
    model = get_model("openai:gpt-4o-mini", base_url=closed_port_url("/v1"), api_key=KEY, max_retries=0)
    err = await failure(model)
    assert err.retryable and "could not connect" in str(err)


async def test_a_stalled_stream_times_out(openai_server):
    openai_server.queue(StubReply(delay=2.0))
    started = time.monotonic()
    err = await failure(model_for(openai_server, timeout=0.3))
    assert err.retryable and "timed out" in str(err)
    assert time.monotonic() - started < 1.9


async def test_the_key_never_appears_in_an_error(openai_server):
    openai_server.queue(StubReply.http_error(401, message=f"Incorrect API key provided: {KEY}. Bearer {KEY}"))
    err = await failure(model_for(openai_server))
    assert err.status == 401 and "authentication failed" in str(err)
    assert KEY not in str(err) and KEY[8:20] not in str(err)


# ---- through run() ------------------------------------------------------------------------------


async def test_a_run_meters_the_reported_usage(openai_server):
    openai_server.queue(StubReply(text="2 + 2 = 4. Answer: 4", input_tokens=30, output_tokens=12))
    events, final = await run_cot(model_for(openai_server))
    assert final.stop == "done" and final.answer == "4"
    assert (final.spent.input_tokens, final.spent.output_tokens, final.spent.calls) == (30, 12, 1)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "2 + 2 = 4. Answer: 4"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [(StubReply.http_error(429, retry_after=0), "HTTP 429"),
     (StubReply.http_error(500), "HTTP 500"),
     (StubReply.cut(4), "cut mid-way")],
    ids=["429", "500", "cut"],
)
async def test_a_fault_ends_the_run_with_a_readable_error_and_charges_what_streamed(openai_server, fault, expected):
    openai_server.queue(fault)
    _, final = await run_cot(model_for(openai_server))
    assert final.stop == "error" and expected in final.error and KEY not in final.error
    if fault.cut_after:  # the prompt and the text streamed before the cut are charged, flagged
        assert final.spent.calls == 1
        assert final.spent.total_tokens > 0 and final.spent.output_tokens > 0 and final.spent.estimated
    else:  # refused before any byte of a reply: nothing is charged, no call is counted
        assert (final.spent.calls, final.spent.total_tokens, final.spent.usd) == (0, 0, 0.0)


async def test_a_reply_that_never_ends_is_stopped_by_the_seconds_cap(openai_server):
    openai_server.queue(StubReply.never_ending(delay=0.02))
    started = time.monotonic()
    _, final = await run_cot(model_for(openai_server), Budget(seconds=0.5))
    assert final.stop == "budget"
    assert time.monotonic() - started < 3
