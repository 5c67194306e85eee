"""The seeded stores bench/store_at_scale.py measures: SQLite stores of 10k, 100k or 1M strategy
results with plausible runs, entries, curve points and events, seeded around the ORM (one
executemany per table inside one transaction, rows sorted by key; the schema by the app's own
migrations). Up to 25k runs a tenth are problems typed on Compare and a quarter of the rest have
no dataset either (so 100k results hold ~10k distinct problems); past 25k runs the store grows by
sweeps over the datasets' 1,849 problems (typed problems do not grow with sweeps).
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.store import forget_store, open_store

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
