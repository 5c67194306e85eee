"""The `budget-arena` command: run, show, sweep, leaderboard, export, serve, datasets, strategies.

Exit codes scripts can rely on (every command):
  0    done
  1    failed at run time: a run whose strategies all failed, a sweep with failed cells (run it again
       to retry them), an unknown run id, a sweep another process is running, a file not written;
       a store fault (full, read-only, damaged, altered by hand): a run or sweep cell whose results
       could not be stored is not done, and running the sweep again redoes exactly those cells
  2    bad input, refused before anything runs: an unknown strategy, knob, dataset or model, a bad
       budget, a request over this deployment's limits (reasoning.limits), text that is not UTF-8,
       an unreachable store, no store at the --db path given to show, export or leaderboard
  3    a sweep stopped by its dollar cap (--max-usd) before finishing; what ran is kept, and running
       it again with a higher cap continues it
  130  interrupted (Ctrl-C, SIGINT); a run in progress ends `interrupted` with what it streamed, a sweep
       keeps every finished cell and resumes when run again
  143  terminated (SIGTERM, as `docker stop` sends): the same as 130
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from app.cli_data import register as register_data_commands
from app.cli_share import register as register_share_commands
from reasoning.budget import Budget
from reasoning.config import get_settings
from reasoning.entries import entry_budget, entry_labels
from reasoning.limits import LimitError, check_entries, check_supported
from reasoning.models import ModelConfigError, get_model
from reasoning.strategies import make_strategy, strategy_names
from reasoning.strategies.base import StrategyConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CAPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15, as a shell reports a process the signal ended


class _Commands(TyperGroup):
    """Every command: a store failing mid-command (full, damaged, read-only, a column dropped) ends it
    with one line naming the store and the fix, exit 1 (2 for a store named wrongly), never with the
    driver's traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            failure = _as_store_error(exc)
            if failure is None:
                raise
            raise store_exit(failure) from None


app = typer.Typer(
    cls=_Commands,
    help="Compare budget-aware LLM reasoning strategies: run them side by side, log every run, "
    "sweep datasets and read budget-efficiency leaderboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL of the store (env BUDGET_ARENA_DB; default: SQLite in the data dir)"),
]


