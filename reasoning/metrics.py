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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

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


def bootstrap_ci(correct: np.ndarray, items: np.ndarray | None = None, *, n_boot: int = 1000,
                 ci: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval for mean correctness, resampling items (rows when no ids).

    With item ids, each resample draws items with replacement and takes every row of a drawn item,
    so repeated runs of one problem are not counted as independent evidence.
    """
    correct = np.asarray(correct, dtype=float)
    if len(correct) == 0:
        return float("nan"), float("nan")
    if items is None:
        sums, counts = correct, np.ones_like(correct)
    else:
        codes, _ = pd.factorize(pd.Series(items))
        sums = np.bincount(codes, weights=correct)
        counts = np.bincount(codes).astype(float)
    return bootstrap_ci_counts(sums, counts, n_boot=n_boot, ci=ci, seed=seed)


def bootstrap_ci_counts(correct: np.ndarray, results: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """bootstrap_ci from per-item counts: ``correct[i]`` of ``results[i]`` scored results of item i
    were right. The same interval as bootstrap_ci over the rows (it reduces them to these counts)."""
    sums = np.asarray(correct, dtype=float)
    counts = np.asarray(results, dtype=float)
    if len(sums) == 0:
        return float("nan"), float("nan")
    # Items with the same (correct, rows) are interchangeable, so a resample is fully described by
    # how many of each kind it drew: a multinomial draw over the kinds, not one draw per item.
    kinds, multiplicity = item_kinds(sums, counts)
    return _kinds_ci(kinds.tobytes(), multiplicity.tobytes(), n_boot, ci, seed)


@lru_cache(maxsize=50_000)
def _kinds_ci(kinds: bytes, multiplicity: bytes, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """bootstrap_ci_counts of items described by their kinds (a pure function of its arguments, so
    a board recomputed after one new result redraws only the groups that changed)."""
    table = np.frombuffer(kinds, dtype=float).reshape(-1, 2)
    many = np.frombuffer(multiplicity, dtype=np.int64)
    n = int(many.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, many / n, size=n_boot)
    means = (draws @ table[:, 0]) / (draws @ table[:, 1])
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def item_kinds(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (sum, count) pairs of the items, sorted by sum then count (as
    np.unique(axis=0) sorts them), and how many items have each. Whole numbers (0/1 outcomes)
    go through one integer key: much faster than a unique over rows."""
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    whole = (len(sums) > 0 and np.all(sums == np.round(sums)) and np.all(counts == np.round(counts))
             and np.abs(sums).max() < 2**20 and np.abs(counts).max() < 2**20)
    if not whole:
        kinds, inverse = np.unique(np.stack([sums, counts], axis=1), axis=0, return_inverse=True)
        return kinds, np.bincount(inverse.ravel(), minlength=len(kinds)).astype(np.int64)
    low_sum, low_count = sums.min(), counts.min()
    span = counts.max() - low_count + 1
    keys, multiplicity = np.unique(((sums - low_sum) * span + (counts - low_count)).astype(np.int64),
                                   return_counts=True)
    first, second = np.divmod(keys, int(span))
    kinds = np.stack([first + low_sum, second + low_count], axis=1).astype(float)
    return kinds, multiplicity.astype(np.int64)


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
    rows: list[dict[str, Any]] = []
    for key, group in cells.groupby(keys, sort=True, dropna=False):
        n = group["n"].to_numpy(dtype=float)
        correct = group["correct"].to_numpy(dtype=float)
        low, high = bootstrap_ci_counts(correct, n, n_boot=n_boot, ci=ci, seed=seed)
        rows.append({**dict(zip(keys, _as_tuple(key), strict=True)), "n": int(n.sum()),
                     "accuracy": float(correct.sum() / n.sum()), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=[*keys, "n", "accuracy", "ci_low", "ci_high"])


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
    valid = ~(np.isnan(cost) | np.isnan(quality)) & (quality > 0)
    c, q = cost[valid], quality[valid]
    # no_worse[j, i]: row j is at least as good as row i on both axes
    no_worse = (c[:, None] <= c[None, :]) & (q[:, None] >= q[None, :])
    strictly = (c[:, None] < c[None, :]) | (q[:, None] > q[None, :])
    dominated = (no_worse & strictly).any(axis=0)
    mask = np.zeros(len(df), dtype=bool)
    mask[np.flatnonzero(valid)] = ~dominated
    return pd.Series(mask, index=df.index, name="on_frontier")


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
    if ranked["accuracy"].astype(float).nunique() <= 1:
        return False
    low, high = ranked["ci_low"].astype(float), ranked["ci_high"].astype(float)
    if low.max() > high.min():
        return True
    if {"rank_low", "rank_high"} <= set(ranked.columns):
        rank_low = pd.to_numeric(ranked["rank_low"], errors="coerce")
        rank_high = pd.to_numeric(ranked["rank_high"], errors="coerce")
        return bool(rank_high.min() < rank_low.max())
    return False


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
    curves = {_as_tuple(k): g for k, g in by_budget.groupby(keys)}
    budgets = sorted(b for b in cells["budget"].dropna().unique())
    sums_by_key = {_as_tuple(k): g for k, g in counts.sums.groupby(keys, sort=True)}
    errored = {_as_tuple(k): int(v) for k, v in zip(counts.errored[keys].itertuples(index=False, name=None),
                                                     counts.errored["errored"], strict=True)}
    rows: list[dict[str, Any]] = []
    for key, group in cells.groupby(keys, sort=True):
        key_tuple = _as_tuple(key)
        ident = dict(zip(keys, key_tuple, strict=True))
        # Each item's results over every budget: the overall interval resamples items.
        per_item = group.groupby("item", sort=False)[["correct", "n"]].sum()
        low, high = bootstrap_ci_counts(per_item["correct"].to_numpy(dtype=float), per_item["n"].to_numpy(dtype=float),
                                        n_boot=n_boot, ci=ci, seed=seed)
        n = int(group["n"].sum())
        n_correct = float(group["correct"].sum())
        row: dict[str, Any] = {**ident, "n": n, "accuracy": n_correct / n, "ci_low": low, "ci_high": high}
        curve = curves.get(key_tuple, by_budget.iloc[0:0])
        # Plain lists from here: a merge per series cost more than the metrics themselves.
        curve_budgets = curve["budget"].tolist()
        per_budget = dict(zip(curve_budgets, curve["accuracy"].tolist(), strict=True))
        for b in budgets:
            row[f"acc@{budget_label(b)}"] = per_budget.get(b, float("nan"))
        spent = sums_by_key[key_tuple]
        tokens, usd, seconds = (float(spent[c].sum()) for c in ("total_tokens", "usd", "seconds"))
        row["mean_tokens"] = tokens / n
        row["mean_usd"] = usd / n
        row["mean_seconds"] = seconds / n
        row["tokens_per_correct"] = _per(tokens, n_correct)
        row["usd_per_correct"] = _per(usd, n_correct)
        row["auc"] = auc_accuracy_budget([(b, per_budget[b]) for b in curve_budgets if b > 0])
        # The accuracy against the mean tokens spent at each budget level the curve has.
        level = [(total / count, per_budget[b]) for b, total, count in
                 zip(spent["budget"].tolist(), spent["total_tokens"].tolist(), spent["n"].tolist(), strict=True)
                 if b == b and b in per_budget]
        row["anytime_index"] = anytime_index(level)
        row["_cost"] = float(spent[cost_col].sum()) / n
        row["errored"] = errored.get(key_tuple, 0)
        rows.append(row)
    acc_cols = [f"acc@{budget_label(b)}" for b in budgets]
    columns = ["rank", *keys, "n", "accuracy", "ci_low", "ci_high", *acc_cols, "mean_tokens", "mean_usd",
               "mean_seconds", "tokens_per_correct", "usd_per_correct", "auc", "anytime_index", "on_frontier",
               "failed", "errored", "failure_reasons"]
    reasons = _failure_reasons(counts.failed, keys)
    if not rows and not reasons:
        return pd.DataFrame(columns=columns)
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
