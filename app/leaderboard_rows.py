"""Which stored results a leaderboard row stands for, and how rows are named: dataset labels, the
budget axis and problem ids (with_budget), knob settings and strategy versions as separate rows,
over-cap results. Plain pandas, shared by the row path (app.leaderboard_view) and the summary path
(app.leaderboard_summary), which names one row per summary group with the same functions.
"""

from __future__ import annotations

import json

import pandas as pd

from storage.result_groups import OWN_PROBLEMS

NO_DATASET = OWN_PROBLEMS  # how runs typed on the Compare page (no dataset) appear in filters: "(own problems)"
UNRECORDED_VERSION = "unrecorded"  # results stored before strategy fingerprints were


def dataset_labels(results: pd.DataFrame) -> pd.Series:
    return results["dataset"].fillna(NO_DATASET).astype(str)


def with_budget(results: pd.DataFrame, cap: str) -> pd.DataFrame:
    """Rows that set `cap`, with `budget` = that cap's value, and `item_id` made unique per problem.

    Items are named by dataset and item id so two datasets' item 1 stay apart; a problem typed on
    the Compare page has no item id and counts as its own item (its run). The bootstrap resamples
    these items.
    """
    out = results.loc[results[f"budget_{cap}"].notna()].copy()
    out["budget"] = out[f"budget_{cap}"].astype(float)
    dataset_item = dataset_labels(out) + "/" + out["item_id"].astype(str)
    out["item_id"] = dataset_item.where(out["item_id"].notna(), "run/" + out["run_id"].astype(str))
    return out


def label_knob_variants(results: pd.DataFrame) -> pd.DataFrame:
    """Strategy names extended with the knobs that differ between its results:
    ``self_consistency (stop=esc)`` and ``self_consistency (stop=beta)`` become separate rows."""
    out = results.copy()
    knobs = out["knobs"].map(lambda k: k if isinstance(k, dict) else {})
    for name, index in out.groupby("strategy").groups.items():
        settings = knobs.loc[index]
        keys = sorted({key for k in settings for key in k})
        varying = [key for key in keys if len({json.dumps(k.get(key), sort_keys=True) for k in settings}) > 1]
        if varying:
            out.loc[index, "strategy"] = [
                f"{name} ({', '.join(f'{key}={k.get(key)}' for key in varying)})" for k in settings
            ]
    return out


def label_versions(results: pd.DataFrame) -> pd.DataFrame:
    """Strategies whose results carry several fingerprints (prompts or knobs changed between
    them) become one row per version: first named by the knobs that differ, as
    label_knob_variants does, then, where one name still holds several fingerprints (the prompts
    changed), with the fingerprint's first 7 characters, ``chain_of_thought (version 3f9a2c1)``.
    Results stored before fingerprints were recorded are version "unrecorded"."""
    if "fingerprint" not in results.columns:
        return results
    fingerprint = results["fingerprint"].fillna("").astype(str)
    out = results.copy()
    for index in results.groupby("strategy").groups.values():
        if fingerprint.loc[index].nunique() <= 1:
            continue
        named = label_knob_variants(results.loc[index])
        for label, sub in named.groupby("strategy").groups.items():
            if fingerprint.loc[sub].nunique() > 1:
                named.loc[sub, "strategy"] = [f"{label} (version {f[:7] or UNRECORDED_VERSION})"
                                              for f in fingerprint.loc[sub]]
        out.loc[index, "strategy"] = named["strategy"]
    return out


def version_counts(results: pd.DataFrame) -> dict[str, int]:
    """Strategy -> how many fingerprints its results carry, for those with more than one."""
    if "fingerprint" not in results.columns or results.empty:
        return {}
    counts = results["fingerprint"].fillna("").groupby(results["strategy"]).nunique()
    return {str(k): int(v) for k, v in counts.items() if v > 1}


def over_cap_mask(results: pd.DataFrame) -> pd.Series:
    if "over_cap" not in results.columns:
        return pd.Series(False, index=results.index)
    return results["over_cap"].fillna(False).astype(bool)

