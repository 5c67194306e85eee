"""Replay of a finished run on its page: its events applied again at their original pace (or
faster), into a fresh view kept in st.session_state by run id. Script thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.panes import RunView
from storage.queries import RunInfo, get_run, replay

REPLAY_SPEEDS = (1.0, 2.0, 5.0)


def replay_key(run_id: str) -> str:
    return f"_replay.{run_id}"


def replay_state(run_id: str) -> dict[str, Any] | None:
    return st.session_state.get(replay_key(run_id))


def start_replay(run_id: str, new_view: Callable[[RunInfo], RunView]) -> None:
    info = get_run(run_id)
    if info is None:
        return
    st.session_state[replay_key(run_id)] = {
        "started": time.monotonic(),
        "speed": float(st.session_state.get(f"replay.speed.{run_id}", 1.0)),
        "events": replay(run_id),
        "position": 0,
        "view": new_view(info),
    }


def replay_step(state: dict[str, Any]) -> tuple[RunView, float, float, bool]:
    """Apply the events whose time has come; returns the view, the replay clock, the run's
    length in seconds, and whether the replay has shown every event."""
    events = state["events"]
    clock = (time.monotonic() - state["started"]) * state["speed"]
    start = state["position"]
    end = start
    while end < len(events) and events[end].elapsed <= clock:
        end += 1
    state["view"].apply(events[start:end])
    state["position"] = end
    length = events[-1].elapsed if events else 0.0
    return state["view"], clock, length, end >= len(events)
