"""The store at scale: leaderboard, history and a share link on SQLite stores seeded with 10k, 100k or
1M strategy results (issue 8, target 3; issue 16: the leaderboard at 1M results, a 50k-event share
link's first visitor).

    .venv/bin/python bench/store_at_scale.py                        # 100k results: /tmp/budget-arena-scale.db
    .venv/bin/python bench/store_at_scale.py --results 10000 1000000 --figures leaderboard
    .venv/bin/python bench/store_at_scale.py --reseed --repeats 7

Each seeded store is kept (in /tmp, never in the repo) and reused while its counts match: 100k
results in 25k runs with 2M events (a 50k-event run among them); 10k results with 200k events; 1M
results with the same 2M events. Up to 25k runs a tenth are problems typed on Compare and a quarter
of the rest have no dataset either (so 100k results hold ~10k distinct problems); past 25k runs the
store grows by sweeps over the datasets' 1,849 problems (typed problems do not grow with sweeps).
Seeding goes around the ORM (one executemany per table inside one transaction, rows sorted by key);
the leaderboard's summary is then built once (timed and printed). Every figure is measured
`--repeats` times; the table shows the median and the spread (min-max) of wall time, and the median
CPU time of this process (steadier than wall time when other work shares the machine). "After a
server start": Streamlit's caches and the memoised bootstrap intervals empty; "on a running server":
Streamlit's caches empty, intervals computed before kept (a new session after the store changed);
"cache filled" is a rerun (a widget click). The load average is printed with each table.
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
OWN_RUNS = 25_000  # runs after these are sweep cells over the datasets (see seed)
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
    swept = [d for d in datasets if d is not None]
    runs, strategies, curve, seeded = [], [], [], []
    for i, run_id in enumerate(ids):
        created = start + timedelta(seconds=i * 120 * 86400 / n_runs)
        model = models[i % len(models)]
        budget = BUDGETS[(i // len(models)) % len(BUDGETS)]
        if i < OWN_RUNS:  # the 100k store's mix: a tenth typed on Compare, the rest picked at random
            dataset = datasets[rng.randrange(len(datasets))] if i % 10 else None
        else:  # past it the store grows by sweeps over the datasets (typed problems do not scale)
            dataset = swept[rng.randrange(len(swept))]
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
            f"{statistics.median(timing.cpu) * 1000:,.0f} ms |")


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
    """`prepare` opens a new session on the page (untimed), `render` runs the page once.
    `clear_cache`: Streamlit's caches cleared first; `forget`: the memoised intervals too (a server
    start); `unstore`: the boards stored in `unstore` (a store) too (nothing ever computed)."""

    def __init__(self, page: str, query: dict[str, str] | None = None, *, clear_cache: bool = False,
                 forget: bool = False, unstore: Store | None = None):
        self.page, self.query, self.clear_cache, self.forget = page, query, clear_cache, forget
        self.unstore = unstore
        self.session = None

    def prepare(self) -> None:
        if self.unstore is not None:
            from storage.board_store import forget_boards

            forget_boards(self.unstore)
        if self.forget:
            forget_everything()
        elif self.clear_cache:
            import streamlit as st

            st.cache_data.clear()
            st.cache_resource.clear()
        self.session = app_page(self.page, self.query)

    def render(self) -> None:
        rendered(self.session)


def store_path(results: int) -> Path:
    return DEFAULT_DB if results == RESULTS else Path(f"/tmp/budget-arena-scale-{results // 1000}k.db")


def events_for(results: int) -> int:
    """2M events at 100k results (and at 1M: the event log does not grow with the leaderboard's
    results here); 20 per result below, the 50k-event run included."""
    return EVENTS if results >= RESULTS else max(2 * BIG_RUN_EVENTS, 20 * results)


def ensure_seeded(path: Path, results: int, reseed: bool) -> None:
    events = events_for(results)
    if reseed or counts(path) != (results, events):
        start = time.perf_counter()
        seed(path, results=results, events=events)
        print(f"seeded {path} in {time.perf_counter() - start:.0f} s ({path.stat().st_size / 1e6:,.0f} MB)",
              file=sys.stderr)


def forget_everything() -> None:
    """A server start: Streamlit's caches and what the process memoised (bootstrap intervals, the
    rank bootstrap's weights and products, head-to-head cells) cleared. Boards stored in the store
    stay, as they would."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    forget_process()


