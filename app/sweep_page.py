"""The Sweep page: problems (a built-in dataset, an uploaded file or pasted lines), strategies (with
knobs), a budget grid and a model; Start runs the sweep in a background thread of the app process
(storage.sweeps.start_sweep), so it survives reruns and page changes, and a progress bar follows it
(app/sweep_progress.py). The form is checked as `budget-arena sweep` checks its options
(app/sweep_request.py). Every finished cell is a run in the store, so the results appear on the
Leaderboard as they come. Script thread only.

Starting the same grid again resumes it (the sweep id is the plan's hash; an upload is kept under a
name made of its content's hash, so the same file is the same sweep). "Try the demo sweep" runs
app.demo's plan on the bundled model and opens its leaderboard. On a deployment that limits runs per
session, sweeps are left to the command line: a sweep is hundreds of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from app.controls import strategy_inputs
from app.demo import DemoSizeError, demo_plan
from app.form_fields import WHOLE_FORMAT, whole_number
from app.markdown_text import literal_markdown
from app.model_picker import ModelChoice, model_inputs
from app.state import action_key, store
from app.sweep_progress import ACTIVE, OPEN_WHEN_DONE, S, follow_sweeps
from app.sweep_request import MAX_BUILTIN_PROBLEMS, MAX_REPEATS, checked_plan, whole_count
from app.uploads import (
    PASTE_HINT,
    UPLOAD_TYPES,
    count_pasted,
    load_saved,
    pasted_name,
    save_pasted,
    save_upload,
    spec_of,
    upload_path,
)
from reasoning.budget import CAP_NAMES
from reasoning.config import Limits, get_settings
from reasoning.datasets import BUILTINS, DEFAULT_BUILTIN_SIZE, GRADED, Dataset, DatasetError, load_dataset
from reasoning.deployment_limits import LimitError, check_budget, check_model
from reasoning.models import ModelConfigError
from reasoning.strategies.base import StrategyConfigError
from reasoning.sweep import default_concurrency
from reasoning.sweep_plan import SweepPlan, SweepPlanError
from reasoning.wording import plural, sentence
from storage.sweeps import (
    PreparedSweep,
    SweepBusy,
    get_sweep,
    prepare_sweep,
    start_sweep,
)

UPLOADED = f"{S}uploaded"  # the saved upload ({spec, file, count} or {error}): the uploader empties on a page switch
SOURCES = {"builtin": "Built-in dataset", "file": "Upload a file", "paste": "Paste problems"}
DEFAULT_BUDGETS = "256, 1024, 4096"
CAP_LABELS = {"total_tokens": "total tokens", "output_tokens": "output tokens", "usd": "dollars",
              "seconds": "seconds"}


@st.cache_resource(show_spinner="Reading the problems…", max_entries=8)
def sweep_dataset(spec: str, size: int | None, seed: int) -> Dataset:
    """The dataset a plan names, by the command line's loader (an upload's errors name its file)."""
    if spec.startswith("file:"):
        return load_saved(Path(spec.removeprefix("file:")), size=size, seed=seed)
    return load_dataset(spec, size=size, seed=seed)


# Count fields are float fields shown as whole numbers, as the Compare page's token caps are:
# Streamlit reads an int field with parseInt, which turns a typed "1e12" into 1 without a word; a
# float field keeps 1e12, which the plan check (app.sweep_request) then refuses with the reason.
Number = float | int | None


@dataclass(frozen=True)
class Problems:
    """Where the sweep's problems come from: a load_dataset spec, how many (as typed; None: the
    dataset's default or all), and (pasted problems) the text to save as the spec's file when the
    sweep starts. `count` is how many the sweep runs when the fields are valid."""

    spec: str
    size: Number
    seed: Number
    count: int
    pasted: str = ""


@dataclass(frozen=True)
class SweepForm:
    dataset: str
    size: Number  # the fields as typed: checked by plan_from_form
    seed: Number
    strategies: list[tuple[str, dict[str, Any]]]
    budgets_text: str
    cap: str
    repeats: Number
    choice: ModelChoice | None
    concurrency: Number
    max_usd: float | None
    problems: int = 0  # how many problems the sweep runs (0: size)
    pasted: str = ""


def plan_from_form(form: SweepForm, limits: Limits) -> tuple[SweepPlan | None, list[str]]:
    """The plan the form describes, by the check `budget-arena sweep` makes (app.sweep_request:
    counts, budget grid, deployment limits); or the errors."""
    errors: list[str] = []
    if form.choice is None:
        return None, ["No model provider is available."]
    if not form.choice.ready.ready:
        errors.append(f"The model is not ready: {form.choice.ready.detail}.")
    try:
        whole_count(form.concurrency, "runs at once", 1, limits.max_concurrent_runs)
    except SweepPlanError as exc:
        errors.append(sentence(exc))
    try:
        plan = checked_plan(dataset=form.dataset, strategies=form.strategies, budgets=[form.budgets_text],
                            cap=form.cap, model=form.choice.spec, limits=limits, size=form.size, seed=form.seed,
                            repeats=form.repeats, model_options=form.choice.options)
    except (SweepPlanError, LimitError) as exc:
        return None, [*errors, sentence(exc)]
    return (None if errors else plan), errors


def render_sweep_page() -> None:
    limits = get_settings().limits
    st.title("Sweep")
    st.caption("Run every problem of a dataset with each strategy at each budget, then compare them on the "
               "Leaderboard. The sweep runs in the background: leave the page or start another and it carries on.")
    if limits.runs_per_session_per_hour is not None:
        st.info("This server limits runs per session, and a sweep is hundreds of runs, so sweeps are off here. "
                "Run them from the command line: `budget-arena sweep basic_arithmetic -b 256,1024`.")
        follow_sweeps()
        return
    _demo_offer(limits)
    form = _form(limits)
    if form is not None and st.button("Start sweep", type="primary", icon=":material/play_arrow:",
                                      key="sweep_start"):
        _start(form, limits)
    follow_sweeps()


# ---- the demo ----------------------------------------------------------------------------------


def _demo_offer(limits: Limits) -> None:
    try:
        plan = demo_plan()
    except DemoSizeError as exc:
        st.error(literal_markdown(sentence(exc)))
        return
    size = plan.size or 0
    with st.container(border=True):
        text, button = st.columns([4, 1], vertical_alignment="center")
        text.markdown(literal_markdown(
            f"New here? The demo sweeps {size} {GRADED} problems with direct, chain_of_thought and "
            f"self_consistency at {' and '.join(f'{b.total_tokens:,}' for b in plan.budgets)} tokens on the bundled "
            "model (a few minutes on 2 cores: 7 min measured on a busy machine), then opens its leaderboard."))
        if button.button("Try the demo sweep", icon=":material/rocket_launch:", key="sweep_demo", width="stretch"):
            _start_demo(limits)


def _start_demo(limits: Limits) -> None:
    try:
        plan = demo_plan()
        plan = SweepPlan.from_dict({**plan.as_dict(),
                                    "budgets": [check_budget(b, limits).as_dict() for b in plan.budgets]})
        check_model(plan.model, limits)
        dataset = sweep_dataset(plan.dataset, plan.size, plan.seed)
        with st.spinner("Preparing the demo (loading the bundled model)…"):
            prepared = prepare_sweep(plan, store=store(), dataset=dataset, concurrency=1)
        handle = start_sweep(prepared)
    except (DemoSizeError, LimitError, SweepPlanError, DatasetError, ModelConfigError, StrategyConfigError,
            SweepBusy) as exc:
        st.error(literal_markdown(sentence(exc)))
        return
    st.session_state[ACTIVE] = handle.sweep_id
    st.session_state[OPEN_WHEN_DONE] = handle.sweep_id
    _note_estimate(prepared)


# ---- the form ----------------------------------------------------------------------------------


def _form(limits: Limits) -> SweepForm | None:
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Problems")
        problems, problem_errors = _problems()
        st.subheader("Strategies")
        strategies, knob_errors = strategy_inputs(limits)
        st.subheader("Budgets")
        d, e, f = st.columns([3, 2, 1])
        budgets_text = d.text_input("Budget grid", key=_default(f"{S}budgets", DEFAULT_BUDGETS),
                                    help="Comma-separated; each value is one budget per strategy run.")
        cap = e.selectbox("Each value caps", list(CAP_NAMES), format_func=CAP_LABELS.get, key=f"{S}cap")
        repeats = f.number_input("Repeats", step=1.0, format=WHOLE_FORMAT, key=_default(f"{S}repeats", 1.0),
                                 help=f"Runs of each problem x strategy x budget (1 to {MAX_REPEATS}).")
    with right:
        st.subheader("Model")
        choice = model_inputs(limits)
        st.subheader("Running")
        spec = choice.spec if choice is not None else "local"
        g, h = st.columns(2)
        suggested = min(default_concurrency(spec), limits.max_concurrent_runs)
        concurrency = g.number_input(  # one field per suggestion: a new kind of model starts at its own
            "Runs at once", step=1.0, format=WHOLE_FORMAT, key=_default(f"{S}concurrency.{suggested}", float(suggested)),
            help=f"Strategy runs in flight at once (1 to {limits.max_concurrent_runs}); a local model answers one "
                 "call at a time whatever this is.")
        max_usd = float(h.number_input("Dollar cap for the sweep", min_value=0.0, step=0.5,
                                       format="%.2f", key=_default(f"{S}max_usd", 0.0),
                                       help="The sweep stops before it could spend more; 0 = no cap."))
    for error in [*problem_errors, *knob_errors]:
        st.error(literal_markdown(error))
    if knob_errors or problems is None:
        return None
    form = SweepForm(problems.spec, whole_number(problems.size), whole_number(problems.seed), strategies,
                     budgets_text, cap, whole_number(repeats), choice, whole_number(concurrency), max_usd or None,
                     problems=problems.count, pasted=problems.pasted)
    _estimate(form, limits, right)
    return form


def _problems() -> tuple[Problems | None, list[str]]:
    """The problems part of the form: a built-in set, an uploaded file or pasted lines."""
    source = st.radio("Problems from", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      key=f"{S}source", label_visibility="collapsed")
    if source == "builtin":
        names = list(BUILTINS)
        a, b, c = st.columns([3, 1, 1])
        dataset = a.selectbox("Dataset", names, key=_default(f"{S}dataset", GRADED),
                              help="Built-in sets generated offline and seeded: the same problems every time.")
        size = b.number_input("Problems", step=5.0, format=WHOLE_FORMAT,
                              key=_default(f"{S}size", float(DEFAULT_BUILTIN_SIZE)),
                              help=f"How many problems to generate (1 to {MAX_BUILTIN_PROBLEMS:,}).")
        seed = _seed(c, "Another seed generates other problems.")
        st.caption(BUILTINS[dataset])
        return Problems(dataset, size, seed, _count(size)), []
    a, b, c = st.columns([3, 1, 1])
    subset = b.number_input("Problems", step=5.0, format=WHOLE_FORMAT, key=_default(f"{S}subset", 0.0),
                            help="A seeded random subset of this many problems; 0 = all of them.")
    seed = _seed(c, "Which problems a subset picks.")
    if source == "file":
        a.file_uploader("Dataset file", type=list(UPLOAD_TYPES), key=action_key(f"{S}upload"),
                        on_change=_save_upload,
                        help="JSONL, JSON or CSV/TSV with a problem and an answer field (GSM8K and MATH as "
                             "published), or a .txt file of `problem || answer` lines: what `budget-arena sweep "
                             "FILE` reads.")
        uploaded = st.session_state.get(UPLOADED)
        if not uploaded:
            return None, []
        if "error" in uploaded:
            return None, [uploaded["error"]]
        count = min(_count(subset) or uploaded["count"], uploaded["count"])
        st.caption(literal_markdown(f"{uploaded['file']}: {uploaded['count']:,} problems"))
        return Problems(uploaded["spec"], subset or None, seed, count), []
    text = a.text_area("Problems, one per line", key=f"{S}paste", height=140, help=PASTE_HINT,
                       placeholder="What is 7 * 4? || 28\nWhat is 35 + 48? || 83")
    if not text.strip():
        return None, []
    try:
        total = count_pasted(text)
    except DatasetError as exc:
        return None, [f"{exc}."]
    path = upload_path(pasted_name(text), text.encode())
    return Problems(spec_of(path), subset or None, seed, min(_count(subset) or total, total), pasted=text), []


def _seed(where: Any, help_text: str) -> Number:
    return where.number_input("Seed", step=1.0, format=WHOLE_FORMAT, key=_default(f"{S}seed", 0.0), help=help_text)


def _count(value: Number) -> int:
    """A count field's value for the estimate: the whole number typed, else 0 (the check refuses it)."""
    number = whole_number(value)
    return number if isinstance(number, int) and number > 0 else 0


