"""Paired statistics for comparing strategies at equal budget: pure functions, no I/O.

Two strategies run on the same items with the same model and budget give *paired* data: item i
has outcome a_i for A and b_i for B. Pairing removes the items' own difficulty from the
comparison, so it detects smaller differences than comparing two independent accuracies.

- ``mcnemar_exact``: the exact McNemar test. Only discordant pairs carry information about a
  difference (McNemar 1947); under "no difference" each of the n_d = b + c discordant pairs is
  equally likely to favour A or B, so b ~ Binomial(n_d, 1/2) and the two-sided p-value is
  min(1, 2 * P[X <= min(b, c)]).
- ``holm``: Holm's (1979) step-down adjustment, controlling the family-wise error rate across
  every pair shown (it is uniformly more powerful than Bonferroni and needs no independence).
- ``paired_comparisons``: for every pair of strategies at each (model, budget): n paired items,
  both accuracies on those items, the difference, a paired bootstrap CI (items resampled, both
  strategies' outcomes on an item move together), the McNemar p and the Holm-adjusted p.
- ``rank_intervals``: the leaderboard's ranking bootstrapped over items: each strategy's 95% range
  of ranks, as public arena leaderboards show beside the rank.
- ``min_detectable_difference``: the smallest accuracy difference a paired comparison of n items
  detects with 80% power at alpha 0.05 (Connor 1987's sample size for McNemar's test, solved
  for the difference).

Input rows are the leaderboard's (reasoning.metrics): ``strategy, model, budget, correct`` and an
optional ``item_id``; rows whose ``correct`` is NaN (no reference answer) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from reasoning.metrics import _scored, bootstrap_ci

PAIR_COLUMNS = ["model", "budget", "a", "b", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high",
                "a_only", "b_only", "p", "p_holm", "mdd"]
RANK_COLUMNS = ["strategy", "model", "rank_low", "rank_high"]
ALPHA = 0.05
POWER = 0.8
UNKNOWN_DISCORDANCE = 0.5  # two independent strategies at 50% accuracy disagree on half the items


# ---------------------------------------------------------------------------------------------
# Tests and adjustments


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``a_only``: items A got right and B wrong; ``b_only``: the reverse. Exact binomial test of
    a_only against Binomial(a_only + b_only, 1/2): p = min(1, 2 * P[X <= min(a_only, b_only)]).
    No discordant pair gives p = 1 (no evidence either way). Integer arithmetic, so the tail is
    exact for any n (the division at the end is correctly rounded by Python).
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts cannot be negative")
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values, in the input's order (NaN stays NaN and is not counted).

    Sorted ascending, p_(i) becomes max over j <= i of min(1, (m - j + 1) * p_(j)), with m the
    number of tests: compare the adjusted value with alpha to reject at family-wise level alpha.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def min_detectable_difference(n: int, discordance: float | None = None, *, alpha: float = ALPHA,
                              power: float = POWER) -> float:
    """The smallest accuracy difference a paired test on ``n`` items detects with this power.

    Connor (1987), sample size for McNemar's test: with psi the share of discordant items and
    delta the difference in accuracy, n = (z_{1-alpha/2} sqrt(psi) + z_{power} sqrt(psi - delta^2))^2
    / delta^2. Solved here for delta (bisection: the right side falls as delta grows). When psi is
    unknown (before a sweep) it is taken as 0.5, what two independent strategies at 50% accuracy
    give; delta is then close to the unpaired two-proportion figure at p = 0.5,
    (z_{1-alpha/2} + z_{power}) * sqrt(2 * 0.25 / n). A larger psi (strategies that disagree more)
    needs a larger difference. Returns NaN when n < 1 or when no difference up to psi (the largest
    possible) is detectable.
    """
    if n < 1:
        return float("nan")
    psi = UNKNOWN_DISCORDANCE if discordance is None or not math.isfinite(discordance) else float(discordance)
    if psi <= 0:
        return 0.0  # the strategies never disagree: any difference would show (there is none)
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    root_n = math.sqrt(n)

    def excess(delta: float) -> float:  # > 0 when n items are enough for delta
        return root_n * delta - z_alpha * math.sqrt(psi) - z_power * math.sqrt(max(psi - delta * delta, 0.0))

    top = min(psi, 1.0)
    if excess(top) < 0:
        return float("nan")
    low, high = 0.0, top
    for _ in range(60):  # 2^-60 of the range: far below any difference worth printing
        mid = (low + high) / 2
        low, high = (mid, high) if excess(mid) < 0 else (low, mid)
    return high


# ---------------------------------------------------------------------------------------------
# Head to head


def paired_comparisons(df: pd.DataFrame, *, order: Sequence[str] | None = None, n_boot: int = 1000,
                       ci: float = 0.95, seed: int = 0, series: str = "strategy",
                       item_col: str = "item_id") -> pd.DataFrame:
    """Every pair of ``series`` values at each (model, budget) where both have results on the same items.

    Pairing: the k-th result of A on an item is paired with the k-th result of B on it (results in
    the frame's order), so with one result per item this is plain pairing by item; repeats pair
    run by run. The bootstrap resamples items (all pairs of a drawn item together); the McNemar
    test counts pairs. Without an item column each row is its own item, and nothing pairs across
    strategies unless the rows line up, so pass item ids.

    Columns (PAIR_COLUMNS): model, budget, a, b (a is the one with the higher accuracy on the
    paired items; ties keep ``order``), n paired results, acc_a, acc_b, diff = acc_a - acc_b, its
    bootstrap ci_low/ci_high, a_only/b_only (discordant counts), the McNemar p, p_holm (Holm across
    every row returned) and mdd (min_detectable_difference at this n and observed discordance).
    ``order``: series in the order to list them (e.g. the leaderboard's); others follow sorted.
    """
    scored = _scored(df)
    if scored.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    scored = scored.assign(_item=scored[item_col].astype(str) if item_col in scored.columns
                           else np.arange(len(scored)).astype(str))
    if "model" not in scored.columns:
        scored["model"] = ""
    rank: dict[Any, int] = {}
    for name in order or ():
        rank.setdefault(name, len(rank))
    rows: list[dict[str, Any]] = []
    for (model, budget), group in scored.groupby(["model", "budget"], sort=True):
        group = group.assign(_rep=group.groupby([series, "_item"]).cumcount())
        wide = group.pivot(index=["_item", "_rep"], columns=series, values="correct")
        names = sorted(wide.columns, key=lambda s: (rank.get(s, len(rank)), str(s)))
        items = wide.index.get_level_values("_item").to_numpy()
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                both = wide[first].notna().to_numpy() & wide[second].notna().to_numpy()
                if not both.any():
                    continue
                rows.append(_pair(model, budget, first, second, wide[first].to_numpy()[both],
                                  wide[second].to_numpy()[both], items[both], n_boot, ci, seed))
    out = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    return out


def _pair(model: Any, budget: Any, a: Any, b: Any, a_ok: np.ndarray, b_ok: np.ndarray, items: np.ndarray,
          n_boot: int, ci: float, seed: int) -> dict[str, Any]:
    if b_ok.mean() > a_ok.mean():  # name the one ahead first: "A beats B by +d"
        a, b, a_ok, b_ok = b, a, b_ok, a_ok
    a_only = int(np.sum((a_ok > 0.5) & (b_ok < 0.5)))
    b_only = int(np.sum((a_ok < 0.5) & (b_ok > 0.5)))
    n = len(a_ok)
    # The mean of the per-pair differences is acc_a - acc_b; resampling items keeps the pairing.
    low, high = bootstrap_ci(a_ok - b_ok, items, n_boot=n_boot, ci=ci, seed=seed)
    return {"model": model, "budget": budget, "a": a, "b": b, "n": n, "acc_a": float(a_ok.mean()),
            "acc_b": float(b_ok.mean()), "diff": float(a_ok.mean() - b_ok.mean()), "ci_low": low, "ci_high": high,
            "a_only": a_only, "b_only": b_only, "p": mcnemar_exact(a_only, b_only), "p_holm": float("nan"),
            "mdd": min_detectable_difference(n, (a_only + b_only) / n)}


# ---------------------------------------------------------------------------------------------
# Rank intervals


def rank_intervals(df: pd.DataFrame, *, keys: Sequence[str] = ("strategy", "model"), n_boot: int = 1000,
                   ci: float = 0.95, seed: int = 0, item_col: str = "item_id") -> pd.DataFrame:
    """Each series' 95% range of ranks when the leaderboard is recomputed on resampled items.

    The ranking is reasoning.metrics.leaderboard's: AUC of accuracy against log budget (positive
    budgets), then overall accuracy, both descending. Each resample draws the items with
    replacement once for every series, so series that ran on the same items stay paired. Within a
    resample a series ranks 1 + (series strictly ahead) at best and (series ahead or level) at
    worst, so exact ties widen the range instead of being broken by name; the range is the
    (1-ci)/2 quantile of the best ranks to the 1-(1-ci)/2 quantile of the worst. A series none of
    whose items was drawn sits that resample out (its rank comes from the others).
    Columns: the keys, rank_low, rank_high.
    """
    keys = [k for k in keys if k in df.columns]
    scored = _scored(df)
    if scored.empty:
        return pd.DataFrame(columns=[*keys, "rank_low", "rank_high"])
    item_codes, _ = pd.factorize(scored[item_col].astype(str)) if item_col in scored.columns else (
        np.arange(len(scored)), None)
    n_items = int(item_codes.max()) + 1
    series_codes, series_index = pd.factorize(pd.MultiIndex.from_frame(scored[keys]))
    budgets = scored["budget"].to_numpy(dtype=float)
    budget_values = np.unique(budgets[np.isfinite(budgets)])
    budget_codes = np.searchsorted(budget_values, budgets)
    # One cell per (series, budget) plus one per series for its overall accuracy; each row of
    # the data adds to its item's count in both. Sums are accumulated per (cell, item) pair once.
    n_series, n_budgets = len(series_index), len(budget_values)
    curve_cell = series_codes * n_budgets + np.where(budgets > 0, budget_codes, 0)
    positive = np.isfinite(budgets) & (budgets > 0)
    cells = np.concatenate([np.where(positive, curve_cell, -1), n_series * n_budgets + series_codes])
    rows_items = np.concatenate([item_codes, item_codes])
    correct = np.concatenate([scored["correct"].to_numpy(dtype=float)] * 2)
    keep = cells >= 0
    pair_keys = cells[keep].astype(np.int64) * n_items + rows_items[keep]
    unique_pairs, inverse = np.unique(pair_keys, return_inverse=True)
    pair_sum = np.bincount(inverse, weights=correct[keep])
    pair_count = np.bincount(inverse).astype(float)
    pair_cell, pair_item = np.divmod(unique_pairs, n_items)
    n_cells = n_series * n_budgets + n_series

    rng = np.random.default_rng(seed)
    # Resamples in chunks: memory stays bounded (a few 10 MB) whatever the store's size.
    budget_per_chunk = 4_000_000
    chunk = max(1, min(n_boot, budget_per_chunk // max(len(unique_pairs), n_items, n_series * n_series, 1)))
    best = np.empty((n_boot, n_series))
    worst = np.empty((n_boot, n_series))
    present = np.empty((n_boot, n_series), dtype=bool)
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        # Item weights of `size` resamples: how often each item was drawn (n_items draws each).
        draws = rng.integers(0, n_items, size=(size, n_items)) + (np.arange(size) * n_items)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n_items).reshape(size, n_items).astype(float)
        w = weights[:, pair_item]
        sums = _per_cell(w * pair_sum, pair_cell, n_cells)
        counts = _per_cell(w * pair_count, pair_cell, n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = sums / counts  # NaN where no drawn item has a result in the cell
        curves = acc[:, : n_series * n_budgets].reshape(size, n_series, n_budgets)
        part = slice(done, done + size)
        best[part], worst[part], present[part] = _ranks(_log_auc(curves, budget_values),
                                                        acc[:, n_series * n_budgets:])
        done += size
    tail = (1 - ci) / 2
    low, high = np.full(n_series, np.nan), np.full(n_series, np.nan)
    for s in range(n_series):
        seen = present[:, s]
        if seen.any():
            low[s] = np.quantile(best[seen, s], tail, method="lower")
            high[s] = np.quantile(worst[seen, s], 1 - tail, method="higher")
    out = series_index.to_frame(index=False)
    out.columns = keys
    out["rank_low"], out["rank_high"] = low, high
    return out


def _per_cell(values: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Sum each row of ``values`` (resamples x pairs) into its cells: (resamples x cells)."""
    size = values.shape[0]
    flat = (np.arange(size)[:, None] * n_cells + cell[None, :]).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=size * n_cells).reshape(size, n_cells)


