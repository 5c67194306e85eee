"""The Sweep page: problems (a built-in dataset, an uploaded file or pasted lines), strategies (with
knobs), a budget grid and a model; Start runs the sweep in a background thread of the app process (storage.sweeps.start_sweep),
so it survives reruns and page changes, and a progress bar follows it. Every finished cell is a run
in the store, so the results appear on the Leaderboard as they come. Script thread only.

Starting the same grid again resumes it (the sweep id is the plan's hash; an upload is kept under a
name made of its content's hash, so the same file is the same sweep). "Try the demo sweep" runs
app.demo's plan on the bundled model and opens its leaderboard. On a deployment that limits runs per
session, sweeps are left to the command line: a sweep is hundreds of runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app.controls import strategy_inputs
from app.demo import DemoSizeError, demo_plan
from app.model_picker import ModelChoice, model_inputs
from app.panes import literal_markdown
from app.state import action_key, page_path, store
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
from reasoning.sweep import SweepProgress, default_concurrency
from reasoning.sweep_plan import StrategyChoice, SweepPlan, SweepPlanError, parse_budget_grid, within_limits
from reasoning.wording import plural, sentence
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
UPLOADED = f"{S}uploaded"  # the saved upload ({spec, file, count} or {error}): the uploader empties on a page switch
OPEN_WHEN_DONE = "_sweep_open_when_done"  # a demo sweep whose leaderboard opens when it ends
ETA_STATE = "_sweep_eta"
SOURCES = {"builtin": "Built-in dataset", "file": "Upload a file", "paste": "Paste problems"}
MIN_CELLS_FOR_ETA = 3
MAX_SIZE = 500
DEFAULT_BUDGETS = "256, 1024, 4096"
CAP_LABELS = {"total_tokens": "total tokens", "output_tokens": "output tokens", "usd": "dollars",
              "seconds": "seconds"}
REFRESH_SECONDS = 1.0


@st.cache_resource(show_spinner="Reading the problems…", max_entries=8)
def sweep_dataset(spec: str, size: int | None, seed: int) -> Dataset:
    """The dataset a plan names, by the command line's loader (an upload's errors name its file)."""
    if spec.startswith("file:"):
        return load_saved(Path(spec.removeprefix("file:")), size=size, seed=seed)
    return load_dataset(spec, size=size, seed=seed)


@dataclass(frozen=True)
class Problems:
    """Where the sweep's problems come from: a load_dataset spec, how many, and (pasted problems)
    the text to save as the spec's file when the sweep starts."""

    spec: str
    size: int | None
    seed: int
    count: int
    pasted: str = ""


@dataclass(frozen=True)
class SweepForm:
    dataset: str
    size: int | None
    seed: int
    strategies: list[tuple[str, dict[str, Any]]]
    budgets_text: str
    cap: str
    repeats: int
    choice: ModelChoice | None
    concurrency: int
    max_usd: float | None
    problems: int = 0  # how many problems the sweep runs (0: size)
    pasted: str = ""


def plan_from_form(form: SweepForm, limits: Limits) -> tuple[SweepPlan | None, list[str]]:
    """The plan the form describes, checked by reasoning.deployment_limits like any request; or the errors."""
    errors: list[str] = []
    if form.choice is None:
        return None, ["No model provider is available."]
    if not form.choice.ready.ready:
        errors.append(f"The model is not ready: {form.choice.ready.detail}.")
    try:
        budgets = parse_budget_grid([form.budgets_text], cap=form.cap)
        if not budgets:
            raise SweepPlanError("give at least one budget")
        plan = within_limits(SweepPlan(
            dataset=form.dataset, size=form.size, seed=form.seed, repeats=form.repeats,
            strategies=tuple(StrategyChoice(name, knobs) for name, knobs in form.strategies),
            budgets=budgets, model=form.choice.spec, model_options=dict(form.choice.options)), limits)
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
        _follow()
        return
    _demo_offer(limits)
    form = _form(limits)
    if form is not None and st.button("Start sweep", type="primary", icon=":material/play_arrow:",
                                      key="sweep_start"):
        _start(form, limits)
    _follow()


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
        repeats = int(f.number_input("Repeats", min_value=1, max_value=20, key=_default(f"{S}repeats", 1)))
    with right:
        st.subheader("Model")
        choice = model_inputs(limits)
        st.subheader("Running")
        spec = choice.spec if choice is not None else "local"
        g, h = st.columns(2)
        suggested = min(default_concurrency(spec), limits.max_concurrent_runs)
        concurrency = int(g.number_input(  # one field per suggestion: a new kind of model starts at its own
            "Runs at once", min_value=1, max_value=limits.max_concurrent_runs,
            key=_default(f"{S}concurrency.{suggested}", suggested),
            help="Strategy runs in flight at once; a local model answers one call at a time whatever this is."))
        max_usd = float(h.number_input("Dollar cap for the sweep", min_value=0.0, step=0.5,
                                       format="%.2f", key=_default(f"{S}max_usd", 0.0),
                                       help="The sweep stops before it could spend more; 0 = no cap."))
    for error in [*problem_errors, *knob_errors]:
        st.error(literal_markdown(error))
    if knob_errors or problems is None:
        return None
    form = SweepForm(problems.spec, problems.size, problems.seed, strategies, budgets_text, cap, repeats, choice,
                     concurrency, max_usd or None, problems=problems.count, pasted=problems.pasted)
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
        size = int(b.number_input("Problems", min_value=1, max_value=MAX_SIZE, step=5,
                                  key=_default(f"{S}size", DEFAULT_BUILTIN_SIZE)))
        seed = _seed(c, "Another seed generates other problems.")
        st.caption(BUILTINS[dataset])
        return Problems(dataset, size, seed, size), []
    a, b, c = st.columns([3, 1, 1])
    subset = int(b.number_input("Problems", min_value=0, step=5, key=_default(f"{S}subset", 0),
                                help="A seeded random subset of this many problems; 0 = all of them."))
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
        count = min(subset or uploaded["count"], uploaded["count"])
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
    return Problems(spec_of(path), subset or None, seed, min(subset or total, total), pasted=text), []