def measure_leaderboard(store: Store, repeats: int, *, rows_too: bool) -> list[tuple[str, Timing]]:
    from app.leaderboard_summary import Selection, summary_counts
    from app.leaderboard_summary import compute_leaderboard as summary_board
    from app.leaderboard_view import (
        LEADERBOARD_COLUMNS,
        LeaderboardFilters,
        compute_leaderboard,
        display_table,
    )
    from reasoning.pair_table import pair_table
    from storage.leaderboard_reads import strategy_results
    from storage.result_summary import load_summary

    added: list[str] = []
    summary = load_summary(store)
    selection = Selection(summary, LeaderboardFilters())
    pairs = summary_counts(selection, "total_tokens").pairs

    def head_to_head(cells: bool) -> None:
        """Every pair's counts and tests, and the intervals of the cell the page shows first (or,
        `cells`, of every cell)."""
        table = pair_table(pairs.model, pairs.budget, pairs.series, pairs.item, pairs.correct)
        table.complete() if cells else table.cell(*table.cells()[0])

    cold = PageVisits("leaderboard", clear_cache=True, forget=True)
    unstored = PageVisits("leaderboard", clear_cache=True, forget=True, unstore=store)
    warm_memo = PageVisits("leaderboard", clear_cache=True)
    rendered(app_page("leaderboard"))  # imports, first-run costs, the summary up to date, the board stored
    session = app_page("leaderboard")
    rendered(session)
    figures: list[tuple[str, Timing]] = []
    if rows_too:
        rows = strategy_results(columns=LEADERBOARD_COLUMNS, store=store)
        figures += [
            ("before: read every result (the page's columns)",
             timed(lambda: strategy_results(columns=LEADERBOARD_COLUMNS, store=store), repeats)),
            ("before: metrics from the rows (compute_leaderboard + table)",
             timed(lambda: display_table(compute_leaderboard(rows, "total_tokens").board), repeats, forget_process)),
        ]
    figures += [
        ("result summary read (load_summary)", timed(lambda: load_summary(store), repeats)),
        ("metrics from the summary, nothing memoised (board, curves, rank ranges, every head-to-head cell)",
         timed(lambda: summary_board(Selection(load_summary(store), LeaderboardFilters()), "total_tokens").pairs,
               repeats, forget_process)),
        ("**head to head: every pair's test and the shown cell's intervals**, nothing memoised",
         timed(lambda: head_to_head(False), repeats, forget_process)),
        ("head to head: every pair's test and every cell's intervals, nothing memoised",
         timed(lambda: head_to_head(True), repeats, forget_process)),
        ("**leaderboard page, new session after a server start** (AppTest; caches and memo empty, board stored)",
         timed(cold.render, repeats, cold.prepare)),
        ("leaderboard page, first session ever (AppTest; nothing stored, cached or memoised)",
         timed(unstored.render, repeats, unstored.prepare)),
        ("leaderboard page, new session on a running server (AppTest; caches empty, memo kept, board stored)",
         timed(warm_memo.render, repeats, warm_memo.prepare)),
        ("leaderboard page, cache filled (a widget click)", timed(lambda: rendered(session), repeats)),
        ("**leaderboard page after a new result** (merge into the summary + metrics)",
         timed(lambda: rendered(session), repeats, lambda: added.append(add_fresh_run(store)))),
    ]
    remove_runs(store, added)  # the store is reused: keep its counts
    return figures


def forget_process() -> None:
    """What a process memoised (intervals, rank products, head-to-head cells)."""
    from reasoning.bootstrap import forget_intervals
    from reasoning.pair_table import forget_cells
    from reasoning.rank_intervals import forget_products

    forget_intervals()
    forget_products()
    forget_cells()


def measure_share_link(store: Store, big: str, repeats: int) -> list[tuple[str, Timing]]:
    from app.panes import RunView
    from app.stored_view import ended_view, store_ended_run
    from storage.queries import curve_points, get_run, replay
    from storage.tables import RunFold

    def drop_fold() -> None:
        with store.write() as conn:
            conn.execute(delete(RunFold).where(RunFold.run_id == big))

    def data_from_events() -> None:
        info = get_run(big, store=store)
        curve_points(big, store=store)
        view = RunView.for_strategies([(s.strategy, s.knobs or {}) for s in info.strategies])
        view.apply(replay(big, store=store))
        assert view.last_seq == BIG_RUN_EVENTS

    def data_from_fold() -> None:
        info = get_run(big, store=store)
        curve_points(big, store=store)
        view = ended_view(store, big, info.last_seq, len(info.strategies))
        assert view.last_seq == BIG_RUN_EVENTS

    store_ended_run(store, big)
    first = PageVisits("run", {"run": big}, clear_cache=True)
    unfolded = PageVisits("run", {"run": big}, clear_cache=True)
    later = PageVisits("run", {"run": big})
    rendered(app_page("run", {"run": big}))
    figures = [
        ("before: share link data from the events (run, curve, 50k events, fold)", timed(data_from_events, repeats)),
        ("share link data from the stored fold (run, curve, one row per entry)", timed(data_from_fold, repeats)),
        ("**run page of the 50k-event run, first visitor** (AppTest; fold stored when the run ended)",
         timed(first.render, repeats, first.prepare)),
        ("run page, first visitor of a run stored before folds (folds it and stores the fold)",
         timed(unfolded.render, repeats, lambda: (drop_fold(), unfolded.prepare()))),
        ("run page, later visitors (AppTest)", timed(later.render, repeats, later.prepare)),
    ]
    store_ended_run(store, big)
    return figures


