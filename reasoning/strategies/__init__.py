"""Every strategy module is imported here so that its @register runs."""

from reasoning.strategies import chain_of_thought  # noqa: F401
from reasoning.strategies.base import REGISTRY, knobs_of, make_strategy, register, strategy_names

__all__ = ["REGISTRY", "knobs_of", "make_strategy", "register", "strategy_names"]
