"""Which process owns a run, and whether it is still alive.

A run row records its owner's host, pid and a start token (boot id + process start time on Linux),
so a pid reused by a new process is not mistaken for the owner. Runs left `running` by a dead
owner on this host are marked `interrupted`; their events are kept. Another host's runs are only
touched by `mark_interrupted_stale`, when they have not been written to for a while.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import func, select, update

from storage.database import Store
from storage.tables import ACTIVE_STATUSES, Run, RunStrategy

INTERRUPTED_ERROR = "interrupted: the process running it stopped before it finished"


def hostname() -> str:
    return socket.gethostname()


def process_token(pid: int) -> str | None:
    """Boot id + start time of `pid` (None where /proc is unavailable, or pid does not exist)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parens): state is the first,
    # starttime the 20th.
    fields = stat[stat.rfind(")") + 2 :].split()
    return f"{_boot_id()}:{fields[19]}" if len(fields) > 19 else None


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@cache
def _own_identity() -> tuple[str, int, str | None]:
    return hostname(), os.getpid(), process_token(os.getpid())


def own_identity() -> tuple[str, int, str | None]:
    """(host, pid, token) of this process; recomputed after a fork."""
    identity = _own_identity()
    if identity[1] != os.getpid():
        _own_identity.cache_clear()
        identity = _own_identity()
    return identity


def is_alive(pid: int, token: str | None) -> bool:
    """Whether the process `pid` on this host is running and is the one that wrote `token`."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if _is_zombie(pid):
        return False
    if token is None:
        return True
    current = process_token(pid)
    return current is None or current == token


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def mark_interrupted(store: Store, run_ids: list[str], *, reason: str = INTERRUPTED_ERROR) -> int:
    """Mark these runs, and their unfinished strategies, interrupted (only if still active)."""
    if not run_ids:
        return 0
    now = datetime.now(UTC)
    with store.write() as conn:
        changed = conn.execute(
            update(Run)
            .where(Run.id.in_(run_ids), Run.status.in_(ACTIVE_STATUSES))
            .values(status="interrupted", error=reason, finished=now, updated=now)
        ).rowcount
        conn.execute(
            update(RunStrategy)
            .where(RunStrategy.run_id.in_(run_ids), RunStrategy.status.in_(ACTIVE_STATUSES))
            .values(status="interrupted", finished=now)
        )
    return changed


def mark_interrupted_dead_owners(store: Store) -> list[str]:
    """Runs left active by a dead process of this host become interrupted. Returns their ids."""
    host, _, _ = own_identity()
    with store.read() as conn:
        rows = conn.execute(
            select(Run.id, Run.owner_pid, Run.owner_token).where(
                Run.status.in_(ACTIVE_STATUSES), Run.owner_host == host
            )
        ).all()
    dead = [row.id for row in rows if row.owner_pid is None or not is_alive(row.owner_pid, row.owner_token)]
    mark_interrupted(store, dead)
    return dead


def mark_interrupted_stale(store: Store, older_than: timedelta | float) -> list[str]:
    """Active runs of any host not written to (no heartbeat) for `older_than`: interrupted.

    For a store shared by several hosts, where a dead host's pids cannot be checked. A live
    runner touches its runs at least every HEARTBEAT_SECONDS (storage.runner), so pick
    `older_than` well above that."""
    if not isinstance(older_than, timedelta):
        older_than = timedelta(seconds=older_than)
    cutoff = datetime.now(UTC) - older_than
    with store.read() as conn:
        ids = list(
            conn.scalars(
                select(Run.id).where(
                    Run.status.in_(ACTIVE_STATUSES), func.coalesce(Run.updated, Run.created) < cutoff
                )
            )
        )
    mark_interrupted(store, ids)
    return ids


# ---- cancel requests -----------------------------------------------------------------------------
# A Cancel may come from any process sharing the store (another app server, the CLI): it is a flag
# on the run, and the runner that owns the run polls it (storage.runner, CANCEL_POLL_SECONDS).


def request_cancel(store: Store, run_id: str) -> bool:
    """Ask the process running `run_id` to stop it. False if no such run is queued or running."""
    with store.write() as conn:
        return bool(conn.execute(
            update(Run).where(Run.id == run_id, Run.status.in_(ACTIVE_STATUSES)).values(cancel_requested=True)
        ).rowcount)


def cancel_requests(store: Store, run_ids: list[str]) -> list[str]:
    """Those of `run_ids` someone asked to cancel (an indexed lookup of a few ids)."""
    if not run_ids:
        return []
    with store.read() as conn:
        return list(conn.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))))


def runs_owned_by(store: Store, host: str, pid: int) -> list[str]:
    """The active runs of process `pid` on `host` (a server's, once it has stopped)."""
    with store.read() as conn:
        return list(conn.scalars(select(Run.id).where(
            Run.status.in_(ACTIVE_STATUSES), Run.owner_host == host, Run.owner_pid == pid)))
