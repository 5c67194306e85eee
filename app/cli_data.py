"""The command line's dataset commands: `datasets`, `sweep`, `leaderboard` and `export`.

Registered on the `budget-arena` app by app/cli.py (`register(app)`); exit codes as documented
there. The shared helpers (consoles, bad input, opening the store) are app.cli's, looked up when a
command runs, so this module does not import app.cli at import time (app.cli imports it).
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from reasoning.budget import CAP_NAMES
from reasoning.config import get_settings
from reasoning.limits import LimitError, check_budget, check_model, check_strategies

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL of the store (env BUDGET_ARENA_DB; default: SQLite in the data dir)"),
]
DEFAULT_SWEEP_STRATEGIES = ["direct", "chain_of_thought", "self_consistency"]
FORMATS = ("table", "markdown", "csv", "json")


def _cli() -> Any:
    from app import cli

    return cli


def register(app: typer.Typer) -> None:
    for command in (datasets, sweep, demo, leaderboard, export):
        app.command()(command)


# ---- datasets ----------------------------------------------------------------------------------


def datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of a table.")] = False,
) -> None:
    """List the built-in datasets (generated offline and seeded: reasoning-gym's and graded_arithmetic) and the other sources a sweep takes."""
    from reasoning.datasets import BUILTINS, DEFAULT_BUILTIN_SIZE

    cli = _cli()
    if as_json:
        cli.out.print_json(json.dumps({"builtins": BUILTINS, "default_size": DEFAULT_BUILTIN_SIZE}))
        return
    table = Table(title="Built-in datasets")
    table.add_column("name")
    table.add_column("problems")
    for name, description in BUILTINS.items():
        table.add_row(name, description)
    cli.out.print(table)
    cli.out.print(f"Built-ins are generated offline and deterministically (--size, default {DEFAULT_BUILTIN_SIZE}; "
                  "--seed). Also: file:PATH (JSONL, JSON or CSV; GSM8K and MATH as published) and "
                  "hf:owner/name[:config][@split] when Hugging Face is reachable.", highlight=False, markup=False)


# ---- sweep -------------------------------------------------------------------------------------


def sweep(
    dataset: Annotated[str, typer.Argument(
        help="A built-in dataset (see `budget-arena datasets`), file:PATH / a JSONL or CSV path, or hf:owner/name.")],
    budget: Annotated[list[str], typer.Option(
        "--budget", "-b", help="Budgets to sweep, comma-separated values of --cap (e.g. 256,1024), or one budget "
        "as CAP=VALUE;CAP=VALUE (repeatable).")],
    strategy: Annotated[list[str] | None, typer.Option(
        "--strategy", "-s", help="Strategy to sweep (repeatable; default: direct, chain_of_thought, self_consistency).")]
    = None,
    cap: Annotated[str, typer.Option(help=f"Which cap plain --budget values set: {', '.join(CAP_NAMES)}.")]
    = "total_tokens",
    size: Annotated[int | None, typer.Option(help="Number of problems (built-ins: 20 by default; files: all).")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed that generates (built-ins) or picks (files) the problems.")] = 0,
    repeats: Annotated[int, typer.Option(help="Runs of each problem x strategy x budget.")] = 1,
    model: Annotated[str | None, typer.Option(  # the same as app.cli.ModelOption (not importable here: a cycle)
        help="local | local:/path/model.gguf | openai:NAME | anthropic:NAME  [default: the configured "
             "default_model, else local]")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (vLLM, Ollama, ...).")] = None,
    model_option: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE passed to the model (repeatable), e.g. n_threads=1 or n_ctx=4096 for a local model. "
        "Stored with the runs: never put a key here.")] = None,
    knob: Annotated[list[str] | None, typer.Option(help="STRATEGY.KNOB=VALUE (repeatable).")] = None,
    concurrency: Annotated[int | None, typer.Option(
        min=1, help="Strategy runs in flight at once (default: 1 for local models, 4 for APIs).")] = None,
    max_usd: Annotated[float | None, typer.Option(
        help="Hard dollar cap for the whole sweep (earlier sessions of it included); exit code 3 when reached.")]
    = None,
    resume: Annotated[bool, typer.Option(
        "--resume/--no-resume", help="Continue the sweep of this exact grid, skipping finished cells (default), "
        "or start a fresh one with a new id.")] = True,
    name: Annotated[str | None, typer.Option(help="A label for the sweep.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No progress bar; print one JSON summary.")] = False,
    db: DbOption = None,
) -> None:
    """Sweep a dataset: every problem x strategy x budget on one model, with a live progress bar and ETA.

    Every result is stored as it finishes and shows on the leaderboard. Running the same command again resumes the sweep: finished cells are skipped, unfinished ones run again."""
    from reasoning.datasets import DatasetError
    from reasoning.models import ModelConfigError
    from reasoning.prices import PriceFileError
    from reasoning.strategies.base import StrategyConfigError
    from reasoning.sweep import StrategyChoice, SweepPlan, SweepPlanError, parse_budget_grid
    from storage.sweeps import SweepBusy, prepare_sweep

    cli = _cli()
    if cap not in CAP_NAMES:
        raise cli.bad_input(f"--cap must be one of {', '.join(CAP_NAMES)}, got {cap!r}")
    names = strategy or DEFAULT_SWEEP_STRATEGIES
    knobs = cli.parse_knobs(knob or [], list(names))
    model = cli.chosen_model(model)
    limits = get_settings().limits
    options = {**cli.model_options(base_url), **_model_options(model_option or [], cli)}
    try:
        budgets = parse_budget_grid(budget, cap=cap)
        check_strategies(list(names), limits)
        check_model(model, limits)
        budgets = tuple(check_budget(b, limits) for b in budgets)
        plan = SweepPlan(
            dataset=dataset, strategies=tuple(StrategyChoice(n, knobs.get(n, {})) for n in names), budgets=budgets,
            model=model, size=size, seed=seed, repeats=repeats, model_options=options,
            nonce="" if resume else secrets.token_hex(4), name=name or "",
        ).validate()
    except (SweepPlanError, LimitError) as exc:
        raise cli.bad_input(str(exc)) from None

    store = cli.open_store_or_exit(db)
    progress_bar = None if as_json else _progress_bar()
    if not as_json:
        cli.err.print(f"preparing: {dataset} and {model}…", highlight=False)
    try:
        prepared = prepare_sweep(plan, store=store, concurrency=concurrency, max_usd=max_usd,
                                 on_progress=None if progress_bar is None else progress_bar.update)
    except (SweepPlanError, DatasetError, ModelConfigError, StrategyConfigError, PriceFileError) as exc:
        raise cli.bad_input(str(exc)) from None
    done_before, remaining = prepared.remaining_estimate()
    if not as_json:
        _print_plan(prepared, done_before, remaining, max_usd)
    stopped_by: list[int] = []
    try:
        if progress_bar is None:
            progress = _run_cancellable(prepared, stopped_by)
        else:
            with progress_bar.live(total=len(prepared.cells), completed=done_before):
                progress = _run_cancellable(prepared, stopped_by)
    except SweepBusy as exc:
        cli.err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(cli.EXIT_FAILED) from None

    code = _sweep_exit_code(progress, cli, stopped_by)
    if as_json:
        cli.out.print_json(json.dumps({
            "sweep_id": progress.sweep_id, "status": progress.status, "total": progress.total,
            "skipped": progress.skipped, "done": progress.done, "failed": progress.failed,
            "cancelled": progress.cancelled, "lost": progress.lost, "error": progress.error,
            "spent_usd": progress.spent_usd, "exit_code": code,
        }))
        if progress.lost:  # the reason, also where a script reading only stderr looks
            cli.err.print(Text.assemble(("error:", "bold red"), " ", progress.error or ""))
    else:
        _print_outcome(prepared, progress)
    raise typer.Exit(code)


def _model_options(values: list[str], cli: Any) -> dict[str, Any]:
    """KEY=VALUE pairs, numbers and true/false read as such."""
    from storage.runner import _SECRET_OPTION

    options: dict[str, Any] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise cli.bad_input(f"--model-option expects KEY=VALUE, got {item!r}")
        if _SECRET_OPTION.search(key.strip()):  # the plan is stored: a key must never be in it
            raise cli.bad_input(f"--model-option {key!r} looks like a credential; keys come from the environment")
        value: Any = raw.strip()
        for parse in (int, float):
            try:
                value = parse(value)
                break
            except ValueError:
                continue
        if isinstance(value, float) and not math.isfinite(value):  # "nan", "inf": stored with the runs
            raise cli.bad_input(f"--model-option {key.strip()}: {raw.strip()!r} is not a finite number")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        options[key.strip()] = value
    return options


class _progress_bar:  # noqa: N801  (used like a function: a bar fed by the sweep's callback)
    def __init__(self) -> None:
        from app.cli_tables import sweep_progress_bar

        self.bar = sweep_progress_bar(_cli().err)
        self.task: Any = None

    def live(self, *, total: int, completed: int) -> Any:
        self.task = self.bar.add_task("sweep", total=total, completed=completed, detail="starting")
        return self.bar

    def update(self, progress: Any) -> None:
        from app.cli_tables import progress_detail

        if self.task is not None:
            self.bar.update(self.task, completed=progress.completed, detail=progress_detail(progress))


def _run_cancellable(prepared: Any, stopped_by: list[int] | None = None) -> Any:
    """Run the sweep (on the runner's loop) and wait for it here; the first Ctrl-C or SIGTERM (what
    `docker stop` sends) stops it gracefully (cells in flight end with their best answer and are
    kept as cancelled), a second one interrupts at once. The signals received go to `stopped_by`."""
    future = prepared.execute()
    received = stopped_by if stopped_by is not None else []

    def on_interrupt(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        _cli().err.print(f"\n[yellow]{signal.Signals(signum).name}: stopping, finishing the cells in flight "
                         "(Ctrl-C again to abort)…[/]")
        prepared.sweep.cancel()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_interrupt)
        except ValueError:  # not the main thread: signals are not ours to handle
            break
    try:
        while True:
            try:
                return future.result(timeout=0.25)
            except concurrent.futures.TimeoutError:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sweep_exit_code(progress: Any, cli: Any, stopped_by: list[int] | None = None) -> int:
    if progress.status == "capped":
        return cli.EXIT_CAPPED
    if progress.status == "cancelled":  # 130 for Ctrl-C, 143 for SIGTERM
        return cli.exit_code_of(stopped_by[0]) if stopped_by else cli.EXIT_INTERRUPTED
    if progress.status != "done" or progress.failed or progress.lost:  # lost: ran but not stored, not done
        return cli.EXIT_FAILED
    return cli.EXIT_OK


def _print_plan(prepared: Any, done_before: int, remaining: Any, max_usd: float | None) -> None:
    cli = _cli()
    plan = prepared.plan
    grid = (f"{len(prepared.dataset):,} problems x {len(plan.strategies)} strategies x {len(plan.budgets)} budgets"
            + (f" x {plan.repeats} repeats" if plan.repeats > 1 else "") + f" = {len(prepared.cells):,} cells")
    cli.err.print(f"sweep [bold]{prepared.sweep_id}[/] on {prepared.model.name}: {grid}", highlight=False)
    if done_before:
        cli.err.print(f"resuming: {done_before:,} cells done before are skipped", highlight=False)
    cli.err.print(f"cost of the rest: {remaining.describe()}"
                  + (f"; stops at ${max_usd:g} for the whole sweep" if max_usd is not None else ""), highlight=False)
    if len(plan.strategies) > 1:
        from app.leaderboard_view import detectable_sentence

        cli.err.print(detectable_sentence(len(prepared.dataset)), highlight=False)


def _print_outcome(prepared: Any, progress: Any) -> None:
    cli = _cli()
    line = (f"{progress.status}: {progress.done:,} cells run, {progress.skipped:,} done before, "
            f"{progress.failed:,} failed, {progress.remaining:,} left; ${progress.spent_usd:.4f} spent "
            f"in {progress.elapsed:.1f} s")
    cli.err.print(line, highlight=False)
    if progress.lost:
        cli.err.print(Text.assemble(("error:", "bold red"), " ", progress.error or ""))
    if progress.failed:
        cli.err.print("run the same command again to retry the failed cells", highlight=False)
    if progress.status == "capped":
        cli.err.print("stopped by --max-usd: run again with a higher cap to continue", highlight=False)
    board = _board_or_none(prepared.store, sweep_id=prepared.sweep_id)
    if board is not None:
        from app.cli_tables import print_table, rich_table

        print_table(cli.out, rich_table(board.board, f"Leaderboard of sweep {prepared.sweep_id}"))


# ---- demo --------------------------------------------------------------------------------------


def demo(
    size: Annotated[int | None, typer.Option(
        min=1, help="Number of problems (default 20, or BUDGET_ARENA_DEMO_SIZE).")] = None,
    db: DbOption = None,
) -> None:
    """Try it: graded_arithmetic problems x direct, chain_of_thought, self_consistency x two budgets on the
    bundled model (about a minute on 2 cores), with a progress bar, then the sweep's leaderboard.

    The same sweep as the Sweep page's "Try the demo sweep" button: running it again resumes it."""
    from app.demo import DemoSizeError, demo_plan
    from reasoning.datasets import DatasetError
    from reasoning.models import ModelConfigError
    from reasoning.sweep import SweepPlan, SweepPlanError
    from storage.sweeps import SweepBusy, prepare_sweep

    cli = _cli()
    limits = get_settings().limits
    try:
        plan = demo_plan(size)
        plan = SweepPlan.from_dict({**plan.as_dict(),
                                    "budgets": [check_budget(b, limits).as_dict() for b in plan.budgets]})
        check_model(plan.model, limits)
    except (DemoSizeError, SweepPlanError, LimitError) as exc:
        raise cli.bad_input(str(exc)) from None
    store = cli.open_store_or_exit(db)
    cli.err.print("preparing: the bundled model…", highlight=False)
    progress_bar = _progress_bar()
    try:
        prepared = prepare_sweep(plan, store=store, concurrency=1, on_progress=progress_bar.update)
    except (SweepPlanError, DatasetError, ModelConfigError) as exc:
        raise cli.bad_input(str(exc)) from None
    done_before, remaining = prepared.remaining_estimate()
    _print_plan(prepared, done_before, remaining, None)
    try:
        with progress_bar.live(total=len(prepared.cells), completed=done_before):
            progress = _run_cancellable(prepared)
    except SweepBusy as exc:
        cli.err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(cli.EXIT_FAILED) from None
    _print_outcome(prepared, progress)
    cli.err.print(f"more: budget-arena leaderboard --sweep {prepared.sweep_id} --chart chart.html, or the "
                  f"Leaderboard page of `budget-arena serve` (/leaderboard?sweep={prepared.sweep_id})", highlight=False)
    raise typer.Exit(_sweep_exit_code(progress, cli))


# ---- leaderboard -------------------------------------------------------------------------------


def _board_or_none(store: Any, *, cap: str | None = None, split_knobs: bool = False, n_boot: int = 1000,
                   include_over_cap: bool = False, pool_versions: bool = False, **filters: Any) -> Any:
    from app.leaderboard_view import caps_present, compute_leaderboard, default_cap
    from storage.queries import strategy_results

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
    from app.cli_tables import (
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
    from app.leaderboard_view import board_csv, board_records, pairs_csv

    cli = _cli()
    if fmt not in FORMATS:
        raise cli.bad_input(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if cap is not None and cap not in CAP_NAMES:
        raise cli.bad_input(f"--cap must be one of {', '.join(CAP_NAMES)}, got {cap!r}")
    store = cli.open_store_or_exit(db, existing=True)
    if sweep_id is not None:
        from storage.sweeps import get_sweep

        if get_sweep(sweep_id, store=store) is None:
            raise cli.bad_input(f"no sweep {sweep_id!r} in this store")
    board = _board_or_none(store, cap=cap, split_knobs=split_knobs, n_boot=bootstrap, include_over_cap=include_over_cap,
                           pool_versions=pool_versions, dataset=dataset, model=model, strategy=strategy,
                           sweep_id=sweep_id)
    if board is None or board.board.empty:
        cli.err.print("no scored results match (a leaderboard needs runs with a reference answer"
                      + (f" and a {cap} budget" if cap else "") + ")", highlight=False)
        if fmt == "json":
            cli.out.print_json("[]")
        return
    if as_html:  # the report holds the ranking, the pairs and the charts
        filters = {"dataset": dataset or "all", "model": model or "all",
                   "strategies": ", ".join(strategy or []) or "all", "sweep": sweep_id or "all",
                   "knob settings": "ranked apart" if split_knobs else "pooled",
                   "over-cap results": "counted" if include_over_cap else "left out",
                   "strategy versions": "pooled" if pool_versions else "ranked apart",
                   "bootstrap resamples": f"{bootstrap:,}"}
        _leaderboard_report(board, filters, output, store, cli, dataset=dataset, model=model, strategy=strategy,
                            sweep_id=sweep_id)
    elif pairs:
        table = board.pairs
        if table is None or table.empty:
            cli.err.print(pairs_caption(board), highlight=False)
            if fmt == "json":
                cli.out.print_json("[]")
            return
        if fmt == "table":
            print_table(cli.out, pairs_rich_table(table, board.cap, "Head to head at equal budget"))
            cli.err.print(pairs_caption(board), highlight=False, markup=False)
        elif fmt == "markdown":
            sys.stdout.write(pairs_markdown(table, board.cap))
        elif fmt == "csv":
            sys.stdout.write(pairs_csv(table, board.cap))
        else:
            sys.stdout.write(pairs_json(table) + "\n")
    elif fmt == "table":
        print_table(cli.out, rich_table(board.board, "Leaderboard"))
        cli.err.print(caption(board), highlight=False, markup=False)
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
            raise cli.bad_input(str(exc)) from None
        except (RuntimeError, OSError) as exc:
            cli.err.print(f"[bold red]error:[/] chart not written: {exc}", highlight=False)
            raise typer.Exit(cli.EXIT_FAILED) from None
        cli.err.print(f"chart written to {chart}", highlight=False)


def _leaderboard_report(board: Any, filters: dict[str, str], output: Path | None, store: Any, cli: Any,
                        **query: Any) -> None:
    from app.html_leaderboard import leaderboard_html
    from storage.queries import strategy_results

    prices = strategy_results(store=store, columns=["price_date"], **{k: v for k, v in query.items() if v})
    dates = sorted({str(d) for d in prices["price_date"].dropna()})
    _write(leaderboard_html(board, filters=filters, price_dates=dates), output, cli.err.print)


# ---- export ------------------------------------------------------------------------------------


def export(
    run_id: Annotated[str | None, typer.Argument(
        help="A run id: export that run as JSON (strategies, every event, curve points). "
        "Without one: runs as CSV, one row per strategy run. An older id that starts with '-' goes after '--': "
        "export -- -AbC...")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).")]
    = None,
    fmt: Annotated[str | None, typer.Option("--format", help="json or csv (default: json for one run, else csv).")]
    = None,
    sweep_id: Annotated[str | None, typer.Option("--sweep", help="CSV: only the runs of this sweep.")] = None,
    dataset: Annotated[str | None, typer.Option(help="CSV: only runs on this dataset.")] = None,
    model: Annotated[str | None, typer.Option(help="CSV: only runs of this model.")] = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s", help="CSV: only these strategies.")]
    = None,
    as_html: Annotated[bool, typer.Option(
        "--html", help="One run as a self-contained HTML file (panes, charts, replay; opens with no server or "
        "network).")] = False,
    db: DbOption = None,
) -> None:
    """Export stored runs: one run as JSON (to replay or import elsewhere) or as an HTML file to hand to
    anyone, or many runs as CSV."""
    from storage.export import export_run_json, export_runs_csv
    from storage.ids import is_valid_run_id

    cli = _cli()
    if as_html:
        _export_html(run_id, output, fmt, db, cli)
        return
    fmt = fmt or ("json" if run_id else "csv")
    if fmt not in ("json", "csv"):
        raise cli.bad_input(f"--format must be json or csv, got {fmt!r}")
    if run_id is not None and not is_valid_run_id(run_id):
        raise cli.bad_input(f"{run_id!r} is not a run id")
    if fmt == "json" and run_id is None:
        raise cli.bad_input("JSON export is of one run: give its id (or use --format csv for many)")
    store = cli.open_store_or_exit(db, existing=True)
    if fmt == "json":
        data = export_run_json(run_id, store=store)
        if data is None:
            cli.err.print(f"[bold red]error:[/] no such run: {run_id}", highlight=False)
            raise typer.Exit(cli.EXIT_FAILED)
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        text = export_runs_csv([run_id] if run_id else None, sweep_id=sweep_id, dataset=dataset, model=model,
                               strategy=strategy or None, store=store)
    _write(text, output, cli.err.print)


def _export_html(run_id: str | None, output: Path | None, fmt: str | None, db: str | None, cli: Any) -> None:
    from app.html_export import run_html
    from storage.ids import is_valid_run_id

    if run_id is None or fmt is not None:
        raise cli.bad_input("--html exports one run: give its id (and no --format)")
    if not is_valid_run_id(run_id):
        raise cli.bad_input(f"{run_id!r} is not a run id")
    text = run_html(run_id, store=cli.open_store_or_exit(db, existing=True))
    if text is None:
        cli.err.print(f"[bold red]error:[/] no such run: {run_id}", highlight=False)
        raise typer.Exit(cli.EXIT_FAILED)
    _write(text, output, cli.err.print)


def _write(text: str, output: Path | None, report: Callable[..., None]) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        report(f"[bold red]error:[/] cannot write {output}: {exc}", highlight=False)
        raise typer.Exit(_cli().EXIT_FAILED) from None
    report(f"wrote {output} ({len(text.encode()):,} bytes)", highlight=False)
