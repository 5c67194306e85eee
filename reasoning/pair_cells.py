"""One (model, budget) cell of the head-to-head counted: every pair of its strategies' paired
results, accuracies, discordant counts, McNemar p and detectable difference, and what the pair's
bootstrap interval is drawn from (reasoning.pair_table puts the cells together and draws).

A cell's counts depend on its own results only (its strategies in the table's order, and each
result's strategy, problem and verdict in the results' order), so a cell counted once is memoised
by a digest of exactly those: recomputed after one new result, a table counts again only the cell
the result is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reasoning.group_codes import unique_inverse
from reasoning.memo import Memo, digest
from reasoning.paired_stats import PAIR_COLUMNS, mcnemar_exact, min_detectable_difference

# Counted cells kept. A table asks for its cells in order, so with fewer kept than a table has
# cells each would be dropped before it is asked for again (the 100k bench store's board has 15);
# each holds ~200 kB at 45 pairs x 1,100 problems.
MEMO_COUNTED = 256


@dataclass(frozen=True)
class CellDraw:
    """What a cell's intervals of pairs with repeated runs are drawn from: per pair (rows of the
    table), each of the cell's problems' difference sum and number of pairs."""

    rows: np.ndarray  # table rows of the pairs to draw
    sums: np.ndarray  # pairs x problems (float64, or int16 when whole: read as float64)
    counts: np.ndarray  # pairs x problems (likewise)


@dataclass(frozen=True)
class CountedCell:
    """A cell's rows of the table (rows numbered from the cell's first), its pairs with one 0/1
    pair per problem as (row, problems, problems lost, problems won), and the draw of the others
    (None: every pair is simple)."""

    columns: tuple[tuple[Any, ...], ...]  # one tuple per PAIR_COLUMNS entry
    simple: tuple[tuple[int, int, int, int], ...]
    draw: CellDraw | None


COUNTED = Memo("counted cells", MEMO_COUNTED, record=False)  # not kept with stored boards


def cell_key(cell: tuple[Any, Any], names: list[Any], ordered: list[int], *results: np.ndarray) -> bytes:
    """A digest of everything a cell's counts depend on: counted_cell's arguments, with `results`
    its series, items and correct, each in any dtype that holds them exactly (the dtype is digested
    with the values: the smaller, the quicker)."""
    parts: list[str | bytes] = []
    for values in results:
        parts += [repr(values.dtype), np.ascontiguousarray(values).tobytes()]
    return digest(f"{type(cell[0]).__name__}:{cell[0]!r}", f"{type(cell[1]).__name__}:{cell[1]!r}",
                  repr([f"{type(name).__name__}:{name!r}" for name in names]), repr(ordered), *parts)


def counted_cell(key: bytes, cell: tuple[Any, Any], names: list[Any], ordered: list[int], series: np.ndarray,
                 items: np.ndarray, correct: np.ndarray) -> CountedCell:
    """The cell's pairs from its results in the results' order (`key`: their cell_key): `series`
    as positions in `names` (the cell's strategies), `items` integer codes, `correct` verdicts;
    `ordered` lists the positions in the table's order (each strategy is paired with every later
    one)."""
    return COUNTED.get_or_compute(key, lambda: _count(cell, names, ordered, series, items, correct))


def _count(cell: tuple[Any, Any], names: list[Any], ordered: list[int], series: np.ndarray, items: np.ndarray,
           correct: np.ndarray) -> CountedCell:
    # The cell's results by strategy and problem; the sort is stable, so a strategy's results on a
    # problem keep their order and `rep` numbers them: the k-th run of one strategy on a problem
    # pairs with the k-th of another.
    series, items = series.astype(np.int64), items.astype(np.int64)
    order = _sorted_rows(series, items)
    series, items, correct = series[order], items[order], correct[order]
    new_run = np.r_[True, (series[1:] != series[:-1]) | (items[1:] != items[:-1])]
    starts = np.flatnonzero(new_run)
    rep = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    columns: dict[str, list] = {name: [] for name in PAIR_COLUMNS}
    simple: list[tuple[int, int, int, int]] = []
    draw = _cell_pairs(columns, simple, cell, names, ordered, series, items, rep, correct)
    if draw is not None:  # kept small and read only
        whole = _whole_type(correct)
        if whole is not None:
            draw = CellDraw(draw.rows, draw.sums.astype(whole), draw.counts.astype(whole))
        for part in (draw.rows, draw.sums, draw.counts):
            part.flags.writeable = False  # shared by every table that meets this cell
    return CountedCell(tuple(tuple(columns[name]) for name in PAIR_COLUMNS), tuple(simple), draw)


def _whole_type(correct: np.ndarray) -> type | None:
    """An integer type that holds a cell's per-problem difference sums and pair counts exactly (as
    float64 again they are the same), or None. With 0/1 verdicts they are whole numbers no larger
    than the cell's results: int16 (a quarter of float64's memory) below 2^15 results."""
    if not np.all((correct == 0) | (correct == 1)):
        return None
    return np.int16 if len(correct) < 2**15 else np.int32 if len(correct) < 2**31 else None


def _sorted_rows(series: np.ndarray, items: np.ndarray) -> np.ndarray:
    """np.lexsort((items, series)): rows by series and item, ties in their order. One stable sort
    of a combined key where it fits in 62 bits."""
    if not len(series):
        return np.zeros(0, dtype=np.int64)
    low = int(items.min())
    n_items, n_series = int(items.max()) - low + 1, int(series.max()) + 1
    if n_series * n_items >= 2**62:
        return np.lexsort((items, series))
    return np.argsort(series * n_items + (items - low), kind="stable")


def _cell_pairs(columns: dict[str, list], simples: list[tuple[int, int, int, int]], cell: tuple[Any, Any],
                names: Sequence[Any], ordered: list[int], local_series: np.ndarray, items: np.ndarray, rep: np.ndarray,
                correct: np.ndarray) -> CellDraw | None:
    """Append one cell's pairs to `columns` (in `ordered` order: each series with every later one).
    A pair with one 0/1 pair per problem goes to `simples` (drawn with every such pair); the others
    are returned, to be drawn from one resample of every problem any pair of the cell has (None:
    no such pair)."""
    runs = int(rep.max()) + 1
    # one row per (problem, k-th run), sorted by problem: the k-th runs of two strategies on a
    # problem are a pair
    keys, key_codes = unique_inverse(items * runs + rep)
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
    # With 0/1 verdicts every term and sum is a whole number below 2^24, exact in float32 (a
    # quarter of float64's time here), and exactly the same once back in float64.
    exact = np.float32 if len(keys) < 2**24 and np.all((correct == 0) | (correct == 1)) else np.float64
    values_of, shown_of = values.astype(exact), shown.astype(exact)
    differences = values_of[first] * shown_of[second] - values_of[second] * shown_of[first]
    pairs_of = shown_of[first] * shown_of[second]
    if runs > 1:
        starts = np.flatnonzero(np.r_[True, key_item[1:] != key_item[:-1]])
        differences = np.add.reduceat(differences, starts, axis=1)
        pairs_of = np.add.reduceat(pairs_of, starts, axis=1)
    differences, pairs_of = differences.astype(np.float64), pairs_of.astype(np.float64)
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
    return CellDraw(np.array(drawn_rows, dtype=np.int64), orient * differences[drawn][:, problems] + 0.0,
                    pairs_of[drawn][:, problems])