def bad_input(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


_opened: list[Any] = []  # the store this command opened: named by messages about a failure mid-command


def store_exit(failure: Exception) -> typer.Exit:
    """One line for a StoreError; exit 2 when the store was named wrongly, else 1 (a store fault)."""
    message = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    return typer.Exit(EXIT_BAD_INPUT if getattr(failure, "is_bad_input", False) else EXIT_FAILED)


def _as_store_error(exc: BaseException) -> Exception | None:
    """A store's failure as a StoreError (None: not the store's)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from storage.store import StoreError, store_error

    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, SQLAlchemyError | sqlite3.Error):
        return store_error(exc, _opened[-1] if _opened else None)
    return None


def open_store_or_exit(db: str | None, *, existing: bool = False):  # type: ignore[no-untyped-def]
    """The store, or exit with one line. `existing`: a store the user named (--db, BUDGET_ARENA_DB or
    the config file) must be there already; commands that only read never create one."""
    from storage.store import StoreError, open_store

    url = db or get_settings().db_url
    must_exist = existing and bool(db or get_settings().db)
    try:
        store = open_store(url, create=not must_exist)
    except StoreError as exc:  # a bad URL, an unreachable server, a read-only or damaged file: no password
        raise store_exit(exc) from None
    except Exception as exc:
        raise bad_input(f"cannot open the store {_without_password(url)!r}: {exc}") from None
    _opened.append(store)
    return store


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: nothing to hide in it
        return url


def parse_knobs(values: list[str], strategies: list[str]) -> dict[str, dict[str, str]]:
    """--knob self_consistency.max_samples=8  ->  {"self_consistency": {"max_samples": "8"}}; each
    knob must name one of the chosen `strategies`."""
    knobs: dict[str, dict[str, str]] = {}
    for item in values:
        target, eq, value = item.partition("=")
        strategy, dot, name = target.partition(".")
        if not eq or not dot or not strategy or not name:
            raise bad_input(f"--knob expects STRATEGY.KNOB=VALUE, got {item!r}")
        if strategy not in strategies:
            raise bad_input(f"--knob names {strategy!r}, which is not among the --strategy values")
        knobs.setdefault(strategy, {})[name] = value
    return knobs


ModelOption = Annotated[str | None, typer.Option(
    help="local | local:/path/model.gguf | openai:NAME | anthropic:NAME  [default: the configured "
         "default_model, else local]")]


def chosen_model(model: str | None) -> str:
    """--model, else the configured default model (BUDGET_ARENA_DEFAULT_MODEL, `local` unless set)."""
    return model or get_settings().default_model


def parse_entries(values: list[str]) -> list[tuple[str, int | None]]:
    """-s direct@300 -s direct@600 -s self_consistency  ->  [("direct", 300), ("direct", 600),
    ("self_consistency", None)]: each value is one entry of the run; @N gives it its own total-token
    cap (the other caps are shared). N is a whole number of tokens (1,024 and 1_024 read as 1024)."""
    entries: list[tuple[str, int | None]] = []
    for value in values:
        name, at, tokens = value.partition("@")
        name = name.strip()
        if not name:
            raise bad_input(f"--strategy expects NAME or NAME@TOKENS, got {value!r}")
        if not at:
            entries.append((name, None))
            continue
        digits = tokens.strip().replace(",", "").replace("_", "")
        if not digits.isdigit() or not digits.isascii():  # "1e3", "-5", "3.5", "": refused, never guessed at
            raise bad_input(f"--strategy {value!r}: the budget after @ must be a whole number of tokens, "
                            f"got {tokens!r}")
        entries.append((name, int(digits)))
    return entries


def build_budget(total: int | None, output: int | None, usd: float | None, seconds: float | None) -> Budget:
    try:
        return Budget(total_tokens=total, output_tokens=output, usd=usd, seconds=seconds)
    except ValueError as exc:
        raise bad_input(str(exc)) from None


def model_options(base_url: str | None) -> dict[str, Any]:
    return {"base_url": base_url} if base_url else {}


@app.command()
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
    """Run strategies side by side on one problem; the run is stored and gets a share id."""
    from storage.runner import RunSpec, StrategySpec, get_runner

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
    record = _run_record(store, run_id)
    if as_json:
        out.print_json(json.dumps(record))
    else:
        _print_summary(record)
    raise typer.Exit(EXIT_OK if record["status"] in ("done", "cancelled") else EXIT_FAILED)


def _run_record(store, run_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from storage.queries import get_run

    stored = get_run(run_id, store=store)
    assert stored is not None
    labels = _entry_labels(stored)
    return {
        "run_id": run_id,
        "status": stored.status,
        "model": stored.model,
        "problem": stored.problem,
        "reference": stored.reference,
        "budget": stored.budget,
        "events": stored.event_count,
        "strategies": [  # one per entry, each with the caps it ran under and what it spent of them
            {
                "name": s.strategy,
                "label": label,
                "knobs": s.knobs,
                "budget": entry_budget(s.budget, stored.budget),
                "answer": s.answer,
                "stop": s.stop_reason,
                "correct": s.correct,
                "error": s.error,
                # the provider reported impossible usage (or the spend passed a cap): figures as reported
                "over_cap": s.over_cap,
                "app_version": s.app_version,
                "fingerprint": s.fingerprint,
                "spend": {
                    "input_tokens": s.input_tokens,
                    "output_tokens": s.output_tokens,
                    "reasoning_tokens": s.reasoning_tokens,
                    "total_tokens": s.total_tokens,
                    "usd": s.usd,
                    "seconds": s.seconds,
                    "calls": s.calls,
                },
            }
            for s, label in zip(stored.strategies, labels, strict=True)
        ],
    }


def _entry_labels(stored) -> list[str]:  # type: ignore[no-untyped-def]
    """direct, or direct@300 when the run holds a strategy twice or its entries' budgets differ."""
    return entry_labels([(s.strategy, s.budget) for s in stored.strategies], stored.budget)


def read_stdin(what: str) -> str:
    """Standard input as UTF-8 text; bytes that are not UTF-8 are bad input (exit 2), said in one line
    (not Python's UnicodeDecodeError, nor surrogates that no store can encode)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream someone set up: already decoded
        return sys.stdin.read()
    data = stream.read()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise bad_input(f"{what} read from standard input is not UTF-8: byte 0x{data[exc.start]:02X} at "
                        f"position {exc.start}; convert it first (e.g. iconv -f LATIN1 -t UTF-8)") from None


def _follow_live(store, run_id: str, runner=None) -> None:  # type: ignore[no-untyped-def]
    """Tail the run's events from the store and show one pane per entry until it ends (or, when its
    writes failed, until `runner` stops running it: the store may never record its end)."""
    from storage.queries import events_since, get_run

    stored = get_run(run_id, store=store)
    names = _entry_labels(stored) if stored is not None else []
    texts = {i: "" for i in range(len(names))}
    answers: dict[int, str] = {}
    stops: dict[int, str] = {}
    spends: dict[int, dict] = {}
    last_seq = 0

    def render() -> Table:
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in names:
            grid.add_column(ratio=1)
        panes = []
        for i, name in enumerate(names):
            spend = spends.get(i, {})
            head = f"{spend.get('total_tokens', 0):,} tok  ${spend.get('usd', 0.0):.4f}"
            body = Text(texts[i][-1200:])
            footer = f"\nanswer: {answers.get(i, '…')}" + (f"  [{stops[i]}]" if i in stops else "")
            body.append(footer, style="bold")
            panes.append(Panel(body, title=name, subtitle=head))
        grid.add_row(*panes)
        return grid

    with Live(render(), console=out, refresh_per_second=8, transient=False) as live:
        while True:
            gone = runner is not None and not runner.is_active(run_id)  # before reading: then all is in
            for event in events_since(run_id, last_seq, store=store):
                last_seq = event.seq
                i = event.strategy_index
                payload = event.payload
                if event.kind in ("text", "thinking"):
                    texts[i] += payload["text"]
                elif event.kind == "spend":
                    spends[i] = payload["spent"]
                elif event.kind == "partial":
                    answers[i] = payload["answer"]
                elif event.kind == "final":
                    stops[i] = payload["stop"]
                    spends[i] = payload["spent"]
                    if payload.get("answer"):
                        answers[i] = payload["answer"]
            live.update(render())
            stored = get_run(run_id, store=store)
            if stored is None or not stored.is_active or gone:
                break
            time.sleep(0.15)


def _print_summary(record: dict[str, Any]) -> None:
    table = Table(title=f"run {record['run_id']} ({record['status']})")
    for column in ("entry", "answer", "stop", "correct", "tokens in/out", "usd", "seconds"):
        table.add_column(column)
    for s in record["strategies"]:
        spend = s["spend"]
        correct = {True: "✓", False: "✗", None: "–"}[s["correct"]]
        answer = s["answer"] if s["answer"] is not None else (s["error"] or "—")
        table.add_row(s["label"], answer, s["stop"] or "", correct,
                      f"{spend['input_tokens']:,}/{spend['output_tokens']:,}", f"{spend['usd']:.4f}",
                      f"{spend['seconds']:.1f}")
    out.print(table)
    out.print(f"share id: [bold]{record['run_id']}[/]  (open in the app: ?run={record['run_id']})")


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run id (the share link's ?run= value). An older id that "
                                               "starts with '-' goes after '--': show -- -AbC...")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    db: DbOption = None,
) -> None:
    """Print a stored run: strategies, answers, stop reasons, spend, number of events."""
    from storage.ids import is_valid_run_id
    from storage.queries import get_run

    if not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    store = open_store_or_exit(db, existing=True)
    if get_run(run_id, store=store) is None:
        err.print(f"[bold red]error:[/] no such run: {run_id}")
        raise typer.Exit(EXIT_FAILED)
    record = _run_record(store, run_id)
    if as_json:
        out.print_json(json.dumps(record))
    else:
        out.print(Panel(Text(record["problem"]), title="problem"))
        _print_summary(record)
        out.print(f"{record['events']:,} events")


@app.command()
def strategies() -> None:
    """List the strategies and their knobs."""
    from reasoning.strategies import knobs_of
    from reasoning.strategies.base import strategy_class

    table = Table()
    for column in ("strategy", "what it does", "knobs"):
        table.add_column(column)
    for name in strategy_names():
        cls = strategy_class(name)
        knobs = ", ".join(f"{k.name}={k.default}" for k in knobs_of(cls))
        table.add_row(name, cls.summary, knobs)
    out.print(table)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 in Docker).")] = "127.0.0.1",
    db: DbOption = None,
) -> None:
    """Start the web app (Streamlit). SIGTERM or Ctrl-C stop it: runs in progress end interrupted (exit 143 or 130)."""
    # Open (and migrate) the store first: a bad URL fails here with a clear message, not in a page.
    store = open_store_or_exit(db)
    if db:
        os.environ["BUDGET_ARENA_DB"] = db
    main = Path(__file__).resolve().parent / "main.py"
    command = [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.port", str(port), "--server.address", host,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button (also in .streamlit/config.toml)
    ]
    out.print(f"Budget Arena on http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}")
    if os.name != "posix":
        raise typer.Exit(subprocess.run(command, check=False).returncode)
    raise typer.Exit(_supervise(command, store))


SERVE_STOP_WAIT = 20.0  # seconds the server gets to stop after a signal before it is killed


def _supervise(command: list[str], store: Any) -> int:
    """Run the Streamlit server as a child and stay its parent (PID 1 in Docker, which stops a
    container with SIGTERM): SIGTERM and SIGINT are passed on, the server stops its runs (they end
    `interrupted`, events kept), and whatever it left active is marked interrupted here, even if it
    had to be killed. Returns 128 + the signal (143, 130), else the server's own exit code."""
    from storage.liveness import hostname, mark_interrupted, runs_owned_by

    child = subprocess.Popen(command)
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    stop_by: float | None = None
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and stop_by is None:
                    stop_by = time.monotonic() + SERVE_STOP_WAIT
                if stop_by is not None and time.monotonic() > stop_by:  # asked to stop, still running
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    left = runs_owned_by(store, hostname(), child.pid)
    how = signal.Signals(received[0]).name if received else f"exit code {code}"
    mark_interrupted(store, left, reason=f"interrupted: the server running it stopped ({how})")
    return exit_code_of(received[0]) if received else code


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run id (the share link's ?run= value). An older id that "
                                               "starts with '-' goes after '--': cancel -- -AbC...")],
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the run to end (0: do not wait).")] = 10.0,
    db: DbOption = None,
) -> None:
    """Cancel a queued or running run, in whichever process runs it.

    Another app server or command on the same store picks the request up within a second: each strategy stops with its best answer so far."""
    from storage.ids import is_valid_run_id
    from storage.liveness import request_cancel
    from storage.queries import get_run

    if not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    store = open_store_or_exit(db)
    stored = get_run(run_id, store=store)
    if stored is None:
        err.print(f"[bold red]error:[/] no such run: {run_id}", highlight=False)
        raise typer.Exit(EXIT_FAILED)
    if not request_cancel(store, run_id):
        err.print(f"run {run_id} is not running: it ended {stored.status}", highlight=False)
        raise typer.Exit(EXIT_FAILED)
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline:
        stored = get_run(run_id, store=store)
        if stored is None or not stored.is_active:
            break
        time.sleep(0.2)
    status = stored.status if stored is not None else "gone"
    err.print(f"run {run_id}: cancel requested; now {status}", highlight=False)


