"""Entries (a strategy at a budget of its own) as the run page, charts and exports name them, and
the charts' axes when nothing was spent."""

# The store fixtures come from test_storage.py; test parameters named like them shadow the imports.
# ruff: noqa: F811

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from app.charts import quality_steps, spend_chart, spend_frame
from app.controls import estimate_cost, parse_entry_budgets, unsupported_strategies
from app.form_fields import whole_number
from app.model_picker import KeyChoice, gguf_file_problem, model_choice
from app.panes import RunView
from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.context import MIN_USEFUL_TOKENS
from reasoning.deployment_limits import (
    LimitError,
    check_entries,
    check_model,
    check_request,
    check_supported,
    prompt_floor,
)
from reasoning.entries import budget_tag, entry_budget, entry_labels
from reasoning.models.fake import FakeModel
from reasoning.models.local import LocalModel
from reasoning.strategies import make_strategy
from storage import forget_store, get_run, open_store
from storage.store import Store
from tests.storage.test_storage import postgres_cluster, runner, store, store_url  # noqa: F401  (shared fixtures)

RUN = {"total_tokens": 1000, "output_tokens": None, "usd": None, "seconds": 60.0}


def own(tokens: int) -> dict:
    return {**RUN, "total_tokens": tokens}


def test_labels_name_the_budget_only_when_the_entries_need_telling_apart() -> None:
    assert entry_labels([("direct", None), ("chain_of_thought", None)], RUN) == ["direct", "chain_of_thought"]
    # Rows written before entries had budgets (NULL) and rows holding the run's budget read alike.
    assert entry_labels([("direct", RUN), ("chain_of_thought", None)], RUN) == ["direct", "chain_of_thought"]
    assert entry_labels([("direct", own(300)), ("direct", own(600)), ("self_consistency", own(600))], RUN) == [
        "direct@300", "direct@600", "self_consistency@600"]
    # Different budgets: every entry says its own, the run's included.
    assert entry_labels([("direct", own(1024)), ("chain_of_thought", None)], RUN) == [
        "direct@1,024", "chain_of_thought@1,000"]
    # The same strategy twice at one budget (other knobs): both carry it; the pane number tells them apart.
    assert entry_labels([("direct", None), ("direct", None)], RUN) == ["direct@1,000", "direct@1,000"]


def test_a_budget_without_a_token_cap_is_named_by_its_other_caps() -> None:
    assert budget_tag({"usd": 0.05, "seconds": 30.0}) == "$0.05, 30s"
    assert budget_tag({"output_tokens": 2048}) == "2,048 output tokens"
    assert budget_tag({}) == "unbounded"
    assert entry_budget(None, RUN) == RUN and entry_budget(own(5), RUN) == own(5)


def test_panes_and_chart_series_carry_the_entry_labels() -> None:
    view = RunView.for_strategies([("direct", {}), ("direct", {})], ["direct@300", "direct@600"])
    assert [p.label for p in view.panes] == ["direct@300", "direct@600"]
    assert view.labels() == {0: "direct@300", 1: "direct@600"}

    class Event:
        def __init__(self, seq: int, index: int, tokens: int) -> None:
            self.seq, self.strategy_index, self.kind, self.label = seq, index, "spend", None
            self.payload = {"spent": {"input_tokens": tokens, "output_tokens": 0}}
            self.elapsed, self.total_tokens, self.usd = seq / 10, tokens, 0.0

    view.apply([Event(1, 0, 40), Event(2, 1, 80)])
    spend = spend_frame(view.spend_samples)
    assert sorted(set(spend["series"])) == ["1. direct@300", "2. direct@600"]
    points = pd.DataFrame({"strategy_index": [0, 1], "strategy": ["direct", "direct"], "seq": [1, 2],
                           "tokens": [40, 80], "usd": [0.0, 0.0], "seconds": [0.1, 0.2], "answer": ["4", "4"],
                           "quality": [1.0, 1.0]})
    assert list(quality_steps(points, labels=view.labels())["series"]) == ["1. direct@300", "2. direct@600"]
    assert list(quality_steps(points)["series"]) == ["1. direct", "2. direct"]  # no labels: the names