def _default(key: str, value: Any) -> str:
    """A field's first value, set in session state rather than by the widget's `value=`: the form's
    values are written back on every run (app.state.keep_form_state), and Streamlit warns about a
    widget given both."""
    st.session_state.setdefault(key, value)
    return key


def _save_upload() -> None:
    """The uploader changed: keep the file (by content hash) and read it with the command line's
    loader, or forget it."""
    upload = st.session_state.get(action_key(f"{S}upload"))
    if upload is None:
        st.session_state[UPLOADED] = None
        return
    path = save_upload(upload.name, upload.getvalue())
    try:
        count = len(load_saved(path))
    except DatasetError as exc:
        st.session_state[UPLOADED] = {"error": f"{exc}."}  # as the command line says it, file name first
        return
    st.session_state[UPLOADED] = {"spec": spec_of(path), "file": upload.name, "count": count}


def _estimate(form: SweepForm, limits: Limits, where: Any) -> None:
    plan, errors = plan_from_form(form, limits)
    if plan is None:
        if errors:
            where.caption(literal_markdown(" ".join(errors)))
        return
    problems = form.problems or form.size or 0
    cells = problems * len(plan.strategies) * len(plan.budgets) * plan.repeats
    text = (f"{plural(problems, 'problem')} x {plural(len(plan.strategies), 'strategy')} x "
            f"{plural(len(plan.budgets), 'budget')}" + (f" x {plan.repeats} repeats" if plan.repeats > 1 else "")
            + f" = {plural(cells, 'strategy run')}.")
    existing = get_sweep(plan.sweep_id, store=store())
    if existing is not None and existing.completed:
        text += f" {existing.done:,} done before: starting resumes it."
    where.caption(literal_markdown(text))
    if problems and len(plan.strategies) > 1:  # how big a difference these problems can show
        from app.head_to_head import detectable_sentence

        where.caption(literal_markdown(detectable_sentence(problems)))


def _start(form: SweepForm, limits: Limits) -> None:
    plan, errors = plan_from_form(form, limits)
    for error in errors:
        st.error(literal_markdown(error))
    if plan is None or form.choice is None:
        return
    try:
        if form.pasted:
            save_pasted(form.pasted)  # the file the plan's spec names
        dataset = sweep_dataset(plan.dataset, plan.size, plan.seed)
        with st.spinner("Preparing the sweep (loading the model)…"):
            prepared = prepare_sweep(plan, store=store(), dataset=dataset, secrets=form.choice.secrets,
                                     concurrency=form.concurrency, max_usd=form.max_usd)
        handle = start_sweep(prepared)
    except (SweepPlanError, DatasetError, ModelConfigError, StrategyConfigError, SweepBusy) as exc:
        st.error(literal_markdown(sentence(exc)))
        return
    st.session_state[ACTIVE] = handle.sweep_id
    st.session_state.pop(OPEN_WHEN_DONE, None)
    _note_estimate(prepared)


def _note_estimate(prepared: PreparedSweep) -> None:
    done, remaining = prepared.remaining_estimate()
    st.toast(f"Sweep started: {remaining.text}" + (f" ({done} done before)" if done else ""))
