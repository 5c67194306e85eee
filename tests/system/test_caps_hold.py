"""A cap is a promise whatever the server counts; a result remembers what
produced it; a call is charged what it produced; and a stream that
cannot be read names who sent it.

The loopback stubs (tests/stubs) play servers through both SDKs: one whose tokenizer counts every
prompt at twice our estimate (with and without a token-counting endpoint), one that reports usage
no call could have used, one that sends data that is not JSON.
"""

# The provider, store and runner fixtures come from tests/stub_providers.py; test parameters named
# like them shadow the imports.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app as cli_app
from reasoning import metering
from reasoning.budget import Budget
from reasoning.events import Event, FinalAnswer, Note, SpendUpdate, TextDelta
from reasoning.metering import INITIAL_MARGIN, Calibration, PromptCount, calibration_for
from reasoning.model_protocol import Capabilities, Chunk, Message, Usage
from reasoning.models import anthropic as anthropic_provider
from reasoning.models import get_model
from reasoning.models import openai as openai_provider
from reasoning.models.fake import FakeModel, fake_tokens
from reasoning.prices import ModelPrice
from reasoning.provenance import app_version, fingerprint, prompt_templates
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.base import StrategyBase
from reasoning.strategies.support import prompts
from storage import RunSpec, forget_store, get_run, get_runner, open_store
from storage.export import export_run_json, export_runs_csv
from storage.tables import RunStrategy
from tests.stub_providers import (  # noqa: F401  (fixtures)
    StubProvider,
    provider,
    restore_settings,
    runner,
    store,
    use_provider_settings,
)
from tests.stubs import StubReply, StubServer
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub

KEY = "sk-test-CAPSKEY-0123456789abcdef"
PROBLEM = "What is 2 + 2?"
LONG_REPLY = "step " * 400 + "Answer: 4"  # longer than any grant: every call uses all it is given
PRICE = ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)


@pytest.fixture(autouse=True)
def quick_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_provider_settings(monkeypatch, provider_max_retries=0)
    # What this process learned about servers (ratios, token-counting endpoints) stays with each
    # test: a later stub may be given a port an earlier one had.
    metering.forget_calibrations()
    openai_provider._server_tokenizers.clear()
    anthropic_provider._count_endpoints.clear()
    yield
    restore_settings(monkeypatch)


@pytest.fixture
def stub(provider: StubProvider) -> Iterator[StubServer]:
    with provider.stub_class(StubReply(text=LONG_REPLY)) as server:
        server.honour_max_tokens = True
        yield server


def model_for(provider: StubProvider, stub: StubServer, base_url: str | None = None) -> Any:
    return get_model(provider.model, base_url=base_url or stub.base_url, api_key=KEY, max_retries=0)


def as_messages(body: dict[str, Any]) -> list[Message]:
    """A request body back in our message form (Anthropic's system prompt first)."""
    system = [{"role": "system", "content": body["system"]}] if body.get("system") else []
    return system + [{"role": m["role"], "content": m["content"]} for m in body.get("messages", [])]


def counting_twice(model: Any) -> Callable[[dict[str, Any]], int]:
    """A server whose tokenizer counts every prompt at twice our own estimate of it."""
    return lambda body: 2 * model.count_tokens(as_messages(body))