def _seed(where: Any, help_text: str) -> int:
    return int(where.number_input("Seed", min_value=0, step=1, key=_default(f"{S}seed", 0), help=help_text))


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
    st.toast(f"Sweep started: {remaining.describe()}" + (f" ({done} done before)" if done else ""))


# ---- following a sweep -------------------------------------------------------------------------


def _follow() -> None:
    """The followed sweep's progress and the recent sweeps, repainted together (one read of the
    store for both) every second while the followed sweep runs."""
    sweep_id = st.session_state.get(ACTIVE)
    if sweep_id and st.session_state.get(OPEN_WHEN_DONE) == sweep_id and not _is_running(sweep_id):
        del st.session_state[OPEN_WHEN_DONE]  # once: a demo stopped or failed stays here, with its reason
        info = get_sweep(sweep_id, store=store())
        if info is not None and info.status == "done":
            st.switch_page(page_path("leaderboard"), query_params={"sweep": sweep_id})
    running = bool(sweep_id) and _is_running(sweep_id)
    st.fragment(run_every=REFRESH_SECONDS if running else None)(_live_body)(sweep_id)
    _follow_picker()


def _live_body(sweep_id: str | None) -> None:
    sweeps = list_sweeps(limit=20, store=store())
    if sweep_id:
        st.divider()
        _progress_body(sweep_id)
    if not sweeps.empty:
        st.divider()
        st.subheader("Recent sweeps")
        st.dataframe(recent_table(sweeps), hide_index=True, key="sweep_list",
                     column_config={"spent": st.column_config.NumberColumn(format="$%.4f")})


def shown_dataset(spec: str) -> str:
    """A sweep's dataset as shown to visitors: a file's name, never its path on the server."""
    return "file: " + Path(spec.removeprefix("file:")).name if spec.startswith("file:") else spec


def recent_table(sweeps: pd.DataFrame) -> pd.DataFrame:
    """list_sweeps as shown: progress counts finished cells, failed ones included, as the bar does."""
    completed = sweeps["done"] + sweeps["failed"]
    return pd.DataFrame({
        "id": sweeps["id"], "created": sweeps["created"], "status": sweeps["status"],
        "dataset": sweeps["dataset"].astype(str).map(shown_dataset),
        "model": sweeps["model"], "progress": completed.astype(str) + " / " + sweeps["total_cells"].astype(str),
        "failed": sweeps["failed"], "spent": sweeps["spent_usd"],
    })


def _follow_picker() -> None:
    sweeps = list_sweeps(limit=20, store=store())
    ids = [sid for sid in sweeps["id"] if sid != st.session_state.get(ACTIVE)] if not sweeps.empty else []
    if ids:
        st.selectbox("Follow a sweep", ids, index=None, key=f"{S}follow", placeholder="Pick a sweep id",
                     on_change=_follow_picked)


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
    eta = _shown_eta(sweep_id, live, _cells_per_problem(handle, info))
    st.progress(min(1.0, completed / total) if total else 1.0, text=progress_text(info, live, eta))
    running = _is_running(sweep_id)
    if running and handle is not None:
        st.button("Stop sweep", icon=":material/stop:", key="sweep_cancel", on_click=handle.cancel,
                  help="Cells in flight end with their best answer so far; starting the sweep again resumes it.")
    elif handle is not None and handle.error:
        st.error(literal_markdown(f"The sweep failed: {handle.error}"))
    st.page_link(page_path("leaderboard"), label="Open this sweep's leaderboard", icon=":material/leaderboard:",
                 query_params={"sweep": sweep_id})
    _mini_board(sweep_id)
    if not running and st.session_state.get(f"{S}refreshed") != (sweep_id, status):
        st.session_state[f"{S}refreshed"] = (sweep_id, status)
        st.rerun()  # the fragment stops refreshing: repaint the page once with the final state


