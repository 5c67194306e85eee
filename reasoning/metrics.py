"""Budget-efficiency metrics: pure functions over pandas DataFrames and (budget, quality) points.

The leaderboard input is one row per strategy result with at least the columns
``strategy, model, budget, correct, total_tokens, usd, seconds`` (``dataset`` is carried along but
not grouped on: filter to one dataset first if pooling datasets is not what you want). ``correct``
is a bool or 0/1; NaN means the item had no reference answer, and such rows are left out of every
accuracy and every per-correct cost. An optional ``item_id`` column makes the bootstrap resample
items rather than rows, so repeats of one problem move together.

How results are counted (``result_outcomes``): a result that made no successful model call (an
unsupported model, a budget too small to buy a call, a provider that never answered) is *failed*:
it is not a result, so it is left out of every metric and only counted. A result that ended in an
error after spending is *errored*: it is scored as what it answered (its last answer, or wrong when
it had none) and counted too. The optional columns ``status``, ``calls``, ``output_tokens`` and
``error`` drive this; without them every row is a result.

Curves are ``(budget, quality)`` pairs, given as an iterable of pairs or a DataFrame with the named
columns. Budgets are in tokens (or any positive unit: AUC is unit-free, the Anytime Index is per
unit of budget).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reasoning.bootstrap import grouped_ci_counts
from reasoning.group_codes import group_codes

GROUP_COLUMNS = ("strategy", "model")
FAILED, ERRORED, OK = "failed", "errored", "ok"
PointsLike = pd.DataFrame | Iterable[Sequence[float]]


# ---------------------------------------------------------------------------------------------
# Curves


def _points(points: PointsLike, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite (x, y) arrays sorted by x, a repeated x keeping its last y (the latest report holds)."""
    if isinstance(points, pd.DataFrame):
        xs = points[x].to_numpy(dtype=float)
        ys = points[y].to_numpy(dtype=float)
    else:
        pairs = [(float(a), float(b)) for a, b in points]
        xs = np.array([a for a, _ in pairs], dtype=float)
        ys = np.array([b for _, b in pairs], dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if len(xs) > 1:
        last_of_run = np.append(xs[1:] != xs[:-1], True)
        xs, ys = xs[last_of_run], ys[last_of_run]
    return xs, ys


def step_curve(points: PointsLike, x: str = "spend", y: str = "quality") -> pd.DataFrame:
    """A per-run quality-vs-spend step function as sorted (spend, quality) rows.

    Quality holds from one point until the next (plot with ``interpolate="step-after"``); several
    points at one spend collapse to the last one given.
    """
    xs, ys = _points(points, x, y)
    return pd.DataFrame({"spend": xs, "quality": ys})


def quality_at(points: PointsLike, budgets: Iterable[float], *, before: float = 0.0,
               x: str = "spend", y: str = "quality") -> np.ndarray:
    """The step function's value at each budget: the quality of the last point with spend <= budget.

    ``before`` is the value for a budget below the first point (0.0: no answer yet is not correct).
    """
    xs, ys = _points(points, x, y)
    at = np.asarray(list(budgets), dtype=float)
    idx = np.searchsorted(xs, at, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)] if len(ys) else before, before)


def auc_accuracy_budget(curve: PointsLike, x: str = "budget", y: str = "accuracy") -> float:
    """Area under the accuracy-budget curve with budgets on a log axis, normalised to [0, 1].

    The trapezoid rule over log(budget), divided by log(max budget / min budget), so the result is
    the curve's mean accuracy across the log-budget range and is comparable between grids. A single
    budget gives its accuracy; no usable point gives NaN. Budgets must be positive.
    """
    xs, ys = _points(curve, x, y)
    if len(xs) == 0:
        return float("nan")
    if np.any(xs <= 0):
        raise ValueError("budgets must be positive to sit on a log axis")
    if len(xs) == 1:
        return float(ys[0])
    logs = np.log(xs)
    area = np.sum(np.diff(logs) * (ys[1:] + ys[:-1]) / 2.0)
    return float(area / (logs[-1] - logs[0]))


def anytime_index(points: PointsLike, x: str = "budget", y: str = "quality") -> float:
    """The Anytime Index: AI = (1/|B|) * sum over b in B of dQ(b)/db.

    Points are sorted by budget; each pair of successive budgets is one increment b with
    dQ(b) = Q(b_next) - Q(b) and db = b_next - b. |B| is the number of increments (points - 1), so
    the index is the mean marginal quality gain per unit of budget (per token when budgets are
    tokens). A repeated budget keeps its last quality; fewer than two budgets give NaN.
    """
    # The one implementation, imported here: importing the strategies package loads every strategy.
    from reasoning.strategies.anytime import anytime_index as index_of

    xs, ys = _points(points, x, y)
    return index_of(zip(xs.tolist(), ys.tolist(), strict=True))


# ---------------------------------------------------------------------------------------------
# Which rows are results


