"""The leaderboard's data path, kept free of Streamlit so it is tested (and reusable) on its own:
stored strategy results -> filters -> one budget axis -> which rows count (over-cap results,
strategy versions) -> reasoning.metrics and reasoning.paired_stats -> display tables / CSV (the
head-to-head's tables and sentences: app/head_to_head.py).

Input rows are storage.leaderboard_reads.strategy_results: one per strategy run (an entry), joined with its
run (strategy, knobs, model, dataset, item_id, sweep_id, created, status, correct, calls,
output_tokens, total_tokens, usd, seconds, error, over_cap, fingerprint, and the entry's caps as
budget_total_tokens, budget_output_tokens, budget_usd, budget_seconds).

How results are counted: a result that made no successful model call is *failed* and is only
counted (reasoning.metrics.result_outcomes); one that errored after spending is scored as what it
answered and counted as *errored*; one whose provider reported impossible usage (over_cap) is left
out unless asked for; results of different strategy versions (fingerprints of prompts and knobs)
are kept apart unless pooled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from app.leaderboard_charts import series_labels
from app.leaderboard_rows import (
    dataset_labels,
    label_knob_variants,
    label_versions,
    over_cap_mask,
    version_counts,
    with_budget,
)
from reasoning import leaderboard_metrics, metrics, rank_intervals
from reasoning.budget import CAP_NAMES
from reasoning.pair_table import PairTable, pair_table

CAP_TITLES = {
    "total_tokens": "total tokens",
    "output_tokens": "output tokens",
    "usd": "dollars",
    "seconds": "seconds",
}
# What the page reads from the store (storage.leaderboard_reads.strategy_results columns): enough for the
# filters, the budget axis, knob variants and the metrics; the results CSV reads everything.
# (In strategy_results' column order.)
LEADERBOARD_COLUMNS = ("run_id", "strategy_index", "strategy", "knobs", "model", "dataset", "item_id", "sweep_id",
                       "created", "status", "stop_reason", "correct", "output_tokens", "total_tokens", "usd",
                       "seconds", "calls", "error", "over_cap", "fingerprint",
                       *(f"budget_{cap}" for cap in CAP_NAMES))
METRIC_COLUMNS = ("strategy", "model", "budget", "item_id", "correct", "total_tokens", "usd", "seconds", "status",
                  "stop_reason", "error", "outcome")
ANYTIME_SCALE = 1000  # the Anytime Index is shown per 1,000 tokens: per token it reads 0.0000...


@dataclass(frozen=True)
class LeaderboardFilters:
    """Empty tuples and None dates mean "no restriction"."""

    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()  # dataset names, NO_DATASET for runs without one
    strategies: tuple[str, ...] = ()
    start: date | None = None  # inclusive, by the run's creation day (UTC)
    end: date | None = None  # inclusive
    sweep: str | None = None  # only this sweep's results


@dataclass(frozen=True)
class RowChoice:
    """Which of the filtered results a board counts, and how it names them."""

    split_knobs: bool = False  # each knob setting of a strategy is its own row
    include_over_cap: bool = False  # results whose provider reported impossible usage count too
    pool_versions: bool = False  # results of different strategy fingerprints are pooled


@dataclass(frozen=True)
class Leaderboard:
    board: pd.DataFrame  # leaderboard_metrics.leaderboard (+ rank_low, rank_high): one row per (strategy, model), ranked
    curve: pd.DataFrame  # metrics.accuracy_by_budget: one row per (strategy, model, budget)
    cap: str  # which budget cap is the budget axis
    head_to_head: PairTable | None = None  # every pair at each (model, budget), intervals drawn per cell
    over_cap_left_out: int = 0  # results reported over their cap and not counted
    over_cap_included: int = 0  # ... counted (include_over_cap)
    versions: dict[str, int] | None = None  # strategy -> number of fingerprints, where more than one
    pooled: bool = False  # several versions of a strategy were pooled into one row

    @property
    def pairs(self) -> pd.DataFrame | None:
        """reasoning.pair_table.paired_comparisons at each (model, budget), every interval drawn."""
        return None if self.head_to_head is None else self.head_to_head.complete()


def filter_options(results: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter can take, sorted (sweeps: newest first)."""
    sweeps: list[str] = []
    if "sweep_id" in results.columns:
        swept = results.loc[results["sweep_id"].notna(), ["sweep_id", "created"]]
        sweeps = [str(s) for s in swept.groupby("sweep_id")["created"].max().sort_values(ascending=False).index]
    return {
        "models": sorted(results["model"].dropna().astype(str).unique()),
        "datasets": sorted(dataset_labels(results).unique()),
        "strategies": sorted(results["strategy"].dropna().astype(str).unique()),
        "sweeps": sweeps,
    }


