"""The head-to-head at equal budget: every pair of strategies at every (model, budget) cell, paired
on the problems both ran (reasoning.paired_stats holds the tests and describes them).

A cell's pairs are counted at once: one row per (problem, k-th run) and one column per strategy,
so each pair's paired results, accuracies and discordant counts are sums over two columns. The
McNemar test needs only the discordant counts (McNemar 1947), and Holm's adjustment only the p
values, so every pair's test is known as soon as the counts are. The paired bootstrap intervals
cost the most (1,000 resamples of a cell's problems), so a PairTable draws them per cell when
that cell is asked for (the page shows one cell at a time), and memoises a cell's draw by its
content: recomputed after one new result, only the cells whose pairs changed are drawn again.
Pairs with one 0/1 pair per problem are cheap (a few binomials each) and are drawn for every cell
at once, as one stream. The numbers do not depend on which cells were asked for first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reasoning.bootstrap import _matmul
from reasoning.memo import Memo, digest
from reasoning.metrics import _scored
from reasoning.paired_stats import PAIR_COLUMNS, holm, mcnemar_exact, min_detectable_difference

CellKey = tuple[str, float]  # (model, budget), as the page names a cell
MEMO_CELLS = 512  # drawn cells kept (each a few kB of intervals)


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
    return pair_table(model, budget, series, item, correct, order=order, n_boot=n_boot, ci=ci, seed=seed).complete()


@dataclass(frozen=True)
class _CellDraw:
    """What a cell's intervals of pairs with repeated runs are drawn from: per pair (rows of the
    table), each of the cell's problems' difference sum and number of pairs."""

    rows: np.ndarray  # table rows of the pairs to draw
    sums: np.ndarray  # pairs x problems
    counts: np.ndarray  # pairs x problems


class PairTable:
    """Every pair at every cell: counts and tests at once, intervals drawn per cell when asked for.

    Thread-safe; the frames it returns are its own copies' snapshots: read only. A table restored
    from a stored frame (``restored``) draws a missing cell from ``source()``, a table computed
    again from the results."""

    def __init__(self, frame: pd.DataFrame, pending: dict[CellKey, _CellDraw | None], *, n_boot: int,
                 ci: float, seed: int, source: Callable[[], PairTable] | None = None):
        self._frame = frame
        self._pending = pending
        self._n_boot, self._ci, self._seed = n_boot, ci, seed
        self._source = source
        self._lock = threading.Lock()

    @classmethod
    def restored(cls, frame: pd.DataFrame, missing: Sequence[CellKey], source: Callable[[], PairTable], *,
                 n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> PairTable:
        """A table whose intervals are known except those of the `missing` cells."""
        return cls(frame, {cell: None for cell in missing}, n_boot=n_boot, ci=ci, seed=seed, source=source)

    @property
    def tests(self) -> pd.DataFrame:
        """Every pair with its counts and tests; the intervals of cells not drawn yet are NaN."""
        return self._frame

    def cells(self) -> list[CellKey]:
        """The (model, budget) cells that have at least one pair, in the table's order."""
        if self._frame.empty:
            return []
        pairs = self._frame[["model", "budget"]].drop_duplicates()
        return [(str(m), float(b)) for m, b in pairs.itertuples(index=False)]

    def missing(self) -> list[CellKey]:
        """The cells whose intervals are not drawn yet."""
        with self._lock:
            return list(self._pending)

    def cell(self, model: str, budget: float) -> pd.DataFrame:
        """The pairs of one cell, intervals drawn."""
        frame = self._drawn([(str(model), float(budget))])
        return frame.loc[(frame["model"].astype(str) == str(model)) & (frame["budget"].astype(float) == budget)]

    def complete(self) -> pd.DataFrame:
        """Every pair with its interval (draws the cells still missing)."""
        return self._drawn(None)

    def _drawn(self, cells: list[CellKey] | None) -> pd.DataFrame:
        with self._lock:
            wanted = [c for c in (self._pending if cells is None else cells) if c in self._pending]
            if not wanted:
                return self._frame
            frame = self._frame.copy()  # copy on write: a frame handed out earlier never changes
            source = self._source() if any(self._pending[c] is None for c in wanted) and self._source else None
            for cell in wanted:
                draw = self._pending.pop(cell)
                if draw is None:
                    if source is None:
                        raise RuntimeError(f"no source to draw the intervals of {cell}")
                    _copy_cell_intervals(frame, source.cell(*cell))
                    continue
                lows, highs = _cell_interval_memo(draw, self._n_boot, self._ci, self._seed)
                frame.iloc[draw.rows, frame.columns.get_loc("ci_low")] = lows
                frame.iloc[draw.rows, frame.columns.get_loc("ci_high")] = highs
            self._frame = frame
            return frame


