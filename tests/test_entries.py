"""Entries (a strategy at a budget of its own) as the run page, charts and exports name them, and
the charts' axes when nothing was spent."""

from __future__ import annotations

import pandas as pd

from app.charts import quality_steps, spend_chart, spend_frame
from app.panes import RunView
from reasoning.entries import budget_tag, entry_budget, entry_labels

RUN = {"total_tokens": 1000, "output_tokens": None, "usd": None, "seconds": 60.0}


def own(tokens: int) -> dict:
    return {**RUN, "total_tokens": tokens}


def test_labels_name_the_budget_only_when_the_entries_need_telling_apart() -> None:
    assert entry_labels([("direct", None), ("chain_of_thought", None)], RUN) == ["direct", "chain_of_thought"]
    # Rows written before entries had budgets (NULL) and rows holding the run's budget read alike.
    assert entry_labels([("direct", RUN), ("chain_of_thought", None)], RUN) == ["direct", "chain_of_thought"]
    assert entry_labels([("direct", own(300)), ("direct", own(600)), ("self_consistency", own(600))], RUN) == [
        "direct@300", "direct@600", "self_consistency@600"]
    # Different budgets: every entry says its own, the run's included.
    assert entry_labels([("direct", own(1024)), ("chain_of_thought", None)], RUN) == [
        "direct@1,024", "chain_of_thought@1,000"]
    # The same strategy twice at one budget (other knobs): both carry it; the pane number tells them apart.
    assert entry_labels([("direct", None), ("direct", None)], RUN) == ["direct@1,000", "direct@1,000"]


def test_a_budget_without_a_token_cap_is_named_by_its_other_caps() -> None:
    assert budget_tag({"usd": 0.05, "seconds": 30.0}) == "$0.05, 30s"
    assert budget_tag({"output_tokens": 2048}) == "2,048 output tokens"
    assert budget_tag({}) == "unbounded"
    assert entry_budget(None, RUN) == RUN and entry_budget(own(5), RUN) == own(5)


def test_panes_and_chart_series_carry_the_entry_labels() -> None:
    view = RunView.for_strategies([("direct", {}), ("direct", {})], ["direct@300", "direct@600"])
    assert [p.label for p in view.panes] == ["direct@300", "direct@600"]
    assert view.labels() == {0: "direct@300", 1: "direct@600"}

    class Event:
        def __init__(self, seq: int, index: int, tokens: int) -> None:
            self.seq, self.strategy_index, self.kind, self.label = seq, index, "spend", None
            self.payload = {"spent": {"input_tokens": tokens, "output_tokens": 0}}
            self.elapsed, self.total_tokens, self.usd = seq / 10, tokens, 0.0

    view.apply([Event(1, 0, 40), Event(2, 1, 80)])
    spend = spend_frame(view.spend_samples)
    assert sorted(set(spend["series"])) == ["1. direct@300", "2. direct@600"]
    points = pd.DataFrame({"strategy_index": [0, 1], "strategy": ["direct", "direct"], "seq": [1, 2],
                           "tokens": [40, 80], "usd": [0.0, 0.0], "seconds": [0.1, 0.2], "answer": ["4", "4"],
                           "quality": [1.0, 1.0]})
    assert list(quality_steps(points, labels=view.labels())["series"]) == ["1. direct@300", "2. direct@600"]
    assert list(quality_steps(points)["series"]) == ["1. direct", "2. direct"]  # no labels: the names


def test_the_spend_chart_gives_an_axis_with_nothing_spent_an_extent_so_no_tick_reads_nan() -> None:
    """Every strategy stopped before its first call: all spends are 0, and with an empty extent
    Vega's SI format labelled the only tick "NaN" (seen in chromium)."""
    nothing = spend_frame([{"strategy_index": 0, "strategy": "direct", "seconds": 0.0, "tokens": 0, "usd": 0.0}])
    spec = spend_chart(nothing, "tokens").to_dict()
    assert spec["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    assert spec["encoding"]["x"]["scale"] == {"domain": [0, 1]}
    assert spec["encoding"]["y"]["axis"]["tickMinStep"] == 1  # ticks 0 and 1, not 0.2 tokens
    assert spend_chart(nothing, "usd").to_dict()["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    spent = spend_frame([{"strategy_index": 0, "strategy": "direct", "seconds": 2.0, "tokens": 50, "usd": 0.0}])
    spec = spend_chart(spent, "tokens").to_dict()
    assert spec["encoding"]["y"]["scale"] == {"zero": True} and spec["encoding"]["x"]["scale"] == {"zero": True}