def column_filter_mask(frame: pd.DataFrame, filters: LeaderboardFilters) -> pd.Series:
    """The rows of `frame` (results, or the store's result summary groups) that the model, dataset,
    strategy and sweep filters keep; dates are filtered apart (a summary group spans many dates)."""
    keep = pd.Series(True, index=frame.index)
    if filters.models:
        keep &= frame["model"].isin(filters.models)
    if filters.datasets:
        keep &= dataset_labels(frame).isin(filters.datasets)
    if filters.strategies:
        keep &= frame["strategy"].isin(filters.strategies)
    if filters.sweep:
        keep &= frame["sweep_id"].eq(filters.sweep) if "sweep_id" in frame.columns else False
    return keep


def apply_filters(results: pd.DataFrame, filters: LeaderboardFilters) -> pd.DataFrame:
    keep = column_filter_mask(results, filters)
    if filters.start is not None or filters.end is not None:
        created = pd.to_datetime(results["created"], utc=True)  # compared as timestamps: no per-row dates
        if filters.start is not None:
            keep &= created >= pd.Timestamp(filters.start, tz="UTC")
        if filters.end is not None:
            keep &= created < pd.Timestamp(filters.end, tz="UTC") + pd.Timedelta(days=1)
    return results.loc[keep]


def date_span(results: pd.DataFrame) -> tuple[date, date]:
    """The first and last creation day (UTC) among the results (which must not be empty)."""
    created = pd.to_datetime(results["created"], utc=True)
    return created.min().date(), created.max().date()


def caps_present(results: pd.DataFrame) -> list[str]:
    """The budget caps set on at least one result, in CAP_NAMES order."""
    return [cap for cap in CAP_NAMES if results[f"budget_{cap}"].notna().any()]


def default_cap(caps: list[str]) -> str | None:
    """Total tokens when available (the design's main currency), else the first cap used."""
    if not caps:
        return None
    return "total_tokens" if "total_tokens" in caps else caps[0]


def board_rows(results: pd.DataFrame, cap: str, choice: RowChoice = RowChoice()) -> pd.DataFrame:
    """The rows a board counts, named as it names them: those that set ``cap`` (``budget`` = its
    value), over-cap results left out unless included, strategy versions apart unless pooled, knob
    settings apart when asked, and ``outcome`` (ok / errored / failed) per row."""
    rows = with_budget(results, cap)
    if not choice.include_over_cap:
        rows = rows.loc[~over_cap_mask(rows)]
    if choice.split_knobs:
        rows = label_knob_variants(rows)
    if not choice.pool_versions:
        rows = label_versions(rows)
    rows = rows.copy()
    rows["outcome"] = metrics.result_outcomes(rows)
    return rows


def compute_leaderboard(results: pd.DataFrame, cap: str, *, n_boot: int = 1000, seed: int = 0,
                        split_knobs: bool = False, include_over_cap: bool = False, pool_versions: bool = False,
                        paired: bool = True) -> Leaderboard:
    """The leaderboard, the accuracy-budget curves and (``paired``) the rank ranges and the
    head-to-head comparisons, over the results that set `cap`.

    Rows without a verdict (no reference answer) are dropped by the metrics themselves; failed
    results are only counted; over-cap results and strategy versions as RowChoice says.
    """
    choice = RowChoice(split_knobs, include_over_cap, pool_versions)
    rows = board_rows(results, cap, choice)
    capped = results.loc[results[f"budget_{cap}"].notna()]  # the rows before over-cap and version choices
    over = over_cap_mask(capped) & capped["correct"].notna()
    versions = version_counts(capped if not split_knobs else label_knob_variants(capped))
    # Only the columns the metrics read: their groupbys copy every column of every group.
    metric_rows = rows[[c for c in METRIC_COLUMNS if c in rows.columns]]
    counts = leaderboard_metrics.result_counts(metric_rows, by=["strategy", "model"])
    scored = metrics._scored(metric_rows.loc[metric_rows["outcome"] != metrics.FAILED])
    items = pd.factorize(scored["item_id"])[0]
    pair_input = PairInput(scored["model"].to_numpy(), scored["budget"].to_numpy(), scored["strategy"].to_numpy(),
                           items, scored["correct"].to_numpy(dtype=float))
    return finish_leaderboard(counts, pair_input, cap, choice, n_boot=n_boot, seed=seed, paired=paired,
                              over_cap=int(over.sum()), versions=versions)


