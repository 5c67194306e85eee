"""The compare page: problem (typed or picked from a built-in dataset), strategies and knobs, model,
budget and worst-case cost; Run validates everything, submits to the runner and opens the run page.
Script thread only."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import streamlit as st

from app.controls import (
    CostEstimate,
    Entry,
    budget_inputs,
    ceilings_text,
    entry_inputs,
    estimate_cost,
    parse_budget,
    strategy_inputs,
    unsupported_entry,
    unsupported_strategies,
)
from app.form_fields import K, whole_number
from app.markdown_text import literal_markdown
from app.model_picker import ModelChoice, capability_model, model_inputs
from app.state import action_key, page_path, runner, take_run_slot
from app.uploads import UPLOAD_TYPES, read_upload
from reasoning.budget import Budget
from reasoning.config import Limits, get_settings
from reasoning.datasets import BUILTINS, GRADED, DatasetError, load_builtin
from reasoning.deployment_limits import LimitError, check_budget, check_entries
from reasoning.model_protocol import Model
from reasoning.strategies import strategy_names
from reasoning.tokens import count_text
from reasoning.wording import sentence
from storage.run_spec import RunSpec, RunSpecError, StrategySpec
from storage.store import StoreError

DATASET_SIZE = 20
START_DATASET, START_ITEM = GRADED, 0  # the problem a first visit starts with: one the bundled model can do
PICK_SOURCES = {"builtin": "Built-in dataset", "file": "Upload a file"}
UPLOADED = f"{K}uploaded"  # the parsed upload (or its error): kept, as the uploader empties on a page switch


@st.cache_data(show_spinner="Generating problems…", max_entries=16)
def builtin_items(name: str, size: int = DATASET_SIZE, seed: int = 0) -> list[dict[str, str]]:
    return [{"id": item.id, "problem": item.problem, "reference": item.reference}
            for item in load_builtin(name, size=size, seed=seed).items]


def _use_item(name: str, item: dict[str, str]) -> None:
    st.session_state[f"{K}problem"] = item["problem"]
    st.session_state[f"{K}reference"] = item["reference"]
    st.session_state[f"{K}picked"] = {"dataset": name, "item_id": item["id"], "problem": item["problem"],
                                      "reference": item["reference"]}


def _start_problem() -> None:
    """A first visit starts on a graded_arithmetic problem and its reference, so Run works at once
    and the bundled model has a fair chance at it."""
    if f"{K}problem" not in st.session_state:
        _use_item(START_DATASET, builtin_items(START_DATASET)[START_ITEM])


def _problem_edited() -> None:
    """A problem typed over a picked one must not be judged by the picked one's reference: drop it
    (when the user has not changed it) together with the dataset tag."""
    picked = st.session_state.get(f"{K}picked") or {}
    if picked and st.session_state.get(f"{K}problem") != picked.get("problem"):
        if st.session_state.get(f"{K}reference") == picked.get("reference"):
            st.session_state[f"{K}reference"] = ""
        st.session_state[f"{K}picked"] = None


def _read_upload() -> None:
    """The uploader changed: parse the new file with the command line's loader, or forget it."""
    upload = st.session_state.get(action_key(f"{K}upload"))
    if upload is None:
        st.session_state[UPLOADED] = None
        return
    try:
        dataset = read_upload(upload.name, upload.getvalue())
    except DatasetError as exc:
        st.session_state[UPLOADED] = {"error": str(exc)}
        return
    st.session_state[UPLOADED] = {
        "name": dataset.name, "file": upload.name, "digest": hashlib.sha256(upload.getvalue()).hexdigest()[:12],
        "items": [{"id": i.id, "problem": i.problem, "reference": i.reference} for i in dataset],
    }


