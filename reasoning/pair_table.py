"""The head-to-head at equal budget: every pair of strategies at every (model, budget) cell, paired
on the problems both ran (reasoning.paired_stats holds the tests and describes them).

A cell's pairs are counted at once (reasoning.pair_cells): one row per (problem, k-th run) and
one column per strategy, so each pair's paired results, accuracies and discordant counts are sums
over two columns. A counted cell is memoised by its results, so after one new result only that
result's cell is counted again (and a table whose cells all stayed the same is not assembled
again). The McNemar test needs only the discordant counts (McNemar 1947), and Holm's adjustment
only the p values (taken across every cell on each call), so every pair's test is known as soon as
the counts are. The paired bootstrap intervals cost the most (1,000 resamples of a cell's
problems), so a PairTable draws them per cell when that cell is asked for (the page shows one cell
at a time), and memoises a cell's draw by its content: recomputed after one new result, only the
cells whose pairs changed are drawn again. Pairs with one 0/1 pair per problem are cheap (a few
binomials each) and are drawn for every cell at once, as one stream (memoised by every such pair's
counts). The numbers do not depend on which cells were asked for first, nor on what was memoised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reasoning.bootstrap import _matmul
from reasoning.memo import Memo, digest
from reasoning.metrics import _scored
from reasoning.pair_cells import COUNTED, CellDraw, cell_key, counted_cell
from reasoning.paired_stats import PAIR_COLUMNS, holm

CellKey = tuple[str, float]  # (model, budget), as the page names a cell
MEMO_CELLS = 512  # drawn cells kept (each a few kB of intervals)
NAMED = ("model", "a", "b")  # the columns of names (any type: left to pandas to infer)
MEMO_TABLES = 8  # whole tables kept (their frames: ~100 bytes a pair)
MEMO_SIMPLE = 16  # tables' simple-pair intervals kept (16 bytes a pair)


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


class PairTable:
    """Every pair at every cell: counts and tests at once, intervals drawn per cell when asked for.

    Thread-safe; the frames it returns are its own copies' snapshots: read only. A table restored
    from a stored frame (``restored``) draws a missing cell from ``source()``, a table computed
    again from the results."""

    def __init__(self, frame: pd.DataFrame, pending: dict[CellKey, CellDraw | None], *, n_boot: int,
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
    correct = np.asarray(correct, dtype=float)
    budget = np.asarray(budget, dtype=float)
    # A result pairs within its (model, budget) cell and by its series: it needs a budget and a
    # series (as a groupby drops NaN keys).
    known = ~np.isnan(budget) & ~(series.codes < 0 if isinstance(series, pd.Categorical) else np.asarray(pd.isna(series)))
    if not known.any():
        return PairTable(pd.DataFrame(columns=PAIR_COLUMNS), {}, n_boot=n_boot, ci=ci, seed=seed)
    model_codes, model_names = _codes(model, known, sort=True)
    budget_codes, budget_values = pd.factorize(budget[known], sort=True)  # hashed: a sort of every result cost more
    budget_values = np.asarray(budget_values, dtype=float)
    series_codes, series_names = _codes(series, known, sort=False)
    cells_all = model_codes.astype(np.int64) * len(budget_values) + budget_codes.ravel()
    # The results grouped by (model, budget) cell, in their order within a cell (a stable sort of
    # small codes: a radix sort); each cell is counted from its own results alone (pair_cells).
    by_cell = np.argsort(cells_all.astype(_small(int(cells_all.max()))), kind="stable")
    sizes = np.bincount(cells_all)
    series_by = series_codes.astype(np.int64)[by_cell]
    items_by = _small_signed(np.asarray(item, dtype=np.int64)[known][by_cell])
    correct_by = correct[known][by_cell]
    binary = bool(np.all((correct_by == 0) | (correct_by == 1)))
    verdicts_by = correct_by.astype(np.uint8) if binary else correct_by  # what a cell's key digests
    position = np.empty(len(series_names), dtype=_small(len(series_names)))
    cells: list[tuple[bytes, tuple]] = []  # per cell with results: its key and what counting it takes
    begin = 0
    for cell_code in np.flatnonzero(sizes):
        end = begin + int(sizes[cell_code])
        in_cell = series_by[begin:end]
        present = np.flatnonzero(np.bincount(in_cell))  # the cell's series, by code
        position[present] = np.arange(len(present))
        names = [series_names[code] for code in present]
        ordered = sorted(range(len(names)), key=lambda k: (rank.get(names[k], len(rank)), str(names[k])))
        cell = (model_names[cell_code // len(budget_values)], budget_values[cell_code % len(budget_values)])
        local, items_in = position[in_cell], items_by[begin:end]
        counting = (cell, names, ordered, local, items_in, correct_by[begin:end])
        cells.append((cell_key(cell, names, ordered, local, items_in, verdicts_by[begin:end]), counting))
        begin = end
    # The whole table by its cells' keys: unchanged cells (a new result none of them counts) give
    # the table again without assembling it.
    key = digest(n_boot, ci, seed, *(cell for cell, _ in cells))
    frame, pending = TABLES.get_or_compute(key, lambda: _assembled(cells, n_boot, ci, seed))
    return PairTable(frame, dict(pending), n_boot=n_boot, ci=ci, seed=seed)


def _assembled(cells: list[tuple[bytes, tuple]], n_boot: int, ci: float,
               seed: int) -> tuple[pd.DataFrame, dict[CellKey, CellDraw | None]]:
    """The table's frame (intervals of simple pairs drawn) and its cells' draws, from the cells
    counted (each memoised by its key), in order."""
    columns: dict[str, list] = {name: [] for name in PAIR_COLUMNS}
    simple: list[tuple[int, int, int, int]] = []  # per simple pair: its row, n, problems lost, won
    pending: dict[CellKey, CellDraw | None] = {}
    for key, counting in cells:
        counted = counted_cell(key, *counting)
        offset = len(columns["model"])
        for name, values in zip(PAIR_COLUMNS, counted.columns, strict=True):
            columns[name].extend(values)
        simple.extend((row + offset, n, lost, won) for row, n, lost, won in counted.simple)
        if counted.draw is not None:
            (model_name, budget_value), draw = counting[0], counted.draw
            pending[(str(model_name), float(budget_value))] = CellDraw(draw.rows + offset, draw.sums, draw.counts)
    if columns["model"]:  # counts and rates as arrays (the types a list gives, without inferring them)
        columns.update({name: np.array(columns[name]) for name in PAIR_COLUMNS if name not in NAMED})
    frame = pd.DataFrame(columns, columns=PAIR_COLUMNS)
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else []
    if simple:
        lows, highs = _simple_interval_memo(simple, n_boot, ci, seed)
        rows = [s[0] for s in simple]
        frame.iloc[rows, frame.columns.get_loc("ci_low")] = lows
        frame.iloc[rows, frame.columns.get_loc("ci_high")] = highs
    return frame, pending


def _small(top: int) -> type:
    """The smallest unsigned integer type holding 0..top (numpy sorts up to 16 bits by radix)."""
    return np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.int64


def _small_signed(values: np.ndarray) -> np.ndarray:
    """Integers as int32 when they fit (half the bytes to digest)."""
    fits = not len(values) or (int(values.min()) >= -2**31 and int(values.max()) < 2**31)
    return values.astype(np.int32) if fits else values


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


def _simple_interval_memo(simple: list[tuple[int, int, int, int]], n_boot: int, ci: float,
                          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """_simple_intervals, memoised by every simple pair's counts in the table's order (the pairs
    are drawn from one stream: each interval depends on the pairs before it)."""
    counts = np.array([s[1:] for s in simple], dtype=np.int64)
    key = digest(n_boot, ci, seed, counts.tobytes())
    return SIMPLE.get_or_compute(key, lambda: _simple_intervals(counts, n_boot, ci, seed))


def _simple_intervals(counts: np.ndarray, n_boot: int, ci: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of the pairs with one 0/1 pair per problem (`counts`: per pair its problems,
    problems lost and won), drawn together: a problem's difference is -1, 0 or +1, so a resample
    is fully described by how many of each it drew (a multinomial, as successive binomials
    vectorised over pairs and resamples)."""
    rng = np.random.default_rng(seed)
    alpha = (1.0 - ci) / 2.0
    chunk = max(1, 4_000_000 // max(n_boot, 1))
    lows, highs = np.empty(len(counts)), np.empty(len(counts))
    for begin in range(0, len(counts), chunk):
        n, lost, won = counts[begin:begin + chunk].T
        down, up = lost / n, won / n
        draws_down = rng.binomial(np.repeat(n[:, None], n_boot, axis=1), down[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            up_given_rest = np.where(down < 1, up / (1 - down), 0.0)
        draws_up = rng.binomial(n[:, None] - draws_down, np.clip(up_given_rest, 0, 1)[:, None])
        means = (draws_up - draws_down) / n[:, None]
        lows[begin:begin + chunk], highs[begin:begin + chunk] = np.quantile(means, [alpha, 1.0 - alpha], axis=1)
    return lows, highs


CELLS = Memo("cells", MEMO_CELLS)  # a cell's drawn intervals by what they were drawn from
TABLES = Memo("pair tables", MEMO_TABLES, record=False)  # a table's frame and draws by its cells' keys
SIMPLE = Memo("simple pairs", MEMO_SIMPLE, record=False)  # simple pairs' intervals by their counts


def forget_cells() -> None:
    """Drop the memoised cells' counts and draws (benchmarks measure a cold start with it)."""
    for memo in (CELLS, SIMPLE, COUNTED, TABLES):
        memo.clear()


def _cell_interval_memo(draw: CellDraw, n_boot: int, ci: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    sums, counts = np.asarray(draw.sums, dtype=float), np.asarray(draw.counts, dtype=float)  # as counted
    key = digest(n_boot, ci, seed, repr(sums.shape), np.ascontiguousarray(sums).tobytes(),
                 np.ascontiguousarray(counts).tobytes())
    return CELLS.get_or_compute(key, lambda: _cell_intervals(sums, counts, n_boot, ci, seed))


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
