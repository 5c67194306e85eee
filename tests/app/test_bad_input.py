"""Bad input, as a table: the CLI (`run`, `show`, `sweep`), dataset files and the web app (Compare
page and a run link), each refused with a clear message and without writing anything.

Cases: empty, blank, huge (a 1 MB problem), control characters, wrong types, negative, zero and
absurd budgets, unknown strategies and knobs, too many strategies, unknown providers, malformed
run ids, and dataset files with a broken line, a missing field or no items. The store holds one
finished run throughout; after every case each of its tables has exactly the rows it had before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, table
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from app.cli import app as cli_app
from reasoning.budget import Budget
from reasoning.config import get_settings
from reasoning.datasets import DatasetError, load_dataset
from storage import RunSpec, Store, forget_store, get_runner, open_store
from tests.support import MAIN

MEGABYTE_PROBLEM = "What is 2 + 2? " * (1_000_000 // 15) + "x" * (1_000_000 % 15)
LIMIT_ENV = "BUDGET_ARENA_LIMITS__"
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


@dataclass(frozen=True)
class Env:
    url: str
    store: Store
    tmp: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A private store (the app's default through BUDGET_ARENA_DB) holding one finished run, the
    fake provider offered, and the default limits."""
    tmp = tmp_path_factory.mktemp("bad-input")
    url = f"sqlite:///{tmp / 'store.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUDGET_ARENA_DB", url)
        mp.setenv("BUDGET_ARENA_ENABLE_FAKE", "1")
        config = tmp / "config.toml"
        config.write_text("")
        mp.setenv("BUDGET_ARENA_CONFIG", str(config))
        for name in [n for n in os.environ if n.startswith(LIMIT_ENV)]:
            mp.delenv(name)
        get_settings(fresh=True)
        store = open_store(url)
        runner = get_runner(store)
        seeded = runner.submit(RunSpec("What is 2 + 2?", "fake", ["direct"], budget=Budget(total_tokens=500),
                                       model_options={"token_delay": 0.0}))
        assert runner.wait(seeded, 30) == "done"
        yield Env(url, store, tmp)
        runner.close()
        forget_store(store)
    get_settings(fresh=True)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lets a case set host limits through the environment; they are gone after the case."""
    yield
    monkeypatch.undo()
    get_settings(fresh=True)


def set_limits(monkeypatch: pytest.MonkeyPatch, values: dict[str, object]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"{LIMIT_ENV}{name.upper()}", str(value))
    get_settings(fresh=True)


def row_counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        return {name: conn.scalar(select(func.count()).select_from(table(name))) for name in names}


@pytest.fixture
def unchanged(env: Env) -> Iterator[None]:
    """No partial writes: every table keeps its row count through the case."""
    before = row_counts(env.store)
    assert before["run"] == 1 and before["event"] > 0
    yield
    assert row_counts(env.store) == before


def one_line(text: str) -> str:
    """Terminal output with rich's box drawing and wrapping undone, for matching a message."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text))


# ---- the command line ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    args: list[str]
    message: str
    code: int = EXIT_BAD_INPUT
    limits: dict[str, object] = field(default_factory=dict)


def run_args(problem: str, *more: str, budget: tuple[str, ...] = ("--max-total-tokens", "1000")) -> list[str]:
    return ["run", problem, "--model", "fake", "--json", *budget, *more]