def measure_history(store: Store, repeats: int) -> list[tuple[str, Timing]]:
    from storage.run_history import count_runs, list_runs

    def history_first_page() -> None:
        count_runs(store=store)
        list_runs(limit=50, store=store)

    def history_search() -> None:
        count_runs(search="plus 42", store=store)
        list_runs(search="plus 42", limit=50, store=store)

    def history_deep_page() -> None:
        total = count_runs(store=store)
        list_runs(limit=50, offset=total - 50, store=store)

    history = PageVisits("history")
    return [
        ("history: count + newest 50 runs", timed(history_first_page, repeats)),
        ("history: search 'plus 42' (count + first 50)", timed(history_search, repeats)),
        ("history: last page", timed(history_deep_page, repeats)),
        ("history page, new session (AppTest)", timed(history.render, repeats, history.prepare)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, nargs="+", default=[RESULTS],
                        help="store sizes to measure, each seeded once into its own file under /tmp "
                             "(e.g. 10000 100000 1000000)")
    parser.add_argument("--reseed", action="store_true", help="seed again even if a file holds the right counts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--figures", nargs="+", default=["leaderboard", "share", "history"],
                        choices=["leaderboard", "share", "history"])
    args = parser.parse_args()
    from storage.result_summary import refresh

    page_times: dict[int, float] = {}
    for results in args.results:
        path = store_path(results)
        ensure_seeded(path, results, args.reseed)
        url = f"sqlite:///{path}"
        os.environ["BUDGET_ARENA_DB"] = url  # the pages open the configured store
        store = open_store(url)
        start = time.perf_counter()
        built = refresh(store)  # a store from before the summary builds it once, on its first leaderboard
        build = time.perf_counter() - start
        with store.read() as conn:
            big = conn.exec_driver_sql("SELECT id FROM run ORDER BY created LIMIT 1").scalar_one()  # seeded first
            items = conn.exec_driver_sql("SELECT count(*) FROM result_item").scalar_one()
            groups = conn.exec_driver_sql("SELECT count(*) FROM result_group").scalar_one()
        load = os.getloadavg()[0]
        figures: list[tuple[str, Timing]] = []
        if "leaderboard" in args.figures:
            figures += measure_leaderboard(store, args.repeats, rows_too=results <= RESULTS)
        if "share" in args.figures:
            figures += measure_share_link(store, big, args.repeats)
        if "history" in args.figures:
            figures += measure_history(store, args.repeats)
        load = max(load, os.getloadavg()[0])
        _, events = counts(path)
        print(f"\nStore: {results:,} strategy results in {results // STRATEGIES_PER_RUN:,} runs, {events:,} events "
              f"(SQLite, {path.stat().st_size / 1e6:,.0f} MB); summary: {groups:,} groups, {items:,} problems "
              f"({'built' if built.rebuilt else 'already built'}{f' in {build:.1f} s' if built.rebuilt else ''}); "
              f"{args.repeats} runs each; {os.cpu_count()} CPUs, load average up to {load:.1f} while measuring.\n")
        print("| what | median | spread (min - max) | CPU (median) |")
        print("|---|---|---|---|")
        for name, values in figures:
            print(row(name, values))
            if name.startswith("**leaderboard page, new session after a server start**"):
                page_times[results] = statistics.median(values.wall)
        forget_store(store)
    if len(page_times) > 1:
        low, high = min(page_times), max(page_times)
        print(f"\nNew session after a server start: {page_times[high] * 1000:,.0f} ms at {high:,} results, "
              f"{page_times[low] * 1000:,.0f} ms at {low:,}: {page_times[high] / page_times[low]:.1f}x "
              f"(target <= 3x)")


if __name__ == "__main__":
    main()
