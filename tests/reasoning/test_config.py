"""Settings read now (get_settings): rebuilt when a variable or the config file changes, else
the same object, so pages that ask on every repaint do not rebuild them."""

from __future__ import annotations

import os
import time

from reasoning import plugins
from reasoning.config import Limits, get_settings


def test_settings_follow_the_environment_and_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("BUDGET_ARENA_DB", "sqlite:///first.db")
    first = get_settings()
    assert first.db_url == "sqlite:///first.db"
    assert get_settings() is first  # nothing changed: not rebuilt
    rebuilt = get_settings(fresh=True)  # asked to: rebuilt, the same values
    assert rebuilt is not first and rebuilt.db_url == first.db_url and get_settings() is rebuilt

    monkeypatch.setenv("BUDGET_ARENA_DB", "sqlite:///second.db")
    assert get_settings().db_url == "sqlite:///second.db"

    monkeypatch.delenv("BUDGET_ARENA_DB")
    config = tmp_path / "config.toml"
    config.write_text('db = "sqlite:///from-file.db"\n')
    monkeypatch.setenv("BUDGET_ARENA_CONFIG", str(config))
    assert get_settings().db_url == "sqlite:///from-file.db"
    config.write_text('db = "sqlite:///edited.db"\n')
    later = time.time() + 5  # a new modification time, however coarse the file system's clock
    os.utime(config, (later, later))
    assert get_settings().db_url == "sqlite:///edited.db"


def test_a_deployment_offers_every_provider_but_the_test_double_unless_its_host_names_them() -> None:
    plugins.reset()  # no plugin installed: the built-ins, in the registry's order
    assert Limits().providers == ["local", "openai", "anthropic"]
    assert Limits(providers=["openai"]).providers == ["openai"]
