"""Budget-efficiency metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reasoning.bootstrap import bootstrap_ci
from reasoning.leaderboard_metrics import leaderboard
from reasoning.metrics import (
    accuracy_by_budget,
    anytime_index,
    auc_accuracy_budget,
    clear_claims,
    cost_per_correct,
    failure_reason,
    pareto_frontier,
    quality_at,
    result_outcomes,
    step_curve,
)

# --- curves --------------------------------------------------------------------------------------------


def test_auc_on_a_log_axis_by_hand() -> None:
    # log10 budgets 2, 3, 5: widths 1 and 2; trapezoids 1*(0.1+0.4)/2 + 2*(0.4+0.6)/2 = 1.25; range 3
    assert auc_accuracy_budget([(100, 0.1), (1000, 0.4), (100000, 0.6)]) == pytest.approx(1.25 / 3)
    # evenly spaced on the log axis: the mean of the segment midpoints (0.35 + 0.65) / 2
    assert auc_accuracy_budget([(1000, 0.8), (10, 0.2), (100, 0.5)]) == pytest.approx(0.5)
    # a constant curve has area equal to its level whatever the grid
    assert auc_accuracy_budget([(64, 0.7), (128, 0.7), (4096, 0.7)]) == pytest.approx(0.7)


def test_auc_edge_cases() -> None:
    assert auc_accuracy_budget([(512, 0.3)]) == 0.3
    assert math.isnan(auc_accuracy_budget([]))
    curve = pd.DataFrame({"budget": [10.0, 100.0, 1000.0], "accuracy": [0.0, float("nan"), 1.0]})
    assert auc_accuracy_budget(curve) == pytest.approx(0.5)  # the NaN point is skipped
    with pytest.raises(ValueError, match="positive"):
        auc_accuracy_budget([(0, 0.1), (10, 0.5)])


def test_anytime_index_on_a_hand_worked_curve() -> None:
    # increments: 100->200 gains 0.3 (0.003/token), 200->400 gains 0.1 (0.0005), 400->800 gains 0
    # |B| = 3 increments: AI = (0.003 + 0.0005 + 0) / 3
    points = [(100, 0.2), (200, 0.5), (400, 0.6), (800, 0.6)]
    assert anytime_index(points) == pytest.approx(0.0035 / 3)
    assert anytime_index(list(reversed(points))) == pytest.approx(0.0035 / 3)  # order of input is irrelevant
    assert anytime_index([(100, 0.5), (300, 0.3)]) == pytest.approx(-0.001)  # a loss counts against
    frame = pd.DataFrame({"tokens": [10.0, 30.0], "acc": [0.0, 0.5]})
    assert anytime_index(frame, x="tokens", y="acc") == pytest.approx(0.025)


def test_anytime_index_needs_two_budgets() -> None:
    assert math.isnan(anytime_index([(100, 0.4)]))
    assert math.isnan(anytime_index([(100, 0.4), (100, 0.9)]))  # one budget reported twice


def test_step_curve_and_quality_at() -> None:
    points = [(120, 0.6), (50, 0.3), (120, 0.8), (300, 1.0)]
    curve = step_curve(points)
    assert curve["spend"].tolist() == [50, 120, 300]
    assert curve["quality"].tolist() == [0.3, 0.8, 1.0]  # two reports at one spend: the later holds
    assert quality_at(points, [10, 50, 119, 120, 299, 1000]).tolist() == [0.0, 0.3, 0.3, 0.8, 0.8, 1.0]
    assert math.isnan(quality_at(points, [10], before=float("nan"))[0])
    assert quality_at([], [5, 10]).tolist() == [0.0, 0.0]


# --- accuracy and bootstrap -----------------------------------------------------------------------------


def _results(rows: list[tuple[str, float, float | None, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"strategy": s, "model": "m", "dataset": "d", "budget": b, "correct": c, "total_tokens": t,
          "usd": t * 1e-6, "seconds": 1.0} for s, b, c, t in rows]
    )


def test_accuracy_by_budget_counts_and_leaves_out_unscored_rows() -> None:
    df = _results([("a", 100, 1, 10), ("a", 100, 0, 10), ("a", 100, None, 10),
                   ("a", 200, 1, 20), ("a", 200, 1, 20), ("b", 100, 0, 5)])
    table = accuracy_by_budget(df, n_boot=200)
    assert table[["strategy", "model", "budget", "n"]].values.tolist() == [
        ["a", "m", 100, 2], ["a", "m", 200, 2], ["b", "m", 100, 1]]
    assert table["accuracy"].tolist() == [0.5, 1.0, 0.0]
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    # all-correct and all-wrong groups have degenerate intervals
    assert table.loc[1, ["ci_low", "ci_high"]].tolist() == [1.0, 1.0]
    assert table.loc[2, ["ci_low", "ci_high"]].tolist() == [0.0, 0.0]


def test_bootstrap_contains_the_estimate_is_seeded_and_narrows_with_items() -> None:
    rng = np.random.default_rng(11)
    small = (rng.random(20) < 0.6).astype(float)
    large = (rng.random(2000) < 0.6).astype(float)
    low, high = bootstrap_ci(small, seed=3)
    assert low <= small.mean() <= high
    assert bootstrap_ci(small, seed=3) == (low, high)
    big_low, big_high = bootstrap_ci(large, seed=3)
    assert big_low <= large.mean() <= big_high
    assert (big_high - big_low) < (high - low) / 4  # ~sqrt(100) narrower
    assert bootstrap_ci(large, seed=3) == (big_low, big_high)
    assert bootstrap_ci(large, seed=4) != (big_low, big_high)  # the seed is what fixes the draws
    # wider confidence, wider interval
    wide_low, wide_high = bootstrap_ci(small, ci=0.99, seed=3)
    assert wide_low <= low and wide_high >= high


def test_bootstrap_interval_matches_the_binomial_spread() -> None:
    # 140 of 200 right: the percentile bootstrap of a proportion is close to p ± 1.96·sqrt(p(1-p)/n).
    correct = np.array([1] * 140 + [0] * 60, dtype=float)
    low, high = bootstrap_ci(correct, n_boot=4000, seed=1)
    half_width = 1.96 * np.sqrt(0.7 * 0.3 / 200)
    assert low == pytest.approx(0.7 - half_width, abs=0.01)
    assert high == pytest.approx(0.7 + half_width, abs=0.01)


def test_bootstrap_resamples_items_not_repeats() -> None:
    per_item = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0], dtype=float)
    repeated = np.repeat(per_item, 10)  # each item run 10 times with the same outcome
    items = np.repeat(np.arange(10), 10)
    # resampling items reproduces the 10-item interval exactly (same draws, same means)
    assert bootstrap_ci(repeated, items, seed=5) == bootstrap_ci(per_item, seed=5)
    low, high = bootstrap_ci(repeated, seed=5)  # as if 100 independent rows: falsely narrow
    item_low, item_high = bootstrap_ci(repeated, items, seed=5)
    assert high - low < item_high - item_low


def test_accuracy_by_budget_is_deterministic_per_group() -> None:
    df = _results([("a", 100, i % 3 == 0, 10) for i in range(30)] + [("b", 100, i % 2, 10) for i in range(30)])
    alone = accuracy_by_budget(df[df["strategy"] == "a"], seed=9)
    together = accuracy_by_budget(df, seed=9)
    assert together.iloc[0].tolist() == alone.iloc[0].tolist()  # a group's CI ignores the other groups


# --- cost per correct ------------------------------------------------------------------------------------


def test_cost_per_correct_by_hand_including_zero_correct() -> None:
    df = _results([("a", 100, 1, 100), ("a", 100, 0, 200), ("a", 100, 1, 300), ("a", 100, None, 1000),
                   ("b", 100, 0, 50), ("b", 100, 0, 70), ("c", 100, 0, 0)])
    table = cost_per_correct(df).set_index("strategy")
    # a: (100 + 200 + 300) tokens over 2 correct; the unscored row's 1000 tokens are left out
    assert table.loc["a", "n"] == 3 and table.loc["a", "n_correct"] == 2
    assert table.loc["a", "tokens_per_correct"] == pytest.approx(300.0)
    assert table.loc["a", "usd_per_correct"] == pytest.approx(300e-6)
    # b spent 120 tokens for nothing: infinitely expensive per correct answer
    assert table.loc["b", "tokens_per_correct"] == math.inf and table.loc["b", "usd_per_correct"] == math.inf
    # c spent nothing and got nothing: undefined
    assert math.isnan(table.loc["c", "tokens_per_correct"])


# --- Pareto frontier -----------------------------------------------------------------------------------------


def test_pareto_frontier_with_both_kinds_of_tie() -> None:
    df = pd.DataFrame(
        {"cost": [10, 10, 10, 20, 30, 5, np.nan, 25],
         "acc": [0.5, 0.5, 0.4, 0.7, 0.7, 0.2, 0.9, 0.65]},
        index=list("abcdefgh"),
    )
    mask = pareto_frontier(df, "cost", "acc")
    assert mask.index.tolist() == list("abcdefgh")
    # a, b: equal cost and equal accuracy -> both kept; c: same cost, lower accuracy -> dropped
    # e: same accuracy as d at higher cost -> dropped; g: no cost -> never on it; h: d is cheaper and better
    assert mask.to_dict() == {"a": True, "b": True, "c": False, "d": True, "e": False, "f": True,
                              "g": False, "h": False}
    assert df[mask].index.tolist() == ["a", "b", "d", "f"]


def test_pareto_frontier_single_row_and_empty() -> None:
    one = pd.DataFrame({"cost": [3.0], "acc": [0.1]})
    assert pareto_frontier(one, "cost", "acc").tolist() == [True]
    assert pareto_frontier(one.iloc[0:0], "cost", "acc").tolist() == []


# --- leaderboard --------------------------------------------------------------------------------------------


def _board_input() -> pd.DataFrame:
    rows = []
    for budget, outcomes, tokens in [(100, [1, 0, 0, 0], 50), (1000, [1, 1, 0, 0], 400)]:
        rows += [("cot", budget, c, tokens) for c in outcomes]
    for budget, outcomes, tokens in [(100, [1, 1, 0, 0], 90), (1000, [1, 1, 1, 1], 900)]:
        rows += [("sc", budget, c, tokens) for c in outcomes]
    for budget, outcomes in [(100, [0, 0, 0, 1]), (1000, [0, 1, 0, 0])]:
        rows += [("bad", budget, c, 600) for c in outcomes]
    df = _results(rows)
    df["item_id"] = [f"q{i % 4}" for i in range(len(df))]
    return df


def test_leaderboard_by_hand() -> None:
    board = leaderboard(_board_input(), n_boot=300).set_index("strategy")
    assert board["rank"].to_dict() == {"sc": 1, "cot": 2, "bad": 3}
    assert board.index.tolist() == ["sc", "cot", "bad"]  # ranked by AUC
    assert (board["model"] == "m").all() and board.loc["cot", "n"] == 8
    assert board.loc["cot", "accuracy"] == pytest.approx(3 / 8)
    assert board.loc["cot", ["acc@100", "acc@1000"]].tolist() == [0.25, 0.5]
    assert board.loc["sc", ["acc@100", "acc@1000"]].tolist() == [0.5, 1.0]
    # two budgets: AUC is the mean of the two accuracies
    assert board.loc["cot", "auc"] == pytest.approx(0.375)
    assert board.loc["sc", "auc"] == pytest.approx(0.75)
    # Anytime Index on accuracy against mean tokens spent: (0.5 - 0.25) / (400 - 50)
    assert board.loc["cot", "anytime_index"] == pytest.approx(0.25 / 350)
    assert board.loc["sc", "anytime_index"] == pytest.approx(0.5 / 810)
    assert math.isnan(board.loc["bad", "anytime_index"])  # spent the same at both budgets: no increment
    # tokens per correct: (4*50 + 4*400) / 3 and (4*90 + 4*900) / 6
    assert board.loc["cot", "tokens_per_correct"] == pytest.approx(600.0)
    assert board.loc["sc", "tokens_per_correct"] == pytest.approx(660.0)
    assert board.loc["cot", "usd_per_correct"] == pytest.approx(600e-6)
    assert board.loc["cot", "mean_tokens"] == pytest.approx(225.0)
    # cot is cheapest, sc most accurate; bad costs more than sc for less: the Pareto frontier of the
    # point estimates is sc and cot. But on four problems every pair of intervals overlaps (sc's
    # lower bound reaches bad's upper one), so the board claims no frontier at all.
    assert pareto_frontier(board, "mean_tokens", "accuracy").to_dict() == {"sc": True, "cot": True, "bad": False}
    assert board.loc["sc", "ci_low"] <= board[["ci_high"]].min().iloc[0] and not clear_claims(board)
    assert not board["on_frontier"].any()
    assert ((board["ci_low"] <= board["accuracy"]) & (board["accuracy"] <= board["ci_high"])).all()


def test_leaderboard_ties_on_auc_fall_back_to_overall_accuracy() -> None:
    # p: acc@100 = 1, acc@1000 = 0 -> AUC 0.5, overall 1/2
    # q: acc@100 = 0, acc@1000 = 1 -> AUC 0.5, overall 3/5 -> q ranks first
    df = _results([("p", 100, 1, 10), ("p", 1000, 0, 10),
                   ("q", 100, 0, 10), ("q", 100, 0, 10), ("q", 1000, 1, 10), ("q", 1000, 1, 10), ("q", 1000, 1, 10)])
    board = leaderboard(df, n_boot=50).set_index("strategy")
    assert board.loc["p", "auc"] == pytest.approx(0.5) and board.loc["q", "auc"] == pytest.approx(0.5)
    assert board.index.tolist() == ["q", "p"]
    assert board["rank"].tolist() == [1, 2]


def test_leaderboard_of_nothing_has_the_columns() -> None:
    empty = leaderboard(_results([]).reindex(columns=["strategy", "model", "dataset", "budget", "correct",
                                                      "total_tokens", "usd", "seconds"]))
    assert empty.empty and {"rank", "strategy", "model", "auc", "anytime_index", "on_frontier"} <= set(empty.columns)


def test_a_frontier_is_claimed_only_when_intervals_separate() -> None:
    rows = [("cheap", 100, c, 10) for c in [1] * 16 + [0] * 24] + [("dear", 100, c, 90) for c in [1] * 36 + [0] * 4]
    rows += [("waste", 100, 0, 200) for _ in range(40)]
    df = _results(rows)
    df["item_id"] = [f"q{i % 40}" for i in range(len(df))]
    board = leaderboard(df, n_boot=300).set_index("strategy")
    assert clear_claims(board)  # 90% [~80, ~98] vs 0% [0, 0]: apart
    assert board["on_frontier"].to_dict() == {"dear": True, "cheap": True, "waste": False}
    zeros = leaderboard(_results([("a", 100, 0, 10), ("b", 100, 0, 20)]), n_boot=50)
    assert not clear_claims(zeros) and not zeros["on_frontier"].any()  # all at 0%: nothing to claim
    # rank ranges that do not overlap separate rows whose intervals do
    overlapping = pd.DataFrame({"accuracy": [0.6, 0.5], "ci_low": [0.45, 0.35], "ci_high": [0.75, 0.65]})
    assert not clear_claims(overlapping)
    assert clear_claims(overlapping.assign(rank_low=[1, 2], rank_high=[1, 2]))
    assert not clear_claims(overlapping.assign(rank_low=[1, 1], rank_high=[2, 2]))


# --- how results are counted -----------------------------------------------------------------------


def test_result_outcomes() -> None:
    df = pd.DataFrame({
        "status": ["done", "error", "error", "done", "error"],
        "calls": [2, 0, 1, 0, 3],
        "output_tokens": [40, 0, 0, 0, 25],
    })
    # ran; refused before any call; first call broke before a token (the engine still counts it);
    # a budget stop that could not buy a call; errored after producing output
    assert result_outcomes(df).tolist() == ["ok", "failed", "failed", "failed", "errored"]
    assert result_outcomes(pd.DataFrame({"correct": [1, 0]})).tolist() == ["ok", "ok"]  # nothing to judge by
    assert failure_reason({"error": "  provider\n unreachable  "}) == "provider unreachable"
    assert failure_reason({"error": None, "stop_reason": "budget"}) == "stopped (budget) before any model call"
    assert failure_reason({"error": "x" * 500}).endswith("…") and len(failure_reason({"error": "x" * 500})) == 200


def test_leaderboard_leaves_failed_results_out_and_counts_them() -> None:
    rows = _results([("a", 100, 1, 10), ("a", 100, 0, 10), ("a", 100, 0, 0), ("n", 100, 0, 0), ("n", 100, 0, 0),
                     ("e", 100, 1, 30), ("e", 100, 0, 30)])
    rows["status"] = ["done", "done", "error", "error", "error", "done", "error"]
    rows["calls"] = [1, 1, 0, 0, 0, 2, 2]
    rows["output_tokens"] = [5, 5, 0, 0, 0, 15, 15]
    rows["error"] = [None, None, "refused", "unsupported model", "unsupported model", None, "stream broke"]
    board = leaderboard(rows, n_boot=100).set_index("strategy")
    # a: the failed row is not a 0% result: 1 of 2, and its spend is not in the costs
    assert (board.loc["a", "n"], board.loc["a", "accuracy"], board.loc["a", "failed"]) == (2, 0.5, 1)
    assert board.loc["a", "failure_reasons"] == ["refused (×1)"] and board.loc["a", "mean_tokens"] == 10
    # e errored after spending: scored as answered (1 of 2), counted as errored
    assert (board.loc["e", "n"], board.loc["e", "accuracy"], board.loc["e", "errored"]) == (2, 0.5, 1)
    # n never ran: listed last, unranked, no metrics, never on a frontier
    assert board.index.tolist()[-1] == "n" and pd.isna(board.loc["n", "rank"]) and board.loc["n", "n"] == 0
    assert board.loc["n", "failed"] == 2 and board.loc["n", "failure_reasons"] == ["unsupported model (×2)"]
    assert math.isnan(board.loc["n", "auc"]) and not board.loc["n", "on_frontier"]
    assert board["rank"].dropna().tolist() == [1, 2]
