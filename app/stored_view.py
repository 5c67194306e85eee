"""A finished run's fold, stored and read back (storage.run_fold_store), so a share link draws the
run page from one row per entry instead of reading and folding every event (issue 16: a 50k-event
run's first visitor waited 1.3 s).

The fold is app.panes.RunView, encoded field by field from the dataclasses' own type hints (so a
field added to a pane is stored with no change here); `FOLD_VERSION` is a hash of that layout, and a
fold stored by other code is folded again from the events and stored anew. Streams are stored
without their text: a stream read back loads its text from the event log the first time it is
read (an expander opened, a tree node's step), `stream_size` gives its size without reading it.
No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from app.panes import PaneView, RunView, StreamView
from storage.queries import events_since, get_run
from storage.run_fold_store import load_fold, save_fold, set_fold_builder, stream_text
from storage.store import Store

CODEC_REVISION = "1"  # bump when the encoding itself changes
_STREAM_FIELDS = ("text", "thinking")


class StoredStream(StreamView):
    """A stream read back from a stored fold: `text` and `thinking` are read from the event log the
    first time either is read (then kept); `sizes` holds their lengths from the fold."""

    sizes: tuple[int, int] = (0, 0)
    _load: Callable[[], tuple[str, str]] | None = None
    _loaded: tuple[str, str] | None = None
    _initial: tuple[str, str] = ("", "")  # what the dataclass __init__ set, before loading is wired

    def _ensure(self) -> tuple[str, str]:
        if self._loaded is None:
            self._loaded = self._load() if self._load is not None else self._initial
        return self._loaded

    def _set(self, position: int, value: str) -> None:
        if self._load is None and self._loaded is None:
            parts = list(self._initial)
            parts[position] = value
            self._initial = (parts[0], parts[1])
            return
        parts = list(self._ensure())
        parts[position] = value
        self._loaded = (parts[0], parts[1])

    @property  # type: ignore[override]
    def text(self) -> str:
        return self._ensure()[0]

    @text.setter
    def text(self, value: str) -> None:
        self._set(0, value)

    @property  # type: ignore[override]
    def thinking(self) -> str:
        return self._ensure()[1]

    @thinking.setter
    def thinking(self, value: str) -> None:
        self._set(1, value)


def stream_size(stream: StreamView) -> int:
    """Characters of text and thinking, without reading a stored stream's text."""
    if isinstance(stream, StoredStream) and stream._loaded is None:
        return sum(stream.sizes)
    return len(stream.text) + len(stream.thinking)


# ---- the codec -------------------------------------------------------------------------------


@cache
def fold_version() -> str:
    """A hash of the fold's layout (every dataclass reachable from RunView, its fields and their
    types) and of this codec: a change to either makes stored folds stale."""
    parts: list[str] = [CODEC_REVISION]
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        hints = _hints(cls)
        parts.append(f"{cls.__module__}.{cls.__qualname__}:" + ",".join(
            f"{f.name}={hints.get(f.name, Any)!r}" for f in dataclasses.fields(cls)))
        for hint in hints.values():
            for inner in _classes_in(hint):
                walk(inner)

    walk(RunView)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _classes_in(hint: Any) -> list[type]:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return [hint]
    return [c for arg in typing.get_args(hint) for c in _classes_in(arg)]


