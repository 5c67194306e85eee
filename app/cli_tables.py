"""Tables and progress for the command line: the leaderboard as a rich table, Markdown or CSV,
the accuracy-budget chart as a file, and a sweep's progress bar. No Streamlit here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.leaderboard_view import Leaderboard, cap_title, display_table
from reasoning.sweep import SweepProgress

CHART_FORMATS = (".png", ".svg", ".html", ".json")
PIPE_WIDTH = 160
PERCENT = ("accuracy", "CI low", "CI high")


def format_value(column: str, value: Any) -> str:
    """One leaderboard cell as text: accuracies in %, dollars with 4 decimals, counts whole."""
    if isinstance(value, bool):
        return "✓" if value else ""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if column in PERCENT or column.startswith("accuracy @"):
        return f"{value:.1%}"
    if "$" in column:
        return f"{value:.4f}" if value < 100 else f"{value:,.2f}"
    if column in ("AUC",):
        return f"{value:.3f}"
    if column.startswith("Anytime"):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def text_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as text cells, narrow enough for a terminal: accuracy with its interval in one
    column, the model only when several are ranked, dollar columns only when anything cost money."""
    table = display_table(board)
    shown = pd.DataFrame({"rank": [str(v) for v in table["rank"]], "strategy": table["strategy"].astype(str)})
    if table["model"].nunique() > 1:
        shown["model"] = table["model"].astype(str)
    shown["results"] = [str(v) for v in table["results"]]
    shown["accuracy [95% CI]"] = [
        f"{a:.0%} [{lo:.0%}–{hi:.0%}]" if not any(math.isnan(x) for x in (a, lo, hi)) else format_value("accuracy", a)
        for a, lo, hi in zip(table["accuracy"], table["CI low"], table["CI high"], strict=True)
    ]
    for column in [c for c in table.columns if c.startswith("accuracy @")]:
        shown[column.replace("accuracy @", "acc @")] = [format_value("n/a", v) if math.isnan(v) else f"{v:.0%}"
                                                          for v in table[column]]
    paid = bool((pd.to_numeric(board["mean_usd"], errors="coerce").fillna(0) > 0).any())
    for column in ("tokens / correct", *(("$ / correct",) if paid else ()), "mean tokens", "AUC",
                   "Anytime Index / 1k tokens"):
        shown[column.replace("Anytime Index / 1k tokens", "AI / 1k tok")] = [format_value(column, v)
                                                                              for v in table[column]]
    shown["Pareto"] = [format_value("Pareto", bool(v)) for v in table["Pareto"]]
    return shown


SHORT_HEADERS = {"rank": "#", "results": "n", "accuracy [95% CI]": "acc [95% CI]", "tokens / correct": "tok/✓",
                 "$ / correct": "$/✓", "mean tokens": "mean tok", "AI / 1k tok": "AI/1k", "Pareto": "Pareto"}
LEGEND = ("n: scored results; @B: accuracy at budget B; tok/✓, $/✓: spent per correct answer; AUC: accuracy "
          "against log budget; AI/1k: Anytime Index per 1,000 tokens; Pareto: on the cost/accuracy frontier")


def rich_table(board: pd.DataFrame, title: str) -> Table:
    """The terminal table: short headers (LEGEND explains them) so it fits 100 columns."""
    shown = text_table(board)
    shown.columns = [SHORT_HEADERS.get(c, c.replace("acc @ ", "@")) for c in shown.columns]
    models = sorted(board["model"].astype(str).unique())
    table = Table(title=title + (f" ({models[0]})" if len(models) == 1 else ""), box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for column in shown.columns:
        # Names and accuracies stay on one line; headers wrap instead.
        keep = column in ("strategy", "model") or column.startswith("acc")
        table.add_column(column, justify="left" if column in ("strategy", "model") else "right", no_wrap=keep,
                         overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*row)
    return table


def print_table(console: Any, table: Table) -> None:
    """A terminal gets the table at its width; a pipe or file gets it unwrapped (rich assumes 80)."""
    if console.is_terminal:
        console.print(table)
        return
    width = console.width
    console.width = max(width, PIPE_WIDTH)
    try:
        console.print(table)
    finally:
        console.width = width


def markdown_table(board: pd.DataFrame) -> str:
    models = sorted(board["model"].astype(str).unique())
    head = f"Model: `{models[0]}`\n\n" if len(models) == 1 else ""
    return head + text_table(board).to_markdown(index=False, disable_numparse=True) + "\n"


def caption(leaderboard: Leaderboard) -> str:
    scored = int(pd.to_numeric(leaderboard.board["n"]).sum())
    return (f"{scored:,} scored results; budget axis: {cap_title(leaderboard.cap)}; CI: 95% bootstrap over "
            f"problems. {LEGEND}")


def save_chart(leaderboard: Leaderboard, path: Path) -> None:
    """The accuracy-budget chart to .png/.svg (needs the vl-convert-python package), .html or
    .json (a Vega-Lite spec). Raises ValueError for another extension, RuntimeError if PNG/SVG
    cannot be rendered here."""
    from app.leaderboard_charts import accuracy_budget_chart

    suffix = path.suffix.lower()
    if suffix not in CHART_FORMATS:
        raise ValueError(f"the chart file must end in one of {', '.join(CHART_FORMATS)}, got {path.name!r}")
    chart = accuracy_budget_chart(leaderboard.curve, budget_title=f"budget ({cap_title(leaderboard.cap)})")
    if suffix in (".png", ".svg"):
        try:
            import vl_convert  # noqa: F401  (altair's renderer for static images)
        except ImportError:
            raise RuntimeError(f"writing {suffix} needs the vl-convert-python package, which is not installed; "
                               "save as .html or .json instead") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    chart.save(str(path), **({"scale_factor": 2} if suffix == ".png" else {}))


def sweep_progress_bar(console: Any) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        transient=False,
    )


def progress_detail(progress: SweepProgress) -> str:
    parts = [f"{progress.running} running"]
    if progress.failed:
        parts.append(f"[red]{progress.failed} failed[/]")
    if progress.projected_usd > 0 or progress.max_usd is not None:  # nothing to say about money on a free model
        money = f"${progress.spent_usd:.4f} spent"
        if progress.projected_usd > progress.spent_usd:
            money += f", ~${progress.projected_usd:.4f} projected"
        if progress.max_usd is not None:
            money += f" of ${progress.max_usd:g} cap"
        parts.append(money)
    return " · ".join(parts)
