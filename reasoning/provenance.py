"""What produced a result: the app's version and a fingerprint of the strategy's prompts and knobs.

Prompts and strategy code change between versions. A result stores both so that results produced
by different prompts are not pooled silently.

The fingerprint is the SHA-256 (first 16 hex digits) of:
- the strategy's name;
- its prompt templates: the literal text of every prompt builder in `reasoning.strategies.support.prompts`
  its code reaches, and every module-level string constant (cues such as "Wait" or "Final Answer:")
  that code names. They are found by following the names the strategy's methods use, through the
  helper modules of `reasoning.strategies` (search, voting, ...) and the prompt objects they hold;
- its knob values.
Docstrings, comments and code outside the prompt builders do not change it: a refactor keeps
results comparable, a changed prompt or knob does not.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import inspect
import json
import types
from collections.abc import Iterator
from typing import Any

PACKAGE = "budget-arena"  # the distribution name in pyproject.toml
STRATEGIES = "reasoning.strategies"
PROMPTS_MODULE = "reasoning.strategies.support.prompts"
_REGISTRY_MODULE = "reasoning.strategies.base"  # the registry and knob plumbing: no prompt text
FINGERPRINT_CHARS = 16


@functools.cache
def app_version() -> str | None:
    """The installed budget-arena version (None when the package is not installed, e.g. run from a
    bare source tree)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def fingerprint(strategy: Any) -> str:
    """16 hex digits identifying the strategy's prompt templates and knob values."""
    cls = type(strategy)
    payload = {
        "strategy": getattr(cls, "name", "") or cls.__qualname__,
        "prompts": prompt_templates(cls),
        "knobs": _knobs(strategy),
    }
    text = json.dumps(payload, sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]


@functools.cache
def prompt_templates(cls: type) -> tuple[str, ...]:
    """The prompt text a strategy class can send, as sorted "where: text" entries (see module doc)."""
    parts: set[str] = set()
    seen: set[int] = set()
    todo: list[types.FunctionType] = [fn for klass in cls.__mro__ if _followed(klass, own=klass is cls)
                                      for fn in _functions_of(klass)]
    while todo:
        fn = todo.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        in_prompts = fn.__module__ == PROMPTS_MODULE
        for code in _codes(fn.__code__):
            if in_prompts:
                # A prompt builder's literal pieces are its template (f-string parts included).
                parts.update(f"{fn.__qualname__}: {const!r}" for const in code.co_consts
                             if isinstance(const, str) and const != fn.__doc__)
            for name in code.co_names:
                if name in fn.__globals__:
                    todo.extend(_visit(name, fn.__globals__[name], parts))
    return tuple(sorted(parts))


def _visit(name: str, value: Any, parts: set[str]) -> Iterator[types.FunctionType]:
    """Record a string constant; yield the functions worth following from a global value."""
    if isinstance(value, str):
        if name.isupper():  # a module-level constant: a cue, a tag, a format line
            parts.add(f"{name} = {value!r}")
        return
    if isinstance(value, types.FunctionType) and _in_package(value.__module__):
        yield value
    elif isinstance(value, type) and _followed(value):
        yield from _functions_of(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type) and _followed(type(value)):
        # A prompt set held as an object (SearchPrompts(propose=..., evaluate=...)).
        for field in dataclasses.fields(value):
            yield from _visit(field.name, getattr(value, field.name), parts)


def _functions_of(cls: type) -> Iterator[types.FunctionType]:
    for value in vars(cls).values():
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        elif isinstance(value, property):
            value = value.fget
        if isinstance(value, types.FunctionType):
            yield inspect.unwrap(value)  # type: ignore[misc]


def _followed(cls: type, *, own: bool = False) -> bool:
    """The strategy class itself (wherever it is defined), and classes of the strategies package."""
    return own or (_in_package(cls.__module__))


def _in_package(module: str) -> bool:
    return (module == STRATEGIES or module.startswith(STRATEGIES + ".")) and module != _REGISTRY_MODULE


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and those nested in it (comprehensions, inner functions, lambdas)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _knobs(strategy: Any) -> dict[str, Any]:
    if hasattr(strategy, "knobs"):
        return dict(strategy.knobs())
    if dataclasses.is_dataclass(strategy):
        return {f.name: getattr(strategy, f.name) for f in dataclasses.fields(strategy)}
    return {}
