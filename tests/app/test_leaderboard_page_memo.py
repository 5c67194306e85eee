"""The leaderboard's filter choices are memoised (app.leaderboard_summary.filter_options), and what
is kept is what would be made again: they follow a new model, a new sweep and a sweep's newest
result."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from app.leaderboard_summary import _filter_options, filter_options


def _summary(rows: list[tuple[str, str, str | None, str | None, int, str]]) -> SimpleNamespace:
    groups = pd.DataFrame(rows, columns=["model", "strategy", "dataset", "sweep_id", "results", "created_max"])
    groups["created_max"] = pd.to_datetime(groups["created_max"], utc=True)
    groups["created_min"] = groups["created_max"] - pd.Timedelta(days=1)
    for name in ("knobs", "fingerprint", "over_cap", "budget_total_tokens", "budget_output_tokens", "budget_usd",
                 "budget_seconds"):
        groups[name] = None
    return SimpleNamespace(groups=groups)


def _filter_choices(summary: SimpleNamespace) -> tuple[dict[str, list[str]]]:
    return (filter_options(summary),)  # type: ignore[arg-type]


def _made_again(summary: SimpleNamespace) -> tuple[dict[str, list[str]]]:
    groups = summary.groups
    return (_filter_options(groups.loc[groups["results"] > 0]),)


def test_filter_choices_follow_what_they_are_made_of() -> None:
    rows = [("m1", "direct", "gsm8k", "s1", 3, "2025-01-02"), ("m1", "cot", None, "s2", 2, "2025-01-03"),
            ("m2", "direct", "gsm8k", None, 0, "2025-01-04")]  # no result: not offered
    first = _summary(rows)
    assert _filter_choices(first) == _made_again(first)  # type: ignore[arg-type]
    assert _filter_choices(first)[0]["models"] == ["m1"] and _filter_choices(first)[0]["sweeps"] == ["s2", "s1"]
    later = [*rows[:2], ("m2", "direct", "gsm8k", None, 1, "2025-01-05")]  # m2's first result
    assert _filter_choices(_summary(later))[0]["models"] == ["m1", "m2"]
    newer = [("m1", "direct", "gsm8k", "s1", 4, "2025-01-06"), *rows[1:]]  # s1 ran again: newest first
    assert _filter_choices(_summary(newer))[0]["sweeps"] == ["s1", "s2"]
    assert _filter_choices(_summary(newer)) == _made_again(_summary(newer))
    # a new result outside a sweep on a known group: the same options, kept, and the dates moved on
    moved = [*rows[:2], ("m2", "direct", "gsm8k", None, 0, "2025-02-01"), ("m1", "direct", "gsm8k", None, 1,
                                                                           "2025-02-02")]
    assert _filter_choices(_summary(moved)) == _made_again(_summary(moved))
    shown = _filter_choices(_summary(moved))[0]
    shown["models"].append("changed by a caller")
    assert _filter_choices(_summary(moved))[0]["models"] == ["m1"]
