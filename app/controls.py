"""The compare form's other controls: strategies and their knobs, the budget, entries (a strategy
at budgets of its own) and the worst-case cost estimate. The model picker is app.model_picker.

The checks are plain functions (tested without Streamlit); the `*_inputs` functions draw the
widgets and must run on the script thread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.form_fields import WHOLE_FORMAT, K, set_default, whole_number
from app.markdown_text import literal_markdown
from app.model_picker import ModelChoice
from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.cost_estimate import CostEstimate, cap_bound_usd
from reasoning.deployment_limits import LimitError, check_supported
from reasoning.entries import entry_labels
from reasoning.model_protocol import Model
from reasoning.models.providers import is_free
from reasoning.prices import PriceFileError, price_for
from reasoning.strategies import knobs_of, make_strategy, strategy_names
from reasoning.strategies.base import Knob, StrategyConfigError, strategy_class
from reasoning.wording import number_text

DEFAULT_STRATEGIES = ("chain_of_thought", "self_consistency", "direct")
NOT_ON_MODEL = " (not on this model)"  # marks a strategy the chosen model cannot run, in the picker


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
    runs_here = is_free(choice.spec)  # the registry's: local (bundled or a GGUF file), fake, free plugins
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


def knob_input(strategy: str, knob: Knob) -> Any:
    """One knob's control, drawn from its type and metadata; returns the value entered."""
    key = f"{K}knob.{strategy}.{knob.name}"
    label = knob.name.replace("_", " ")
    default = knob.default
    if knob.type in (int, float) and default is not None and not knob.choices:
        default = float(default)  # number_input wants value, min and max of one type: see whole_number
    set_default(key, default)
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
    set_default(key, default_strategies(available))
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
        set_default(f"{K}budget.{cap}", value)
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
