"""The `budget-arena` command: run, show, sweep, leaderboard, export, serve, datasets, strategies.

One module per command (or small group: catalog.py lists strategies and datasets), what they share in
common.py, the Typer app and its registrations in main.py, leaderboard tables in tables.py. The
console script is `app.cli:main`; `python -m app.cli` runs the same.

Exit codes scripts can rely on (every command):
  0    done
  1    failed at run time: a run whose strategies all failed, a sweep with failed cells (run it again
       to retry them), an unknown run id, a sweep another process is running, a file not written;
       a store fault (full, read-only, damaged, altered by hand): a run or sweep cell whose results
       could not be stored is not done, and running the sweep again redoes exactly those cells
  2    bad input, refused before anything runs: an unknown strategy, knob, dataset or model, a bad
       budget, a request over this deployment's limits (reasoning.deployment_limits), text that is not UTF-8,
       an unreachable store, no store at the --db path given to show, export or leaderboard
  3    a sweep stopped by its dollar cap (--max-usd) before finishing; what ran is kept, and running
       it again with a higher cap continues it
  4    `run`: its run was cancelled before it ended (`budget-arena cancel` or the app's Cancel button,
       from any process); what it streamed is kept. (`cancel` of a run that has already ended does
       nothing, says so and exits 0.)
  130  interrupted (Ctrl-C, SIGINT); a run in progress ends `interrupted` with what it streamed, a sweep
       keeps every finished cell and resumes when run again
  143  terminated (SIGTERM, as `docker stop` sends): the same as 130
"""

from app.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_CAPPED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    exit_code_of,
)
from app.cli.main import app, main

__all__ = ["EXIT_BAD_INPUT", "EXIT_CANCELLED", "EXIT_CAPPED", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK",
           "EXIT_TERMINATED", "app", "exit_code_of", "main"]
