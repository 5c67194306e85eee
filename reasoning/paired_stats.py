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
- ``paired_bootstrap_ci``: the paired bootstrap interval of a mean difference (items resampled,
  both strategies' outcomes on an item move together). reasoning.pair_table applies all of these
  to every pair of strategies at each (model, budget).
- ``min_detectable_difference``: the smallest accuracy difference a paired comparison of n items
  detects with 80% power at alpha 0.05 (Connor 1987's sample size for McNemar's test, solved
  for the difference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from reasoning.bootstrap import _kinds_interval

PAIR_COLUMNS = ["model", "budget", "a", "b", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high",
                "a_only", "b_only", "p", "p_holm", "mdd"]
ALPHA = 0.05
POWER = 0.8
EXACT_TAIL_LIMIT = 1024  # discordant pairs up to which the McNemar tail is summed in integers
UNKNOWN_DISCORDANCE = 0.5  # two independent strategies at 50% accuracy disagree on half the items


# ---------------------------------------------------------------------------------------------
# Tests and adjustments


@lru_cache(maxsize=65_536)  # pure; a board recomputed after one new result meets the same counts again
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
    z_alpha, z_power = _normal_quantile(1 - alpha / 2), _normal_quantile(power)
    # sqrt(n) delta - z_alpha sqrt(psi) = z_power sqrt(psi - delta^2), squared, is a quadratic in
    # delta; its larger root is the one with a non-negative left side:
    # delta = (z_alpha sqrt(psi n) + z_power sqrt(psi (n + z_power^2 - z_alpha^2))) / (n + z_power^2).
    spread = n + z_power**2 - z_alpha**2
    if spread < 0:
        return float("nan")
    delta = (z_alpha * math.sqrt(psi * n) + z_power * math.sqrt(psi * spread)) / (n + z_power**2)
    return delta if delta <= psi else float("nan")


@lru_cache(maxsize=64)  # the same few levels for every pair of a table
def _normal_quantile(p: float) -> float:
    return NormalDist().inv_cdf(p)


# ---------------------------------------------------------------------------------------------
# Paired bootstrap


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

