"""Datasets: published file formats, malformed files, built-in generators, checkers, Hugging Face."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from reasoning import answers
from reasoning.datasets import (
    BUILTINS,
    GRADED,
    GRADED_LEVELS,
    OFFLINE_HINT,
    DatasetError,
    Item,
    last_boxed,
    load_builtin,
    load_dataset,
    load_file,
)
from tests.support import FIXTURES

# --- published formats ---------------------------------------------------------------------------


def test_gsm8k_file_gives_problems_and_the_number_after_hashes() -> None:
    ds = load_file(FIXTURES / "gsm8k_sample.jsonl")
    assert ds.name == "gsm8k_sample" and len(ds) == 5
    assert [item.reference for item in ds] == ["21", "1248", "60", "0", "1400000"]
    assert ds[0].problem.startswith("Maya bakes 3 trays of cookies")
    assert ds[1].problem == "A school buys 26 boxes of pencils. Each box holds 48 pencils. How many pencils does the school buy?"
    assert [item.id for item in ds] == [f"gsm8k_sample:{i}" for i in range(5)]
    assert [item.meta["line"] for item in ds] == [1, 2, 3, 4, 5]
    assert {item.dataset for item in ds} == {"gsm8k_sample"}


def test_math500_file_prefers_the_answer_field_and_keeps_its_ids() -> None:
    ds = load_file(FIXTURES / "math500_sample.jsonl")
    assert [item.reference for item in ds] == [r"\frac{1}{2}", "16", r"\frac{7}{2}"]  # not the solution's \dfrac
    assert ds[0].id == "test/counting_and_probability/1.json"
    assert ds[1].problem == r"Compute $\sqrt{49} + 3^2$."
    assert ds[2].meta["subject"] == "Algebra" and ds[2].meta["level"] == 2
    assert "answer" not in ds[0].meta and "problem" not in ds[0].meta


def test_math_file_without_answer_uses_the_last_boxed_with_nested_braces() -> None:
    ds = load_file(FIXTURES / "math_sample.jsonl")
    assert [item.reference for item in ds] == ["2", r"\frac{3}{4}", r"\{-2, 2\}"]
    assert ds[0].problem == r"Simplify $\frac{1}{\frac{1}{2}}$."


def test_csv_with_custom_field_names_quotes_and_multiline_cells() -> None:
    ds = load_file(FIXTURES / "custom_fields.csv", problem_field="Prompt", answer_field="Expected", id_field="qid")
    assert [(item.id, item.reference) for item in ds] == [("c1", "56"), ("c2", "Paris"), ("c3", "7")]
    assert ds[1].problem == "Name the capital of France, in one word."
    assert ds[2].problem == "A two-line\nproblem: what is 10 - 3?"
    assert ds[1].meta == {"notes": "quoted, with comma", "line": 3}


def test_boxed_extraction() -> None:
    assert last_boxed(r"so $x=\boxed{\frac{1}{2}}$.") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{1} then \boxed{\sqrt{\frac{a}{b}}}") == r"\sqrt{\frac{a}{b}}"
    assert last_boxed(r"\boxed{\left\{ x \right.}") == r"\left\{ x \right."  # escaped brace is not nesting
    assert last_boxed("no box here") is None


def test_json_array_and_explicit_format(tmp_path: Path) -> None:
    path = tmp_path / "probs.data"
    path.write_text(json.dumps([{"question": "1+1?", "answer": 2}, {"question": "2+2?", "answer": 4.0}]))
    with pytest.raises(DatasetError, match="format"):
        load_file(path)
    ds = load_file(path, format="json")
    assert [(item.problem, item.reference) for item in ds] == [("1+1?", "2"), ("2+2?", "4")]


# --- malformed files --------------------------------------------------------------------------------

GOOD = {"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4"}


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"question": "What is 3 + 3?", "answer": "#### 6"', r"line 3: bad JSON"),
        (json.dumps({"answer": "#### 6"}), r"line 3, field 'question': missing"),
        (json.dumps({"question": "   ", "answer": "#### 6"}), r"line 3, field 'question': empty problem"),
        (json.dumps({"question": "What is 3 + 3?"}), r"line 3, field 'answer': missing"),
        (json.dumps({"question": "What is 3 + 3?", "answer": "####  "}), r"line 3, field 'answer': empty answer"),
        ("[1, 2]", r"line 3: expected a JSON object"),
    ],
)
def test_malformed_jsonl_names_file_line_and_field_and_loads_nothing(tmp_path: Path, bad_line: str,
                                                                     expected: str) -> None:
    # the bad record is the last one: a loader that returned what it had parsed would pass silently
    path = _jsonl(tmp_path / "broken.jsonl", [json.dumps(GOOD), json.dumps(GOOD), bad_line])
    with pytest.raises(DatasetError, match=expected) as caught:
        load_dataset(str(path))
    assert "broken.jsonl" in str(caught.value)


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "gaps.jsonl", [json.dumps(GOOD), "", json.dumps(GOOD), "{oops"])
    with pytest.raises(DatasetError, match="line 4: bad JSON"):
        load_file(path)
    ds = load_file(_jsonl(tmp_path / "ok.jsonl", [json.dumps(GOOD), "", json.dumps(GOOD)]))
    assert [item.meta["line"] for item in ds] == [1, 3]


def test_math_solution_without_boxed_is_an_error(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "math.jsonl", [json.dumps({"problem": "p", "solution": r"it is $\boxed{3}$"}),
                                            json.dumps({"problem": "q", "solution": "it is 3"})])
    with pytest.raises(DatasetError, match=r"line 2, field 'solution': no \\boxed\{\} answer"):
        load_file(path)


def test_csv_row_with_wrong_column_count(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('problem,answer\n"What is 1+1?",2\n"What is 2+2?",4,extra\n')
    with pytest.raises(DatasetError, match=r"rows.csv, line 3: expected 2 columns \(problem, answer\), got 3"):
        load_file(path)
    path.write_text("problem,answer\nWhat is 1+1?\n")
    with pytest.raises(DatasetError, match=r"line 2: expected 2 columns"):
        load_file(path)


def test_named_field_missing_and_no_detectable_field(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("Prompt,Expected\nWhat is 1+1?,2\n")
    with pytest.raises(DatasetError, match=r"line 2, field 'Gold': missing"):
        load_file(path, problem_field="Prompt", answer_field="Gold")
    with pytest.raises(DatasetError, match=r"line 2: no problem field .*problem_field="):
        load_file(path)


def test_duplicate_ids_and_empty_file(tmp_path: Path) -> None:
    row = {"id": "a", **GOOD}
    with pytest.raises(DatasetError, match=r"line 2, field 'id': duplicate id 'a'"):
        load_file(_jsonl(tmp_path / "dup.jsonl", [json.dumps(row), json.dumps(row)]))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="no items"):
        load_file(tmp_path / "empty.jsonl")
    with pytest.raises(DatasetError, match="no such file"):
        load_file(tmp_path / "missing.jsonl")


# --- built-ins ---------------------------------------------------------------------------------------


def test_required_builtins_are_listed_with_descriptions() -> None:
    for name in ("gsm_symbolic", "basic_arithmetic", "chain_sum"):
        assert name in BUILTINS
    assert len(BUILTINS) >= 6 and all(desc.strip() for desc in BUILTINS.values())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_generate_offline_and_deterministically(name: str) -> None:
    first, again = load_builtin(name, size=6, seed=7), load_builtin(name, size=6, seed=7)
    assert [(i.id, i.problem, i.reference) for i in first] == [(i.id, i.problem, i.reference) for i in again]
    assert [i.id for i in first] == [f"{name}:7:{k}" for k in range(6)]
    assert all(i.problem.strip() and i.reference.strip() and i.dataset == name for i in first)
    # item k depends on (name, seed, k) only, not on how many were asked for
    longer = load_builtin(name, size=9, seed=7)
    assert [(i.id, i.problem) for i in longer.items[:6]] == [(i.id, i.problem) for i in first]
    other_seed = load_builtin(name, size=6, seed=8)
    assert [i.problem for i in other_seed] != [i.problem for i in first]
    json.dumps([i.meta for i in first])  # metadata is storable as JSON


def _value(problem: str) -> int:
    """The value of "What is A op B [op C]?", computed left to right (the generator only writes
    expressions whose left-to-right order is their precedence order)."""
    tokens = re.fullmatch(r"What is (.+)\?", problem).group(1).split()  # type: ignore[union-attr]
    value = int(tokens[0])
    for op, number in zip(tokens[1::2], tokens[2::2], strict=True):
        value = {"+": value + int(number), "-": value - int(number), "*": value * int(number)}[op]
    return value


def test_graded_arithmetic_rotates_its_levels_with_right_answers_and_no_reasoning_gym(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # `import reasoning_gym` would raise: not used
    ds = load_dataset(GRADED, size=300, seed=3)
    assert ds.spec == f"builtin:{GRADED}" and ds.name == GRADED and len(ds) == 300
    assert [item.meta["level"] for item in ds.items[:6]] == list(GRADED_LEVELS) * 2
    for item in ds:
        numbers = [int(n) for n in re.findall(r"\d+", item.problem)]
        assert item.reference == str(_value(item.problem)), item
        assert int(item.reference) >= 0  # no negative answers (nor negative partial results)
        level = item.meta["level"]
        if level == "one_digit":
            assert len(numbers) == 2 and all(2 <= n <= 9 for n in numbers), item
        elif level == "two_digit":
            assert len(numbers) == 2 and all(10 <= n <= 99 for n in numbers) and "*" not in item.problem, item
        else:
            assert len(numbers) == 3 and all(n <= 9 for n in numbers), item
        assert ds.check(item, f"So the result is {item.reference}.\nAnswer: {item.reference}")
        assert not ds.check(item, str(int(item.reference) + 1))
    assert len({item.problem for item in ds}) > 150  # not a handful of problems repeated


def test_reasoning_gym_scorer_judges_non_arithmetic_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_be_called(predicted: str, reference: str) -> bool:
        raise AssertionError("a reasoning-gym-scored set must not fall back to the numeric checker")

    monkeypatch.setattr(answers, "is_equivalent", must_not_be_called, raising=False)
    ds = load_dataset("builtin:spell_backward", size=5, seed=1)
    item = ds[0]
    word = item.meta["word"]
    assert item.reference == word[::-1]
    assert ds.check(item, item.reference)
    assert ds.check(item, f"Reversing it letter by letter.\nAnswer: {item.reference}.")
    assert not ds.check(item, word)
    assert not ds.check(item, item.reference[:-1])  # reasoning-gym gives this partial credit; not correct
    assert not ds.check(item, None)

    family = load_builtin("family_relationships", size=3, seed=0)
    right = family[0].reference
    assert family.check(family[0], right) and family.check(family[0], f"Answer: {right}")
    assert not family.check(family[0], "stranger")


def test_plain_checker_sees_the_final_answer_and_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def record(predicted: str, reference: str) -> bool:
        calls.append((predicted, reference))
        return predicted == reference

    monkeypatch.setattr(answers, "is_equivalent", record, raising=False)
    ds = load_builtin("chain_sum", size=2, seed=0)
    item = ds[0]
    assert ds.check(item, f"Adding up the terms.\nAnswer: {item.reference}")
    assert ds.check(item, item.reference)
    assert not ds.check(item, "")
    assert calls == [(item.reference, item.reference)] * 2


def test_gsm8k_references_check_against_answers_module() -> None:
    if not hasattr(answers, "is_equivalent"):
        pytest.fail("reasoning.answers.is_equivalent is not there yet (owned by the answers area)")
    ds = load_file(FIXTURES / "gsm8k_sample.jsonl")
    assert ds.check(ds[1], "1248") and ds.check(ds[1], "1,248")
    assert not ds.check(ds[1], "1247")
    math = load_file(FIXTURES / "math500_sample.jsonl")
    assert math.check(math[0], r"\frac{1}{2}") and math.check(math[0], "1/2")
    assert not math.check(math[0], r"\frac{1}{3}")


# --- the entry point and Hugging Face ------------------------------------------------------------------


def test_load_dataset_specs_and_seeded_subsets() -> None:
    assert load_dataset("basic_arithmetic", size=3).spec == "builtin:basic_arithmetic"
    assert len(load_dataset("builtin:chain_sum")) == 20  # the default size
    path = FIXTURES / "gsm8k_sample.jsonl"
    whole = load_dataset(f"file:{path}")
    assert [i.id for i in load_dataset(str(path))] == [i.id for i in whole]
    part = load_dataset(str(path), size=3, seed=4)
    assert [i.id for i in part] == [i.id for i in load_dataset(str(path), size=3, seed=4)]
    ids = [i.id for i in whole]
    assert len(part) == 3 and [ids.index(i.id) for i in part] == sorted(ids.index(i.id) for i in part)
    with pytest.raises(DatasetError, match="unknown dataset 'nonsense'"):
        load_dataset("nonsense")
    with pytest.raises(DatasetError, match="unknown built-in dataset 'nope'"):
        load_dataset("builtin:nope")


def test_a_txt_file_is_one_problem_per_line_with_an_optional_answer(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("What is 7 * 4? || 28\n\n  Name a prime.  \nIs a || b true? || yes\n", encoding="utf-8")
    ds = load_dataset(str(path))
    assert ds.spec == f"file:{path}" and ds.name == "mine"
    assert [(i.id, i.problem, i.reference, i.meta["line"]) for i in ds] == [
        ("mine:0", "What is 7 * 4?", "28", 1), ("mine:1", "Name a prime.", "", 3),
        ("mine:2", "Is a || b true?", "yes", 4)]  # the last `||` splits
    assert ds.check(ds[0], "Answer: 28") is True and ds.check(ds[0], "27") is False
    assert ds.check(ds[1], "7") is None and ds.check(ds[1], None) is None  # no answer given: not judged
    assert len(load_dataset(str(path), size=2, seed=1)) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("What is 1 + 1? || 2\n|| 3\n", "mine.txt, line 2: no problem before '||'"),
    ("What is 1 + 1? ||  \n", "mine.txt, line 1: empty answer after '||'"),
    ("\n  \n", "mine.txt: no items"),
])
def test_a_malformed_txt_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_file(path)


def test_an_item_without_a_reference_is_not_judged_by_any_checker() -> None:
    ds = load_builtin("chain_sum", size=1)
    blank = Item(id="x", problem="What is 2 + 2?", reference="  ", dataset="x")
    assert ds.check(blank, "4") is None


def _fake_datasets_module(monkeypatch: pytest.MonkeyPatch, load) -> None:  # type: ignore[no-untyped-def]
    module = types.ModuleType("datasets")
    module.load_dataset = load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)


def test_hf_without_the_datasets_package_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(DatasetError, match="pip install datasets"):
        load_dataset("hf:openai/gsm8k")


def test_hf_offline_gives_the_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(name: str, config: str | None = None, split: str | None = None):  # type: ignore[no-untyped-def]
        import socket

        socket.getaddrinfo("huggingface.co", 443)  # blocked by tests/conftest.py, as offline

    _fake_datasets_module(monkeypatch, unreachable)
    with pytest.raises(DatasetError) as caught:
        load_dataset("hf:HuggingFaceH4/MATH-500")
    assert OFFLINE_HINT in str(caught.value)
    assert "could not reach Hugging Face (offline?)" in str(caught.value) and "load_file(" in str(caught.value)


def test_hf_rows_go_through_the_published_format_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str | None, str | None]] = []

    def load(name: str, config: str | None = None, split: str | None = None):  # type: ignore[no-untyped-def]
        asked.append((name, config, split))
        return [json.loads(line) for line in (FIXTURES / "gsm8k_sample.jsonl").read_text().splitlines()]

    _fake_datasets_module(monkeypatch, load)
    ds = load_dataset("hf:openai/gsm8k", size=2, seed=0)
    assert asked == [("openai/gsm8k", "main", "test")]
    assert len(ds) == 2 and all(i.dataset == "openai/gsm8k" for i in ds)
    assert {i.reference for i in load_dataset("hf:openai/gsm8k")} == {"21", "1248", "60", "0", "1400000"}
    load_dataset("hf:someone/set:cfg@validation")
    assert asked[-1] == ("someone/set", "cfg", "validation")
