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
    """Rolling mean of ``close * volume`` over ``d`` days ending at t; NaN unless all ``d`` are finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        dv = close * volume
    ok = np.isfinite(dv)
    filled = np.where(ok, dv, 0.0)
    t = dv.shape[0]
    ccount = np.zeros((t + 1, dv.shape[1]), dtype=np.int64)
    np.cumsum(ok, axis=0, out=ccount[1:])
    out = np.full(dv.shape, np.nan)
    if d <= t:
        c = ccount[d:] - ccount[:-d]
        with np.errstate(over="ignore", invalid="ignore"):
            out[d - 1 :] = np.where(c == d, _window_sums(filled, d) / d, np.nan)
    return out


def _window_sums(x: np.ndarray, d: int) -> np.ndarray:
    """``(T-d+1, N)`` sums of ``x[t-d+1 .. t]`` for ``t = d-1 .. T-1`` (``x`` finite, ``(T, N)``, ``d <= T``).

    Each sum adds only values inside its window, never a running total minus another: a prefix sum within
    blocks of ``d`` rows plus a suffix sum within the previous block (a window spans at most two blocks).
    A huge value therefore cannot spoil the sums after it leaves the window (a global cumulative sum lost
    every later value of a stock once one day's dollar volume was 1e15 times the rest, and overflowed
    to inf - inf = NaN forever after two values near 1e308)."""
    t, n = x.shape
    blocks = -(-t // d)
    padded = np.zeros((blocks * d, n))
    padded[:t] = x
    tiles = padded.reshape(blocks, d, n)
    prefix = np.cumsum(tiles, axis=1).reshape(-1, n)[:t]
    suffix = np.cumsum(tiles[:, ::-1], axis=1)[:, ::-1].reshape(-1, n)[:t]
    start = np.arange(t - d + 1)
    end = start + d - 1
    aligned = (start % d == 0)[:, None]  # the window is one whole block
    return np.where(aligned, prefix[end], suffix[start] + prefix[end])
