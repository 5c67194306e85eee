"""Engine overhead against the raw SDK: one long streamed reply, consumed two ways.

A loopback OpenAI stub (tests/stubs/openai_stub.py, in its own process so it does not share our
GIL) streams a reply of --tokens words, one chunk per word, as fast as it can. The same reply is
consumed by

  (a) the raw `openai` SDK: AsyncOpenAI, stream=True, include_usage, keeping the text;
  (b) the engine: the storage runner builds get_model("openai:...", base_url=stub), runs
      chain_of_thought through Context and reasoning.run.run(), and the recorder writes every
      event to a SQLite store in a temporary directory (submit -> wait, so the final flush counts).

The two alternate, after one warm-up of each. The table shows, over the repeats, the median and the
spread (min-max) of wall time and of this process's CPU time per token (all threads: the runner's
loop and its writer included), and the b/a wall-time ratio of each pair (target: at most 1.15).

    .venv/bin/python bench/engine_overhead.py [--tokens 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from storage import RunSpec, forget_store, get_run, get_runner, open_store  # noqa: E402
from storage.queries import replay  # noqa: E402

PROBLEM = "Count to a large number, one word at a time."
STUB_MODEL = "stub-model"


def reply_text(tokens: int) -> str:
    """`tokens` whitespace words: the stub streams one chunk per word."""
    return "tok " * (tokens - 2) + "Answer: 1"


def serve_stub(tokens: int) -> None:
    """Child process: serve the long reply until stdin closes."""
    from tests.stubs import StubReply
    from tests.stubs.openai_stub import OpenAIStub

    with OpenAIStub(StubReply(text=reply_text(tokens))) as stub:
        print(stub.base_url, flush=True)
        sys.stdin.read()


@dataclass
class Measure:
    wall: float
    cpu: float
    tokens: int


async def raw_sdk(client: openai.AsyncOpenAI, max_tokens: int) -> Measure:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    stream = await client.chat.completions.create(
        model=STUB_MODEL, messages=[{"role": "user", "content": PROBLEM}], max_tokens=max_tokens,
        temperature=0.0, stream=True, stream_options={"include_usage": True})
    parts: list[str] = []
    usage = None
    async with stream:
        async for event in stream:
            if event.usage is not None:
                usage = event.usage
            for choice in event.choices[:1]:
                if choice.delta.content:
                    parts.append(choice.delta.content)
    text = "".join(parts)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert usage is not None and text.endswith("Answer: 1"), "the raw stream was incomplete"
    return Measure(wall, cpu, usage.completion_tokens)


def engine(base_url: str, tokens: int) -> Measure:
    runner = get_runner()
    spec = RunSpec(PROBLEM, f"openai:{STUB_MODEL}", [("chain_of_thought", {"max_tokens": tokens + 50})],
                   model_options={"base_url": base_url})
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run_id = runner.submit(spec)
    status = runner.wait(run_id, 600)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    info = get_run(run_id)
    assert status == "done" and info is not None, (status, info and info.error)
    strategy = info.strategies[0]
    assert strategy.answer == "1", strategy.answer
    stored = "".join(e.payload.get("text", "") for e in replay(run_id) if e.kind == "text")
    assert stored.endswith("Answer: 1") and len(stored) == len(reply_text(tokens)), len(stored)
    return Measure(wall, cpu, strategy.output_tokens)


def row(name: str, values: list[float], fmt: str = "{:,.2f}", unit: str = "") -> str:
    cells = [fmt.format(statistics.median(values)), fmt.format(min(values)) + " - " + fmt.format(max(values))]
    return f"| {name} | {cells[0]} {unit} | {cells[1]} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=50_000, help="words (chunks) in the reply")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--serve-stub", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub:
        serve_stub(args.tokens)
        return

    tmp = tempfile.TemporaryDirectory(prefix="budget-arena-bench-")
    store = open_store(f"sqlite:///{Path(tmp.name) / 'bench.db'}")
    os.environ["BUDGET_ARENA_DB"] = store.url  # get_runner() and get_run() use this store
    stub = subprocess.Popen([sys.executable, __file__, "--serve-stub", "--tokens", str(args.tokens)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base_url = stub.stdout.readline().strip()  # type: ignore[union-attr]
        max_tokens = args.tokens + 50
        client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
        loop = asyncio.new_event_loop()
        raw, eng = [], []
        for i in range(args.repeats + 1):  # round 0 warms up both paths (imports, tokenizer, pools)
            a = loop.run_until_complete(raw_sdk(client, max_tokens))
            b = engine(base_url, args.tokens)
            assert a.tokens == b.tokens == args.tokens, (a.tokens, b.tokens)
            if i:
                raw.append(a)
                eng.append(b)
            print(f"round {i}{' (warm-up)' if not i else ''}: raw {a.wall:.2f} s, engine {b.wall:.2f} s, "
                  f"ratio {b.wall / a.wall:.3f}", file=sys.stderr)
        loop.run_until_complete(client.close())
        loop.close()
    finally:
        stub.stdin.close()  # type: ignore[union-attr]
        stub.wait(10)

    per_token = 1e6 / args.tokens
    load = os.getloadavg()
    print(f"\n{args.tokens:,}-token reply from a loopback OpenAI stub, {args.repeats} alternating repeats after one warm-up; store: SQLite in a temp dir; "
          f"load average {load[0]:.1f} ({os.cpu_count()} cores)\n")
    print("| figure | median | spread (min - max) |")
    print("|---|---|---|")
    print(row("(a) raw openai SDK stream: wall time", [m.wall for m in raw], unit="s"))
    print(row("(b) get_model + Context + run() + store: wall time", [m.wall for m in eng], unit="s"))
    print(row("**wall-time ratio b/a** (each pair; target <= 1.15)",
              [b.wall / a.wall for a, b in zip(raw, eng, strict=True)], "{:.3f}"))
    walls_a, walls_b = [m.wall for m in raw], [m.wall for m in eng]
    print(f"| wall-time ratio of the medians | {statistics.median(walls_b) / statistics.median(walls_a):.3f} | |")
    print(f"| wall-time ratio of the fastest runs (least disturbed) | {min(walls_b) / min(walls_a):.3f} | |")
    print(row("CPU-time ratio b/a (each pair)", [b.cpu / a.cpu for a, b in zip(raw, eng, strict=True)], "{:.3f}"))
    print(row("(a) CPU time per token", [m.cpu * per_token for m in raw], "{:.1f}", "µs"))
    print(row("(b) CPU time per token (all threads)", [m.cpu * per_token for m in eng], "{:.1f}", "µs"))
    print(row("(a) tokens per second", [args.tokens / m.wall for m in raw], "{:,.0f}"))
    print(row("(b) tokens per second", [args.tokens / m.wall for m in eng], "{:,.0f}"))

    get_runner().close()
    forget_store(store)
    tmp.cleanup()


if __name__ == "__main__":
    main()
