"""Rolling means from sums that add only the values inside each window (the ``adv{d}`` field's kernel).

A window of ``d`` days spans at most two blocks of ``d`` rows; its sum is the suffix sum of its start's
block (from the start to the block's end) plus the prefix sum of its end's block (from the block's start
to the end), or the prefix alone when the window is one whole block. No running total is ever subtracted,
so a huge value cannot spoil the sums after it leaves the window (a global cumulative sum lost every
later value of a stock once one day's dollar volume was 1e15 times the rest, and overflowed to
``inf - inf = NaN`` after two values near 1e308).

:func:`dollar_volume_mean` computes the mean dollar volume ``close * volume`` this way in one compiled
kernel, with the additions in the order of NumPy's ``cumsum`` within each block (the reference, written
with NumPy, is in ``tests/test_ops_blocksums.py``), so the result is the same bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from alpha_env.errors import DataError
from alpha_env.ops.threads import read_only

__all__ = ["dollar_volume_mean"]


@njit(cache=True, error_model="numpy")
def _dollar_volume_mean(close, volume, d, out, suffix):  # pragma: no cover - compiled
    """``out[t]``: mean of ``close * volume`` over the ``d`` rows ending at ``t`` where all ``d`` are finite,
    else NaN; ``suffix`` ``(T, N)`` scratch. ``1 <= d <= T``."""
    T, N = close.shape
    blocks = (T + d - 1) // d
    for b in range(blocks - 1):  # suffix sums within each block but the last (no window starts there
        end = b * d + d - 1  # unaligned: it would end past T)
        for j in range(N):
            v = close[end, j] * volume[end, j]
            suffix[end, j] = v if np.isfinite(v) else 0.0
        for t in range(end - 1, b * d - 1, -1):
            for j in range(N):
                v = close[t, j] * volume[t, j]
                suffix[t, j] = suffix[t + 1, j] + (v if np.isfinite(v) else 0.0)
    prefix = np.empty(N)
    count = np.zeros(N, np.int64)  # finite values in the window ending at t
    for t in range(T):
        first = t % d == 0
        for j in range(N):
            v = close[t, j] * volume[t, j]
            ok = np.isfinite(v)
            x = v if ok else 0.0
            prefix[j] = x if first else prefix[j] + x
            count[j] += ok
            if t >= d:
                u = close[t - d, j] * volume[t - d, j]
                count[j] -= np.isfinite(u)
        if t < d - 1:
            for j in range(N):
                out[t, j] = np.nan
            continue
        start = t - d + 1
        aligned = start % d == 0
        for j in range(N):
            s = prefix[j] if aligned else suffix[start, j] + prefix[j]
            out[t, j] = s / d if count[j] == d else np.nan


def dollar_volume_mean(close: np.ndarray, volume: np.ndarray, d: int) -> np.ndarray:
    """``(T, N)`` mean of ``close * volume`` over the ``d`` days ending at each date; NaN unless all ``d``
    products are finite (and on the first ``d - 1`` dates, and everywhere when ``d > T``).

    Args:
        close, volume: ``(T, N)`` prices and share volumes.
        d: window length in days (>= 1).

    Raises:
        DataError: arrays of other shapes, or ``d < 1``.
    """
    c = read_only(np.ascontiguousarray(close, dtype=np.float64))
    v = read_only(np.ascontiguousarray(volume, dtype=np.float64))
    if c.ndim != 2 or c.shape != v.shape:
        raise DataError(f"close {c.shape} and volume {v.shape} must be (T, N) arrays of one shape")
    T = c.shape[0]
    d = int(d)
    if d < 1:
        raise DataError(f"adv window must be >= 1 day, got {d}")
    out = np.empty(c.shape)
    if d > T:
        out.fill(np.nan)
        return out
    _dollar_volume_mean(c, v, d, out, np.empty(c.shape))
    return out
