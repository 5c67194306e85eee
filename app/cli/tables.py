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

from app.head_to_head import SIGNIFICANCE, pair_budgets, pair_sentences
from app.leaderboard_view import (
    Leaderboard,
    budget_text,
    cap_title,
    display_table,
    summary,
)
from reasoning.sweep import SweepProgress

CHART_FORMATS = (".png", ".svg", ".html", ".json")
PIPE_WIDTH = 160
PERCENT = ("accuracy", "CI low", "CI high")


def format_value(column: str, value: Any) -> str:
    """One leaderboard cell as text: accuracies in %, dollars with 4 decimals, counts whole."""
    if isinstance(value, bool):
        return "✓" if value else ""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
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
    shown = pd.DataFrame({"rank": [format_value("rank", v) for v in table["rank"]],
                          "rank range": [r or "–" for r in table["rank range"]],
                          "strategy": table["strategy"].astype(str)})
    if table["model"].nunique() > 1:
        shown["model"] = table["model"].astype(str)
    shown["results"] = [str(v) for v in table["results"]]
    shown["failed"] = [str(v) for v in table["failed"]]
    shown["errored"] = [str(v) for v in table["errored"]]
    shown["accuracy [95% CI]"] = [
        f"{a:.0%} [{lo:.0%}–{hi:.0%}]" if not any(math.isnan(float(x)) for x in (a, lo, hi))
        else format_value("accuracy", a)
        for a, lo, hi in zip(table["accuracy"], table["CI low"], table["CI high"], strict=True)
    ]
    for column in [c for c in table.columns if c.startswith("accuracy @")]:
        shown[column.replace("accuracy @", "acc @")] = [format_value("n/a", v) if math.isnan(float(v)) else f"{v:.0%}"
                                                          for v in table[column]]
    paid = bool((pd.to_numeric(board["mean_usd"], errors="coerce").fillna(0) > 0).any())
    for column in ("tokens / correct", *(("$ / correct",) if paid else ()), "mean tokens", "AUC",
                   "Anytime Index / 1k tokens"):
        shown[column.replace("Anytime Index / 1k tokens", "AI / 1k tok")] = [format_value(column, v)
                                                                              for v in table[column]]
    shown["Pareto"] = [format_value("Pareto", bool(v)) for v in table["Pareto"]]
    return shown


SHORT_HEADERS = {"rank": "#", "rank range": "ranks", "results": "n", "failed": "fail", "errored": "err",
                 "accuracy [95% CI]": "acc [95% CI]", "tokens / correct": "tok/✓",
                 "$ / correct": "$/✓", "mean tokens": "mean tok", "AI / 1k tok": "AI/1k", "Pareto": "Pareto"}
LEGEND = ("ranks: 95% bootstrap rank range; n: scored results; fail: results with no successful model call (not "
          "scored); err: errored after spending (scored as answered); @B: accuracy at budget B; tok/✓, $/✓: spent "
          "per correct answer; AUC: accuracy against log budget; AI/1k: Anytime Index per 1,000 tokens; Pareto: on "
          "the cost/accuracy frontier")


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
    board = leaderboard.board
    scored = int(pd.to_numeric(board["n"]).sum())
    failed = int(pd.to_numeric(board["failed"]).sum()) if "failed" in board.columns else 0
    facts = summary(board)
    verdict = f"best: {facts['best']}" if facts["best"] else facts["verdict"]
    notes = []
    if leaderboard.over_cap_left_out:
        notes.append(f"{leaderboard.over_cap_left_out:,} over-cap results left out (--include-over-cap counts them)")
    if leaderboard.versions:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(leaderboard.versions.items()))
        notes.append(f"versions pooled: {listed}" if leaderboard.pooled
                     else f"versions ranked apart: {listed} (--pool-versions pools them)")
    return (f"{scored:,} scored results" + (f", {failed:,} failed (not scored)" if failed else "")
            + f"; {verdict}; budget axis: {cap_title(leaderboard.cap)}; CI: 95% bootstrap over problems. "
            + "".join(f"{n}. " for n in notes) + LEGEND)


# ---- head to head ------------------------------------------------------------------------------

PAIR_HEADERS = ("budget", "model", "A", "B", "n", "acc A", "acc B", "A − B [95% CI]", "p", "p Holm", "clear")


def pairs_text_table(pairs: pd.DataFrame, cap: str) -> pd.DataFrame:
    """The head-to-head rows as text: differences in points with their paired bootstrap CI, the
    exact McNemar p and its Holm adjustment, ✓ where the adjusted p is below SIGNIFICANCE."""
    rows = []
    for r in pairs.itertuples(index=False):
        rows.append({
            "budget": budget_text(float(r.budget), cap), "model": str(r.model), "A": str(r.a), "B": str(r.b),
            "n": f"{int(r.n):,}", "acc A": f"{r.acc_a:.0%}", "acc B": f"{r.acc_b:.0%}",
            "A − B [95% CI]": f"{r.diff * 100:+.0f} pts [{r.ci_low * 100:.0f}, {r.ci_high * 100:.0f}]",
            "p": _p(r.p), "p Holm": _p(r.p_holm), "clear": "✓" if r.p_holm < SIGNIFICANCE else "",
        })
    table = pd.DataFrame(rows, columns=list(PAIR_HEADERS))
    if pairs["model"].nunique() <= 1:
        table = table.drop(columns="model")
    return table


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def pairs_rich_table(pairs: pd.DataFrame, cap: str, title: str) -> Table:
    shown = pairs_text_table(pairs, cap)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in shown.columns:
        table.add_column(column, justify="left" if column in ("budget", "model", "A", "B") else "right",
                         no_wrap=column in ("A", "B", "A − B [95% CI]"), overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*row)
    return table


def pairs_markdown(pairs: pd.DataFrame, cap: str) -> str:
    return pairs_text_table(pairs, cap).to_markdown(index=False, disable_numparse=True) + "\n"


def pairs_json(pairs: pd.DataFrame) -> str:
    """JSON rows: a, b, budget, n, acc_a, acc_b, diff, ci_low, ci_high, p, p_holm, then model,
    a_only, b_only (the discordant counts) and mdd (the minimum detectable difference)."""
    order = ["a", "b", "budget", "n", "acc_a", "acc_b", "diff", "ci_low", "ci_high", "p", "p_holm", "model",
             "a_only", "b_only", "mdd"]
    return pairs[order].to_json(orient="records", indent=2)


def pairs_caption(leaderboard: Leaderboard) -> str:
    pairs = leaderboard.pairs
    if pairs is None or pairs.empty:
        return "no two strategies have results on the same problems at the same budget and model"
    several = pairs["model"].nunique() > 1
    lines = [s for model, budget in pair_budgets(pairs)
             for s in pair_sentences(pairs, leaderboard.cap, model, budget, with_model=several)]
    return "\n".join(lines) + (
        f"\nA − B: accuracy difference on the problems both ran, 95% paired bootstrap CI; p: exact McNemar test on "
        f"the discordant problems; p Holm: adjusted across the {len(pairs):,} pairs shown; clear: p Holm < "
        f"{SIGNIFICANCE:g}.")


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
