"""Leaderboard charts: pure functions from metric DataFrames to Altair charts (no Streamlit).

Inputs are the frames of reasoning.metrics: ``accuracy_by_budget`` (one row per strategy, model
and budget level with accuracy and its bootstrap interval) and ``leaderboard`` (one row per
strategy and model with mean costs, accuracy and ``on_frontier``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd

SERIES = "series"  # the colour field: the strategy, or "strategy · model" when models differ
FRONTIER = "frontier"  # "on frontier" / "dominated": the legend of the marked points
ON_FRONTIER, DOMINATED = "on frontier", "dominated"
LOG_PADDING = 16  # pixels between the outermost points and the plot's edge on a log axis


def series_labels(df: pd.DataFrame) -> pd.Series:
    """One label per row: the strategy alone when a single model is shown, else strategy · model."""
    strategy = df["strategy"].astype(str)
    if "model" not in df.columns or df["model"].nunique(dropna=False) <= 1:
        return strategy.rename(SERIES)
    return (strategy + " · " + df["model"].astype(str)).rename(SERIES)


def _log_scale_if_positive(values: pd.Series) -> alt.Scale:
    """A log axis when every value is positive (costs span orders of magnitude), else linear."""
    numeric = pd.to_numeric(values, errors="coerce").dropna()
    if len(numeric) and (numeric > 0).all():
        return alt.Scale(type="log", nice=False, padding=LOG_PADDING)  # hug the data, not the next power of 10
    return alt.Scale(type="linear", zero=True)


def curve_data(curve: pd.DataFrame) -> pd.DataFrame:
    """The accuracy-budget chart's data: positive budgets (a log axis), the columns it draws."""
    data = curve.loc[pd.to_numeric(curve["budget"], errors="coerce") > 0,
                     [c for c in ("strategy", "model", "budget", "n", "accuracy", "ci_low", "ci_high")
                      if c in curve.columns]].copy()
    data[SERIES] = series_labels(data)
    # sort_values([SERIES, "budget"]) (a stable sort on both keys; no budget here is NaN), as
    # Python's stable sort of the pairs: the same order in a third of the time
    keys = list(zip(data[SERIES].tolist(), data["budget"].tolist(), strict=True))
    return data.take(sorted(range(len(keys)), key=keys.__getitem__))


def accuracy_budget_chart(curve: pd.DataFrame, budget_title: str = "budget (tokens)", *,
                          with_data: bool = True) -> alt.LayerChart:
    """Accuracy against budget per series: a line with points over its confidence band, log x axis.

    ``curve`` has strategy, [model], budget, n, accuracy, ci_low, ci_high. Budgets that are not
    positive cannot sit on a log axis and are left out. ``with_data=False``: the chart without its
    data (curve_data gives it), for a page that sends the data apart (vega_spec).
    """
    x = alt.X("budget:Q", title=budget_title, scale=alt.Scale(type="log", nice=False, padding=LOG_PADDING))
    color = alt.Color(f"{SERIES}:N", title="strategy")
    base = alt.Chart(curve_data(curve)) if with_data else alt.Chart()
    band = base.mark_area(opacity=0.18).encode(
        x=x,
        y=alt.Y("ci_low:Q"),
        y2=alt.Y2("ci_high:Q"),
        color=color,
    )
    line = base.mark_line(point=True).encode(
        x=x,
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
        color=color,
        tooltip=[
            alt.Tooltip(f"{SERIES}:N", title="strategy"),
            alt.Tooltip("budget:Q", title="budget", format=",g"),
            alt.Tooltip("accuracy:Q", format=".1%"),
            alt.Tooltip("ci_low:Q", title="CI low", format=".1%"),
            alt.Tooltip("ci_high:Q", title="CI high", format=".1%"),
            alt.Tooltip("n:Q", title="results"),
        ],
    )
    return alt.layer(band, line).properties(title="Accuracy against budget (band: bootstrap CI)")


def pareto_data(board: pd.DataFrame, cost_col: str = "mean_tokens") -> pd.DataFrame:
    """The cost-accuracy chart's data: the series with a cost, the columns it draws."""
    data = board.loc[pd.to_numeric(board[cost_col], errors="coerce").notna(),
                     [c for c in ("strategy", "model", cost_col, "accuracy", "ci_low", "ci_high", "on_frontier")
                      if c in board.columns]].copy()
    data[SERIES] = series_labels(data)
    data[FRONTIER] = data["on_frontier"].map({True: ON_FRONTIER, False: DOMINATED})
    return data


