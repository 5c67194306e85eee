"""The Sweep page: pick a built-in dataset and its size, strategies (with knobs), a budget grid and a
model; Start runs the sweep in a background thread of the app process (storage.sweeps.start_sweep),
so it survives reruns and page changes, and a progress bar follows it. Every finished cell is a run
in the store, so the results appear on the Leaderboard as they come. Script thread only.

Starting the same grid again resumes it (the sweep id is the plan's hash). On a deployment that
limits runs per session, sweeps are left to the command line: a sweep is hundreds of runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.controls import ModelChoice, model_inputs, strategy_inputs
from app.panes import literal_markdown
from app.state import page_path, store
from reasoning.budget import CAP_NAMES
from reasoning.config import Limits, get_settings
from reasoning.datasets import BUILTINS, DEFAULT_BUILTIN_SIZE, Dataset, DatasetError, load_builtin
from reasoning.limits import LimitError, check_budget, check_model, check_strategies
from reasoning.models import ModelConfigError
from reasoning.strategies.base import StrategyConfigError
from reasoning.sweep import (
    StrategyChoice,
    SweepPlan,
    SweepPlanError,
    SweepProgress,
    default_concurrency,
    parse_budget_grid,
)
from storage.sweeps import (
    PreparedSweep,
    SweepBusy,
    SweepInfo,
    get_sweep,
    list_sweeps,
    prepare_sweep,
    start_sweep,
    sweep_handle,
)

S = "sw."  # prefix of this page's session-state keys
ACTIVE = f"{S}active"  # the sweep this session follows
MAX_SIZE = 500
DEFAULT_BUDGETS = "256, 1024, 4096"
CAP_LABELS = {"total_tokens": "total tokens", "output_tokens": "output tokens", "usd": "dollars",
              "seconds": "seconds"}
REFRESH_SECONDS = 1.0


@st.cache_resource(show_spinner="Generating problems…", max_entries=8)
def builtin_dataset(name: str, size: int, seed: int) -> Dataset:
    return load_builtin(name, size=size, seed=seed)


@dataclass(frozen=True)
class SweepForm:
    dataset: str
    size: int
    seed: int
    strategies: list[tuple[str, dict[str, Any]]]
    budgets_text: str
    cap: str
    repeats: int
    choice: ModelChoice | None
    concurrency: int
    max_usd: float | None


def plan_from_form(form: SweepForm, limits: Limits) -> tuple[SweepPlan | None, list[str]]:
    """The plan the form describes, checked by reasoning.limits like any request; or the errors."""
    errors: list[str] = []
    if form.choice is None:
        return None, ["No model provider is available."]
    if not form.choice.ready.ready:
        errors.append(f"The model is not ready: {form.choice.ready.detail}.")
    try:
        budgets = tuple(check_budget(b, limits) for b in parse_budget_grid([form.budgets_text], cap=form.cap))
        if not budgets:
            raise SweepPlanError("give at least one budget")
        check_strategies([name for name, _ in form.strategies], limits)
        check_model(form.choice.spec, limits)
        plan = SweepPlan(dataset=form.dataset, size=form.size, seed=form.seed, repeats=form.repeats,
                         strategies=tuple(StrategyChoice(name, knobs) for name, knobs in form.strategies),
                         budgets=budgets, model=form.choice.spec, model_options=dict(form.choice.options)).validate()
    except (SweepPlanError, LimitError) as exc:
        return None, [*errors, _sentence(exc)]
    return (None if errors else plan), errors


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def render_sweep_page() -> None:
    limits = get_settings().limits
    st.title("Sweep")
    st.caption("Run every problem of a dataset with each strategy at each budget, then compare them on the "
               "Leaderboard. The sweep runs in the background: leave the page or start another and it carries on.")
    if limits.runs_per_session_per_hour is not None:
        st.info("This server limits runs per session, and a sweep is hundreds of runs, so sweeps are off here. "
                "Run them from the command line: `budget-arena sweep basic_arithmetic -b 256,1024`.")
        _follow()
        return
    form = _form(limits)
    if form is not None and st.button("Start sweep", type="primary", icon=":material/play_arrow:",
                                      key="sweep_start"):
        _start(form, limits)
    _follow()
    _recent()


def _form(limits: Limits) -> SweepForm | None:
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Problems")
        names = list(BUILTINS)
        a, b, c = st.columns([3, 1, 1])
        dataset = a.selectbox("Dataset", names, index=names.index("basic_arithmetic"), key=f"{S}dataset",
                              help="Built-in sets generated offline by reasoning-gym.")
        size = int(b.number_input("Problems", min_value=1, max_value=MAX_SIZE, value=DEFAULT_BUILTIN_SIZE, step=5,
                                  key=f"{S}size"))
        seed = int(c.number_input("Seed", min_value=0, value=0, step=1, key=f"{S}seed",
                                  help="Another seed generates other problems."))
        st.caption(BUILTINS[dataset])
        st.subheader("Strategies")
        strategies, knob_errors = strategy_inputs(limits)
        st.subheader("Budgets")
        d, e, f = st.columns([3, 2, 1])
        budgets_text = d.text_input("Budget grid", value=DEFAULT_BUDGETS, key=f"{S}budgets",
                                    help="Comma-separated; each value is one budget per strategy run.")
        cap = e.selectbox("Each value caps", list(CAP_NAMES), format_func=CAP_LABELS.get, key=f"{S}cap")
        repeats = int(f.number_input("Repeats", min_value=1, max_value=20, value=1, key=f"{S}repeats"))
    with right:
        st.subheader("Model")
        choice = model_inputs(limits)
        st.subheader("Running")
        spec = choice.spec if choice is not None else "local"
        g, h = st.columns(2)
        concurrency = int(g.number_input(
            "Runs at once", min_value=1, max_value=limits.max_concurrent_runs,
            value=min(default_concurrency(spec), limits.max_concurrent_runs), key=f"{S}concurrency",
            help="Strategy runs in flight at once; a local model answers one call at a time whatever this is."))
        max_usd = float(h.number_input("Dollar cap for the sweep", min_value=0.0, value=0.0, step=0.5,
                                       format="%.2f", key=f"{S}max_usd",
                                       help="The sweep stops before it could spend more; 0 = no cap."))
    for error in knob_errors:
        st.error(literal_markdown(error))
    if knob_errors:
        return None
    form = SweepForm(dataset, size, seed, strategies, budgets_text, cap, repeats, choice, concurrency,
                     max_usd or None)
    _estimate(form, limits, right)
    return form


def _estimate(form: SweepForm, limits: Limits, where: Any) -> None:
    plan, errors = plan_from_form(form, limits)
    if plan is None:
        if errors:
            where.caption(literal_markdown(" ".join(errors)))
        return
    cells = form.size * len(plan.strategies) * len(plan.budgets) * plan.repeats
    text = (f"{form.size} problems x {len(plan.strategies)} strategies x {len(plan.budgets)} budgets"
            + (f" x {plan.repeats} repeats" if plan.repeats > 1 else "") + f" = {cells:,} strategy runs.")
    existing = get_sweep(plan.sweep_id, store=store())
    if existing is not None and existing.completed:
        text += f" {existing.done:,} done before: starting resumes it."
    where.caption(literal_markdown(text))
    if form.size and len(plan.strategies) > 1:  # how big a difference these problems can show
        from app.leaderboard_view import detectable_sentence

        where.caption(literal_markdown(detectable_sentence(form.size)))


def _start(form: SweepForm, limits: Limits) -> None:
    plan, errors = plan_from_form(form, limits)
    for error in errors:
        st.error(literal_markdown(error))
    if plan is None or form.choice is None:
        return
    try:
        dataset = builtin_dataset(plan.dataset, form.size, form.seed)
        with st.spinner("Preparing the sweep (loading the model)…"):
            prepared = prepare_sweep(plan, store=store(), dataset=dataset, secrets=form.choice.secrets,
                                     concurrency=form.concurrency, max_usd=form.max_usd)
        handle = start_sweep(prepared)
    except (SweepPlanError, DatasetError, ModelConfigError, StrategyConfigError, SweepBusy) as exc:
        st.error(literal_markdown(_sentence(exc)))
        return
    st.session_state[ACTIVE] = handle.sweep_id
    _note_estimate(prepared)


def _note_estimate(prepared: PreparedSweep) -> None:
    done, remaining = prepared.remaining_estimate()
    st.toast(f"Sweep started: {remaining.describe()}" + (f" ({done} done before)" if done else ""))


# ---- following a sweep -------------------------------------------------------------------------


def _follow() -> None:
    sweep_id = st.session_state.get(ACTIVE)
    if not sweep_id:
        return
    st.divider()
    st.fragment(run_every=REFRESH_SECONDS if _is_running(sweep_id) else None)(_progress_body)(sweep_id)


def _is_running(sweep_id: str) -> bool:
    """Running here (a thread of this process) or elsewhere (a command-line sweep on this store)."""
    handle = sweep_handle(sweep_id)
    if handle is not None:
        return not handle.done
    info = get_sweep(sweep_id, store=store())
    return info is not None and info.status == "running"


def _progress_body(sweep_id: str) -> None:
    handle = sweep_handle(sweep_id)
    info = get_sweep(sweep_id, store=store())
    live = handle.progress if handle is not None else None
    if info is None and live is None:
        st.warning(f"Sweep {sweep_id} is not in this store.")
        return
    st.subheader(f"Sweep {sweep_id}")
    completed, total, status = _numbers(info, live)
    st.progress(min(1.0, completed / total) if total else 1.0, text=progress_text(info, live))
    running = _is_running(sweep_id)
    if running and handle is not None:
        st.button("Stop sweep", icon=":material/stop:", key="sweep_cancel", on_click=handle.cancel,
                  help="Cells in flight end with their best answer so far; starting the sweep again resumes it.")
    elif handle is not None and handle.error:
        st.error(literal_markdown(f"The sweep failed: {handle.error}"))
    if status != "running" or not running:
        st.page_link(page_path("leaderboard"), label="Open the Leaderboard", icon=":material/leaderboard:")
    _mini_board(sweep_id)
    if not running and st.session_state.get(f"{S}refreshed") != (sweep_id, status):
        st.session_state[f"{S}refreshed"] = (sweep_id, status)
        st.rerun()  # the fragment stops refreshing: repaint the page once with the final state


def _numbers(info: SweepInfo | None, live: SweepProgress | None) -> tuple[int, int, str]:
    if live is not None:
        return live.completed, live.total, live.status
    assert info is not None
    return info.completed, info.total_cells, info.status


def progress_text(info: SweepInfo | None, live: SweepProgress | None) -> str:
    """The line under the progress bar: counts, money and time left."""
    completed, total, status = _numbers(info, live)
    parts = [f"{status}: {completed:,} of {total:,} strategy runs"]
    if live is not None:
        if live.failed:
            parts.append(f"{live.failed} failed")
        if live.running:
            parts.append(f"{live.running} running")
        if live.spent_usd or live.max_usd is not None:
            parts.append(f"${live.spent_usd:.4f} spent" + (f" of ${live.max_usd:g}" if live.max_usd else ""))
        eta = live.eta_seconds
        if eta is not None and math.isfinite(eta):
            parts.append(f"about {_duration(eta)} left")
    elif info is not None and info.spent_usd:
        parts.append(f"${info.spent_usd:.4f} spent")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _mini_board(sweep_id: str) -> None:
    """This sweep's leaderboard so far (the Leaderboard page has the charts and filters)."""
    from app.leaderboard_view import caps_present, compute_leaderboard, default_cap, display_table
    from storage.queries import strategy_results

    results = strategy_results(sweep_id=sweep_id, store=store())
    if results.empty or not results["correct"].notna().any():
        return
    cap = default_cap(caps_present(results))
    if cap is None:
        return
    board = compute_leaderboard(results, cap, n_boot=200)
    if not board.board.empty:
        st.dataframe(display_table(board.board), hide_index=True, key="sweep_board")


def _recent() -> None:
    sweeps = list_sweeps(limit=20, store=store())
    if sweeps.empty:
        return
    st.divider()
    st.subheader("Recent sweeps")
    table = sweeps.assign(progress=sweeps["done"].astype(str) + " / " + sweeps["total_cells"].astype(str))[
        ["id", "created", "status", "dataset", "model", "progress", "failed", "spent_usd"]]
    st.dataframe(table, hide_index=True, key="sweep_list")
    ids = [sid for sid in sweeps["id"] if sid != st.session_state.get(ACTIVE)]
    if ids:
        st.selectbox("Follow a sweep", ids, index=None, key=f"{S}follow", placeholder="Pick a sweep id",
                     on_change=_follow_picked)


def _follow_picked() -> None:
    st.session_state[ACTIVE] = st.session_state.get(f"{S}follow")
    st.session_state[f"{S}follow"] = None

