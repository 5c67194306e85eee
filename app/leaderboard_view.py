"""The leaderboard's data path, kept free of Streamlit so it is tested (and reusable) on its own:
stored strategy results -> filters -> one budget axis -> reasoning.metrics -> display table / CSV.

Input rows are storage.queries.strategy_results: one per strategy run, joined with its run
(strategy, knobs, model, dataset, item_id, created, correct, total_tokens, usd, seconds, and the
run's caps as budget_total_tokens, budget_output_tokens, budget_usd, budget_seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from app.leaderboard_charts import series_labels
from reasoning import metrics
from reasoning.budget import CAP_NAMES

NO_DATASET = "(own problems)"  # how runs typed on the Compare page (no dataset) appear in filters
CAP_TITLES = {
    "total_tokens": "total tokens",
    "output_tokens": "output tokens",
    "usd": "dollars",
    "seconds": "seconds",
}
# What the page reads from the store (storage.queries.strategy_results columns): enough for the
# filters, the budget axis, knob variants and the metrics; the results CSV reads everything.
LEADERBOARD_COLUMNS = ("run_id", "strategy_index", "strategy", "knobs", "model", "dataset", "item_id", "created",
                       "correct", "total_tokens", "usd", "seconds", *(f"budget_{cap}" for cap in CAP_NAMES))
METRIC_COLUMNS = ("strategy", "model", "budget", "item_id", "correct", "total_tokens", "usd", "seconds")
ANYTIME_SCALE = 1000  # the Anytime Index is shown per 1,000 tokens: per token it reads 0.0000...


@dataclass(frozen=True)
class LeaderboardFilters:
    """Empty tuples and None dates mean "no restriction"."""

    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()  # dataset names, NO_DATASET for runs without one
    strategies: tuple[str, ...] = ()
    start: date | None = None  # inclusive, by the run's creation day (UTC)
    end: date | None = None  # inclusive


@dataclass(frozen=True)
class Leaderboard:
    board: pd.DataFrame  # metrics.leaderboard: one row per (strategy, model), ranked
    curve: pd.DataFrame  # metrics.accuracy_by_budget: one row per (strategy, model, budget)
    cap: str  # which budget cap is the budget axis


def dataset_labels(results: pd.DataFrame) -> pd.Series:
    return results["dataset"].fillna(NO_DATASET).astype(str)


def filter_options(results: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter can take, sorted."""
    return {
        "models": sorted(results["model"].dropna().astype(str).unique()),
        "datasets": sorted(dataset_labels(results).unique()),
        "strategies": sorted(results["strategy"].dropna().astype(str).unique()),
    }


def apply_filters(results: pd.DataFrame, filters: LeaderboardFilters) -> pd.DataFrame:
    keep = pd.Series(True, index=results.index)
    if filters.models:
        keep &= results["model"].isin(filters.models)
    if filters.datasets:
        keep &= dataset_labels(results).isin(filters.datasets)
    if filters.strategies:
        keep &= results["strategy"].isin(filters.strategies)
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


def with_budget(results: pd.DataFrame, cap: str) -> pd.DataFrame:
    """Rows that set `cap`, with `budget` = that cap's value, and `item_id` made unique per problem.

    Items are named by dataset and item id so two datasets' item 1 stay apart; a problem typed on
    the Compare page has no item id and counts as its own item (its run). The bootstrap resamples
    these items.
    """
    out = results.loc[results[f"budget_{cap}"].notna()].copy()
    out["budget"] = out[f"budget_{cap}"].astype(float)
    dataset_item = dataset_labels(out) + "/" + out["item_id"].astype(str)
    out["item_id"] = dataset_item.where(out["item_id"].notna(), "run/" + out["run_id"].astype(str))
    return out


