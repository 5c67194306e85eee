"""User files of problems with reference answers: JSONL, JSON, CSV/TSV, and plain lines.

GSM8K and MATH / MATH-500 are read as published (the answer after `####`; a MATH solution's last
`\\boxed{}`). A file is parsed completely before anything is returned, so a malformed file raises
`DatasetError` naming the file, line and field, and never yields half a dataset. `_records_to_items`
also turns a Hugging Face table's rows into items (reasoning.datasets.hugging_face).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning.datasets.base import Dataset, DatasetError, Item, check_equivalent

PROBLEM_FIELDS = ("problem", "question", "input", "prompt", "query")
# `answer` before `solution`: MATH-500's answer field wins over the boxed answer in its solution.
ANSWER_FIELDS = ("answer", "reference", "target", "expected_answer", "final_answer", "solution")
ID_FIELDS = ("id", "unique_id", "idx", "uid")
FORMATS = ("jsonl", "json", "csv", "tsv", "lines")
LINE_ANSWER = "||"  # "lines" format: `problem || answer`, the answer optional

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in text, nested braces included; escaped
    braces (\\{ \\}) are content, not nesting."""
    found = None
    for match in _BOXED.finditer(text):
        depth, pos, start = 1, match.end(), match.end()
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                pos += 2
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    found = text[start:pos]
                    break
            pos += 1
    return found.strip() if found is not None else None


def reference_from(value: str, solution: bool = False) -> str | None:
    """The reference answer in a published answer field: after GSM8K's `####` (thousands separators
    removed), else the last \\boxed{} (the only answer a worked `solution` may give), else the value."""
    if "####" in value:
        return _THOUSANDS.sub("", value.rsplit("####", 1)[1]).strip() or None
    if solution or _BOXED.search(value):
        return last_boxed(value) or None
    return value.strip() or None


@dataclass(frozen=True)
class _Fields:
    problem: str | None
    answer: str | None
    id: str | None


def _where(path: str, line: int, unit: str) -> str:
    return f"{path}, {unit} {line}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):  # a NaN cell of a Hugging Face table
        raise _NonFinite(f"{value} is not a finite number")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _detect(record: Mapping[str, Any], candidates: tuple[str, ...], what: str, where: str) -> str:
    found = next((f for f in candidates if f in record), None)
    if found is None:
        raise DatasetError(f"{where}: no {what} field (looked for {', '.join(candidates)}; pass {what}_field=...)")
    return found


