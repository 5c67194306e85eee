"""Load, bounded and loopback only: 20 concurrent sessions start runs on the fake model through the
runner for 10 s (bench/load.py is the driver; it runs the full 60 s and reports the latencies).
No error, no lost event: what the strategies emitted is what the store gives back."""

from __future__ import annotations

from bench.load import STRATEGIES, run_load

SESSIONS = 20
SECONDS = 10.0


def test_twenty_sessions_lose_nothing(tmp_path):
    report = run_load(SESSIONS, SECONDS, f"sqlite:///{tmp_path / 'load.db'}")
    assert report.errors == []
    assert report.lost == []
    assert report.runs >= SESSIONS  # every session finished at least one run
    assert len(report.first_event) == report.runs
    # every strategy of every run emitted text, spend and a final answer, and all of it was read back
    assert report.emitted_events > report.runs * len(STRATEGIES) * 3
    assert 0 < report.stored_events < report.emitted_events  # deltas were coalesced, not dropped