async def events_of(strategy: Any, model: Any, budget: Budget, *, price: ModelPrice = PRICE,
                    cancel: asyncio.Event | None = None) -> list[Event]:
    events = [e async for e in run(strategy, PROBLEM, model, budget, price=price, cancel=cancel)]
    assert isinstance(events[-1], FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    return events


def within(budget: Budget, spent: Any) -> bool:
    return ((budget.total_tokens is None or spent.total_tokens <= budget.total_tokens)
            and (budget.output_tokens is None or spent.output_tokens <= budget.output_tokens)
            and (budget.usd is None or spent.usd <= budget.usd + 1e-12))


def chat_requests(stub: StubServer) -> list[dict[str, Any]]:
    return [r.body for r in stub.requests if r.path.endswith(("/chat/completions", "/v1/messages"))]


# ---- A: caps hold against a server that counts twice our estimate --------------------------------

BUDGETS = {
    "tokens": Budget(total_tokens=150),
    "dollars": Budget(usd=0.0015),  # 100 output tokens at $15/Mtok, less the prompt
    "output+tokens": Budget(output_tokens=60, total_tokens=400),
}


@pytest.mark.parametrize("budget_name", BUDGETS)
@pytest.mark.parametrize("strategy_name", ["direct", "chain_of_thought", "self_consistency", "debate"])
@pytest.mark.parametrize("counting", ["endpoint", "no-endpoint"])
async def test_no_spend_exceeds_a_cap_when_the_server_counts_twice_our_estimate(
        provider, stub, counting, strategy_name, budget_name):
    model = model_for(provider, stub)
    stub.prompt_counter = counting_twice(model)
    if counting == "endpoint":  # the server's own tokenizer is asked; else the margin, then the ratio
        stub.tokenizer = provider.tokenizer
    budget = BUDGETS[budget_name]
    events = await events_of(make_strategy(strategy_name), model, budget)
    final = events[-1]
    assert final.stop in ("done", "budget"), final.error
    spends = [e.spent for e in events if isinstance(e, SpendUpdate)] + [final.spent]
    assert all(within(budget, spent) for spent in spends), [s.as_dict() for s in spends]
    assert not final.spent.over_cap and not final.spent.estimated
    # Not vacuous: calls were made, and the server charged every prompt at twice our estimate.
    calls = chat_requests(stub)
    assert final.spent.calls == len(calls) >= 1
    assert final.spent.input_tokens == sum(2 * model.count_tokens(as_messages(body)) for body in calls)
    counts = [r for r in stub.requests if r.path.endswith(("/tokenize", "/count_tokens"))]
    if counting == "endpoint":
        assert len(counts) >= 1
    else:
        assert len(counts) == 1  # asked once, answered 404, not asked again


async def test_a_model_without_a_tokenizer_reserves_a_margin_then_its_learned_ratio(provider, stub):
    model = model_for(provider, stub)
    stub.prompt_counter = counting_twice(model)
    prompt = [{"role": "user", "content": PROBLEM}]
    estimate = model.count_tokens(prompt)
    first = await metering.count_prompt(model, prompt)
    assert first.counted is None and first.reserve == round(INITIAL_MARGIN * estimate)
    await events_of(make_strategy("direct"), model, Budget(total_tokens=1000))
    assert calibration_for(model).ratio(False) == pytest.approx(2.0, abs=0.05)
    learned = await metering.count_prompt(model, prompt)
    assert 2 * estimate <= learned.reserve <= 2.2 * estimate


@pytest.mark.parametrize("fault", ["prompt", "output"])
async def test_impossible_usage_marks_the_result_over_cap_with_the_reported_figures(provider, stub, fault):
    stub.default = (StubReply(text="Answer: 4", input_tokens=100_000) if fault == "prompt"
                    else StubReply(text="Answer: 4", output_tokens=5_000))
    model = model_for(provider, stub)
    events = await events_of(make_strategy("chain_of_thought"), model, Budget(total_tokens=600))
    final = events[-1]
    assert final.spent.over_cap
    if fault == "prompt":
        assert final.spent.input_tokens == 100_000  # as reported, not trimmed to the cap
    else:
        assert final.spent.output_tokens == 5_000
    notes = [e for e in events if isinstance(e, Note) and (e.data or {}).get("over_cap")]
    assert notes and "over cap: the provider reported" in notes[0].text
    assert notes[0].data["reported_input_tokens"] == final.spent.input_tokens
    assert calibration_for(model).ratio(False) is None  # an impossible report teaches nothing


def test_over_cap_and_provenance_reach_the_store_and_the_json_of_run_and_show(tmp_path):
    url = f"sqlite:///{tmp_path / 'caps.db'}"
    cli = CliRunner()
    try:
        with OpenAIStub(StubReply(text="Answer: 4", input_tokens=100_000, output_tokens=100_000)) as server:
            result = cli.invoke(cli_app, ["run", PROBLEM, "--model", "openai:stub-model", "--base-url", server.base_url,
                                 "-s", "chain_of_thought", "--max-total-tokens", "600", "--json", "--db", url],
                                catch_exceptions=False)
        record = json.loads(result.stdout)
        entry = record["strategies"][0]
        assert entry["over_cap"] is True and entry["spend"]["input_tokens"] == 100_000
        assert entry["app_version"] == importlib.metadata.version("budget-arena")
        assert len(entry["fingerprint"]) == 16
        shown = cli.invoke(cli_app, ["show", record["run_id"], "--json", "--db", url], catch_exceptions=False)
        assert json.loads(shown.stdout)["strategies"][0]["over_cap"] is True
        store = open_store(url)
        with store.read() as conn:
            row = conn.execute(select(RunStrategy.over_cap, RunStrategy.app_version, RunStrategy.fingerprint)).one()
        assert tuple(row) == (True, entry["app_version"], entry["fingerprint"])
    finally:
        store = open_store(url)
        get_runner(store).close()
        forget_store(store)


# ---- A: the seconds cap ends a strategy on time ---------------------------------------------------


@dataclass
class SlowToStop:
    """Streams a word every 10 ms; once asked to stop, it takes `unwind` seconds to do so, in small
    steps, as a local model does while its worker finishes the prompt it is evaluating."""

    unwind: float = 1.0
    name: str = "fake:slow-to-stop"
    capabilities: Capabilities = field(default_factory=Capabilities)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m["content"].split()) + 2 for m in messages)

    async def stream(self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7,
                     **options: Any) -> Any:
        try:
            for _ in range(max_tokens):
                await asyncio.sleep(0.01)
                yield Chunk(text="word ")
            yield Chunk(usage=Usage(self.count_tokens(messages), max_tokens), finish_reason="length")
        finally:
            for _ in range(int(self.unwind / 0.05)):
                await asyncio.sleep(0.05)  # not interrupted: run() cancels a strategy once