def _records_to_items(records: list[tuple[int, Mapping[str, Any]]], *, source: str, name: str,
                      fields: _Fields, unit: str = "line") -> list[Item]:
    """Items from (line number, record) pairs; the first record a problem is found in raises.

    Fields not given are detected on the first record and then required of every record, except
    that MATH's `answer` and `solution` stand in for each other, `answer` winning when present.
    """
    if not records:
        raise DatasetError(f"{source}: no items")
    first_where = _where(source, records[0][0], unit)
    problem_field = fields.problem or _detect(records[0][1], PROBLEM_FIELDS, "problem", first_where)
    if fields.answer:
        answer_fields: tuple[str, ...] = (fields.answer,)
    else:
        detected = _detect(records[0][1], ANSWER_FIELDS, "answer", first_where)
        answer_fields = ("answer", "solution") if detected in ("answer", "solution") else (detected,)
    id_field = fields.id or next((f for f in ID_FIELDS if f in records[0][1]), None)

    items: list[Item] = []
    seen_ids: set[str] = set()
    for index, (line, record) in enumerate(records):
        where = _where(source, line, unit)
        for field_name in {problem_field, *answer_fields, *([id_field] if id_field else [])}:
            try:
                _text(record.get(field_name))
            except _NonFinite as exc:
                raise DatasetError(f"{where}, field {field_name!r}: {exc}") from None
        if problem_field not in record:
            raise DatasetError(f"{where}, field {problem_field!r}: missing")
        problem = _text(record[problem_field])
        if not problem or not problem.strip():
            raise DatasetError(f"{where}, field {problem_field!r}: empty problem")

        present = [f for f in answer_fields if f in record]
        answer_field = next((f for f in present if _text(record[f]) not in (None, "")), None)
        if answer_field is None:
            field_name = present[0] if present else answer_fields[0]
            raise DatasetError(f"{where}, field {field_name!r}: {'empty answer' if present else 'missing'}")
        raw = _text(record[answer_field]) or ""
        reference = reference_from(raw, solution=answer_field == "solution")
        if reference is None:
            detail = "no \\boxed{} answer" if answer_field == "solution" or _BOXED.search(raw) else "empty answer"
            raise DatasetError(f"{where}, field {answer_field!r}: {detail}")

        if id_field is not None and id_field not in record:
            raise DatasetError(f"{where}, field {id_field!r}: missing")
        item_id = (_text(record[id_field]) if id_field else None) or f"{name}:{index}"
        if item_id in seen_ids:
            raise DatasetError(f"{where}, field {id_field!r}: duplicate id {item_id!r}")
        seen_ids.add(item_id)
        meta = {k: v for k, v in record.items() if k not in (problem_field, answer_field, id_field)}
        meta[unit] = line
        items.append(Item(id=item_id, problem=problem.strip(), reference=reference, dataset=name, meta=meta))
    return items


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFinite(f"{name} is not a number JSON allows (a finite number is needed)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise _NonFinite(f"{text} is too large for a number")
    return value


def _loads(text: str) -> Any:
    """json.loads without NaN and Infinity (which Python accepts and standard JSON does not): such a
    value would reach the store, where NaN makes exported JSON invalid."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}, line {line_no}: bad JSON ({exc.msg} at column {exc.colno})") from None
            except _NonFinite as exc:
                raise DatasetError(f"{path}, line {line_no}: {exc}") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}, line {line_no}: expected a JSON object, got {type(record).__name__}")
            records.append((line_no, record))
    return records


def _read_json(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = _loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}, line {exc.lineno}: bad JSON ({exc.msg})") from None
    except _NonFinite as exc:
        raise DatasetError(f"{path}: {exc}") from None
    if isinstance(data, dict):
        data = [data]  # MATH ships one problem per .json file
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of objects")
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise DatasetError(f"{path}, record {number}: expected a JSON object, got {type(record).__name__}")
    return list(enumerate(data, start=1))


def _read_csv(path: Path, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    records = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"{path}, line 1: no header row")
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for row in reader:
            line_no, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}, line {line_no}: expected {len(header)} columns "
                                   f"({', '.join(header)}), got {len(row)}")
            records.append((line_no, dict(zip(header, row, strict=True))))
    return records


def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise DatasetError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return format
    suffix = path.suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
                 ".txt": "lines"}
    if suffix not in by_suffix:
        raise DatasetError(f"{path}: cannot tell the format from {suffix or 'no extension'!r}; "
                           f"pass format= one of {', '.join(FORMATS)}")
    return by_suffix[suffix]


def items_from_lines(lines: list[str], *, source: str, name: str) -> list[Item]:
    """The "lines" format (a .txt file, or problems pasted in the app): one problem per line, with an
    optional `|| answer` after it (the last `||` splits). A problem without an answer is run but not
    judged. Blank lines are skipped; ids are `<name>:<index>` like other files'."""
    items: list[Item] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem, bar, answer = line.rpartition(LINE_ANSWER) if LINE_ANSWER in line else (line, "", "")
        if not problem.strip():
            detail = "no problem before '||'" if bar else "empty problem"
            raise DatasetError(f"{_where(source, line_no, 'line')}: {detail}")
        if bar and not answer.strip():
            raise DatasetError(f"{_where(source, line_no, 'line')}: empty answer after '||' (leave out '||' "
                               "to run the problem unjudged)")
        items.append(Item(id=f"{name}:{len(items)}", problem=problem.strip(), reference=answer.strip(),
                          dataset=name, meta={"line": line_no}))
    if not items:
        raise DatasetError(f"{source}: no items")
    return items


def load_file(path: str | Path, problem_field: str | None = None, answer_field: str | None = None,
              id_field: str | None = None, format: str | None = None, name: str | None = None) -> Dataset:
    """A JSONL, JSON or CSV/TSV file of problems with reference answers, parsed whole before returning.

    Fields not given are detected on the first record and then required of every record: the problem
    from problem/question/input/prompt/query, the answer from answer/reference/target/expected_answer/
    final_answer/solution (MATH's answer and solution stand in for each other, answer winning). GSM8K answers keep what follows `####`; a MATH solution gives its last
    \\boxed{}. Item ids come from id/unique_id/idx/uid, else `<name>:<record index>`. A .txt file is
    one problem per line with an optional `|| answer` (`items_from_lines`).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    kind = _format_of(path, format)
    name = name or path.stem
    try:
        if kind == "lines":
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            items = items_from_lines(lines, source=str(path), name=name)
            return Dataset(name, items, check_equivalent, spec=f"file:{path}", description=f"problems in {path.name}")
        if kind == "jsonl":
            records = _read_jsonl(path)
        elif kind == "json":
            records = _read_json(path)
        else:
            records = _read_csv(path, "," if kind == "csv" else "\t")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None
    items = _records_to_items(records, source=str(path), name=name,
                              fields=_Fields(problem_field, answer_field, id_field),
                              unit="record" if kind == "json" else "line")
    return Dataset(name, items, check_equivalent, spec=f"file:{path}", description=f"{kind} file {path.name}")
