"""alpha-env: the Alpha Creation Environment (ACE) and its Gymnasium wrapper.

The top-level package is light: names are imported lazily on first use, so ``import alpha_env`` loads
neither Numba kernels nor pandas until they are needed, and never imports torch or transformers. It
does point Numba's on-disk cache at a folder named by a fingerprint of these sources
(:mod:`alpha_env.kernel_cache`), so a kernel compiled from older code is never loaded.

Typical use::

    from alpha_env import ACE, synthetic_market
    ace = ACE(synthetic_market(seed=0))
    result = ace.simulate("rank(-delta(close, 5))")
"""

from __future__ import annotations

from pathlib import Path as _Path

from alpha_env.kernel_cache import pin as _pin_kernel_cache
from alpha_env.kernel_cache import sources_fingerprint as _sources_fingerprint
from alpha_env.lazy import lazy_exports

__version__ = "0.1.0"

_SOURCES = _sources_fingerprint(_Path(__file__).parent)
#: The code that runs: the release and a fingerprint of the package's sources. Stored with every
#: simulation (a store keeps one simulation per alpha and code version), so results of changed code are
#: never taken for the stored ones.
CODE_VERSION = f"{__version__}+{_SOURCES}"

# Numba's cache in a folder named by these sources, before any kernel is decorated (kernel_cache.py)
_pin_kernel_cache(fingerprint=_SOURCES)

# submodule -> the public names it defines (one place, read by __getattr__ and __dir__)
_names, __getattr__, __dir__ = lazy_exports(__name__, {
    "errors": ("AlphaEnvError", "ExpressionError", "DataError", "SettingsError", "StoreError"),
    "grammar": ("parse", "canonical", "Codebook", "GrammarState", "OPERATORS"),
    "data": ("MarketPanel", "load_panel", "synthetic_market", "DocumentStore"),
    "evaluate": ("Evaluator", "evaluate"),
    "backtest": ("BacktestSettings", "run_backtest"),
    "ace": ("ACE", "AlphaStore", "SimulationSettings"),
    "env": ("AlphaStackEnv",),
    "pool": ("AlphaPool", "PoolSettings"),
})

__all__ = ["__version__", "CODE_VERSION", *_names]