def label_knob_variants(results: pd.DataFrame) -> pd.DataFrame:
    """Strategy names extended with the knobs that differ between its results:
    ``self_consistency (stop=esc)`` and ``self_consistency (stop=beta)`` become separate rows."""
    out = results.copy()
    knobs = out["knobs"].map(lambda k: k if isinstance(k, dict) else {})
    for name, index in out.groupby("strategy").groups.items():
        settings = knobs.loc[index]
        keys = sorted({key for k in settings for key in k})
        varying = [key for key in keys if len({json.dumps(k.get(key), sort_keys=True) for k in settings}) > 1]
        if varying:
            out.loc[index, "strategy"] = [
                f"{name} ({', '.join(f'{key}={k.get(key)}' for key in varying)})" for k in settings
            ]
    return out


def compute_leaderboard(results: pd.DataFrame, cap: str, *, n_boot: int = 1000, seed: int = 0,
                        split_knobs: bool = False) -> Leaderboard:
    """The leaderboard and the accuracy-budget curves over the results that set `cap`.

    Rows without a verdict (no reference answer) are dropped by the metrics themselves.
    """
    rows = with_budget(results, cap)
    if split_knobs:
        rows = label_knob_variants(rows)
    # Only the columns the metrics read: their groupbys copy every column of every group.
    metric_rows = rows[[c for c in METRIC_COLUMNS if c in rows.columns]]
    curve = metrics.accuracy_by_budget(metric_rows, n_boot=n_boot, seed=seed, by=["strategy", "model"])
    board = metrics.leaderboard(metric_rows, n_boot=n_boot, seed=seed, by_budget=curve)  # the curve once
    return Leaderboard(board=board, curve=curve, cap=cap)


def results_for_download(results: pd.DataFrame, filters: LeaderboardFilters, cap: str,
                         split_knobs: bool = False) -> pd.DataFrame:
    """The rows a leaderboard was computed from, with every stored column (`results`: all of them)."""
    rows = with_budget(apply_filters(results, filters), cap)
    return label_knob_variants(rows) if split_knobs else rows


def scored_count(results: pd.DataFrame) -> int:
    """Results with a verdict (the run had a reference answer)."""
    return int(results["correct"].notna().sum())


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as shown: human column names, the Anytime Index per 1,000 tokens."""
    acc_cols = [c for c in board.columns if c.startswith("acc@")]
    table = pd.DataFrame({
        "rank": board["rank"],
        "strategy": board["strategy"],
        "model": board["model"],
        "results": board["n"],
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
        "Pareto": board["on_frontier"].astype(bool),
    })
    return table.reset_index(drop=True)


def board_csv(board: pd.DataFrame, cap: str) -> str:
    """The leaderboard's raw metric columns as CSV, with the budget axis named in a column."""
    out = board.copy()
    out.insert(1, "budget_axis", cap)
    return out.to_csv(index=False)


def results_csv(results: pd.DataFrame) -> str:
    """The filtered per-result rows behind the leaderboard (knobs as JSON)."""
    out = results.copy()
    if "knobs" in out.columns:
        out["knobs"] = out["knobs"].map(lambda k: json.dumps(k, sort_keys=True, default=str))
    return out.to_csv(index=False)


def cap_title(cap: str) -> str:
    return CAP_TITLES.get(cap, cap)


def summary(board: pd.DataFrame) -> dict[str, Any]:
    """Headline facts for the page: the best series by rank and the frontier's members (a series
    is the strategy, or "strategy · model" when the board holds several models)."""
    if board.empty:
        return {"best": None, "frontier": []}
    names = series_labels(board)
    return {
        "best": str(names.iloc[0]),
        "frontier": [str(s) for s in names[board["on_frontier"].astype(bool)]],
    }


COST_AXES = {"mean_tokens": "mean tokens per result", "mean_usd": "mean dollars per result"}


def with_frontier(board: pd.DataFrame, cost_col: str) -> pd.DataFrame:
    """The board with `on_frontier` recomputed for another cost (metrics ranks by tokens)."""
    out = board.copy()
    out["on_frontier"] = metrics.pareto_frontier(out, cost_col, "accuracy")
    return out
