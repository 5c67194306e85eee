"""Dollar prices per model: genai-prices' bundled data, a user TOML override, $0 for local models.

The override file (default `<data dir>/prices.toml`, or BUDGET_ARENA_PRICES) maps a model name to
per-million-token prices, for self-hosted or unknown models:

    ["openai:my-vllm-model"]
    input_per_mtok = 0.20
    output_per_mtok = 0.60
    cached_input_per_mtok = 0.05   # optional
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.models.base import Usage


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


def price_for(model_name: str) -> ModelPrice:
    """The price of a model by its full name ("openai:gpt-4o-mini"). UNKNOWN when nobody knows."""
    provider = model_name.split(":", 1)[0]
    if provider in ("local", "fake"):
        return FREE
    return UNKNOWN
