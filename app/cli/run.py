"""`budget-arena run`: strategies side by side on one problem, with live panes."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    RUN_END_WAIT,
    DbOption,
    Interrupted,
    ModelOption,
    bad_input,
    build_budget,
    catch_stop_signals,
    chosen_model,
    err,
    exit_code_of,
    model_options,
    open_store_or_exit,
    out,
    parse_entries,
    parse_knobs,
    read_stdin,
    store_exit,
)
from app.cli.show import print_summary, run_record
from app.panes import PaneView, RunView
from reasoning.config import get_settings
from reasoning.deployment_limits import LimitError, check_entries, check_supported
from reasoning.models import ModelConfigError, get_model
from reasoning.strategies import make_strategy
from reasoning.strategies.base import StrategyConfigError

if TYPE_CHECKING:
    from storage.runner import Runner
    from storage.store import Store

PANE_CHARS = 1200  # the tail of each entry's streamed text a live pane shows


def run(
    problem: Annotated[str, typer.Argument(help="The problem to solve (use '-' to read it from stdin).")],
    model: ModelOption = None,
    strategy: Annotated[list[str] | None, typer.Option(
        "--strategy", "-s", help="Strategy to run (repeatable, also the same one twice). NAME@N gives this entry "
        "its own total-token cap N, e.g. -s direct@300 -s direct@600; the other caps are shared.")] = None,
    knob: Annotated[list[str] | None, typer.Option(help="STRATEGY.KNOB=VALUE (repeatable).")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(help="Cap on input+output tokens per strategy.")] = None,
    max_output_tokens: Annotated[int | None, typer.Option(help="Cap on output tokens per strategy.")] = None,
    max_usd: Annotated[float | None, typer.Option(help="Cap on dollars per strategy.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Cap on wall-clock seconds per strategy.")] = None,
    reference: Annotated[str | None, typer.Option(help="Reference answer: marks answers right or wrong.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (vLLM, Ollama, ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of live panes.")] = False,
    db: DbOption = None,
) -> None:
    """Run strategies side by side on one problem; the run is stored and gets a share id.

    Exit code: 0 when the run is done; 4 when it was cancelled before it ended (budget-arena cancel, or the Cancel button in the app, from any process; what it streamed is kept); 1 when it failed or could not be stored; 2 for bad input; 130 on Ctrl-C and 143 on SIGTERM (the run ends interrupted)."""
    from storage.run_spec import RunSpec, StrategySpec
    from storage.runner import get_runner

    if problem == "-":
        problem = read_stdin("the problem")
    model = chosen_model(model)
    entries = parse_entries(strategy or ["chain_of_thought"])
    names = [name for name, _ in entries]
    knobs = parse_knobs(knob or [], names)  # a strategy's knobs apply to each of its entries
    budget = build_budget(max_total_tokens, max_output_tokens, max_usd, max_seconds)
    try:  # the deployment's request checks, the same as the web app's
        budget, own_budgets = check_entries(problem, entries, budget, model, get_settings().limits,
                                            reference=reference)
    except LimitError as exc:
        raise bad_input(str(exc)) from None
    try:
        strategies = [make_strategy(name, **knobs.get(name, {})) for name in dict.fromkeys(names)]
        model_object = get_model(model, **model_options(base_url))
        check_supported(strategies, model_object)  # before anything is stored, as the web app does
    except (StrategyConfigError, ModelConfigError, LimitError) as exc:
        raise bad_input(str(exc)) from None

    store = open_store_or_exit(db)
    spec = RunSpec(
        problem=problem,
        reference=reference,
        model=model_object,
        model_options=model_options(base_url),
        strategies=[StrategySpec(name, knobs.get(name, {}), own)
                    for name, own in zip(names, own_budgets, strict=True)],
        budget=budget,
    )
    runner = get_runner(store)
    run_id = runner.submit(spec)  # a store that cannot take the run raises StoreError: nothing written
    with stop_signals_end_run(runner, run_id, as_json):
        if as_json:
            runner.wait(run_id)
        else:
            _follow_live(store, run_id, runner)
    failure = runner.store_error(run_id)
    if failure is not None:  # not done, whatever its strategies did: the store does not hold it
        raise store_exit(RuntimeError(failure))
    record = run_record(store, run_id)
    if as_json:
        out.print_json(json.dumps(record))
    else:
        print_summary(record)
    if record["status"] == "cancelled":
        err.print(f"run {run_id} was cancelled before it ended (budget-arena cancel or the Cancel button); "
                  "what it streamed is kept", highlight=False)
    raise typer.Exit(run_exit_code(record["status"]))


def run_exit_code(status: str) -> int:
    """A script's view of how the run ended: only `done` is a success; a run cancelled from elsewhere
    is not (EXIT_CANCELLED), nor one that failed or was interrupted by another process (EXIT_FAILED)."""
    return {"done": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(status, EXIT_FAILED)


def _follow_live(store: Store, run_id: str, runner: Runner | None = None) -> None:
    """Tail the run's events from the store and show one pane per entry until it ends (or, when its
    writes failed, until `runner` stops running it: the store may never record its end). The panes
    are the run page's fold (app.panes.RunView), drawn as text."""
    from storage.queries import events_since, get_run

    stored = get_run(run_id, store=store)
    if stored is None:
        return
    view = RunView.for_run(stored)
    with Live(live_panes(view), console=out, refresh_per_second=8, transient=False) as live:
        while True:
            gone = runner is not None and not runner.is_active(run_id)  # before reading: then all is in
            view.apply(events_since(run_id, view.last_seq, store=store))
            live.update(live_panes(view))
            now = get_run(run_id, store=store)
            if now is None or not now.is_active or gone:
                break
            time.sleep(0.15)
    if view.skipped:
        err.print(view.skipped_text(), highlight=False)


