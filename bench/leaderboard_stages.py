"""Where the leaderboard page's time goes after one new result: the page rendered again after each of
`--renders` fresh runs of four scored results (bench/store_at_scale.add_fresh_run, removed again at
the end), each stage's wall and thread CPU time, median and least. Stages are the page's functions,
wrapped with timers; nested ones are counted inside their callers too.

    .venv/bin/python bench/leaderboard_stages.py                 # the 100k store of store_at_scale
    .venv/bin/python bench/leaderboard_stages.py --results 1000000 --renders 5
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--results", type=int, default=100_000, help="which seeded store (seeded first if missing)")
parser.add_argument("--renders", type=int, default=9)
args = parser.parse_args()
import store_at_scale as s  # noqa: E402

PATH = s.store_path(args.results)
s.ensure_seeded(PATH, args.results, reseed=False)
URL = f"sqlite:///{PATH}"
os.environ["BUDGET_ARENA_DB"] = URL  # the page opens the configured store

from storage.store import open_store  # noqa: E402

store = open_store(URL)
T: dict[str, list[float]] = collections.defaultdict(list)
CPU: dict[str, list[float]] = collections.defaultdict(list)
ON = {"on": False}


def wrap(owner: Any, name: str, label: str | None = None) -> None:
    """Time every call of owner.name (a module's function or a class's method) as stage `label`."""
    f = getattr(owner, name, None)
    if f is None:
        print(f"(no {owner.__name__}.{name}: not timed)")
        return

    @functools.wraps(f)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            if ON["on"]:
                T[label or name].append(time.perf_counter() - t)
                CPU[label or name].append(time.thread_time() - c)
    setattr(owner, name, timed)


import app.leaderboard_page as lp  # noqa: E402
import app.leaderboard_summary as ls  # noqa: E402
import app.leaderboard_view as lv  # noqa: E402
import app.stored_boards as sb  # noqa: E402

wrap(lp, "load_summary")
wrap(ls, "summary_counts")
wrap(ls, "finish_leaderboard")
wrap(lv.leaderboard_metrics, "leaderboard_counts")
wrap(lv.metrics, "accuracy_by_budget_counts")
wrap(lv.rank_intervals, "rank_intervals_counts")
wrap(lv, "pair_table")
wrap(ls.Selection, "digest")
wrap(sb, "_write")
for name in ("render_head_to_head", "render_charts", "render_board", "filter_controls", "cached_leaderboard"):
    wrap(lp, name)
wrap(lp, "render_leaderboard_page", "PAGE (script)")
from app.stored_boards import flush  # noqa: E402

s.rendered(s.app_page("leaderboard"))
flush()
session = s.app_page("leaderboard")
s.rendered(session)
added = []
ON["on"] = True
for _ in range(args.renders):
    added.append(s.add_fresh_run(store))
    t = time.perf_counter()
    s.rendered(session)
    T["RENDER (AppTest, the bench's figure)"].append(time.perf_counter() - t)
s.remove_runs(store, added)
print(f"{args.renders} renders after a new result, {args.results:,} results\n")
print("| stage | calls | wall median | wall min | CPU median |")
print("|---|---|---|---|---|")
for k, v in sorted(T.items(), key=lambda kv: -statistics.median(kv[1])):
    cpu = statistics.median(CPU[k]) * 1000 if CPU.get(k) else float("nan")
    print(f"| {k:36s} | {len(v):3d} | {statistics.median(v)*1000:7.1f} ms | {min(v)*1000:7.1f} ms | {cpu:7.1f} ms |")
print("load average (1, 5, 15 min):", ", ".join(f"{v:.1f}" for v in os.getloadavg()))