@dataclass
class OneLongCall(StrategyBase):
    name = "one_long_call_for_test"

    async def solve(self, problem: str, ctx: Any) -> str | None:
        ctx.partial("7")
        await ctx.generate(problem, max_tokens=10_000, min_tokens=1)
        return "never"


async def test_the_seconds_cap_ends_a_strategy_within_50_ms_of_its_deadline():
    cap = 0.3
    finals, walls = [], []
    for _ in range(3):  # the median, so one hiccup of a loaded machine does not decide it
        started = time.monotonic()
        events = await events_of(OneLongCall(), SlowToStop(), Budget(seconds=cap))
        walls.append(time.monotonic() - started)
        finals.append(events[-1])
    assert all((f.answer, f.stop) == ("7", "budget") for f in finals)
    assert statistics.median(f.spent.seconds for f in finals) <= cap + 0.05
    assert statistics.median(walls) <= cap + 0.05  # the FinalAnswer itself came on time
    # The call it was in is charged what it streamed, flagged as an estimate.
    assert all(f.spent.output_tokens > 0 and f.spent.estimated and f.spent.calls == 1 for f in finals)


# ---- C: a call is charged what it produced ------------------------------------------------------


@pytest.mark.parametrize("where", ["refused", "dns"])
async def test_a_call_that_never_connected_charges_nothing(provider, where):
    base = provider.base_url(None) if where == "refused" else "http://no-such-host.invalid/v1"
    model = get_model(provider.model, base_url=base, api_key=KEY, max_retries=0)
    final = (await events_of(make_strategy("chain_of_thought"), model, Budget(total_tokens=500)))[-1]
    assert final.stop == "error" and "could not connect" in final.error
    assert (final.spent.calls, final.spent.total_tokens, final.spent.usd) == (0, 0, 0.0)


async def test_a_call_refused_with_429_before_any_byte_charges_nothing(provider, stub):
    stub.default = StubReply.http_error(429, retry_after=0)
    final = (await events_of(make_strategy("chain_of_thought"), model_for(provider, stub), Budget(total_tokens=500)))[-1]
    assert "HTTP 429" in final.error
    assert (final.spent.calls, final.spent.total_tokens, final.spent.usd) == (0, 0, 0.0)


async def test_a_strategy_cancelled_mid_stream_is_charged_what_streamed(provider, stub):
    stub.default = StubReply.never_ending(delay=0.01)
    stub.honour_max_tokens = False
    cancel = asyncio.Event()
    model = model_for(provider, stub)
    streamed: list[str] = []

    async def consume() -> list[Event]:
        out = []
        async for event in run(make_strategy("chain_of_thought"), PROBLEM, model, Budget(total_tokens=5000),
                               price=PRICE, cancel=cancel):
            out.append(event)
            if isinstance(event, TextDelta):
                streamed.append(event.text)
                if len(streamed) == 20:
                    cancel.set()
        return out

    final = (await consume())[-1]
    assert final.stop == "cancelled"
    assert final.spent.calls == 1 and final.spent.estimated
    assert len(streamed) >= 20 and final.spent.output_tokens >= 20  # one word, at least one token each
    assert final.spent.input_tokens > 0  # the prompt the server read


async def test_a_long_stream_reports_what_it_streamed_before_it_ends():
    """A provisional SpendUpdate while a call streams: a process killed mid-stream leaves that spend
    in the store, not 0."""
    reply = "w " * 150 + "Answer: 4"
    model = FakeModel(replies=reply, token_delay=0.01, name="fake:long-stream")
    events = await events_of(make_strategy("chain_of_thought", max_tokens=1000), model, Budget(total_tokens=5000))
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    updates = [e.spent for e in events[first_text:] if isinstance(e, SpendUpdate)]
    assert len(updates) >= 2  # at least one while streaming, then the settled one
    mid = updates[0]
    assert mid.estimated and 0 < mid.output_tokens < len(fake_tokens(reply)) and mid.calls == 0
    settled = events[-1].spent
    assert not settled.estimated and settled.output_tokens == len(fake_tokens(reply)) and settled.calls == 1


