"""The compare page: problem (typed or picked from a built-in dataset), strategies and knobs, model,
budget and worst-case cost; Run validates everything, submits to the runner and opens the run page.
Script thread only."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.controls import (
    K,
    ModelChoice,
    budget_inputs,
    check_problem,
    check_strategies,
    estimate_cost,
    model_inputs,
    parse_budget,
    strategy_inputs,
)
from app.panes import literal_markdown
from app.state import page_path, record_run_started, runner, runs_left_this_hour
from reasoning.config import get_settings
from reasoning.datasets import BUILTINS, DatasetError, load_builtin
from reasoning.tokens import count_text
from storage.runner import RunSpec, RunSpecError, StrategySpec

DATASET_SIZE = 20


@st.cache_data(show_spinner="Generating problems…", max_entries=16)
def builtin_items(name: str, size: int = DATASET_SIZE, seed: int = 0) -> list[dict[str, str]]:
    return [{"id": item.id, "problem": item.problem, "reference": item.reference}
            for item in load_builtin(name, size=size, seed=seed).items]


def _use_item(name: str, item: dict[str, str]) -> None:
    st.session_state[f"{K}problem"] = item["problem"]
    st.session_state[f"{K}reference"] = item["reference"]
    st.session_state[f"{K}picked"] = {"dataset": name, "item_id": item["id"], "problem": item["problem"]}


def _dataset_picker() -> None:
    if not st.toggle("Pick a problem from a built-in dataset", key=f"{K}pick"):
        return
    left, right = st.columns([2, 3])
    name = left.selectbox("Dataset", list(BUILTINS), key=f"{K}dataset", help="Generated offline by reasoning-gym.")
    left.caption(BUILTINS[name])
    try:
        items = builtin_items(name)
    except DatasetError as exc:
        st.error(str(exc))
        return
    index = right.selectbox("Problem", range(len(items)), key=f"{K}item.{name}",
                            format_func=lambda i: f"{i + 1}. {items[i]['problem'][:90]}")
    right.button("Use this problem", on_click=_use_item, args=(name, items[index]), key=f"{K}use_item",
                 help="Fills the problem and its reference answer.")


def render_compare_page() -> None:
    shared = st.query_params.get("run")
    if shared:  # a share link to the landing page: show the run
        st.switch_page(page_path("run"), query_params={"run": shared})
    settings = get_settings()
    limits = settings.limits
    st.title("Budget Arena")
    st.caption("Run reasoning strategies side by side on one problem under one budget, and watch what "
               "each buys with it.")
    form, side = st.columns([3, 2], gap="large")
    with form:
        _dataset_picker()
        st.session_state.setdefault(f"{K}problem", "")
        st.session_state.setdefault(f"{K}reference", "")
        problem = st.text_area("Problem", key=f"{K}problem", height=140, max_chars=limits.max_problem_chars,
                               placeholder="e.g. A train leaves at 3 pm at 60 km/h...")
        reference = st.text_input("Reference answer (optional)", key=f"{K}reference",
                                  help="With a reference, every answer is marked right or wrong.")
        strategies, knob_errors = strategy_inputs(limits)
    with side:
        st.subheader("Model")
        choice = model_inputs(limits)
        st.subheader("Budget per strategy")
        budget_values = budget_inputs()
        budget, budget_errors = parse_budget(budget_values, limits)
        if choice is not None:
            st.caption(literal_markdown(_estimate(choice, budget, problem, len(strategies)).text))
        clicked = st.button("Run", type="primary", icon=":material/play_arrow:", width="stretch", key="run_button")
    if not clicked:
        return
    errors = check_problem(problem, limits) + check_strategies([n for n, _ in strategies], limits)
    errors += knob_errors + budget_errors
    if choice is None:
        errors.append("No model provider is available.")
    elif not choice.ready.ready:
        errors.append(f"The model is not ready: {choice.ready.detail}.")
    elif budget is not None and budget.usd is not None and estimate_cost(choice, budget, 0, 1).per_strategy is None:
        errors.append(f"A dollar cap needs a known price, and none is known for {choice.spec}; use a token cap, "
                      "or add the model to the price override file.")
    left = runs_left_this_hour(limits.runs_per_session_per_hour)
    if left == 0:
        errors.append(f"This session has started {limits.runs_per_session_per_hour} runs in the past hour, the "
                      "most this server allows; try again later.")
    with side:
        for error in errors:
            st.error(literal_markdown(error))
    if errors or choice is None or budget is None:
        return
    _submit(problem, reference, strategies, choice, budget)


def _estimate(choice: ModelChoice, budget: Any, problem: str, count: int) -> Any:
    try:
        prompt_tokens = count_text(problem, choice.spec) if problem else 0
    except Exception:  # an unknown tokenizer must not break the form: estimate from characters
        prompt_tokens = len(problem) // 4
    return estimate_cost(choice, budget, prompt_tokens, max(1, count))


def _submit(problem: str, reference: str, strategies: list[tuple[str, dict[str, Any]]], choice: ModelChoice,
            budget: Any) -> None:
    picked = st.session_state.get(f"{K}picked") or {}
    from_dataset = picked.get("problem") == problem
    spec = RunSpec(
        problem=problem,
        model=choice.spec,
        strategies=[StrategySpec(name, knobs) for name, knobs in strategies],
        budget=budget,
        reference=reference.strip() or None,
        model_options=choice.options,
        secrets=choice.secrets,
        dataset=picked.get("dataset") if from_dataset else None,
        item_id=picked.get("item_id") if from_dataset else None,
    )
    try:
        run_id = runner().submit(spec)
    except RunSpecError as exc:
        st.error(literal_markdown(str(exc)))
        return
    record_run_started()
    st.switch_page(page_path("run"), query_params={"run": run_id})
