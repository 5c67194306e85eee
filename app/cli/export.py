"""`budget-arena export`: one run as JSON or HTML, many runs as CSV; `write_output`, shared with
`leaderboard --html`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import EXIT_FAILED, DbOption, bad_input, err, no_such_run, open_store_or_exit


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

    if as_html:
        _export_html(run_id, output, fmt, db)
        return
    fmt = fmt or ("json" if run_id else "csv")
    if fmt not in ("json", "csv"):
        raise bad_input(f"--format must be json or csv, got {fmt!r}")
    if run_id is not None and not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    if fmt == "json" and run_id is None:
        raise bad_input("JSON export is of one run: give its id (or use --format csv for many)")
    store = open_store_or_exit(db, existing=True)
    if fmt == "json":
        data = export_run_json(run_id, store=store)
        if data is None:
            raise no_such_run(run_id)
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        text = export_runs_csv([run_id] if run_id else None, sweep_id=sweep_id, dataset=dataset, model=model,
                               strategy=strategy or None, store=store)
    write_output(text, output, err.print)


def _export_html(run_id: str | None, output: Path | None, fmt: str | None, db: str | None) -> None:
    from app.html_export import run_html
    from storage.ids import is_valid_run_id

    if run_id is None or fmt is not None:
        raise bad_input("--html exports one run: give its id (and no --format)")
    if not is_valid_run_id(run_id):
        raise bad_input(f"{run_id!r} is not a run id")
    text = run_html(run_id, store=open_store_or_exit(db, existing=True))
    if text is None:
        raise no_such_run(run_id)
    write_output(text, output, err.print)


def write_output(text: str, output: Path | None, report: Callable[..., None]) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        report(f"[bold red]error:[/] cannot write {output}: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    report(f"wrote {output} ({len(text.encode()):,} bytes)", highlight=False)
