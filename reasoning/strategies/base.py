"""The Strategy protocol, the registry, and knob handling.

A strategy is a dataclass of knobs plus `solve(problem, ctx)`. Knobs are dataclass fields whose
metadata may carry "help", "min", "max" and "choices"; the UI renders them as controls and every run
logs them. Registering a strategy (the @register decorator) enrols it in the UI, the CLI and the
contract tests at once.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from reasoning.context import Context
from reasoning.model_protocol import Model


@runtime_checkable
class Strategy(Protocol):
    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]

    async def solve(self, problem: str, ctx: Context) -> str | None: ...

    def unsupported_reason(self, model: Model) -> str | None: ...


class StrategyBase:
    """Optional base with the defaults every strategy shares."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def unsupported_reason(self, model: Model) -> str | None:
        return None

    def knobs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


# Filled by @register as reasoning/strategies/__init__.py imports every strategy module. Python runs
# that __init__ before this module whenever anything imports reasoning.strategies.base, so the
# registry is complete by the time a caller looks a strategy up (no import of the package from here:
# that was an import cycle).
REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    if not dataclasses.is_dataclass(cls) or not getattr(cls, "name", ""):
        raise TypeError(f"{cls.__name__} must be a dataclass with a class-level `name`")
    if cls.name in REGISTRY:
        raise ValueError(f"strategy {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


class StrategyConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Knob:
    name: str
    type: type
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    optional: bool = False  # None is allowed (e.g. "let the model decide")


def strategy_names() -> list[str]:
    return list(REGISTRY)


def strategy_class(name: str) -> type:
    try:
        return REGISTRY[name]
    except KeyError:
        raise StrategyConfigError(
            f"unknown strategy {name!r}; choose from: {', '.join(sorted(REGISTRY))}"
        ) from None


def knobs_of(cls_or_name: type | str) -> list[Knob]:
    cls = strategy_class(cls_or_name) if isinstance(cls_or_name, str) else cls_or_name
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        base, optional = _unwrap_optional(hints[f.name])
        meta = f.metadata
        choices = meta.get("choices")
        if choices is None and typing.get_origin(base) is typing.Literal:
            choices = typing.get_args(base)
            base = type(choices[0])
        out.append(Knob(f.name, base, f.default, meta.get("help", ""), meta.get("min"), meta.get("max"),
                        tuple(choices) if choices else None, optional))
    return out


def make_strategy(name: str, **knobs: Any) -> Any:
    """Build a strategy from its name and knob values, coercing and validating each knob."""
    cls = strategy_class(name)
    spec = {k.name: k for k in knobs_of(cls)}
    values = {}
    for key, raw in knobs.items():
        if key not in spec:
            known = ", ".join(spec) or "none"
            raise StrategyConfigError(f"{name}: unknown knob {key!r} (knobs: {known})")
        values[key] = _coerce(name, spec[key], raw)
    return cls(**values)


def _coerce(strategy: str, knob: Knob, raw: Any) -> Any:
    where = f"{strategy}.{knob.name}"
    if raw is None or raw == "":
        if knob.optional:
            return None
        raise StrategyConfigError(f"{where} needs a value")
    try:
        if knob.type is bool:
            if isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value: Any = raw.lower() in ("true", "1", "yes")
            else:
                value = bool(raw)
        elif knob.type is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            value = int(raw)
        elif knob.type is float:
            value = float(raw)
        else:
            value = knob.type(raw)
    except (TypeError, ValueError, OverflowError):
        raise StrategyConfigError(f"{where} must be {knob.type.__name__}, got {raw!r}") from None
    # NaN passes every min/max comparison (all are False) and infinity would reach the prompts, the
    # store (where NaN makes exported JSON invalid) and arithmetic that cannot take it.
    if isinstance(value, float) and not math.isfinite(value):
        raise StrategyConfigError(f"{where} must be a finite number, got {raw!r}")
    if knob.choices and value not in knob.choices:
        raise StrategyConfigError(f"{where} must be one of {', '.join(map(str, knob.choices))}")
    if knob.min is not None and value < knob.min:
        raise StrategyConfigError(f"{where} must be at least {knob.min}, got {value}")
    if knob.max is not None and value > knob.max:
        raise StrategyConfigError(f"{where} must be at most {knob.max}, got {value}")
    return value


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def knob(default: Any, help: str = "", **meta: Any) -> Any:
    """A dataclass field for a knob: `samples: int = knob(8, "most samples", min=1, max=64)`."""
    return dataclasses.field(default=default, metadata={"help": help, **meta})
