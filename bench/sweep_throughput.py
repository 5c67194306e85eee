"""Sweep throughput: what the sweep harness itself can do, on the fake model.

1. Zero latency: strategy results per second through the whole path (sweep -> runner -> recorder
   -> SQLite), with direct, chain_of_thought and self_consistency cells: the harness's limit.
2. 100 ms simulated latency per model call, one call per cell (direct): results per second at
   concurrency 1 and 32, and the speed-up (32x would mean the harness adds nothing).

    .venv/bin/python bench/sweep_throughput.py            # 3 runs of each, a temporary SQLite file each
    .venv/bin/python bench/sweep_throughput.py --runs 5

Each figure is measured --runs times on a fresh store; the table shows the median and the spread (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reasoning.budget import Budget  # noqa: E402
from reasoning.datasets import Dataset, load_dataset  # noqa: E402
from reasoning.models.fake import FakeModel  # noqa: E402
from reasoning.sweep_plan import StrategyChoice, SweepPlan  # noqa: E402
from storage import forget_store, get_runner, open_store  # noqa: E402
from storage.sweeps import prepare_sweep  # noqa: E402

REPLY = "Let me add it up. Answer: 4"


@dataclass
class LatencyModel(FakeModel):
    """The fake model with a fixed delay before each reply, as a remote API's time to first token."""

    latency: float = 0.1

    async def stream(self, messages: Any, **kwargs: Any) -> AsyncIterator[Any]:
        await asyncio.sleep(self.latency)
        async for chunk in super().stream(messages, **kwargs):
            yield chunk


def sweep_once(dataset: Dataset, strategies: tuple[str, ...], budgets: tuple[Budget, ...], model: FakeModel,
               concurrency: int, label: str) -> tuple[int, float]:
    """One sweep on a fresh store; returns (results, seconds of the sweep itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        try:
            plan = SweepPlan(dataset=dataset.name, strategies=tuple(StrategyChoice(s) for s in strategies),
                             budgets=budgets, model=model.name, nonce=label)
            prepared = prepare_sweep(plan, store=store, model=model, dataset=dataset, concurrency=concurrency)
            started = time.perf_counter()
            progress = prepared.execute().result()
            seconds = time.perf_counter() - started
            assert progress.status == "done" and progress.failed == 0, progress
            return progress.done, seconds
        finally:
            get_runner(store).close()
            forget_store(store)


def measure(runs: int, **kwargs: Any) -> tuple[int, list[float]]:
    rates = []
    cells = 0
    for i in range(runs):
        cells, seconds = sweep_once(label=f"{kwargs['concurrency']}-{i}-{time.time()}", **kwargs)
        rates.append(cells / seconds)
    return cells, rates


def row(name: str, cells: int, concurrency: int, rates: list[float], extra: str = "") -> str:
    median = statistics.median(rates)
    return (f"| {name} | {cells} | {concurrency} | {median:,.1f} | {min(rates):,.1f}–{max(rates):,.1f} | "
            f"{cells / median:.2f} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--latency", type=float, default=0.1, help="simulated seconds per model call")
    args = parser.parse_args()

    arithmetic = load_dataset("basic_arithmetic", size=128)
    mixed = ("direct", "chain_of_thought", "self_consistency")
    lines = ["| scenario | strategy results | concurrency | results/s (median) | spread (min–max) | "
             "seconds (median) | speed-up |", "|---|---|---|---|---|---|---|"]

    cells, rates = measure(args.runs, dataset=Dataset("basic_arithmetic", arithmetic.items[:100]), strategies=mixed,
                           budgets=(Budget(total_tokens=300), Budget(total_tokens=1200)),
                           model=FakeModel(replies=REPLY), concurrency=32)
    lines.append(row("zero latency, 3 strategies", cells, 32, rates))
    print(lines[-1], file=sys.stderr)

    slow = LatencyModel(replies=REPLY, latency=args.latency, name="fake:latency")
    one = Dataset("basic_arithmetic", arithmetic.items[:32])
    cells1, rates1 = measure(args.runs, dataset=one, strategies=("direct",), budgets=(Budget(total_tokens=300),),
                             model=slow, concurrency=1)
    lines.append(row(f"{args.latency * 1000:.0f} ms a call, direct", cells1, 1, rates1, "1.0x"))
    print(lines[-1], file=sys.stderr)
    cells32, rates32 = measure(args.runs, dataset=arithmetic, strategies=("direct",),
                               budgets=(Budget(total_tokens=300), Budget(total_tokens=600)), model=slow,
                               concurrency=32)
    speedup = statistics.median(rates32) / statistics.median(rates1)
    spread = f"{min(rates32) / statistics.median(rates1):.1f}–{max(rates32) / statistics.median(rates1):.1f}"
    lines.append(row(f"{args.latency * 1000:.0f} ms a call, direct", cells32, 32, rates32,
                     f"**{speedup:.1f}x** ({spread})"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
