"""Budget caps, running spend, and the exception that ends a strategy when a cap is reached."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from reasoning.wording import number_text

CAP_NAMES = ("total_tokens", "output_tokens", "usd", "seconds")


class BudgetExhausted(Exception):
    """Raised by Context when a call cannot be afforded. Strategies never catch it: run() does."""

    def __init__(self, cap: str, detail: str = ""):
        self.cap = cap
        super().__init__(f"budget exhausted: {cap}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Budget:
    """Caps for one strategy run. Every cap is optional; all that are set are enforced."""

    total_tokens: int | None = None
    output_tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"budget {f.name} must be a number, got {value!r}")
            if not math.isfinite(value):  # NaN passes no comparison and would be stored as is
                raise ValueError(f"budget {f.name} must be a finite number, got {value!r}")
            if value <= 0:
                raise ValueError(f"budget {f.name} must be a positive number, got {value!r}")
            if f.name in ("total_tokens", "output_tokens") and int(value) != value:
                raise ValueError(f"budget {f.name} must be a whole number of tokens, got {value!r}")

    @property
    def is_unbounded(self) -> bool:
        return all(getattr(self, name) is None for name in CAP_NAMES)

    def as_dict(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in CAP_NAMES}

    @classmethod
    def from_dict(cls, data: dict) -> Budget:
        return cls(**{name: data.get(name) for name in CAP_NAMES})

    def describe(self) -> str:
        parts = []
        if self.total_tokens is not None:
            parts.append(f"{self.total_tokens:,} tokens")
        if self.output_tokens is not None:
            parts.append(f"{self.output_tokens:,} output tokens")
        if self.usd is not None:  # number_text: never "$1e+12"
            parts.append(f"${number_text(self.usd)}")
        if self.seconds is not None:
            parts.append(f"{number_text(self.seconds)} s")
        return ", ".join(parts) or "unbounded"


@dataclass(frozen=True)
class Spend:
    """Running totals of one strategy run. Reasoning tokens are a subset of output tokens.

    `calls` counts only calls that produced a reply (some text or thinking, or a reported usage):
    a call refused, unreachable or rate limited before any byte came back is neither counted nor
    charged, so calls == 0 means the strategy never made a successful call. A call cut or
    interrupted mid-stream counts, charged for what it streamed (`estimated`).
    `over_cap`: the provider reported usage that cannot be true (more output than granted, a prompt
    far above its count) or the spend went past a cap; the figures are the reported ones."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    calls: int = 0
    estimated: bool = False  # True once any call's usage was estimated rather than reported
    over_cap: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def with_seconds(self, seconds: float) -> Spend:
        return replace(self, seconds=seconds)

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["total_tokens"] = self.total_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Spend:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
