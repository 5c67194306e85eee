"""`budget-arena leaderboard`: rank strategies by budget efficiency (table, markdown, CSV, JSON, HTML)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import EXIT_FAILED, DbOption, bad_input, err, open_store_or_exit, out
from app.cli.export import write_output
from reasoning.budget import CAP_NAMES

FORMATS = ("table", "markdown", "csv", "json")


def board_or_none(store: Any, *, cap: str | None = None, split_knobs: bool = False, n_boot: int = 1000,
                   include_over_cap: bool = False, pool_versions: bool = False, **filters: Any) -> Any:
    from app.leaderboard_view import caps_present, compute_leaderboard, default_cap
    from storage.leaderboard_reads import strategy_results

    results = strategy_results(store=store, **{k: v for k, v in filters.items() if v})
    if results.empty or not results["correct"].notna().any():
        return None
    cap = cap or default_cap(caps_present(results))
    if cap is None:
        return None
    return compute_leaderboard(results, cap, n_boot=n_boot, split_knobs=split_knobs,
                               include_over_cap=include_over_cap, pool_versions=pool_versions)


def leaderboard(
    dataset: Annotated[str | None, typer.Option(help="Only results on this dataset (its name, e.g. basic_arithmetic).")]
    = None,
    model: Annotated[str | None, typer.Option(help="Only results of this model (as stored, e.g. local:smollm2).")]
    = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s", help="Only these strategies (repeatable).")]
    = None,
    sweep_id: Annotated[str | None, typer.Option("--sweep", help="Only the results of this sweep.")] = None,
    cap: Annotated[str | None, typer.Option(
        help=f"Budget axis: {', '.join(CAP_NAMES)} (default: total_tokens when runs set it).")] = None,
    split_knobs: Annotated[bool, typer.Option(
        help="Rank each knob setting of a strategy separately.")] = False,
    pairs: Annotated[bool, typer.Option(
        "--pairs", help="Print the head-to-head comparisons at equal budget instead of the ranking: every pair of "
        "strategies on the problems both ran, with a paired bootstrap CI, the exact McNemar p and the Holm-adjusted "
        "p.")] = False,
    include_over_cap: Annotated[bool, typer.Option(
        "--include-over-cap", help="Count results whose provider reported more usage than the call was granted "
        "(left out by default).")] = False,
    pool_versions: Annotated[bool, typer.Option(
        "--pool-versions", help="Pool results of different strategy versions (prompt/knob fingerprints), kept "
        "apart by default.")] = False,
    fmt: Annotated[str, typer.Option("--format", help=f"Output: {', '.join(FORMATS)}.")] = "table",
    chart: Annotated[Path | None, typer.Option(
        help="Also save the accuracy-budget chart: .png/.svg (needs vl-convert-python), .html or .json.")] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="Bootstrap resamples for the intervals.")] = 1000,
    as_html: Annotated[bool, typer.Option(
        "--html", help="Write a self-contained HTML report instead (ranking with rank ranges, head to head, "
        "accuracy-budget and cost-accuracy charts, the filters, price date and app version; opens with no server "
        "or network).")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File for --html (default: standard output).")] = None,
    db: DbOption = None,
) -> None:
    """Rank strategies by budget efficiency over the stored results that have a reference answer.

    Columns: the rank and its 95% bootstrap range, results scored, failed (no successful model call: not scored) and errored (scored as answered), accuracy overall and at each budget with 95% bootstrap intervals, tokens and dollars per correct answer, AUC of accuracy against log budget, the Anytime Index and the Pareto frontier. --pairs: the head-to-head table instead."""
    from app.cli.tables import (
        caption,
        markdown_table,
        pairs_caption,
        pairs_json,
        pairs_markdown,
        pairs_rich_table,
        print_table,
        rich_table,
        save_chart,
    )
    from app.head_to_head import pairs_csv
    from app.leaderboard_view import board_csv, board_records

    if fmt not in FORMATS:
        raise bad_input(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if cap is not None and cap not in CAP_NAMES:
        raise bad_input(f"--cap must be one of {', '.join(CAP_NAMES)}, got {cap!r}")
    store = open_store_or_exit(db, existing=True)
    if sweep_id is not None:
        from storage.sweeps import get_sweep

        if get_sweep(sweep_id, store=store) is None:
            raise bad_input(f"no sweep {sweep_id!r} in this store")
    board = board_or_none(store, cap=cap, split_knobs=split_knobs, n_boot=bootstrap, include_over_cap=include_over_cap,
                           pool_versions=pool_versions, dataset=dataset, model=model, strategy=strategy,
                           sweep_id=sweep_id)
    if board is None or board.board.empty:
        err.print("no scored results match (a leaderboard needs runs with a reference answer"
                      + (f" and a {cap} budget" if cap else "") + ")", highlight=False)
        if fmt == "json":
            out.print_json("[]")
        return
    if as_html:  # the report holds the ranking, the pairs and the charts
        filters = {"dataset": dataset or "all", "model": model or "all",
                   "strategies": ", ".join(strategy or []) or "all", "sweep": sweep_id or "all",
                   "knob settings": "ranked apart" if split_knobs else "pooled",
                   "over-cap results": "counted" if include_over_cap else "left out",
                   "strategy versions": "pooled" if pool_versions else "ranked apart",
                   "bootstrap resamples": f"{bootstrap:,}"}
        _leaderboard_report(board, filters, output, store, dataset=dataset, model=model, strategy=strategy,
                            sweep_id=sweep_id)
    elif pairs:
        table = board.pairs
        if table is None or table.empty:
            err.print(pairs_caption(board), highlight=False)
            if fmt == "json":
                out.print_json("[]")
            return
        if fmt == "table":
            print_table(out, pairs_rich_table(table, board.cap, "Head to head at equal budget"))
            err.print(pairs_caption(board), highlight=False, markup=False)
        elif fmt == "markdown":
            sys.stdout.write(pairs_markdown(table, board.cap))
        elif fmt == "csv":
            sys.stdout.write(pairs_csv(table, board.cap))
        else:
            sys.stdout.write(pairs_json(table) + "\n")
    elif fmt == "table":
        print_table(out, rich_table(board.board, "Leaderboard"))
        err.print(caption(board), highlight=False, markup=False)
    elif fmt == "markdown":
        sys.stdout.write(markdown_table(board.board))
    elif fmt == "csv":
        sys.stdout.write(board_csv(board.board, board.cap))
    else:
        sys.stdout.write(board_records(board.board, board.cap) + "\n")
    if chart is not None:
        try:
            save_chart(board, chart)
        except ValueError as exc:
            raise bad_input(str(exc)) from None
        except (RuntimeError, OSError) as exc:
            err.print(f"[bold red]error:[/] chart not written: {exc}", highlight=False)
            raise typer.Exit(EXIT_FAILED) from None
        err.print(f"chart written to {chart}", highlight=False)


def _leaderboard_report(board: Any, filters: dict[str, str], output: Path | None, store: Any,
                        **query: Any) -> None:
    from app.html_leaderboard import leaderboard_html
    from storage.leaderboard_reads import strategy_results

    prices = strategy_results(store=store, columns=["price_date"], **{k: v for k, v in query.items() if v})
    dates = sorted({str(d) for d in prices["price_date"].dropna()})
    write_output(leaderboard_html(board, filters=filters, price_dates=dates), output, err.print)
