"""The leaderboard's board: one row per (strategy, model), ranked by AUC then accuracy, with its
intervals, costs, Pareto frontier and failure counts; from rows (``leaderboard``) or from their
aggregates (``ResultCounts``: counts per item, cost sums), which give the same board. Pure
functions over pandas DataFrames; the input rows and how results are counted are described in
reasoning.metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reasoning.bootstrap import grouped_ci_counts
from reasoning.group_codes import group_codes, unique_inverse
from reasoning.metrics import (
    ERRORED,
    FAILED,
    _as_tuple,
    _group_keys,
    _per,
    _scored,
    accuracy_by_budget_counts,
    anytime_index,
    auc_accuracy_budget,
    budget_label,
    claims_apart,
    clear_claims,
    failure_reason,
    frontier_mask,
    item_cells,
    pareto_frontier,
    result_outcomes,
)


@dataclass(frozen=True)
class ResultCounts:
    """What the leaderboard reads of the results, aggregated (``result_counts`` builds it from rows;
    storage.result_summary from its summary of the store): the metrics come out the same, read from
    thousands of rows instead of one per result.

    - ``cells``: one row per (keys, budget, item): ``n`` scored results (a verdict, not failed) and
      ``correct`` of them; ``item`` numbers items in order of first appearance among the results.
    - ``sums``: one row per (keys, budget): ``n`` and the sums of total_tokens, usd and seconds over
      the same results (seconds NaN when the rows had none).
    - ``errored``: one row per keys with a scored result: how many of them ended in an error.
    - ``failed``: one row per failed result that had a verdict: the keys and its ``reason``
      (failure_reason), in the results' order.
    """

    keys: tuple[str, ...]
    cells: pd.DataFrame
    sums: pd.DataFrame
    errored: pd.DataFrame
    failed: pd.DataFrame


def result_counts(df: pd.DataFrame, by: Sequence[str] | None = None, item_col: str = "item_id") -> ResultCounts:
    """The rows' ResultCounts (outcomes from an ``outcome`` column, else result_outcomes)."""
    keys = _group_keys(df, by)
    outcome = df["outcome"] if "outcome" in df.columns else result_outcomes(df)
    verdict = pd.to_numeric(df["correct"], errors="coerce").notna()
    failures = df.loc[outcome.eq(FAILED) & verdict]
    kept = df.loc[~outcome.eq(FAILED)]
    scored = _scored(kept)
    errored = outcome.loc[scored.index].eq(ERRORED)
    cost_columns = [c for c in ("total_tokens", "usd", "seconds") if c in scored.columns]
    costs = pd.DataFrame({**{k: scored[k].to_numpy() for k in [*keys, "budget"]},
                          **{c: pd.to_numeric(scored[c]).to_numpy(dtype=float) for c in cost_columns}})
    sums = costs.groupby([*keys, "budget"], sort=True, dropna=False).agg(
        n=("budget", "size"), **{c: (c, "sum") for c in cost_columns}).reset_index()
    if "seconds" not in sums.columns:
        sums["seconds"] = float("nan")
    errored_counts = pd.DataFrame({**{k: scored[k].to_numpy() for k in keys}, "errored": errored.to_numpy(int)})
    errored_counts = errored_counts.groupby(keys, sort=True).sum().reset_index()
    reasons = pd.DataFrame({**{k: failures[k].to_numpy() for k in keys},
                            "reason": [failure_reason(row) for _, row in failures.iterrows()]},
                           columns=[*keys, "reason"])
    return ResultCounts(tuple(keys), item_cells(scored, keys, item_col), sums, errored_counts, reasons)