# ---- D: an unreadable stream names its sender ------------------------------------------------------


async def test_garbage_in_a_stream_names_the_provider_and_the_redacted_url(provider, stub):
    stub.default = StubReply(text="Let me think about it", garbage_after=4)
    stub.honour_max_tokens = False
    with_credentials = stub.base_url.replace("http://", "http://alice:S3cretPassw0rd@")
    model = model_for(provider, stub, base_url=with_credentials)
    final = (await events_of(make_strategy("chain_of_thought"), model, Budget(total_tokens=2000)))[-1]
    assert final.stop == "error"
    assert final.error.startswith(f"{provider.compatible} at {stub.base_url} sent an unreadable reply: "
                                  "JSONDecodeError"), final.error
    assert "S3cretPassw0rd" not in final.error and "alice" not in final.error
    assert final.spent.calls == 1 and final.spent.estimated and final.spent.output_tokens > 0


# ---- A: the provider's own tokenizer -----------------------------------------------------------------


@pytest.mark.parametrize("style", ["vllm", "llama.cpp"])
async def test_a_compatible_servers_tokenize_endpoint_counts_the_prompt(style):
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROBLEM}]
    with OpenAIStub() as server:
        server.tokenizer = style
        server.prompt_counter = lambda body: 7 * len(body["messages"]) + 3
        model = get_model("openai:served-model", base_url=server.base_url, max_retries=0)
        assert await model.count_prompt_tokens(prompt) == 17
        assert await model.count_prompt_tokens(prompt) == 17  # kept: asked once
        asked = [r.path for r in server.requests]
    assert asked == (["/tokenize"] if style == "vllm" else ["/tokenize", "/apply-template", "/tokenize"])


async def test_a_server_without_a_tokenizer_is_asked_once_per_process():
    with OpenAIStub() as server:
        model = get_model("openai:served-model", base_url=server.base_url, max_retries=0)
        assert await model.count_prompt_tokens([{"role": "user", "content": "a"}]) is None
        again = get_model("openai:served-model", base_url=server.base_url, max_retries=0)
        assert await again.count_prompt_tokens([{"role": "user", "content": "b"}]) is None
        assert [r.path for r in server.requests] == ["/tokenize"]


async def test_anthropics_token_counting_endpoint_counts_the_prompt():
    with AnthropicStub() as server:
        server.tokenizer = "anthropic"
        server.prompt_counter = lambda body: 40 + len(body.get("system", ""))
        model = get_model("anthropic:claude-x", base_url=server.base_url, api_key=KEY, max_retries=0)
        prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROBLEM}]
        assert await model.count_prompt_tokens(prompt) == 40 + len("Be brief.")
        assert server.last_request.path == "/v1/messages/count_tokens"
        assert server.last_request.body["system"] == "Be brief." and "max_tokens" not in server.last_request.body
        server.tokenizer = None  # a compatible server without the endpoint: not asked again
        other = get_model("anthropic:claude-x", base_url=server.base_url, api_key=KEY, max_retries=0)
        assert await other.count_prompt_tokens([{"role": "user", "content": "x"}]) is None
        assert await other.count_prompt_tokens([{"role": "user", "content": "y"}]) is None
        assert len(server.requests) == 2


async def test_a_server_that_reports_no_usage_needs_no_margin_after_its_first_call():
    with OpenAIStub(StubReply(text="Answer: 4", send_usage=False)) as server:
        model = get_model("openai:served-model", base_url=server.base_url, max_retries=0)
        prompt = [{"role": "user", "content": PROBLEM}]
        assert (await metering.count_prompt(model, prompt)).reserve == 2 * model.count_tokens(prompt)
        final = (await events_of(make_strategy("direct"), model, Budget(total_tokens=1000)))[-1]
        assert final.spent.estimated  # charged our own count of the prompt
        assert (await metering.count_prompt(model, prompt)).reserve == model.count_tokens(prompt)


async def test_openais_own_api_needs_no_count_request():
    model = get_model("openai:gpt-4o-mini", api_key=KEY)
    assert model.exact_token_counts  # tiktoken is OpenAI's tokenizer
    assert await model.count_prompt_tokens([{"role": "user", "content": "x"}]) is None  # and no request


