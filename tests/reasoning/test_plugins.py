"""Plugins: strategies and providers from installed packages (entry points), and broken ones skipped.

Each test installs a distribution the way pip leaves one on disk, a `<name>.dist-info` folder with
METADATA and entry_points.txt beside its module, in a temporary folder put on sys.path; then
reasoning.plugins.reset() makes the registries read the installed packages again.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from reasoning import plugins, tokens
from reasoning.budget import Budget
from reasoning.config import Limits
from reasoning.deployment_limits import LimitError, check_model
from reasoning.events import FinalAnswer
from reasoning.models import get_model
from reasoning.models.fake import FakeModel
from reasoning.models.providers import CONCURRENCY, PROVIDER_INFO
from reasoning.prices import FREE, ModelPrice, price_for
from reasoning.provider_pacing import default_rate_limit
from reasoning.redaction import environment_keys
from reasoning.run import run
from reasoning.strategies import make_strategy, strategy_names
from reasoning.sweep import default_concurrency
from tests.support import ROOT

PLUGIN_MODULE = '''
from dataclasses import dataclass

from reasoning.answers import extract_answer
from reasoning.models.fake import FakeModel
from reasoning.models.providers import ProviderInfo
from reasoning.strategies.base import StrategyBase, knob
from reasoning.strategies.support.prompts import answer_only


@dataclass
class Twice(StrategyBase):
    name = "twice"
    title = "Asked twice"
    summary = "Asks for the answer twice and keeps the second."

    max_tokens: int = knob(32, "longest reply", min=1, max=512)

    async def solve(self, problem, ctx):
        await ctx.generate(answer_only(problem), label="first", max_tokens=self.max_tokens)
        reply = await ctx.generate(answer_only(problem), label="second", max_tokens=self.max_tokens)
        return extract_answer(reply)


class NotAStrategy:
    pass


@dataclass
class Clash(Twice):
    name = "direct"


def build(name, **options):
    return FakeModel(name=f"echo:{name}", replies="Answer: 7", **options)


ECHO = ProviderInfo("echo", "ECHO_API_KEY", free=True, build=build, title="Echo (a plugin)",
                    base_url_env="ECHO_BASE_URL", tiktoken_names=True, requests_per_minute=30, concurrency=3)
# A scripted stand-in whose model names are files, apart from the one it ships.
STUB = ProviderInfo("stub", build=build, test_double=True, model_files=True, bundled_models=("tiny",))
'''

ENTRY_POINTS = """
[budget_arena.strategies]
twice = example_plugin:Twice
missing = example_plugin_gone:Nothing
not_a_class = example_plugin:NotAStrategy
clash = example_plugin:Clash

[budget_arena.providers]
echo = example_plugin:ECHO
stub = example_plugin:STUB
wrong = example_plugin:Twice
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "example_plugin.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    dist = tmp_path / "example_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: example-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugins.reset()
    yield
    plugins.reset()
    sys.modules.pop("example_plugin", None)


def test_no_plugin_installed_changes_nothing() -> None:
    plugins.reset()
    names = strategy_names()
    plugins.load_strategies()
    assert strategy_names() == names
    assert "twice" not in names and plugins.broken() == []


def test_a_plugin_strategy_is_enrolled_like_a_built_in(installed) -> None:
    plugins.load_strategies()
    assert "twice" in strategy_names()
    assert make_strategy("direct").__class__.__module__ == "reasoning.strategies.direct"  # the clash lost

    async def go() -> list:
        model = FakeModel(replies="Answer: 4")
        price = ModelPrice(0.0, 0.0)
        return [e async for e in run(make_strategy("twice", max_tokens="16"), "2+2?", model,
                                     Budget(total_tokens=2_000), price=price)]

    events = asyncio.run(go())
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.answer == "4" and final.stop == "done"
    assert final.spent.calls == 2 and final.fingerprint  # both calls metered; provenance computed


def test_broken_plugins_are_skipped_with_their_reason(installed, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="reasoning.plugins"):
        reasons = {b.name: b.reason for b in plugins.broken()}
    assert set(reasons) == {"missing", "not_a_class", "clash", "wrong"}
    assert "ModuleNotFoundError" in reasons["missing"]
    assert "not a strategy" in reasons["not_a_class"]
    assert "'direct' is taken by reasoning.strategies.direct" in reasons["clash"]
    assert "not a ProviderInfo" in reasons["wrong"]
    assert sum("skipped" in r.message for r in caplog.records) == 4


def test_the_cli_lists_plugin_strategies_and_broken_plugins(installed) -> None:
    result = CliRunner().invoke(app, ["strategies"], catch_exceptions=False, env={"COLUMNS": "400"})
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    assert any("twice" in r and "Asks for the answer twice" in r for r in rows)
    assert any("missing (broken strategy plugin)" in r and "ModuleNotFoundError" in r for r in rows)
    assert any("wrong (broken provider plugin)" in r for r in rows)


