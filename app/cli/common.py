"""What every command shares: the consoles, exit codes, the --db and --model options, bad input,
opening the store, parsing knobs/entries/budgets, and catching stop signals.

Exit codes are documented in app/cli/__init__.py.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from reasoning.budget import Budget
from reasoning.config import get_settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CAPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CANCELLED = 4  # `run`: its run was cancelled from elsewhere (budget-arena cancel, the Cancel button)
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15, as a shell reports a process the signal ended

out = Console()
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL of the store (env BUDGET_ARENA_DB; default: SQLite in the data dir)"),
]


def bad_input(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def no_such_run(run_id: str) -> typer.Exit:
    """One line for a run id this store does not hold (show, export, cancel); exit 1."""
    err.print(f"[bold red]error:[/] no such run: {run_id}", highlight=False)
    return typer.Exit(EXIT_FAILED)


_opened: list[Any] = []  # the store this command opened: named by messages about a failure mid-command


def store_exit(failure: Exception) -> typer.Exit:
    """One line for a StoreError; exit 2 when the store was named wrongly, else 1 (a store fault)."""
    message = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    return typer.Exit(EXIT_BAD_INPUT if getattr(failure, "is_bad_input", False) else EXIT_FAILED)


def as_store_error(exc: BaseException) -> Exception | None:
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
