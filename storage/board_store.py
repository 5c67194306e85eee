"""Stored leaderboards (leaderboard_board, revision 0006): opaque computed boards kept per key with
the digest of the results they were computed from. Derived data, never exported: a reader whose
digest differs computes the board again and replaces the stored one (app.stored_boards)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage.store import Store
from storage.tables import LeaderboardBoard

KEPT_BOARDS = 64  # boards kept (each set of filters and row choices is one; a few 100 kB each)


@dataclass(frozen=True)
class StoredBoard:
    digest: str
    data: bytes


def read_board(store: Store, key: str, digest: str | None = None) -> StoredBoard | None:
    """The board stored under `key`; with `digest`, only when computed from those results (a
    board of other results is not read: its data is a few 100 kB)."""
    query = select(LeaderboardBoard.digest, LeaderboardBoard.data).where(LeaderboardBoard.key == key)
    if digest is not None:
        query = query.where(LeaderboardBoard.digest == digest)
    with store.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else StoredBoard(row.digest, bytes(row.data))


def write_board(store: Store, key: str, digest: str, results: int, data: bytes) -> None:
    """Store (or replace) the board under `key`; the oldest boards beyond KEPT_BOARDS go."""
    values = {"digest": digest, "results": results, "stored": datetime.now(UTC), "data": data}
    try:
        with store.write() as conn:
            if not conn.execute(update(LeaderboardBoard).where(LeaderboardBoard.key == key).values(**values)).rowcount:
                conn.execute(insert(LeaderboardBoard).values(key=key, **values))
            old = conn.execute(select(LeaderboardBoard.key).order_by(LeaderboardBoard.stored.desc())
                               .offset(KEPT_BOARDS)).scalars().all()
            if old:
                conn.execute(delete(LeaderboardBoard).where(LeaderboardBoard.key.in_(old)))
    except IntegrityError:
        pass  # another process stored the same key at the same moment: its board serves as well


def forget_boards(store: Store) -> None:
    """Delete every stored board (benchmarks measure a board computed from nothing)."""
    with store.write() as conn:
        conn.execute(delete(LeaderboardBoard))