def _numbers(info: SweepInfo | None, live: SweepProgress | None) -> tuple[int, int, str]:
    """Finished cells, all cells and the status. The counts are the store's when it has the sweep,
    the same figures as the Recent sweeps list; the status is the live one when this process runs it."""
    if info is not None:
        return info.completed, info.total_cells, live.status if live is not None else info.status
    assert live is not None
    return live.completed, live.total, live.status


def _cells_per_problem(handle: Any, info: SweepInfo | None) -> int:
    plan = handle.prepared.plan.as_dict() if handle is not None else (info.plan if info is not None else {})
    return max(1, len(plan.get("strategies") or []) * len(plan.get("budgets") or []) * int(plan.get("repeats") or 1))


def sweep_eta(live: SweepProgress, cells_per_problem: int, min_cells: int = MIN_CELLS_FOR_ETA) -> float | None:
    """Seconds left: the cells still to run at the pace of this session so far (cells finished per
    second since it started). None until at least one problem's worth of cells (and `min_cells`) has
    finished: cells are run problem by problem, and a problem's cells range from a quick direct answer
    to a slow self-consistency vote, so a pace measured over fewer is biased either way."""
    ran = live.done + live.failed
    todo = live.total - live.skipped
    if live.status != "running" or ran == 0 or ran < min(todo, max(min_cells, cells_per_problem)):
        return None
    return live.elapsed / ran * live.remaining


def _shown_eta(sweep_id: str, live: SweepProgress | None, cells_per_problem: int) -> float | None:
    """sweep_eta, measured when a cell finishes and then counted down by the clock until the next
    one finishes (measured afresh between finishes, the estimate would grow while a slow cell runs)."""
    if live is None:
        return None
    ran = live.done + live.failed
    now = time.monotonic()
    saved = st.session_state.get(ETA_STATE)
    if saved is not None and saved[0] == (sweep_id, ran):
        return None if saved[1] is None else max(0.0, saved[1] - (now - saved[2]))
    eta = sweep_eta(live, cells_per_problem)
    st.session_state[ETA_STATE] = ((sweep_id, ran), eta, now)
    return eta


def progress_text(info: SweepInfo | None, live: SweepProgress | None, eta: float | None = None) -> str:
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
        if eta is not None and math.isfinite(eta) and status == "running":
            parts.append(f"about {_duration(eta)} left" if eta >= 1 else "finishing")
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
    from app.leaderboard_view import caps_present, compute_leaderboard, default_cap
    from storage.queries import strategy_results

    results = strategy_results(sweep_id=sweep_id, store=store())
    if results.empty or not results["correct"].notna().any():
        return
    cap = default_cap(caps_present(results))
    if cap is None:
        return
    board = compute_leaderboard(results, cap, n_boot=200, paired=False)
    if not board.board.empty:
        st.dataframe(sweep_table(board.board), hide_index=True, key="sweep_board")


def _percent(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.0%}"


def _count(value: Any) -> str:
    """A cost per correct answer: "–" when nothing was correct (it is infinite, or undefined)."""
    return "–" if value is None or pd.isna(value) or not math.isfinite(float(value)) else f"{float(value):,.0f}"


def sweep_table(board: pd.DataFrame) -> pd.DataFrame:
    """A metrics.leaderboard frame as text: accuracies as percentages with their 95% interval, and
    "–" where a figure does not exist (tokens per correct answer when none is correct)."""
    acc_cols = [c for c in board.columns if c.startswith("acc@")]
    return pd.DataFrame({
        "rank": board["rank"].map(lambda r: "–" if pd.isna(r) else str(int(r))),
        "strategy": board["strategy"].astype(str),
        "results": board["n"].astype(int),
        "accuracy [95% CI]": [f"{_percent(a)} [{_percent(lo)}–{_percent(hi)}]" if not pd.isna(a) else "–"
                              for a, lo, hi in zip(board["accuracy"], board["ci_low"], board["ci_high"], strict=True)],
        **{f"accuracy @ {c.removeprefix('acc@')}": board[c].map(_percent) for c in acc_cols},
        "tokens / correct": board["tokens_per_correct"].map(_count),
        "mean tokens": board["mean_tokens"].map(_count),
    }).reset_index(drop=True)


def _follow_picked() -> None:
    st.session_state[ACTIVE] = st.session_state.get(f"{S}follow")
    st.session_state[f"{S}follow"] = None