def result_outcomes(df: pd.DataFrame) -> pd.Series:
    """Per row: "failed" (not a result), "errored" (scored, but it ended in an error) or "ok".

    Failed: no model call settled (``calls`` == 0: refused before the first call, unsupported,
    unreachable), or it ended in an error before the model produced a single output token
    (``status`` "error" with ``output_tokens`` == 0: a provider that failed on the first call is
    still charged an estimated prompt by the engine, so ``calls`` alone would count it).
    Errored: ended in an error after the model produced output. Missing columns mean "ok".
    """
    out = pd.Series(OK, index=df.index, dtype="object")
    errored = df["status"].eq("error") if "status" in df.columns else pd.Series(False, index=df.index)
    failed = pd.Series(False, index=df.index)
    if "calls" in df.columns:
        failed |= pd.to_numeric(df["calls"], errors="coerce").fillna(0).eq(0)
    if "output_tokens" in df.columns:
        failed |= errored & pd.to_numeric(df["output_tokens"], errors="coerce").fillna(0).eq(0)
    out[errored] = ERRORED
    out[failed] = FAILED
    return out


def failure_reason(row: pd.Series | dict[str, Any]) -> str:
    """Why a failed result is not a result, in a line: its error text, else how it stopped."""
    error = row.get("error")
    if isinstance(error, str) and error.strip():
        text = " ".join(error.split())
        return text if len(text) <= 200 else text[:199] + "…"
    stop = row.get("stop_reason")
    if isinstance(stop, str) and stop:
        return f"stopped ({stop}) before any model call"
    return "no model call was made"


