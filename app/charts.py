"""Run-level charts: pure functions from DataFrames to Altair charts (no Streamlit here).

Inputs:
- curve points, as `storage.queries.curve_points` returns them (one row per partial answer:
  strategy_index, strategy, seq, tokens, usd, seconds, answer, confidence, correct, quality);
- spend samples (one row per spend report: strategy_index, strategy, seconds, tokens, usd);
- optional end spends (one row per finished strategy: strategy_index, strategy, tokens, usd), so
  a quality step reaches as far as the strategy actually spent after its last answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from app.pane_text import confidence_measure

# measure: what a point's quality is (VERDICT, or the strategy's confidence: app.panes.Measure.axis).
QUALITY_COLUMNS = ["series", "strategy_index", "seq", "tokens", "usd", "seconds", "answer", "quality", "point",
                   "measure"]
# A point's quality is 1 or 0 when its answer was judged against the reference (storage.recorder), else
# the confidence its strategy reported (a vote share, a Q(b), a rating...), else none.
VERDICT = "right (1) or wrong (0)"
SPEND_COLUMNS = ["series", "strategy_index", "seconds", "tokens", "usd"]
# Twelve saturated, distinct hues (tableau10's ten, whose 11th series repeated the 1st, plus two),
# and a point shape and a dash pattern per series on top: two series never share all three, so
# 11+ strategies stay apart in a legend and in print (pale schemes such as category20 pair hues).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#9c755f", "#17becf", "#edc948",
           "#ff5fa2", "#6b6b6b", "#1d3f8f", "#8cd17d")
SHAPES = ("circle", "square", "triangle-up", "diamond", "cross", "triangle-down", "wedge")
DASHES = ((1, 0), (6, 3), (2, 2), (8, 3, 2, 3))
# Fit the page's width, but let the legend below add to the height: Streamlit's default ("fit" both
# ways) kept the total height fixed, so a legend of 11 entries left the plot a line.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
X_TITLES = {"tokens": "tokens spent (input + output)", "usd": "dollars spent", "seconds": "seconds since start"}


def series_encoding(names: Sequence[str], title: str = "strategy",
                    field: str = "series") -> tuple[alt.Color, alt.Shape, alt.StrokeDash]:
    """Colour, point shape and dash for each series, by its position: colours cycle every 12, shapes
    every 7 and dashes change each 12, so no two of up to 84 series look alike. One legend below the
    chart (beside it, 11 names squeezed a 420 px chart to nothing)."""
    domain = list(dict.fromkeys(names))
    legend = alt.Legend(orient="bottom", direction="horizontal", columns=2, labelLimit=260, symbolStrokeWidth=2)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(domain))]
    shapes = [SHAPES[i % len(SHAPES)] for i in range(len(domain))]
    dashes = [list(DASHES[(i // len(PALETTE)) % len(DASHES)]) for i in range(len(domain))]
    # One legend object for all three: Vega-Lite merges channels that share a field, title and legend
    # into one legend (a legend=None on one of them warned 'Conflicting legend property "disable"').
    return (alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=domain, range=colors), legend=legend),
            alt.Shape(f"{field}:N", title=title, scale=alt.Scale(domain=domain, range=shapes), legend=legend),
            alt.StrokeDash(f"{field}:N", title=title, scale=alt.Scale(domain=domain, range=dashes), legend=legend))


def series_name(strategy_index: int, strategy: str) -> str:
    """One legend entry per entry of a run ("2. direct@600"); the number tells apart two entries
    that share a label."""
    return f"{int(strategy_index) + 1}. {strategy}"


def quality_steps(points: pd.DataFrame, ends: pd.DataFrame | None = None,
                  labels: Mapping[int, str] | None = None) -> pd.DataFrame:
    """The step data behind the quality charts: every curve point (point="answer"), then for each
    finished strategy one point at its final spend (point="end") holding its last quality.
    `labels` names the series by strategy index (entry labels such as "direct@300"); without
    them, by the strategy's name.

    A strategy starts at zero spend with no answer, so its line begins at its first answer."""
    if points.empty:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    frame = points.sort_values("seq").copy()
    labels = labels or {}
    frame["series"] = [series_name(i, labels.get(int(i), s))
                       for i, s in zip(frame["strategy_index"], frame["strategy"], strict=True)]
    frame["point"] = "answer"
    frame["quality"] = pd.to_numeric(frame["quality"], errors="coerce")
    judged = frame["correct"].notna() if "correct" in frame else pd.Series(False, index=frame.index)
    frame["measure"] = [VERDICT if j else confidence_measure(str(s)).axis
                        for j, s in zip(judged, frame["strategy"], strict=True)]
    rows = [frame[QUALITY_COLUMNS]]
    if ends is not None and not ends.empty:
        extra = []
        for end in ends.itertuples(index=False):
            mine = frame[frame["strategy_index"] == end.strategy_index]
            if mine.empty:
                continue
            last = mine.iloc[-1]
            if end.tokens <= last["tokens"] and end.usd <= last["usd"]:
                continue  # the last answer came with the last token: nothing to extend
            extra.append({"series": last["series"], "strategy_index": last["strategy_index"],
                          "seq": last["seq"], "tokens": max(end.tokens, last["tokens"]),
                          "usd": max(end.usd, last["usd"]), "seconds": last["seconds"],
                          "answer": last["answer"], "quality": last["quality"], "point": "end",
                          "measure": last["measure"]})
        if extra:
            rows.append(pd.DataFrame(extra, columns=QUALITY_COLUMNS))
    return pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0].reset_index(drop=True)


def quality_axis_title(steps: pd.DataFrame) -> str:
    """The quality axis's title, for what its points are: "right (1) or wrong (0)" when every answer
    was judged against a reference; else the confidences the strategies reported ("vote share or
    Q(b)"); both when some answers could not be judged ("right (1) or wrong (0), else vote share")."""
    if steps.empty or "measure" not in steps:
        return "quality"
    plotted = steps[steps["quality"].notna()].sort_values("strategy_index", kind="stable")
    measures = list(dict.fromkeys(plotted["measure"].astype(str)))
    confidences = _either([m for m in measures if m != VERDICT])
    if VERDICT not in measures:
        return confidences or "quality"
    return f"{VERDICT}, else {confidences}" if confidences else VERDICT


def _either(names: Sequence[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def quality_chart(steps: pd.DataFrame, x: str = "tokens", *, quality_title: str | None = None,
                  height: int = 260) -> alt.LayerChart:
    """Quality of each strategy's best answer against its spend, as step functions on one chart.

    `steps` is `quality_steps(...)`; x is "tokens" or "usd". Dots mark the answers. The y axis is
    titled for what it plots (quality_axis_title) unless `quality_title` is given."""
    if x not in ("tokens", "usd"):
        raise ValueError(f"x must be 'tokens' or 'usd', got {x!r}")
    x_format = "$.4f" if x == "usd" else ",d"
    color, shape, dash = series_encoding(_ordered_series(steps))
    base = alt.Chart(steps).encode(
        x=alt.X(f"{x}:Q", title=X_TITLES[x], axis=alt.Axis(format="$~s" if x == "usd" else "~s"),
                scale=from_zero(steps[x])),
        y=alt.Y("quality:Q", title=quality_axis_title(steps) if quality_title is None else quality_title,
                scale=alt.Scale(domain=[0, 1])),
        color=color,
    )
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(strokeDash=dash)
    dots = base.mark_point(size=60, filled=True, opacity=1).encode(
        shape=shape,
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("answer:N"),
                 alt.Tooltip("quality:Q", format=".2f"), alt.Tooltip("measure:N", title="quality is"),
                 alt.Tooltip(f"{x}:Q", format=x_format)],
    ).transform_filter(alt.datum.point == "answer")
    return alt.layer(line, dots).properties(height=height, autosize=FIT_WIDTH)


def _ordered_series(frame: pd.DataFrame) -> list[str]:
    """Series names in entry order (strategy_index), so a strategy keeps its colour across charts."""
    if frame.empty:
        return []
    ordered = frame.sort_values("strategy_index", kind="stable")
    return list(dict.fromkeys(ordered["series"].astype(str)))


def spend_frame(samples: Sequence[dict]) -> pd.DataFrame:
    """Spend samples (dicts with strategy_index, strategy, seconds, tokens, usd) as chart data, each
    strategy starting from nothing spent at second 0 (its first report may come much later)."""
    if not samples:
        return pd.DataFrame(columns=SPEND_COLUMNS)
    frame = pd.DataFrame(list(samples))
    starts = frame.drop_duplicates("strategy_index")[["strategy_index", "strategy"]]
    starts = starts.assign(seconds=0.0, tokens=0, usd=0.0)
    frame = pd.concat([starts, frame], ignore_index=True)
    frame["series"] = [series_name(i, s) for i, s in zip(frame["strategy_index"], frame["strategy"], strict=True)]
    return frame.sort_values(["strategy_index", "seconds"], kind="stable")[SPEND_COLUMNS].reset_index(drop=True)


def from_zero(values: pd.Series) -> alt.Scale:
    """A scale from 0 to the data's largest value, or to 1 when that is 0 (or there is none): with
    an empty extent Vega's SI tick format ("~s") labels the only tick "NaN" (seen when every
    strategy of a run stopped before its first call, spending nothing)."""
    top = pd.to_numeric(values, errors="coerce").max() if len(values) else None
    if top is None or pd.isna(top) or top <= 0:
        return alt.Scale(domain=[0, 1])
    return alt.Scale(zero=True)


def spend_chart(spend: pd.DataFrame, y: str = "tokens", *, height: int = 220) -> alt.Chart:
    """Cumulative spend of each strategy over time since the run started (tokens or dollars)."""
    if y not in ("tokens", "usd"):
        raise ValueError(f"y must be 'tokens' or 'usd', got {y!r}")
    color, shape, dash = series_encoding(_ordered_series(spend))
    line = alt.Chart().mark_line(interpolate="step-after").encode(strokeDash=dash)
    points = alt.Chart().mark_point(filled=True, size=30, opacity=1).encode(shape=shape)
    # The shared encoding sits on the layer (spec["encoding"]), each mark adds its own channel.
    return alt.layer(line, points, data=spend).encode(
        x=alt.X("seconds:Q", title=X_TITLES["seconds"], scale=from_zero(spend["seconds"])),
        y=alt.Y(f"{y}:Q", title="tokens spent" if y == "tokens" else "dollars spent", scale=from_zero(spend[y]),
                axis=alt.Axis(format="$~s" if y == "usd" else "~s", tickMinStep=0.0001 if y == "usd" else 1)),
        color=color,
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("seconds:Q", format=".1f"),
                 alt.Tooltip(f"{y}:Q", format="$.4f" if y == "usd" else ",d")],
    ).properties(height=height, autosize=FIT_WIDTH)