def pareto_chart(board: pd.DataFrame, cost_col: str = "mean_tokens", cost_title: str = "mean tokens per result", *,
                 with_data: bool = True) -> alt.LayerChart:
    """Cost against accuracy, one point per series, the Pareto frontier drawn and its points marked.

    The frontier line is a step: at any cost, the best accuracy reachable without spending more.
    Frontier points are large filled diamonds labelled with their strategy; dominated points are
    small hollow circles. Each point carries its accuracy interval as a vertical rule. The layers
    share one data set (pareto_data; ``with_data=False``: left out, as accuracy_budget_chart).
    """
    data = pareto_data(board, cost_col)
    x = alt.X(f"{cost_col}:Q", title=cost_title, scale=_log_scale_if_positive(data[cost_col]))
    y = alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]))
    color = alt.Color(f"{SERIES}:N", title="strategy")
    tooltip = [
        alt.Tooltip(f"{SERIES}:N", title="strategy"),
        alt.Tooltip(f"{cost_col}:Q", title=cost_title, format=",.4g"),
        alt.Tooltip("accuracy:Q", format=".1%"),
        alt.Tooltip(f"{FRONTIER}:N", title="Pareto"),
    ]
    base = alt.Chart()
    error_bars = base.mark_rule(opacity=0.5).encode(x=x, y=alt.Y("ci_low:Q"), y2=alt.Y2("ci_high:Q"),
                                                     color=color)
    points = base.mark_point(filled=True, opacity=1).encode(
        x=x,
        y=y,
        color=color,
        shape=alt.Shape(f"{FRONTIER}:N", title="Pareto",
                        scale=alt.Scale(domain=[ON_FRONTIER, DOMINATED], range=["diamond", "circle"])),
        # Ordinal, in the scale's order: a nominal size made Vega-Lite warn "Channel size should not be
        # used with an unsorted discrete field" in the browser's console.
        size=alt.Size(f"{FRONTIER}:O", legend=None, sort=[ON_FRONTIER, DOMINATED],
                      scale=alt.Scale(domain=[ON_FRONTIER, DOMINATED], range=[220, 60])),
        tooltip=tooltip,
    )
    frontier = base.transform_filter(alt.datum[FRONTIER] == ON_FRONTIER)
    line = frontier.mark_line(interpolate="step-after", color="gray", strokeDash=[4, 3]).encode(
        x=x, y=y, order=alt.Order(f"{cost_col}:Q"))
    labels = frontier.mark_text(align="left", dx=9, dy=-9).encode(x=x, y=y, text=f"{SERIES}:N")
    layers = alt.layer(error_bars, line, points, labels, data=data) if with_data else \
        alt.layer(error_bars, line, points, labels)
    return layers.properties(title="Cost against accuracy (dashed: Pareto frontier)")


def vega_spec(build: Callable[[], alt.TopLevelMixin]) -> dict[str, Any]:
    """The Vega-Lite spec of the chart `build` makes (one of the above, ``with_data=False``),
    without Altair's schema validation (the tests validate these charts) and without the default
    theme's view size: for st.vega_lite_chart, which takes the data apart (as Arrow, as
    st.altair_chart sends it). Validating the page's two charts, as they were built and again
    as their specs were written, cost ~0.2 s of CPU per page."""
    with alt.utils.schemapi.debug_mode(False):  # a process-wide switch: at worst another chart is not checked
        spec = build().to_dict(validate=False)
    # A chart built without data reads Altair's placeholder data set; the page's data replaces it.
    if spec.get("datasets", {}).keys() == {"empty"}:
        del spec["datasets"]
        for part in [spec, *spec.get("layer", [])]:
            if part.get("data") == {"name": "empty"}:
                del part["data"]
    view = spec.get("config", {}).get("view", {})
    for name in ("continuousWidth", "continuousHeight"):
        view.pop(name, None)
    if "config" in spec and not view:
        spec["config"].pop("view", None)
        if not spec["config"]:
            del spec["config"]
    return spec


_specs: dict[tuple, str] = {}  # a page's chart specs by what they depend on (a handful)
_specs_lock = threading.Lock()


def _spec(key: tuple, build: Callable[[], alt.TopLevelMixin]) -> dict[str, Any]:
    with _specs_lock:
        text = _specs.get(key)
    if text is None:
        text = json.dumps(vega_spec(build))
        with _specs_lock:
            _specs[key] = text
    return json.loads(text)  # a fresh copy: the caller may change it


def curve_spec(budget_title: str, height: int) -> dict[str, Any]:
    """The page's accuracy-budget chart spec (vega_spec; data apart: curve_data). It depends only
    on its title and height, so it is built once."""
    return _spec(("curve", budget_title, height), lambda: accuracy_budget_chart(
        pd.DataFrame(columns=["strategy", "budget"]), budget_title, with_data=False).properties(height=height))


def pareto_spec(board: pd.DataFrame, cost_col: str, cost_title: str, height: int,
                data: pd.DataFrame | None = None) -> dict[str, Any]:
    """The page's cost-accuracy chart spec (vega_spec; data apart: pareto_data, which `data` is
    when the caller has it already), built once per cost axis and axis type."""
    data = pareto_data(board, cost_col) if data is None else data
    log = _log_scale_if_positive(data[cost_col]).type == "log"
    return _spec(("pareto", cost_col, cost_title, log, height), lambda: pareto_chart(
        board, cost_col, cost_title, with_data=False).properties(height=height))
