"""What app.leaderboard_summary derives from the store's result summary, kept between renders: the
summary is read only, and after one new result a new summary differs from the last in one group.
So what depends on the groups' names alone (which groups a board counts and how it names them) is
memoised on those names, per-group counts on the group's content digest
(ResultSummary.group_digest), and the scored results in the row path's order
(app.leaderboard_summary) are carried from the last summary to the next by inserting what was
appended to the groups that changed. No Streamlit here.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from app.leaderboard_rows import label_knob_variants, label_versions, version_counts
from reasoning import metrics
from reasoning.memo import Memo, digest
from storage.result_groups import KEY_COLUMNS, NO_VERDICT, OUTCOME_CODES, outcome_of, scored_mask, verdict_of
from storage.result_summary import ResultSummary

FAILED_CODE = OUTCOME_CODES[metrics.FAILED]
ERRORED_CODE = OUTCOME_CODES[metrics.ERRORED]
# Per-group counts (group_stats columns).
VERDICT, SCORED, ERRORED, FAILED_VERDICT = range(4)
STATS_KEPT = 50_000  # groups' counts kept (a few hundred groups per summary; bytes each)


_FINGERPRINTS = Memo("lb.fingerprints", 8, record=False)


def key_fingerprint(groups: pd.DataFrame, positions: np.ndarray) -> bytes:
    """_key_fingerprint, memoised per groups frame (a summary's is never changed) and positions."""
    key = digest(id(groups), np.asarray(positions, dtype=np.int64).tobytes())
    found = _FINGERPRINTS.get(key)
    if found is None or found[0] is not groups:
        found = (groups, _key_fingerprint(groups, positions))  # the frame kept: its id is not reused meanwhile
        _FINGERPRINTS.put(key, found)
    return found[1]


def _key_fingerprint(groups: pd.DataFrame, positions: np.ndarray) -> bytes:
    """A digest of the groups' names (storage.result_groups.KEY_COLUMNS) at `positions`, in that
    order: column by column, numbers as float64 bytes, text as a JSON list (null: None)."""
    out = hashlib.blake2b(digest_size=32)
    out.update(np.asarray(len(positions), dtype=np.int64).tobytes())
    for column in KEY_COLUMNS:
        values = groups[column]
        out.update(column.encode())
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            out.update(values.to_numpy(dtype=float, na_value=np.nan)[positions].tobytes())
        else:
            texts = values.to_numpy(dtype=object)[positions]
            texts[values.isna().to_numpy()[positions]] = None
            out.update(json.dumps(texts.tolist(), default=str).encode())
    return out.digest()


_STATS: dict[bytes, np.ndarray] = {}
_SUMMARY_STATS = Memo("lb.summary_stats", 2, record=False)  # keeps its summaries alive: the newest two


def group_stats(summary: ResultSummary, positions: np.ndarray) -> np.ndarray:
    """Per group at `positions` (rows), its results with a verdict, scored (a verdict and not
    failed), scored and errored, and failed with a verdict: counted from its rows once per
    content digest (and gathered once per summary)."""
    key = digest(id(summary))
    found = _SUMMARY_STATS.get(key)
    if found is None or found[0] is not summary:
        found = (summary, _group_stats(summary, np.arange(len(summary.groups))))  # kept: its id is not reused
        _SUMMARY_STATS.put(key, found)
    return found[1][np.asarray(positions, dtype=np.int64)]


def _group_stats(summary: ResultSummary, positions: np.ndarray) -> np.ndarray:
    out = np.zeros((len(positions), 4), dtype=np.int64)
    starts = summary.groups["start"].to_numpy(dtype=np.int64)
    stops = summary.groups["stop"].to_numpy(dtype=np.int64)
    for at, position in enumerate(positions):
        content = summary.group_digest(int(position))
        found = _STATS.get(content)
        if found is None:
            codes = summary.rows["code"][starts[position]:stops[position]]
            verdict, outcome = verdict_of(codes) != NO_VERDICT, outcome_of(codes)
            found = np.array([np.count_nonzero(verdict), np.count_nonzero(scored_mask(codes)),
                              np.count_nonzero(scored_mask(codes) & (outcome == ERRORED_CODE)),
                              np.count_nonzero(verdict & (outcome == FAILED_CODE))], dtype=np.int64)
            if len(_STATS) >= STATS_KEPT:
                _STATS.clear()
            _STATS[content] = found
        out[at] = found
    return out


# ---- the scored results in the row path's order, carried from one summary to the next ----------

ENTRY_LIMIT = 1024  # (created, entry) packed as created * ENTRY_LIMIT + entry: exact below these
CREATED_LIMIT = 2**53  # microseconds since the epoch (year 2255)
INSERTED_LIMIT = 256  # rows added to one group between two summaries that are found one by one


class ScoredOrder:
    """The scored results (a verdict, not failed) of some groups in the row path's order: by
    creation time, then entry, then group and row (a stable lexsort), with their items numbered in
    order of first appearance (pd.factorize), and their (triple, item) cells counted (np.unique's
    order: triple, then item). `triple_of`: each group's (series, model, budget) number."""

    def __init__(self, summary: ResultSummary, positions: np.ndarray, triple_of: np.ndarray):
        self.rows, self.triple_of = summary.rows, triple_of
        self.starts = summary.groups["start"].to_numpy(dtype=np.int64)[positions]
        self.stops = summary.groups["stop"].to_numpy(dtype=np.int64)[positions]
        self.digests = [summary.group_digest(int(p)) for p in positions]
        lengths = self.stops - self.starts
        index = np.repeat(self.starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) \
            + np.arange(int(lengths.sum()), dtype=np.int64) if len(lengths) else np.zeros(0, dtype=np.int64)
        group = np.repeat(np.arange(len(positions), dtype=np.int64), lengths)
        rows = summary.rows[index]
        scored = scored_mask(rows["code"])
        rows, group = rows[scored], group[scored]
        order = np.lexsort((rows["entry"], rows["created"]))
        rows, self.group = rows[order], group[order]
        item_codes, values = pd.factorize(rows["item"])
        self.item = item_codes.astype(np.int64, copy=False)
        self.correct = (verdict_of(rows["code"]) == 2).astype(float)
        self.packed = _packed(rows)  # None: out of the packing's range (every summary is ordered afresh)
        self.code_of = np.full(int(values.max()) + 1 if len(values) else 0, -1, dtype=np.int64)
        self.code_of[np.asarray(values, dtype=np.int64)] = np.arange(len(values))
        first = np.ones(len(self.item), dtype=bool)
        if len(self.item) > 1:
            first[1:] = self.item[1:] > np.maximum.accumulate(self.item)[:-1]
        self.first = np.flatnonzero(first)  # each item's first position (codes in order of first appearance)
        self.cell_key, inverse = np.unique((triple_of[self.group].astype(np.int64) << 32) | self.item,
                                           return_inverse=True)
        self.cell_n = np.bincount(inverse.ravel(), minlength=len(self.cell_key))
        self.cell_correct = np.bincount(inverse.ravel(), weights=self.correct, minlength=len(self.cell_key))

    def advanced(self, summary: ResultSummary, positions: np.ndarray) -> ScoredOrder | None:
        """This order for `summary`'s groups at `positions` (the same groups, by name), when they
        differ from this order's only by rows appended to some of them: inserted where the
        lexsort puts them (items numbered again when one now appears first elsewhere); None
        otherwise, or when an added result ties with an earlier one (order it afresh)."""
        digests = [summary.group_digest(int(p)) for p in positions]
        if len(digests) != len(self.digests) or self.packed is None:
            return None
        changed = [g for g, (a, b) in enumerate(zip(digests, self.digests, strict=True)) if a != b]
        starts = summary.groups["start"].to_numpy(dtype=np.int64)[positions]
        stops = summary.groups["stop"].to_numpy(dtype=np.int64)[positions]
        out = object.__new__(ScoredOrder)
        out.__dict__.update(self.__dict__)
        out.rows, out.starts, out.stops, out.digests = summary.rows, starts, stops, digests
        if not changed:
            return out
        parts, groups = [], []
        for g in changed:
            new = summary.rows[starts[g]:stops[g]]
            inserted = _inserted(self.rows[self.starts[g]:self.stops[g]], new)
            if inserted is None:
                return None
            added = new[inserted]
            added = added[scored_mask(added["code"])]
            parts.append(added)
            groups.append(np.full(len(added), g, dtype=np.int64))
        added = np.concatenate(parts)
        if not len(added):
            return out
        group = np.concatenate(groups)
        packed = _packed(added)
        if packed is None:
            return None
        order = np.argsort(packed, kind="stable")  # ties keep group, then row order, as the lexsort
        added, group, packed = added[order], group[order], packed[order]
        at = np.searchsorted(self.packed, packed, side="left")
        if np.any(self.packed[np.minimum(at, len(self.packed) - 1)] == packed) if len(self.packed) else False:
            return None  # a tie with an earlier result: its place depends on the groups' order
        codes, code_of, n_items = self._item_codes(added["item"].astype(np.int64))
        # Items are numbered in order of first appearance: each item's first place in the new
        # order, and the numbers again when an added result comes before an item's first one.
        firsts = np.full(n_items, np.iinfo(np.int64).max, dtype=np.int64)
        firsts[:len(self.first)] = self.first + np.searchsorted(at, self.first, side="right")
        np.minimum.at(firsts, codes, at + np.arange(len(at)))  # the added results' places
        renumber = np.argsort(firsts, kind="stable")  # new number -> number so far
        item = np.insert(self.item, at, codes)
        cell_key, cell_n, cell_correct = self.cell_key, self.cell_n.copy(), self.cell_correct.copy()
        if not np.array_equal(renumber, np.arange(n_items)):
            number = np.empty(n_items, dtype=np.int64)
            number[renumber] = np.arange(n_items)
            item, codes, firsts = number[item], number[codes], firsts[renumber]
            code_of = np.where(code_of >= 0, number[np.maximum(code_of, 0)], -1)
            cell_key = ((cell_key >> 32) << 32) | number[cell_key & 0xFFFFFFFF]
            if len(cell_key) > 1 and np.any(cell_key[1:] < cell_key[:-1]):  # np.unique's order again
                by_key = np.argsort(cell_key, kind="stable")
                cell_key, cell_n, cell_correct = cell_key[by_key], cell_n[by_key], cell_correct[by_key]
        out.first, out.code_of, out.item = firsts, code_of, item
        correct = (verdict_of(added["code"]) == 2).astype(float)
        out.packed = np.insert(self.packed, at, packed)
        out.group = np.insert(self.group, at, group)
        out.correct = np.insert(self.correct, at, correct)
        keys, inverse = np.unique((self.triple_of[group].astype(np.int64) << 32) | codes, return_inverse=True)
        n = np.bincount(inverse.ravel(), minlength=len(keys))
        right = np.bincount(inverse.ravel(), weights=correct, minlength=len(keys))
        place = np.searchsorted(cell_key, keys)
        hit = place < len(cell_key)
        hit[hit] = cell_key[place[hit]] == keys[hit]
        cell_n[place[hit]] += n[hit]
        cell_correct[place[hit]] += right[hit]
        out.cell_key, out.cell_n, out.cell_correct = cell_key, cell_n, cell_correct
        if not hit.all():  # new cells (else, not renumbered, the cells' names are this order's)
            out.cell_key = np.insert(cell_key, place[~hit], keys[~hit])
            out.cell_n = np.insert(cell_n, place[~hit], n[~hit])
            out.cell_correct = np.insert(cell_correct, place[~hit], right[~hit])
        return out

    def _item_codes(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The added results' items numbered so far (items not seen yet after the others, in
        order of appearance), the item -> number map with them, and how many items there are."""
        codes = np.full(len(values), -1, dtype=np.int64)
        inside = values < len(self.code_of)
        codes[inside] = self.code_of[values[inside]]
        fresh = codes < 0
        if not fresh.any():
            return codes, self.code_of, len(self.first)
        new_values, first_of = np.unique(values[fresh], return_index=True)
        ranked = new_values[np.argsort(first_of, kind="stable")]
        code_of = np.full(max(len(self.code_of), int(ranked.max()) + 1), -1, dtype=np.int64)
        code_of[:len(self.code_of)] = self.code_of
        code_of[ranked] = len(self.first) + np.arange(len(ranked))
        codes[fresh] = code_of[values[fresh]]
        return codes, code_of, len(self.first) + len(ranked)

    def cell_frame(self, triple_frame: pd.DataFrame) -> pd.DataFrame:
        """The cells as the metrics read them: (strategy, model, budget) of their triple in
        `triple_frame`, item, n and correct. The name columns are kept while the cells are the
        same ones (they are immutable arrays: a new frame of them copies nothing)."""
        kept = self.__dict__.get("_names")
        if kept is None or kept[0] is not self.cell_key or kept[1] is not triple_frame:
            taken = triple_frame.iloc[self.cell_key >> 32].reset_index(drop=True)
            kept = self._names = (self.cell_key, triple_frame, {c: taken[c].array for c in taken.columns})
        return pd.DataFrame({**kept[2], "item": self.cell_key & 0xFFFFFFFF, "n": self.cell_n,
                             "correct": self.cell_correct})


def _inserted(old: np.ndarray, new: np.ndarray) -> np.ndarray | None:
    """Which of a group's `new` rows were inserted among its `old` ones (a merge keeps a group's
    rows in creation order, so a result created earlier lands among them); None when `new` is
    not `old` with at most INSERTED_LIMIT rows inserted."""
    extra = len(new) - len(old)
    if extra < 0 or extra > INSERTED_LIMIT:
        return None
    inserted = np.zeros(len(new), dtype=bool)
    shift, at = 0, 0  # rows found inserted so far; the next old row to match
    while shift < extra:
        differ = np.flatnonzero(new[at + shift:len(old) + shift] != old[at:])
        if not len(differ):
            break
        at += int(differ[0])
        inserted[at + shift] = True
        shift += 1
    inserted[len(old) + shift:] = True  # the rest were appended
    if np.count_nonzero(inserted) != extra or not np.array_equal(new[~inserted], old):
        return None
    return inserted


def _packed(rows: np.ndarray) -> np.ndarray | None:
    created, entry = rows["created"].astype(np.int64), rows["entry"].astype(np.int64)
    if len(rows) and (created.min() < 0 or created.max() >= CREATED_LIMIT or entry.min() < 0
                      or entry.max() >= ENTRY_LIMIT):
        return None
    return created * ENTRY_LIMIT + entry


# ---- which groups a board counts, and how it names them ------------------------------------------

class GroupNames:
    """What a board reads of the groups' names (positions relative to the selected groups):
    those that set the cap (`capped`), those counted (`counted`, over-cap ones left out unless
    included), their series (strategy named as the row path names it), model and budget, their
    (series, model, budget) triple, the strategies' versions, and the layouts of the cost sums
    (triples sorted) and the errored counts (per (series, model), sorted)."""

    def __init__(self, groups: pd.DataFrame, cap: str, split_knobs: bool, include_over_cap: bool,
                 pool_versions: bool):
        keys = ["strategy", "model"]
        capped_mask = groups[f"budget_{cap}"].notna().to_numpy()
        capped = groups.loc[capped_mask]
        rows = group_rows(capped)
        self.versions = version_counts(rows if not split_knobs else label_knob_variants(rows))
        self.over = capped["over_cap"].astype(bool).to_numpy()  # per capped group
        counted = capped if include_over_cap else capped.loc[~self.over]
        named = group_rows(counted)
        if split_knobs:
            named = label_knob_variants(named)
        if not pool_versions:
            named = label_versions(named)
        self.capped = np.flatnonzero(capped_mask)
        self.counted_in_capped = capped.index.get_indexer(counted.index)
        self.counted = self.capped[self.counted_in_capped]
        self.series = named["strategy"].astype(object).to_numpy()
        self.models = counted["model"].astype(object).to_numpy()
        self.budgets = counted[f"budget_{cap}"].to_numpy(dtype=float)
        triples = pd.DataFrame({"strategy": self.series, "model": self.models, "budget": self.budgets})
        triple_of, triple_values = pd.factorize(pd.MultiIndex.from_frame(triples))
        self.triple_of = np.asarray(triple_of, dtype=np.int64)
        triple_frame = triple_values.to_frame(index=False) if len(triple_values) else triples.iloc[0:0]
        triple_frame.columns = ["strategy", "model", "budget"]
        self.triple_frame = triple_frame
        self.triple_sorted = triple_frame.sort_values([*keys, "budget"], kind="stable").index.to_numpy()
        pairs = pd.DataFrame({"strategy": self.series, "model": self.models}).groupby(keys, sort=True)
        self.pair_of = pairs.ngroup().fillna(-1).to_numpy(dtype=np.int64)
        self.pair_frame = pairs.size().reset_index(name="n")[keys]
        self.series_codes, self.series_names = pd.factorize(self.series)
        self.model_codes, self.model_names = pd.factorize(self.models)


def group_rows(groups: pd.DataFrame) -> pd.DataFrame:
    """One row per group, as the row path's label functions read rows."""
    out = groups[["strategy", "model", "fingerprint", "over_cap"]].copy()
    out["knobs"] = [json.loads(k) if isinstance(k, str) else {} for k in groups["knobs"]]
    return out


