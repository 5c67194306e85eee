"""Strategies: one module each. Importing the package imports every module so @register runs.

Every module directly in this package is imported (base, the registry, is already loaded by then);
what strategies share lives in the subpackage `support`, which is not walked. Strategies from
installed packages (entry-point group `budget_arena.strategies`) join the registry after the
built-ins: see reasoning.plugins.
"""

import importlib
import pkgutil

from reasoning.plugins import load_strategies
from reasoning.strategies.base import REGISTRY, knobs_of, make_strategy, register, strategy_names

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")
load_strategies()  # after the built-ins, so a plugin cannot take a built-in's name

__all__ = ["REGISTRY", "knobs_of", "make_strategy", "register", "strategy_names"]
