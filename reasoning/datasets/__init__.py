"""Datasets of (problem, reference answer) items, each dataset with the checker that judges answers.

Three sources, one entry point (`load_dataset`):
- built-in sets generated offline and deterministically by reasoning-gym (`builtin:chain_sum`);
- user files, JSONL / JSON / CSV, with GSM8K and MATH / MATH-500 read as published (`file:path`);
- Hugging Face datasets by name when the `datasets` package and the network are there (`hf:openai/gsm8k`).

A file is parsed completely before anything is returned, so a malformed file raises `DatasetError`
(naming the file, line and field) and never yields half a dataset.
"""

from __future__ import annotations

from pathlib import Path

from reasoning.datasets.base import Dataset, DatasetError, Item, check_equivalent
from reasoning.datasets.builtin import BUILTINS, DEFAULT_BUILTIN_SIZE, GRADED, GRADED_LEVELS, load_builtin
from reasoning.datasets.files import _Fields, _records_to_items, items_from_lines, last_boxed, load_file

__all__ = [
    "BUILTINS", "DEFAULT_BUILTIN_SIZE", "GRADED", "GRADED_LEVELS", "OFFLINE_HINT", "Dataset", "DatasetError", "Item",
    "items_from_lines", "last_boxed", "load_builtin", "load_dataset", "load_file", "load_hf",
]

# ---------------------------------------------------------------------------------------------
# Hugging Face

# name -> (config, split) for the sets the app knows; any other name defaults to no config, split "test"
HF_PRESETS: dict[str, tuple[str | None, str]] = {
    "openai/gsm8k": ("main", "test"),
    "HuggingFaceH4/MATH-500": (None, "test"),
}
OFFLINE_HINT = "could not reach Hugging Face (offline?) — download the file and load it with load_file(...)"


def load_hf(name: str, config: str | None = None, split: str | None = None,
            problem_field: str | None = None, answer_field: str | None = None,
            id_field: str | None = None) -> Dataset:
    """A Hugging Face dataset through the optional `datasets` package (not a dependency of ours)."""
    preset_config, preset_split = HF_PRESETS.get(name, (None, "test"))
    config = config if config is not None else preset_config
    split = split or preset_split
    try:
        import datasets as hf_datasets  # optional: imported only when asked for
    except ImportError:
        raise DatasetError(f"loading {name!r} from Hugging Face needs the datasets package: pip install datasets; "
                           "or download the file and load it with load_file(...)") from None
    try:
        rows = hf_datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # the library raises many kinds (ConnectionError, OSError, hub errors) when offline
        raise DatasetError(f"{name!r}: {OFFLINE_HINT} ({type(exc).__name__}: {exc})") from exc
    source = f"hf:{name}" + (f":{config}" if config else "") + f"@{split}"
    items = _records_to_items([(i, dict(row)) for i, row in enumerate(rows, start=1)], source=source,
                              name=name, fields=_Fields(problem_field, answer_field, id_field), unit="row")
    return Dataset(name, items, check_equivalent, spec=source, description=f"Hugging Face {name} ({split})")


def _parse_hf_spec(rest: str) -> tuple[str, str | None, str | None]:
    """"owner/name[:config][@split]" -> (name, config, split)."""
    rest, _, split = rest.partition("@")
    name, _, config = rest.partition(":")
    return name, config or None, split or None


# ---------------------------------------------------------------------------------------------
# One entry point


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
