"""The provider registry: one ProviderInfo per provider, built-ins and installed plugins alike, says
how to build its models, where a host's key would be, whether it needs one, whether its calls cost
money, the models the app suggests, and how hard it may be driven.

Readers: reasoning.models.get_model (build), the SDK providers (key and base-URL variables),
reasoning.prices (free), reasoning.tokens (model names tiktoken knows), reasoning.provider_pacing
(pacing), reasoning.redaction (the variables that hold secrets), reasoning.config (the providers a
deployment offers by default), reasoning.deployment_limits (test doubles, model files),
reasoning.sweep (concurrency) and the app's model picker. A
module below them all that imports no provider's SDK: a built-in names its constructor as
"module:function", imported when its first model is built.

Plugins (entry-point group `budget_arena.providers`, each a ProviderInfo named like its entry point)
join the table on the first lookup through `provider_info`, `providers` or the functions built on
them, never at import: a plugin's module may import the engine, which imports this module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reasoning.plugin_loading import BrokenPlugin, installed, load, skip

if TYPE_CHECKING:
    from reasoning.model_protocol import Model

PLUGIN_GROUP = "budget_arena.providers"  # the entry-point group of plugins' providers
NO_KEY = "not-needed"  # what a keyless OpenAI-compatible server is sent: the SDK insists on a key
CONCURRENCY = 4  # calls a sweep keeps in flight on a provider by default: a few, paced by its rate limit


@dataclass(frozen=True)
class ProviderInfo:
    name: str  # the prefix of a model spec: "openai" in "openai:gpt-4o-mini"
    key_env: str | None = None  # the environment variable a host's key is read from
    needs_key: bool = False
    free: bool = False  # its calls cost $0 whatever the model (it runs on this machine)
    suggested_models: tuple[str, ...] = ()  # offered in the app's model picker
    # How get_model builds a model: build(model_name, **options) -> Model, the name after the colon
    # ("" when the spec has none). A function, or "package.module:function", imported on first use.
    build: Callable[..., Model] | str | None = None
    title: str = ""  # the model picker's label; the name when empty
    tiktoken_names: bool = False  # its model names are OpenAI's, whose encodings tiktoken's table knows
    requests_per_minute: float | None = None  # calls paced to this rate by default; None: not paced
    base_url_env: str | None = None  # where a server's URL is read from (it may carry credentials)
    concurrency: int = CONCURRENCY  # calls a sweep keeps in flight by default
    # Its model names are paths of model files on this machine (GGUF), apart from the names of the
    # weights it ships (and the empty name, its default): a deployment's gguf_dirs decide which
    # files may run, not its list of models.
    model_files: bool = False
    bundled_models: tuple[str, ...] = ()
    # A scripted stand-in for tests and demos: not among the providers a deployment offers by
    # default (the app shows it when the host enables it), and never refused for not being among
    # them, as it reaches no service and costs nothing (a host's list of models still binds it).
    test_double: bool = False

    def builder(self) -> Callable[..., Model]:
        """The function that builds this provider's models (its module imported now if named)."""
        if callable(self.build):
            return self.build
        module, _, function = (self.build or "").partition(":")
        return getattr(importlib.import_module(module), function)


