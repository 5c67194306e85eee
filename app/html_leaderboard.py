"""A leaderboard as one static, self-contained HTML report: no server, no network, no script.

It holds what the Leaderboard page shows for one set of filters: the verdict, the ranked table
(rank ranges, failed and errored counts), the head-to-head comparisons at equal budget (matrix and
sentences per model and budget), the accuracy-budget and cost-accuracy charts (static SVG,
app/svg_charts.py), and what the numbers rest on: the filters used, the budget axis, the price
data dates of the results and the app version. Every text is HTML-escaped (strategy and model
names may come from imported runs), and the page's policy allows no requests and no script.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

import pandas as pd

from app.head_to_head import SIGNIFICANCE, pair_budgets, pair_matrix, pair_sentences
from app.html_page import app_version, page
from app.leaderboard_charts import series_labels
from app.leaderboard_rows import with_budget
from app.leaderboard_view import (
    COST_AXES,
    LEADERBOARD_COLUMNS,
    Leaderboard,
    LeaderboardFilters,
    RowChoice,
    apply_filters,
    budget_text,
    cap_title,
    display_table,
    summary,
    with_frontier,
)
from app.svg_charts import SvgChart, color
from storage.leaderboard_reads import strategy_results
from storage.store import Store

PERCENT_COLUMNS = ("accuracy", "CI low", "CI high")
REPORT_CSS = """
.verdict { font-size: 15px; margin: 8px 0; }
td.num { text-align: right; white-space: nowrap; }
.scroll { overflow-x: auto; } #board td { white-space: nowrap; overflow-wrap: normal; }
td.ahead { background: #dff3e4; } td.behind { background: #fde2e1; } td.unclear { color: #999; }
table.matrix th:first-child { text-align: right; }
.footnote { color: #555; font-size: 12px; max-width: 980px; }
"""


def leaderboard_html(board: Leaderboard, *, filters: Mapping[str, str], price_dates: Sequence[str],
                     generated: datetime | None = None, title: str = "Budget Arena leaderboard") -> str:
    """The report as HTML text. `filters`: what was chosen, as label -> value text (shown as given);
    `price_dates`: the price data dates of the results behind the board."""
    generated = generated or datetime.now(UTC)
    facts = summary(board.board)
    results = int(pd.to_numeric(board.board["n"], errors="coerce").fillna(0).sum())
    body = [
        f"<header><h1>{_t(title)}</h1>",
        _meta(board, filters, price_dates, generated, results),
        "</header>",
        f'<p class="verdict" id="verdict"><b>{_t(_verdict(facts))}</b>',
        (f" · Pareto frontier (mean tokens against accuracy): {_t(', '.join(facts['frontier']))}"
         if facts.get("frontier") else ""), "</p>",
        '<section><h2>Ranking</h2>', _board_table(board), "</section>",
        _head_to_head(board),
        '<section><h2>Charts</h2><div class="charts">', _accuracy_chart(board), _cost_chart(board), "</div></section>",
        f'<p class="footnote">{_t(FOOTNOTE)}</p>',
    ]
    return page(title, "".join(body), css=REPORT_CSS)


def page_report(board: Leaderboard, filters: LeaderboardFilters, choice: RowChoice, store: Store) -> str:
    """The report of the Leaderboard page's board, with the page's filters and toggles named."""
    dates = "all" if filters.start is None and filters.end is None else \
        f"{filters.start or 'the first'} to {filters.end or 'the last'} (UTC)"
    used = {"models": ", ".join(filters.models) or "all", "datasets": ", ".join(filters.datasets) or "all",
            "strategies": ", ".join(filters.strategies) or "all", "dates": dates,
            "sweep": getattr(filters, "sweep", None) or "all",
            "knob settings": "ranked apart" if choice.split_knobs else "pooled",
            "over-cap results": "counted" if choice.include_over_cap else "left out",
            "strategy versions": "pooled" if choice.pool_versions else "ranked apart"}
    rows = with_budget(apply_filters(strategy_results(store=store, columns=[*LEADERBOARD_COLUMNS, "price_date"]),
                                     filters), board.cap)
    return leaderboard_html(board, filters=used, price_dates=sorted({str(d) for d in rows["price_date"].dropna()}))


FOOTNOTE = (
    "Ranked by the area under the accuracy-budget curve (log budget axis), then accuracy. Intervals are 95% "
    "bootstrap intervals over problems; the rank range is where a strategy ranks in 95% of bootstrap resamples. "
    "A result that made no successful model call is counted as failed and left out of every metric; one that "
    "errored after spending is scored as what it answered. Head-to-head: strategies on the same problems, model "
    f"and budget; the difference's 95% paired bootstrap interval, the exact McNemar test, p-values Holm-adjusted "
    f"across the pairs; a clear difference is p < {SIGNIFICANCE:g} after adjustment.")


def _t(value: object) -> str:
    return escape("" if value is None else str(value), quote=False)


def _verdict(facts: Mapping[str, Any]) -> str:
    if facts.get("verdict"):
        return str(facts["verdict"]).capitalize()
    return f"Best: {facts['best']}" if facts.get("best") else "Nothing ranked"


def _meta(board: Leaderboard, filters: Mapping[str, str], price_dates: Sequence[str], generated: datetime,
          results: int) -> str:
    rows = [("budget axis", cap_title(board.cap)), ("scored results", f"{results:,}")]
    rows += [(label, value) for label, value in filters.items()]
    rows.append(("prices as of", "; ".join(price_dates) if price_dates else "no priced calls (free models)"))
    left_out = getattr(board, "over_cap_left_out", 0)
    if left_out:
        rows.append(("left out", f"{left_out:,} results whose provider reported usage over their cap"))
    rows.append(("written", f"{generated:%Y-%m-%d %H:%M UTC} by budget-arena {app_version()}"))
    return "<dl class=meta>" + "".join(f"<dt>{_t(k)}</dt><dd>{_t(v)}</dd>" for k, v in rows) + "</dl>"


def _cell(column: str, value: Any) -> str:
    value = _plain(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td></td>"
    if isinstance(value, float) and math.isinf(value):  # a cost per correct answer with none correct
        return '<td class="num" title="no correct answer">∞</td>'
    if isinstance(value, bool):
        return f"<td>{'✓' if value else ''}</td>"
    if not isinstance(value, int | float):
        return f"<td>{_t(value)}</td>"
    if column in PERCENT_COLUMNS or column.startswith("accuracy @ "):
        text = f"{value * 100:.1f}%"
    elif column in ("$ / correct", "mean $"):
        text = f"${value:.5f}"
    elif column == "AUC":
        text = f"{value:.3f}"
    elif column.startswith("Anytime"):
        text = f"{value:.4f}"
    elif float(value).is_integer():
        text = f"{int(value):,}"
    else:
        text = f"{value:,.1f}"
    return f'<td class="num">{_t(text)}</td>'


def _board_table(board: Leaderboard) -> str:
    table = display_table(board.board)
    table = table.loc[:, [c for c in table.columns if not (c == "why failed" and not table[c].astype(bool).any())]]
    head = "".join(f"<th>{_t(c)}</th>" for c in table.columns)
    rows = []
    for record in table.astype(object).to_dict(orient="records"):
        rows.append("<tr>" + "".join(_cell(c, v) for c, v in record.items()) + "</tr>")
    return (f'<div class="scroll"><table id="board"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (pd.NA and NaN stay missing)."""
    if value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _head_to_head(board: Leaderboard) -> str:
    pairs = getattr(board, "pairs", None)
    cells = pair_budgets(pairs)
    if not cells:
        return ('<section id="head-to-head"><h2>Head to head</h2><p class="muted">No two strategies have scored '
                "results on the same problems at the same model and budget.</p></section>")
    order = [str(s) for s in board.board["strategy"]]
    many_models = len({m for m, _ in cells}) > 1
    parts = ['<section id="head-to-head"><h2>Head to head at equal budget</h2>',
             '<p class="muted">Cell: the row\'s accuracy minus the column\'s, in points, with its 95% interval; green: '
             "the row is clearly ahead, red: clearly behind, grey: no clear difference.</p>"]
    for model, budget in cells:
        where = budget_text(budget, board.cap) + (f" · {model}" if many_models else "")
        parts.append(f"<h3>{_t(where)}</h3><ul>")
        parts += [f"<li>{_t(s)}</li>" for s in pair_sentences(pairs, board.cap, model, budget,  # type: ignore[arg-type]
                                                             with_model=many_models)]
        parts.append("</ul>")
        text, sign = pair_matrix(pairs, model, budget, order)  # type: ignore[arg-type]
        head = "<th></th>" + "".join(f"<th>{_t(c)}</th>" for c in text.columns)
        body = []
        for name in text.index:
            cells_html = []
            for column in text.columns:
                mark = {1: "ahead", -1: "behind"}.get(int(sign.loc[name, column]), "unclear")
                cells_html.append(f'<td class="num {mark}">{_t(text.loc[name, column])}</td>')
            body.append(f"<tr><th>{_t(name)}</th>{''.join(cells_html)}</tr>")
        parts.append(f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    parts.append("</section>")
    return "".join(parts)


def _accuracy_chart(board: Leaderboard) -> str:
    curve = board.curve.loc[pd.to_numeric(board.curve["budget"], errors="coerce") > 0].copy()
    curve["series"] = series_labels(curve)
    budgets = sorted(curve["budget"].astype(float).unique())
    chart = SvgChart("Accuracy against budget (band: 95% bootstrap interval)", f"budget ({cap_title(board.cap)})",
                     "accuracy", log_x=True, x_unit="$" if board.cap == "usd" else "s" if board.cap == "seconds"
                     else "", y_unit="%", y_domain=(0.0, 1.0), x_ticks=budgets if len(budgets) <= 8 else None,
                     width=620, height=320)
    for i, (name, group) in enumerate(curve.groupby("series", sort=False)):
        group = group.sort_values("budget")
        xs, hue = list(group["budget"].astype(float)), color(i)
        chart.band(xs, list(group["ci_low"]), list(group["ci_high"]), hue)
        chart.line(xs, list(group["accuracy"]), hue)
        chart.points(xs, list(group["accuracy"]), hue, tips=[
            f"{name} at {budget_text(b, board.cap)}: {a * 100:.1f}% over {int(n)} results"
            for b, a, n in zip(group["budget"], group["accuracy"], group["n"], strict=True)])
        chart.legend.append((str(name), hue))
    return chart.render()


def _cost_chart(board: Leaderboard, cost_col: str = "mean_tokens") -> str:
    marked = with_frontier(board.board, cost_col)
    if "rank" in marked.columns:
        marked = marked.loc[marked["rank"].notna()]
    marked = marked.loc[pd.to_numeric(marked[cost_col], errors="coerce").notna()].copy()
    marked["series"] = series_labels(marked) if not marked.empty else []
    costs = pd.to_numeric(marked[cost_col], errors="coerce")
    log_x = bool(len(costs)) and bool((costs > 0).all())
    chart = SvgChart("Cost against accuracy (dashed: Pareto frontier; diamonds: on it)", COST_AXES[cost_col],
                     "accuracy", log_x=log_x, y_unit="%", y_domain=(0.0, 1.0), width=620, height=320)
    frontier = marked.loc[marked["on_frontier"].fillna(False).astype(bool)].sort_values([cost_col, "accuracy"])
    if len(frontier) > 1:
        chart.line(list(frontier[cost_col].astype(float)), list(frontier["accuracy"]), "#888", step=True,
                   dash="4 3", width=1.5)
    for i, row in enumerate(marked.itertuples(index=False)):
        hue, cost = color(i), float(getattr(row, cost_col))
        on = bool(row.on_frontier)
        chart.rule(cost, float(row.ci_low), float(row.ci_high), hue)
        chart.points([cost], [float(row.accuracy)], hue, shape="diamond" if on else "circle", size=5 if on else 4,
                     filled=on, tips=[f"{row.series}: {row.accuracy * 100:.1f}% at {cost:,.4g} "
                                      f"({'on the frontier' if on else 'dominated'})"])
        if on:
            chart.label(cost, float(row.accuracy), str(row.series), hue)
        chart.legend.append((str(row.series), hue))
    return chart.render()
