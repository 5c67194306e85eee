"""What the engine knows about each provider, in one place: where a host's key would be, whether it
needs one, whether its calls cost money, and the models the app suggests.

reasoning.models (get_model), reasoning.redaction (the key variables), reasoning.provider_pacing
(which provider a model is) and app.controls (the model picker) read this table. A module of its
own, below them all: reasoning.redaction may import it without importing a provider's SDK.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reasoning.model_protocol import Model

PLUGIN_GROUP = "budget_arena.providers"  # the entry-point group of plugins' providers (reasoning.plugins)
NO_KEY = "not-needed"  # what a keyless OpenAI-compatible server is sent: the SDK insists on a key


@dataclass(frozen=True)
class ProviderInfo:
    name: str  # the prefix of a model spec: "openai" in "openai:gpt-4o-mini"
    key_env: str | None = None  # the environment variable a host's key is read from
    needs_key: bool = False
    free: bool = False  # runs on this machine: its calls cost $0
    suggested_models: tuple[str, ...] = ()  # offered in the app's model picker
    # A plugin's constructor (reasoning.plugins): build(model_name, **options) -> Model, the name
    # after the colon ("" when the spec has none). None for the built-ins, which get_model builds.
    build: Callable[..., Model] | None = None
    title: str = ""  # the model picker's label; the name when empty


PROVIDER_INFO: dict[str, ProviderInfo] = {p.name: p for p in (
    ProviderInfo("local", free=True),
    ProviderInfo("openai", "OPENAI_API_KEY", needs_key=True, suggested_models=(
        "gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "o4-mini")),
    ProviderInfo("anthropic", "ANTHROPIC_API_KEY", needs_key=True, suggested_models=(
        "claude-3-5-haiku-latest", "claude-sonnet-4-0", "claude-3-7-sonnet-latest")),
    ProviderInfo("fake", free=True),
)}

BUILT_IN = tuple(PROVIDER_INFO)  # reasoning.plugins adds to PROVIDER_INFO; a plugin never replaces these


def key_env_vars() -> tuple[str, ...]:
    """Every provider's key variable, plugins' included once loaded (get_model, app.controls and
    budget-arena strategies load them)."""
    return tuple(p.key_env for p in PROVIDER_INFO.values() if p.key_env)


def provider_of(model_name: str) -> str:
    """The provider part of a model spec or name: "openai" for "openai:gpt-4o-mini", "local" for "local"."""
    return model_name.partition(":")[0] if ":" in model_name else model_name


def plugin_provider_names() -> list[str]:
    """The provider names installed plugins declare (their entry points' names), without importing
    them: reasoning.config offers them by default, as it does the built-ins. reasoning.plugins
    enrols each one whose ProviderInfo carries the same name."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)} - set(BUILT_IN))
