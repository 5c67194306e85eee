"""Hugging Face datasets by name, through the optional `datasets` package (not a dependency of ours).

Rows become items as a file's records do (reasoning.datasets.files); offline, or without the
package, loading raises DatasetError saying how to load the downloaded file instead.
"""

from __future__ import annotations

from reasoning.datasets.base import Dataset, DatasetError, check_equivalent
from reasoning.datasets.files import _Fields, _records_to_items

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