def test_a_plugin_provider_builds_models_through_get_model(installed) -> None:
    model = get_model("echo:small", token_delay=0.0)
    assert isinstance(model, FakeModel) and model.name == "echo:small"
    assert PROVIDER_INFO["echo"].free
    plugins.reset()
    sys.modules.pop("example_plugin", None)
    assert "echo" not in PROVIDER_INFO and "twice" not in strategy_names()  # reset forgets them


def test_every_reader_of_the_registry_sees_a_plugins_facts_before_any_model_is_built(installed) -> None:
    assert "echo" not in PROVIDER_INFO  # not enrolled yet: each reader's first lookup enrols it
    assert price_for("echo:small") is FREE  # free=True
    assert price_for("openai:gpt-4o-mini") is not FREE
    assert default_rate_limit("echo").requests_per_minute == 30
    assert default_rate_limit("anthropic").requests_per_minute == 50 and default_rate_limit("local").requests_per_minute is None
    assert tokens.is_exact("echo:gpt-4o") and not tokens.is_exact("anthropic:gpt-4o")  # tiktoken_names
    env = {"ECHO_API_KEY": "echo-secret-0123456789", "ECHO_BASE_URL": "http://user:url-secret-987@host/v1"}
    assert set(environment_keys(env)) >= {"echo-secret-0123456789", "url-secret-987"}
    assert default_concurrency("echo:small") == 3 and default_concurrency("stub") == CONCURRENCY
    assert Limits().providers == ["local", "openai", "anthropic", "echo"]  # the test double is not offered
    gguf_only = Limits(providers=["local"], models=["openai:gpt-4o-mini"], gguf_dirs=["/models"])
    for spec in ("stub", "stub:tiny", "stub:/models/a.gguf"):  # a test double whose names are files
        assert check_model(spec, gguf_only) == spec
    with pytest.raises(LimitError, match="runs GGUF files from"):
        check_model("stub:/elsewhere/a.gguf", gguf_only)  # its names are files: gguf_dirs govern them
    with pytest.raises(LimitError, match="provider 'echo' is not offered"):
        check_model("echo:small", gguf_only)


def test_the_registry_imports_a_providers_module_only_to_build_its_model() -> None:
    probe = """
import sys
from reasoning.models import get_model
from reasoning.prices import price_for
price_for("openai:gpt-4o-mini")
before = sorted(m for m in ("reasoning.models.openai", "reasoning.models.anthropic", "reasoning.models.local",
                            "openai", "anthropic") if m in sys.modules)
get_model("openai:gpt-4o-mini", api_key="sk-test-0123456789")
print(before, "reasoning.models.openai" in sys.modules, "reasoning.models.anthropic" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[] True False"


def test_a_plugin_provider_is_offered_in_the_app_and_its_key_is_redacted(tmp_path: Path, installed) -> None:
    # app.model_picker builds its provider choices at import: a fresh interpreter sees the plugin as the
    # app's server would.
    probe = """
import json
from app.model_picker import PROVIDERS, default_model_fields, model_choice, offered_providers, readiness, KeyChoice
from reasoning.config import Limits
from reasoning.redaction import environment_keys
print(json.dumps({
    "offered": offered_providers(Limits()),
    "offered with the fake": offered_providers(Limits(), enable_fake=True),
    "title": PROVIDERS["echo"].title,
    "ready": readiness("echo", KeyChoice(None, "")).ready,
    "spec": model_choice("echo", model="small").spec,
    "default": default_model_fields("echo:small", offered_providers(Limits())),
    "named": PROVIDERS["echo"].named,
    "keys": environment_keys({"ECHO_API_KEY": "echo-secret-0123456789"}),
}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["offered"][-1] == "echo" and seen["title"] == "Echo (a plugin)"
    assert "stub" not in seen["offered"] and seen["offered with the fake"][-2:] == ["echo", "stub"]  # a test double
    assert seen["ready"] and seen["spec"] == "echo:small"
    assert seen["named"] and seen["default"] == ["echo", {"model.echo": "small"}]  # picked by name, like OpenAI's
    assert seen["keys"] == ["echo-secret-0123456789"]


def test_a_plugin_that_imports_the_engine_loads_whatever_is_imported_first(tmp_path: Path, installed) -> None:
    # The plugin module imports reasoning.strategies.base; importing that first (it imports
    # reasoning.models) must not load the plugin while the engine is half-imported.
    probe = """
import reasoning.strategies.base
from reasoning.models import get_model
from reasoning.plugins import broken
from reasoning.strategies import strategy_names
print(get_model("echo:x").name, "twice" in strategy_names(), sorted(b.name for b in broken()))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "echo:x True ['clash', 'missing', 'not_a_class', 'wrong']"