def test_calibration_reserves_margin_then_ratio_and_ignores_impossible_reports():
    calibration = Calibration()
    estimate = PromptCount(estimate=100, counted=None, reserve=0, exact=False)
    assert calibration.reserve(100, exact=False) == 200 and calibration.reserve(100, exact=True) == 100
    calibration.observe(estimate, 10_000)  # more than 4x: not a ratio, a wrong report
    assert calibration.ratio(False) is None
    calibration.observe(estimate, 150)
    assert calibration.reserve(100, exact=False) == 158  # 1.5 x the 5% slack
    calibration.observe(estimate, 60)  # a lower ratio does not lower the reserve below the highest seen
    assert calibration.reserve(100, exact=False) == 158
    exact = PromptCount(estimate=100, counted=100, reserve=100, exact=True)
    calibration.observe(exact, 103)  # an exact counter proved 3% low: its reserve follows, no slack
    assert calibration.reserve(100, exact=True) == 103


# ---- B: results remember what produced them ------------------------------------------------------------


def test_the_fingerprint_follows_prompts_and_knobs(monkeypatch):
    cot = make_strategy("chain_of_thought")
    assert len(fingerprint(cot)) == 16 and int(fingerprint(cot), 16) >= 0
    assert fingerprint(cot) == fingerprint(make_strategy("chain_of_thought"))
    assert fingerprint(cot) != fingerprint(make_strategy("chain_of_thought", max_tokens=123))
    assert fingerprint(cot) != fingerprint(make_strategy("direct"))
    templates = prompt_templates(type(cot))
    assert f"ANSWER_FORMAT = {prompts.ANSWER_FORMAT!r}" in templates
    assert any("Think step by step" in t for t in templates)
    # Tree search reaches its prompts through a SearchPrompts object.
    assert any("rate how likely" in t for t in prompt_templates(type(make_strategy("tree_of_thoughts"))))
    before = fingerprint(cot)
    monkeypatch.setattr(prompts, "ANSWER_FORMAT", "End with `Final: <answer>`.")
    prompt_templates.cache_clear()
    try:
        assert fingerprint(cot) != before
    finally:
        monkeypatch.undo()
        prompt_templates.cache_clear()
    assert fingerprint(cot) == before


async def test_a_final_answer_carries_the_app_version_and_the_fingerprint():
    strategy = make_strategy("direct")
    final = (await events_of(strategy, FakeModel(), Budget(total_tokens=500)))[-1]
    assert final.app_version == importlib.metadata.version("budget-arena") == app_version()
    assert final.fingerprint == fingerprint(strategy)


def test_results_store_and_export_their_app_version_and_fingerprint(store, runner):
    run_id = runner.submit(RunSpec(PROBLEM, FakeModel(), [("direct", {}), ("chain_of_thought", {"max_tokens": 300})],
                                   budget=Budget(total_tokens=800), reference="4"))
    assert runner.wait(run_id, timeout=30) == "done"
    expected = [fingerprint(make_strategy("direct")), fingerprint(make_strategy("chain_of_thought", max_tokens=300))]
    stored = get_run(run_id, store=store)
    assert [s.fingerprint for s in stored.strategies] == expected
    assert {s.app_version for s in stored.strategies} == {app_version()}
    exported = export_run_json(run_id, store=store)
    assert [(s["app_version"], s["fingerprint"]) for s in exported["strategies"]] == [(app_version(), f) for f in expected]
    header, *rows = export_runs_csv([run_id], store=store).splitlines()
    assert "app_version" in header.split(",") and "fingerprint" in header.split(",")
    assert all(expected[0] in row or expected[1] in row for row in rows)


def test_a_spend_is_stored_while_a_call_still_streams(store, runner):
    model = FakeModel(replies="w " * 400 + "Answer: 4", token_delay=0.01, name="fake:streaming")
    run_id = runner.submit(RunSpec(PROBLEM, model, [("chain_of_thought", {"max_tokens": 1000})],
                                   budget=Budget(total_tokens=5000)))
    deadline = time.monotonic() + 3.5
    seen = None
    while time.monotonic() < deadline:
        strategy = get_run(run_id, store=store).strategies[0]
        if strategy.status == "running" and strategy.output_tokens > 0:
            seen = strategy
            break
        time.sleep(0.05)
    runner.cancel(run_id)
    runner.wait(run_id, timeout=30)
    # Had the process died here, the store would say what the call had streamed, flagged estimated.
    assert seen is not None and seen.estimated and 0 < seen.output_tokens < 401