def leaderboard(df: pd.DataFrame, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                cost_col: str = "total_tokens", by_budget: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (strategy, model), best first.

    Columns: rank, strategy, model, n, accuracy, ci_low, ci_high (over all budgets), ``acc@<budget>``
    per budget level, mean_tokens, mean_usd, mean_seconds (per result), tokens_per_correct,
    usd_per_correct, auc (accuracy against budget, log axis, normalised), anytime_index (on the
    accuracy-vs-mean-tokens curve across budget levels: accuracy gained per token actually spent),
    on_frontier (Pareto frontier of mean ``cost_col`` per result against overall accuracy), then
    failed, errored (counts, see result_outcomes) and failure_reasons (the failed results' reasons
    as "reason (×count)", most frequent first).
    Ranked by AUC, then overall accuracy, both descending; NaN sorts last. Failed rows are left out
    of every metric; a (strategy, model) whose scored rows all failed follows the ranked rows with
    no rank and no metrics. A (strategy, model) with no row that has a verdict (no reference
    answers) has no accuracy and is left out. When ``clear_claims`` says the board cannot name a
    winner, no row is marked on the frontier. ``by_budget``: the caller's
    ``accuracy_by_budget(rows, by=[strategy, model])`` over the rows that did not fail, if it has it.
    """
    return leaderboard_counts(result_counts(df), n_boot=n_boot, ci=ci, seed=seed, cost_col=cost_col,
                              by_budget=by_budget)


def leaderboard_counts(counts: ResultCounts, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                       cost_col: str = "total_tokens", by_budget: pd.DataFrame | None = None) -> pd.DataFrame:
    """leaderboard from ResultCounts (the same board, see leaderboard)."""
    keys = list(counts.keys)
    cells = counts.cells
    if by_budget is None:
        by_budget = accuracy_by_budget_counts(cells, keys, n_boot=n_boot, ci=ci, seed=seed)
    # Plain lists and numpy from here: pandas' groupby and indexing per series cost several times
    # what the metrics themselves do.
    curves = _rows_by_key(by_budget, keys, ["budget", "accuracy"])
    spent_by_key = _rows_by_key(counts.sums, keys, ["budget", "total_tokens", "n"])
    sum_columns = {c: counts.sums[c].to_numpy() for c in dict.fromkeys(["total_tokens", "usd", "seconds", cost_col])}
    errored = {k: int(v) for k, v in zip(zip(*(counts.errored[k].tolist() for k in keys), strict=True),
                                          counts.errored["errored"].tolist(), strict=True)}
    rows: list[dict[str, Any]] = []
    series_all, index = group_codes(cells, keys, dropna=True)  # -1: a key with no value (left out, as groupby does)
    kept = series_all >= 0
    series = series_all[kept]
    n_series = len(index[keys[0]])
    budgets = group_codes(cells, ["budget"], dropna=True)[1]["budget"]  # sorted, no missing one
    n_all, correct_all = cells["n"].to_numpy(dtype=float)[kept], cells["correct"].to_numpy(dtype=float)[kept]
    # Each item's results over every budget: the overall interval resamples items.
    items = cells["item"].to_numpy(dtype=np.int64)[kept]
    span = int(items.max()) + 1 if len(items) else 1
    series_items, at = unique_inverse(series * span + items)
    lows, highs = grouped_ci_counts(series_items // span, np.bincount(at, weights=correct_all),
                                    np.bincount(at, weights=n_all), n_series, n_boot=n_boot, ci=ci, seed=seed)
    totals = np.bincount(series, weights=n_all, minlength=n_series)
    rights = np.bincount(series, weights=correct_all, minlength=n_series)
    for position, key_tuple in enumerate(zip(*(index[k] for k in keys), strict=True)):
        ident = dict(zip(keys, key_tuple, strict=True))
        low, high = float(lows[position]), float(highs[position])
        n = int(totals[position])
        n_correct = float(rights[position])
        row: dict[str, Any] = {**ident, "n": n, "accuracy": n_correct / n, "ci_low": low, "ci_high": high}
        _, curve_budgets, curve_accuracy = curves.get(key_tuple, ([], [], []))
        per_budget = dict(zip(curve_budgets, curve_accuracy, strict=True))
        for b in budgets:
            row[f"acc@{budget_label(b)}"] = per_budget.get(b, float("nan"))
        spent_rows, spent_budgets, spent_tokens, spent_n = spent_by_key[key_tuple]
        tokens, usd, seconds, cost = (_nansum(sum_columns[c][spent_rows])
                                      for c in ("total_tokens", "usd", "seconds", cost_col))
        row["mean_tokens"] = tokens / n
        row["mean_usd"] = usd / n
        row["mean_seconds"] = seconds / n
        row["tokens_per_correct"] = _per(tokens, n_correct)
        row["usd_per_correct"] = _per(usd, n_correct)
        row["auc"] = auc_accuracy_budget([(b, per_budget[b]) for b in curve_budgets if b > 0])
        # The accuracy against the mean tokens spent at each budget level the curve has.
        level = [(total / count, per_budget[b]) for b, total, count in zip(spent_budgets, spent_tokens, spent_n,
                                                                           strict=True)
                 if b == b and b in per_budget]
        row["anytime_index"] = anytime_index(level)
        row["_cost"] = cost / n
        row["errored"] = errored.get(key_tuple, 0)
        rows.append(row)
    acc_cols = [f"acc@{budget_label(b)}" for b in budgets]
    columns = ["rank", *keys, "n", "accuracy", "ci_low", "ci_high", *acc_cols, "mean_tokens", "mean_usd",
               "mean_seconds", "tokens_per_correct", "usd_per_correct", "auc", "anytime_index", "on_frontier",
               "failed", "errored", "failure_reasons"]
    reasons = _failure_reasons(counts.failed, keys)
    if not rows and not reasons:
        return pd.DataFrame(columns=columns)
    listed = {tuple(row[k] for k in keys) for row in rows}
    if rows and all(k in listed for k in reasons):  # every series has a scored result: the board in one go
        return _ranked_board(rows, keys, columns, reasons)
    board = pd.DataFrame(rows, columns=[*keys, "n", "accuracy", "ci_low", "ci_high", *acc_cols, "mean_tokens",
                                        "mean_usd", "mean_seconds", "tokens_per_correct", "usd_per_correct", "auc",
                                        "anytime_index", "_cost", "errored"])
    board["on_frontier"] = pareto_frontier(board, "_cost", "accuracy")
    if not clear_claims(board):
        board["on_frontier"] = False
    board = board.sort_values(["auc", "accuracy"], ascending=False, na_position="last", kind="stable")
    board["rank"] = pd.array(np.arange(1, len(board) + 1), dtype="Int64")
    ranked = {_as_tuple(k) for k in board[keys].itertuples(index=False, name=None)}
    unranked = [{**dict(zip(keys, k, strict=True)), "n": 0, "errored": 0, "on_frontier": False}
                for k in reasons if k not in ranked]
    if unranked:  # every scored result of these failed: listed (with why), never ranked
        board = pd.concat([board, pd.DataFrame(unranked)], ignore_index=True)
        board["rank"] = board["rank"].astype("Int64")
    board["failed"] = [sum(c for _, c in reasons.get(k, [])) for k in board[keys].itertuples(index=False, name=None)]
    board["failure_reasons"] = [[f"{text} (×{count})" for text, count in reasons.get(k, [])]
                                for k in board[keys].itertuples(index=False, name=None)]
    board["errored"] = board["errored"].astype(int)
    board["on_frontier"] = board["on_frontier"].astype(bool)
    return board[columns].reset_index(drop=True)


def _ranked_board(rows: list[dict[str, Any]], keys: list[str], columns: list[str],
                  reasons: dict[tuple, list[tuple[str, int]]]) -> pd.DataFrame:
    """The board of rows that are all ranked, built column by column from plain lists: the same
    frame as leaderboard_counts' general path (frontier, claims, ranking and the failures' columns
    alike), without pandas' per-column work on a frame of a few dozen rows."""
    def column(name: str) -> np.ndarray:
        return np.array([row[name] for row in rows], dtype=float)

    accuracy, auc = column("accuracy"), column("auc")
    frontier = frontier_mask(column("_cost"), accuracy)
    if not claims_apart(accuracy, column("ci_low"), column("ci_high")):
        frontier[:] = False
    # sort_values(["auc", "accuracy"], ascending=False, na_position="last", kind="stable")
    order = sorted(range(len(rows)), key=lambda i: (_descending(auc[i]), _descending(accuracy[i])))
    ordered = [rows[i] for i in order]
    named = [tuple(row[k] for k in keys) for row in ordered]
    data: dict[str, Any] = {"rank": pd.array(np.arange(1, len(rows) + 1), dtype="Int64")}
    for name in columns[1:]:
        if name == "on_frontier":
            data[name] = frontier[order]
        elif name == "failed":
            data[name] = [sum(c for _, c in reasons.get(k, [])) for k in named]
        elif name == "failure_reasons":
            data[name] = [[f"{text} (×{count})" for text, count in reasons.get(k, [])] for k in named]
        else:
            data[name] = [row[name] for row in ordered]
    board = pd.DataFrame(data, columns=columns)
    board["errored"] = board["errored"].astype(int)
    return board


