"""The browser tests' shared set-up (tests/support.py): without chromium they are skipped with the
reason on a user's machine and fail under CI, where the browser must be there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import support


def test_a_missing_chromium_skips_with_the_reason_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(support, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium is missing"):
        support.require_browser()
    with pytest.raises(pytest.skip.Exception, match="no-chromium is missing"), support.served_app(tmp_path):
        pass  # no server is started for a test that will be skipped
    monkeypatch.setenv("CI", "true")
    failed = pytest.raises(pytest.fail.Exception, match="required under CI but unavailable: .*no-chromium is missing")
    with failed, support.launched_browser():
        pass
