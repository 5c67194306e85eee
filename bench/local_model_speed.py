"""How fast the bundled SmolLM2-135M generates on this machine through LocalModel.stream, alone and
with several calls at once (as several strategies on one model make them).

For each level of concurrency N, one run starts N calls together, each asking for a story about a
different subject (so no two prompts are the same), and measures:
- aggregate tokens/s: output tokens of all N calls / time from the start to the last call's end;
- longest first-token wait: the latest time to first text among the N calls (with calls served one
  after another it grows with every generation ahead; taking turns it stays near one prompt read);
- per-call tokens/s after the first token (what one strategy sees).
Prints the median and the spread (min-max) over the runs, and the machine's load average.

    .venv/bin/python bench/local_model_speed.py [--runs 5] [--max-tokens 128] [--concurrency 1,4,8]
                                                [--threads N] [--parallel P]

--parallel 1 serves the calls one after another (the behaviour before the engine took turns).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reasoning.models.local import LocalModel  # noqa: E402

SUBJECTS = ["a lighthouse keeper", "a lost robot", "a dragon who bakes", "a chess club", "a river",
            "a night train", "a beekeeper", "a snowy village", "a clockmaker", "a comet",
            "a tailor", "an orchard", "a violin", "a glacier", "a ferry", "a kite"]


async def one_call(model: LocalModel, subject: str, max_tokens: int, started: float) -> dict[str, float]:
    messages = [{"role": "user", "content": f"Write a long, detailed story about {subject}."}]
    first: float | None = None
    usage = None
    async for chunk in model.stream(messages, max_tokens=max_tokens, temperature=0):
        if chunk.text and first is None:
            first = time.perf_counter()
        if chunk.usage is not None:
            usage = chunk.usage
    ended = time.perf_counter()
    assert usage is not None and first is not None
    return {"first_s": first - started, "ended": ended, "output_tokens": usage.output_tokens,
            "prompt_tokens": usage.input_tokens,
            # The first token came with the prompt's evaluation; the rest is decoding.
            "decode_tps": (usage.output_tokens - 1) / max(ended - first, 1e-9)}


async def one_run(model: LocalModel, n: int, max_tokens: int, offset: int) -> dict[str, float]:
    subjects = [SUBJECTS[(offset + i) % len(SUBJECTS)] for i in range(n)]
    started = time.perf_counter()
    calls = await asyncio.gather(*(one_call(model, s, max_tokens, started) for s in subjects))
    wall = max(c["ended"] for c in calls) - started
    return {
        "aggregate_tps": sum(c["output_tokens"] for c in calls) / wall,
        "longest_first_ms": max(c["first_s"] for c in calls) * 1000,
        "per_call_tps": statistics.median(c["decode_tps"] for c in calls),
        "wall_s": wall,
        "output_tokens": sum(c["output_tokens"] for c in calls) / n,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):>9.1f} {min(values):>9.1f} {max(values):>9.1f}"


async def main(runs: int, max_tokens: int, levels: list[int], threads: int | None, parallel: int | None) -> None:
    model = LocalModel.open(None, n_threads=threads, parallel=parallel)
    load_before = os.getloadavg()
    started = time.perf_counter()
    model.count_tokens([{"role": "user", "content": "warm-up"}])  # loads the GGUF
    load_s = time.perf_counter() - started
    await one_run(model, 1, 8, 99)

    print(f"SmolLM2-135M-Instruct Q4_1 ({model.path.name}), llama.cpp, {model.n_threads} threads of "
          f"{os.cpu_count()} cores, parallel={model.parallel}; {runs} runs per level, "
          f"max_tokens={max_tokens}, temperature 0")
    print(f"model load: {load_s:.2f} s; load average before: {' '.join(f'{x:.1f}' for x in load_before)}")
    header = f"{'':<28}{'median':>9} {'min':>9} {'max':>9}"
    for n in levels:
        results = [await one_run(model, n, max_tokens, offset=r * n) for r in range(runs)]
        print(f"\n{n} concurrent call(s)\n{header}")
        for key, label in [("aggregate_tps", "aggregate tokens/s"),
                           ("longest_first_ms", "longest first-token wait ms"),
                           ("per_call_tps", "per-call tokens/s"), ("wall_s", "wall s"),
                           ("output_tokens", "output tokens per call")]:
            print(f"{label:<28}{spread([r[key] for r in results])}")
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated numbers of calls at once")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the model's)")
    parser.add_argument("--parallel", type=int, default=None, help="calls decoded together (default: 8)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.max_tokens, [int(n) for n in args.concurrency.split(",")],
                     args.threads, args.parallel))
