"""The leaderboard's ranking bootstrapped over items: each strategy's 95% range of ranks, as public
arena leaderboards show beside the rank. Pure functions, no I/O.

Input rows are the leaderboard's (reasoning.metrics): ``strategy, model, budget, correct`` and an
optional ``item_id``; rows whose ``correct`` is NaN (no reference answer) are left out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reasoning.bootstrap import _matmul, _one_thread_blas
from reasoning.group_codes import group_codes, unique_inverse
from reasoning.metrics import _scored, item_cells

RANK_COLUMNS = ["strategy", "model", "rank_low", "rank_high"]
DENSE_LIMIT = 4_000_000  # items x (strategy, budget) cells up to which the rank bootstrap multiplies matrices


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
    series_codes, series_index = group_codes(cells, keys, dropna=False)
    # The finite budgets, sorted, and each cell's place among them (-1: none).
    budget_codes, budget_found = group_codes(cells, ["budget"], dropna=True)
    found = np.asarray(budget_found["budget"], dtype=float)
    usable = np.isfinite(found)
    budget_values = found[usable]
    place = np.append(np.where(usable, np.cumsum(usable) - 1, -1), -1)  # the last entry: a missing budget
    budget_codes = place[budget_codes]
    positive = budget_values > 0  # AUC is over a log axis; overall accuracy counts every budget
    # One cell per (series, budget); a series' overall accuracy is the sum over its cells. Each
    # (cell, item) pair is summed once; a resample then weighs the pairs by their item's draws.
    n_series, n_budgets = len(series_index[keys[0]]), len(budget_values)
    finite = budget_codes >= 0
    cell_of = (series_codes * n_budgets + budget_codes)[finite].astype(np.int64)
    pair_keys = cell_of * n_items + item_codes[finite]
    unique_pairs, inverse = unique_inverse(pair_keys)
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
    memoised = dense and whole
    if memoised:
        # The resamples' item weights depend only on (seed, items, resamples), and the products are
        # sums of whole numbers (exact in float32 in any order): both are kept, and a board
        # recomputed after a few new results updates the products by the (cell, item) pairs that
        # changed instead of multiplying everything again.
        all_sums, all_counts = _dense_products(seed, n_items, n_boot, n_cells, unique_pairs, pair_sum, pair_count)
    elif dense:
        dense_sum = np.zeros((n_cells, n_items), dtype=dtype)
        dense_count = np.zeros((n_cells, n_items), dtype=dtype)
        dense_sum[pair_cell, pair_item] = pair_sum
        dense_count[pair_cell, pair_item] = pair_count

    rng = np.random.default_rng(seed)
    # Resamples in chunks: memory stays bounded (a few 10 MB) whatever the store's size. The kept
    # products are already drawn: a chunk holds only the ranking's arrays.
    budget_per_chunk = 4_000_000
    widest = max(n_cells, n_series * n_series, 1) if memoised else max(len(unique_pairs), n_items,
                                                                       n_series * n_series, 1)
    chunk = max(1, min(n_boot, budget_per_chunk // widest))
    best = np.empty((n_boot, n_series))
    worst = np.empty((n_boot, n_series))
    present = np.empty((n_boot, n_series), dtype=bool)
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        if memoised:
            counts = all_counts[:, done:done + size].reshape(n_series, n_budgets, size)
            sums = all_sums[:, done:done + size].reshape(n_series, n_budgets, size)
        else:
            # Item weights of `size` resamples (how often each item was drawn, n_items draws each),
            # items along the first axis: gathering and summing whole rows is what numpy does fastest.
            weights = _weights_chunk(rng, n_items, size).astype(dtype)
            if dense:
                counts = _matmul(dense_count, weights).reshape(n_series, n_budgets, size)
                sums = _matmul(dense_sum, weights).reshape(n_series, n_budgets, size)
            else:
                w = weights[pair_item]  # pairs x resamples
                counts = _per_cell(w * pair_count[:, None], starts, run_cells, n_cells).reshape(n_series, n_budgets,
                                                                                              size)
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
    low = _seen_quantile(best, present, tail, np.floor)  # np.quantile(..., method="lower")
    high = _seen_quantile(worst, present, 1 - tail, np.ceil)  # method="higher"
    return pd.DataFrame({**series_index, "rank_low": low, "rank_high": high}, columns=[*keys, "rank_low", "rank_high"])


def _seen_quantile(values: np.ndarray, seen: np.ndarray, q: float, rounding: np.ufunc) -> np.ndarray:
    """Per column (series): np.quantile(values[seen, s], q, method="lower" with np.floor, "higher"
    with np.ceil) over the resamples that saw the series, NaN where none did. The order statistic
    numpy picks, (m - 1) * q rounded, for all columns in one sort."""
    m = seen.sum(axis=0)
    ordered = np.sort(np.where(seen, values, np.inf), axis=0)  # the seen values first, sorted
    at = rounding((m - 1) * np.asarray(q, dtype=float)).astype(np.intp)
    out = np.full(values.shape[1], np.nan)
    has = m > 0
    out[has] = ordered[at[has], np.flatnonzero(has)]
    return out


def _weights_chunk(rng: np.random.Generator, n_items: int, size: int) -> np.ndarray:
    """How often each item was drawn in each of `size` resamples of n_items draws (items x
    resamples). Successive chunks from one generator give the same weights whatever their sizes."""
    draws = rng.integers(0, n_items, size=(size, n_items)) * size + np.arange(size)[:, None]
    return np.bincount(draws.ravel(), minlength=n_items * size).reshape(n_items, size)


@dataclass
class _Products:
    """A dense rank bootstrap's weights and products, kept for the next board."""

    weights: np.ndarray  # items x resamples, the smallest unsigned type that holds them
    n_cells: int
    pairs: np.ndarray  # (cell, item) keys, sorted
    pair_sum: np.ndarray
    pair_count: np.ndarray
    sums: np.ndarray  # cells x resamples (float32)
    counts: np.ndarray


