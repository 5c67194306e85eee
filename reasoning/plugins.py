"""Strategies and providers from installed packages, found through entry points.

A package adds a strategy by declaring, in its pyproject.toml,

    [project.entry-points."budget_arena.strategies"]
    my_strategy = "my_package.module:MyStrategy"     # a @dataclass with `name` and `solve`

and a provider by

    [project.entry-points."budget_arena.providers"]
    myprov = "my_package.module:INFO"                # a ProviderInfo whose `build` makes a Model

A plugin strategy joins reasoning.strategies' registry after the built-ins, so the UI, the CLI and
the contract tests list it as they list a built-in; a plugin provider joins the provider table that
get_model reads. A plugin that fails to import, is of the wrong type or takes a name a built-in (or
an earlier plugin) holds is skipped with a logged warning and kept in `broken()`, with its reason:
one bad package never stops the app.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
from dataclasses import dataclass

STRATEGY_GROUP = "budget_arena.strategies"
# The providers' group is reasoning.models.providers.PLUGIN_GROUP, imported where it is used: that
# module's package imports this one, and reasoning.config reads the group without loading plugins.

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokenPlugin:
    group: str  # STRATEGY_GROUP or reasoning.models.providers.PLUGIN_GROUP
    name: str  # the entry point's name
    value: str  # where it points: "package.module:attribute"
    reason: str


_broken: dict[str, list[BrokenPlugin]] = {}  # by group, filled once per group until reset()
_added: dict[str, list[str]] = {}  # by group: the names this module put in a registry


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name)


def _skip(group: str, ep: importlib.metadata.EntryPoint, reason: str) -> None:
    log.warning("plugin %s = %s (%s) skipped: %s", ep.name, ep.value, group, reason)
    _broken[group].append(BrokenPlugin(group, ep.name, ep.value, reason))


def _load(ep: importlib.metadata.EntryPoint, group: str) -> object | None:
    try:
        return ep.load()
    except Exception as exc:  # any failure of third-party code at import is that plugin's fault
        _skip(group, ep, f"cannot be imported: {type(exc).__name__}: {exc}")
        return None


def load_strategies() -> None:
    """Register the strategies of installed plugins (once; reset() forgets them)."""
    if STRATEGY_GROUP in _broken:
        return
    from reasoning.strategies.base import REGISTRY, register

    _broken[STRATEGY_GROUP], _added[STRATEGY_GROUP] = [], []
    for ep in _entry_points(STRATEGY_GROUP):
        cls = _load(ep, STRATEGY_GROUP)
        if cls is None:
            continue
        if not isinstance(cls, type) or not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "solve", None)):
            _skip(STRATEGY_GROUP, ep, f"{ep.value} is not a strategy (a dataclass with solve(problem, ctx))")
            continue
        name = getattr(cls, "name", "")
        if not name:
            _skip(STRATEGY_GROUP, ep, f"{ep.value} has no class-level `name`")
        elif name in REGISTRY:
            _skip(STRATEGY_GROUP, ep, f"the name {name!r} is taken by {REGISTRY[name].__module__}")
        else:
            register(cls)
            _added[STRATEGY_GROUP].append(name)


def load_providers() -> None:
    """Add the providers of installed plugins to the provider table (once; reset() forgets them)."""
    from reasoning.models.providers import PLUGIN_GROUP as PROVIDER_GROUP
    from reasoning.models.providers import PROVIDER_INFO, ProviderInfo

    if PROVIDER_GROUP in _broken:
        return

    _broken[PROVIDER_GROUP], _added[PROVIDER_GROUP] = [], []
    for ep in _entry_points(PROVIDER_GROUP):
        info = _load(ep, PROVIDER_GROUP)
        if info is None:
            continue
        if not isinstance(info, ProviderInfo) or not callable(info.build):
            _skip(PROVIDER_GROUP, ep, f"{ep.value} is not a ProviderInfo with a build function")
        elif not info.name or ":" in info.name:
            _skip(PROVIDER_GROUP, ep, f"{ep.value} has no usable name (a model spec's prefix, no ':')")
        elif info.name != ep.name:
            _skip(PROVIDER_GROUP, ep, f"its ProviderInfo is named {info.name!r}, its entry point {ep.name!r}: "
                                      "they must be the same")
        elif info.name in PROVIDER_INFO:
            _skip(PROVIDER_GROUP, ep, f"the provider name {info.name!r} is taken")
        else:
            PROVIDER_INFO[info.name] = info
            _added[PROVIDER_GROUP].append(info.name)


def provider_names() -> list[str]:
    """The providers installed plugins added (offered by default, as the built-ins are)."""
    from reasoning.models.providers import PLUGIN_GROUP

    load_providers()
    return list(_added[PLUGIN_GROUP])


def broken() -> list[BrokenPlugin]:
    """The plugins skipped so far, with their reasons (both groups loaded first)."""
    from reasoning.models.providers import PLUGIN_GROUP

    load_strategies()
    load_providers()
    return [b for group in (STRATEGY_GROUP, PLUGIN_GROUP) for b in _broken[group]]


def reset() -> None:
    """Forget every plugin (registry entries and skips) so that the next load reads the installed
    packages again: for tests that install one, and after installing a package into a live process."""
    from reasoning.models.providers import PLUGIN_GROUP, PROVIDER_INFO
    from reasoning.strategies.base import REGISTRY

    for name in _added.pop(STRATEGY_GROUP, []):
        REGISTRY.pop(name, None)
    for name in _added.pop(PLUGIN_GROUP, []):
        PROVIDER_INFO.pop(name, None)
    _broken.clear()