PROVIDER_INFO: dict[str, ProviderInfo] = {p.name: p for p in (
    # Every local call in the process shares one llama.cpp engine: a sweep runs one cell at a time on it.
    # "smollm2" is reasoning.models.local.DEFAULT_NAME (not imported here: it loads no SDK).
    ProviderInfo("local", free=True, build="reasoning.models.local:build", concurrency=1,
                 model_files=True, bundled_models=("smollm2",)),
    ProviderInfo("openai", "OPENAI_API_KEY", needs_key=True, build="reasoning.models.openai:build",
                 base_url_env="OPENAI_BASE_URL", tiktoken_names=True, requests_per_minute=500,
                 suggested_models=("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "o4-mini")),
    ProviderInfo("anthropic", "ANTHROPIC_API_KEY", needs_key=True, build="reasoning.models.anthropic:build",
                 base_url_env="ANTHROPIC_BASE_URL", requests_per_minute=50,
                 suggested_models=("claude-3-5-haiku-latest", "claude-sonnet-4-0", "claude-3-7-sonnet-latest")),
    ProviderInfo("fake", free=True, build="reasoning.models.fake:build", concurrency=16, test_double=True),
)}

BUILT_IN = tuple(PROVIDER_INFO)  # plugins are added after these and never replace one


def provider_info(name: str) -> ProviderInfo | None:
    """The provider a spec's prefix names (plugins enrolled first), or None."""
    if _enrolled is None:
        enrol_plugins()
    return PROVIDER_INFO.get(name)


def providers() -> list[ProviderInfo]:
    """Every provider: the built-ins, then installed plugins'."""
    if _enrolled is None:
        enrol_plugins()
    return list(PROVIDER_INFO.values())


def key_env_vars() -> tuple[str, ...]:
    """Every provider's key variable, plugins' included."""
    return tuple(p.key_env for p in providers() if p.key_env)


def base_url_env_vars() -> tuple[str, ...]:
    """Every provider's base-URL variable, plugins' included."""
    return tuple(p.base_url_env for p in providers() if p.base_url_env)


def is_free(model_name: str) -> bool:
    """Whether the model's provider runs it at no cost ("local:...", "fake"), plugins' included."""
    info = provider_info(provider_of(model_name.strip()))
    return info is not None and info.free


def default_offered() -> list[str]:
    """The providers a deployment offers when its host names none (reasoning.config.Limits): every
    provider but test doubles, built-ins first. A plugin that another thread (or the plugin itself,
    reading the settings as it is imported) is still enrolling is offered by its entry point's name
    meanwhile, as plugins are unless they declare otherwise; a broken one is not."""
    names = [p.name for p in providers() if not p.test_double]
    skipped = {b.name for b in _broken}
    return names + [n for n in plugin_provider_names() if n not in PROVIDER_INFO and n not in skipped]


def provider_of(model_name: str) -> str:
    """The provider part of a model spec or name: "openai" for "openai:gpt-4o-mini", "local" for "local"."""
    return model_name.partition(":")[0] if ":" in model_name else model_name


# ---- plugins -------------------------------------------------------------------------------------

_enrolled: list[str] | None = None  # the plugin providers added to PROVIDER_INFO; None: not loaded yet
_broken: list[BrokenPlugin] = []
_enrolling = threading.RLock()  # runner threads may look providers up at once


def plugin_provider_names() -> list[str]:
    """The provider names installed plugins declare (their entry points' names), without importing them."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)} - set(BUILT_IN))


def enrol_plugins() -> list[str]:
    """Add installed plugins' providers to the table (once; forget_plugins() undoes it) and return
    their names. A plugin whose object is not a ProviderInfo with a build, whose name is not its entry
    point's, or whose name is taken is skipped and kept in broken_plugins() with the reason."""
    global _enrolled
    with _enrolling:
        if _enrolled is not None:
            return list(_enrolled)
        # Set before any plugin is imported: one that looks a provider up meanwhile sees the table
        # as it stands, it does not start a second load.
        _enrolled = added = []
        for ep in installed(PLUGIN_GROUP):
            _enrol(ep, added)
        return list(added)


def _enrol(ep: importlib.metadata.EntryPoint, added: list[str]) -> None:
    info = load(ep, _broken)
    if info is None:
        return
    if not isinstance(info, ProviderInfo) or not (callable(info.build) or isinstance(info.build, str)):
        skip(ep, f"{ep.value} is not a ProviderInfo with a build function", _broken)
    elif not info.name or ":" in info.name:
        skip(ep, f"{ep.value} has no usable name (a model spec's prefix, no ':')", _broken)
    elif info.name != ep.name:
        skip(ep, f"its ProviderInfo is named {info.name!r}, its entry point {ep.name!r}: they must be the same",
             _broken)
    elif info.name in PROVIDER_INFO:
        skip(ep, f"the provider name {info.name!r} is taken", _broken)
    else:
        PROVIDER_INFO[info.name] = info
        added.append(info.name)


def broken_plugins() -> list[BrokenPlugin]:
    enrol_plugins()
    return list(_broken)


def forget_plugins() -> None:
    """Drop the enrolled plugins and their skips, so the next lookup reads the installed packages again."""
    global _enrolled
    with _enrolling:
        for name in _enrolled or []:
            PROVIDER_INFO.pop(name, None)
        _enrolled = None
        _broken.clear()
