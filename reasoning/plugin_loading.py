"""Entry points of installed packages, loaded so that one bad package never stops the app: a plugin
that fails to import or is of the wrong kind is logged, skipped and kept with its reason.

reasoning.plugins enrols strategies with it, reasoning.models.providers providers. A module of its
own, below both: the provider table must not import reasoning.plugins, whose strategy loading
imports the engine that reads the provider table.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass

log = logging.getLogger("reasoning.plugins")  # one logger for every plugin warning


@dataclass(frozen=True)
class BrokenPlugin:
    group: str  # the entry-point group: reasoning.plugins.STRATEGY_GROUP or reasoning.models.providers.PLUGIN_GROUP
    name: str  # the entry point's name
    value: str  # where it points: "package.module:attribute"
    reason: str


def installed(group: str) -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, by name (a stable order: the first of two clashing names wins)."""
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name)


def skip(ep: importlib.metadata.EntryPoint, reason: str, broken: list[BrokenPlugin]) -> None:
    log.warning("plugin %s = %s (%s) skipped: %s", ep.name, ep.value, ep.group, reason)
    broken.append(BrokenPlugin(ep.group, ep.name, ep.value, reason))


def load(ep: importlib.metadata.EntryPoint, broken: list[BrokenPlugin]) -> object | None:
    """What the entry point names, or None (and a BrokenPlugin in `broken`) when it cannot be imported."""
    try:
        return ep.load()
    except Exception as exc:  # any failure of third-party code at import is that plugin's fault
        skip(ep, f"cannot be imported: {type(exc).__name__}: {exc}", broken)
        return None