CLI_CASES = {
    "empty problem": CliCase(run_args(""), "the problem is empty"),
    "blank problem": CliCase(run_args(" \n\t "), "the problem is empty"),
    "1 MB problem": CliCase(run_args(MEGABYTE_PROBLEM),
                            "the problem is 1,000,000 characters; this deployment allows at most 20,000"),
    "NUL in problem": CliCase(run_args("2 + 2?\x00"), "control character (U+0000) at position 6"),
    "escape sequence in problem": CliCase(run_args("\x1b[31m2 + 2?"), "control character (U+001B) at position 0"),
    "unknown strategy": CliCase(run_args("2 + 2?", "-s", "nosuch"), "unknown strategy 'nosuch'; choose from:"),
    "unknown knob": CliCase(run_args("2 + 2?", "-s", "direct", "--knob", "direct.nope=1"),
                            "direct: unknown knob 'nope' (knobs: max_tokens, temperature)"),
    "knob of the wrong type": CliCase(run_args("2 + 2?", "-s", "direct", "--knob", "direct.max_tokens=many"),
                                      "direct.max_tokens must be int, got 'many'"),
    "negative knob": CliCase(run_args("2 + 2?", "-s", "direct", "--knob", "direct.max_tokens=-5"),
                             "direct.max_tokens must be at least 16, got -5"),
    "malformed knob": CliCase(run_args("2 + 2?", "--knob", "max_tokens"),
                              "--knob expects STRATEGY.KNOB=VALUE, got 'max_tokens'"),
    "knob of a strategy not run": CliCase(run_args("2 + 2?", "-s", "direct", "--knob", "debate.rounds=2"),
                                          "--knob names 'debate', which is not among the --strategy values"),
    "negative budget": CliCase(run_args("2 + 2?", budget=("--max-total-tokens", "-5")),
                               "budget total_tokens must be a positive number, got -5"),
    "zero budget": CliCase(run_args("2 + 2?", budget=("--max-usd", "0")), "budget usd must be a positive number, got 0"),
    "infinite budget": CliCase(run_args("2 + 2?", budget=("--max-seconds", "inf")),
                               "budget seconds must be a finite number, got inf"),
    # NaN and infinity are refused wherever a number comes in.
    "NaN budget": CliCase(run_args("2 + 2?", budget=("--max-usd", "nan")), "budget usd must be a finite number, got nan"),
    "NaN temperature": CliCase(run_args("2 + 2?", "-s", "chain_of_thought", "--knob",
                                        "chain_of_thought.temperature=nan"),
                               "chain_of_thought.temperature must be a finite number, got 'nan'"),
    "infinite confidence threshold": CliCase(
        run_args("2 + 2?", "-s", "self_consistency", "--knob", "self_consistency.confidence_threshold=-inf"),
        "self_consistency.confidence_threshold must be a finite number, got '-inf'"),
    "NaN epsilon": CliCase(run_args("2 + 2?", "-s", "anytime", "--knob", "anytime.epsilon=NaN"),
                           "anytime.epsilon must be a finite number, got 'NaN'"),
    "infinite slack": CliCase(run_args("2 + 2?", "-s", "token_budget", "--knob", "token_budget.slack=Infinity"),
                              "token_budget.slack must be a finite number, got 'Infinity'"),
    "sweep of a NaN gamma": CliCase(["sweep", "builtin:chain_sum", "-b", "500", "-s", "value_tree", "--knob",
                                     "value_tree.gamma=nan", "--model", "fake"],
                                    "value_tree.gamma must be a finite number, got 'nan'"),
    "sweep of a NaN budget": CliCase(["sweep", "builtin:chain_sum", "-b", "nan", "--model", "fake"],
                                     "bad budget 'nan': budget total_tokens must be a finite number, got nan"),
    "sweep of an overflowing budget": CliCase(["sweep", "builtin:chain_sum", "-b", "1e999", "--model", "fake"],
                                              "bad budget '1e999': budget total_tokens must be a finite number"),
    "sweep with a NaN dollar cap": CliCase(
        ["sweep", "file:{tmp}/good.jsonl", "-b", "500", "--model", "fake", "--max-usd", "nan"],
        "the dollar cap must be a positive finite number, got nan"),
    "sweep with an infinite dollar cap": CliCase(
        ["sweep", "file:{tmp}/good.jsonl", "-b", "500", "--model", "fake", "--max-usd", "inf"],
        "the dollar cap must be a positive finite number, got inf"),
    "sweep with a NaN model option": CliCase(
        ["sweep", "file:{tmp}/good.jsonl", "-b", "500", "--model", "fake", "--model-option", "token_delay=nan"],
        "--model-option token_delay: 'nan' is not a finite number"),
    "sweep of a dataset holding NaN": CliCase(
        ["sweep", "file:{tmp}/nan_answer.jsonl", "-b", "500", "--model", "fake", "--json"],
        "nan_answer.jsonl, line 2: NaN is not a number JSON allows"),
    "budget over the deployment's ceiling": CliCase(
        run_args("2 + 2?", budget=("--max-total-tokens", "1000000")),
        "the total tokens budget 1,000,000 is above this deployment's limit of 100,000",
        limits={"max_total_tokens": 100_000}),
    "absurd budget": CliCase(
        run_args("2 + 2?", budget=("--max-total-tokens", "1000000000000")),
        "the total tokens budget 1,000,000,000,000 is not plausible; at most 100,000,000 is accepted"),
    "no budget at all": CliCase(run_args("2 + 2?", budget=()),
                                "set at least one budget cap: tokens, output tokens, dollars or seconds"),
    "budget of the wrong type": CliCase(run_args("2 + 2?", budget=("--max-total-tokens", "lots")),
                                        "Invalid value for '--max-total-tokens'"),
    "unknown provider": CliCase(["run", "2 + 2?", "--model", "nosuch:x", "--max-total-tokens", "1000"],
                                "provider 'nosuch' is not offered here; offered: local, openai, anthropic"),
    "too many strategies": CliCase(run_args("2 + 2?", *["-s", "direct"] * 13),
                                   "13 strategies chosen; at most 12 per run"),
    "malformed run id": CliCase(["show", "../../etc/passwd"], "'../../etc/passwd' is not a run id"),
    "SQL in run id": CliCase(["show", "x' OR '1'='1"], "is not a run id"),
    "empty run id": CliCase(["show", ""], "'' is not a run id"),
    "unknown run id": CliCase(["show", "AAAAAAAAAAAAAAAA"], "no such run: AAAAAAAAAAAAAAAA", code=EXIT_FAILED),
    "sweep of a dataset with a broken line": CliCase(
        ["sweep", "file:{tmp}/broken.jsonl", "-b", "500", "--model", "fake", "--json"],
        "broken.jsonl, line 2: bad JSON"),
    "sweep with a negative budget": CliCase(["sweep", "builtin:chain_sum", "-b", "-100", "--model", "fake"],
                                            "bad budget '-100': budget total_tokens must be a positive number"),
    "bytes that are not UTF-8 in the problem": CliCase(run_args("a \udcff b"),
                                                       "the problem is not valid UTF-8 text: position 2 holds "
                                                       "byte 0xFF, which is not UTF-8"),
    "a lone surrogate in the reference": CliCase(run_args("2 + 2?", "--reference", "4\ud800"),
                                                 "the reference answer is not valid UTF-8 text: position 1 holds "
                                                 "a lone surrogate U+D800"),
    # Sweep items get the run's limits (one check, reasoning.deployment_limits.check_texts), named by item.
    "sweep of an item holding a NUL": CliCase(
        ["sweep", "file:{tmp}/nul_item.jsonl", "-b", "500", "--model", "fake", "--json"],
        "nul_item, line 2: the problem contains a control character (U+0000) at position 14; remove it"),
    "sweep of a 50,000-character item": CliCase(
        ["sweep", "file:{tmp}/long_item.jsonl", "-b", "500", "--model", "fake", "--json"],
        "long_item, line 1: the problem is 50,000 characters; this deployment allows at most 20,000"),
}


