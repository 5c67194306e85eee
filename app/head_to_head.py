"""The head-to-head at equal budget in words and tables: which pairs are clear differences, a
(model, budget) cell as a matrix of differences with their intervals, a sentence per clear
difference or one saying what the problems could have shown (reasoning.paired_stats computes the
pairs). No Streamlit here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from app.leaderboard_view import budget_text
from reasoning import paired_stats
from reasoning.memo import Memo, digest
from reasoning.pair_table import PairTable

SIGNIFICANCE = 0.05  # a pair is a clear difference when its Holm-adjusted p is below this


def significant(pairs: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(pairs["p_holm"], errors="coerce") < SIGNIFICANCE


def pair_budgets(pairs: pd.DataFrame | None) -> list[tuple[str, float]]:
    """The (model, budget) cells that have at least one pair, in order."""
    if pairs is None or pairs.empty:
        return []
    return [(str(m), float(b)) for m, b in pairs[["model", "budget"]].drop_duplicates().itertuples(index=False)]


def _whole_pts(value: float) -> int:
    # Rounded to whole points before formatting, so -0.0 and -0.3 pts read "0", not "-0".
    return int(round(value * 100))


def _pts(value: float) -> str:
    return f"{_whole_pts(value):+d}"


def detectable_difference(n: int, discordance: float) -> float:
    """The smallest accuracy difference (0-1) that n paired problems show with 80% power, given the
    share of problems on which the two strategies disagreed so far; NaN when none would show.

    Connor's formula (paired_stats.min_detectable_difference) takes the discordance psi as known.
    A true difference delta makes at least a share delta of the problems discordant, so the test
    would meet psi >= max(observed, delta): two strategies that agreed on every problem so far
    (observed 0) do not make every difference visible, and a small observed share does not hide
    every difference larger than it. When the observed share is too small for the difference it
    would show, the answer is the smallest psi = delta that the formula accepts (found by bisection:
    the formula's delta grows as sqrt(psi), so delta <= psi holds above one threshold)."""
    if n < 1:
        return float("nan")
    observed = discordance if math.isfinite(discordance) else paired_stats.UNKNOWN_DISCORDANCE
    mdd = paired_stats.min_detectable_difference(n, observed)
    if mdd == mdd and mdd > 0:
        return mdd
    if paired_stats.min_detectable_difference(n, 1.0) != paired_stats.min_detectable_difference(n, 1.0):
        return float("nan")  # even a difference of 100 pts would not show
    low, high = max(observed, 0.0), 1.0
    for _ in range(50):
        middle = (low + high) / 2
        delta = paired_stats.min_detectable_difference(n, middle)
        if delta == delta and delta > 0:
            high = middle
        else:
            low = middle
    return high


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


class _Pair(NamedTuple):
    a: str
    b: str
    n: int
    diff: float
    ci_low: float
    ci_high: float
    a_only: int
    b_only: int
    p_holm: float


def _cell_pairs(pairs: pd.DataFrame, model: str, budget: float) -> list[_Pair]:
    """The pairs of one (model, budget) as plain tuples, in the frame's order: a cell has a few
    dozen pairs, and row by row pandas (masks, itertuples) took most of a sentence's ~3 ms."""
    columns = [pairs[name].tolist() for name in ("model", "budget", *_Pair._fields)]
    return [_Pair(*row[2:]) for row in zip(*columns, strict=True)
            if str(row[0]) == model and float(row[1]) == budget]


def _clear(pair: _Pair) -> bool:
    return pair.p_holm == pair.p_holm and pair.p_holm < SIGNIFICANCE  # a NaN p is no clear difference


def pair_sentences(pairs: pd.DataFrame, cap: str, model: str, budget: float, *,
                   with_model: bool = False) -> list[str]:
    """What the head-to-head at one (model, budget) says, one sentence per clear difference:
    "At 1,024 tokens self_consistency beats tree_of_thoughts by +12 pts [5, 19], p = 0.002
    (Holm-adjusted) over 200 problems"; or one sentence saying there is no clear difference, with
    the smallest difference these problems could show."""
    cell = _cell_pairs(pairs, model, budget)
    where = f"At {budget_text(budget, cap)}" + (f" on {model}" if with_model else "")
    clear = sorted((r for r in cell if _clear(r)), key=lambda r: r.p_holm)  # sorted() is stable
    sentences = [
        f"{where} {r.a} beats {r.b} by {_pts(r.diff)} pts [{_whole_pts(r.ci_low)}, {_whole_pts(r.ci_high)}], "
        f"{_p_text(r.p_holm)} (Holm-adjusted) over {r.n:,} {'problem' if r.n == 1 else 'problems'}"
        for r in clear
    ]
    if sentences or not cell:
        return sentences
    n = int(max(r.n for r in cell))
    # numpy's sum, as pandas' mean sums (pairwise): the same float to the last bit
    discordance = float(np.array([(r.a_only + r.b_only) / r.n for r in cell], dtype=float).sum() / len(cell))
    mdd = detectable_difference(n, discordance)
    reach = (f"with {n:,} problems, a difference under about {mdd * 100:.0f} pts is likely to go unseen "
             "(80% power, α = 0.05)" if mdd == mdd else f"{n:,} problems are too few to show any difference")
    known = [r.p_holm for r in cell if r.p_holm == r.p_holm]
    smallest = min(known) if known else float("nan")
    return [f"{where}: no clear difference (smallest Holm-adjusted p = {smallest:.2f}); {reach}."]


def pair_matrix(pairs: pd.DataFrame, model: str, budget: float, order: list[str]) -> tuple[pd.DataFrame,
                                                                                          pd.DataFrame]:
    """The head-to-head at one (model, budget) as a matrix: the cell in row X, column Y is X's
    accuracy minus Y's in points with its 95% CI, "+12 [5, 19]"; and a same-shaped frame of
    -1/0/+1: +1 where X is clearly ahead, -1 clearly behind, 0 no clear difference (or no pair)."""
    cell = _cell_pairs(pairs, model, budget)
    present = {r.a for r in cell} | {r.b for r in cell}
    names = [n for n in dict.fromkeys(order) if n in present]  # a strategy on several models: once
    names += [n for n in dict.fromkeys([*(r.a for r in cell), *(r.b for r in cell)]) if n not in set(names)]
    where = {name: i for i, name in enumerate(names)}
    # Plain lists, then one frame of objects: cell by cell .loc on a string frame took ~0.2 s per
    # matrix, and Streamlit's Styler writes every cell again (fast on object columns).
    text = [["—" if i == j else "" for j in range(len(names))] for i in range(len(names))]
    sign = [[0] * len(names) for _ in names]
    for r in cell:
        a, b = where[r.a], where[r.b]
        text[a][b] = f"{_pts(r.diff)} [{_whole_pts(r.ci_low)}, {_whole_pts(r.ci_high)}]"
        text[b][a] = f"{_pts(-r.diff)} [{_whole_pts(-r.ci_high)}, {_whole_pts(-r.ci_low)}]"
        if r.p_holm < SIGNIFICANCE:
            sign[a][b], sign[b][a] = (1, -1) if r.diff > 0 else (-1, 1)
    return (pd.DataFrame(text, index=names, columns=names, dtype=object),
            pd.DataFrame(sign, index=names, columns=names))


# A matrix cell's look by its sign (pair_matrix): clearly ahead, clearly behind, no clear difference.
CELL_CSS = {1: "background-color: rgba(33, 160, 80, 0.25); font-weight: bold",
            -1: "background-color: rgba(220, 60, 60, 0.22); font-weight: bold",
            0: "color: #999999"}


def matrix_styler(text: pd.DataFrame, sign: pd.DataFrame) -> Styler:
    """`text` styled cell by cell by `sign` (CELL_CSS), for st.dataframe (pandas' public Styler:
    a faster path through its private methods saved ~18 ms a render but would break silently with
    a pandas or Streamlit release)."""
    return text.style.apply(lambda _: sign.map(CELL_CSS.get), axis=None)


def detectable_sentence(problems: int) -> str:
    """Before a sweep: the smallest accuracy difference between two strategies at one budget that
    `problems` paired problems detect with 80% power (paired_stats.min_detectable_difference,
    discordance unknown: taken as half the problems)."""
    mdd = paired_stats.min_detectable_difference(problems)
    if mdd != mdd:  # NaN: not even the largest difference
        return f"{problems:,} problems are too few for a paired test to show any difference between two strategies."
    return (f"With {problems:,} problems, two strategies at one budget can be told apart reliably only if their "
            f"accuracies differ by about {mdd * 100:.0f} pts or more (paired test, 80% power, α = 0.05).")


def pairs_csv(pairs: pd.DataFrame, cap: str) -> str:
    out = pairs.copy()
    out.insert(2, "budget_axis", cap)
    return out.to_csv(index=False)


def table_cells(table: PairTable) -> list[tuple[str, float]]:
    """table.cells(), kept while the table is: a widget click does not list them again."""
    kept, cells = _CELLS.get_or_compute(digest(id(table)), lambda: (table, table.cells()))
    return list(cells) if kept is table else table.cells()


def shown_cell(pairs: pd.DataFrame, cap: str, model: str, budget: float, with_model: bool,
               order: tuple[str, ...]) -> tuple[list[str], Styler]:
    """The page's shown cell: its sentences and its matrix styled (matrix_styler), the sentences
    and matrix kept by the cell's content (a widget click leaves them as they were)."""
    numbers = pairs[_PAIR_NUMBERS].to_numpy(dtype=float).tobytes()
    names = ["\0".join(pairs[column].astype(str)) for column in ("model", "a", "b")]
    key = digest(numbers, *names, cap, model, budget, with_model, "\0".join(order))

    def make() -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
        text, sign = pair_matrix(pairs, model, budget, list(order))
        return pair_sentences(pairs, cap, model, budget, with_model=with_model), text, sign

    sentences, text, sign = _SHOWN.get_or_compute(key, make)
    return list(sentences), matrix_styler(text, sign)  # a new Styler each time: it draws its own uuid


_PAIR_NUMBERS = ["budget", "n", "diff", "ci_low", "ci_high", "a_only", "b_only", "p_holm"]
# Keyed by the table's id; the entry holds the table, so the id is not reused while it is here.
_CELLS = Memo("lb.page.cells", 8, record=False)
_SHOWN = Memo("lb.page.h2h", 8, record=False)