def _log_auc(curves: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """metrics.auc_accuracy_budget for every (resample, series) curve at once: the trapezoid rule
    over log budget divided by the log range, over the budgets with a value (NaN: none; one
    budget: its value). Curves sharing a pattern of missing budgets share the weights."""
    size, n_series, n_budgets = curves.shape
    out = np.full((size, n_series), np.nan)
    if n_budgets == 0:
        return out
    logs = np.log(budgets)
    present = ~np.isnan(curves.reshape(-1, n_budgets))
    patterns, codes = np.unique(present, axis=0, return_inverse=True)
    codes = codes.ravel()
    flat_curves = np.nan_to_num(curves.reshape(-1, n_budgets))
    flat_out = out.reshape(-1)
    for code, pattern in enumerate(patterns):
        where = np.flatnonzero(pattern)
        if len(where) == 0:
            continue
        weights = np.zeros(n_budgets)
        if len(where) == 1:
            weights[where[0]] = 1.0
        else:
            widths = np.diff(logs[where]) / (logs[where[-1]] - logs[where[0]])
            weights[where[:-1]] += widths / 2
            weights[where[1:]] += widths / 2
        idx = np.flatnonzero(codes == code)
        flat_out[idx] = flat_curves[idx] @ weights
    return flat_out.reshape(size, n_series)


def _ranks(auc: np.ndarray, overall: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample and series: the best rank (1 + series strictly ahead), the worst rank (series
    ahead or level, itself included) and whether it has a score at all (a series without one is
    left out of that resample's ranking). Ahead: higher AUC, or equal AUC and higher accuracy."""
    present = ~np.isnan(auc) | ~np.isnan(overall)
    a = np.where(np.isnan(auc), -np.inf, auc)
    o = np.where(np.isnan(overall), -np.inf, overall)
    # ahead[r, i, j]: in resample r, series j ranks ahead of series i
    same_auc = a[:, None, :] == a[:, :, None]
    ahead = (a[:, None, :] > a[:, :, None]) | (same_auc & (o[:, None, :] > o[:, :, None]))
    level = same_auc & (o[:, None, :] == o[:, :, None])
    ahead &= present[:, None, :]
    level &= present[:, None, :]
    return 1 + ahead.sum(axis=2), (ahead | level).sum(axis=2), present
