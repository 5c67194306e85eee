"""Budget caps, amounts in the caps' units, running spend, and the exception that ends a strategy
when a cap is reached.

`Cost` is the one vector of the four caps' units (total tokens, output tokens, dollars, seconds):
caps, what is left of them, what calls cost, what a run spent. None in a field is unbounded (a cap
that is not set). `Budget` is a Cost of caps a user asked for, each positive when set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Self

from reasoning.wording import number_text

if TYPE_CHECKING:
    from reasoning.model_protocol import Usage
    from reasoning.prices import ModelPrice

CAP_NAMES = ("total_tokens", "output_tokens", "usd", "seconds")


class BudgetExhausted(Exception):
    """Raised by Context when a call cannot be afforded. Strategies never catch it: run() does."""

    def __init__(self, cap: str, detail: str = ""):
        self.cap = cap
        super().__init__(f"budget exhausted: {cap}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Cost:
    """An amount in the units of every cap. None is unbounded: it absorbs + and -, and is larger
    than any number (an uncapped cap). Arithmetic returns a plain Cost, never a Budget."""

    total_tokens: float | None = 0
    output_tokens: float | None = 0
    usd: float | None = 0.0
    seconds: float | None = 0.0

    def items(self) -> Iterator[tuple[str, float | None]]:
        """(cap, amount) in CAP_NAMES order."""
        return ((name, getattr(self, name)) for name in CAP_NAMES)

    def _map(self, other: Cost, combine: Callable[[float, float], float],
             unbounded: Callable[[float | None, float | None], float | None]) -> Cost:
        out = {}
        for name, a in self.items():
            b = getattr(other, name)
            out[name] = unbounded(a, b) if a is None or b is None else combine(a, b)
        return Cost(**out)

    def __add__(self, other: Cost) -> Cost:
        return self._map(other, lambda a, b: a + b, lambda a, b: None)

    def __sub__(self, other: Cost) -> Cost:
        def unbounded(a: float | None, b: float | None) -> float | None:
            if b is None:
                raise ValueError("an unbounded amount cannot be subtracted")
            return None
        return self._map(other, lambda a, b: a - b, unbounded)

    def __mul__(self, factor: float) -> Cost:
        return Cost(**{name: None if v is None else v * factor for name, v in self.items()})

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Cost:
        return Cost(**{name: None if v is None else v / divisor for name, v in self.items()})

    def min(self, other: Cost) -> Cost:
        """Cap by cap, the smaller (the tighter of two caps; unbounded loses to any number)."""
        return self._map(other, min, lambda a, b: a if b is None else b)

    def max(self, other: Cost) -> Cost:
        """Cap by cap, the larger (the dearest of two costs; unbounded wins)."""
        return self._map(other, max, lambda a, b: None)

    def clamped(self) -> Cost:
        """Negative amounts read as 0 (what is left of a cap already passed)."""
        return Cost(**{name: v if v is None or v >= 0 else _zero(v) for name, v in self.items()})

    @property
    def is_unbounded(self) -> bool:
        return all(v is None for _, v in self.items())

    def exhausted(self) -> str | None:
        """The first cap of these remaining amounts that is used up (at or below 0), if any."""
        return next((name for name, v in self.items() if v is not None and v <= 0), None)

    def exceeds(self, caps: Cost, *, usd_rel_tol: float = 0.0) -> str | None:
        """The first cap this amount goes past (None: within every cap). Dollars may be given a
        relative tolerance: a sum of per-call prices can land a rounding error above a cap it met."""
        for name, v in self.items():
            cap = getattr(caps, name)
            if cap is None:
                continue
            if v is None or v > (cap * (1 + usd_rel_tol) if name == "usd" else cap):
                return name
        return None

    def counts(self, unit: Cost, reserve: Cost | None = None) -> dict[str, float]:
        """For these remaining amounts, cap by cap, how many `unit`s each buys after setting
        `reserve` aside (both amounts, not caps: no field unbounded). A cap with nothing left after
        the reserve buys 0 whatever the unit (Context refuses every call once a cap is used up); a
        cap the unit does not use, with some left, does not limit it and is left out, as are
        unbounded caps."""
        reserve = reserve or Cost()
        out: dict[str, float] = {}
        for name, left in self.items():
            if left is None:
                continue
            per_unit = getattr(unit, name)
            room = left - getattr(reserve, name)
            if room <= 0:
                out[name] = 0.0
            elif per_unit > 0:
                out[name] = room / per_unit
        return out

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.items())

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        return cls(**{name: data.get(name) for name in CAP_NAMES})

    @classmethod
    def of_call(cls, price: ModelPrice, prompt_tokens: int, output_tokens: int) -> Cost:
        """The worst case of one call: its prompt plus every output token it may produce (what
        Context reserves for a call, and what strategies are sized by)."""
        return cls(prompt_tokens + output_tokens, output_tokens,
                   price.input_cost(prompt_tokens) + price.output_per_token * output_tokens)

    @classmethod
    def of_usage(cls, price: ModelPrice, usage: Usage) -> Cost:
        """What a finished call was charged (no seconds: parallel calls share their wall time)."""
        return cls(usage.input_tokens + usage.output_tokens, usage.output_tokens, price.cost(usage))


@dataclass(frozen=True)
class Budget(Cost):
    """Caps for one strategy run. Every cap is optional (None); all that are set are enforced."""

    total_tokens: int | None = None
    output_tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"budget {name} must be a number, got {value!r}")
            if not math.isfinite(value):  # NaN passes no comparison and would be stored as is
                raise ValueError(f"budget {name} must be a finite number, got {value!r}")
            if value <= 0:
                raise ValueError(f"budget {name} must be a positive number, got {value!r}")
            if name in ("total_tokens", "output_tokens") and int(value) != value:
                raise ValueError(f"budget {name} must be a whole number of tokens, got {value!r}")

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


def _zero(like: float) -> float:
    return 0.0 if isinstance(like, float) else 0


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

    @property
    def cost(self) -> Cost:
        """The spend in the caps' units."""
        return Cost(self.total_tokens, self.output_tokens, self.usd, self.seconds)

    def with_seconds(self, seconds: float) -> Spend:
        return replace(self, seconds=seconds)

    def plus(self, usage: Usage, usd: float, *, counted: bool, over_cap: bool = False) -> Spend:
        """This spend with one call's usage (priced at `usd`) added; `counted`: the call replied."""
        return replace(
            self,
            input_tokens=self.input_tokens + usage.input_tokens,
            output_tokens=self.output_tokens + usage.output_tokens,
            reasoning_tokens=self.reasoning_tokens + usage.reasoning_tokens,
            cached_input_tokens=self.cached_input_tokens + usage.cached_input_tokens,
            usd=self.usd + usd,
            calls=self.calls + (1 if counted else 0),
            estimated=self.estimated or usage.estimated,
            over_cap=self.over_cap or over_cap,
        )

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["total_tokens"] = self.total_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Spend:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
