"""`budget-arena sweep`: a dataset x strategies x budgets on one model, with a progress bar; the
helpers `demo` shares (progress bar, plan and outcome lines, exit code)."""

from __future__ import annotations

import concurrent.futures
import json
import math
import secrets
import signal
from typing import Annotated, Any

import typer
from rich.text import Text

from app.cli.common import (
    EXIT_CAPPED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    DbOption,
    ModelOption,
    bad_input,
    chosen_model,
    err,
    exit_code_of,
    model_options,
    open_store_or_exit,
    out,
    parse_knobs,
)
from app.cli.leaderboard import board_or_none
from app.sweep_request import checked_plan
from reasoning.budget import CAP_NAMES
from reasoning.config import get_settings
from reasoning.deployment_limits import LimitError
from reasoning.redaction import SECRET_OPTION
from reasoning.wording import plural

DEFAULT_SWEEP_STRATEGIES = ["direct", "chain_of_thought", "self_consistency"]


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
    model: ModelOption = None,
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
    from reasoning.sweep_plan import SweepPlanError
    from storage.sweeps import SweepBusy, prepare_sweep

    if cap not in CAP_NAMES:
        raise bad_input(f"--cap must be one of {', '.join(CAP_NAMES)}, got {cap!r}")
    names = strategy or DEFAULT_SWEEP_STRATEGIES
    knobs = parse_knobs(knob or [], list(names))
    model = chosen_model(model)
    options = {**model_options(base_url), **_model_options(model_option or [])}
    try:  # the Sweep page's check too (app.sweep_request)
        plan = checked_plan(dataset=dataset, strategies=[(n, knobs.get(n, {})) for n in names], budgets=budget,
                            cap=cap, model=model, limits=get_settings().limits, size=size, seed=seed,
                            repeats=repeats, model_options=options, nonce="" if resume else secrets.token_hex(4),
                            name=name or "")
    except (SweepPlanError, LimitError) as exc:
        raise bad_input(str(exc)) from None

    store = open_store_or_exit(db)
    progress_bar = None if as_json else ProgressBar()
    if not as_json:
        err.print(f"preparing: {dataset} and {model}…", highlight=False)
    try:
        prepared = prepare_sweep(plan, store=store, concurrency=concurrency, max_usd=max_usd,
                                 on_progress=None if progress_bar is None else progress_bar.update)
    except (SweepPlanError, DatasetError, ModelConfigError, StrategyConfigError, PriceFileError) as exc:
        raise bad_input(str(exc)) from None
    done_before, remaining = prepared.remaining_estimate()
    if not as_json:
        print_plan(prepared, done_before, remaining, max_usd)
    stopped_by: list[int] = []
    try:
        if progress_bar is None:
            progress = run_cancellable(prepared, stopped_by)
        else:
            with progress_bar.live(total=len(prepared.cells), completed=done_before):
                progress = run_cancellable(prepared, stopped_by)
    except SweepBusy as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None

    code = sweep_exit_code(progress, stopped_by)
    if as_json:
        out.print_json(json.dumps({
            "sweep_id": progress.sweep_id, "status": progress.status, "total": progress.total,
            "skipped": progress.skipped, "done": progress.done, "failed": progress.failed,
            "cancelled": progress.cancelled, "lost": progress.lost, "error": progress.error,
            "spent_usd": progress.spent_usd, "exit_code": code,
        }))
        if progress.lost:  # the reason, also where a script reading only stderr looks
            err.print(Text.assemble(("error:", "bold red"), " ", progress.error or ""))
    else:
        print_outcome(prepared, progress)
    raise typer.Exit(code)


