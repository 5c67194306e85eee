"""Strategies: one module each. Importing the package imports every module so @register runs."""

import importlib
import pkgutil

from reasoning.strategies.base import REGISTRY, knobs_of, make_strategy, register, strategy_names

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "prompts", "search"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "knobs_of", "make_strategy", "register", "strategy_names"]