_NAMES = Memo("lb.group_names", 32, record=False)
_ORDERS = Memo("lb.scored_orders", 4, record=False)  # each holds a few arrays per scored result: ~5 MB at 100k results


def group_names(groups: pd.DataFrame, positions: np.ndarray, cap: str, split_knobs: bool, include_over_cap: bool,
                pool_versions: bool) -> tuple[bytes, GroupNames]:
    """GroupNames of the groups at `positions`, memoised on their names (and its memo key)."""
    key = digest(key_fingerprint(groups, positions), cap, split_knobs, include_over_cap, pool_versions)
    found = _NAMES.get_or_compute(key, lambda: GroupNames(groups.iloc[positions].reset_index(drop=True), cap,
                                                          split_knobs, include_over_cap, pool_versions))
    return key, found


def scored_order(summary: ResultSummary, positions: np.ndarray, names_key: bytes, triple_of: np.ndarray) -> ScoredOrder:
    """The ScoredOrder of the groups at `positions` (named as `names_key` says): carried on from
    the last summary's when it can be, else ordered afresh."""
    kept = _ORDERS.get(names_key)
    order = kept.advanced(summary, positions) if kept is not None else None
    if order is None:
        order = ScoredOrder(summary, positions, triple_of)
    _ORDERS.put(names_key, order)
    return order


def group_failures(summary: ResultSummary, counted: np.ndarray, failing: np.ndarray, series: np.ndarray,
                   models: np.ndarray) -> pd.DataFrame:
    """One row per failed result with a verdict of the counted groups (`failing`: those with
    some): its series, model and reason, group after group in rows' order."""
    if not failing.any():
        return pd.DataFrame(columns=["strategy", "model", "reason"])
    reasons: list[str] = []
    owners: list[int] = []
    for local in np.flatnonzero(failing):
        group = int(counted[local])
        codes = summary.rows["code"][int(summary.groups["start"].iat[group]):int(summary.groups["stop"].iat[group])]
        failed = codes[outcome_of(codes) == FAILED_CODE]
        for reason, verdict in zip(summary.reasons[group], verdict_of(failed), strict=True):
            if verdict != NO_VERDICT:
                reasons.append(reason)
                owners.append(int(local))
    return pd.DataFrame({"strategy": series[owners], "model": models[owners], "reason": reasons})
