"""Computed leaderboards kept in the store (storage.board_store), so a new session or a server just
started reads a board instead of bootstrapping every result again. No Streamlit here.

A board is stored under a key naming what it was asked for (filters, budget axis, row choices,
resamples, seed, and the code that computes boards: a new version of the metrics never reads an
old board) with the digest of the summarised results it was computed from
(app.leaderboard_summary.Selection.digest): a result added, deleted or imported changes the
digest, and the next reader computes the board again. The head-to-head's intervals are drawn per
(model, budget) cell when a cell is shown; a stored board carries the cells drawn so far and is
stored again when more are (a missing cell is drawn from the results, as for a fresh board).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from app.leaderboard_summary import Selection
from app.leaderboard_view import Leaderboard, LeaderboardFilters, RowChoice
from reasoning.bootstrap import INTERVALS
from reasoning.memo import recording
from reasoning.pair_table import CELLS, PairTable
from storage.board_store import read_board, write_board
from storage.store import Store

logger = logging.getLogger(__name__)
FORMAT = 1  # the layout of a stored board
# The modules whose code decides a board's numbers: a change to any of them is a new key.
BOARD_CODE = ("reasoning/metrics.py", "reasoning/leaderboard_metrics.py", "reasoning/bootstrap.py",
              "reasoning/group_codes.py", "reasoning/rank_intervals.py", "reasoning/pair_table.py",
              "reasoning/pair_cells.py", "reasoning/paired_stats.py",
              "app/leaderboard_rows.py", "app/leaderboard_view.py", "app/leaderboard_summary.py", "app/summary_memo.py",
              "app/stored_boards.py",
              "storage/result_groups.py", "storage/result_summary.py", "storage/summary_frame.py")
ROOT = Path(__file__).resolve().parents[1]
MEMOS = {memo.name: memo for memo in (INTERVALS, CELLS)}  # what a stored board carries of the memos


def _code_digest() -> str:
    digest = hashlib.sha256(str(FORMAT).encode())
    for name in BOARD_CODE:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


CODE = _code_digest()


def board_key(filters: LeaderboardFilters, cap: str, choice: RowChoice, *, n_boot: int = 1000, seed: int = 0) -> str:
    asked = {"filters": asdict(filters), "cap": cap, "choice": asdict(choice), "n_boot": n_boot, "seed": seed,
             "code": CODE}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class StoredLeaderboard:
    """A board and where it is kept, with the memoised intervals it drew (reasoning.memo: stored
    with it, put back when it is read, so a board recomputed in another process after one new
    result draws only what changed). `cell` draws a head-to-head cell (recording its draw);
    `save_drawn` stores the board again once more cells are drawn than when it was last stored."""

    board: Leaderboard
    store: Store
    key: str
    digest: str
    _saved_missing: set = field(default_factory=set)
    memo: dict[str, dict[bytes, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cell(self, model: str, budget: float) -> pd.DataFrame:
        """The head-to-head pairs of one (model, budget) cell, intervals drawn."""
        if self.board.head_to_head is None:
            raise ValueError("this board has no head-to-head")
        with recording() as used:
            pairs = self.board.head_to_head.cell(model, budget)
        with self._lock:
            for name, entries in used.items():
                self.memo.setdefault(name, {}).update(entries)
        return pairs

    def save_drawn(self) -> None:
        table = self.board.head_to_head
        if table is None:
            return
        with self._lock:
            missing = set(table.missing())
            if missing == self._saved_missing:
                return
            self._saved_missing = missing
        _write(self)


def leaderboard(store: Store, selection: Selection, filters: LeaderboardFilters, cap: str, choice: RowChoice,
                compute: Callable[[], Leaderboard], pairs: Callable[[list[str]], PairTable], *, n_boot: int = 1000,
                seed: int = 0) -> StoredLeaderboard:
    """The stored board for these filters when it was computed from the same results, else
    `compute()` (stored for the next reader). A stored board's head-to-head cells not drawn yet
    are drawn, when first shown, from `pairs(order)`: the head-to-head of the same results with
    the strategies in the board's order."""
    key, digest = board_key(filters, cap, choice, n_boot=n_boot, seed=seed), selection.digest()
    stored = read_board(store, key, digest)
    if stored is not None and stored.digest == digest:
        try:
            board = decode(stored.data, pairs, n_boot=n_boot, seed=seed)
        except (ValueError, KeyError, struct.error, pa.ArrowException):
            board = None  # written by another layout: computed again below
        if board is not None:
            memo = _memo_of(stored.data)
            for name, entries in memo.items():
                MEMOS[name].seed(entries.items())
            missing = set(board.head_to_head.missing()) if board.head_to_head is not None else set()
            return StoredLeaderboard(board, store, key, digest, missing, memo)
    with recording() as used:
        board = compute()
        table = board.head_to_head
        cells = table.cells() if table is not None else []
        if table is not None and cells:
            table.cell(*cells[0])  # the cell a page shows first: drawn before storing
    out = StoredLeaderboard(board, store, key, digest, set(table.missing()) if table is not None else set(), used)
    _write(out)
    return out


