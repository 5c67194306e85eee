"""The Anthropic provider against the loopback Messages stub: thinking, usage, requests, faults."""

from __future__ import annotations

import time

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, TextDelta, ThinkingDelta
from reasoning.models import ModelConfigError, ModelError, get_model
from reasoning.models.anthropic import AnthropicModel, supports_effort, supports_thinking
from reasoning.run import run
from reasoning.strategies import make_strategy
from tests.stubs import StubReply, closed_port_url
from tests.stubs.anthropic_stub import AnthropicStub, anthropic_server_fixture  # noqa: F401  (pytest fixture)

KEY = "sk-ant-test-0123456789abcdefghij"
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


def model_for(stub: AnthropicStub, name: str = "claude-x", **options) -> AnthropicModel:
    return get_model(f"anthropic:{name}", base_url=stub.base_url, api_key=KEY, max_retries=0, **options)


async def collect(model, messages=PROMPT, max_tokens=4096, temperature=0.0, **options):
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


async def test_thinking_and_text_stream_separately_with_usage(anthropic_server):
    anthropic_server.queue(StubReply(thinking="Two plus two is four.", text="The sum is 4. Answer: 4",
                                     input_tokens=40, output_tokens=75, cached_input_tokens=8))
    chunks = await collect(model_for(anthropic_server), thinking_budget=2048)
    thinking = [c.thinking for c in chunks if c.thinking]
    texts = [c.text for c in chunks if c.text]
    assert len(thinking) > 1 and "".join(thinking) == "Two plus two is four."
    assert len(texts) > 1 and "".join(texts) == "The sum is 4. Answer: 4"
    assert not any(c.text and c.thinking for c in chunks)
    assert chunks.index(next(c for c in chunks if c.text)) > chunks.index(next(c for c in chunks if c.thinking))
    usage = chunks[-1].usage
    assert usage is not None and all(c.usage is None for c in chunks[:-1])
    # input from message_start (cache reads are prompt tokens too), output from message_delta;
    # thinking tokens are part of the output, not added to it.
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (48, 8, 75)
    assert usage.reasoning_tokens == 5 and not usage.estimated
    assert chunks[-1].finish_reason == "stop"


async def test_max_tokens_stop_is_a_length_finish(anthropic_server):
    anthropic_server.queue(StubReply(finish="length"))
    assert (await collect(model_for(anthropic_server)))[-1].finish_reason == "length"


def test_token_counts_lean_upward(anthropic_server):
    from reasoning import tokens

    model = model_for(anthropic_server)
    assert model.count_tokens(PROMPT) > tokens.count_messages(PROMPT, model.name)


# ---- what the SDK sends ------------------------------------------------------------------------


async def test_request_carries_thinking_budget_system_and_no_sampling_parameters(anthropic_server):
    await collect(model_for(anthropic_server), max_tokens=4096, temperature=0.2, thinking_budget=2048,
                  stop=["\n\nHuman:"])
    request = anthropic_server.last_request
    assert request.path == "/v1/messages"
    assert request.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert request.body["max_tokens"] == 4096
    assert request.body["system"] == "Be brief."
    assert request.body["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert request.body["stop_sequences"] == ["\n\nHuman:"]
    # the API version the SDK speaks refuses temperature/top_p/top_k outright
    assert not {"temperature", "top_p", "top_k"} & set(request.body)
    assert KEY in (request.header("x-api-key") or request.header("authorization") or "")


@pytest.mark.parametrize("budget", [1000, 4096, 5000, 2048.5, True])
async def test_invalid_thinking_budget_is_refused_clearly(anthropic_server, budget):
    with pytest.raises(ModelConfigError, match="thinking_budget") as info:
        await collect(model_for(anthropic_server), max_tokens=4096, thinking_budget=budget)
    if isinstance(budget, int) and not isinstance(budget, bool):
        assert "1,024" in str(info.value) and "max_tokens (4,096)" in str(info.value)
    assert anthropic_server.requests == []


async def test_effort_goes_to_output_config(anthropic_server):
    model = model_for(anthropic_server, "claude-opus-4-5-20251101")
    assert model.capabilities.reasoning_effort
    await collect(model, effort="low")
    assert anthropic_server.last_request.body["output_config"] == {"effort": "low"}
    with pytest.raises(ModelConfigError, match="effort must be one of"):
        await collect(model, effort="extreme")


async def test_a_trailing_assistant_message_is_continued(anthropic_server):
    model = model_for(anthropic_server)
    assert model.capabilities.continues_assistant
    prefill = [*PROMPT, {"role": "assistant", "content": "Let me count: "}]
    await collect(model, prefill)
    assert anthropic_server.last_request.body["messages"][-1] == {"role": "assistant", "content": "Let me count:"}
    with pytest.raises(ModelConfigError, match="prefill"):
        await collect(model, prefill, thinking_budget=2048)


async def test_unsupported_options_are_refused(anthropic_server):
    with pytest.raises(ModelConfigError, match="top_p"):
        await collect(model_for(anthropic_server), top_p=0.9)
    with pytest.raises(ModelConfigError, match="seed"):
        await collect(model_for(anthropic_server), seed=1)
    assert anthropic_server.requests == []


@pytest.mark.parametrize(
    ("name", "thinking", "effort"),
    [("claude-3-5-haiku-20241022", False, False), ("claude-3-7-sonnet-20250219", True, False),
     ("claude-sonnet-4-20250514", True, False), ("claude-opus-4-5-20251101", True, True),
     ("claude-sonnet-4-6", True, True), ("claude-x", True, False)],
)
def test_capabilities_follow_the_model_generation(name, thinking, effort):
    assert (supports_thinking(name), supports_effort(name)) == (thinking, effort)


def test_missing_key_names_the_environment_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY"):
        get_model("anthropic:claude-x")


def test_repr_hides_the_key(anthropic_server):
    assert KEY not in repr(model_for(anthropic_server))


# ---- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [(StubReply.http_error(429, retry_after=3), 429, "rate limited (HTTP 429)"),
     (StubReply.http_error(500), 500, "server error (HTTP 500)"),
     (StubReply.http_error(529), 529, "overloaded (HTTP 529)")],
    ids=["429", "500", "529"],
)
async def test_http_errors_become_retryable_model_errors(anthropic_server, fault, status, words):
    anthropic_server.queue(fault)
    err = await failure(model_for(anthropic_server))
    assert (err.status, err.retryable) == (status, True)
    assert words in str(err)
    if status == 429:
        assert "retry after 3 s" in str(err)