def _descending(value: float) -> tuple[bool, float]:
    """A sort key putting larger values first and NaN last."""
    return (True, 0.0) if value != value else (False, -value)


def _rows_by_key(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> dict[tuple, tuple[list, ...]]:
    """Per key tuple: its rows' positions in ``frame`` and their values in each of ``columns``
    (lists, in the frame's order)."""
    out: dict[tuple, tuple[list, ...]] = {}
    values = [frame[c].tolist() for c in [*keys, *columns]]
    width = len(keys)
    for position, row in enumerate(zip(*values, strict=True)):
        found = out.get(row[:width])
        if found is None:
            found = out[row[:width]] = tuple([] for _ in range(len(columns) + 1))
        found[0].append(position)
        for into, value in zip(found[1:], row[width:], strict=True):
            into.append(value)
    return out


def _nansum(values: np.ndarray) -> float:
    """Series.sum of these values: missing ones count as 0 (pandas' nansum is numpy's sum of the
    values with NaN set to 0, the same pairwise order)."""
    total = values.sum()
    return float(np.nansum(values) if total != total else total)


def _failure_reasons(failed: pd.DataFrame, keys: list[str]) -> dict[tuple, list[tuple[str, int]]]:
    """Per (strategy, model): each distinct reason its failed results gave, with how often
    (``failed``: one row per failed result, the keys and its ``reason``)."""
    if failed.empty:
        return {}
    counted = failed[[*keys, "reason"]].value_counts(sort=True, dropna=False)
    out: dict[tuple, list[tuple[str, int]]] = {}
    for (*key, reason), count in counted.items():
        out.setdefault(tuple(key), []).append((str(reason), int(count)))
    return out

