"""How late the seconds cap ends a strategy: recorded seconds minus the cap, over several runs.

Two models stream forever, one token every 10-20 ms: a fake that takes a second to stop once asked
(as a local model does while its worker finishes the prompt it is evaluating), and an
OpenAI-compatible loopback stub through the real SDK, each run with a new model object (a new HTTP
client, as the runner builds one per run; the first run of the process also loads the tokenizer).

    .venv/bin/python bench/deadline_lateness.py [--runs 10] [--cap 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.stubs and tests.system.test_caps_hold

from reasoning.budget import Budget  # noqa: E402
from reasoning.events import FinalAnswer  # noqa: E402
from reasoning.models import get_model  # noqa: E402
from reasoning.run import run  # noqa: E402
from tests.stubs import StubReply  # noqa: E402
from tests.stubs.openai_stub import OpenAIStub  # noqa: E402
from tests.system.test_caps_hold import OneLongCall, SlowToStop  # noqa: E402


async def lateness(make_model: Any, cap: float, runs: int) -> list[float]:
    late = []
    for _ in range(runs):
        events = [e async for e in run(OneLongCall(), "Count.", make_model(), Budget(seconds=cap))]
        final = events[-1]
        assert isinstance(final, FinalAnswer) and final.stop == "budget"
        late.append(final.spent.seconds - cap)
    return late


def show(name: str, late: list[float]) -> None:
    ms = [x * 1000 for x in late]
    print(f"{name:<28} first {ms[0]:6.1f} ms  median {statistics.median(ms):6.1f} ms  max {max(ms):6.1f} ms "
          f"(late, over {len(ms)} runs)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cap", type=float, default=0.3)
    args = parser.parse_args()
    with OpenAIStub(StubReply.never_ending(delay=0.02)) as stub:
        show("openai-compatible stub", await lateness(
            lambda: get_model("openai:gpt-4o-mini", base_url=stub.base_url, max_retries=0), args.cap, args.runs))
    show("model slow to stop (1 s)", await lateness(SlowToStop, args.cap, args.runs))


if __name__ == "__main__":
    asyncio.run(main())
