"""Datasets of (problem, reference answer) items, each dataset with the checker that judges answers.

Three sources, one entry point (`load_dataset`):
- built-in sets generated offline and deterministically by reasoning-gym (`builtin:chain_sum`):
  reasoning.datasets.builtin;
- user files, JSONL / JSON / CSV, with GSM8K and MATH / MATH-500 read as published (`file:path`):
  reasoning.datasets.files;
- Hugging Face datasets by name when the `datasets` package and the network are there
  (`hf:openai/gsm8k`): reasoning.datasets.hugging_face.
Item, Dataset, DatasetError and the default checker are in reasoning.datasets.base.

A file is parsed completely before anything is returned, so a malformed file raises `DatasetError`
(naming the file, line and field) and never yields half a dataset.
"""

from __future__ import annotations

from pathlib import Path

from reasoning.datasets.base import Dataset, DatasetError, Item
from reasoning.datasets.builtin import BUILTINS, DEFAULT_BUILTIN_SIZE, GRADED, GRADED_LEVELS, load_builtin
from reasoning.datasets.files import items_from_lines, last_boxed, load_file
from reasoning.datasets.hugging_face import OFFLINE_HINT, _parse_hf_spec, load_hf

__all__ = [
    "BUILTINS", "DEFAULT_BUILTIN_SIZE", "GRADED", "GRADED_LEVELS", "OFFLINE_HINT", "Dataset", "DatasetError", "Item",
    "items_from_lines", "last_boxed", "load_builtin", "load_dataset", "load_file", "load_hf",
]


def load_dataset(spec: str, size: int | None = None, seed: int = 0, *, problem_field: str | None = None,
                 answer_field: str | None = None, id_field: str | None = None,
                 format: str | None = None) -> Dataset:
    """Load by spec: "builtin:NAME" or a bare built-in name (size defaults to 20, seed picks the
    problems), "file:PATH" or an existing path, "hf:owner/name[:config][@split]". For files and
    Hugging Face sets, `size` takes a seeded random subset in the original order (None: all)."""
    fields = {"problem_field": problem_field, "answer_field": answer_field, "id_field": id_field}
    if spec.startswith("builtin:") or spec in BUILTINS:
        name = spec.removeprefix("builtin:")
        return load_builtin(name, size=DEFAULT_BUILTIN_SIZE if size is None else size, seed=seed)
    if spec.startswith("hf:"):
        name, config, split = _parse_hf_spec(spec.removeprefix("hf:"))
        return load_hf(name, config, split, **fields).subset(size, seed)
    if spec.startswith("file:") or Path(spec).is_file():
        return load_file(spec.removeprefix("file:"), format=format, **fields).subset(size, seed)
    raise DatasetError(f"unknown dataset {spec!r}: use a built-in name ({', '.join(BUILTINS)}), "
                       "file:PATH or hf:owner/name")
