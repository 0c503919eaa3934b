"""Window statistics added for the Qlib dialect: quantile, mean absolute deviation and the linear trend.

Same window and NaN rules as :mod:`alpha_env.ops.timeseries`: the window of day ``t`` is the ``d`` days
``t-d+1 .. t``; it needs all ``d`` values valid (a NaN in it, or a window reaching before the first day,
gives NaN; the first ``d-1`` rows are NaN). Each kernel recomputes its window per step (O(d) per step,
O(d log d) for the quantile), two-pass for accuracy; one body compiled as parallel and one-thread twins.

* ``ts_quantile(x, d, q)``: the ``q``-quantile of the window with linear interpolation between order
  statistics (pandas ``rolling.quantile``'s default): ``v[k] + (v[k+1] - v[k]) * f`` with
  ``q * (d - 1) = k + f`` on the sorted window ``v``.
* ``ts_mad(x, d)``: mean absolute deviation around the window's mean, ``mean(|x - mean(x)|)``.
* ``ts_slope``, ``ts_rsquare``, ``ts_resi``: least-squares line ``a + b * i`` through the window against
  the day number ``i = 1 .. d`` (today ``d``): the slope ``b`` (units of ``x`` per day), the R² of the
  fit (NaN on a constant window), and today's residual ``x[t] - (a + b * d)``. All NaN for ``d = 1``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from alpha_env.errors import ExpressionError
from alpha_env.ops._checks import as_panel, check_window
from alpha_env.ops.threads import block_width, twin, use_parallel

__all__ = ["ts_quantile", "ts_mad", "ts_slope", "ts_rsquare", "ts_resi"]


def _quantile_body(x, d, width, q, out):  # pragma: no cover - compiled
    T, N = x.shape
    pos = q * (d - 1)
    k = int(math.floor(pos))
    frac = pos - k
    k1 = min(k + 1, d - 1)
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        buf = np.empty(d)
        for j in range(j0, j0 + w):
            bad = 0
            for t in range(T):
                if x[t, j] != x[t, j]:
                    bad += 1
                if t >= d and x[t - d, j] != x[t - d, j]:
                    bad -= 1
                if t < d - 1 or bad > 0:
                    out[t, j] = np.nan
                    continue
                for r in range(d):
                    buf[r] = x[t - d + 1 + r, j]
                buf.sort()
                lo = buf[k]
                out[t, j] = lo + (buf[k1] - lo) * frac if frac > 0.0 else lo


#: ``(parallel, one-thread)`` versions of :func:`_quantile_body`.
_QUANTILE = twin(_quantile_body)


def _moments_body(x, d, width, mode, out):  # pragma: no cover - compiled
    """``mode`` 0: mean absolute deviation; 1: slope; 2: R²; 3: today's residual of the line."""
    T, N = x.shape
    n = float(d)
    im = (n + 1.0) * 0.5  # mean of the day numbers 1 .. d
    sxx = n * (n * n - 1.0) / 12.0  # sum of (i - im)^2
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        for j in range(j0, j0 + w):
            bad = 0
            for t in range(T):
                if x[t, j] != x[t, j]:
                    bad += 1
                if t >= d and x[t - d, j] != x[t - d, j]:
                    bad -= 1
                if t < d - 1 or bad > 0:
                    out[t, j] = np.nan
                    continue
                s = 0.0
                for r in range(t - d + 1, t + 1):
                    s += x[r, j]
                m = s / n
                if mode == 0:
                    a = 0.0
                    for r in range(t - d + 1, t + 1):
                        a += abs(x[r, j] - m)
                    out[t, j] = a / n
                    continue
                if d == 1:
                    out[t, j] = np.nan
                    continue
                sxy = 0.0
                syy = 0.0
                for r in range(t - d + 1, t + 1):
                    dy = x[r, j] - m
                    sxy += (r - (t - d) - im) * dy
                    syy += dy * dy
                slope = sxy / sxx
                if mode == 1:
                    out[t, j] = slope
                elif mode == 2:
                    out[t, j] = sxy * sxy / (sxx * syy) if syy > 0.0 else np.nan
                else:
                    out[t, j] = (x[t, j] - m) - slope * (n - im)


#: ``(parallel, one-thread)`` versions of :func:`_moments_body`.
_MOMENTS = twin(_moments_body)


def _run(op: str, kernels: tuple, x: np.ndarray, d: int, *flags) -> np.ndarray:
    x = as_panel(op, x)
    d = check_window(op, d)
    out = np.empty(x.shape)
    par = use_parallel(x.size)
    kernel = kernels[0] if par else kernels[1]
    kernel(x, d, block_width(x.shape[1], par), *flags, out)
    return out


def ts_quantile(x: np.ndarray, d: int, q: float) -> np.ndarray:
    """The ``q``-quantile (``0 <= q <= 1``, linear interpolation) of the window ``t-d+1 .. t``.

    Raises:
        ExpressionError: ``q`` outside ``[0, 1]`` or not a number.
    """
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= float(q) <= 1.0:
        raise ExpressionError(f"ts_quantile: q must be a number in [0, 1], got {q!r}",
                              expression="ts_quantile")
    return _run("ts_quantile", _QUANTILE, x, d, float(q))


def ts_mad(x: np.ndarray, d: int) -> np.ndarray:
    """Mean absolute deviation around the window's mean (same units as ``x``)."""
    return _run("ts_mad", _MOMENTS, x, d, 0)


def ts_slope(x: np.ndarray, d: int) -> np.ndarray:
    """Least-squares slope of the window against the day number (units of ``x`` per day); NaN for d = 1."""
    return _run("ts_slope", _MOMENTS, x, d, 1)


def ts_rsquare(x: np.ndarray, d: int) -> np.ndarray:
    """R² of the window's least-squares line against the day number, in [0, 1]; NaN on a constant window or
    d = 1."""
    return _run("ts_rsquare", _MOMENTS, x, d, 2)


def ts_resi(x: np.ndarray, d: int) -> np.ndarray:
    """Today's residual from the window's least-squares line against the day number; NaN for d = 1."""
    return _run("ts_resi", _MOMENTS, x, d, 3)
