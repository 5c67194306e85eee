"""`budget-arena cancel`: ask whichever process runs a run to stop it."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from app.cli.common import EXIT_OK, DbOption, bad_input, err, no_such_run, open_store_or_exit


def cancel(
    run_id: Annotated[str, typer.Argument(help="The run id (the share link's ?run= value). An older id that "
                                               "starts with '-' goes after '--': cancel -- -AbC...")],
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the run to end (0: do not wait).")] = 10.0,
    db: DbOption = None,
) -> None:
    """Cancel a queued or running run, in whichever process runs it.

    Another app server or command on the same store picks the request up within a second: each strategy stops with its best answer so far, and a `budget-arena run` waiting on it exits 4.

    Exit code: 0 once the cancel is requested; 0 too for a run that has already ended (nothing to cancel: said on stderr); 1 for an unknown run id; 2 for bad input."""
    from storage.ids import is_valid_run_id
    from storage.liveness import request_cancel
    from storage.queries import get_run

    if not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    store = open_store_or_exit(db, existing=True)
    stored = get_run(run_id, store=store)
    if stored is None:
        raise no_such_run(run_id)
    if not request_cancel(store, run_id):  # nothing to stop: the run's end stands, and so does success
        err.print(f"run {run_id} is not running: it ended {stored.status}; nothing to cancel", highlight=False)
        raise typer.Exit(EXIT_OK)
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline:
        stored = get_run(run_id, store=store)
        if stored is None or not stored.is_active:
            break
        time.sleep(0.2)
    status = stored.status if stored is not None else "gone"
    err.print(f"run {run_id}: cancel requested; now {status}", highlight=False)
