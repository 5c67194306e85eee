"""Rows numbered by their group, as ``DataFrame.groupby(keys, sort=True).ngroup()`` numbers them,
in numpy: the leaderboard's metrics group one frame of per-item cells by (strategy, model[,
budget]) several times per board, and pandas' groupby machinery (a factorisation of every string
column per call, an index per group) cost more than the metrics themselves. Pure functions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def group_codes(frame: pd.DataFrame, keys: Sequence[str], *,
                dropna: bool = False) -> tuple[np.ndarray, dict[str, list[Any]]]:
    """Each row's group number and every group's key values (one list per key, group by group).

    Groups are numbered in sorted order of their key values, a missing value after the others in
    each key, as ``frame.groupby(keys, sort=True, dropna=dropna)`` numbers them over columns of
    plain values; a row with a missing key is numbered -1 (left out) when ``dropna``. A
    Categorical column is read from its codes and its values are ordered by value, not by the
    categories' order, so it groups exactly as the same column of plain values would.
    """
    n_rows = len(frame)
    columns = [frame[key] for key in keys]
    starts = _segment_starts(columns, n_rows)
    if starts is None:
        return _combine([column_codes(column) for column in columns], keys, n_rows, dropna)
    # The rows come in long runs of equal keys (the cells are sorted): one row per run is grouped,
    # and each run's group is repeated over its rows.
    taken = [column_codes(column.take(starts)) for column in columns]
    groups, values = _combine(taken, keys, len(starts), dropna)
    return np.repeat(groups, np.diff(np.r_[starts, n_rows])), values


def _combine(parts: list[tuple[np.ndarray, list[Any]]], keys: Sequence[str], n_rows: int,
             dropna: bool) -> tuple[np.ndarray, dict[str, list[Any]]]:
    """The groups of rows given each key's column_codes (see group_codes)."""
    combined = np.zeros(n_rows, dtype=np.int64)
    valid = np.ones(n_rows, dtype=bool)
    sizes: list[int] = []
    for codes, values in parts:
        missing = codes < 0
        if dropna:
            valid &= ~missing
            codes = np.where(missing, 0, codes)
        elif missing.any():
            codes = np.where(missing, len(values), codes)  # missing after every value
        size = len(values) + (0 if dropna else 1)
        combined = combined * size + codes
        sizes.append(size)
    total = int(np.prod(sizes, dtype=object)) if sizes else 1
    if total <= 8 * n_rows + 4096:  # few possible groups: which exist, counted in one pass
        present = np.bincount(combined[valid], minlength=total) > 0
        found = np.flatnonzero(present)
        groups = (np.cumsum(present) - 1)[combined]
    else:
        found, inverse = np.unique(combined[valid], return_inverse=True)
        groups = np.zeros(n_rows, dtype=np.int64)
        groups[valid] = inverse.ravel()
    groups = np.where(valid, groups, -1).astype(np.int64)
    out: dict[str, list[Any]] = {}
    rest = found
    for key, size, (_, values) in reversed(list(zip(keys, sizes, parts, strict=True))):
        rest, at = np.divmod(rest, size)
        out[key] = [values[i] if i < len(values) else float("nan") for i in at.tolist()]
    return groups, {key: out[key] for key in keys}


def column_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """``pd.factorize(column, sort=True)`` as codes (-1: missing) and a list of the sorted values;
    a Categorical is read from its codes, its values sorted by value (not by category order)."""
    array = column.array
    if isinstance(array, pd.Categorical):
        raw = np.asarray(array.codes, dtype=np.int64)
        used = np.flatnonzero(np.bincount(raw[raw >= 0], minlength=len(array.categories)))
        values = array.categories[used]
        order = np.asarray(values.argsort())
        rank = np.full(len(array.categories) + 1, -1, dtype=np.int64)  # the last entry: a missing value
        rank[used[order]] = np.arange(len(used))
        return rank[raw], values[order].tolist()
    codes, values = pd.factorize(column, sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), values.tolist()


def _segment_starts(columns: list[pd.Series], n_rows: int) -> np.ndarray | None:
    """Where each run of rows with equal values in every column starts (a missing value starts a
    run of its own), or None when runs are short or a column holds Python objects (comparing them
    one by one costs what factorising them does)."""
    if n_rows < 2:
        return None
    differs = np.zeros(n_rows - 1, dtype=bool)
    for column in columns:
        array = column.array
        if isinstance(array, pd.Categorical):
            codes = array.codes
            differs |= codes[1:] != codes[:-1]
            continue
        if column.dtype == object:
            return None
        differs |= _differs(column)
    starts = np.flatnonzero(np.r_[True, differs])
    return starts if len(starts) * 4 < n_rows else None


_DIFFERS: OrderedDict[int, tuple[Any, np.ndarray]] = OrderedDict()
_DIFFERS_LOCK = threading.Lock()


def _differs(column: pd.Series) -> np.ndarray:
    """Whether each row's value differs from the previous row's (missing: differs). A column held
    in Arrow (the strings of a board's cells) is immutable, so its answer is kept by the Arrow
    array's identity (the entry holds the array, so the identity is not reused): the metrics of
    one board read the same key columns several times."""
    array = column.array
    arrow = array.__arrow_array__() if isinstance(array, pd.arrays.ArrowExtensionArray) else None
    if arrow is not None:
        with _DIFFERS_LOCK:
            kept = _DIFFERS.get(id(arrow))
        if kept is not None and kept[0] is arrow:
            return kept[1]
    values = column.to_numpy() if isinstance(column.dtype, np.dtype) else array
    step = values[1:] != values[:-1]
    if not isinstance(step, np.ndarray):  # an extension array's comparison: missing where either is
        step = step.to_numpy(dtype=bool, na_value=True)
    step = np.asarray(step, dtype=bool)
    if arrow is not None:
        step.flags.writeable = False
        with _DIFFERS_LOCK:
            _DIFFERS[id(arrow)] = (arrow, step)
            while len(_DIFFERS) > 8:
                _DIFFERS.popitem(last=False)
    return step


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` of integer keys, without its sort where it can: keys
    that are non-negative in a small range are marked in a table (no sort); others go through a
    stable sort, which for keys in a few sorted runs (cells in order of series, budget and item)
    takes about one pass."""
    keys = np.asarray(keys)
    top = int(keys.max()) + 1 if len(keys) else 0
    if keys.min(initial=0) >= 0 and top <= 8 * len(keys) + 1_000_000:
        seen = np.zeros(top, dtype=bool)
        seen[keys] = True
        found = np.flatnonzero(seen)
        position = np.empty(top, dtype=np.int64)
        position[found] = np.arange(len(found))
        return found.astype(keys.dtype, copy=False), position[keys]
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse
