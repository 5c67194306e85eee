"""Datasets from the browser (app.uploads): an upload is kept by content hash and read by the
command line's loader, and its errors name the file as uploaded, not where the server keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.uploads import count_pasted, load_saved, read_upload, safe_name, save_pasted, save_upload, spec_of
from reasoning.datasets import DatasetError, load_dataset
from tests.support import FIXTURES


@pytest.mark.parametrize(("name", "safe"), [
    ("gsm8k.jsonl", "gsm8k.jsonl"), ("../../etc/passwd.csv", "passwd.csv"), ("C:\\x\\my set.csv", "C_x_my_set.csv"),
    ("...", "upload"), ("a b;c$.txt", "a_b_c_.txt"),
])
def test_an_uploaded_name_cannot_leave_its_folder(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_the_same_content_is_kept_once_at_the_same_path(tmp_path: Path) -> None:
    data = (FIXTURES / "gsm8k_sample.jsonl").read_bytes()
    first = save_upload("gsm8k_sample.jsonl", data, tmp_path)
    assert save_upload("gsm8k_sample.jsonl", data, tmp_path) == first and first.read_bytes() == data
    assert save_upload("gsm8k_sample.jsonl", data + b"\n", tmp_path) != first  # other content, other path
    assert first.parent.parent == tmp_path
    ds = load_saved(first)
    assert ds.spec == spec_of(first) and ds.name == "gsm8k_sample"
    assert [i.id for i in ds] == [i.id for i in load_dataset(str(FIXTURES / "gsm8k_sample.jsonl"))]
    assert len(load_saved(first, size=2, seed=1)) == 2


def test_an_errors_path_is_the_uploaded_files_name(tmp_path: Path) -> None:
    bad = save_upload("mine.jsonl", b'{"question": "q", "answer": "1"}\n[1]\n', tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_saved(bad)
    assert str(caught.value) == "mine.jsonl, line 2: expected a JSON object, got list"
    assert str(tmp_path) not in str(caught.value)


def test_reading_an_upload_for_the_compare_page_keeps_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    ds = read_upload("math500_sample.jsonl", (FIXTURES / "math500_sample.jsonl").read_bytes())
    assert len(ds) == 3 and ds.name == "math500_sample"
    assert list(tmp_path.iterdir()) == []


def test_pasted_problems_are_counted_and_saved_as_a_lines_file(tmp_path: Path) -> None:
    text = "What is 7 * 4? || 28\nName a prime.\n"
    assert count_pasted(text) == 2
    path = save_pasted(text, tmp_path)
    assert path.suffix == ".txt" and path.name.startswith("pasted-")
    ds = load_saved(path)
    assert [(i.problem, i.reference) for i in ds] == [("What is 7 * 4?", "28"), ("Name a prime.", "")]
    with pytest.raises(DatasetError, match="pasted problems, line 1: empty answer"):
        count_pasted("What is 1 + 1? ||\n")