def _dataset_picker() -> None:
    if not st.toggle("Pick a problem from a dataset", key=f"{K}pick"):
        return
    source = st.radio("Problems from", list(PICK_SOURCES), format_func=PICK_SOURCES.get, horizontal=True,
                      key=f"{K}pick_source", label_visibility="collapsed")
    left, right = st.columns([2, 3])
    if source == "builtin":
        name = left.selectbox("Dataset", list(BUILTINS), key=f"{K}dataset",
                              help="Generated offline and seeded: the same problems every time.")
        left.caption(BUILTINS[name])
        try:
            items = builtin_items(name)
        except DatasetError as exc:
            st.error(literal_markdown(str(exc)))
            return
        item_key = f"{K}item.{name}"
    else:
        left.file_uploader("Dataset file", type=list(UPLOAD_TYPES), key=action_key(f"{K}upload"),
                           on_change=_read_upload,
                           help="JSONL, JSON or CSV/TSV with a problem and an answer field (GSM8K and MATH as "
                                "published), or a .txt file of `problem || answer` lines.")
        uploaded = st.session_state.get(UPLOADED)
        if not uploaded:
            return
        if "error" in uploaded:
            left.error(literal_markdown(uploaded["error"]))
            return
        name, items = uploaded["name"], uploaded["items"]
        left.caption(literal_markdown(f"{uploaded['file']}: {len(items):,} problems"))
        item_key = f"{K}item.file.{uploaded['digest']}"
    index = right.selectbox("Problem from the dataset", range(len(items)), key=item_key,
                            format_func=lambda i: f"{i + 1}. {items[i]['problem'][:90]}")
    right.button("Use this problem", on_click=_use_item, args=(name, items[index]), key=action_key(f"{K}use_item"),
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
    with side:  # the model first: the strategy picker marks what it cannot run
        st.subheader("Model")
        choice = model_inputs(limits)
        model = capability_model(choice)
    with form:
        _start_problem()
        _dataset_picker()
        st.session_state.setdefault(f"{K}problem", "")
        st.session_state.setdefault(f"{K}reference", "")
        # No max_chars: the widget would cut a pasted problem silently; Run says what is too long.
        problem = st.text_area("Problem to solve", key=f"{K}problem", height=140, on_change=_problem_edited,
                               help=f"At most {limits.max_problem_chars:,} characters.",
                               placeholder="e.g. A train leaves at 3 pm at 60 km/h...")
        reference = st.text_input("Reference answer (optional)", key=f"{K}reference",
                                  help="With a reference, every answer is marked right or wrong.")
        strategies, knob_errors = strategy_inputs(limits, unsupported_strategies(model, strategy_names()))
        entries, entry_errors = entry_inputs(strategies, _typed_total_tokens())
    with side:
        st.subheader("Budget per strategy")
        budget, budget_errors = parse_budget(budget_inputs())
        ceilings = ceilings_text(limits)
        if ceilings:
            st.caption(literal_markdown(ceilings))
        if _shares_one_local_model(choice, budget, len(entries)):
            # The engine batches every call in flight and the seconds cap counts served time only
            # (reasoning.run.ServedClock), so a strategy's seconds do not run while others' calls do.
            st.caption("The local model decodes the strategies' calls together, a token each per step: a "
                       "strategy's seconds count only its share of that time, not its wait in the queue or "
                       "the model's load.")
        if choice is not None:
            st.caption(literal_markdown(_estimate(choice, budget, problem, entries, limits).text))
        clicked = st.button("Run", type="primary", icon=":material/play_arrow:", width="stretch", key="run_button")
    if not clicked:
        return
    run_budget, own_budgets, errors = _validate(problem, reference, entries, choice, model, budget, limits)
    errors = errors + knob_errors + entry_errors + budget_errors
    if not errors:
        try:  # last, so a refused form does not use up one of the session's runs
            take_run_slot(limits.runs_per_session_per_hour)
        except LimitError as exc:
            errors.append(sentence(exc))
    with side:
        for error in errors:
            st.error(literal_markdown(error))
    if errors or choice is None or run_budget is None:
        return
    _submit(problem, reference, entries, own_budgets, choice, run_budget)


def _shares_one_local_model(choice: ModelChoice | None, budget: Budget | None, strategies: int) -> bool:
    """Several strategies with a seconds cap on the local model, which they share."""
    return (choice is not None and choice.family == "local" and budget is not None
            and budget.seconds is not None and strategies > 1)


def _run_budget(budget: Budget | None, limits: Limits) -> Budget | None:
    """The budget the run would get (ceilings filled in), for the estimate; None if refused."""
    if budget is None:
        return None
    try:
        return check_budget(budget, limits)
    except LimitError:
        return None


def _typed_total_tokens() -> int | None:
    """The Total tokens field as it stands (drawn later on the page): the entries' default budget."""
    value = whole_number(st.session_state.get(f"{K}budget.total_tokens"))
    return value if isinstance(value, int) and value > 0 else None


def _validate(problem: str, reference: str, entries: list[Entry], choice: ModelChoice | None,
              model: Model | None, budget: Budget | None, limits: Limits,
              ) -> tuple[Budget | None, list[Budget | None], list[str]]:
    """reasoning.deployment_limits.check_entries (the checks every entry point shares: the texts, the entries,
    the model, each entry's caps against the ceilings and the prompt's size), then what only the
    form knows: the provider's readiness, whether each strategy can run on the model, and a price
    for a dollar cap. Returns the run's budget, each entry's own budget (None: the run's), errors."""
    errors: list[str] = []
    run_budget, own_budgets = None, [None for _ in entries]
    if choice is None:
        errors.append("No model provider is available.")
    elif budget is not None:
        try:
            run_budget, own_budgets = check_entries(problem, [(e.name, e.tokens) for e in entries], budget,
                                                    choice.spec, limits, reference=reference or None)
        except LimitError as exc:
            errors.append(sentence(exc))
    if choice is None:
        return run_budget, own_budgets, errors
    if not choice.ready.ready:
        errors.append(f"The model is not ready: {choice.ready.detail}.")
    elif run_budget is not None and run_budget.usd is not None and not _priced(choice, run_budget):
        errors.append(f"A dollar cap needs a known price, and none is known for {choice.spec}; use a token cap, "
                      "or add the model to the price override file.")
    unsupported = unsupported_entry(model, entries)
    if unsupported:  # it starts with the strategy's name, kept as written
        errors.append(unsupported if unsupported.endswith(".") else unsupported + ".")
    return run_budget, own_budgets, errors


def _priced(choice: ModelChoice, budget: Budget) -> bool:
    return estimate_cost(choice, budget, 0, 1).per_strategy is not None


def _estimate(choice: ModelChoice, budget: Budget | None, problem: str, entries: list[Entry],
              limits: Limits) -> CostEstimate:
    """The worst-case cost of the run as the form stands (each entry's caps, ceilings filled in)."""
    try:
        prompt_tokens = count_text(problem, choice.spec) if problem else 0
    except Exception:  # an unknown tokenizer must not break the form: estimate from characters
        prompt_tokens = len(problem) // 4
    run_budget = _run_budget(budget, limits)
    own = [_run_budget(replace(budget, total_tokens=e.tokens), limits) if budget is not None and e.tokens
           else None for e in entries]
    return estimate_cost(choice, run_budget, prompt_tokens, max(1, len(entries)), own)


def _submit(problem: str, reference: str, entries: list[Entry], own_budgets: list[Budget | None],
            choice: ModelChoice, budget: Budget) -> None:
    picked = st.session_state.get(f"{K}picked") or {}
    from_dataset = picked.get("problem") == problem
    spec = RunSpec(
        problem=problem,
        model=choice.spec,
        strategies=[StrategySpec(e.name, e.knobs, own) for e, own in zip(entries, own_budgets, strict=True)],
        budget=budget,
        reference=reference.strip() or None,
        model_options=choice.options,
        secrets=choice.secrets,
        dataset=picked.get("dataset") if from_dataset else None,
        item_id=picked.get("item_id") if from_dataset else None,
    )
    try:
        run_id = runner().submit(spec)
    except (RunSpecError, StoreError) as exc:  # StoreError: the store cannot take the run (full, read-only)
        st.error(literal_markdown(str(exc)))
        return
    st.switch_page(page_path("run"), query_params={"run": run_id})