# Boards are written by one background thread, in order: the page does not wait for the write
# (a transaction and its sync to disk: 20 - 100 ms here); a write lost when the process ends only
# means the next reader computes that board again.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stored-boards")
_pending: list[Future] = []
_pending_lock = threading.Lock()


def _write(stored: StoredLeaderboard) -> None:
    board = stored.board
    with stored._lock:
        memo = {name: dict(entries) for name, entries in stored.memo.items()}
    data = encode(board, memo)  # now: the board and its memo as they are
    results = int(pd.to_numeric(board.board["n"]).sum())
    future = _writer.submit(_write_logged, stored.store, stored.key, stored.digest, results, data)
    with _pending_lock:
        _pending[:] = [f for f in _pending if not f.done()] + [future]


def _write_logged(store: Store, key: str, digest: str, results: int, data: bytes) -> None:
    try:
        write_board(store, key, digest, results, data)
    except Exception:  # a cache: the page already has its board; say why it was not kept
        logger.exception("could not store a computed leaderboard")


def flush() -> None:
    """Wait until every board handed to the writer is stored (tests, benchmarks)."""
    with _pending_lock:
        waiting = list(_pending)
    for future in waiting:
        future.result()


# ---- the stored form --------------------------------------------------------------------------------


def encode(board: Leaderboard, memo: dict[str, dict[bytes, Any]] | None = None) -> bytes:
    """The board as bytes: a JSON header (its scalars, the head-to-head cells not drawn yet, the
    frames' sizes, the memo entries it drew) and each frame as an Arrow IPC stream (exact floats,
    nullable integers kept)."""
    table = board.head_to_head
    frames = {"board": board.board, "curve": board.curve}
    if table is not None:
        frames["pairs"] = table.tests
    blobs = {name: _arrow(frame) for name, frame in frames.items()}
    header = {"format": FORMAT, "cap": board.cap, "over_cap_left_out": board.over_cap_left_out,
              "over_cap_included": board.over_cap_included, "versions": board.versions, "pooled": board.pooled,
              "missing": [list(c) for c in table.missing()] if table is not None else None,
              "frames": {name: len(blob) for name, blob in blobs.items()},
              "memo": {name: {key.hex(): _plain(value) for key, value in entries.items()}
                       for name, entries in (memo or {}).items() if name in MEMOS}}
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + b"".join(blobs.values())


def decode(data: bytes, pairs: Callable[[list[str]], PairTable], *, n_boot: int = 1000,
           seed: int = 0) -> Leaderboard:
    """The board `encode` wrote; head-to-head cells it lacks are drawn from `pairs(order)` (order:
    the board's strategies, as the head-to-head lists them)."""
    (size,) = struct.unpack_from("<I", data)
    header = json.loads(data[4:4 + size])
    if header.get("format") != FORMAT:
        raise ValueError(f"stored board format {header.get('format')}, not {FORMAT}")
    frames, at = {}, 4 + size
    for name, length in header["frames"].items():
        frames[name] = pa.ipc.open_stream(data[at:at + length]).read_pandas()
        at += length
    board = frames["board"]
    if "failure_reasons" in board.columns:  # Arrow gives arrays back; the page reads lists
        board["failure_reasons"] = [list(r) if r is not None else [] for r in board["failure_reasons"]]
    table = None
    if header["missing"] is not None:
        order = [str(s) for s in board["strategy"]]
        table = PairTable.restored(frames["pairs"], [(str(m), float(b)) for m, b in header["missing"]],
                                   lambda: pairs(order), n_boot=n_boot, seed=seed)
    return Leaderboard(board=board, curve=frames["curve"], cap=header["cap"], head_to_head=table,
                       over_cap_left_out=header["over_cap_left_out"], over_cap_included=header["over_cap_included"],
                       versions=header["versions"], pooled=header["pooled"])


def _memo_of(data: bytes) -> dict[str, dict[bytes, Any]]:
    """The memo entries a stored board carries, as the memos hold them."""
    (size,) = struct.unpack_from("<I", data)
    stored = json.loads(data[4:4 + size]).get("memo", {})
    return {name: {bytes.fromhex(key): _value(name, value) for key, value in entries.items()}
            for name, entries in stored.items() if name in MEMOS}


def _plain(value: Any) -> Any:
    """A memo value as JSON: an interval's bounds, or a cell's arrays of bounds."""
    if isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
        return [part.tolist() for part in value]
    return [float(part) for part in value]


def _value(name: str, value: list) -> Any:
    if name == CELLS.name:
        return tuple(np.array(part, dtype=float) for part in value)
    return tuple(float(part) for part in value)


def _arrow(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
