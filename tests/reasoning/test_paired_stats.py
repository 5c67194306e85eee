"""Paired statistics: hand-computed values, then scipy and statsmodels as references.

scipy and statsmodels are in the `test` extra (make test installs them); the reference tests skip
only where they are missing.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from reasoning.pair_table import PairTable, pair_table, paired_comparisons
from reasoning.paired_stats import (
    PAIR_COLUMNS,
    holm,
    mcnemar_exact,
    min_detectable_difference,
)
from reasoning.rank_intervals import rank_intervals

Z_ALPHA = NormalDist().inv_cdf(0.975)
Z_POWER = NormalDist().inv_cdf(0.8)


# ---- McNemar ----------------------------------------------------------------------------------


def test_mcnemar_exact_by_hand() -> None:
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pair: no evidence
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)  # 2 * P[X <= 0], X ~ Bin(5, 1/2)
    assert mcnemar_exact(0, 5) == mcnemar_exact(5, 0)  # two-sided: symmetric
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)  # 2 * (C(10,0) + C(10,1)) / 2^10
    assert mcnemar_exact(6, 1) == pytest.approx(2 * (1 + 7) / 128)
    assert mcnemar_exact(3, 3) == 1.0  # 2 * 42/64 > 1: capped
    assert mcnemar_exact(2000, 1000) < 1e-40  # exact integer tail, no overflow at large n
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_mcnemar_matches_scipy_and_statsmodels() -> None:
    stats = pytest.importorskip("scipy.stats")
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    for a_only, b_only in [(0, 1), (1, 0), (3, 7), (10, 2), (12, 12), (40, 25), (0, 17), (150, 110)]:
        ours = mcnemar_exact(a_only, b_only)
        assert ours == pytest.approx(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue, rel=1e-9)
        # statsmodels takes the 2x2 table; only the off-diagonal (discordant) cells matter
        table = [[7, a_only], [b_only, 4]]
        assert ours == pytest.approx(contingency.mcnemar(table, exact=True).pvalue, rel=1e-9)


# ---- Holm -------------------------------------------------------------------------------------


def test_holm_by_hand() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # capped at 1
    out = holm([0.01, float("nan"), 0.02])  # NaN is not a test: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert holm([]).tolist() == []


def test_holm_matches_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 13, 40):
        p = rng.random(size) ** 3
        p[::4] = p[0]  # ties
        assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1], rel=1e-12)


# ---- minimum detectable difference ------------------------------------------------------------


def connor_n(delta: float, psi: float) -> float:
    """Connor (1987): items a paired test needs to detect delta with 80% power at alpha 0.05."""
    return (Z_ALPHA * math.sqrt(psi) + Z_POWER * math.sqrt(psi - delta**2)) ** 2 / delta**2


def test_min_detectable_difference_solves_connors_formula() -> None:
    for n, psi in [(20, 0.5), (200, 0.5), (200, 0.2), (1000, 0.35), (50, 0.9)]:
        delta = min_detectable_difference(n, psi)
        assert 0 < delta <= psi
        assert connor_n(delta, psi) == pytest.approx(n, rel=1e-9)
    # more items, smaller detectable difference; more disagreement, larger one
    assert min_detectable_difference(800) < min_detectable_difference(200) < min_detectable_difference(50)
    assert min_detectable_difference(200, 0.1) < min_detectable_difference(200, 0.4)
    # unknown discordance is taken as 0.5 (two independent strategies at 50% accuracy)
    assert min_detectable_difference(200) == min_detectable_difference(200, 0.5)
    assert min_detectable_difference(200, float("nan")) == min_detectable_difference(200, 0.5)


def test_min_detectable_difference_edges() -> None:
    assert math.isnan(min_detectable_difference(0))
    assert min_detectable_difference(30, 0.0) == 0.0  # never disagree: nothing to detect, nothing hidden
    assert math.isnan(min_detectable_difference(3, 0.1))  # even delta = psi would not show on 3 items


def test_min_detectable_difference_near_the_unpaired_figure_and_statsmodels() -> None:
    # Hand: for small differences, delta ~ (z_0.975 + z_0.8) * sqrt(psi / n); at psi = 0.5 this is the
    # two-proportion z-test at p = 0.5 with n per group: 2.8016 * sqrt(0.5 / 1000) = 0.0886.
    assert min_detectable_difference(1000) == pytest.approx((Z_ALPHA + Z_POWER) * math.sqrt(0.5 / 1000), rel=0.01)
    power = pytest.importorskip("statsmodels.stats.power")
    # statsmodels solves the two-sample z-test for the standardised effect d; delta = d * sqrt(p (1 - p))
    d = power.NormalIndPower().solve_power(effect_size=None, nobs1=2000, alpha=0.05, power=0.8, ratio=1.0)
    assert min_detectable_difference(2000) == pytest.approx(d * 0.5, rel=0.01)


def test_min_detectable_difference_gives_80_percent_power_by_simulation() -> None:
    # The exact McNemar test on n = 200 items with 30% discordant pairs, at the difference the
    # formula gives, rejects in about 80% of simulated experiments (a little under: exact tests are
    # conservative).
    stats = pytest.importorskip("scipy.stats")
    n, psi = 200, 0.3
    delta = min_detectable_difference(n, psi)
    rng = np.random.default_rng(7)
    sims = 4000
    discordant = rng.binomial(n, psi, size=sims)
    a_only = rng.binomial(discordant, (1 + delta / psi) / 2)  # P(a wins | discordant) = (psi + delta) / (2 psi)
    k = np.minimum(a_only, discordant - a_only)
    p = np.minimum(1.0, 2 * stats.binom.cdf(k, discordant, 0.5))
    assert 0.74 <= float(np.mean(p < 0.05)) <= 0.85


# ---- head to head -----------------------------------------------------------------------------


def rows(strategy: str, outcomes: list[int], *, budget: int = 100, model: str = "m",
         items: list[str] | None = None) -> list[dict]:
    items = items or [f"q{i}" for i in range(len(outcomes))]
    return [{"strategy": strategy, "model": model, "budget": budget, "item_id": item, "correct": c}
            for item, c in zip(items, outcomes, strict=True)]


def test_paired_comparison_by_hand() -> None:
    a = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]  # 8 of 10
    b = [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]  # 3 of 10: A alone right on 6 items, B alone on 1
    pairs = paired_comparisons(pd.DataFrame(rows("B", b) + rows("A", a)), n_boot=2000)
    assert list(pairs.columns) == PAIR_COLUMNS and len(pairs) == 1
    pair = pairs.iloc[0]
    assert (pair["a"], pair["b"]) == ("A", "B")  # the one ahead is named first
    assert (pair["n"], pair["acc_a"], pair["acc_b"], pair["diff"]) == (10, 0.8, 0.3, pytest.approx(0.5))
    assert (pair["a_only"], pair["b_only"]) == (6, 1)
    assert pair["p"] == pytest.approx(2 * (1 + 7) / 128)  # exact McNemar on 6 vs 1
    assert pair["p_holm"] == pytest.approx(pair["p"])  # one test: nothing to adjust
    assert pair["ci_low"] <= 0.5 <= pair["ci_high"]
    assert pair["mdd"] == pytest.approx(min_detectable_difference(10, 0.7))


def test_pairs_only_on_shared_items_same_model_and_budget_with_holm_across_all() -> None:
    data = pd.DataFrame(
        rows("A", [1, 1, 1, 0]) + rows("B", [0, 1, 0], items=["q0", "q1", "q9"])  # share q0, q1
        + rows("C", [1, 1, 1, 1]) + rows("A", [1, 0], budget=200) + rows("B", [0, 0], budget=200)
        + rows("A", [1, 1], model="other")  # alone on its model: no pair
        + [{"strategy": "B", "model": "m", "budget": 100, "item_id": "q2", "correct": None}]  # no verdict
    )
    pairs = paired_comparisons(data, order=["A", "B", "C"], n_boot=200)
    got = {(r.budget, r.a, r.b): r.n for r in pairs.itertuples()}
    assert got == {(100, "A", "B"): 2, (100, "C", "A"): 4, (100, "C", "B"): 2, (200, "A", "B"): 2}
    assert set(pairs["model"]) == {"m"}
    assert pairs["p_holm"].tolist() == pytest.approx(holm(pairs["p"].to_numpy()).tolist())
    assert (pairs["p_holm"] >= pairs["p"]).all()


def test_repeats_pair_run_by_run_and_the_bootstrap_resamples_items() -> None:
    # Two runs per item: the k-th run of A pairs with the k-th run of B on the same item.
    a = rows("A", [1, 1, 0, 1], items=["q0", "q0", "q1", "q1"])
    b = rows("B", [0, 1, 0, 0], items=["q0", "q0", "q1", "q1"])
    pair = paired_comparisons(pd.DataFrame(a + b), n_boot=500).iloc[0]
    assert (pair["n"], pair["a_only"], pair["b_only"]) == (4, 2, 0)
    # items q0 (diffs +1, 0) and q1 (0, +1) both average +0.5: every resample of items gives 0.5
    assert (pair["ci_low"], pair["ci_high"]) == (0.5, 0.5)


def test_paired_bootstrap_interval_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    a = (rng.random(300) < 0.7).astype(int)
    b = np.where(rng.random(300) < 0.8, a, 1 - a)  # agree on ~80% of items
    pair = paired_comparisons(pd.DataFrame(rows("A", list(a)) + rows("B", list(b))), n_boot=4000, seed=1).iloc[0]
    diff = (a - b) if pair["a"] == "A" else (b - a)
    reference = stats.bootstrap((diff,), np.mean, n_resamples=4000, method="percentile")
    assert pair["diff"] == pytest.approx(diff.mean())
    assert pair["ci_low"] == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert pair["ci_high"] == pytest.approx(reference.confidence_interval.high, abs=0.01)


def test_no_pairs_from_nothing() -> None:
    empty = pd.DataFrame(columns=["strategy", "model", "budget", "item_id", "correct"])
    assert paired_comparisons(empty).empty and list(paired_comparisons(empty).columns) == PAIR_COLUMNS


def test_results_without_a_budget_or_a_series_pair_with_nothing() -> None:
    model, items, correct = np.array(["m"] * 6), np.array([0, 0, 0, 1, 1, 2]), np.array([1.0, 0, 1, 1, 1, 0])
    series = np.array(["A", "B", None, "A", "B", "A"], dtype=object)
    assert pair_table(model, np.full(6, np.nan), series, items, correct).complete().empty
    for named in (series, pd.Categorical(series)):
        pairs = pair_table(model, np.full(6, 5.0), named, items, correct, n_boot=50).complete()
        assert [(r.a, r.b, r.n, r.a_only, r.b_only) for r in pairs.itertuples()] == [("A", "B", 2, 1, 0)]


# ---- rank intervals ---------------------------------------------------------------------------


def ranks_of(data: list[dict], **kwargs) -> dict[str, tuple[int, int]]:
    table = rank_intervals(pd.DataFrame(data), n_boot=kwargs.pop("n_boot", 400), **kwargs)
    return {r.strategy: (int(r.rank_low), int(r.rank_high)) for r in table.itertuples()}


def test_rank_intervals_settled_and_unsettled_orders() -> None:
    n = 40
    clear = rows("best", [1] * n) + rows("middle", [1, 0] * (n // 2)) + rows("worst", [0] * n)
    assert ranks_of(clear) == {"best": (1, 1), "middle": (2, 2), "worst": (3, 3)}
    twins = rows("x", [1, 0] * (n // 2)) + rows("y", [1, 0] * (n // 2))  # identical on every item: a tie
    assert ranks_of(twins) == {"x": (1, 2), "y": (1, 2)}
    close = rows("p", [1, 1, 1, 0] * 10) + rows("q", [1, 1, 0, 1] * 9 + [1, 1, 0, 0])  # 75% vs 72.5%
    assert ranks_of(close) == {"p": (1, 2), "q": (1, 2)}


def test_rank_intervals_follow_auc_across_budgets_then_accuracy() -> None:
    # "steady" is right on every item at both budgets; "late" only at the larger budget: AUC 1 vs 0.5
    data = (rows("steady", [1] * 30, budget=100) + rows("steady", [1] * 30, budget=1000)
            + rows("late", [0] * 30, budget=100) + rows("late", [1] * 30, budget=1000))
    assert ranks_of(data) == {"steady": (1, 1), "late": (2, 2)}
    # equal AUC (0.5 in every resample): overall accuracy breaks the tie, as on the leaderboard
    # (q is right on 30 more items at 1,000, so its overall accuracy is above p's 50%)
    tie = (rows("p", [1] * 30, budget=100) + rows("p", [0] * 30, budget=1000)
           + rows("q", [0] * 30, budget=100) + rows("q", [1] * 30, budget=1000)
           + rows("q", [1] * 30, budget=1000, items=[f"r{i}" for i in range(30)]))
    assert ranks_of(tie) == {"p": (2, 2), "q": (1, 1)}


def test_rank_intervals_are_seeded_and_narrow_with_more_items() -> None:
    rng = np.random.default_rng(2)
    def data(n: int) -> list[dict]:
        return rows("a", list((rng.random(n) < 0.62).astype(int))) + rows("b", list((rng.random(n) < 0.5).astype(int)))
    small, big = data(20), data(2000)
    assert rank_intervals(pd.DataFrame(small), seed=4).equals(rank_intervals(pd.DataFrame(small), seed=4))
    assert ranks_of(small) == {"a": (1, 2), "b": (1, 2)}
    assert ranks_of(big) == {"a": (1, 1), "b": (2, 2)}


def test_rank_intervals_keep_models_apart_and_skip_resamples_without_a_series() -> None:
    data = rows("a", [1] * 10) + rows("a", [0] * 10, model="n") + rows("b", [1], items=["solo"])
    table = rank_intervals(pd.DataFrame(data), n_boot=400)
    got = {(r.strategy, r.model): (r.rank_low, r.rank_high) for r in table.itertuples()}
    # b (one item, right) is level with a on m in the ~65% of resamples that draw its item and sits
    # the others out; a on n (always wrong) is then 3rd, else 2nd.
    assert got == {("a", "m"): (1, 2), ("b", "m"): (1, 2), ("a", "n"): (2, 3)}


def test_mcnemar_exact_agrees_on_both_sides_of_the_integer_limit() -> None:
    stats = pytest.importorskip("scipy.stats")
    for a_only, b_only in [(2000, 2096), (2100, 2200), (4000, 4400), (30_000, 30_900)]:
        assert mcnemar_exact(a_only, b_only) == pytest.approx(
            stats.binomtest(a_only, a_only + b_only, 0.5).pvalue, rel=1e-9)


def test_paired_bootstrap_with_repeats_matches_scipys_cluster_bootstrap() -> None:
    # Two or three runs per item: the interval resamples items, each with all its pairs.
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(8)
    items = np.repeat(np.arange(150), rng.integers(2, 4, size=150))
    skill = rng.random(150)[items]
    a = (rng.random(len(items)) < 0.3 + 0.6 * skill).astype(int)
    b = (rng.random(len(items)) < 0.2 + 0.6 * skill).astype(int)
    names = [f"q{i}" for i in items]
    pair = paired_comparisons(pd.DataFrame(rows("A", list(a), items=names) + rows("B", list(b), items=names)),
                              n_boot=4000).iloc[0]
    sign = 1 if pair["a"] == "A" else -1
    sums = np.bincount(items, weights=sign * (a - b))
    counts = np.bincount(items).astype(float)
    reference = stats.bootstrap((sums, counts), lambda s, c: s.sum() / c.sum(), paired=True, vectorized=False,
                                n_resamples=4000, method="percentile").confidence_interval
    assert pair["diff"] == pytest.approx(sums.sum() / counts.sum())
    assert pair["ci_low"] == pytest.approx(reference.low, abs=0.015)
    assert pair["ci_high"] == pytest.approx(reference.high, abs=0.015)


# ---- the lazy pair table ------------------------------------------------------------------------


def seeded_results(seed: int = 3, n: int = 900) -> dict[str, np.ndarray]:
    """Results at two budgets on two models, four strategies, 40 problems with repeated runs
    (some problems once: pairs of one result per problem mix with repeated-run pairs)."""
    rng = np.random.default_rng(seed)
    series = rng.choice(["A", "B", "C", "D"], n)
    item = np.where(rng.random(n) < 0.3, rng.integers(100, 400, n), rng.integers(0, 40, n))
    skill = {"A": 0.7, "B": 0.5, "C": 0.45, "D": 0.2}
    return {"model": rng.choice(["m1", "m2"], n), "budget": rng.choice([100.0, 1000.0], n), "series": series,
            "item": item, "correct": (rng.random(n) < np.vectorize(skill.get)(series)).astype(float)}


def by_hand(data: dict[str, np.ndarray]) -> dict[tuple, tuple[int, float, float, int, int]]:
    """Each pair's n, accuracies and discordant counts, pairing the k-th run of A on a problem with
    the k-th run of B, by plain loops (the table counts them as column sums)."""
    runs: dict[tuple, list[float]] = {}
    for m, b, s, i, c in zip(*(data[k] for k in ("model", "budget", "series", "item", "correct")), strict=True):
        runs.setdefault((m, b, s, i), []).append(c)
    out = {}
    for m, b in {(m, b) for m, b, _, _ in runs}:
        names = sorted({s for mm, bb, s, _ in runs if (mm, bb) == (m, b)})
        for x in names:
            for y in names:
                pairs = [(ca, cb) for (mm, bb, s, i), outcomes in runs.items() if (mm, bb, s) == (m, b, x)
                         for ca, cb in zip(outcomes, runs.get((m, b, y, i), []), strict=False)]
                if x != y and pairs:
                    a = np.array(pairs)
                    out[(m, b, x, y)] = (len(a), a[:, 0].mean(), a[:, 1].mean(), int(np.sum(a[:, 0] > a[:, 1])),
                                         int(np.sum(a[:, 0] < a[:, 1])))
    return out


def test_the_tables_counts_equal_pairs_counted_by_hand() -> None:
    data = seeded_results()
    table = pair_table(**data, n_boot=50).tests
    expected = by_hand(data)
    assert len(table) == len(expected) / 2
    for r in table.itertuples():
        assert (r.n, r.acc_a, r.acc_b, r.a_only, r.b_only) == pytest.approx(expected[(r.model, r.budget, r.a, r.b)])
        assert r.acc_a >= r.acc_b and r.p == mcnemar_exact(r.a_only, r.b_only)


def test_cells_drawn_one_at_a_time_in_any_order_give_the_complete_table() -> None:
    data = seeded_results()
    whole = pair_table(**data, n_boot=200).complete()
    table = pair_table(**data, n_boot=200)
    assert table.missing() and table.tests["ci_low"].isna().any()  # repeated-run pairs wait for their cell
    before = table.tests
    for model, budget in reversed(table.cells()):
        pd.testing.assert_frame_equal(table.cell(model, budget).reset_index(drop=True),
                                      whole.loc[(whole["model"] == model) & (whole["budget"] == budget)]
                                      .reset_index(drop=True))
    assert not table.missing() and table.complete().equals(whole)
    assert before["ci_low"].isna().any()  # a frame handed out earlier does not change
    assert not whole[["ci_low", "ci_high"]].isna().any().any()


def test_a_restored_table_draws_only_its_missing_cells_from_its_source() -> None:
    data = seeded_results()
    whole = pair_table(**data, n_boot=200).complete()
    partial = pair_table(**data, n_boot=200)
    first = partial.cells()[0]
    partial.cell(*first)
    sources: list[int] = []

    def source() -> PairTable:
        sources.append(1)
        return pair_table(**data, n_boot=200)

    restored = PairTable.restored(partial.tests, partial.missing(), source, n_boot=200)
    assert restored.cell(*first).equals(partial.cell(*first)) and not sources  # known: no source needed
    assert restored.complete().equals(whole) and len(sources) == 1


def test_a_cell_is_drawn_again_only_when_its_pairs_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from reasoning import pair_table as module

    module.forget_cells()
    drawn: list[int] = []
    real = module._cell_intervals
    monkeypatch.setattr(module, "_cell_intervals", lambda sums, *a: drawn.append(len(sums)) or real(sums, *a))
    data = seeded_results()
    pair_table(**data, n_boot=100).complete()
    cells = len(drawn)
    assert cells == len(pair_table(**data, n_boot=100).missing()) > 1
    more = {k: np.append(v, w) for (k, v), w in zip(data.items(), ("m1", 100.0, "A", 5, 1.0), strict=True)}
    again = pair_table(**more, n_boot=100)
    assert again.complete()["n"].sum() > pair_table(**data, n_boot=100).tests["n"].sum()  # the new run pairs
    assert len(drawn) == cells + 1  # only the cell of the new result was drawn again


def test_a_cell_is_counted_again_only_when_its_results_changed_and_the_memo_changes_no_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from reasoning import pair_cells
    from reasoning import pair_table as module

    counted: list[int] = []
    real = pair_cells._count
    monkeypatch.setattr(pair_cells, "_count", lambda *a: counted.append(1) or real(*a))
    data = seeded_results()
    more = {k: np.append(v, w) for (k, v), w in zip(data.items(), ("m2", 1000.0, "B", 7, 0.0), strict=True)}

    def cold(results: dict[str, np.ndarray], **kwargs: object) -> PairTable:
        module.forget_cells()
        return pair_table(**results, n_boot=100, **kwargs)

    first = cold(data)
    cells = len(counted)
    assert cells == len(first.cells()) == 4 and first.tests["ci_low"].notna().any()  # simple pairs drawn too
    warm = pair_table(**data, n_boot=100)
    assert len(counted) == cells and warm.tests.equals(first.tests)  # nothing counted again
    warm.complete()  # a table given again shares no state with the first: drawing one leaves the other
    assert first.missing() and first.tests["ci_low"].isna().any() and not warm.missing()
    after = pair_table(**more, n_boot=100)
    assert len(counted) == cells + 1  # the new result's cell alone
    expected = cold(more)
    pd.testing.assert_frame_equal(after.tests, expected.tests, check_exact=True)
    pd.testing.assert_frame_equal(after.complete(), expected.complete(), check_exact=True)
    # another order of the strategies: each cell's pairs follow it, whatever was memoised
    pair_table(**data, n_boot=100).complete()
    reordered = pair_table(**more, n_boot=100, order=["D", "C"])
    pd.testing.assert_frame_equal(reordered.complete(), cold(more, order=["D", "C"]).complete(), check_exact=True)
    assert list(reordered.tests[["a", "b"]].iloc[0]) != list(expected.tests[["a", "b"]].iloc[0])


def test_a_recording_keeps_the_cells_draws_not_their_counts() -> None:
    """Stored boards keep what a recording saw: the drawn intervals (small), not the counted cells
    (their per-problem sums) nor the simple pairs' intervals (recomputed from the counts)."""
    from reasoning import pair_table as module
    from reasoning.memo import recording

    module.forget_cells()
    with recording() as used:
        table = pair_table(**seeded_results(), n_boot=100)
        table.complete()
    assert set(used) == {module.CELLS.name} and len(used[module.CELLS.name]) == len(table.cells())


