"""The store at scale: leaderboard, history and a share link on SQLite stores seeded with 10k, 100k or
1M strategy results (issue 8, target 3; issue 16: the leaderboard at 1M results, a 50k-event share
link's first visitor).

    .venv/bin/python bench/store_at_scale.py                        # 100k results: /tmp/budget-arena-scale.db
    .venv/bin/python bench/store_at_scale.py --results 10000 1000000 --figures leaderboard
    .venv/bin/python bench/store_at_scale.py --reseed --repeats 7

Each seeded store (bench/scale_stores.py) is kept in /tmp, never in the repo, and reused while its
counts match: 100k results in 25k runs with 2M events (a 50k-event run among them); 10k results
with 200k events; 1M results with the same 2M events. The leaderboard's summary is built once
(timed and printed). Every figure is measured `--repeats` times; the table shows the median and
the spread (min-max) of wall time, and the median CPU time of this process (steadier than wall
time when other work shares the machine). "After a server start": Streamlit's caches and what the
process memoised (intervals, rank products, head-to-head cells) empty, boards stored in the store
kept, as they would be; "first session ever": the stored boards removed too; "on a running
server": Streamlit's caches empty, the memo kept (a new session after the store changed); "cache
filled" is a rerun (a widget click). The head to head is measured as the page computes it (every
pair's test, the intervals of the cell it shows) and with every cell's intervals. The load average
is printed with each table.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scale_stores import (  # noqa: E402  (bench/ is the script's directory: on the path)
    BIG_RUN_EVENTS,
    BUDGETS,
    DEFAULT_DB,
    EVENTS,
    MODELS,
    RESULTS,
    STRATEGIES,
    STRATEGIES_PER_RUN,
    seed,
)
from sqlalchemy import delete, insert  # noqa: E402

from storage.ids import new_run_id  # noqa: E402
from storage.store import Store, forget_store, open_store  # noqa: E402
from storage.tables import Run, RunStrategy  # noqa: E402

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
    """A run like the seeded ones whose strategies ended now (through the ORM, as the runner), each
    with calls and a verdict: scored results that change the board, its curve and one head-to-head
    cell (a result with no calls counts as failed, which leaves the metrics as they were)."""
    run_id = new_run_id()
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(insert(Run).values(id=run_id, created=now, finished=now, problem="bench: one more",
                                        reference="1", model=next(iter(MODELS)), model_options={},
                                        budget={"total_tokens": BUDGETS[2]}, dataset="gsm8k", item_id="1",
                                        status="done"))
        conn.execute(insert(RunStrategy), [
            {"run_id": run_id, "strategy_index": i, "strategy": name, "knobs": {}, "status": "done", "answer": "1",
             "correct": i % 2 == 0, "calls": 3, "output_tokens": 300, "total_tokens": 600, "usd": 0.0004,
             "seconds": 5.0, "finished": now}
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
            from app.stored_boards import flush
            from storage.board_store import forget_boards

            flush()  # a board still being written would land after the forget
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
    from app.stored_boards import flush as flush_boards
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
    flush_boards()
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
