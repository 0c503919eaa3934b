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
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out[1:] = close[1:] / close[:-1] - 1.0
    return out


def adv_field(close: np.ndarray, volume: np.ndarray, d: int) -> np.ndarray:
    """Rolling mean of ``close * volume`` over ``d`` days ending at t; NaN unless all ``d`` are finite.

    Each window's sum adds only the values inside it (:mod:`alpha_env.ops.blocksums`: one compiled pass,
    imported on first use so that loading data needs no compiler), so a huge dollar volume cannot spoil
    the sums after it leaves the window."""
    from alpha_env.ops.blocksums import dollar_volume_mean

    return dollar_volume_mean(close, volume, d)
