"""The store at scale: leaderboard, history and a share link on a SQLite store seeded with 100k
strategy results and 2M events (issue 8, target 3: each under 1 s).

    .venv/bin/python bench/store_at_scale.py                       # seeds /tmp/budget-arena-scale.db once
    .venv/bin/python bench/store_at_scale.py --reseed --repeats 7

The seeded store is kept (in /tmp, never in the repo) and reused while its counts match. Seeding
goes around the ORM (one executemany per table inside one transaction, rows sorted by key) and
takes well under the time the ORM would. Every figure is measured `--repeats` times; the table
shows the median and the spread (min-max) of wall time, and the median CPU time of this process
(steadier than wall time when other work shares the machine). "Empty cache" is the first view
after the store changed (or the server started); "cache filled" is a rerun (a widget click).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert  # noqa: E402

from storage.ids import new_run_id  # noqa: E402
from storage.store import Store, forget_store, open_store  # noqa: E402
from storage.tables import Run, RunStrategy  # noqa: E402

DEFAULT_DB = Path("/tmp/budget-arena-scale.db")
RESULTS = 100_000
EVENTS = 2_000_000
BIG_RUN_EVENTS = 50_000
STRATEGIES_PER_RUN = 4
BUDGETS = (250, 500, 1000, 2000, 4000)  # total-token caps, as a sweep would use
MODELS = {"openai:gpt-4o-mini": 0.6e-6, "anthropic:claude-3-5-haiku-latest": 4e-6, "local:smollm2": 0.0}
DATASETS = {"gsm8k": 1319, "math500": 500, "aime24": 30, None: 0}  # None: problems typed on Compare
# strategy: (best accuracy it approaches, tokens at which it gets ~63% of the way there)
STRATEGIES = {
    "direct": (0.45, 150), "chain_of_thought": (0.7, 500), "self_consistency": (0.8, 1500),
    "token_budget": (0.68, 350), "self_budgeter": (0.7, 400), "debate": (0.75, 2000),
    "tree_of_thoughts": (0.74, 2500), "value_tree": (0.78, 1800), "anytime": (0.72, 700),
    "budget_forcing": (0.7, 900),
}
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


# ---- seeding ---------------------------------------------------------------------------------


def run_ids(count: int, rng: random.Random) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return ["".join(rng.choice(alphabet) for _ in range(16)) for _ in range(count)]


def spend(tokens: int, usd: float, seconds: float, calls: int) -> dict:
    output = tokens // 2
    return {"input_tokens": tokens - output, "output_tokens": output, "reasoning_tokens": 0,
            "cached_input_tokens": 0, "usd": usd, "seconds": seconds, "calls": calls, "estimated": False,
            "total_tokens": tokens}


def event_rows(run_id: str, strategies: list[str], count: int, t0: float,
               totals: list[tuple[int, float, float]], answers: list[str]) -> Iterator[tuple]:
    """`count` events of a plausible run: per strategy, streamed text (coalesced deltas) on a few
    labels with spend updates and partial answers between, a note, and one final answer last."""
    per = [count // len(strategies) + (1 if i < count % len(strategies) else 0) for i in range(len(strategies))]
    seq = 0
    for index, (n, (tokens, usd, seconds), answer) in enumerate(zip(per, totals, answers, strict=True)):
        for k in range(n):
            seq += 1
            frac = (k + 1) / n
            used = max(1, int(tokens * frac))
            elapsed = seconds * frac
            if k == n - 1:
                payload = {"answer": answer, "stop": "budget", "spent": spend(tokens, usd, seconds, 3),
                           "error": None, "kind": "final"}
                kind, label = "final", None
            elif k % 10 == 9:
                payload = {"answer": answer, "confidence": round(frac, 3),
                           "spent": spend(used, usd * frac, elapsed, 1 + k // 50), "kind": "partial"}
                kind, label = "partial", None
            elif k % 10 == 4:
                payload = {"spent": spend(used, usd * frac, elapsed, 1 + k // 50), "kind": "spend"}
                kind, label = "spend", None
            elif k == n // 2:
                payload = {"label": "vote", "text": f"votes so far: {answer} x{k}", "data": {"votes": {answer: k}},
                           "kind": "note"}
                kind, label = "note", "vote"
            else:
                label = f"sample {1 + k // 40}"
                payload = {"label": label, "text": f" step {k}: carry the {k % 7} and add {k % 13}.", "kind": "text"}
                kind = "text"
            yield (run_id, seq, index, kind, label, json.dumps(payload), elapsed, t0 + elapsed, used,
                   usd * frac)


COLUMNS = {  # the order the seed tuples use
    "run": "id created finished updated problem reference model model_options budget dataset item_id sweep_id "
           "status error price_date owner_host owner_pid owner_token",
    "run_strategy": "run_id strategy_index strategy knobs status answer confidence correct stop_reason error "
                    "input_tokens output_tokens reasoning_tokens cached_input_tokens total_tokens usd seconds calls "
                    "estimated price_date started finished",
    "curve_point": "run_id seq strategy_index tokens output_tokens usd seconds answer confidence correct quality",
    "event": "run_id seq strategy_index kind label payload elapsed wall total_tokens usd",
}


def insert_sql(table: str) -> str:
    columns = COLUMNS[table].split()
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@dataclass
class SeedRun:
    """What the event generator needs to know of one seeded run."""

    id: str
    strategies: list[str]
    started: float  # Unix time
    totals: list[tuple[int, float, float]]  # per strategy: tokens, dollars, seconds
    answers: list[str]
    events: int


def seed(path: Path, *, results: int = RESULTS, events: int = EVENTS, big_run_events: int = BIG_RUN_EVENTS,
         seed_value: int = 8) -> str:
    """A fresh store at `path` (schema by the app's own migrations); returns the big run's id."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    forget_store(open_store(f"sqlite:///{path}"))  # migrations build the schema; the rows go in below
    rng = random.Random(seed_value)
    n_runs = results // STRATEGIES_PER_RUN
    ids = run_ids(n_runs, rng)
    small_events, extra = divmod(events - big_run_events, n_runs - 1)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    models, names, datasets = list(MODELS), list(STRATEGIES), list(DATASETS)
    runs, strategies, curve, seeded = [], [], [], []
    for i, run_id in enumerate(ids):
        created = start + timedelta(seconds=i * 120 * 86400 / n_runs)
        model = models[i % len(models)]
        budget = BUDGETS[(i // len(models)) % len(BUDGETS)]
        dataset = datasets[rng.randrange(len(datasets))] if i % 10 else None
        item = str(rng.randrange(DATASETS[dataset])) if dataset else None
        reference = str(rng.randrange(1000)) if dataset or i % 3 else None
        problem = (f"[{dataset}#{item}] " if dataset else "") + f"Problem {i}: what is {i} plus {i % 97}?"
        picked = rng.sample(names, STRATEGIES_PER_RUN)
        totals, answers = [], []
        for index, name in enumerate(picked):
            ceiling, scale = STRATEGIES[name]
            p = ceiling * (1 - math.exp(-budget / scale)) * (0.75 if model == "local:smollm2" else 1.0)
            correct = rng.random() < p if reference is not None else None
            answer = reference if correct else str(rng.randrange(1000))
            tokens = int(budget * rng.uniform(0.4, 1.0))
            usd = tokens * MODELS[model]
            seconds = tokens / rng.uniform(40, 120)
            totals.append((tokens, usd, seconds))
            answers.append(answer)
            knobs = {"samples": 5, "stop": "esc" if i % 2 else "beta"} if name == "self_consistency" else {}
            verdict = None if correct is None else int(correct)
            strategies.append((run_id, index, name, json.dumps(knobs), "done", answer, 0.8, verdict, "budget", None,
                               tokens - tokens // 2, tokens // 2, 0, 0, tokens, usd, seconds, 3, 0, "2025-01-01",
                               created.strftime(SQLITE_TIME), (created + timedelta(seconds=seconds)).strftime(SQLITE_TIME)))
            for step, frac in enumerate((0.5, 1.0)):
                quality = float(correct) if correct is not None else 0.5 + frac / 2
                curve.append((run_id, 10 * (index + 1) + step, index, int(tokens * frac), int(tokens * frac) // 2,
                              usd * frac, seconds * frac, answer, 0.5 + frac / 2, verdict, quality))
        finished = (created + timedelta(seconds=max(t[2] for t in totals))).strftime(SQLITE_TIME)
        caps = {"total_tokens": budget, "output_tokens": None, "usd": None, "seconds": None}
        runs.append((run_id, created.strftime(SQLITE_TIME), finished, finished, problem, reference, model, "{}",
                     json.dumps(caps), dataset, item, None, "done", None, "2025-01-01", None, None, None))
        count = big_run_events if i == 0 else small_events + (1 if i <= extra else 0)
        seeded.append(SeedRun(run_id, picked, created.timestamp(), totals, answers, count))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(insert_sql("run"), sorted(runs))
        conn.executemany(insert_sql("run_strategy"), sorted(strategies))
        conn.executemany(insert_sql("curve_point"), sorted(curve))
        for run in sorted(seeded, key=lambda r: r.id):  # key order: the primary-key index grows at its end
            conn.executemany(insert_sql("event"),
                             event_rows(run.id, run.strategies, run.events, run.started, run.totals, run.answers))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids[0]


# ---- measuring -------------------------------------------------------------------------------


def counts(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        results = conn.execute("SELECT count(*) FROM run_strategy").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM event").fetchone()[0]
    except sqlite3.Error:
        return 0, 0
    finally:
        conn.close()
    return results, events


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]  # this process's CPU time: steadier than wall time on a shared machine


def timed(fn: Callable[[], object], repeats: int, before: Callable[[], object] | None = None) -> Timing:
    """Run `fn` `repeats` times, each after an untimed `before` (fresh state)."""
    timing = Timing([], [])
    for _ in range(repeats):
        if before is not None:
            before()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        timing.cpu.append(time.process_time() - cpu)
        timing.wall.append(time.perf_counter() - wall)
    return timing


def row(name: str, timing: Timing) -> str:
    wall = [v * 1000 for v in timing.wall]
    median = statistics.median(wall)
    return (f"| {name} | {median:,.0f} ms | {min(wall):,.0f} - {max(wall):,.0f} ms | "
            f"{statistics.median(timing.cpu) * 1000:,.0f} ms | {'yes' if median < 1000 else '**no**'} |")


def app_page(page: str, query: dict[str, str] | None = None):  # -> AppTest (imported late: heavy)
    """A new browser session on `page`, through the app's navigation (the main script has run)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=300).run()
    at.switch_page(f"../pages/{page}.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def add_fresh_run(store: Store) -> str:
    """A run like the seeded ones whose strategies ended now (through the ORM, as the runner)."""
    run_id = new_run_id()
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(insert(Run).values(id=run_id, created=now, finished=now, problem="bench: one more",
                                        reference="1", model=next(iter(MODELS)), model_options={},
                                        budget={"total_tokens": BUDGETS[2]}, dataset="gsm8k", item_id="1",
                                        status="done"))
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": i, "strategy": name, "knobs": {}, "status": "done", "answer": "1",
             "correct": i % 2 == 0, "total_tokens": 600, "usd": 0.0004, "seconds": 5.0, "finished": now}
            for i, name in enumerate(list(STRATEGIES)[:STRATEGIES_PER_RUN])
        ])
    return run_id


def remove_runs(store: Store, run_ids: list[str]) -> None:
    with store.write() as conn:
        conn.execute(delete(RunStrategy).where(RunStrategy.run_id.in_(run_ids)))
        conn.execute(delete(Run).where(Run.id.in_(run_ids)))


def rendered(at) -> None:  # type: ignore[no-untyped-def]
    at.run()
    if at.exception:
        raise RuntimeError(f"the page failed: {[e.value for e in at.exception]}")


class PageVisits:
    """`prepare` opens a new session on the page (untimed), `render` runs the page once."""

    def __init__(self, page: str, query: dict[str, str] | None = None, *, clear_cache: bool = False):
        self.page, self.query, self.clear_cache = page, query, clear_cache
        self.session = None

    def prepare(self) -> None:
        if self.clear_cache:
            import streamlit as st

            st.cache_data.clear()
            st.cache_resource.clear()
        self.session = app_page(self.page, self.query)

    def render(self) -> None:
        rendered(self.session)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite file to seed and use ({DEFAULT_DB})")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the file holds the right counts")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if ROOT in args.db.resolve().parents:
        parser.error("keep the seeded store out of the repository (it is a few hundred MB)")

    if args.reseed or counts(args.db) != (RESULTS, EVENTS):
        start = time.perf_counter()
        seed(args.db)
        print(f"seeded {args.db} in {time.perf_counter() - start:.0f} s "
              f"({args.db.stat().st_size / 1e6:,.0f} MB)", file=sys.stderr)
    url = f"sqlite:///{args.db}"
    os.environ["BUDGET_ARENA_DB"] = url  # the pages open the configured store

    from app.leaderboard_view import (
        LEADERBOARD_COLUMNS,
        caps_present,
        compute_leaderboard,
        default_cap,
        display_table,
    )
    from app.panes import RunView
    from storage.queries import count_runs, curve_points, get_run, list_runs, replay, strategy_results

    store = open_store(url)
    with store.read() as conn:
        big = conn.exec_driver_sql("SELECT id FROM run ORDER BY created LIMIT 1").scalar_one()  # seeded first
    results = strategy_results(columns=LEADERBOARD_COLUMNS, store=store)
    cap = default_cap(caps_present(results)) or "total_tokens"
    repeats = args.repeats

    added: list[str] = []

    def add_result() -> None:
        """A sweep's next result: one more run (4 strategies) that ended just now."""
        run_id = add_fresh_run(store)
        added.append(run_id)

    def open_share_link() -> None:
        info = get_run(big, store=store)
        curve_points(big, store=store)
        view = RunView.for_strategies([(s.strategy, s.knobs or {}) for s in info.strategies])
        view.apply(replay(big, store=store))
        assert view.last_seq == BIG_RUN_EVENTS

    def history_first_page() -> None:
        count_runs(store=store)
        list_runs(limit=50, store=store)

    def history_search() -> None:
        count_runs(search="plus 42", store=store)
        list_runs(search="plus 42", limit=50, store=store)

    def history_deep_page() -> None:
        total = count_runs(store=store)
        list_runs(limit=50, offset=total - 50, store=store)

    rendered(app_page("leaderboard"))  # imports and first-run costs out of the way
    warm = app_page("leaderboard")
    rendered(warm)
    lb_cold = PageVisits("leaderboard", clear_cache=True)
    history = PageVisits("history")
    run_page = PageVisits("run", {"run": big})
    load = os.getloadavg()[0]
    figures = [
        ("leaderboard: stored results (the page's columns, 100k rows)",
         timed(lambda: strategy_results(columns=LEADERBOARD_COLUMNS, store=store), repeats)),
        ("leaderboard: metrics (compute_leaderboard + table)",
         timed(lambda: display_table(compute_leaderboard(results, cap).board), repeats)),
        ("leaderboard page, new session, empty cache (AppTest)", timed(lb_cold.render, repeats, lb_cold.prepare)),
        ("leaderboard page, cache filled (a widget click)", timed(lambda: rendered(warm), repeats)),
        ("leaderboard page after a new result (top-up + metrics)", timed(lambda: rendered(warm), repeats,
                                                                        add_result)),
        ("history: count + newest 50 runs", timed(history_first_page, repeats)),
        ("history: search 'plus 42' (count + first 50)", timed(history_search, repeats)),
        ("history: last page (offset 24,950)", timed(history_deep_page, repeats)),
        ("history page, new session (AppTest)", timed(history.render, repeats, history.prepare)),
        ("share link: get_run + curve + 50k events + fold", timed(open_share_link, repeats)),
        ("share link: run page of the 50k-event run, new session (AppTest)",
         timed(run_page.render, repeats, run_page.prepare)),
    ]
    load = max(load, os.getloadavg()[0])
    remove_runs(store, added)  # the store is reused: keep its counts
    print(f"Store: {RESULTS:,} strategy results in {RESULTS // STRATEGIES_PER_RUN:,} runs, {EVENTS:,} events "
          f"(SQLite, {args.db.stat().st_size / 1e6:,.0f} MB); {repeats} runs each; "
          f"{os.cpu_count()} CPUs, load average up to {load:.1f} while measuring.\n")
    print("| what | median | spread (min - max) | CPU (median) | < 1 s |")
    print("|---|---|---|---|---|")
    for name, values in figures:
        print(row(name, values))
    forget_store(store)


if __name__ == "__main__":
    main()