def _encode(value: Any, hint: Any = Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, StreamView):
        out = {f.name: _encode(getattr(value, f.name), _hints(type(value)).get(f.name, Any))
               for f in dataclasses.fields(value) if f.name not in _STREAM_FIELDS}
        out["__sizes__"] = [len(value.text), len(value.thinking)] if not isinstance(value, StoredStream) \
            or value._loaded is not None else list(value.sizes)
        return out
    if dataclasses.is_dataclass(value):
        hints = _hints(type(value))
        return {f.name: _encode(getattr(value, f.name), hints.get(f.name, Any)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        key_hint, value_hint = (typing.get_args(hint) + (Any, Any))[:2] if _origin(hint) is dict else (Any, Any)
        if all(isinstance(k, str) for k in value) and key_hint in (str, Any):
            return {k: _encode(v, value_hint) for k, v in value.items()}
        return {"__pairs__": [[_encode(k, key_hint), _encode(v, value_hint)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        args = typing.get_args(hint)
        item_hint = args[0] if args else Any
        return [_encode(v, item_hint) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in a fold")


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint) or hint


def _decode(value: Any, hint: Any, stream: Callable[[dict[str, Any]], StreamView] | None = None) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"__float__"}:
        return float(value["__float__"])
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(value, options[0] if len(options) == 1 else Any, stream)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if issubclass(hint, StreamView) and stream is not None:
            return stream(value)
        hints = _hints(hint)
        known = {f.name: f for f in dataclasses.fields(hint)}
        decoded = {name: _decode(v, hints.get(name, Any), stream) for name, v in value.items() if name in known}
        made = hint(**{k: v for k, v in decoded.items() if known[k].init})
        for name, v in decoded.items():
            if not known[name].init:
                setattr(made, name, v)
        return made
    if isinstance(value, dict) and "__pairs__" in value and len(value) == 1:
        key_hint, value_hint = (typing.get_args(hint) + (Any, Any))[:2] if origin is dict else (Any, Any)
        return {_decode(k, key_hint, stream): _decode(v, value_hint, stream) for k, v in value["__pairs__"]}
    if isinstance(value, dict):
        value_hint = (typing.get_args(hint) + (Any, Any))[1] if origin is dict else Any
        return {k: _decode(v, value_hint, stream) for k, v in value.items()}
    if isinstance(value, list):
        args = typing.get_args(hint)
        decoded_list = [_decode(v, args[0] if args else Any, stream) for v in value]
        return tuple(decoded_list) if origin is tuple else decoded_list
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def encode_view(view: RunView) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(run-level data, one document per pane)."""
    hints = _hints(RunView)
    data = {f.name: _encode(getattr(view, f.name), hints.get(f.name, Any))
            for f in dataclasses.fields(view) if f.name != "panes"}
    return data, [_encode(pane, PaneView) for pane in view.panes]


def decode_view(data: dict[str, Any], panes: list[dict[str, Any]],
                stream_loader: Callable[[int, dict[str, Any]], Callable[[], tuple[str, str]]] | None = None
                ) -> RunView:
    """The RunView of encode_view's output; streams are StoredStream, loaded by
    stream_loader(pane index, stored stream) when first read (empty without a loader)."""
    decoded_panes: list[PaneView] = []
    for document in panes:
        index = document.get("index", len(decoded_panes))

        def make_stream(stored: dict[str, Any], index: int = index) -> StreamView:
            hints = _hints(StreamView)
            fields = {name: _decode(v, hints.get(name, Any)) for name, v in stored.items()
                      if name in {f.name for f in dataclasses.fields(StreamView)}}
            made = StoredStream(**fields)
            sizes = stored.get("__sizes__") or (0, 0)
            made.sizes = (int(sizes[0]), int(sizes[1]))
            made._load = stream_loader(index, stored) if stream_loader is not None else None
            return made

        decoded_panes.append(_decode(document, PaneView, make_stream))
    hints = _hints(RunView)
    rest = {name: _decode(v, hints.get(name, Any)) for name, v in data.items()
            if name in {f.name for f in dataclasses.fields(RunView)}}
    return RunView(panes=decoded_panes, **rest)


# ---- reading and storing a run's fold ------------------------------------------------------------


def folded_view(store: Store, run_id: str) -> RunView | None:
    """Every event of the run folded (what the page did on every first visit before)."""
    info = get_run(run_id, store=store)
    if info is None:
        return None
    view = RunView.for_run(info)
    view.apply(events_since(run_id, 0, store=store))
    return view


def store_view(store: Store, run_id: str, view: RunView) -> bool:
    """Store an ended run's fold (False when the run is not ended or the fold misses events)."""
    data, panes = encode_view(view)
    # A layout this codec cannot read back (a new kind of field) is not stored: the page folds.
    if encode_view(decode_view(data, panes)) != (data, panes):
        return False
    return save_fold(store, run_id, fold_version(), view.last_seq, data, panes)


def store_ended_run(store: Store, run_id: str) -> None:
    """Fold an ended run and store the fold (storage.run_fold_store calls it when a run ends)."""
    view = folded_view(store, run_id)
    if view is not None:
        store_view(store, run_id, view)


def ended_view(store: Store, run_id: str, last_seq: int, entries: int,
               fold: Callable[[], RunView | None] | None = None) -> RunView | None:
    """An ended run's view for its page (`entries`: how many the run has): the stored fold when it
    holds every event up to `last_seq`, else `fold()` (default: folded_view) and that fold stored
    for the next visitor."""
    stored = load_fold(store, run_id, fold_version())
    if stored is not None and stored.last_seq == last_seq and len(stored.entries) == entries:
        def loader(index: int, stream: dict[str, Any]) -> Callable[[], tuple[str, str]]:
            return lambda: stream_text(store, run_id, index, stream.get("label"), int(stream.get("first_seq", 0)),
                                       int(stream.get("last_seq", 0)))

        return decode_view(stored.data, stored.entries, loader)
    view = fold() if fold is not None else folded_view(store, run_id)
    if view is not None and view.last_seq == last_seq:
        store_view(store, run_id, view)
    return view


def fold_runs_when_they_end() -> None:
    """Have the runner fold each run as it ends (storage.run_fold_store.run_ended)."""
    set_fold_builder(store_ended_run)
