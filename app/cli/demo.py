"""`budget-arena demo`: the demo sweep on the bundled model, then its leaderboard."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import EXIT_FAILED, DbOption, bad_input, err, open_store_or_exit
from app.cli.sweep import ProgressBar, print_outcome, print_plan, run_cancellable, sweep_exit_code
from reasoning.config import get_settings
from reasoning.deployment_limits import LimitError, check_budget, check_model


def demo(
    size: Annotated[int | None, typer.Option(
        min=1, help="Number of problems (default 20, or BUDGET_ARENA_DEMO_SIZE).")] = None,
    db: DbOption = None,
) -> None:
    """Try it: graded_arithmetic problems x direct, chain_of_thought, self_consistency x two budgets on the
    bundled model (a few minutes on 2 cores), with a progress bar, then the sweep's leaderboard.

    The same sweep as the Sweep page's "Try the demo sweep" button: running it again resumes it."""
    from app.demo import DemoSizeError, demo_plan
    from reasoning.datasets import DatasetError
    from reasoning.models import ModelConfigError
    from reasoning.sweep_plan import SweepPlan, SweepPlanError
    from storage.sweeps import SweepBusy, prepare_sweep

    limits = get_settings().limits
    try:
        plan = demo_plan(size)
        plan = SweepPlan.from_dict({**plan.as_dict(),
                                    "budgets": [check_budget(b, limits).as_dict() for b in plan.budgets]})
        check_model(plan.model, limits)
    except (DemoSizeError, SweepPlanError, LimitError) as exc:
        raise bad_input(str(exc)) from None
    store = open_store_or_exit(db)
    err.print("preparing: the bundled model…", highlight=False)
    progress_bar = ProgressBar()
    try:
        prepared = prepare_sweep(plan, store=store, concurrency=1, on_progress=progress_bar.update)
    except (SweepPlanError, DatasetError, ModelConfigError) as exc:
        raise bad_input(str(exc)) from None
    done_before, remaining = prepared.remaining_estimate()
    print_plan(prepared, done_before, remaining, None)
    try:
        with progress_bar.live(total=len(prepared.cells), completed=done_before):
            progress = run_cancellable(prepared)
    except SweepBusy as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    print_outcome(prepared, progress)
    err.print(f"more: budget-arena leaderboard --sweep {prepared.sweep_id} --chart chart.html, or the "
                  f"Leaderboard page of `budget-arena serve` (/leaderboard?sweep={prepared.sweep_id})", highlight=False)
    raise typer.Exit(sweep_exit_code(progress))
