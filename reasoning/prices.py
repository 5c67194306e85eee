"""Dollar prices per model: genai-prices' bundled data, a user TOML override, $0 for local models.

The override file (default `<data dir>/prices.toml`, or BUDGET_ARENA_PRICES) maps a model name to
per-million-token prices, for self-hosted or unknown models:

    ["openai:my-vllm-model"]
    input_per_mtok = 0.20
    output_per_mtok = 0.60
    cached_input_per_mtok = 0.05   # optional; cached input costs the input price without it
    price_date = 2025-06-01        # optional; the file's modification date without it

Entries there win over everything, local models included. Then local and fake models are free, and
anything else is looked up in genai-prices by provider (or by base_url for a compatible server).
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from reasoning.config import get_settings
from reasoning.model_protocol import Usage
from reasoning.models.providers import is_free


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None  # None: cached input costs the same as input
    source: str = "genai-prices"
    price_date: str | None = None  # the date the price data was published or last checked
    known: bool = True

    @property
    def input_per_token(self) -> float:
        return self.input_per_mtok / 1e6

    @property
    def output_per_token(self) -> float:
        return self.output_per_mtok / 1e6

    def input_cost(self, tokens: int) -> float:
        return tokens * self.input_per_token

    def cost(self, usage: Usage) -> float:
        """Cached input at its own rate; reasoning tokens are output tokens, priced once."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        return (
            (usage.input_tokens - cached) * self.input_per_mtok
            + cached * cached_rate
            + usage.output_tokens * self.output_per_mtok
        ) / 1e6


FREE = ModelPrice(0.0, 0.0, source="free (runs on this machine)")
UNKNOWN = ModelPrice(0.0, 0.0, source="unknown", known=False)

PRICES_ENV = "BUDGET_ARENA_PRICES"
_ENTRY_KEYS = {"input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "price_date"}


class PriceFileError(ValueError):
    """The price override file cannot be used; the message names the file and the entry."""


def price_file_path() -> Path:
    """BUDGET_ARENA_PRICES if set, else the config file's `prices`, else `<data dir>/prices.toml`
    (the file need not exist). The environment is read on every call so a changed variable counts."""
    explicit = os.environ.get(PRICES_ENV)
    return Path(explicit).expanduser() if explicit else get_settings().prices_file


def price_for(model_name: str, *, base_url: str | None = None) -> ModelPrice:
    """The price of a model by its full name ("openai:gpt-4o-mini"). UNKNOWN when nobody knows.

    base_url: the server an "openai:" model talks to, when it is not OpenAI's. genai-prices then
    finds the provider by that URL (Groq, Together, ...); a self-hosted server prices as UNKNOWN
    unless the override file names the model."""
    override = load_overrides(price_file_path()).get(model_name.strip())
    if override is not None:
        return override
    if is_free(model_name):  # the registry's: local, fake and plugins that run here
        return FREE
    provider, sep, name = model_name.strip().partition(":")
    if not sep:
        provider, name = "", provider
    return _genai_price(provider or None, name, base_url) or UNKNOWN


# ---- genai-prices ------------------------------------------------------------------------------


def _genai_price(provider: str | None, name: str, base_url: str | None) -> ModelPrice | None:
    return _genai_price_cached(provider, name, base_url, datetime.now(UTC).date())


@functools.lru_cache(maxsize=256)
def _genai_price_cached(provider: str | None, name: str, base_url: str | None, day: date) -> ModelPrice | None:
    # Imported here: genai-prices' data module is large and only needed once a remote model is priced.
    import genai_prices
    from genai_prices import data_snapshot, types

    if not name:
        return None
    snapshot = data_snapshot.get_snapshot()
    try:
        if base_url:
            found_provider, model = snapshot.find_provider_model(name, None, None, base_url)
        else:
            found_provider, model = snapshot.find_provider_model(name, None, provider, None)
    except LookupError:
        return None
    prices = model.get_prices(datetime.combine(day, datetime.min.time(), tzinfo=UTC))

    tiered = False

    def per_mtok(value: object) -> float | None:
        # Tiered prices (a higher rate past N prompt tokens) are taken at their base tier: budgets
        # here are far below the thresholds (128k-272k tokens) where the higher tiers start.
        nonlocal tiered
        if isinstance(value, types.TieredPrices):
            tiered = True
            value = value.base
        return float(value) if isinstance(value, Decimal) else None

    input_rate = per_mtok(prices.input_mtok)
    output_rate = per_mtok(prices.output_mtok)
    if input_rate is None or output_rate is None:
        return None  # not priced per token (images, audio seconds, requests)
    # Cache writes (Anthropic charges 1.25x input for them) have no field in Usage; they are
    # charged as plain input, which under-counts by a quarter of the written tokens at most.
    cached_rate = per_mtok(prices.cache_read_mtok)
    if snapshot.from_auto_update:
        price_date = f"genai-prices data fetched {snapshot.timestamp.date().isoformat()}"
    else:
        price_date = f"genai-prices {genai_prices.__version__} bundled data"
    return ModelPrice(
        input_per_mtok=input_rate,
        output_per_mtok=output_rate,
        cached_input_per_mtok=cached_rate,
        source=f"genai-prices {found_provider.id}/{model.id}" + (" (base tier)" if tiered else ""),
        price_date=price_date,
    )


# ---- the override file -------------------------------------------------------------------------


def load_overrides(path: Path) -> dict[str, ModelPrice]:
    """Entries of a price override file by model name; {} when the default file does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        if os.environ.get(PRICES_ENV):
            raise PriceFileError(f"{PRICES_ENV} points at {path}, which does not exist") from None
        return {}
    return _parse_overrides(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse_overrides(path_text: str, mtime_ns: int, size: int) -> dict[str, ModelPrice]:
    # mtime and size are part of the cache key, so an edited file is read again.
    path = Path(path_text)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError(f"price override file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"price override file {path} is not valid TOML: {exc}") from exc
    file_date = datetime.fromtimestamp(mtime_ns / 1e9, UTC).date().isoformat()
    return {name: _parse_entry(path, name, entry, file_date) for name, entry in data.items()}


def _parse_entry(path: Path, name: str, entry: object, file_date: str) -> ModelPrice:
    def fail(problem: str) -> PriceFileError:
        return PriceFileError(f'price override file {path}, entry ["{name}"]: {problem}')

    provider, sep, model = name.partition(":")
    if not sep or not provider or not model:
        raise fail('name the model as "provider:model", e.g. ["openai:my-vllm-model"]')
    if not isinstance(entry, dict):
        raise fail(f"expected a table of prices, got {entry!r}")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_ENTRY_KEYS))}")

    def rate(key: str, required: bool) -> float | None:
        if key not in entry:
            if required:
                raise fail(f"{key} is missing (dollars per million tokens)")
            return None
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise fail(f"{key} must be a number of dollars per million tokens, 0 or more; got {value!r}")
        return float(value)

    price_date = entry.get("price_date", file_date)
    if isinstance(price_date, date):
        price_date = price_date.isoformat()
    elif not isinstance(price_date, str) or not price_date.strip():
        raise fail(f"price_date must be a date such as 2025-06-01; got {price_date!r}")
    return ModelPrice(
        input_per_mtok=rate("input_per_mtok", True),  # type: ignore[arg-type]
        output_per_mtok=rate("output_per_mtok", True),  # type: ignore[arg-type]
        cached_input_per_mtok=rate("cached_input_per_mtok", False),
        source=f"override file {path}",
        price_date=price_date,
    )
