"""`budget-arena import`: runs exported elsewhere, into this store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import EXIT_BAD_INPUT, DbOption, err, open_store_or_exit, out


def import_runs(
    files: Annotated[list[Path], typer.Argument(
        help="Run exports (`budget-arena export RUN_ID -o run.json`, the app's Download JSON): one run per file, "
        "or a JSON list of runs.", show_default=False)],
    db: DbOption = None,
) -> None:
    """Import exported runs into the store, where they show in History and leaderboards like local runs.

    Each file is checked whole first (types, sizes, statuses, finite numbers; at most 50 MB) and
    written in one transaction: a bad file is refused with the reason and leaves nothing behind.
    A run keeps its id when this store does not hold it; a different run under that id is imported
    with a new id (printed), and the same run imported again is skipped. Exit code 2 if any file
    was refused (the others are imported)."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.importer import ImportRefused, import_file

    store = open_store_or_exit(db)
    refused = 0
    for path in files:
        try:
            outcomes = import_file(path, store=store)
        except ImportRefused as exc:
            refused += 1
            err.print(f"refused {path}: {exc}", markup=False, highlight=False)
            continue
        except SQLAlchemyError as exc:  # the store refused a row (a race on an id, a full disk): nothing written
            refused += 1
            err.print(f"refused {path}: the store could not write it ({type(exc).__name__}); nothing was "
                          "imported from it", markup=False, highlight=False)
            continue
        for outcome in outcomes:
            out.print(f"{path}: {outcome.message}", markup=False, highlight=False, soft_wrap=True)
    if refused:
        raise typer.Exit(EXIT_BAD_INPUT)
