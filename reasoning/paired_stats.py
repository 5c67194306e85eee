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

from reasoning.bootstrap import _kinds_interval, _matmul
from reasoning.metrics import _scored

PAIR_COLUMNS = ["model", "budget", "a", "b", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high",
                "a_only", "b_only", "p", "p_holm", "mdd"]
ALPHA = 0.05
POWER = 0.8
EXACT_TAIL_LIMIT = 1024  # discordant pairs up to which the McNemar tail is summed in integers
UNKNOWN_DISCORDANCE = 0.5  # two independent strategies at 50% accuracy disagree on half the items


# ---------------------------------------------------------------------------------------------
# Tests and adjustments


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``a_only``: items A got right and B wrong; ``b_only``: the reverse. Exact binomial test of
    a_only against Binomial(a_only + b_only, 1/2): p = min(1, 2 * P[X <= min(a_only, b_only)]).
    No discordant pair gives p = 1 (no evidence either way). Up to EXACT_TAIL_LIMIT discordant
    pairs the tail is summed in integers (each term from the last: C(n, i+1) = C(n, i)(n-i)/(i+1)),
    so it is exact; beyond, in logarithms (relative error far below 1e-9; the integers grow to n bits
    and summing them took ~0.6 ms a pair at a million results).
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts cannot be negative")
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    if n <= EXACT_TAIL_LIMIT:
        term = tail = 1
        for i in range(k):
            term = term * (n - i) // (i + 1)
            tail += term
        return min(1.0, 2 * tail / 2**n)
    i = np.arange(k, dtype=float)
    logs = np.concatenate([[0.0], np.cumsum(np.log((n - i) / (i + 1)))])  # log C(n, 0..k)
    top = logs.max()
    log_tail = top + math.log(float(np.sum(np.exp(logs - top)))) - n * math.log(2.0)
    return min(1.0, 2 * math.exp(log_tail))


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
    / delta^2. Solved here for delta (in closed form: a quadratic once squared). When psi is
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
    # sqrt(n) delta - z_alpha sqrt(psi) = z_power sqrt(psi - delta^2), squared, is a quadratic in
    # delta; its larger root is the one with a non-negative left side:
    # delta = (z_alpha sqrt(psi n) + z_power sqrt(psi (n + z_power^2 - z_alpha^2))) / (n + z_power^2).
    spread = n + z_power**2 - z_alpha**2
    if spread < 0:
        return float("nan")
    delta = (z_alpha * math.sqrt(psi * n) + z_power * math.sqrt(psi * spread)) / (n + z_power**2)
    return delta if delta <= psi else float("nan")


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
    items = pd.factorize(scored[item_col])[0] if item_col in scored.columns else np.arange(len(scored))
    models = scored["model"].to_numpy() if "model" in scored.columns else np.full(len(scored), "", dtype=object)
    return paired_comparisons_arrays(models, scored["budget"].to_numpy(), scored[series].to_numpy(), items,
                                     scored["correct"].to_numpy(dtype=float), order=order, n_boot=n_boot, ci=ci,
                                     seed=seed)