async def test_a_refused_request_is_not_retryable(anthropic_server):
    anthropic_server.queue(StubReply.http_error(400, message="prefill is not supported for this model"))
    err = await failure(model_for(anthropic_server))
    assert (err.status, err.retryable) == (400, False) and "prefill is not supported" in str(err)


async def test_stream_cut_mid_way_is_a_model_error(anthropic_server):
    anthropic_server.queue(StubReply.cut(5))
    err = await failure(model_for(anthropic_server))
    assert err.retryable and "cut mid-way" in str(err)


async def test_overloaded_event_mid_stream_is_a_model_error(anthropic_server):
    anthropic_server.queue(StubReply(error_event_after=4))
    err = await failure(model_for(anthropic_server))
    assert (err.status, err.retryable) == (529, True) and "mid-stream" in str(err)


async def test_connection_refused_is_a_model_error():
    model = get_model("anthropic:claude-x", base_url=closed_port_url(), api_key=KEY, max_retries=0)
    err = await failure(model)
    assert err.retryable and "could not connect" in str(err)


async def test_a_stalled_stream_times_out(anthropic_server):
    anthropic_server.queue(StubReply(delay=2.0))
    started = time.monotonic()
    err = await failure(model_for(anthropic_server, timeout=0.3))
    assert err.retryable and "timed out" in str(err)
    assert time.monotonic() - started < 1.9


async def test_the_key_never_appears_in_an_error(anthropic_server):
    anthropic_server.queue(StubReply.http_error(401, message=f"invalid x-api-key: {KEY}"))
    err = await failure(model_for(anthropic_server))
    assert err.status == 401 and "ANTHROPIC_API_KEY" in str(err)
    assert KEY not in str(err) and KEY[8:20] not in str(err)


# ---- through run() ------------------------------------------------------------------------------


async def test_a_run_shows_thinking_and_meters_the_reported_usage(anthropic_server):
    anthropic_server.queue(StubReply(thinking="Add them.", text="2 + 2 = 4. Answer: 4",
                                     input_tokens=30, output_tokens=20))
    events, final = await run_cot(model_for(anthropic_server))
    assert final.stop == "done" and final.answer == "4"
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Add them."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "2 + 2 = 4. Answer: 4"
    assert (final.spent.input_tokens, final.spent.output_tokens) == (30, 20)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [(StubReply.http_error(429, retry_after=0), "HTTP 429"),
     (StubReply.http_error(500), "HTTP 500"),
     (StubReply.cut(6), "cut mid-way")],
    ids=["429", "500", "cut"],
)
async def test_a_fault_ends_the_run_with_a_readable_error_and_charges_what_streamed(anthropic_server, fault, expected):
    anthropic_server.queue(fault)
    _, final = await run_cot(model_for(anthropic_server))
    assert final.stop == "error" and expected in final.error and KEY not in final.error
    if fault.cut_after:  # the prompt and the text streamed before the cut are charged, flagged
        assert final.spent.calls == 1
        assert final.spent.total_tokens > 0 and final.spent.output_tokens > 0 and final.spent.estimated
    else:  # refused before any byte of a reply: nothing is charged, no call is counted
        assert (final.spent.calls, final.spent.total_tokens, final.spent.usd) == (0, 0, 0.0)


async def test_a_reply_that_never_ends_is_stopped_by_the_seconds_cap(anthropic_server):
    anthropic_server.queue(StubReply.never_ending(delay=0.02))
    started = time.monotonic()
    _, final = await run_cot(model_for(anthropic_server), Budget(seconds=0.5))
    assert final.stop == "budget"
    assert time.monotonic() - started < 3