def test_cells_counted_from_results_in_any_order_of_cells_pair_the_kth_runs_as_before() -> None:
    """A cell's results are picked out of the others (a stable sort by cell): the k-th run of a
    strategy on a problem stays the k-th, however the cells' results interleave."""
    data = seeded_results(seed=5)
    by_cell = np.lexsort((data["budget"], data["model"]))  # every cell's results together, in order
    grouped = {k: v[by_cell] for k, v in data.items()}
    a, b = pair_table(**data, n_boot=100).complete(), pair_table(**grouped, n_boot=100).complete()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    expected = by_hand(data)
    for r in a.itertuples():
        n, _, _, a_only, b_only = expected[(r.model, r.budget, r.a, r.b)]
        assert (r.n, r.a_only, r.b_only) == (n, a_only, b_only)


def test_rank_ranges_after_one_more_result_update_the_kept_products_and_equal_a_fresh_bootstrap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from reasoning import rank_intervals as module

    rng = np.random.default_rng(4)
    skill = {"A": 0.7, "B": 0.6, "C": 0.4}
    data = pd.DataFrame([{"strategy": s, "model": "m", "budget": b, "item_id": f"q{i}",
                          "correct": float(rng.random() < skill[s])}
                         for i in range(300) for s in skill for b in (100, 1000) if rng.random() < 0.8])
    module.forget_products()
    first = rank_intervals(data, n_boot=300)
    multiplied: list[int] = []
    updates: list[bool] = []
    real, changed = module._all_weights, module._changed
    monkeypatch.setattr(module, "_all_weights", lambda *a: multiplied.append(1) or real(*a))
    monkeypatch.setattr(module, "_changed", lambda *a: (lambda d: updates.append(d is not None) or d)(changed(*a)))
    more = pd.concat([data, pd.DataFrame([{"strategy": "C", "model": "m", "budget": 1000, "item_id": "q7",
                                           "correct": 1.0}])], ignore_index=True)
    assert (data["item_id"].eq("q7") & data["strategy"].eq("C") & data["budget"].eq(1000)).any()  # a known pair
    updated = rank_intervals(more, n_boot=300)
    assert not multiplied and updates == [True]  # the kept weights served, the products were updated
    module.forget_products()
    fresh = rank_intervals(more, n_boot=300)
    assert multiplied and updated.equals(fresh)
    # a (cell, item) pair not seen before: B had no result on q4 at 100 tokens
    assert not (data["item_id"].eq("q4") & data["strategy"].eq("B") & data["budget"].eq(100)).any()
    newer = pd.concat([more, pd.DataFrame([{"strategy": "B", "model": "m", "budget": 100, "item_id": "q4",
                                            "correct": 0.0}])], ignore_index=True)
    updated = rank_intervals(newer, n_boot=300)
    assert updates == [True, True]
    module.forget_products()
    assert updated.equals(rank_intervals(newer, n_boot=300))
    assert rank_intervals(data, n_boot=300).equals(first)  # and back: the products follow the data


def test_resample_ranks_count_the_series_ahead_and_level_as_defined() -> None:
    from reasoning.rank_intervals import _ranks

    rng = np.random.default_rng(5)
    auc = rng.choice([0.1, 0.2, 0.3, np.nan], (40, 7))  # ties and series without an AUC
    overall = rng.choice([0.5, 0.6, np.nan], (40, 7))
    best, worst, present = _ranks(auc, overall)
    a, o = np.nan_to_num(auc, nan=-np.inf), np.nan_to_num(overall, nan=-np.inf)
    for r in range(40):
        for i in range(7):
            assert present[r, i] == (not (np.isnan(auc[r, i]) and np.isnan(overall[r, i])))
            if not present[r, i]:
                continue
            others = [j for j in range(7) if present[r, j]]
            ahead = sum(a[r, j] > a[r, i] or (a[r, j] == a[r, i] and o[r, j] > o[r, i]) for j in others)
            level = sum(a[r, j] == a[r, i] and o[r, j] == o[r, i] for j in others)
            assert (best[r, i], worst[r, i]) == (1 + ahead, ahead + level)