def paired_comparisons_arrays(model: np.ndarray, budget: np.ndarray, series: np.ndarray, item: np.ndarray,
                              correct: np.ndarray, *, order: Sequence[str] | None = None, n_boot: int = 1000,
                              ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """paired_comparisons from one entry per scored result, in the results' order (which pairs the
    k-th result of A on an item with the k-th of B): its model, budget, series, item (any integer
    code) and correct (0/1). The same table as paired_comparisons over those rows."""
    if len(correct) == 0:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    rank: dict[Any, int] = {}
    for name in order or ():
        rank.setdefault(name, len(rank))
    rows: list[dict[str, Any]] = []
    # each pair's per-item difference sums and pair counts, its cell, and the items' codes
    per_item: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
    # Plain arrays, sorted once by (model, budget) cell, series and item: the pairs are many, so no
    # pandas inside the loops. The sort is stable, so a series' results on an item keep their order
    # and `rep` numbers them: the k-th run of one series on an item pairs with the k-th of another.
    correct = np.asarray(correct, dtype=float)
    budget = np.asarray(budget, dtype=float)
    known = ~np.isnan(budget)  # a (model, budget) cell needs a budget (as a groupby drops NaN keys)
    model_codes, model_names = pd.factorize(np.asarray(model, dtype=object)[known], sort=True)
    budget_values, budget_codes = np.unique(budget[known], return_inverse=True)
    series_codes, series_names = pd.factorize(np.asarray(series, dtype=object)[known])
    items_all = np.asarray(item, dtype=np.int64)[known]
    correct = correct[known]
    cells_all = model_codes.astype(np.int64) * len(budget_values) + budget_codes.ravel()
    order_rows = np.lexsort((items_all, series_codes, cells_all))
    cells_sorted = cells_all[order_rows]
    run_key = np.stack([cells_sorted, series_codes[order_rows], items_all[order_rows]])
    starts = np.flatnonzero(np.r_[True, np.any(run_key[:, 1:] != run_key[:, :-1], axis=0)])
    rep_sorted = np.arange(len(order_rows)) - np.repeat(starts, np.diff(np.r_[starts, len(order_rows)]))
    bounds = np.flatnonzero(np.r_[True, cells_sorted[1:] != cells_sorted[:-1], True])
    for cell, (begin, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        rows_of = order_rows[begin:end]
        cell_code = int(cells_sorted[begin])
        cell_model = model_names[cell_code // len(budget_values)]
        cell_budget = budget_values[cell_code % len(budget_values)]
        local_series, series_in_cell = pd.factorize(series_codes[rows_of])
        names = [series_names[code] for code in series_in_cell]
        items = items_all[rows_of]
        rep = rep_sorted[begin:end]
        runs = int(rep.max()) + 1
        # one row per (item, k-th run): the k-th runs of two strategies on an item are a pair
        key_codes, keys = pd.factorize(items * runs + rep)
        key_item = np.asarray(keys) // runs
        wide = np.full((len(keys), len(names)), np.nan)
        wide[key_codes, local_series] = correct[rows_of]
        ordered = sorted(range(len(names)), key=lambda k: (rank.get(names[k], len(rank)), str(names[k])))
        for i, first in enumerate(ordered):
            for second in ordered[i + 1:]:
                both = ~np.isnan(wide[:, first]) & ~np.isnan(wide[:, second])
                if not both.any():
                    continue
                row, diffs = _pair(cell_model, cell_budget, names[first], names[second], wide[both, first],
                                   wide[both, second])
                rows.append(row)
                if runs == 1:  # one pair per item
                    per_item.append((diffs, np.ones(len(diffs)), cell, key_item[both]))
                else:
                    paired_items, codes = np.unique(key_item[both], return_inverse=True)
                    codes = codes.ravel()
                    per_item.append((np.bincount(codes, weights=diffs), np.bincount(codes).astype(float), cell,
                                     paired_items))
    _fill_intervals(rows, per_item, n_boot, ci, seed)
    out = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    return out


def _pair(model: Any, budget: Any, a: Any, b: Any, a_ok: np.ndarray,
          b_ok: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """A pair's row (its interval still to fill) and its per-pair differences a - b."""
    if b_ok.mean() > a_ok.mean():  # name the one ahead first: "A beats B by +d"
        a, b, a_ok, b_ok = b, a, b_ok, a_ok
    a_only = int(np.sum((a_ok > 0.5) & (b_ok < 0.5)))
    b_only = int(np.sum((a_ok < 0.5) & (b_ok > 0.5)))
    n = len(a_ok)
    row = {"model": model, "budget": budget, "a": a, "b": b, "n": n, "acc_a": float(a_ok.mean()),
           "acc_b": float(b_ok.mean()), "diff": float(a_ok.mean() - b_ok.mean()), "ci_low": float("nan"),
           "ci_high": float("nan"), "a_only": a_only, "b_only": b_only, "p": mcnemar_exact(a_only, b_only),
           "p_holm": float("nan"), "mdd": min_detectable_difference(n, (a_only + b_only) / n)}
    return row, a_ok - b_ok


def _fill_intervals(rows: list[dict[str, Any]], per_item: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]],
                    n_boot: int, ci: float, seed: int) -> None:
    """The paired bootstrap interval of every pair: the mean difference over resampled items.

    ``per_item``: per pair, each of its items' difference sum and number of pairs, the pair's
    (model, budget) cell and the items' codes. Pairs with one 0/1 result pair per item (no
    repeats) are drawn together: an item's difference is -1, 0 or +1, so a resample is fully
    described by how many of each it drew (a multinomial, as successive binomials vectorised over
    pairs and resamples). Pairs with repeated runs (items of several pairs, any kinds) are drawn
    per cell: one resample of the cell's items (its problems, drawn with replacement, as
    rank_intervals draws them) serves every such pair of the cell, whose mean difference is then
    sum(drawn items' sums) / sum(drawn items' pairs): a product of the pairs' per-item sums with
    the items' draw counts. (One multinomial per pair over its items' kinds, as before, drew tens
    of millions of binomials at a million results.)"""
    simple = [k for k, (sums, counts, _, _) in enumerate(per_item)
              if len(sums) and np.all(counts == 1) and np.all(np.isin(sums, (-1.0, 0.0, 1.0)))]
    rng = np.random.default_rng(seed)
    alpha = (1.0 - ci) / 2.0
    chunk = max(1, 4_000_000 // max(n_boot, 1))
    for begin in range(0, len(simple), chunk):
        batch = simple[begin:begin + chunk]
        n = np.array([len(per_item[k][0]) for k in batch])
        down = np.array([np.count_nonzero(per_item[k][0] < 0) for k in batch]) / n
        up = np.array([np.count_nonzero(per_item[k][0] > 0) for k in batch]) / n
        draws_down = rng.binomial(np.repeat(n[:, None], n_boot, axis=1), down[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            up_given_rest = np.where(down < 1, up / (1 - down), 0.0)
        draws_up = rng.binomial(n[:, None] - draws_down, np.clip(up_given_rest, 0, 1)[:, None])
        means = (draws_up - draws_down) / n[:, None]
        lows, highs = np.quantile(means, [alpha, 1.0 - alpha], axis=1)
        for k, low, high in zip(batch, lows, highs, strict=True):
            rows[k]["ci_low"], rows[k]["ci_high"] = float(low), float(high)
    others = sorted(set(range(len(per_item))) - set(simple))
    for cell in sorted({per_item[k][2] for k in others}):
        _cell_intervals(rows, per_item, [k for k in others if per_item[k][2] == cell],
                        [k for k, entry in enumerate(per_item) if entry[2] == cell], n_boot, alpha, seed)


def _cell_intervals(rows: list[dict[str, Any]], per_item: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]],
                    pairs: list[int], cell_pairs: list[int], n_boot: int, alpha: float, seed: int) -> None:
    """Intervals of `pairs` (of one cell) from one resample of the cell's items (those of
    `cell_pairs`), fresh from `seed`: a cell's intervals do not depend on the other cells."""
    items = np.unique(np.concatenate([per_item[k][3] for k in cell_pairs]))
    n_items = len(items)
    # Whole numbers (0/1 outcomes) are exact in float32 (below 2^24), half the work of float64.
    whole = all(np.all(per_item[k][0] == np.round(per_item[k][0])) for k in pairs) \
        and sum(float(per_item[k][1].sum()) for k in pairs) < 2**24 / max(n_items, 1)
    dtype = np.float32 if whole else np.float64
    sums = np.zeros((len(pairs), n_items), dtype=dtype)
    counts = np.zeros((len(pairs), n_items), dtype=dtype)
    for row, k in enumerate(pairs):
        where = np.searchsorted(items, per_item[k][3])
        sums[row, where] = per_item[k][0]
        counts[row, where] = per_item[k][1]
    rng = np.random.default_rng(seed)
    means = np.empty((len(pairs), n_boot))
    chunk = max(1, min(n_boot, 4_000_000 // max(n_items, 1)))
    for begin in range(0, n_boot, chunk):
        size = min(chunk, n_boot - begin)
        draws = rng.integers(0, n_items, size=(size, n_items)) * size + np.arange(size)[:, None]
        weights = np.bincount(draws.ravel(), minlength=n_items * size).reshape(n_items, size).astype(dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, begin:begin + size] = (_matmul(sums, weights).astype(float)
                                            / _matmul(counts, weights).astype(float))
    # A resample that drew none of a pair's items says nothing about it (rare: few items).
    lows, highs = np.nanquantile(means, [alpha, 1.0 - alpha], axis=1)
    for k, low, high in zip(pairs, lows, highs, strict=True):
        rows[k]["ci_low"], rows[k]["ci_high"] = float(low), float(high)


def paired_bootstrap_ci(diffs: np.ndarray, items: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean paired difference, resampling items.

    ``diffs``: a_i - b_i per pair; ``items``: each pair's item. A resample draws the items with
    replacement and takes all pairs of a drawn item, as metrics.bootstrap_ci does.
    """
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) == 0:
        return float("nan"), float("nan")
    codes = np.unique(np.asarray(items), return_inverse=True)[1].ravel()
    return _kinds_interval(np.bincount(codes, weights=diffs), np.bincount(codes).astype(float), n_boot=n_boot,
                           ci=ci, seed=seed)

