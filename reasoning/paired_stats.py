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
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from reasoning.metrics import _kinds_ci, _scored, item_cells, item_kinds

PAIR_COLUMNS = ["model", "budget", "a", "b", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high",
                "a_only", "b_only", "p", "p_holm", "mdd"]
RANK_COLUMNS = ["strategy", "model", "rank_low", "rank_high"]
ALPHA = 0.05
POWER = 0.8
DENSE_LIMIT = 4_000_000  # items x (strategy, budget) cells up to which the rank bootstrap multiplies matrices
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


def _multinomial(rng: np.random.Generator, n: int, shares: np.ndarray, size: int) -> np.ndarray:
    """``size`` multinomial draws of n over a few categories, as successive binomials (each one
    vectorised over the draws): the same distribution as rng.multinomial, much faster for few
    categories and many draws."""
    out = np.zeros((size, len(shares)), dtype=np.int64)
    left = np.full(size, n, dtype=np.int64)
    rest = 1.0
    for k, share in enumerate(shares[:-1]):
        p = min(1.0, share / rest) if rest > 0 else 0.0
        out[:, k] = rng.binomial(left, p)
        left -= out[:, k]
        rest -= share
    out[:, -1] = left
    return out


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


def forget_intervals() -> None:
    """Drop the memoised bootstrap intervals (benchmarks measure a cold start with it)."""
    _kinds_draws.cache_clear()
    _kinds_ci.cache_clear()


def _kinds_interval(sums: np.ndarray, counts: np.ndarray, *, n_boot: int, ci: float,
                    seed: int) -> tuple[float, float]:
    """Percentile interval of sum(drawn sums) / sum(drawn counts) over item resamples. Items with
    the same (sum, count) are interchangeable, and 0/1 outcomes give few such kinds, so a resample
    is one multinomial draw over the kinds."""
    if len(sums) == 0:
        return float("nan"), float("nan")
    kinds, multiplicity = item_kinds(sums, counts)
    return _kinds_draws(kinds.tobytes(), multiplicity.tobytes(), n_boot, ci, seed)