# ---- signals -----------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGINT or SIGTERM while a command waits on a run. A BaseException, as KeyboardInterrupt is, so
    no `except Exception` on the way swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
RUN_END_WAIT = 5.0  # seconds a stopped command waits for its run's last events to be written


def exit_code_of(signum: int) -> int:
    """128 + the signal's number, as a shell reports a process the signal killed: 130, 143."""
    return 128 + signum


class catch_stop_signals:  # noqa: N801  (a context manager used like a function)
    """SIGINT and SIGTERM raise Interrupted in the main thread while inside (and the previous handlers
    are back after). Off the main thread, where Python cannot set handlers, it does nothing."""

    def __enter__(self) -> catch_stop_signals:
        self.previous: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            raise Interrupted(signum)

        for sig in STOP_SIGNALS:
            try:
                self.previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


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
            out.print_json(json.dumps(_run_record(self.runner.store, self.run_id)))
        raise typer.Exit(exit_code_of(exc.signum))


# ---- run ids that start with "-" -----------------------------------------------------------------


# The click that typer's commands run on: typer 0.2x vendors its own copy, whose exceptions are not
# the click package's.
try:
    from typer import _click  # type: ignore[attr-defined]
except ImportError:  # a typer on the click package
    import click as _click  # type: ignore[no-redef]


class _DashIdHint(TyperCommand):
    """A command that says how to pass an older run id starting with "-", which click reads as an
    option ("No such option: -T"): after "--". New ids never start with "-" (storage.ids)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from storage.ids import looks_like_dash_id

        given = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except _click.exceptions.NoSuchOption as exc:
            dash_ids = [a for a in given if looks_like_dash_id(a)]
            if not dash_ids:
                raise
            raise _click.exceptions.UsageError(
                f"{exc.format_message()}. {dash_ids[0]!r} looks like a run id: an id that starts with '-' goes "
                f"after '--', e.g. budget-arena {ctx.info_name} -- {dash_ids[0]}", ctx=ctx) from None


# datasets, sweep, leaderboard and export live in app/cli_data.py; import in app/cli_share.py.
register_data_commands(app)
register_share_commands(app)
for _command in app.registered_commands:  # every command, those registered above included
    if _command.cls in (None, TyperCommand):
        _command.cls = _DashIdHint


def main() -> None:
    app()


if __name__ == "__main__":
    main()
