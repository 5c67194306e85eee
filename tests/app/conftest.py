"""Fixtures the app's tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import forget_store, get_runner, open_store


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    """A private SQLite store's URL for the command line (`--db`); the runner a command started in
    this process is closed and the store forgotten after."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    yield url
    store = open_store(url)
    get_runner(store).close()
    forget_store(store)
