"""Percentile bootstrap over items, the resampling machinery the leaderboard's intervals share: pure
functions, no I/O.

An item (a problem) is resampled with all its results, so repeated runs of one problem are not
counted as independent evidence. Items are reduced to their kinds (how many results, how many of
them right): items of one kind are interchangeable, so a resample is a multinomial draw over the
kinds, and an interval is a pure function of the kinds (memoised: a board recomputed after one new
result redraws only what changed). Matrix products of resample weights run on one BLAS thread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from reasoning.memo import Memo, digest


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


def grouped_ci_counts(groups: np.ndarray, correct: np.ndarray, results: np.ndarray, n_groups: int, *,
                      n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """bootstrap_ci_counts of every group's items at once: item i belongs to group ``groups[i]``
    (0 .. n_groups-1). The kinds of all groups are found in one sort (a group's kinds in the order
    item_kinds gives them), so only the groups whose kinds were not seen before are drawn."""
    groups = np.asarray(groups, dtype=np.int64)
    sums, counts = np.asarray(correct, dtype=float), np.asarray(results, dtype=float)
    found = _whole_kinds(groups, sums, counts, n_groups)
    if found is None:
        order = np.lexsort((counts, sums, groups))
        g, s, c = groups[order], sums[order], counts[order]
        starts = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1]) | (c[1:] != c[:-1])]) if len(g) \
            else np.zeros(0, dtype=np.int64)
        multiplicity = np.diff(np.r_[starts, len(g)]).astype(np.int64)
        kinds = np.stack([s[starts], c[starts]], axis=1)
        kind_groups = g[starts]
    else:
        kind_groups, kinds, multiplicity = found
    bounds = np.searchsorted(kind_groups, np.arange(n_groups + 1))
    lows, highs = np.full(n_groups, np.nan), np.full(n_groups, np.nan)
    for k in range(n_groups):
        a, b = bounds[k], bounds[k + 1]
        if a < b:
            lows[k], highs[k] = _kinds_ci(np.ascontiguousarray(kinds[a:b]).tobytes(), multiplicity[a:b].tobytes(),
                                          n_boot, ci, seed)
    return lows, highs


def _whole_kinds(groups: np.ndarray, sums: np.ndarray, counts: np.ndarray,
                 n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """grouped_ci_counts' kinds when every sum and count is a small whole number (0/1 outcomes):
    (group, sum, count) as one integer, counted in one pass instead of sorted; the kinds come out
    in the lexsort's order (group, then sum, then count). None when the values do not allow it."""
    if len(groups) == 0 or n_groups <= 0:
        return None
    low = min(float(sums.min()), float(counts.min()), float(groups.min()))
    high = max(float(sums.max()), float(counts.max()))
    if not (low >= 0 and high < 2**20 and groups.max() < n_groups):
        return None
    whole_sums, whole_counts = sums.astype(np.int64), counts.astype(np.int64)
    if not (np.array_equal(whole_sums, sums) and np.array_equal(whole_counts, counts)):
        return None
    sum_span, count_span = int(whole_sums.max()) + 1, int(whole_counts.max()) + 1
    total = n_groups * sum_span * count_span
    key = (groups * sum_span + whole_sums) * count_span + whole_counts
    if total <= 8 * len(key) + 4096:
        tally = np.bincount(key, minlength=total)
        at = np.flatnonzero(tally)
        multiplicity = tally[at].astype(np.int64)
    else:
        at, multiplicity = np.unique(key, return_counts=True)
    kind_groups, rest = np.divmod(at, sum_span * count_span)
    kind_sums, kind_counts = np.divmod(rest, count_span)
    return kind_groups, np.stack([kind_sums, kind_counts], axis=1).astype(float), multiplicity.astype(np.int64)


INTERVALS = Memo("intervals", 50_000)  # a group's interval by its kinds (and resamples, level, seed)


def _kinds_ci(kinds: bytes, multiplicity: bytes, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """bootstrap_ci_counts of items described by their kinds (a pure function of its arguments,
    memoised, so a board recomputed after one new result redraws only the groups that changed)."""
    return INTERVALS.get_or_compute(digest(kinds, multiplicity, n_boot, ci, seed),
                                    lambda: _draw_kinds_ci(kinds, multiplicity, n_boot, ci, seed))


def _draw_kinds_ci(kinds: bytes, multiplicity: bytes, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
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


def forget_intervals() -> None:
    """Drop the memoised bootstrap intervals (benchmarks measure a cold start with it)."""
    _kinds_draws.cache_clear()
    INTERVALS.clear()


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

