"""What a run is asked to do (RunSpec: the problem, the model, its entries, the budget) and what of
it may be stored, logged or shown.

A spec's keys (`secrets`, a key-named option put in `model_options` by mistake, credentials in a
URL, and the host's keys) never reach the store, a log or a message: `_secrets` lists them for
redaction. `_run_outcome` is the status a run's entries' endings give it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.budget import Budget
from reasoning.events import FinalAnswer
from reasoning.model_protocol import Model, ModelConfigError
from reasoning.prices import ModelPrice
from reasoning.redaction import (
    SECRET_OPTION,
    environment_keys,
    redact,
    redact_options,
    string_values,
    url_secrets,
)


@dataclass(frozen=True)
class StrategySpec:
    """One entry of a run: a strategy, its knobs, and its own budget (None: the run's). A run may
    hold the same strategy several times, e.g. at three budgets, and meters each entry apart."""

    name: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget | None = None

    def budget_in(self, run_budget: Budget) -> Budget:
        """The caps this entry runs under."""
        return run_budget if self.budget is None else self.budget


@dataclass(frozen=True, repr=False)
class RunSpec:
    """What to run. `model` is a spec string for reasoning.models.get_model ("openai:gpt-4o-mini")
    or a prebuilt Model (tests, a model the caller caches). `secrets` (e.g. {"api_key": ...}) go to
    get_model with `model_options` but are never stored, logged or shown. `checker` judges answers
    instead of the reference comparison (a dataset's own scorer); `sweep_key` names the sweep cell;
    `price` saves a lookup per run when the caller has it (a sweep runs one model many times)."""

    problem: str
    model: str | Model
    strategies: Sequence[StrategySpec | tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], Budget | None]
                         | str]
    budget: Budget = field(default_factory=Budget)
    reference: str | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    dataset: str | None = None
    item_id: str | None = None
    sweep_id: str | None = None
    sweep_key: str | None = None
    checker: Callable[[str | None], bool | None] | None = field(default=None, repr=False, compare=False)
    price: ModelPrice | None = field(default=None, repr=False, compare=False)  # known already (sweeps): not looked up
    # False: nobody watches it stream (a sweep cell). Its rows and events are written in fewer, larger
    # batches, the first with the run itself: a short run is one transaction, and a run cut short by a
    # crash before its first second may leave no trace (a sweep runs it again).
    live: bool = True

    def strategy_specs(self) -> list[StrategySpec]:
        specs = []
        for item in self.strategies:
            if isinstance(item, StrategySpec):
                specs.append(item)
            elif isinstance(item, str):
                specs.append(StrategySpec(item))
            else:  # (name, knobs) or (name, knobs, budget)
                name, knobs, *budget = item
                specs.append(StrategySpec(name, dict(knobs or {}), budget[0] if budget else None))
        return specs

    def model_name(self) -> str:
        return self.model if isinstance(self.model, str) else self.model.name

    def stored_model_options(self) -> dict[str, Any]:
        """The options that may be stored and shown: no key-named option, no URL credentials."""
        return redact_options({k: v for k, v in self.model_options.items() if not SECRET_OPTION.search(k)})

    def __repr__(self) -> str:  # key-like options stay out of logs and tracebacks
        return (f"RunSpec(problem={self.problem!r}, model={self.model_name()!r}, strategies={self.strategy_specs()!r}, "
                f"budget={self.budget!r}, reference={self.reference!r}, model_options={self.stored_model_options()!r}, "
                f"dataset={self.dataset!r}, item_id={self.item_id!r}, sweep_id={self.sweep_id!r}, "
                f"sweep_key={self.sweep_key!r})")


class RunSpecError(ValueError):
    """The spec cannot become a run (no strategies, an unknown strategy, a bad knob)."""


def _knobs(strategy: Any) -> dict[str, Any]:
    knobs = strategy.knobs() if hasattr(strategy, "knobs") else dict(vars(strategy))
    return {k: v if isinstance(v, str | int | float | bool | type(None)) else repr(v) for k, v in knobs.items()}


def _secrets(spec: RunSpec) -> list[str]:
    """Everything that must not appear in a stored or logged message: the run's keys (also one put in
    model_options by mistake), the credentials in its URLs, and the host's keys."""
    options = [*spec.secrets.values(), *spec.model_options.values()]
    misplaced = [v for k, v in spec.model_options.items() if SECRET_OPTION.search(k)]
    return [*string_values(spec.secrets.values()), *string_values(misplaced),
            *(s for value in options for s in url_secrets(value)), *environment_keys()]


def _describe(spec: RunSpec, exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}", *_secrets(spec))


def _model_error(spec: RunSpec, exc: Exception) -> str:
    if isinstance(exc, ModelConfigError):
        message = str(exc)  # written for users: says what to fix
    else:
        message = f"could not build model {spec.model_name()!r}: {type(exc).__name__}: {exc}"
    return redact(message, *_secrets(spec))


def _run_outcome(finals: Mapping[int, FinalAnswer], names: Sequence[str],
                 cancel_requested: bool) -> tuple[str, str | None]:
    """done (a run where some strategies failed says which and why), error if all failed,
    cancelled if a cancel stopped any strategy."""
    count = len(names)
    stops = [finals[i].stop if i in finals else "error" for i in range(count)]
    if cancel_requested and "cancelled" in stops:
        return "cancelled", None
    if all(stop == "error" for stop in stops):
        errors = sorted({finals[i].error or "no error message" for i in range(count) if i in finals})
        return "error", "; ".join(errors) or "every strategy failed"
    failed = [i for i, stop in enumerate(stops) if stop == "error"]
    if not failed:
        return "done", None
    reasons = "; ".join(f"{names[i]} (#{i + 1}): {finals[i].error if i in finals else 'no final answer'}"
                        for i in failed)
    return "done", f"{len(failed)} of {count} strategies failed, the others finished. {reasons}"