def test_the_spend_chart_gives_an_axis_with_nothing_spent_an_extent_so_no_tick_reads_nan() -> None:
    """Every strategy stopped before its first call: all spends are 0, and with an empty extent
    Vega's SI format labelled the only tick "NaN" (seen in chromium)."""
    nothing = spend_frame([{"strategy_index": 0, "strategy": "direct", "seconds": 0.0, "tokens": 0, "usd": 0.0}])
    spec = spend_chart(nothing, "tokens").to_dict()
    assert spec["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    assert spec["encoding"]["x"]["scale"] == {"domain": [0, 1]}
    assert spec["encoding"]["y"]["axis"]["tickMinStep"] == 1  # ticks 0 and 1, not 0.2 tokens
    assert spend_chart(nothing, "usd").to_dict()["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    spent = spend_frame([{"strategy_index": 0, "strategy": "direct", "seconds": 2.0, "tokens": 50, "usd": 0.0}])
    spec = spend_chart(spent, "tokens").to_dict()
    assert spec["encoding"]["y"]["scale"] == {"zero": True} and spec["encoding"]["x"]["scale"] == {"zero": True}


# ---- exports ---------------------------------------------------------------------------------


def test_exports_key_on_the_entry(store: Store, runner, tmp_path) -> None:
    from storage import RunSpec, StrategySpec
    from storage.export import export_run_json, export_runs_csv, import_run_json

    run_id = runner.submit(RunSpec("2+2?", FakeModel("Answer: 4"), [
        StrategySpec("direct", {}, Budget(total_tokens=300)), StrategySpec("direct", {}, Budget(total_tokens=600)),
        StrategySpec("chain_of_thought", {})], Budget(total_tokens=1000), reference="4"))
    assert runner.wait(run_id, 20) == "done"
    data = export_run_json(run_id, store=store)
    assert [(s["label"], s["budget"]["total_tokens"]) for s in data["strategies"]] == [
        ("direct@300", 300), ("direct@600", 600), ("chain_of_thought@1,000", 1000)]
    frame = pd.read_csv(io.StringIO(export_runs_csv([run_id], store=store)))
    assert list(frame["entry"]) == ["direct@300", "direct@600", "chain_of_thought@1,000"]
    assert list(frame.columns).index("entry") == list(frame.columns).index("strategy") + 1

    # An export moves to another store with its entries' budgets (the label is derived, not stored).
    other = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        imported = import_run_json(data, store=other)
        assert [s.budget["total_tokens"] for s in get_run(imported, store=other).strategies] == [300, 600, 1000]
    finally:
        forget_store(other)


# ---- checks before Run (reasoning.deployment_limits, app.controls) ----------------------------------------


def test_entry_budgets_typed_on_the_page_are_whole_numbers_or_refused() -> None:
    assert parse_entry_budgets("300, 600 900;1_200") == ([300, 600, 900, 1200], None)
    assert parse_entry_budgets("  ") == ([], None)
    for typed in ("1e12", "2.5", "-5", "300, abc", "１２"):  # full-width digits too: not ASCII
        tokens, error = parse_entry_budgets(typed)
        assert tokens == [] and error and "is not a whole number of tokens" in error, typed
    assert parse_entry_budgets("0") == ([], "a budget must be at least 1 token, got '0'")
    assert whole_number(3000.0) == 3000 and isinstance(whole_number(3000.0), int)
    assert whole_number(2.5) == 2.5 and whole_number(None) is None and whole_number(1e12) == 10**12


def test_check_entries_gives_each_entry_its_caps_within_the_ceilings() -> None:
    run, own = check_entries("What is 2+2?", [("direct", 300), ("direct", None)], Budget(total_tokens=1000,
                                                                                       seconds=60), "fake", Limits())
    assert run == Budget(total_tokens=1000, seconds=60)
    assert own == [Budget(total_tokens=300, seconds=60), None]
    # Every entry capped on its own: no run-wide cap is needed.
    assert check_entries("2+2?", [("direct", 300)], Budget(), "fake", Limits())[1] == [Budget(total_tokens=300)]
    with pytest.raises(LimitError, match="set at least one budget cap"):
        check_entries("2+2?", [("direct", 300), ("direct", None)], Budget(), "fake", Limits())
    with pytest.raises(LimitError, match="budget 600 is above this deployment's limit of 500"):
        check_entries("2+2?", [("direct", 600)], Budget(total_tokens=400), "fake", Limits(max_total_tokens=500))
    with pytest.raises(LimitError, match="3 strategies chosen; at most 2"):  # entries count, not names
        check_entries("2+2?", [("direct", 300)] * 3, Budget(total_tokens=400), "fake", Limits(max_strategies=2))


def test_a_budget_too_small_for_the_prompt_is_refused_with_its_size_and_the_smallest_useful_budget() -> None:
    prompt, floor = prompt_floor("What is 2+2?", "local")
    assert floor == prompt + MIN_USEFUL_TOKENS
    with pytest.raises(LimitError) as refused:
        check_request("What is 2+2?", ["direct"], Budget(total_tokens=1), "local", Limits())
    assert str(refused.value) == (f"a total-token budget of 1 cannot pay for one call: the problem is 12 characters, "
                                  f"about {prompt} tokens as a prompt, and a call needs {MIN_USEFUL_TOKENS} tokens "
                                  f"of answer on top; give at least {floor} tokens, or {2 * prompt + MIN_USEFUL_TOKENS} "
                                  "on a server whose token counts we can only estimate, where a model's first call "
                                  "reserves 2x its prompt tokens")
    assert check_request("What is 2+2?", ["direct"], Budget(total_tokens=floor), "local", Limits())
    long = "Add up these numbers and explain each step. " * 432
    prompt, floor = prompt_floor(long, "local")
    assert len(long) == 19_008 and floor > 3000
    with pytest.raises(LimitError, match=f"direct@3,000: .*19,008 characters.*give at least {floor:,} tokens"):
        check_entries(long, [("direct", 3000), ("direct", None)], Budget(total_tokens=8000), "local", Limits())


def test_a_strategy_the_model_cannot_run_is_refused_with_the_reason() -> None:
    local = LocalModel(Path("unused.gguf"), "local:smollm2")  # capabilities only: nothing is loaded
    with pytest.raises(LimitError, match="^native_thinking cannot run on local:smollm2: the model has no "
                                         "provider-side reasoning control"):
        check_supported([make_strategy("direct"), make_strategy("native_thinking")], local)
    check_supported([make_strategy("budget_forcing")], local)  # it continues its own turn: fine
    assert unsupported_strategies(local, ["direct", "native_thinking"]) == {
        "native_thinking": make_strategy("native_thinking").unsupported_reason(local)}
    assert unsupported_strategies(None, ["native_thinking"]) == {}  # no model built: no marks


def test_gguf_paths_outside_the_hosts_folders_get_one_answer_whatever_exists(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    inside = models / "m.gguf"
    inside.write_bytes(b"GGUF" + b"\0" * 8)
    text = models / "notes.gguf"
    text.write_text("not a model")
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(b"GGUF")
    (models / "link.gguf").symlink_to(outside)
    shared = Limits(gguf_dirs=[models])
    assert gguf_file_problem(str(inside), shared) is None
    assert gguf_file_problem(str(text), shared) == f"{text} is not a GGUF model file (it does not start with the bytes GGUF)"
    assert gguf_file_problem(str(models / "gone.gguf"), shared) == f"no file at {models / 'gone.gguf'}"
    refusal = f"this server runs GGUF files from {models} only; give the path of a .gguf file there"
    for path in (outside, tmp_path / "no-such.gguf", models / ".." / "elsewhere.gguf", models / "link.gguf",
                 Path("/etc/passwd")):
        assert gguf_file_problem(str(path), shared) == refusal, path
        with pytest.raises(LimitError, match="^this server runs GGUF files from"):
            check_model(f"local:{path}", shared)
    check_model(f"local:{inside}", shared)
    check_model("local", shared)  # the bundled model is not a path
    # No folders configured (a single-user install): any path, looked at for what it is.
    assert gguf_file_problem(str(outside), Limits()) is None
    assert gguf_file_problem(str(tmp_path / "no-such.gguf"), Limits()).startswith("no file at")


def test_the_worst_case_cost_adds_up_entries_with_budgets_of_their_own() -> None:
    openai = model_choice("openai", model="gpt-4o-mini", key=KeyChoice("k", "typed"))
    run = Budget(total_tokens=10_000)
    one = estimate_cost(openai, run, 100, 1).per_strategy
    small = estimate_cost(openai, Budget(total_tokens=1_000), 100, 1).per_strategy
    both = estimate_cost(openai, run, 100, 2, [Budget(total_tokens=1_000), None])
    assert both.total == pytest.approx(one + small) and both.per_strategy == pytest.approx(one)
    assert both.text.startswith(f"Worst-case cost: ${one + small:.4f} for 2 entries (the dearest ${one:.4f}); ")
    assert estimate_cost(openai, run, 100, 2, [None, None]) == estimate_cost(openai, run, 100, 2)
    assert estimate_cost(openai, run, 100, 2, [Budget(seconds=5), None]).per_strategy is None  # no bound
