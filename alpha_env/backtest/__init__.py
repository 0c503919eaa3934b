"""Numba backtest: signal → neutralized, scaled, truncated weights → daily PnL → metrics.

Example::

    import numpy as np
    from alpha_env.backtest import BacktestSettings, run_backtest, split_metrics

    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, (500, 100))
    signal = np.roll(returns, -1, axis=0)          # a (cheating) signal equal to tomorrow's return
    universe = np.ones(returns.shape, dtype=bool)
    res = run_backtest(signal, returns, universe, None, BacktestSettings(delay=0))
    split_metrics(res, {"train": slice(0, 300), "valid": slice(300, 400), "test": slice(400, 500)})

See :mod:`alpha_env.backtest.engine` for the exact daily rules and :mod:`alpha_env.backtest.metrics`
for the metric definitions.
"""

from alpha_env.backtest.engine import BacktestResult, run_backtest
from alpha_env.backtest.metrics import (
    METRIC_NAMES,
    annualized_sharpe,
    split_metrics,
    window_metrics,
    yearly_metrics,
)
from alpha_env.backtest.settings import NEUTRALIZATIONS, BacktestSettings

__all__ = [
    "BacktestSettings",
    "BacktestResult",
    "NEUTRALIZATIONS",
    "METRIC_NAMES",
    "run_backtest",
    "window_metrics",
    "split_metrics",
    "yearly_metrics",
    "annualized_sharpe",
]
