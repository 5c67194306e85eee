"""How fast the bundled SmolLM2-135M generates on this machine, through LocalModel.stream.

Each run asks for a story about a different subject (so llama.cpp cannot reuse the previous prompt's
cache) and measures time to first text, decode speed after it, and end-to-end speed. Prints the
median and the spread (min-max) over the runs.

    .venv/bin/python bench/local_model_speed.py [--runs 7] [--max-tokens 128] [--threads N]
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
            "a night train", "a beekeeper", "a snowy village", "a clockmaker", "a comet"]


async def one_run(model: LocalModel, subject: str, max_tokens: int) -> dict[str, float]:
    messages = [{"role": "user", "content": f"Write a long, detailed story about {subject}."}]
    started = time.perf_counter()
    first: float | None = None
    usage = None
    async for chunk in model.stream(messages, max_tokens=max_tokens, temperature=0):
        if chunk.text and first is None:
            first = time.perf_counter()
        if chunk.usage is not None:
            usage = chunk.usage
    ended = time.perf_counter()
    assert usage is not None and first is not None
    return {
        "prompt_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "ttft_ms": (first - started) * 1000,
        # The first token came with the prompt's evaluation; the rest is pure decoding.
        "decode_tps": (usage.output_tokens - 1) / (ended - first),
        "end_to_end_tps": usage.output_tokens / (ended - started),
    }


async def main(runs: int, max_tokens: int, threads: int | None) -> None:
    model = LocalModel.open(None, n_threads=threads)
    started = time.perf_counter()
    model.count_tokens([{"role": "user", "content": "warm-up"}])  # loads the GGUF
    load_s = time.perf_counter() - started
    await one_run(model, "a warm-up", 8)
    results = [await one_run(model, SUBJECTS[i % len(SUBJECTS)], max_tokens) for i in range(runs)]

    print(f"SmolLM2-135M-Instruct Q4_1 ({model.path.name}), llama.cpp, {model.n_threads} threads "
          f"of {os.cpu_count()} cores; {runs} runs, max_tokens={max_tokens}, temperature 0")
    print(f"model load: {load_s:.2f} s")
    print(f"{'metric':<22}{'median':>10}{'min':>10}{'max':>10}")
    for key, label in [("decode_tps", "decode tokens/s"), ("end_to_end_tps", "end-to-end tokens/s"),
                       ("ttft_ms", "time to first text ms"), ("output_tokens", "output tokens"),
                       ("prompt_tokens", "prompt tokens")]:
        values = [r[key] for r in results]
        print(f"{label:<22}{statistics.median(values):>10.1f}{min(values):>10.1f}{max(values):>10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.max_tokens, args.threads))