_products: OrderedDict[tuple[int, int, int], _Products] = OrderedDict()
_products_lock = threading.Lock()
MEMO_BOARDS = 3  # weights of this many (seed, items, resamples): ~10 MB each at 10,000 items
DELTA_SHARE = 0.05  # changed (cell, item) pairs up to which the products are updated, not recomputed


def forget_products() -> None:
    """Drop the kept weights and products (benchmarks measure a cold start with it)."""
    with _products_lock:
        _products.clear()


def _dense_products(seed: int, n_items: int, n_boot: int, n_cells: int, pairs: np.ndarray, pair_sum: np.ndarray,
                    pair_count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cells' sums and counts in every resample (cells x resamples, float32), as the rank
    bootstrap's dense product gives them: from the kept products plus the pairs that changed since,
    or multiplied again. Whole numbers only (their sums are exact in float32 in any order)."""
    key = (seed, n_items, n_boot)
    with _products_lock:
        kept = _products.get(key)
        if kept is not None:
            _products.move_to_end(key)
    weights = kept.weights if kept is not None else _all_weights(seed, n_items, n_boot)
    delta = _changed(kept, n_cells, pairs, pair_sum, pair_count) if kept is not None else None
    if delta is not None:
        cells, items, d_sum, d_count = delta
        changed_items, columns = np.unique(items, return_inverse=True)
        step = weights[changed_items].astype(np.float32)
        d_sums = np.zeros((n_cells, len(changed_items)), dtype=np.float32)
        d_counts = np.zeros((n_cells, len(changed_items)), dtype=np.float32)
        d_sums[cells, columns] = d_sum
        d_counts[cells, columns] = d_count
        sums, counts = kept.sums + _matmul(d_sums, step), kept.counts + _matmul(d_counts, step)
        if max(float(sums.max(initial=0)), float(counts.max(initial=0))) >= 2**24:  # no longer exact
            delta = None
    if delta is None:
        cell, item = np.divmod(pairs, n_items)
        dense_sum = np.zeros((n_cells, n_items), dtype=np.float32)
        dense_count = np.zeros((n_cells, n_items), dtype=np.float32)
        dense_sum[cell, item] = pair_sum
        dense_count[cell, item] = pair_count
        sums = np.empty((n_cells, n_boot), dtype=np.float32)
        counts = np.empty((n_cells, n_boot), dtype=np.float32)
        step = max(1, 4_000_000 // max(n_items, 1))
        for begin in range(0, n_boot, step):
            part = weights[:, begin:begin + step].astype(np.float32)
            sums[:, begin:begin + step] = _matmul(dense_sum, part)
            counts[:, begin:begin + step] = _matmul(dense_count, part)
    if max(float(sums.max(initial=0)), float(counts.max(initial=0))) < 2**24:  # every partial sum exact
        with _products_lock:
            _products[key] = _Products(weights, n_cells, pairs, pair_sum, pair_count, sums, counts)
            while len(_products) > MEMO_BOARDS:
                _products.popitem(last=False)
    return sums, counts


def _all_weights(seed: int, n_items: int, n_boot: int) -> np.ndarray:
    """Every resample's item weights (items x resamples), drawn as rank_intervals_counts draws them."""
    rng = np.random.default_rng(seed)
    out: np.ndarray | None = None
    step = max(1, 4_000_000 // max(n_items, 1))
    for begin in range(0, n_boot, step):
        part = _weights_chunk(rng, n_items, min(step, n_boot - begin))
        if out is None:
            out = np.empty((n_items, n_boot), dtype=np.min_scalar_type(max(int(n_items), 1)))
        out[:, begin:begin + part.shape[1]] = part
    if out is None:
        return np.zeros((n_items, 0), dtype=np.uint8)
    return out.astype(np.uint8) if out.max(initial=0) < 256 else out  # an item is rarely drawn 10 times


def _changed(kept: _Products, n_cells: int, pairs: np.ndarray, pair_sum: np.ndarray,
             pair_count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The (cell, item) pairs whose sums or counts differ from the kept ones (cells, items and the
    differences), or None when the layout changed or too much did."""
    if kept.n_cells != n_cells:
        return None
    n_items = kept.weights.shape[0]
    if len(kept.pairs) == len(pairs) and np.array_equal(kept.pairs, pairs):  # the same pairs, some counts moved
        moved = np.flatnonzero((kept.pair_sum != pair_sum) | (kept.pair_count != pair_count))
        if len(moved) > DELTA_SHARE * max(len(pairs), 1):
            return None
        cells, items = np.divmod(pairs[moved], n_items)
        return cells, items, (pair_sum - kept.pair_sum)[moved], (pair_count - kept.pair_count)[moved]
    # Both pair lists are sorted and distinct: each new pair's place among the kept ones tells
    # which pairs are shared, new, or gone (a union, without sorting both again).
    at = np.searchsorted(kept.pairs, pairs)
    shared = np.zeros(len(pairs), dtype=bool)
    inside = at < len(kept.pairs)
    shared[inside] = kept.pairs[at[inside]] == pairs[inside]
    old_sum, old_count = np.zeros(len(pairs)), np.zeros(len(pairs))
    old_sum[shared], old_count[shared] = kept.pair_sum[at[shared]], kept.pair_count[at[shared]]
    gone = np.ones(len(kept.pairs), dtype=bool)
    gone[at[shared]] = False
    d_sum = pair_sum.astype(float) - old_sum
    d_count = pair_count.astype(float) - old_count
    moved = np.flatnonzero((d_sum != 0) | (d_count != 0))
    lost = np.flatnonzero(gone & ((kept.pair_sum != 0) | (kept.pair_count != 0)))
    if len(moved) + len(lost) > DELTA_SHARE * max(len(pairs) + int(gone.sum()), 1):
        return None
    cells, items = np.divmod(np.r_[pairs[moved], kept.pairs[lost]], n_items)
    return (cells, items, np.r_[d_sum[moved], -kept.pair_sum[lost].astype(float)],
            np.r_[d_count[moved], -kept.pair_count[lost].astype(float)])


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
    if present.all():  # the usual case: one pattern, every budget
        patterns, codes = np.ones((1, n_budgets), dtype=bool), np.zeros(len(present), dtype=np.int64)
    elif n_budgets < 63:  # each pattern as one integer, the first budget its highest bit: the same order, faster
        bits = np.left_shift(np.int64(1), np.arange(n_budgets - 1, -1, -1, dtype=np.int64))
        keys, codes = np.unique(present.astype(np.int64) @ bits, return_inverse=True)
        patterns = (keys[:, None] & bits) != 0
    else:
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
    size, n = a.shape
    # Each resample's series sorted by (AUC, accuracy): the series ahead of one are those after its
    # run of equal scores, the series level with it are that run. A series without a score has
    # (-inf, -inf), below every scored one, so it is never counted ahead of or level with one (its
    # own ranks are not read).
    order = np.lexsort((o, a), axis=1)
    a_sorted, o_sorted = np.take_along_axis(a, order, axis=1), np.take_along_axis(o, order, axis=1)
    new_run = np.ones((size, n), dtype=bool)
    new_run[:, 1:] = (a_sorted[:, 1:] != a_sorted[:, :-1]) | (o_sorted[:, 1:] != o_sorted[:, :-1])
    places = np.arange(n)
    run_start = np.maximum.accumulate(np.where(new_run, places, 0), axis=1)
    ends_here = np.ones((size, n), dtype=bool)
    ends_here[:, :-1] = new_run[:, 1:]
    run_end = np.minimum.accumulate(np.where(ends_here, places + 1, n)[:, ::-1], axis=1)[:, ::-1]
    best, worst = np.empty((size, n), dtype=np.int64), np.empty((size, n), dtype=np.int64)
    np.put_along_axis(best, order, 1 + n - run_end, axis=1)
    np.put_along_axis(worst, order, n - run_start, axis=1)
    return best, worst, present
