"""Alpha pools (torch-free): forward-return targets, factor metrics, a combined pool, equivalence keys.

* :mod:`~alpha_env.pool.targets` — :func:`forward_returns` aligned with the backtest delay;
* :mod:`~alpha_env.pool.factor_metrics` — IC, rank IC, ICIR, IC decay, quantile returns per split;
* :mod:`~alpha_env.pool.pool` — :class:`AlphaPool` (``lstsq`` / ``ridge`` / ``ic_weighted`` / ``rolling``
  combinations, correlation-gated admission, AlphaGen's rule as an option);
* :mod:`~alpha_env.pool.scoring` — a pool slot's daily z-scores in one pass (:func:`score_into`);
* :mod:`~alpha_env.pool.equivalence` — exact algebraic simplification and signal fingerprints.

Example::

    from alpha_env import synthetic_market
    from alpha_env.evaluate import Evaluator
    from alpha_env.pool import AlphaPool, PoolSettings

    panel = synthetic_market(seed=0)
    pool = AlphaPool.from_panel(panel, PoolSettings(capacity=5))
    ev = Evaluator(panel)
    for text in ("rank(-delta(close, 5))", "ts_rank(volume, 10)"):
        print(pool.offer(text, ev.evaluate(text)))
"""

from alpha_env.pool.equivalence import expression_key, signal_fingerprint, simplify
from alpha_env.pool.factor_metrics import (
    DEFAULT_DECAY_HORIZONS,
    daily_ic,
    factor_metrics,
    ic_decay,
    ic_stats,
    quantile_returns,
)
from alpha_env.pool.pool import AlphaPool, OfferResult, PoolMember, PruneResult, sharpe_objective
from alpha_env.pool.report import POOL_REPORT_COSTS, pool_metrics
from alpha_env.pool.settings import MODELS, REPLACE_BY, RULES, PoolSettings
from alpha_env.pool.targets import fit_rows, forward_returns, known_lag

__all__ = [
    "AlphaPool", "PoolMember", "OfferResult", "PruneResult", "PoolSettings", "MODELS", "RULES", "REPLACE_BY",
    "sharpe_objective", "pool_metrics", "POOL_REPORT_COSTS",
    "forward_returns", "known_lag", "fit_rows",
    "daily_ic", "ic_stats", "ic_decay", "quantile_returns", "factor_metrics", "DEFAULT_DECAY_HORIZONS",
    "simplify", "expression_key", "signal_fingerprint",
]