# ---------------------------------------------------------------------------------------------
# Leaderboard pieces


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with a verdict, `correct` as 0.0/1.0."""
    correct = pd.to_numeric(df["correct"], errors="coerce")
    out = df.loc[correct.notna()].copy()
    out["correct"] = correct[correct.notna()].astype(float)
    return out


def _group_keys(df: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    return list(by) if by is not None else [c for c in GROUP_COLUMNS if c in df.columns]


def accuracy_by_budget(df: pd.DataFrame, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                       by: Sequence[str] | None = None, item_col: str = "item_id") -> pd.DataFrame:
    """Accuracy per (strategy[, model], budget) with percentile-bootstrap confidence intervals.

    Columns: the group keys (default: whichever of strategy, model are present), budget, n (rows
    with a verdict), accuracy, ci_low, ci_high. Each group is bootstrapped from a fresh generator
    seeded with ``seed``, so its interval does not depend on which other groups are present.
    Every row with a verdict counts (pass only the results, not failed ones).
    """
    keys = _group_keys(df, by)
    return accuracy_by_budget_counts(item_cells(_scored(df), keys, item_col), keys, n_boot=n_boot, ci=ci,
                                     seed=seed)


def accuracy_by_budget_counts(cells: pd.DataFrame, keys: Sequence[str], n_boot: int = 1000, ci: float = 0.95,
                              seed: int = 0) -> pd.DataFrame:
    """accuracy_by_budget from ``item_cells`` (one row per group, budget and item: n, correct)."""
    keys = [*keys, "budget"]
    columns = [*keys, "n", "accuracy", "ci_low", "ci_high"]
    if cells.empty:
        return pd.DataFrame(columns=columns)
    codes, groups = group_codes(cells, keys, dropna=False)
    n_groups = len(groups[keys[0]])
    n = cells["n"].to_numpy(dtype=float)
    correct = cells["correct"].to_numpy(dtype=float)
    lows, highs = grouped_ci_counts(codes, correct, n, n_groups, n_boot=n_boot, ci=ci, seed=seed)
    totals, rights = np.bincount(codes, weights=n, minlength=n_groups), np.bincount(codes, weights=correct,
                                                                                    minlength=n_groups)
    return pd.DataFrame({**groups, "n": totals.astype(np.int64), "accuracy": rights / totals, "ci_low": lows,
                         "ci_high": highs}, columns=columns)


def item_cells(scored: pd.DataFrame, keys: Sequence[str], item_col: str = "item_id") -> pd.DataFrame:
    """Scored rows (`correct` 0/1) reduced to one row per (keys, budget, item): ``n`` rows and
    ``correct`` of them. ``item`` numbers the items in order of first appearance in the rows (each
    row is its own item without an item column): what every item bootstrap needs of the rows."""
    keys = [*keys, "budget"]
    if item_col in scored.columns:
        item = pd.factorize(scored[item_col], use_na_sentinel=False)[0]
    else:
        item = np.arange(len(scored))
    frame = pd.DataFrame({**{k: scored[k].to_numpy() for k in keys}, "item": item,
                          "correct": scored["correct"].to_numpy(dtype=float)})
    out = frame.groupby([*keys, "item"], sort=True, dropna=False)["correct"].agg(["size", "sum"]).reset_index()
    return out.rename(columns={"size": "n", "sum": "correct"})


def cost_per_correct(df: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """Tokens and dollars spent per correct answer, per strategy (and model when present).

    Sum of cost over the rows with a verdict divided by the number correct. When none is correct the
    ratio is inf if anything was spent and NaN if nothing was (0/0). Rows without a reference are
    left out of both sums: their cost bought no measurable correct answer either way.
    Columns: the group keys, n, n_correct, total_tokens, usd, tokens_per_correct, usd_per_correct.
    """
    keys = _group_keys(df, by)
    scored = _scored(df)
    grouped = scored.groupby(keys, sort=True) if keys else [((), scored)]
    rows: list[dict[str, Any]] = []
    for key, group in grouped:
        n_correct = float(group["correct"].sum())
        tokens = float(pd.to_numeric(group["total_tokens"]).sum())
        usd = float(pd.to_numeric(group["usd"]).sum())
        rows.append({**dict(zip(keys, _as_tuple(key), strict=True)), "n": len(group), "n_correct": int(n_correct),
                     "total_tokens": tokens, "usd": usd,
                     "tokens_per_correct": _per(tokens, n_correct), "usd_per_correct": _per(usd, n_correct)})
    return pd.DataFrame(rows, columns=[*keys, "n", "n_correct", "total_tokens", "usd",
                                       "tokens_per_correct", "usd_per_correct"])


def _as_tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _per(cost: float, n_correct: float) -> float:
    if n_correct > 0:
        return cost / n_correct
    return float("inf") if cost > 0 else float("nan")


def pareto_frontier(df: pd.DataFrame, cost_col: str, quality_col: str) -> pd.Series:
    """Boolean mask (aligned to df.index) of the rows no other row dominates.

    Row j dominates row i when cost_j <= cost_i and quality_j >= quality_i with at least one strict.
    Ties: two rows with equal cost AND equal quality do not dominate each other, so both stay on the
    frontier; at equal cost with different quality only the better one stays. Rows with a missing
    cost or quality are never on the frontier, nor are rows of zero quality: spending nothing buys
    as much, so being the cheapest of them is no trade-off worth naming. ``df[mask]`` gives the
    frontier rows.
    """
    cost = pd.to_numeric(df[cost_col], errors="coerce").to_numpy(dtype=float)
    quality = pd.to_numeric(df[quality_col], errors="coerce").to_numpy(dtype=float)
    return pd.Series(frontier_mask(cost, quality), index=df.index, name="on_frontier")


def frontier_mask(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """pareto_frontier over arrays of cost and quality (NaN: missing)."""
    valid = ~(np.isnan(cost) | np.isnan(quality)) & (quality > 0)
    c, q = cost[valid], quality[valid]
    # no_worse[j, i]: row j is at least as good as row i on both axes
    no_worse = (c[:, None] <= c[None, :]) & (q[:, None] >= q[None, :])
    strictly = (c[:, None] < c[None, :]) | (q[:, None] > q[None, :])
    dominated = (no_worse & strictly).any(axis=0)
    mask = np.zeros(len(cost), dtype=bool)
    mask[np.flatnonzero(valid)] = ~dominated
    return mask


def budget_label(budget: float) -> str:
    """Column suffix for a budget: 1000.0 -> '1000', 0.5 -> '0.5'."""
    return str(int(budget)) if float(budget).is_integer() else f"{budget:g}"


def clear_claims(board: pd.DataFrame) -> bool:
    """Whether a board supports naming a winner or a frontier at all: some two of its ranked rows
    are told apart.

    No when fewer than two rows are ranked or every accuracy is the same (all 0 included). Else
    yes when two accuracy intervals do not overlap (in one dimension: the highest lower bound is
    above the lowest upper bound; intervals that only touch do not overlap), or, when the board
    has bootstrap rank ranges (rank_low, rank_high), when two rows' rank ranges do not overlap
    (a paired resampling can separate strategies whose intervals overlap).
    """
    ranked = board.loc[pd.to_numeric(board["accuracy"], errors="coerce").notna()]
    if len(ranked) < 2:
        return False
    ranks = None
    if {"rank_low", "rank_high"} <= set(ranked.columns):
        ranks = tuple(pd.to_numeric(ranked[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                      for c in ("rank_low", "rank_high"))
    return claims_apart(*(ranked[c].astype(float).to_numpy() for c in ("accuracy", "ci_low", "ci_high")), ranks)


def claims_apart(accuracy: np.ndarray, low: np.ndarray, high: np.ndarray,
                 ranks: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """clear_claims over the ranked rows' arrays (accuracy without NaN; ``ranks``: their rank_low
    and rank_high when the board has them). A missing bound or rank is skipped, as pandas skips
    it."""
    if len(accuracy) < 2 or len(np.unique(accuracy)) <= 1:
        return False
    if _skipna(np.max, low) > _skipna(np.min, high):
        return True
    if ranks is not None:
        rank_low, rank_high = ranks
        return bool(_skipna(np.min, rank_high) < _skipna(np.max, rank_low))
    return False


def _skipna(reduce: Any, values: np.ndarray) -> float:
    """Series.max / Series.min of the values: NaN skipped, NaN when none is left."""
    values = values[~np.isnan(values)]
    return float(reduce(values)) if len(values) else float("nan")


