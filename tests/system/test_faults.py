"""Fault injection through the real runner and a real SQLite store, against the loopback stubs, for
both SDK paths (openai, anthropic): 429, 500, overloaded, connection refused, a stream cut mid-way,
a reply that never ends, a stalled stream and a request that times out.

Each run pairs a strategy the stub fails (self-consistency, one sample at a time, so it has a
partial answer before the fault) with a healthy strategy on the same model; the stub tells them
apart by the max_tokens the healthy one sends (a single call, never resized). Timeouts and retries come from Settings (environment),
as a deployment would set them, kept small so the suite is quick.
"""

# The provider, store and runner fixtures come from tests/stub_providers.py; test parameters named
# like them shadow the imports.
# ruff: noqa: F811

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from reasoning.budget import Budget
from storage import RunInfo, RunSpec, Store, get_run, replay
from storage.runner import Runner
from storage.tables import ACTIVE_STATUSES, Run
from tests.stub_providers import (  # noqa: F401  (fixtures)
    StubProvider,
    provider,
    restore_settings,
    runner,
    store,
    use_provider_settings,
)
from tests.stubs import RecordedRequest, StubReply, StubServer

KEY = "sk-test-FAULTKEY-0123456789abcdef"
PROBLEM = "What is 2 + 2?"
FAILING_TOKENS, HEALTHY_TOKENS = 111, 222  # max_tokens knobs; the healthy one's marks its requests
FAILING = ("self_consistency", {"stop_rule": "fixed", "samples": 3, "batch_size": 1, "max_tokens": FAILING_TOKENS,
                                "temperature": 0.0})
HEALTHY = ("chain_of_thought", {"max_tokens": HEALTHY_TOKENS})
TIMEOUT = 0.5  # provider_timeout for every test: seconds of silence before a call gives up
RETRIES = 2  # provider_max_retries
QUICK_RETRY = 0.01  # retry-after the stub sends, so retries do not wait the SDK's default backoff


def use_settings(monkeypatch: pytest.MonkeyPatch, *, retries: int = RETRIES, timeout: float = TIMEOUT) -> None:
    use_provider_settings(monkeypatch, provider_timeout=timeout, provider_max_retries=retries)


@pytest.fixture(autouse=True)
def fault_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_settings(monkeypatch)
    yield
    restore_settings(monkeypatch)


@pytest.fixture
def stub(provider: StubProvider) -> Iterator[StubServer]:
    with provider.stub_class() as stub:
        yield stub


class Script:
    """The stub's answers to the failing strategy: its first sample succeeds ("Answer: 4"), then
    `fault` answers the next `times` requests (None: all of them), then plain replies again.
    The healthy strategy always gets a plain reply."""

    def __init__(self, fault: StubReply, times: int | None = None):
        self.fault = fault
        self.times = times
        self.failing_requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> StubReply | None:
        if max_tokens_of(request) == HEALTHY_TOKENS:
            return None
        with self._lock:
            self.failing_requests.append(request)
            served = len(self.failing_requests) - 1  # faults come after the first sample
            if served == 0 or (self.times is not None and served > self.times):
                return None
            return self.fault


def max_tokens_of(request: RecordedRequest) -> int | None:
    body = request.body or {}
    return body.get("max_tokens") or body.get("max_completion_tokens")


def start_run(runner: Runner, provider: StubProvider, stub: StubServer | None, budget: Budget | None = None) -> str:
    return runner.submit(RunSpec(
        PROBLEM, provider.model, [FAILING, HEALTHY], budget=budget or Budget(), reference="4",
        model_options={"base_url": provider.base_url(stub)}, secrets={"api_key": KEY},
    ))


def finish(runner: Runner, store: Store, run_id: str) -> RunInfo:
    """Wait for the run; check what every fault must leave behind: a final status, one final
    event per strategy, contiguous event numbers, no key anywhere, no run still active."""
    status = runner.wait(run_id, timeout=30)
    assert status not in ACTIVE_STATUSES, f"run still {status}"
    info = get_run(run_id, store=store)
    assert info is not None and info.status == status and info.finished is not None
    events = replay(run_id, store=store)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sorted(e.strategy_index for e in events if e.kind == "final") == [0, 1]
    assert KEY not in repr(info) and all(KEY not in repr(e.payload) for e in events)
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(Run).where(Run.status.in_(ACTIVE_STATUSES))) == 0
    return info