def _model_options(values: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs, numbers and true/false read as such."""
    options: dict[str, Any] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise bad_input(f"--model-option expects KEY=VALUE, got {item!r}")
        if SECRET_OPTION.search(key.strip()):  # the plan is stored: a key must never be in it
            raise bad_input(f"--model-option {key!r} looks like a credential; keys come from the environment")
        value: Any = raw.strip()
        for parse in (int, float):
            try:
                value = parse(value)
                break
            except ValueError:
                continue
        if isinstance(value, float) and not math.isfinite(value):  # "nan", "inf": stored with the runs
            raise bad_input(f"--model-option {key.strip()}: {raw.strip()!r} is not a finite number")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        options[key.strip()] = value
    return options


class ProgressBar:
    """The sweep's progress bar on stderr, fed by its on_progress callback."""

    def __init__(self) -> None:
        from app.cli.tables import sweep_progress_bar

        self.bar = sweep_progress_bar(err)
        self.task: Any = None

    def live(self, *, total: int, completed: int) -> Any:
        self.task = self.bar.add_task("sweep", total=total, completed=completed, detail="starting")
        return self.bar

    def update(self, progress: Any) -> None:
        from app.cli.tables import progress_detail

        if self.task is not None:
            self.bar.update(self.task, completed=progress.completed, detail=progress_detail(progress))


def run_cancellable(prepared: Any, stopped_by: list[int] | None = None) -> Any:
    """Run the sweep (on the runner's loop) and wait for it here; the first Ctrl-C or SIGTERM (what
    `docker stop` sends) stops it gracefully (cells in flight end with their best answer and are
    kept as cancelled), a second one interrupts at once. The signals received go to `stopped_by`."""
    future = prepared.execute()
    received = stopped_by if stopped_by is not None else []

    def on_interrupt(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        err.print(f"\n[yellow]{signal.Signals(signum).name}: stopping, finishing the cells in flight "
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


def sweep_exit_code(progress: Any, stopped_by: list[int] | None = None) -> int:
    if progress.status == "capped":
        return EXIT_CAPPED
    if progress.status == "cancelled":  # 130 for Ctrl-C, 143 for SIGTERM
        return exit_code_of(stopped_by[0]) if stopped_by else EXIT_INTERRUPTED
    if progress.status != "done" or progress.failed or progress.lost:  # lost: ran but not stored, not done
        return EXIT_FAILED
    return EXIT_OK


def print_plan(prepared: Any, done_before: int, remaining: Any, max_usd: float | None) -> None:
    plan = prepared.plan
    grid = (f"{plural(len(prepared.dataset), 'problem')} x {plural(len(plan.strategies), 'strategy')} x "
            f"{plural(len(plan.budgets), 'budget')}" + (f" x {plan.repeats} repeats" if plan.repeats > 1 else "")
            + f" = {plural(len(prepared.cells), 'cell')}")
    err.print(f"sweep [bold]{prepared.sweep_id}[/] on {prepared.model.name}: {grid}", highlight=False)
    if done_before:
        err.print(f"resuming: {done_before:,} cells done before are skipped", highlight=False)
    err.print(f"cost of the rest: {remaining.text}"
                  + (f"; stops at ${max_usd:g} for the whole sweep" if max_usd is not None else ""), highlight=False)
    if len(plan.strategies) > 1:
        from app.head_to_head import detectable_sentence

        err.print(detectable_sentence(len(prepared.dataset)), highlight=False)


def print_outcome(prepared: Any, progress: Any) -> None:
    line = (f"{progress.status}: {progress.done:,} cells run, {progress.skipped:,} done before, "
            f"{progress.failed:,} failed, {progress.remaining:,} left; ${progress.spent_usd:.4f} spent "
            f"in {progress.elapsed:.1f} s")
    err.print(line, highlight=False)
    if progress.lost:
        err.print(Text.assemble(("error:", "bold red"), " ", progress.error or ""))
    if progress.failed:
        err.print("run the same command again to retry the failed cells", highlight=False)
    if progress.status == "capped":
        err.print("stopped by --max-usd: run again with a higher cap to continue", highlight=False)
    board = board_or_none(prepared.store, sweep_id=prepared.sweep_id)
    if board is not None:
        from app.cli.tables import print_table, rich_table

        print_table(out, rich_table(board.board, f"Leaderboard of sweep {prepared.sweep_id}"))
