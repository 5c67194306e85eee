"""Rows numbered by group in numpy: the same numbering as pandas' groupby, whatever the columns'
dtype, and the leaderboard's metrics the same for plain and Categorical key columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reasoning.group_codes import column_codes, group_codes, unique_inverse
from reasoning.leaderboard_metrics import ResultCounts, leaderboard_counts, result_counts
from reasoning.metrics import accuracy_by_budget_counts
from reasoning.rank_intervals import rank_intervals_counts


def _frame(rng: np.random.Generator, n: int = 300, *, missing: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({"strategy": rng.choice(["zeta", "alpha", "mid"], n),
                          "model": rng.choice(["m2", "m1", "a:x"], n),
                          "budget": rng.choice([4000.0, 250.0, 1000.0], n)})
    if missing:
        frame.loc[rng.random(n) < 0.05, "model"] = None
        frame.loc[rng.random(n) < 0.05, "budget"] = np.nan
    return frame


@pytest.mark.parametrize("dropna", [False, True])
@pytest.mark.parametrize("ordered_rows", [False, True])
def test_codes_number_groups_as_groupby_does(dropna: bool, ordered_rows: bool) -> None:
    frame = _frame(np.random.default_rng(1))
    if ordered_rows:  # long runs of equal values: the run-length path
        frame = frame.sort_values(["strategy", "model", "budget"]).reset_index(drop=True)
    keys = ["strategy", "model", "budget"]
    grouped = frame.groupby(keys, sort=True, dropna=dropna)
    codes, values = group_codes(frame, keys, dropna=dropna)
    expected = grouped.ngroup().to_numpy(dtype=float)
    assert np.array_equal(np.where(codes < 0, np.nan, codes), expected, equal_nan=True)
    found = list(zip(*(values[k] for k in keys), strict=True))
    assert [str(k) for k in found] == [str(k) for k in grouped.size().index]  # str: NaN == NaN


def test_a_categorical_column_groups_by_value_not_by_category_order() -> None:
    plain = pd.Series(["zeta", "alpha", None, "zeta", "mid"], dtype="str")
    categorical = pd.Series(pd.Categorical(plain, categories=["zeta", "unused", "mid", "alpha"]))
    plain_codes, plain_values = column_codes(plain)
    codes, values = column_codes(categorical)
    assert codes.tolist() == plain_codes.tolist() == [2, 0, -1, 2, 1]
    assert values == plain_values == ["alpha", "mid", "zeta"]


def test_unique_inverse_is_np_unique() -> None:
    keys = np.r_[np.arange(50), np.arange(20, 80), np.random.default_rng(2).integers(0, 100, 40)]
    found, inverse = unique_inverse(keys)
    expected, expected_inverse = np.unique(keys, return_inverse=True)
    assert found.tolist() == expected.tolist() and inverse.tolist() == expected_inverse.ravel().tolist()
    assert [a.tolist() for a in unique_inverse(np.zeros(0, dtype=np.int64))] == [[], []]


def _counts(seed: int) -> ResultCounts:
    rng = np.random.default_rng(seed)
    n = 600
    rows = pd.DataFrame({"strategy": rng.choice(["zeta", "alpha", "mid", "b"], n),
                         "model": rng.choice(["m2", "m1"], n), "budget": rng.choice([250.0, 1000.0, 4000.0], n),
                         "item_id": rng.choice([f"q{i}" for i in range(40)], n), "correct": rng.choice([0.0, 1.0], n),
                         "total_tokens": rng.integers(1, 500, n), "usd": rng.random(n), "seconds": rng.random(n)})
    return result_counts(rows)


def test_metrics_are_the_same_for_plain_and_categorical_keys() -> None:
    counts = _counts(3)
    cells = counts.cells
    # categories deliberately out of name order, one never used: the metrics read values
    categorical = cells.assign(
        strategy=pd.Categorical(cells["strategy"], categories=["zeta", "unused", "mid", "b", "alpha"]),
        model=pd.Categorical(cells["model"], categories=["m2", "m1"]))
    as_categories = ResultCounts(counts.keys, categorical, counts.sums, counts.errored, counts.failed)
    keys = list(counts.keys)
    curve = accuracy_by_budget_counts(cells, keys, n_boot=200)
    pd.testing.assert_frame_equal(curve, accuracy_by_budget_counts(categorical, keys, n_boot=200), check_exact=True)
    pd.testing.assert_frame_equal(leaderboard_counts(counts, n_boot=200, by_budget=curve),
                                  leaderboard_counts(as_categories, n_boot=200, by_budget=curve), check_exact=True)
    results = int(cells["n"].sum())
    ranks = rank_intervals_counts(cells, keys, results=results, n_boot=200)
    pd.testing.assert_frame_equal(ranks, rank_intervals_counts(categorical, keys, results=results, n_boot=200),
                                  check_exact=True)
    assert ranks["strategy"].tolist() == ["alpha"] * 2 + ["b"] * 2 + ["mid"] * 2 + ["zeta"] * 2  # sorted by name
    assert curve["strategy"].tolist()[0] == "alpha" and curve["budget"].tolist()[:3] == [250.0, 1000.0, 4000.0]


def test_a_changed_string_column_is_grouped_by_its_new_values() -> None:
    # Arrow-held columns keep their run boundaries by array identity: a column replaced by other
    # values (a new array) must be read again, never from the kept answer.
    frame = pd.DataFrame({"strategy": pd.array(["a"] * 10 + ["b"] * 10, dtype="str"), "budget": [1.0] * 20})
    first, _ = group_codes(frame, ["strategy", "budget"])
    assert first.tolist() == [0] * 10 + [1] * 10
    frame.loc[3, "strategy"] = "c"
    frame["strategy"] = frame["strategy"].to_numpy()  # and as a fresh column
    codes, values = group_codes(frame, ["strategy", "budget"])
    assert values["strategy"] == ["a", "b", "c"] and codes[3] == 2 and codes[:3].tolist() == [0, 0, 0]
    assert codes.tolist() == frame.groupby(["strategy", "budget"], sort=True).ngroup().tolist()
