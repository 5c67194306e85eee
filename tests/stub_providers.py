"""The two SDK providers played by loopback stubs (tests/stubs), as the fault and cap tests set them
up: one StubProvider per SDK path, a `provider` fixture over both, no key or base URL from this
machine's environment, Settings read afresh around each test, and a runner on a private SQLite
store. Test modules import the fixtures they use (pytest finds fixtures in a module's namespace).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from reasoning.config import get_settings
from storage import Store, forget_store, get_runner, open_store
from storage.runner import Runner
from tests.stubs import StubServer, closed_port_url
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub

PROVIDER_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


@dataclass(frozen=True)
class StubProvider:
    name: str
    stub_class: type[StubServer]
    model: str
    overloaded_status: int  # what an overloaded server answers with
    tokenizer: str  # the stub's token-counting endpoint for this provider
    compatible: str  # how an error names a server of this kind

    def base_url(self, stub: StubServer | None) -> str:
        """The stub's URL; with no stub, a loopback URL where nothing listens (connection refused)."""
        if stub is None:
            return closed_port_url(OpenAIStub.base_path if self.name == "openai" else "")
        return stub.base_url


STUB_PROVIDERS = [
    StubProvider("openai", OpenAIStub, "openai:gpt-4o-mini", 503, "vllm", "openai-compatible server"),
    StubProvider("anthropic", AnthropicStub, "anthropic:claude-stub", 529, "anthropic",
                 "anthropic-compatible server"),
]


@pytest.fixture(params=STUB_PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> StubProvider:
    return request.param


def use_provider_settings(monkeypatch: pytest.MonkeyPatch, **settings: object) -> None:
    """No provider key or base URL from this machine; `settings` as BUDGET_ARENA_<NAME> variables
    (provider_timeout=0.5 -> BUDGET_ARENA_PROVIDER_TIMEOUT), read afresh."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(f"BUDGET_ARENA_{name.upper()}", str(value))
    get_settings(fresh=True)


def restore_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment as before the test, and Settings read from it again."""
    monkeypatch.undo()
    get_settings(fresh=True)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'stubs.db'}")
    yield opened
    forget_store(opened)


@pytest.fixture
def runner(store: Store) -> Iterator[Runner]:
    started = get_runner(store)
    yield started
    started.close()
