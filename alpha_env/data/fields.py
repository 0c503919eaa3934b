"""Derived fields computed from stored ones: daily returns and ``adv{d}`` (average dollar volume).

Arrays are ``(T, N)`` float64 (dates x stocks); a value needing a missing input is NaN, never 0.
Used by :class:`~alpha_env.data.panel.MarketPanel` (on-demand fields) and
:func:`~alpha_env.data.universe.compute_universe` (liquidity ranking).
"""

from __future__ import annotations

import numpy as np

__all__ = ["returns_field", "adv_field"]


def returns_field(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[t-1] - 1`` with a NaN first row; ``(T, N)``."""
    out = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = close[1:] / close[:-1] - 1.0
    return out


def adv_field(close: np.ndarray, volume: np.ndarray, d: int) -> np.ndarray:
    """Rolling mean of ``close * volume`` over ``d`` days ending at t; NaN unless all ``d`` are finite."""
    dv = close * volume
    ok = np.isfinite(dv)
    filled = np.where(ok, dv, 0.0)
    t = dv.shape[0]
    csum = np.zeros((t + 1, dv.shape[1]))
    np.cumsum(filled, axis=0, out=csum[1:])
    ccount = np.zeros((t + 1, dv.shape[1]), dtype=np.int64)
    np.cumsum(ok, axis=0, out=ccount[1:])
    out = np.full(dv.shape, np.nan)
    if d <= t:
        s = csum[d:] - csum[:-d]
        c = ccount[d:] - ccount[:-d]
        out[d - 1 :] = np.where(c == d, s / d, np.nan)
    return out
