"""Window statistics added for the Qlib dialect: quantile, mean absolute deviation and the linear trend.

Same window and NaN rules as :mod:`alpha_env.ops.timeseries`: the window of day ``t`` is the ``d`` days
``t-d+1 .. t``; it needs all ``d`` values valid (a NaN in it, or a window reaching before the first day,
gives NaN; the first ``d-1`` rows are NaN). ``ts_mad`` and the line statistics recompute each window in
two passes (O(d) per step, no running sums, no drift); ``ts_quantile`` keeps each stock's window sorted
(O(d) per step). Each body is compiled as parallel and one-thread twins; blocks loop time-outer,
stocks-inner over row slices.

* ``ts_quantile(x, d, q)``: the ``q``-quantile of the window with linear interpolation between order
  statistics (pandas ``rolling.quantile``'s default): ``v[k] + (v[k+1] - v[k]) * f`` with
  ``q * (d - 1) = k + f`` on the sorted window ``v``.
* ``ts_mad(x, d)``: mean absolute deviation around the window's mean, ``mean(|x - mean(x)|)``.
* ``ts_slope``, ``ts_rsquare``, ``ts_resi``: least-squares line ``a + b * i`` through the window against
  the day number ``i = 1 .. d`` (today ``d``): the slope ``b`` (units of ``x`` per day), the R² of the
  fit (NaN on a constant window), and today's residual ``x[t] - (a + b * d)``. All NaN for ``d = 1``.

A constant window (values equal at 10 significant digits, ``rank``'s tie rule, as in
:mod:`alpha_env.ops.timeseries`) has ``ts_mad``, ``ts_slope`` and ``ts_resi`` exactly 0 and ``ts_rsquare``
NaN: the two passes would otherwise read the rounding of the window's mean as a spread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from alpha_env.errors import ExpressionError
from alpha_env.ops._checks import as_panel, check_window
from alpha_env.ops.sortkeys import advance_runs
from alpha_env.ops.threads import block_width, twin, use_parallel

__all__ = ["ts_quantile", "ts_mad", "ts_slope", "ts_rsquare", "ts_resi"]


def _quantile_body(x, d, width, q, out):  # pragma: no cover - compiled
    """Each stock keeps its window's valid values sorted (``srt[k, :cnt[k]]``): a step removes the day
    leaving and inserts today's (binary search, O(d) shift), then reads the two order statistics."""
    T, N = x.shape
    pos = q * (d - 1)
    kq = int(math.floor(pos))
    frac = pos - kq
    k1 = min(kq + 1, d - 1)
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        srt = np.empty((w, d))
        cnt = np.zeros(w, np.int64)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            for k in range(w):
                row = srt[k]
                c = cnt[k]
                if t >= d:
                    v = x[t - d, j0 + k]
                    if v == v:  # remove it: lower bound of v, then shift left
                        lo, hi = 0, c
                        while lo < hi:
                            mid = (lo + hi) >> 1
                            if row[mid] < v:
                                lo = mid + 1
                            else:
                                hi = mid
                        for i in range(lo, c - 1):
                            row[i] = row[i + 1]
                        c -= 1
                v = xt[k]
                if v == v:  # insert it: upper bound of v, then shift right
                    lo, hi = 0, c
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if row[mid] <= v:
                            lo = mid + 1
                        else:
                            hi = mid
                    for i in range(c, lo, -1):
                        row[i] = row[i - 1]
                    row[lo] = v
                    c += 1
                cnt[k] = c
                if c < d:  # the window starts before the first day or holds a NaN
                    ot[k] = np.nan
                else:
                    low = row[kq]
                    ot[k] = low + (row[k1] - low) * frac if frac > 0.0 else low


#: ``(parallel, one-thread)`` versions of :func:`_quantile_body`.
_QUANTILE = twin(_quantile_body)


def _moments_body(x, d, width, mode, out):  # pragma: no cover - compiled
    """``mode`` 0: mean absolute deviation; 1: slope; 2: R²; 3: today's residual of the line.

    Time-outer, stocks-inner over row slices of a block (rows stream in order); two passes per window.
    """
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n
    im = (n + 1.0) * 0.5  # mean of the day numbers 1 .. d
    sxx = n * (n * n - 1.0) / 12.0  # sum of (i - im)^2
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        bad = np.zeros(w)
        run = np.zeros(w)  # days in a row equal at 10 significant digits (a window of n is constant)
        prev = np.full(w, np.nan)
        m = np.zeros(w)
        a1 = np.zeros(w)
        a2 = np.zeros(w)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    bad[k] -= 0.0 if xo[k] == xo[k] else 1.0
            for k in range(w):
                bad[k] += 0.0 if xt[k] == xt[k] else 1.0
            advance_runs(xt, prev, run)
            if t < d - 1 or (mode != 0 and d == 1):
                ot[:] = np.nan
                continue
            m[:] = 0.0
            a1[:] = 0.0
            a2[:] = 0.0
            for r in range(t - d + 1, t + 1):
                xr = x[r, j0:j0 + w]
                for k in range(w):
                    m[k] += xr[k]
            for k in range(w):
                m[k] *= inv_n
            for r in range(t - d + 1, t + 1):
                xr = x[r, j0:j0 + w]
                di = (r - (t - d)) - im
                for k in range(w):
                    dy = xr[k] - m[k]
                    if mode == 0:
                        a1[k] += abs(dy)
                    else:
                        a1[k] += di * dy
                        a2[k] += dy * dy
            for k in range(w):
                if bad[k] > 0.0:
                    ot[k] = np.nan
                elif run[k] >= n:  # a constant window: no spread, a flat line, no R²
                    ot[k] = np.nan if mode == 2 else 0.0
                elif mode == 0:
                    ot[k] = a1[k] * inv_n
                elif mode == 1:
                    ot[k] = a1[k] / sxx
                elif mode == 2:
                    ot[k] = a1[k] * a1[k] / (sxx * a2[k]) if a2[k] > 0.0 else np.nan
                else:
                    ot[k] = (xt[k] - m[k]) - a1[k] / sxx * (n - im)


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