@dataclass(frozen=True)
class PairInput:
    """The scored results a head-to-head pairs, one entry each in the results' order (see
    reasoning.pair_table.paired_comparisons_arrays)."""

    model: Any
    budget: Any
    series: Any
    item: Any
    correct: Any


def finish_leaderboard(counts: leaderboard_metrics.ResultCounts, pair_input: PairInput, cap: str, choice: RowChoice, *,
                       n_boot: int = 1000, seed: int = 0, paired: bool = True, over_cap: int = 0,
                       versions: dict[str, int] | None = None) -> Leaderboard:
    """The Leaderboard from the results' counts (the same whether they were counted from rows or
    read from the store's summary: app.leaderboard_summary)."""
    keys = list(counts.keys)
    curve = metrics.accuracy_by_budget_counts(counts.cells, keys, n_boot=n_boot, seed=seed)
    board = leaderboard_metrics.leaderboard_counts(counts, n_boot=n_boot, seed=seed, by_budget=curve)  # the curve once
    pairs = None
    if paired:
        ranks = rank_intervals.rank_intervals_counts(counts.cells, keys, results=int(counts.cells["n"].sum()),
                                                   n_boot=n_boot, seed=seed)
        board = board.merge(ranks, on=["strategy", "model"], how="left")
        for column in ("rank_low", "rank_high"):
            board[column] = pd.to_numeric(board[column]).round().astype("Int64")
            board.loc[board["rank"].isna(), column] = pd.NA
        # The frontier again, now that rank ranges can tell strategies apart (metrics ranks on
        # mean total tokens, the same cost as mean_tokens).
        board = with_frontier(board, "mean_tokens")
        pairs = pair_table(
            pair_input.model, pair_input.budget, pair_input.series, pair_input.item, pair_input.correct,
            order=list(board["strategy"].astype(str)), n_boot=n_boot, seed=seed)
    versions = versions or {}
    return Leaderboard(board=board, curve=curve, cap=cap, head_to_head=pairs,
                       over_cap_left_out=0 if choice.include_over_cap else over_cap,
                       over_cap_included=over_cap if choice.include_over_cap else 0,
                       versions=versions, pooled=bool(choice.pool_versions and versions))


def results_for_download(results: pd.DataFrame, filters: LeaderboardFilters, cap: str,
                         split_knobs: bool = False, *, include_over_cap: bool = False,
                         pool_versions: bool = False) -> pd.DataFrame:
    """The rows a leaderboard was computed from, with every stored column (`results`: all of them),
    named as the board names them and with their ``outcome`` (failed rows are in, marked)."""
    return board_rows(apply_filters(results, filters), cap, RowChoice(split_knobs, include_over_cap, pool_versions))


def scored_count(results: pd.DataFrame) -> int:
    """Results with a verdict (the run had a reference answer)."""
    return int(results["correct"].notna().sum())


def rank_range(low: Any, high: Any) -> str:
    """"2–4", or "1" when the range is one rank; "" for an unranked row."""
    if pd.isna(low) or pd.isna(high):
        return ""
    return f"{int(low)}" if int(low) == int(high) else f"{int(low)}–{int(high)}"


def _column(board: pd.DataFrame, name: str, default: Any) -> pd.Series:
    return board[name] if name in board.columns else pd.Series(default, index=board.index)


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as shown: human column names, the Anytime Index per 1,000 tokens, the 95%
    rank range beside the rank, and failed / errored counts with the failures' reasons."""
    acc_cols = [c for c in board.columns if c.startswith("acc@")]
    reasons = _column(board, "failure_reasons", None)
    table = pd.DataFrame({
        "rank": board["rank"],
        "rank range": [rank_range(lo, hi) for lo, hi in zip(_column(board, "rank_low", None),
                                                           _column(board, "rank_high", None), strict=True)],
        "strategy": board["strategy"],
        "model": board["model"],
        "results": board["n"],
        "failed": _column(board, "failed", 0),
        "errored": _column(board, "errored", 0),
        "accuracy": board["accuracy"],
        "CI low": board["ci_low"],
        "CI high": board["ci_high"],
        **{f"accuracy @ {c.removeprefix('acc@')}": board[c] for c in acc_cols},
        "tokens / correct": board["tokens_per_correct"],
        "$ / correct": board["usd_per_correct"],
        "AUC": board["auc"],
        "Anytime Index / 1k tokens": board["anytime_index"] * ANYTIME_SCALE,
        "mean tokens": board["mean_tokens"],
        "mean $": board["mean_usd"],
        "Pareto": board["on_frontier"].fillna(False).astype(bool),
        "why failed": ["; ".join(r) if isinstance(r, list) else "" for r in reasons],
    })
    return table.reset_index(drop=True)


