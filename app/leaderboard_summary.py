"""The leaderboard from the store's result summary (storage.result_summary) instead of one row per
result: the same boards as app.leaderboard_view.compute_leaderboard over the same results (the
tests hold them to 1e-9), read from a few hundred groups however many results the store holds.

Filters pick groups (model, dataset, strategy, sweep) and, for dates, results by their creation
time; row choices (over-cap results, knob settings, strategy versions) act on groups, named by
the same functions as rows (one row per group stands for its results: the names depend only on
which knobs and fingerprints are present). The metrics then read counts per (series, budget,
item) and cost sums per (series, budget), as reasoning.leaderboard_metrics.result_counts makes them from rows.
No Streamlit here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from app.leaderboard_rows import dataset_labels, label_knob_variants, label_versions, version_counts
from app.leaderboard_view import (
    Leaderboard,
    LeaderboardFilters,
    PairInput,
    RowChoice,
    column_filter_mask,
    finish_leaderboard,
)
from app.summary_memo import (
    ERRORED,
    FAILED_VERDICT,
    SCORED,
    VERDICT,
    group_failures,
    group_names,
    group_rows,
    group_stats,
    key_fingerprint,
    scored_order,
)
from reasoning import leaderboard_metrics, metrics
from reasoning.budget import CAP_NAMES
from reasoning.memo import Memo, digest
from reasoning.pair_table import PairTable, pair_table
from storage.result_groups import (
    COST,
    EPOCH,
    NO_VERDICT,
    OUTCOME_CODES,
    outcome_of,
    scored_mask,
    verdict_of,
)
from storage.result_summary import ResultSummary

KEYS = ["strategy", "model"]


def filter_options(summary: ResultSummary) -> dict[str, list[str]]:
    """app.leaderboard_view.filter_options of the summarised results, memoised on what they are made
    of: the present groups' names, and the swept groups' newest results (the sweeps' order). A new
    result outside a sweep leaves the key as it was."""
    frame = summary.groups
    present = frame["results"].to_numpy() > 0
    swept = present & frame["sweep_id"].notna().to_numpy()
    key = digest(key_fingerprint(frame, np.flatnonzero(present)),
                 frame["created_max"].to_numpy(dtype="datetime64[us]")[swept].tobytes())
    found = _OPTIONS.get_or_compute(key, lambda: _filter_options(frame.loc[present]))
    return {name: list(values) for name, values in found.items()}


_OPTIONS = Memo("lb.filter_options", 4, record=False)


def _filter_options(groups: pd.DataFrame) -> dict[str, list[str]]:
    swept = groups.loc[groups["sweep_id"].notna()]
    sweeps = [str(s) for s in swept.groupby("sweep_id")["created_max"].max().sort_values(ascending=False).index]
    return {
        "models": sorted(groups["model"].dropna().astype(str).unique()),
        "datasets": sorted(dataset_labels(groups).unique()),
        "strategies": sorted(groups["strategy"].dropna().astype(str).unique()),
        "sweeps": sweeps,
    }


def date_span(summary: ResultSummary) -> tuple[date, date]:
    """The first and last creation day (UTC) of the summarised results (there must be some)."""
    groups = summary.groups
    return (pd.Timestamp(groups["created_min"].min()).tz_convert("UTC").date(),
            pd.Timestamp(groups["created_max"].max()).tz_convert("UTC").date())


class Selection:
    """The summarised results a set of filters picks: groups, and (dates) results within them."""

    def __init__(self, summary: ResultSummary, filters: LeaderboardFilters):
        groups = summary.groups
        keep = column_filter_mask(groups, filters)
        self.summary = summary
        self.dated = filters.start is not None or filters.end is not None
        positions = np.flatnonzero(keep.to_numpy())
        if self.dated:
            # The day filter of app.leaderboard_view.apply_filters, on microseconds since the epoch.
            low = _micros(pd.Timestamp(filters.start, tz="UTC")) if filters.start is not None else None
            high = _micros(pd.Timestamp(filters.end, tz="UTC") + pd.Timedelta(days=1)) if filters.end else None
            created_min = [_micros(pd.Timestamp(t)) for t in groups["created_min"]]
            created_max = [_micros(pd.Timestamp(t)) for t in groups["created_max"]]
            positions = np.array([p for p in positions if (low is None or created_max[p] >= low)
                                  and (high is None or created_min[p] < high)], dtype=np.int64)
            self.low, self.high = low, high
        self.positions = positions  # selected groups (positions in summary.groups)
        self._index: np.ndarray | None = None

    @property
    def index(self) -> np.ndarray:
        """Positions in summary.rows of the selected results, group after group."""
        if self._index is None:
            groups = self.summary.groups
            starts = groups["start"].to_numpy(dtype=np.int64)[self.positions]
            stops = groups["stop"].to_numpy(dtype=np.int64)[self.positions]
            index = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)]) if len(starts) \
                else np.zeros(0, dtype=np.int64)
            if self.dated:
                created = self.summary.rows["created"][index]
                keep = np.ones(len(index), dtype=bool)
                if self.low is not None:
                    keep &= created >= self.low
                if self.high is not None:
                    keep &= created < self.high
                index = index[keep]
            self._index = index
        return self._index

    def group_sizes(self) -> np.ndarray:
        """Selected results per selected group."""
        if not self.dated:
            return self.summary.groups["results"].to_numpy(dtype=np.int64)[self.positions]
        group_of = np.searchsorted(self.summary.groups["stop"].to_numpy(dtype=np.int64), self.index, side="right")
        return np.bincount(np.searchsorted(self.positions, group_of), minlength=len(self.positions))

    def present(self) -> np.ndarray:
        """The selected groups with at least one selected result."""
        return self.positions[self.group_sizes() > 0]


    def digest(self) -> str:
        """A fingerprint of everything a board reads of the selected results: each selected group's
        values, its results (item, time, entry, outcome), cost sums and failures' reasons, and with
        dates the selected results and their costs. Equal digests give equal boards (the filters
        and row choices aside), whatever the summary's version says."""
        summary, digest = self.summary, hashlib.blake2b(digest_size=32)
        groups = summary.groups
        digest.update(key_fingerprint(groups, self.positions))
        for column in ("results", "sum_tokens", "sum_usd", "sum_seconds"):
            digest.update(groups[column].to_numpy(dtype=float)[self.positions].tobytes())
        digest.update(b"".join(summary.group_digest(int(position)) for position in self.positions))
        if self.dated:
            digest.update(json.dumps([self.low, self.high]).encode())
            digest.update(summary.rows[self.index].tobytes())
            digest.update(summary.costs()[self.index].tobytes())
        return digest.hexdigest()


def _micros(timestamp: pd.Timestamp) -> int:
    return int((timestamp.tz_convert("UTC") - EPOCH) // pd.Timedelta(microseconds=1))


def caps_present(selection: Selection) -> list[str]:
    groups = selection.summary.groups.iloc[selection.present()]
    return [cap for cap in CAP_NAMES if groups[f"budget_{cap}"].notna().any()]


def scored_count(selection: Selection) -> int:
    """Selected results with a verdict (app.leaderboard_view.scored_count)."""
    if not selection.dated:  # whole groups: their counts, kept per group (app.summary_memo)
        return int(group_stats(selection.summary, selection.positions)[:, VERDICT].sum())
    return int(np.count_nonzero(verdict_of(selection.summary.rows["code"][selection.index]) != NO_VERDICT))


def result_count(selection: Selection) -> int:
    return int(selection.group_sizes().sum())


def compute_leaderboard(selection: Selection, cap: str, *, n_boot: int = 1000, seed: int = 0,
                        split_knobs: bool = False, include_over_cap: bool = False, pool_versions: bool = False,
                        paired: bool = True) -> Leaderboard:
    """app.leaderboard_view.compute_leaderboard over the selected results."""
    choice = RowChoice(split_knobs, include_over_cap, pool_versions)
    counted = summary_counts(selection, cap, choice)
    return finish_leaderboard(counted.counts, counted.pairs, cap, choice, n_boot=n_boot, seed=seed, paired=paired,
                              over_cap=counted.over_cap, versions=counted.versions)


def head_to_head(selection: Selection, cap: str, order: list[str], *, choice: RowChoice | None = None,
                 n_boot: int = 1000, seed: int = 0) -> PairTable:
    """The head-to-head of compute_leaderboard's board (`order`: its strategies, ranked) alone."""
    pairs = summary_counts(selection, cap, choice).pairs
    return pair_table(pairs.model, pairs.budget, pairs.series, pairs.item, pairs.correct, order=order, n_boot=n_boot,
                      seed=seed)


@dataclass(frozen=True)
class SummaryCounts:
    counts: leaderboard_metrics.ResultCounts
    pairs: PairInput
    over_cap: int  # results reported over their cap (with a verdict), counted or not
    versions: dict[str, int]


def summary_counts(selection: Selection, cap: str, choice: RowChoice | None = None) -> SummaryCounts:
    """What the metrics read of the selected results (as compute_leaderboard's rows give them)."""
    choice = choice or RowChoice()
    if selection.dated:  # dates cut into groups: counted result by result
        return _counts_per_result(selection, cap, choice)
    return _counts_by_group(selection, cap, choice)


def _counts_by_group(selection: Selection, cap: str, choice: RowChoice) -> SummaryCounts:
    """summary_counts of whole groups: their names, counts and scored results' order memoised
    (app.summary_memo), so a summary that differs from the last by one result costs little more."""
    summary = selection.summary
    present = selection.present()
    names_key, names = group_names(summary.groups, present, cap, choice.split_knobs, choice.include_over_cap,
                                   choice.pool_versions)
    capped, counted = present[names.capped], present[names.counted]
    stats = group_stats(summary, capped)
    over_count = int(stats[names.over, VERDICT].sum())
    stats = stats[names.counted_in_capped]
    order = scored_order(summary, counted, names_key, names.triple_of)

    cells = order.cell_frame(names.triple_frame)

    groups = summary.groups
    sums = names.triple_frame.copy()
    sums["n"] = np.bincount(names.triple_of, weights=stats[:, SCORED].astype(float), minlength=len(sums))
    for column, name in (("total_tokens", "sum_tokens"), ("usd", "sum_usd"), ("seconds", "sum_seconds")):
        sums[column] = np.bincount(names.triple_of, weights=groups[name].to_numpy(dtype=float)[counted],
                                   minlength=len(sums))
    sums["n"] = sums["n"].astype(np.int64)
    sums = sums.iloc[names.triple_sorted]
    sums = sums.loc[sums["n"] > 0].reset_index(drop=True)

    in_pair = names.pair_of >= 0
    n_pair = np.bincount(names.pair_of[in_pair], weights=stats[in_pair, SCORED], minlength=len(names.pair_frame))
    errored = names.pair_frame.copy()
    errored["errored"] = np.bincount(names.pair_of[in_pair], weights=stats[in_pair, ERRORED],
                                     minlength=len(names.pair_frame)).astype(np.int64)
    errored = errored.loc[n_pair > 0].reset_index(drop=True)
    failed_rows = group_failures(summary, counted, stats[:, FAILED_VERDICT] > 0, names.series, names.models)
    counts = leaderboard_metrics.ResultCounts(tuple(KEYS), cells, sums, errored, failed_rows)
    pair_input = PairInput(pd.Categorical.from_codes(names.model_codes[order.group], names.model_names),
                           names.budgets[order.group],
                           pd.Categorical.from_codes(names.series_codes[order.group], names.series_names),
                           order.item.copy(), order.correct.copy())
    return SummaryCounts(counts, pair_input, over_count, dict(names.versions))  # the memo's own stays as it is


def _counts_per_result(selection: Selection, cap: str, choice: RowChoice) -> SummaryCounts:
    """summary_counts from the selected results one by one (dates may cut into groups)."""
    summary = selection.summary
    split_knobs, include_over_cap, pool_versions = choice.split_knobs, choice.include_over_cap, choice.pool_versions
    present = selection.present()
    groups = summary.groups.iloc[present]
    capped = groups.loc[groups[f"budget_{cap}"].notna()]
    rows = group_rows(capped)
    versions = version_counts(rows if not split_knobs else label_knob_variants(rows))
    counted = capped if include_over_cap else capped.loc[~capped["over_cap"].astype(bool)]
    named = group_rows(counted)
    if split_knobs:
        named = label_knob_variants(named)
    if not pool_versions:
        named = label_versions(named)

    # The selected results of the counted groups, each with its group's position among them.
    index = selection.index
    group_of = np.searchsorted(summary.groups["stop"].to_numpy(dtype=np.int64), index, side="right")
    local_of = np.full(len(summary.groups), -1, dtype=np.int64)
    local_of[capped.index.to_numpy()] = np.arange(len(capped))
    local = local_of[group_of]  # position among capped (-1: not capped)
    index, local = index[local >= 0], local[local >= 0]
    codes = summary.rows["code"][index]
    over = capped["over_cap"].astype(bool).to_numpy()
    over_count = int(np.count_nonzero(over[local] & (verdict_of(codes) != NO_VERDICT)))
    counted_of = np.full(len(capped), -1, dtype=np.int64)
    counted_of[capped.index.get_indexer(counted.index)] = np.arange(len(counted))
    row_group = counted_of[local]
    keep = row_group >= 0
    index, row_group, codes = index[keep], row_group[keep], codes[keep]

    # Each counted group's (series, model, budget) as a small integer: the cells are counted on it.
    series = named["strategy"].astype(object).to_numpy()
    models = counted["model"].astype(object).to_numpy()
    budgets = counted[f"budget_{cap}"].to_numpy(dtype=float)
    triples = pd.DataFrame({"strategy": series, "model": models, "budget": budgets})
    triple_of, triple_values = pd.factorize(pd.MultiIndex.from_frame(triples))
    triple_frame = triple_values.to_frame(index=False) if len(triple_values) else triples.iloc[0:0]
    triple_frame.columns = ["strategy", "model", "budget"]
    scored = scored_mask(codes)
    failed = outcome_of(codes) == OUTCOME_CODES[metrics.FAILED]

    # Scored results in the row path's order (creation time, then entry): the items' numbering and
    # the head-to-head's pairing of repeated runs follow it.
    s_group = row_group[scored]
    rows_of = summary.rows[index[scored]]
    order = np.lexsort((rows_of["entry"], rows_of["created"]))
    s_group, rows_of = s_group[order], rows_of[order]
    item_codes, _ = pd.factorize(rows_of["item"])
    correct = (verdict_of(rows_of["code"]) == 2).astype(float)
    n_items = int(item_codes.max()) + 1 if len(item_codes) else 1
    cell_keys, cell_inverse = np.unique(triple_of[s_group].astype(np.int64) * n_items + item_codes,
                                        return_inverse=True)
    cell_triple, cell_item = np.divmod(cell_keys, n_items)
    cells = triple_frame.iloc[cell_triple].reset_index(drop=True)
    cells["item"] = cell_item
    cells["n"] = np.bincount(cell_inverse.ravel(), minlength=len(cell_keys))
    cells["correct"] = np.bincount(cell_inverse.ravel(), weights=correct, minlength=len(cell_keys))

    per_group = _cost_sums(selection, counted, row_group, index, scored)
    sums = triple_frame.copy()
    for column in ("n", "total_tokens", "usd", "seconds"):
        sums[column] = np.bincount(triple_of, weights=per_group[column].to_numpy(dtype=float),
                                   minlength=len(triple_frame))
    sums["n"] = sums["n"].astype(np.int64)
    sums = sums.loc[sums["n"] > 0].sort_values([*KEYS, "budget"], kind="stable").reset_index(drop=True)

    errored_flags = outcome_of(codes[scored]) == OUTCOME_CODES[metrics.ERRORED]
    scored_groups = row_group[scored]
    errored = (pd.DataFrame({"strategy": series, "model": models,
                             "n": np.bincount(scored_groups, minlength=len(counted)),
                             "errored": np.bincount(scored_groups, weights=errored_flags, minlength=len(counted))})
               .groupby(KEYS, sort=True)[["n", "errored"]].sum().reset_index())
    errored = errored.loc[errored["n"] > 0, [*KEYS, "errored"]].reset_index(drop=True)
    errored["errored"] = errored["errored"].astype(np.int64)
    failed_rows = _failures(selection, counted, index, row_group, failed & (verdict_of(codes) != NO_VERDICT),
                            series, models)
    counts = leaderboard_metrics.ResultCounts(tuple(KEYS), cells, sums, errored, failed_rows)
    # Strategies and models as codes: the head-to-head does not hash a string per result.
    series_codes, series_names = pd.factorize(series)
    model_codes, model_names = pd.factorize(models)
    pair_input = PairInput(pd.Categorical.from_codes(model_codes[s_group], model_names), budgets[s_group],
                           pd.Categorical.from_codes(series_codes[s_group], series_names), item_codes, correct)
    return SummaryCounts(counts, pair_input, over_count, versions)


def _cost_sums(selection: Selection, counted: pd.DataFrame, row_group: np.ndarray, index: np.ndarray,
               scored: np.ndarray) -> pd.DataFrame:
    """Per counted group: its scored results and their cost sums (from the groups' stored sums, or
    from the per-result costs when dates cut into groups)."""
    n = np.bincount(row_group[scored], minlength=len(counted))
    if not selection.dated:
        return pd.DataFrame({"n": n, "total_tokens": counted["sum_tokens"].to_numpy(dtype=float),
                             "usd": counted["sum_usd"].to_numpy(dtype=float),
                             "seconds": counted["sum_seconds"].to_numpy(dtype=float)})
    costs = selection.summary.costs()[index[scored]]
    groups = row_group[scored]
    return pd.DataFrame({"n": n, **{column: np.bincount(groups, weights=costs[name], minlength=len(counted))
                                    for column, name in zip(("total_tokens", "usd", "seconds"), COST.names,
                                                            strict=True)}})


def _failures(selection: Selection, counted: pd.DataFrame, index: np.ndarray, row_group: np.ndarray,
              wanted: np.ndarray, series: np.ndarray, models: np.ndarray) -> pd.DataFrame:
    """One row per failed result with a verdict: its series, model and reason."""
    if not wanted.any():
        return pd.DataFrame(columns=[*KEYS, "reason"])
    summary = selection.summary
    failed_code = OUTCOME_CODES[metrics.FAILED]
    position_in_groups = summary.groups.index.get_indexer(counted.index)
    reasons: list[str] = []
    owners: list[int] = []
    for local in np.unique(row_group[wanted]):
        group = int(position_in_groups[local])
        start = int(summary.groups["start"].iat[group])
        stop = int(summary.groups["stop"].iat[group])
        group_codes = summary.rows["code"][start:stop]
        failed_positions = np.flatnonzero(outcome_of(group_codes) == failed_code) + start
        reason_at = dict(zip(failed_positions.tolist(), summary.reasons[group], strict=True))
        for position in index[wanted & (row_group == local)]:
            reasons.append(reason_at[int(position)])
            owners.append(int(local))
    return pd.DataFrame({"strategy": series[owners], "model": models[owners], "reason": reasons})
