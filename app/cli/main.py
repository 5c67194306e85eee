"""The `budget-arena` Typer app: registers every command (one module each) and runs it.

Commands import app.cli.common; only this module imports the commands, so there is no import cycle.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperCommand, TyperGroup

from app.cli.cancel import cancel
from app.cli.catalog import datasets, strategies
from app.cli.common import as_store_error, store_exit
from app.cli.demo import demo
from app.cli.export import export
from app.cli.leaderboard import leaderboard
from app.cli.run import run
from app.cli.serve import serve
from app.cli.share import import_runs
from app.cli.show import show
from app.cli.sweep import sweep


class _Commands(TyperGroup):
    """Every command: a store failing mid-command (full, damaged, read-only, a column dropped) ends it
    with one line naming the store and the fix, exit 1 (2 for a store named wrongly), never with the
    driver's traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            failure = as_store_error(exc)
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


# The order of `budget-arena --help`.
for _command in (run, show, strategies, serve, cancel, datasets, sweep, demo, leaderboard, export):
    app.command()(_command)
app.command("import")(import_runs)
for _registered in app.registered_commands:
    if _registered.cls in (None, TyperCommand):
        _registered.cls = _DashIdHint


def main() -> None:
    app()


if __name__ == "__main__":
    main()
