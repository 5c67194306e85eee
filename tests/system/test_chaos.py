"""Chaos: a sweep on the fake model under provider faults (429s, streams cut mid-way),
failed store writes (full-disk windows: SQLite's max_page_count) and kill -9 of the sweep process,
resumed until it finishes. Every cell reported done is stored with all of its events, no cell is
stored twice, and the leaderboard equals a fault-free run's. bench/chaos.py runs longer rounds."""

from __future__ import annotations

import random
from pathlib import Path

from bench.chaos import Settings, run_round


def test_a_sweep_under_chaos_loses_nothing_and_ends_as_a_fault_free_one(tmp_path: Path) -> None:
    # Small and fast: 3 problems x 2 strategies x 2 budgets, faults dense enough that each kind occurs.
    settings = Settings(size=3, seed=11, concurrency=4, token_delay=0.01, p_429=0.2, p_cut=0.1, full_gap=0.3,
                        full_max=1.0, kill_probability=0.5, faulty_attempts=2, max_attempts=8)
    report = run_round(tmp_path, 0, settings, random.Random(settings.seed))
    assert report.violations == []
    assert report.attempts >= 2 and report.kills >= 1  # the first sweep process is always killed mid-sweep
    assert report.faults["provider_429"] + report.faults["provider_cut"] >= 1
    assert report.faults["store_full_window"] >= 1
    assert report.reported_done >= report.cells  # every cell, some of them done by an attempt that was killed after