@lru_cache(maxsize=50_000)
def _kinds_draws(kinds: bytes, multiplicity: bytes, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """_kinds_interval of items described by their kinds (a pure function of its arguments, so a
    head-to-head recomputed after one new result redraws only the pairs that changed)."""
    table = np.frombuffer(kinds, dtype=float).reshape(-1, 2)
    many = np.frombuffer(multiplicity, dtype=np.int64)
    n = int(many.sum())
    draws = _multinomial(np.random.default_rng(seed), n, many / n, n_boot)
    means = (draws @ table[:, 0]) / (draws @ table[:, 1])
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


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
    Columns: the keys, rank_low, rank_high (series in order of first appearance).
    """
    keys = [k for k in keys if k in df.columns]
    scored = _scored(df)
    if scored.empty:
        return pd.DataFrame(columns=[*keys, "rank_low", "rank_high"])
    if item_col in scored.columns:
        scored = scored.assign(**{item_col: scored[item_col].astype(str)})
    out = rank_intervals_counts(item_cells(scored, keys, item_col), keys, results=len(scored), n_boot=n_boot, ci=ci,
                                seed=seed)
    appearance = scored.groupby(keys, sort=False, dropna=False).size().index.to_frame(index=False)
    appearance.columns = keys
    return appearance.merge(out, on=keys, how="left")


def rank_intervals_counts(cells: pd.DataFrame, keys: Sequence[str], *, results: int, n_boot: int = 1000,
                          ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """rank_intervals from metrics.item_cells (one row per series, budget and item: n scored
    results, correct of them; items numbered in order of first appearance, which decides the item
    each draw picks). ``results``: the number of scored results (sum of n). The same ranges as
    rank_intervals over the rows they count. Columns: the keys, rank_low, rank_high (keys sorted)."""
    keys = list(keys)
    if cells.empty:
        return pd.DataFrame(columns=[*keys, "rank_low", "rank_high"])
    item_codes = cells["item"].to_numpy(dtype=np.int64)
    n_items = int(item_codes.max()) + 1
    grouped = cells.groupby(keys, sort=True, dropna=False)
    series_codes = grouped.ngroup().to_numpy()
    series_index = grouped.size().index
    budgets = cells["budget"].to_numpy(dtype=float)
    budget_values = np.unique(budgets[np.isfinite(budgets)])
    budget_codes = np.searchsorted(budget_values, budgets)
    positive = budget_values > 0  # AUC is over a log axis; overall accuracy counts every budget
    # One cell per (series, budget); a series' overall accuracy is the sum over its cells. Each
    # (cell, item) pair is summed once; a resample then weighs the pairs by their item's draws.
    n_series, n_budgets = len(series_index), len(budget_values)
    finite = np.isfinite(budgets)
    cell_of = (series_codes * n_budgets + budget_codes)[finite].astype(np.int64)
    pair_keys = cell_of * n_items + item_codes[finite]
    unique_pairs, inverse = np.unique(pair_keys, return_inverse=True)
    pair_sum = np.bincount(inverse, weights=cells["correct"].to_numpy(dtype=float)[finite])
    pair_count = np.bincount(inverse, weights=cells["n"].to_numpy(dtype=float)[finite])
    pair_cell, pair_item = np.divmod(unique_pairs, n_items)
    n_cells = n_series * n_budgets
    # unique_pairs is sorted, so each cell's pairs are one contiguous run starting here
    starts = np.flatnonzero(np.r_[True, pair_cell[1:] != pair_cell[:-1]]) if len(pair_cell) else pair_cell
    run_cells = pair_cell[starts]
    # 0/1 outcomes make every sum a whole number below the row count, which float32 holds exactly
    # (below 2^24) while moving half the memory of float64: the sums are the bulk of the work.
    whole = bool(np.all(pair_sum == np.round(pair_sum))) and results < 2**24
    dtype = np.float32 if whole else np.float64
    pair_sum = pair_sum.astype(dtype)
    pair_count = pair_count.astype(dtype)
    # Where most (item, cell) pairs exist (a sweep: every strategy on every item at every budget),
    # a cells x items matrix times the weights is one product; a sparse store sums pairs. The
    # product runs on one BLAS thread (_matmul): OpenBLAS threads on a busy 2-core server made it
    # 80x slower than one thread. With such a BLAS the product beats summing pairs even on a
    # sparser matrix. Whole sums are exact in either, so the ranges do not depend on the path.
    blas = _one_thread_blas() is not None
    dense = n_items * n_cells <= (DENSE_LIMIT if blas else min(DENSE_LIMIT, 4 * max(len(unique_pairs), 1)))
    if dense:
        dense_sum = np.zeros((n_cells, n_items), dtype=dtype)
        dense_count = np.zeros((n_cells, n_items), dtype=dtype)
        dense_sum[pair_cell, pair_item] = pair_sum
        dense_count[pair_cell, pair_item] = pair_count

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
        # Item weights of `size` resamples (how often each item was drawn, n_items draws each),
        # items along the first axis: gathering and summing whole rows is what numpy does fastest.
        draws = rng.integers(0, n_items, size=(size, n_items)) * size + np.arange(size)[:, None]
        weights = np.bincount(draws.ravel(), minlength=n_items * size).reshape(n_items, size).astype(dtype)
        if dense:
            counts = _matmul(dense_count, weights).reshape(n_series, n_budgets, size)
            sums = _matmul(dense_sum, weights).reshape(n_series, n_budgets, size)
        else:
            w = weights[pair_item]  # pairs x resamples
            counts = _per_cell(w * pair_count[:, None], starts, run_cells, n_cells).reshape(n_series, n_budgets, size)
            w *= pair_sum[:, None]
            sums = _per_cell(w, starts, run_cells, n_cells).reshape(n_series, n_budgets, size)
        sums, counts = sums.astype(float), counts.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            curves = (sums / counts).transpose(2, 0, 1)  # NaN where no drawn item has a result in the cell
            overall = (sums.sum(axis=1) / counts.sum(axis=1)).T
        part = slice(done, done + size)
        best[part], worst[part], present[part] = _ranks(_log_auc(curves[:, :, positive], budget_values[positive]),
                                                        overall)
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


@cache
def _one_thread_blas() -> Callable[[int], int] | None:
    """OpenBLAS's per-thread thread count setter (openblas_set_num_threads_local, OpenBLAS 0.3.27+)
    from the library numpy was built with; None when numpy uses another BLAS."""
    import ctypes
    from pathlib import Path

    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*")) if libs.is_dir() else []:
        try:
            setter = ctypes.CDLL(str(path)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b on one BLAS thread when the BLAS can be told so, else numpy's own loop (einsum)."""
    setter = _one_thread_blas()
    if setter is None:
        return np.einsum("ci,ir->cr", a, b, optimize=False)
    before = setter(1)
    try:
        return a @ b
    finally:
        setter(before)


def _per_cell(values: np.ndarray, starts: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
    """Sum the rows of ``values`` (pairs x resamples, pairs sorted by cell) over each cell's run of
    pairs: (cells x resamples), zero for a cell without pairs."""
    out = np.zeros((n_cells, values.shape[1]), dtype=values.dtype)
    if len(starts):
        out[cells] = np.add.reduceat(values, starts, axis=0)
    return out


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
