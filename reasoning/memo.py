"""Memoised results of pure computations keyed by a digest of their inputs (bootstrap intervals of
a group's item kinds, a head-to-head cell's draw): bounded, thread-safe, and able to say which
entries a computation used (``recording``) so they can be kept with what it produced and put back
(``seed``) in another process: a board stored in the store carries the intervals it drew, and the
board recomputed after one new result there draws only the groups whose items changed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_local = threading.local()


def digest(*parts: bytes | str | int | float) -> bytes:
    """A 20-byte digest of the parts (each with its type and length, so no two inputs collide by
    concatenation)."""
    out = hashlib.blake2b(digest_size=20)
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode()
        out.update(f"{type(part).__name__}:{len(data)}:".encode())
        out.update(data)
    return out.digest()


class Memo:
    """digest -> value, the oldest dropped beyond `limit` entries. `record`: whether `recording`
    sees its entries (False for entries no stored board keeps: a recording would hold them alive)."""

    def __init__(self, name: str, limit: int, *, record: bool = True):
        self.name, self.limit, self.record = name, limit, record
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: bytes, compute: Callable[[], Any]) -> Any:
        with self._lock:
            found = key in self._entries
            if found:
                self._entries.move_to_end(key)
                value = self._entries[key]
        if not found:
            value = compute()
            self._put(key, value)
        for recorded in getattr(_local, "recorders", ()) if self.record else ():
            recorded.setdefault(self.name, {})[key] = value
        return value

    def get(self, key: bytes) -> Any:
        """The value kept under `key`, or None (not recorded: for memos whose values are carried on,
        looked up and put back by hand)."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: bytes, value: Any) -> None:
        self._put(key, value)

    def seed(self, entries: Iterable[tuple[bytes, Any]]) -> None:
        """Put back entries recorded elsewhere (their values are what computing them gives)."""
        for key, value in entries:
            self._put(key, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _put(self, key: bytes, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)


@contextmanager
def recording() -> Iterator[dict[str, dict[bytes, Any]]]:
    """Every memo entry this thread looks up or computes inside the block, by memo name."""
    recorded: dict[str, dict[bytes, Any]] = {}
    stack = getattr(_local, "recorders", ())
    _local.recorders = (*stack, recorded)
    try:
        yield recorded
    finally:
        _local.recorders = stack