def assert_failed_alone(info: RunInfo, message: str, calls: int = 2) -> None:
    """The failing strategy ended with an error, its partial answer and its spend; the other went on.

    calls: the failing strategy's counted calls, its first sample and the faulty call when that one
    produced a reply (1 when the fault came before any: a refusal is neither counted nor charged)."""
    failed, healthy = info.strategies
    assert (failed.status, failed.stop_reason) == ("error", "error")
    assert message in failed.error and KEY not in failed.error
    assert failed.answer == "4"  # the vote of its first sample, reported before the fault
    assert failed.calls == calls and failed.input_tokens > 0 and failed.output_tokens > 0
    assert (healthy.status, healthy.stop_reason, healthy.answer, healthy.correct) == ("done", "done", "4", True)
    assert info.status == "done"
    assert info.error.startswith("1 of 2 strategies failed") and message in info.error


def assert_recovered(info: RunInfo) -> None:
    failed, healthy = info.strategies
    assert (failed.status, failed.stop_reason, failed.answer, failed.error) == ("done", "done", "4", None)
    assert failed.calls == 3  # every sample counted once, retries included in their call
    assert (healthy.status, healthy.answer) == ("done", "4")
    assert (info.status, info.error) == ("done", None)


# ---- refused before streaming: the SDK retries with backoff -----------------------------------

FaultFactory = Callable[[StubProvider], StubReply]
REFUSALS: dict[str, tuple[FaultFactory, str]] = {
    "429": (lambda p: StubReply.http_error(429, retry_after=QUICK_RETRY), "rate limited (HTTP 429)"),
    "500": (lambda p: StubReply.http_error(500, retry_after=QUICK_RETRY), "server error (HTTP 500)"),
    "overloaded": (lambda p: StubReply.http_error(p.overloaded_status, retry_after=QUICK_RETRY),
                   "HTTP 5"),
}


@pytest.mark.parametrize("fault", REFUSALS, ids=str)
def test_a_refusal_is_retried_and_the_run_recovers(runner, store, provider, stub, fault):
    make, _ = REFUSALS[fault]
    script = stub.responder = Script(make(provider), times=RETRIES)
    info = finish(runner, store, start_run(runner, provider, stub))
    assert_recovered(info)
    # the first sample, then the refused attempts, the retry that succeeded, and the third sample
    assert len(script.failing_requests) == 1 + RETRIES + 1 + 1


@pytest.mark.parametrize("fault", REFUSALS, ids=str)
def test_a_refusal_that_outlasts_the_retries_fails_only_its_strategy(runner, store, provider, stub, fault):
    make, message = REFUSALS[fault]
    script = stub.responder = Script(make(provider))
    info = finish(runner, store, start_run(runner, provider, stub))
    assert_failed_alone(info, message, calls=1)
    assert len(script.failing_requests) == 1 + 1 + RETRIES  # the first sample, then the call and its retries
    if fault == "overloaded":
        assert f"HTTP {provider.overloaded_status}" in info.strategies[0].error


def test_retries_wait_the_servers_retry_after(runner, store, provider, stub, monkeypatch):
    use_settings(monkeypatch, retries=1)
    script = stub.responder = Script(StubReply.http_error(429, retry_after=0.3), times=1)
    assert_recovered(finish(runner, store, start_run(runner, provider, stub)))
    refused, retried = script.failing_requests[1:3]
    assert retried.received - refused.received >= 0.3


def test_the_retry_count_comes_from_settings(runner, store, provider, stub, monkeypatch):
    use_settings(monkeypatch, retries=0)
    script = stub.responder = Script(StubReply.http_error(500, retry_after=QUICK_RETRY))
    assert_failed_alone(finish(runner, store, start_run(runner, provider, stub)), "HTTP 500", calls=1)
    assert len(script.failing_requests) == 2  # no retry at all