@pytest.mark.parametrize("case", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_the_cli_refuses(case: CliCase, env: Env, limits: None, unchanged: None,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    set_limits(monkeypatch, case.limits)
    write_dataset_files(env.tmp)
    args = [a.replace("{tmp}", str(env.tmp)) for a in case.args]
    if args[0] in ("show", "sweep"):
        args += ["--db", env.url]
    result = CliRunner().invoke(cli_app, args)
    output = one_line(result.output)
    assert result.exit_code == case.code, output
    assert case.message in output
    assert "Traceback" not in output


def test_a_problem_on_stdin_that_is_not_utf8_is_refused_in_one_line(env: Env, unchanged: None) -> None:
    result = CliRunner().invoke(cli_app, ["run", "-", "--model", "fake", "--max-total-tokens", "1000"],
                                input=b"a \xff b")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert one_line(result.output).strip() == ("error: the problem read from standard input is not UTF-8: byte "
                                               "0xFF at position 2; convert it first (e.g. iconv -f LATIN1 -t UTF-8)")


def test_printf_of_a_stray_byte_into_budget_arena_run_is_one_line(env: Env, unchanged: None) -> None:
    """The issue's reproduction, as a shell runs it: `printf 'a \\xff b' | budget-arena run - ...`, in the
    C locale too (where Python would decode stdin with surrogateescape)."""
    import subprocess
    import sys

    for locale in ("C.UTF-8", "C"):
        done = subprocess.run([sys.executable, "-m", "app.cli", "run", "-", "--model", "fake", "--max-total-tokens",
                               "1000", "--db", env.url], input=b"a \xff b", capture_output=True, timeout=120,
                              env={**os.environ, "LC_ALL": locale, "PYTHONPATH": str(Path(MAIN).parents[1])})
        stderr = done.stderr.decode()
        assert done.returncode == EXIT_BAD_INPUT, stderr
        assert stderr.count("\n") == 1 and "not UTF-8: byte 0xFF at position 2" in stderr, stderr


@pytest.mark.parametrize("args", [["show", "AAAAAAAAAAAAAAAA"], ["export"], ["export", "AAAAAAAAAAAAAAAA"],
                                  ["leaderboard"]], ids=["show", "export csv", "export json", "leaderboard"])
def test_a_mistyped_store_path_is_refused_not_created(args: list[str], env: Env, tmp_path: Path) -> None:
    typo = tmp_path / "stroe.db"
    result = CliRunner().invoke(cli_app, [*args, "--db", f"sqlite:///{typo}"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert one_line(result.output).strip() == (f"error: no store at {typo}: check the --db path (this command "
                                               "reads a store, it does not create one)")
    assert not typo.exists() and list(tmp_path.iterdir()) == []


# ---- dataset files ------------------------------------------------------------------------------

GOOD = '{"question": "What is 1 + 1?", "answer": "2"}'
FILES: dict[str, bytes] = {
    "broken.jsonl": f'{GOOD}\n{{"question": "What is 2 + 2?", "answer": \n{GOOD}\n'.encode(),
    "missing_field.jsonl": f'{GOOD}\n{GOOD.replace("1 + 1", "3 + 3")}\n{{"question": "What is 2 + 2?"}}\n'.encode(),
    "no_answer_field.jsonl": b'{"question": "What is 1 + 1?", "result": "2"}\n',
    "list_record.jsonl": f'{GOOD}\n["What is 2 + 2?", "4"]\n'.encode(),
    "null_problem.jsonl": b'{"question": null, "answer": "2"}\n',
    "number_answer_empty.jsonl": b'{"question": "What is 1 + 1?", "answer": ""}\n',
    "empty.jsonl": b"",
    "blank_lines.jsonl": b"\n \n\n",
    "columns.csv": b"question,answer\nWhat is 1 + 1?,2\nWhat is 2 + 2?,4,extra\n",
    "latin1.jsonl": '{"question": "Combien font 1 + 1 ? Réponds", "answer": "2"}\n'.encode("latin-1"),
    "not_array.json": b'"What is 1 + 1?"',
    "duplicate_ids.jsonl": b'{"id": "a", "question": "1 + 1?", "answer": "2"}\n'
                           b'{"id": "a", "question": "2 + 2?", "answer": "4"}\n',
    "no_extension": GOOD.encode(),
    "nul_item.jsonl": f'{GOOD}\n{{"question": "What is 2 + 2?\\u0000", "answer": "4"}}\n'.encode(),
    "long_item.jsonl": ('{"question": "' + "x" * 50_000 + '", "answer": "4"}\n').encode(),
    "good.jsonl": f"{GOOD}\n".encode(),
    "nan_answer.jsonl": f'{GOOD}\n{{"question": "What is 0 / 0?", "answer": NaN}}\n'.encode(),
    "infinite_id.json": b'[{"id": -Infinity, "question": "What is 1 + 1?", "answer": "2"}]',
    "overflowing_answer.jsonl": b'{"question": "What is 10 ** 999?", "answer": 1e999}\n',
}
FILE_CASES = {
    "broken line": ("broken.jsonl", "broken.jsonl, line 2: bad JSON"),
    "missing field on a later line": ("missing_field.jsonl", "missing_field.jsonl, line 3, field 'answer': missing"),
    "no answer field": ("no_answer_field.jsonl", "line 1: no answer field (looked for answer"),
    "a record that is a list": ("list_record.jsonl", "list_record.jsonl, line 2: expected a JSON object, got list"),
    "null problem": ("null_problem.jsonl", "line 1, field 'question': empty problem"),
    "empty answer": ("number_answer_empty.jsonl", "line 1, field 'answer': empty answer"),
    "empty file": ("empty.jsonl", "empty.jsonl: no items"),
    "blank lines only": ("blank_lines.jsonl", "blank_lines.jsonl: no items"),
    "extra CSV column": ("columns.csv", "columns.csv, line 3: expected 2 columns (question, answer), got 3"),
    "not UTF-8": ("latin1.jsonl", "latin1.jsonl: not UTF-8 text"),
    "JSON that is not an array": ("not_array.json", "expected a JSON array of objects"),
    "duplicate ids": ("duplicate_ids.jsonl", "line 2, field 'id': duplicate id 'a'"),
    "unknown format": ("no_extension", "cannot tell the format from 'no extension'"),
    "no such file": ("missing.jsonl", "missing.jsonl: no such file"),
    "NaN answer": ("nan_answer.jsonl", "nan_answer.jsonl, line 2: NaN is not a number JSON allows"),
    "infinite id": ("infinite_id.json", "infinite_id.json: -Infinity is not a number JSON allows"),
    "overflowing number": ("overflowing_answer.jsonl", "overflowing_answer.jsonl, line 1: 1e999 is too large"),
}


def write_dataset_files(directory: Path) -> None:
    for name, content in FILES.items():
        path = directory / name
        if not path.exists():
            path.write_bytes(content)


@pytest.mark.parametrize(("name", "message"), FILE_CASES.values(), ids=FILE_CASES.keys())
def test_a_bad_dataset_file_is_refused_whole(name: str, message: str, env: Env, unchanged: None) -> None:
    write_dataset_files(env.tmp)
    with pytest.raises(DatasetError) as refused:
        load_dataset(f"file:{env.tmp / name}")
    assert message in str(refused.value)


# ---- the web app --------------------------------------------------------------------------------


def plain(markdown: str) -> str:
    """Text shown through literal_markdown, without its escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def compare_page(fields: dict[str, object]) -> AppTest:
    """The Compare page with the fake model, `fields` filled in and Run clicked."""
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="cmp.provider").set_value("fake").run()
    for key, value in fields.items():
        widget = next(w for kind in ("text_area", "number_input", "multiselect") for w in getattr(at, kind)
                      if w.key == key)
        widget.set_value(value)
    at.run()
    at.button(key="run_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def form(problem: str = "What is 2 + 2?", strategies: tuple[str, ...] = ("direct",), **more: object) -> dict:
    return {"cmp.problem": problem, "cmp.strategies": list(strategies), **more}


UI_CASES = {
    "empty problem": (form(""), {}, "The problem is empty."),
    "blank problem": (form(" \n\t "), {}, "The problem is empty."),
    "1 MB problem": (form(MEGABYTE_PROBLEM), {},
                     "The problem is 1,000,000 characters; this deployment allows at most 20,000."),
    "control character": (form("2 + 2?\x07"), {}, "control character (U+0007) at position 6"),
    "no strategy": (form(strategies=()), {}, "Choose at least one strategy."),
    "no budget": (form(**{"cmp.budget.total_tokens": 0, "cmp.budget.seconds": 0.0}), {},
                  "Set at least one budget cap: tokens, output tokens, dollars or seconds."),
    "budget over the deployment's ceiling": (form(**{"cmp.budget.total_tokens": 10**6}),
                                             {"max_total_tokens": 100_000}, "is above this deployment's limit of 100,000"),
    "absurd budget": (form(**{"cmp.budget.total_tokens": 10**12}), {}, "is not plausible"),
}


@pytest.mark.parametrize(("fields", "host_limits", "message"), UI_CASES.values(), ids=UI_CASES.keys())
def test_the_compare_page_refuses(fields: dict, host_limits: dict, message: str, env: Env, limits: None,
                                  unchanged: None, monkeypatch: pytest.MonkeyPatch) -> None:
    set_limits(monkeypatch, host_limits)
    at = compare_page(fields)
    errors = [plain(e.value) for e in at.error]
    assert any(message in e for e in errors), errors
    assert "run" not in at.query_params  # still on the form: no run was started


RUN_LINKS = {
    "path traversal": "../../etc/passwd",
    "markup": "<script>alert(1)</script>**bold**",
    "SQL": "x' OR '1'='1",
    "10,000 characters": "A" * 10_000,
    "well-formed but unknown": "AAAAAAAAAAAAAAAA",
}


@pytest.mark.parametrize("run_id", RUN_LINKS.values(), ids=RUN_LINKS.keys())
def test_a_malformed_run_link_says_no_such_run(run_id: str, env: Env, unchanged: None) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "No such run"
    [error] = [plain(e.value) for e in at.error]
    assert error.startswith(f"No such run: {run_id[:80]}.") and "mistyped" in error
    assert "<script>" not in at.error[0].value  # shown as text, never as markup


# ---- non-finite numbers outside the command line --------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_price_file_with_a_non_finite_price_is_refused(value: str, tmp_path: Path) -> None:
    from reasoning.prices import PriceFileError, load_overrides

    prices = tmp_path / "prices.toml"
    prices.write_text(f'["openai:my-model"]\ninput_per_mtok = {value}\noutput_per_mtok = 0.6\n')
    with pytest.raises(PriceFileError, match=f"input_per_mtok must be a number of dollars per million tokens, "
                                             f"0 or more; got {value}"):
        load_overrides(prices)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_table_row_with_a_non_finite_number_is_refused(value: float) -> None:
    """Rows that come as Python values (a Hugging Face table) rather than JSON text."""
    from reasoning.datasets.files import _Fields, _records_to_items

    rows = [(1, {"question": "What is 1 + 1?", "answer": 2.0}), (2, {"question": "What is 0 / 0?", "answer": value})]
    with pytest.raises(DatasetError, match=f"hf:x, row 2, field 'answer': {value} is not a finite number"):
        _records_to_items(rows, source="hf:x", name="x", fields=_Fields(None, None, None), unit="row")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf")])
def test_make_strategy_refuses_non_finite_knobs(value: object) -> None:
    from reasoning.strategies import make_strategy
    from reasoning.strategies.base import StrategyConfigError

    for strategy, knob in (("chain_of_thought", "temperature"), ("anytime", "epsilon"), ("value_tree", "gamma"),
                           ("self_consistency", "confidence_threshold"), ("token_budget", "slack"),
                           ("native_thinking", "thinking_share")):
        with pytest.raises(StrategyConfigError, match=f"{strategy}.{knob} must be a finite number"):
            make_strategy(strategy, **{knob: value})
    with pytest.raises(StrategyConfigError, match="direct.max_tokens must be int"):  # int knobs: as before
        make_strategy("direct", max_tokens=value)
