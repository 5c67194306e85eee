"""One settings object: environment variables prefixed BUDGET_ARENA_, plus an optional TOML file.

The file is BUDGET_ARENA_CONFIG if set, else `<data dir>/config.toml` when it exists. Environment
variables win over the file. Nested limits use a double underscore: BUDGET_ARENA_LIMITS__MAX_USD=1.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import platformdirs
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "BUDGET_ARENA_"


def default_data_dir() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR") or platformdirs.user_data_dir("budget-arena"))


def _default_providers() -> list[str]:
    # Imported when a Limits is built, not with this module: the registry enrols the installed
    # plugins, whose code may import modules that import this one.
    from reasoning.models.providers import default_offered

    return default_offered()


class Limits(BaseModel):
    """Guards for a shared deployment. None means no limit."""

    max_total_tokens: int | None = Field(None, gt=0, description="largest total-token budget a run may ask for")
    max_output_tokens: int | None = Field(None, gt=0, description="largest output-token budget")
    max_usd: float | None = Field(None, gt=0, description="largest dollar budget of one run")
    max_seconds: float | None = Field(None, gt=0, description="largest seconds budget of one run")
    max_strategies: int = Field(12, gt=0, description="most strategies in one run")
    max_problem_chars: int = Field(20_000, gt=0, description="longest problem text")
    runs_per_session_per_hour: int | None = Field(None, gt=0, description="runs one browser session may start per hour")
    max_concurrent_runs: int = Field(16, gt=0, description="runs executing at once in one process")
    providers: list[str] = Field(default_factory=_default_providers,
                                 description="providers offered in the UI (default: the built-ins and "
                                 "those of installed plugins, test doubles apart)")
    models: list[str] | None = Field(None, description="if set, the only models offered (provider:name)")
    allow_host_keys: bool = Field(True, description="visitors may use the API keys of the host's environment")
    gguf_dirs: list[Path] | None = Field(
        None, description="folders whose GGUF files may be run (local:PATH); unset: any path on this machine. Set "
        "it on a shared deployment: a path elsewhere is then refused without saying whether it exists")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="where the store and files live")
    db: str | None = Field(None, description="SQLAlchemy URL of the store (default: SQLite in data_dir)")
    prices: Path | None = Field(None, description="price override TOML (default: data_dir/prices.toml)")
    default_model: str = Field("local", description="model the app and CLI start with")
    provider_max_retries: int = Field(
        2, ge=0, description="retries of a provider call refused before it streamed (429, 5xx, overloaded, connection "
        "refused, timeout), with the SDK's exponential backoff and retry-after; a stream cut mid-way is never re-sent")
    provider_timeout: float = Field(
        600.0, gt=0, description="seconds without a byte from the provider before a call times out (connecting: at "
        "most 10 s); reasoning models may think for minutes")
    public_url: str | None = Field(
        None, description="the app's address as colleagues reach it (https://arena.example.org): exported runs and "
        "reports carry their share link under it")
    limits: Limits = Field(default_factory=Limits)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("public_url must be an http:// or https:// address")
        if parts.username or parts.password or parts.query or parts.fragment:
            # It is written into every export: no credentials, and nothing after the path.
            raise ValueError("public_url must be a plain base address (no user:password@, ?query or #fragment)")
        return value.rstrip("/")

    def run_link(self, run_id: str) -> str | None:
        """A run's share link under public_url (the app's root with ?run=, as app.state.share_link
        builds it from a page's URL), or None when no public address is configured."""
        if not self.public_url:
            return None
        return f"{self.public_url}/?{urlencode({'run': run_id})}"

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.data_dir / 'budget-arena.db'}"

    @property
    def prices_file(self) -> Path:
        return self.prices or self.data_dir / "prices.toml"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def config_file() -> Path | None:
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_PREFIX}CONFIG points at {path}, which is not a file")
        return path
    path = default_data_dir() / "config.toml"
    return path if path.is_file() else None


def get_settings(*, fresh: bool = False) -> Settings:
    """The settings as the environment and the config file say now. Building Settings costs
    milliseconds and pages ask on every repaint, so they are rebuilt only when a BUDGET_ARENA_
    variable or the file changed; fresh=True rebuilds them regardless (for a change to what else
    the defaults read, such as the home directory the data directory's default lies in)."""
    if fresh:
        _settings_for.cache_clear()
    path = config_file()
    stamp = (str(path), path.stat().st_mtime_ns) if path is not None else None
    env = tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith(ENV_PREFIX)))
    return _settings_for(env, stamp)


@lru_cache(maxsize=16)
def _settings_for(env: tuple[tuple[str, str], ...], config_stamp: tuple[str, int] | None) -> Settings:
    return Settings()