def test_connection_refused_is_retried_then_fails_the_run_with_its_reason(runner, store, provider, monkeypatch):
    use_settings(monkeypatch, retries=1)  # each retry waits the SDK's own backoff (about 0.5 s)
    info = finish(runner, store, start_run(runner, provider, None))
    assert info.status == "error" and "could not connect" in info.error and KEY not in info.error
    for strategy in info.strategies:
        assert (strategy.status, strategy.stop_reason, strategy.answer) == ("error", "error", None)
        assert "could not connect" in strategy.error


def test_a_request_that_times_out_is_retried(runner, store, provider, stub):
    script = stub.responder = Script(StubReply(wait_before=5 * TIMEOUT), times=1)
    assert_recovered(finish(runner, store, start_run(runner, provider, stub)))
    assert len(script.failing_requests) == 4  # the first sample, the timed-out call, its retry, the third


def test_a_request_that_keeps_timing_out_fails_its_strategy(runner, store, provider, stub, monkeypatch):
    use_settings(monkeypatch, retries=1)
    script = stub.responder = Script(StubReply(wait_before=5 * TIMEOUT))
    assert_failed_alone(finish(runner, store, start_run(runner, provider, stub)), "timed out", calls=1)
    assert len(script.failing_requests) == 1 + 1 + 1


# ---- failing after the stream started: never re-sent --------------------------------------------


def test_a_stream_cut_mid_way_keeps_its_partial_answer_and_spend(runner, store, provider, stub):
    script = stub.responder = Script(StubReply.cut(6, text="Let me think about this carefully. " * 4))
    info = finish(runner, store, start_run(runner, provider, stub))
    assert_failed_alone(info, "cut mid-way")
    assert len(script.failing_requests) == 2  # a stream that began is never retried: it was paid for
    failed = info.strategies[0]
    assert failed.estimated  # the cut call's text is charged as an estimate (no usage arrived)
    streamed = "".join(e.payload["text"] for e in replay(info.id, store=store)
                       if e.kind == "text" and e.strategy_index == 0)
    assert "Let me think" in streamed  # what streamed before the cut is kept


def test_an_error_event_mid_stream_fails_its_strategy(runner, store, provider, stub):
    script = stub.responder = Script(StubReply(error_event_after=4))
    info = finish(runner, store, start_run(runner, provider, stub))
    assert_failed_alone(info, "mid-stream")
    if provider.name == "anthropic":  # Anthropic's `event: error` says overloaded_error
        assert "overloaded" in info.strategies[0].error
    assert len(script.failing_requests) == 2


def test_a_stalled_stream_times_out_after_the_configured_silence(runner, store, provider, stub):
    script = stub.responder = Script(StubReply(delay=10 * TIMEOUT))  # headers and one event, then silence
    info = finish(runner, store, start_run(runner, provider, stub))
    # The stream opened (the prompt was read, and is charged) but no text came: not a counted call.
    assert_failed_alone(info, f"the stream stalled: no data within {TIMEOUT:g} s", calls=1)
    assert len(script.failing_requests) == 2


def test_a_reply_that_never_ends_is_stopped_past_its_max_tokens(runner, store, provider, stub):
    script = stub.responder = Script(StubReply.never_ending(delay=0.002))
    info = finish(runner, store, start_run(runner, provider, stub))
    assert_failed_alone(info, "kept streaming past the 111 tokens asked for")
    assert len(script.failing_requests) == 2
    assert info.strategies[0].output_tokens <= FAILING_TOKENS * 2  # charged at most what it was granted


def test_a_reply_that_never_ends_is_stopped_by_the_seconds_cap(runner, store, provider, stub):
    stub.responder = Script(StubReply.never_ending(delay=0.05))  # slow: the seconds cap comes first
    info = finish(runner, store, start_run(runner, provider, stub, Budget(seconds=1.5)))
    failed, healthy = info.strategies
    assert (failed.status, failed.stop_reason, failed.answer, failed.error) == ("done", "budget", "4", None)
    assert failed.output_tokens > 0
    assert (healthy.status, healthy.answer) == ("done", "4")
    assert (info.status, info.error) == ("done", None)
