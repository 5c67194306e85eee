"""Datasets from the browser: an uploaded file, or problems pasted one per line, read by the loader
`budget-arena sweep FILE` uses (reasoning.datasets.load_dataset with a file: spec), so a page
accepts and refuses exactly what the command line does, with the same messages.

An upload is kept under the data directory at a path named by its content's hash: uploading the same
file again gives the same dataset spec, so the same sweep id, and starting it resumes that sweep.
Script thread only (no Streamlit import: the pages call these and show the errors).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from reasoning.config import get_settings
from reasoning.datasets import Dataset, DatasetError, items_from_lines, load_dataset

UPLOAD_TYPES = ("jsonl", "json", "csv", "tsv", "txt")  # what reasoning.datasets.load_file reads
PASTE_HINT = "One problem per line; add `|| answer` to judge it, e.g. `What is 7 * 4? || 28`."
_UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(name: str) -> str:
    """The uploaded file's own name, without folders or characters a path should not hold."""
    base = _UNSAFE.sub("_", Path(name).name).strip("._") or "upload"
    return base[:100]


def uploads_dir() -> Path:
    return get_settings().data_dir / "uploads"


def upload_path(name: str, data: bytes, folder: Path | None = None) -> Path:
    """folder/<content hash>/<name>: the same content always gets the same path."""
    return (folder or uploads_dir()) / hashlib.sha256(data).hexdigest()[:16] / safe_name(name)


def save_upload(name: str, data: bytes, folder: Path | None = None) -> Path:
    """Write the upload to upload_path(...), once."""
    path = upload_path(name, data, folder)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def spec_of(path: Path) -> str:
    return f"file:{path}"


def load_saved(path: Path, size: int | None = None, seed: int = 0) -> Dataset:
    """load_dataset("file:PATH", size, seed); a DatasetError names the file as uploaded, not the
    folder it was saved in (which is the server's business)."""
    try:
        return load_dataset(spec_of(path), size=size, seed=seed)
    except DatasetError as exc:
        raise DatasetError(str(exc).replace(str(path), path.name)) from None


def read_upload(name: str, data: bytes) -> Dataset:
    """Parse an upload without keeping it (the compare page only picks a problem from it)."""
    with tempfile.TemporaryDirectory(prefix="budget-arena-upload-") as folder:
        return load_saved(save_upload(name, data, Path(folder)))


def pasted_name(text: str) -> str:
    return f"pasted-{hashlib.sha256(text.encode()).hexdigest()[:8]}.txt"


def count_pasted(text: str) -> int:
    """How many problems the pasted text holds; DatasetError as the loader would raise it."""
    return len(items_from_lines(text.splitlines(), source="pasted problems", name="pasted"))


def save_pasted(text: str, folder: Path | None = None) -> Path:
    """Pasted problems as a .txt file of the "lines" format (load_file reads it like any upload)."""
    return save_upload(pasted_name(text), text.encode(), folder)
