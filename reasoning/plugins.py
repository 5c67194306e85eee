"""Strategies and providers from installed packages, found through entry points.

A package adds a strategy by declaring, in its pyproject.toml,

    [project.entry-points."budget_arena.strategies"]
    my_strategy = "my_package.module:MyStrategy"     # a @dataclass with `name` and `solve`

and a provider by

    [project.entry-points."budget_arena.providers"]
    myprov = "my_package.module:INFO"                # a ProviderInfo whose `build` makes a Model

A plugin strategy joins reasoning.strategies' registry after the built-ins, so the UI, the CLI and
the contract tests list it as they list a built-in; a plugin provider joins the provider registry
(reasoning.models.providers, which enrols it) that get_model, prices and the app's picker read. A
plugin that fails to import, is of the wrong type or takes a name a built-in (or an earlier plugin)
holds is skipped with a logged warning and kept in `broken()`, with its reason: one bad package
never stops the app.
"""

from __future__ import annotations

import dataclasses

from reasoning.models.providers import PLUGIN_GROUP as PROVIDER_GROUP
from reasoning.models.providers import broken_plugins, enrol_plugins, forget_plugins
from reasoning.plugin_loading import BrokenPlugin, installed, load, skip

STRATEGY_GROUP = "budget_arena.strategies"

_broken: list[BrokenPlugin] = []  # the strategy plugins skipped
_added: list[str] | None = None  # the strategy plugins registered; None: not loaded yet


def load_strategies() -> None:
    """Register the strategies of installed plugins (once; reset() forgets them)."""
    global _added
    if _added is not None:
        return
    from reasoning.strategies.base import REGISTRY, register

    _added = []
    for ep in installed(STRATEGY_GROUP):
        cls = load(ep, _broken)
        if cls is None:
            continue
        if not isinstance(cls, type) or not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "solve", None)):
            skip(ep, f"{ep.value} is not a strategy (a dataclass with solve(problem, ctx))", _broken)
            continue
        name = getattr(cls, "name", "")
        if not name:
            skip(ep, f"{ep.value} has no class-level `name`", _broken)
        elif name in REGISTRY:
            skip(ep, f"the name {name!r} is taken by {REGISTRY[name].__module__}", _broken)
        else:
            register(cls)
            _added.append(name)


def load_providers() -> None:
    """Add the providers of installed plugins to the provider registry (once; reset() forgets them)."""
    enrol_plugins()


def provider_names() -> list[str]:
    """The providers installed plugins added (offered by default, as the built-ins are)."""
    return enrol_plugins()


def broken() -> list[BrokenPlugin]:
    """The plugins skipped so far, with their reasons (both groups loaded first)."""
    load_strategies()
    return [*_broken, *broken_plugins()]


def reset() -> None:
    """Forget every plugin (registry entries and skips) so that the next load reads the installed
    packages again: for tests that install one, and after installing a package into a live process."""
    global _added
    from reasoning.strategies.base import REGISTRY

    for name in _added or []:
        REGISTRY.pop(name, None)
    _added = None
    _broken.clear()
    forget_plugins()


__all__ = ["PROVIDER_GROUP", "STRATEGY_GROUP", "BrokenPlugin", "broken", "load_providers", "load_strategies",
           "provider_names", "reset"]