def _copy_cell_intervals(frame: pd.DataFrame, drawn: pd.DataFrame) -> None:
    """Fill one cell's intervals into `frame` from the same cell of another table (its rows in
    the same order: the same results give the same pairs)."""
    first = drawn.iloc[0]
    where = np.flatnonzero((frame["model"].astype(str) == str(first["model"]))
                           & (frame["budget"].astype(float) == float(first["budget"])))
    if len(where) != len(drawn) or list(frame["a"].iloc[where]) != list(drawn["a"]):
        raise RuntimeError("the stored head-to-head does not match the results")
    frame.iloc[where, frame.columns.get_loc("ci_low")] = drawn["ci_low"].to_numpy()
    frame.iloc[where, frame.columns.get_loc("ci_high")] = drawn["ci_high"].to_numpy()


def pair_table(model: np.ndarray, budget: np.ndarray, series: np.ndarray, item: np.ndarray, correct: np.ndarray,
               *, order: Sequence[str] | None = None, n_boot: int = 1000, ci: float = 0.95,
               seed: int = 0) -> PairTable:
    """The PairTable of paired_comparisons_arrays' input (intervals of repeated-run pairs pending)."""
    if len(correct) == 0:
        return PairTable(pd.DataFrame(columns=PAIR_COLUMNS), {}, n_boot=n_boot, ci=ci, seed=seed)
    rank: dict[Any, int] = {}
    for name in order or ():
        rank.setdefault(name, len(rank))
    # Plain arrays, sorted once by (model, budget) cell, series and item. The sort is stable, so a
    # series' results on an item keep their order and `rep` numbers them: the k-th run of one
    # series on an item pairs with the k-th of another.
    correct = np.asarray(correct, dtype=float)
    budget = np.asarray(budget, dtype=float)
    known = ~np.isnan(budget)  # a (model, budget) cell needs a budget (as a groupby drops NaN keys)
    model_codes, model_names = _codes(model, known, sort=True)
    budget_codes, budget_values = pd.factorize(budget[known], sort=True)  # hashed: a sort of every result cost more
    budget_values = np.asarray(budget_values, dtype=float)
    series_codes, series_names = _codes(series, known, sort=False)
    items_all = np.asarray(item, dtype=np.int64)[known]
    correct = correct[known]
    cells_all = model_codes.astype(np.int64) * len(budget_values) + budget_codes.ravel()
    order_rows = _sorted_rows(cells_all, series_codes.astype(np.int64), items_all)
    cells_sorted = cells_all[order_rows]
    series_sorted = series_codes[order_rows]
    items_sorted = items_all[order_rows]
    new_run = np.r_[True, (cells_sorted[1:] != cells_sorted[:-1]) | (series_sorted[1:] != series_sorted[:-1])
                    | (items_sorted[1:] != items_sorted[:-1])]
    starts = np.flatnonzero(new_run)
    rep_sorted = np.arange(len(order_rows)) - np.repeat(starts, np.diff(np.r_[starts, len(order_rows)]))
    bounds = np.flatnonzero(np.r_[True, cells_sorted[1:] != cells_sorted[:-1], True])
    columns: dict[str, list] = {name: [] for name in PAIR_COLUMNS}
    simple: list[tuple[int, int, int, int]] = []  # per simple pair: its row, n, problems lost, won
    pending: dict[CellKey, _CellDraw | None] = {}
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        cell_code = int(cells_sorted[begin])
        model_name = model_names[cell_code // len(budget_values)]
        budget_value = budget_values[cell_code % len(budget_values)]
        local_series, series_in_cell = pd.factorize(series_sorted[begin:end])
        names = [series_names[code] for code in series_in_cell]
        ordered = sorted(range(len(names)), key=lambda k: (rank.get(names[k], len(rank)), str(names[k])))
        draw = _cell_pairs(columns, simple, (model_name, budget_value), names, ordered, local_series,
                           items_sorted[begin:end], rep_sorted[begin:end], correct[order_rows[begin:end]])
        if draw is not None:
            pending[(str(model_name), float(budget_value))] = draw
    frame = pd.DataFrame(columns, columns=PAIR_COLUMNS)
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else []
    _simple_intervals(frame, simple, n_boot, ci, seed)
    return PairTable(frame, pending, n_boot=n_boot, ci=ci, seed=seed)


def _codes(values: Any, known: np.ndarray, *, sort: bool) -> tuple[np.ndarray, Any]:
    """Integer codes of the values where `known`, and the names they stand for (sorted when asked:
    the cells follow the models' names). A pd.Categorical is taken as it is coded (no strings
    hashed: the leaderboard passes its strategies and models so)."""
    if isinstance(values, pd.Categorical):
        names = np.asarray(values.categories, dtype=object)
        codes = values.codes[known].astype(np.int64)
        if sort:
            order = np.argsort(names.astype(str), kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            names, codes = names[order], rank[codes]
        return codes, names
    return pd.factorize(np.asarray(values, dtype=object)[known], sort=sort)


def _sorted_rows(cells: np.ndarray, series: np.ndarray, items: np.ndarray) -> np.ndarray:
    """np.lexsort((items, series, cells)): rows by cell, series and item, ties in their order. One
    stable sort of a combined key where it fits in 62 bits (a third of lexsort's work)."""
    if not len(cells):
        return np.zeros(0, dtype=np.int64)
    low = int(items.min())
    n_items, n_series = int(items.max()) - low + 1, int(series.max()) + 1
    if (int(cells.max()) + 1) * n_series * n_items >= 2**62:
        return np.lexsort((items, series, cells))
    return np.argsort((cells * n_series + series) * n_items + (items - low), kind="stable")


def _unique_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) of non-negative keys, by marking them in a table when
    their range is small (no sort)."""
    top = int(keys.max()) + 1 if len(keys) else 0
    if keys.min(initial=0) < 0 or top > 8 * len(keys) + 1_000_000:
        found, inverse = np.unique(keys, return_inverse=True)
        return found, inverse.ravel()
    seen = np.zeros(top, dtype=bool)
    seen[keys] = True
    found = np.flatnonzero(seen)
    position = np.empty(top, dtype=np.int64)
    position[found] = np.arange(len(found))
    return found, position[keys]


def _cell_pairs(columns: dict[str, list], simples: list[tuple[int, int, int, int]], cell: tuple[Any, Any],
                names: list[Any], ordered: list[int], local_series: np.ndarray, items: np.ndarray, rep: np.ndarray,
                correct: np.ndarray) -> _CellDraw | None:
    """Append one cell's pairs to `columns` (in `ordered` order: each series with every later one).
    A pair with one 0/1 pair per problem goes to `simples` (drawn with every such pair); the others
    are returned, to be drawn from one resample of every problem any pair of the cell has (None:
    no such pair)."""
    runs = int(rep.max()) + 1
    # one row per (problem, k-th run), sorted by problem: the k-th runs of two strategies on a
    # problem are a pair
    keys, key_codes = _unique_codes(items * runs + rep)
    key_item = keys // runs
    wide = np.full((len(keys), len(names)), np.nan)
    wide[key_codes.ravel(), local_series] = correct
    present = ~np.isnan(wide.T)  # strategies x (problem, run): each strategy's row contiguous
    values = np.where(present, wide.T, 0.0)
    shown = present.astype(float)
    first = np.array([f for i, f in enumerate(ordered) for _ in ordered[i + 1:]], dtype=np.int64)
    second = np.array([s for i, _ in enumerate(ordered) for s in ordered[i + 1:]], dtype=np.int64)
    # Every pair's counts at once, as sums over the rows both strategies have (whole numbers: exact).
    n = (shown @ shown.T)[first, second].astype(np.int64)
    right = values @ shown.T  # [i, j]: i's right answers where j has a result too
    right_first, right_second = right[first, second], right[second, first]
    beats = (present & (values > 0.5)).astype(float) @ (present & (values < 0.5)).astype(float).T
    up, down = beats[first, second].astype(np.int64), beats[second, first].astype(np.int64)
    # Per pair and problem: the difference sum and the number of pairs (runs: sum each problem's).
    differences = values[first] * shown[second] - values[second] * shown[first]
    pairs_of = shown[first] * shown[second]
    if runs > 1:
        starts = np.flatnonzero(np.r_[True, key_item[1:] != key_item[:-1]])
        differences = np.add.reduceat(differences, starts, axis=1)
        pairs_of = np.add.reduceat(pairs_of, starts, axis=1)
    # A pair is simple when it has one pair per problem with a difference of -1, 0 or +1.
    paired = pairs_of > 0
    simple = np.all(pairs_of <= 1, axis=1) & np.all(~paired | np.isin(differences, (-1.0, 0.0, 1.0)), axis=1)
    problems, lost, won = paired.sum(axis=1), (differences < 0).sum(axis=1), (differences > 0).sum(axis=1)
    model, budget = cell
    drawn_rows: list[int] = []
    drawn: list[int] = []
    signs: list[float] = []
    for p in np.flatnonzero(n > 0):
        count = int(n[p])
        acc_first, acc_second = right_first[p] / count, right_second[p] / count
        a, b, a_only, b_only, sign = names[first[p]], names[second[p]], int(up[p]), int(down[p]), 1.0
        if acc_second > acc_first:  # name the one ahead first: "A beats B by +d"
            a, b, a_only, b_only, sign = b, a, b_only, a_only, -1.0
            acc_first, acc_second = acc_second, acc_first
        row = len(columns["model"])
        for name, value in (("model", model), ("budget", budget), ("a", a), ("b", b), ("n", count),
                            ("acc_a", float(acc_first)), ("acc_b", float(acc_second)),
                            ("diff", float(acc_first - acc_second)), ("ci_low", float("nan")),
                            ("ci_high", float("nan")), ("a_only", a_only), ("b_only", b_only),
                            ("p", mcnemar_exact(a_only, b_only)), ("p_holm", float("nan")),
                            ("mdd", min_detectable_difference(count, (a_only + b_only) / count))):
            columns[name].append(value)
        if simple[p]:  # problems where a lost to b, and won
            simples.append((row, int(problems[p]), int(lost[p] if sign > 0 else won[p]),
                            int(won[p] if sign > 0 else lost[p])))
        else:
            drawn_rows.append(row)
            drawn.append(int(p))
            signs.append(sign)
    if not drawn:
        return None
    problems = np.any(paired[n > 0], axis=0)  # every problem any pair of the cell has
    orient = np.array(signs)[:, None]
    return _CellDraw(np.array(drawn_rows, dtype=np.int64), orient * differences[drawn][:, problems] + 0.0,
                     pairs_of[drawn][:, problems])


def _simple_intervals(frame: pd.DataFrame, simple: list[tuple[int, int, int, int]], n_boot: int, ci: float,
                      seed: int) -> None:
    """Intervals of the pairs with one 0/1 pair per problem, drawn together: a problem's difference
    is -1, 0 or +1, so a resample is fully described by how many of each it drew (a multinomial,
    as successive binomials vectorised over pairs and resamples)."""
    if not simple:
        return
    rng = np.random.default_rng(seed)
    alpha = (1.0 - ci) / 2.0
    chunk = max(1, 4_000_000 // max(n_boot, 1))
    low_at, high_at = frame.columns.get_loc("ci_low"), frame.columns.get_loc("ci_high")
    for begin in range(0, len(simple), chunk):
        batch = simple[begin:begin + chunk]
        n = np.array([s[1] for s in batch])
        down = np.array([s[2] for s in batch]) / n
        up = np.array([s[3] for s in batch]) / n
        draws_down = rng.binomial(np.repeat(n[:, None], n_boot, axis=1), down[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            up_given_rest = np.where(down < 1, up / (1 - down), 0.0)
        draws_up = rng.binomial(n[:, None] - draws_down, np.clip(up_given_rest, 0, 1)[:, None])
        means = (draws_up - draws_down) / n[:, None]
        lows, highs = np.quantile(means, [alpha, 1.0 - alpha], axis=1)
        rows = [s[0] for s in batch]
        frame.iloc[rows, low_at] = lows
        frame.iloc[rows, high_at] = highs


CELLS = Memo("cells", MEMO_CELLS)  # a cell's drawn intervals by what they were drawn from


def forget_cells() -> None:
    """Drop the memoised cell draws (benchmarks measure a cold start with it)."""
    CELLS.clear()


def _cell_interval_memo(draw: _CellDraw, n_boot: int, ci: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    key = digest(n_boot, ci, seed, repr(draw.sums.shape), np.ascontiguousarray(draw.sums).tobytes(),
                 np.ascontiguousarray(draw.counts).tobytes())
    return CELLS.get_or_compute(key, lambda: _cell_intervals(draw.sums, draw.counts, n_boot, ci, seed))


def _cell_intervals(sums: np.ndarray, counts: np.ndarray, n_boot: int, ci: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of one cell's pairs with repeated runs from one resample of the cell's problems
    (drawn with replacement, as rank_intervals draws them), fresh from `seed`: a cell's intervals
    do not depend on the other cells. A pair's mean difference in a resample is sum(drawn
    problems' sums) / sum(drawn problems' pairs): a product of the pairs' per-problem sums with
    the problems' draw counts. (One multinomial per pair over its problems' kinds, as before,
    drew tens of millions of binomials at a million results.)"""
    alpha = (1.0 - ci) / 2.0
    n_items = sums.shape[1]
    # Whole numbers (0/1 outcomes) are exact in float32 (below 2^24), half the work of float64.
    whole = bool(np.all(sums == np.round(sums))) and float(counts.sum()) < 2**24 / max(n_items, 1)
    dtype = np.float32 if whole else np.float64
    sums, counts = sums.astype(dtype), counts.astype(dtype)
    rng = np.random.default_rng(seed)
    means = np.empty((len(sums), n_boot))
    chunk = max(1, min(n_boot, 4_000_000 // max(n_items, 1)))
    for begin in range(0, n_boot, chunk):
        size = min(chunk, n_boot - begin)
        draws = rng.integers(0, n_items, size=(size, n_items)) * size + np.arange(size)[:, None]
        weights = np.bincount(draws.ravel(), minlength=n_items * size).reshape(n_items, size).astype(dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, begin:begin + size] = (_matmul(sums, weights).astype(float)
                                            / _matmul(counts, weights).astype(float))
    # A resample that drew none of a pair's problems says nothing about it (rare: few problems).
    lows, highs = np.nanquantile(means, [alpha, 1.0 - alpha], axis=1)
    return lows, highs
