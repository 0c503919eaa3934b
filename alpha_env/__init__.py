"""alpha-env: the Alpha Creation Environment (ACE) and its Gymnasium wrapper.

The top-level package is light: names are imported lazily on first use, so ``import alpha_env`` loads
neither Numba kernels nor pandas until they are needed, and never imports torch or transformers.

Typical use::

    from alpha_env import ACE, synthetic_market
    ace = ACE(synthetic_market(seed=0))
    result = ace.simulate("rank(-delta(close, 5))")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (one place, read by __getattr__ and __dir__)
_LAZY: dict[str, str] = {
    # errors
    "AlphaEnvError": "alpha_env.errors",
    "ExpressionError": "alpha_env.errors",
    "DataError": "alpha_env.errors",
    "SettingsError": "alpha_env.errors",
    "StoreError": "alpha_env.errors",
    # grammar
    "parse": "alpha_env.grammar",
    "canonical": "alpha_env.grammar",
    "Codebook": "alpha_env.grammar",
    "GrammarState": "alpha_env.grammar",
    "OPERATORS": "alpha_env.grammar",
    # data
    "MarketPanel": "alpha_env.data",
    "load_panel": "alpha_env.data",
    "synthetic_market": "alpha_env.data",
    "DocumentStore": "alpha_env.data",
    # evaluation and backtest
    "Evaluator": "alpha_env.evaluate",
    "evaluate": "alpha_env.evaluate",
    "BacktestSettings": "alpha_env.backtest",
    "run_backtest": "alpha_env.backtest",
    # ACE
    "ACE": "alpha_env.ace",
    "AlphaStore": "alpha_env.ace",
    "SimulationSettings": "alpha_env.ace",
    # environment
    "AlphaStackEnv": "alpha_env.env",
    "AlphaPool": "alpha_env.pool", "PoolSettings": "alpha_env.pool",  # pools
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alpha_env' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