def live_panes(view: RunView) -> Table:
    """One panel per entry: the tail of what it streamed, its spend, its best answer and, once it
    ended, why it stopped."""
    grid = Table.grid(expand=True, padding=(0, 1))
    for _ in view.panes:
        grid.add_column(ratio=1)
    panels = []
    for pane in view.panes:
        head = f"{pane.spent.total_tokens:,} tok  ${pane.spent.usd:.4f}"
        body = Text(_streamed(pane)[-PANE_CHARS:])
        answer = pane.best_answer if pane.best_answer is not None else "…"
        footer = f"\nanswer: {answer}" + (f"  [{pane.stop}]" if pane.ended else "")
        body.append(footer, style="bold")
        panels.append(Panel(body, title=pane.label or pane.strategy, subtitle=head))
    grid.add_row(*panels)
    return grid


def _streamed(pane: PaneView) -> str:
    """Everything the entry streamed, stream by stream in the order they began (thinking first)."""
    return "".join(s.thinking + s.text for s in sorted(pane.streams.values(), key=lambda s: s.first_seq))


class stop_signals_end_run:  # noqa: N801  (a context manager used like a function)
    """While a command waits on its run: SIGINT or SIGTERM mark the run `interrupted` in the store at
    once (durable even if the process is killed next), stop its strategies (each keeps what it
    streamed), wait up to RUN_END_WAIT s for the last writes, and exit 130 or 143. Without this a
    SIGTERM left the run `running` until some later process noticed its owner was gone."""

    def __init__(self, runner: Any, run_id: str, as_json: bool = False):
        self.runner, self.run_id, self.as_json = runner, run_id, as_json
        self._signals = catch_stop_signals()

    def __enter__(self) -> None:
        self._signals.__enter__()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, Interrupted):
            self._signals.__exit__()
            return
        from storage.liveness import mark_interrupted

        name = signal.Signals(exc.signum).name
        try:
            mark_interrupted(self.runner.store, [self.run_id],
                             reason=f"interrupted: the command running it got {name}")
            self.runner.cancel(self.run_id)  # the recorder keeps the interrupted status: only active runs end
            self.runner.wait(self.run_id, RUN_END_WAIT)
        except Interrupted:  # a second signal: leave now, the run is marked already
            pass
        finally:
            self._signals.__exit__()
        err.print(f"\n{name}: run {self.run_id} ended interrupted; what it streamed is kept", highlight=False)
        if self.as_json:
            out.print_json(json.dumps(run_record(self.runner.store, self.run_id)))
        raise typer.Exit(exit_code_of(exc.signum))