def board_csv(board: pd.DataFrame, cap: str) -> str:
    """The leaderboard's raw metric columns as CSV, with the budget axis named in a column (the
    failures' reasons as one cell, separated by " | ")."""
    out = board.copy()
    out.insert(1, "budget_axis", cap)
    if "failure_reasons" in out.columns:
        out["failure_reasons"] = out["failure_reasons"].map(lambda r: " | ".join(r) if isinstance(r, list) else "")
    return out.to_csv(index=False)


def board_records(board: pd.DataFrame, cap: str) -> str:
    """The leaderboard as a JSON array: one object per (strategy, model) with its rank (null when
    every result failed), rank range, n, failed, errored, failure_reasons and the metrics."""
    out = board.copy()
    out.insert(1, "budget_axis", cap)
    return out.to_json(orient="records", indent=2)


def results_csv(results: pd.DataFrame) -> str:
    """The filtered per-result rows behind the leaderboard (knobs as JSON)."""
    out = results.copy()
    if "knobs" in out.columns:
        out["knobs"] = out["knobs"].map(lambda k: json.dumps(k, sort_keys=True, default=str))
    return out.to_csv(index=False)


def cap_title(cap: str) -> str:
    return CAP_TITLES.get(cap, cap)


def budget_text(budget: float, cap: str) -> str:
    """A budget in words: "1,024 tokens", "300 output tokens", "$0.01", "30 s"."""
    if cap == "usd":
        return f"${budget:g}"
    if cap == "seconds":
        return f"{budget:g} s"
    amount = f"{budget:,.0f}" if float(budget).is_integer() else f"{budget:,g}"
    return f"{amount} {'output tokens' if cap == 'output_tokens' else 'tokens'}"


def summary(board: pd.DataFrame) -> dict[str, Any]:
    """Headline facts for the page: the best series and the frontier's members (a series is the
    strategy, or "strategy · model" when the board holds several models), and the verdict in words.

    A best is named only when the board supports a claim at all (metrics.clear_claims: not every
    accuracy equal; some two rows told apart by their intervals or rank ranges) and the top series
    ranks first in the bootstrap's 95% range (rank range 1–1) when ranges are known; otherwise
    there is "no clear winner" (and, without any claim, no frontier)."""
    empty: dict[str, Any] = {"best": None, "frontier": [], "verdict": "nothing ranked"}
    if board.empty:
        return empty
    ranked = board.loc[board["rank"].notna()] if "rank" in board.columns else board
    if ranked.empty:
        return {**empty, "verdict": "nothing ranked: every result failed"}
    names = series_labels(ranked)
    frontier = [str(s) for s in names[ranked["on_frontier"].fillna(False).astype(bool)]]
    if len(ranked) == 1:
        return {"best": None, "frontier": frontier, "verdict": f"only {names.iloc[0]} is ranked"}
    if not metrics.clear_claims(ranked):
        why = "every accuracy is the same" if ranked["accuracy"].nunique() <= 1 else \
            "every accuracy interval and rank range overlaps the others"
        return {"best": None, "frontier": [], "verdict": f"no clear winner ({why})"}
    top = ranked.iloc[0]
    if "rank_high" in ranked.columns and not pd.isna(top["rank_high"]) and int(top["rank_high"]) > 1:
        return {"best": None, "frontier": frontier,
                "verdict": f"no clear winner ({names.iloc[0]} ranks {rank_range(top['rank_low'], top['rank_high'])} "
                           "in 95% of resamples)"}
    return {"best": str(names.iloc[0]), "frontier": frontier, "verdict": f"best: {names.iloc[0]}"}


COST_AXES = {"mean_tokens": "mean tokens per result", "mean_usd": "mean dollars per result"}


def with_frontier(board: pd.DataFrame, cost_col: str) -> pd.DataFrame:
    """The board with `on_frontier` recomputed for another cost (metrics ranks by tokens); no row
    is on it when the board supports no claim (metrics.clear_claims)."""
    out = board.copy()
    ranked = out["rank"].notna() if "rank" in out.columns else pd.Series(True, index=out.index)
    out["on_frontier"] = (metrics.pareto_frontier(out, cost_col, "accuracy") & ranked
                          & metrics.clear_claims(out.loc[ranked]))
    return out
