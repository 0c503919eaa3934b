"""Time-series operators: rolling windows over the date axis of a ``(T, N)`` float64 panel.

Semantics shared by every rolling operator (see ``docs/ops.md``):

- The window of day ``t`` is the ``d`` days ``t-d+1 .. t``; it includes the current day and never a later
  one (no look-ahead).
- Min-periods rule: **all ``d`` observations must be valid**. A window that reaches before the first day
  or holds a NaN gives NaN (the first ``d-1`` rows are NaN). This is pandas' ``rolling(d)`` default.
- Sample statistics use ``d - 1`` in the denominator (``stddev``, ``covariance``, ``ts_zscore``), as
  pandas does; ``ts_skewness`` and ``ts_kurtosis`` are pandas' bias-corrected estimators.
- A constant window has ``stddev`` and ``covariance`` 0 exactly, and NaN ``correlation``,
  ``ts_zscore``, ``ts_skewness``, ``ts_kurtosis`` (0/0, never ±inf). A window is constant when its values
  are equal at 10 significant digits (``rank``'s tie rule, :func:`~alpha_env.ops.sortkeys.equal_at_sig`),
  so that the rounding noise of a mathematically constant series (``(close + 1) - close``) is not read
  as a spread.

Implementation: kernels run over blocks of adjacent stocks (in parallel on large panels, on one thread
below ``threads.PARALLEL_MIN_CELLS`` cells; both versions come from one body); inside a block they loop
time-outer, stocks-inner with per-stock running state, so memory streams in order. Sums and moments are
O(1) per step on values shifted by a per-stock reference and rebuilt from the window every ``d`` steps
(bounded rounding drift). ``ts_min``/``ts_max``/``ts_argmin``/``ts_argmax``/``product`` use the
van Herk/Gil-Werman block scheme (O(1) per step, exact). ``ts_rank`` is O(d) per step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.ops._checks import as_panel, check_same_shape, check_window
from alpha_env.ops.elementwise import _sub
from alpha_env.ops.sortkeys import (
    NEAR_REL,
    advance_runs,
    equal_at_sig,
    mark_near_changes,
    near_pair,
    round_sig,
)
from alpha_env.ops.threads import block_width, twin, use_parallel

__all__ = [
    "delay",
    "delta",
    "ts_sum",
    "ts_mean",
    "stddev",
    "ts_zscore",
    "ts_skewness",
    "ts_kurtosis",
    "covariance",
    "correlation",
    "decay_linear",
    "product",
    "ts_min",
    "ts_max",
    "ts_argmin",
    "ts_argmax",
    "ts_rank",
]

# --------------------------------------------------------------------------------------------------
# Kernels. Each parallel block is a strip of adjacent stocks [j0, j0 + w); inside it the loop is
# time-outer, stocks-inner over row slices. ``bad`` counts the NaNs in each stock's window; sums hold
# values minus a per-stock reference ``ref`` and are rebuilt from the window when ``t % d == 0``.
# --------------------------------------------------------------------------------------------------
#: Loss-of-significance guard of the running-sum kernels. Sums are rebuilt from the window every ``d``
#: days, so the only terms that leave running sums are the rows of their last rebuild: a window sum
#: carries a rounding error of at most about ``n * 4 * 2**-52 * M``, ``M`` the largest shifted term of that
#: rebuild (``n`` the window; terms that entered since are still in the window, part of its own scale).
#: The kernels rebuild one stock's window from its own values (shifted by today's value) whenever that
#: bound exceeds ``1e-10`` of the window's scale, e.g. for up to ``d - 1`` days after a value of 1e15 left
#: a window of values near 1. Ordinary data never comes near; the check is one compare per value.
_LOSS = 4.0 * 2.0**-52 / 1e-10


@njit(cache=True, inline="always")
def _limit(big, tol, ref):  # pragma: no cover - compiled
    """A window sum's error bound ``tol * big`` after a rebuild around ``ref`` (a value of the window),
    or 0 when ``|ref|`` already exceeds it (the window's scale is at least ``|ref|``)."""
    lim = big * tol
    return lim if lim > abs(ref) else 0.0


@njit(cache=True, inline="always")
def _lost(lim, v, mean):  # pragma: no cover - compiled
    """Whether a window sum's error bound ``lim`` (see :func:`_limit`) exceeds the window's scale, bounded
    below by ``|today|`` and ``|mean|``."""
    return (lim > abs(v)) & (lim > abs(mean))


@njit(cache=True, inline="always")
def _resum(x, t, d, j, ref):  # pragma: no cover - compiled
    """Sum of ``x[r, j] - ref`` over the window ``r = t-d+1 .. t`` (all valid) and its largest term."""
    s = 0.0
    big = 0.0
    for r in range(t - d + 1, t + 1):
        dv = x[r, j] - ref
        s += dv
        big = max(big, abs(dv))
    return s, big


@njit(cache=True, inline="always")
def _resum2(x, t, d, j, ref):  # pragma: no cover - compiled
    """Sums of ``x[r, j] - ref`` and of its square over the window ``t-d+1 .. t``, and the largest term."""
    s1 = 0.0
    s2 = 0.0
    big = 0.0
    for r in range(t - d + 1, t + 1):
        dv = x[r, j] - ref
        s1 += dv
        s2 += dv * dv
        big = max(big, abs(dv))
    return s1, s2, big


def _sum_body(x, d, width, mean, out):  # pragma: no cover - compiled
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n  # multiply, never divide, in the inner loops (a division costs ~4 multiplies)
    tol = n * _LOSS
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        ref = np.zeros(w)
        s1 = np.zeros(w)
        bad = np.zeros(w)
        big = np.zeros(w)  # largest |x - ref| of the last rebuild's rows
        lim = np.zeros(w)  # the error bound they leave (see _limit)
        guard = False  # some stock of the block has lim > 0: check its windows (ordinary data: never)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            rebase = t % d == 0
            if rebase:
                for k in range(w):
                    v = xt[k]
                    ref[k] = v if v == v else ref[k]
                    s1[k] = 0.0
                    big[k] = 0.0
                for r in range(max(0, t - d + 1), t):
                    xr = x[r, j0:j0 + w]
                    for k in range(w):
                        v = xr[k]
                        dv = v - ref[k] if v == v else 0.0
                        s1[k] += dv
                        big[k] = max(big[k], abs(dv))
                guard = False
                for k in range(w):
                    lim[k] = _limit(big[k], tol, ref[k])
                    guard = guard | (lim[k] > 0.0)
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    v = xo[k]
                    ok = v == v
                    bad[k] -= 0.0 if ok else 1.0
                    if not rebase:
                        s1[k] -= v - ref[k] if ok else 0.0
            for k in range(w):
                v = xt[k]
                ok = v == v
                dv = v - ref[k] if ok else 0.0
                s1[k] += dv
                bad[k] += 0.0 if ok else 1.0
                tot = s1[k] + n * ref[k]
                res = tot * inv_n if mean else tot
                ot[k] = res if ((bad[k] == 0.0) & (abs(res) < np.inf)) else np.nan  # overflow: NaN
            if t < d - 1:
                ot[:] = np.nan
            elif guard:
                for k in range(w):
                    v = xt[k]
                    if bad[k] == 0.0 and _lost(lim[k], v, (s1[k] + n * ref[k]) * inv_n):
                        s1[k], big[k] = _resum(x, t, d, j0 + k, v)
                        ref[k] = v
                        lim[k] = _limit(big[k], tol, v)
                        guard = guard | (lim[k] > 0.0)
                        tot = s1[k] + n * v
                        res = tot * inv_n if mean else tot
                        ot[k] = res if abs(res) < np.inf else np.nan


#: ``(parallel, one-thread)`` versions of :func:`_sum_body`.
_SUM = twin(_sum_body)


@njit(cache=True, inline="always")
def _sd_out(m, q, dx, run, n, inv_n1, zscore):  # pragma: no cover - compiled
    """stddev (or the z-score of today's shifted value ``dx``) from the shifted mean ``m`` and the sum of
    squared deviations ``q``; a constant window (``run >= n``) has stddev 0 and z-score NaN."""
    var = q * inv_n1
    sd = np.sqrt(var) if (var > 0.0 and run < n) else 0.0
    if zscore:
        return (dx - m) / sd if sd > 0.0 else np.nan
    return sd


def _var_body(x, d, width, zscore, out):  # pragma: no cover - compiled
    """stddev (``zscore=False``) or ts_zscore; constant windows detected by run lengths of values equal at
    10 significant digits.

    Per row: one fused loop adds today's value and drops the value leaving the window, one loop tracks
    run lengths, one computes the output (short loops over few arrays vectorize; one long loop does not).
    """
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n  # multiply, never divide, in the inner loops (a division costs ~4 multiplies)
    inv_n1 = 1.0 / (n - 1.0) if d > 1 else np.nan
    tol = n * _LOSS
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        ref = np.zeros(w)
        s1 = np.zeros(w)
        s2 = np.zeros(w)
        bad = np.zeros(w)
        run = np.zeros(w)  # days in a row equal at 10 significant digits (a window of n is constant)
        prev = np.full(w, np.nan)
        big = np.zeros(w)  # largest |x - ref| of the last rebuild's rows
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t % d == 0:  # rebase: sums of the window's first d-1 rows around today's value
                for k in range(w):
                    v = xt[k]
                    ref[k] = v if v == v else ref[k]
                    s1[k] = 0.0
                    s2[k] = 0.0
                    big[k] = 0.0
                for r in range(max(0, t - d + 1), t):
                    xr = x[r, j0:j0 + w]
                    for k in range(w):
                        v = xr[k]
                        dv = v - ref[k] if v == v else 0.0
                        s1[k] += dv
                        s2[k] += dv * dv
                        big[k] = max(big[k], abs(dv))
                if t >= d:
                    xo = x[t - d, j0:j0 + w]
                    for k in range(w):
                        bad[k] -= 0.0 if xo[k] == xo[k] else 1.0
                for k in range(w):
                    v = xt[k]
                    ok = v == v
                    dv = v - ref[k] if ok else 0.0
                    s1[k] += dv
                    s2[k] += dv * dv
                    bad[k] += 0.0 if ok else 1.0
            elif t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    v = xt[k]
                    u = xo[k]
                    ok = v == v
                    oko = u == u
                    dv = v - ref[k] if ok else 0.0
                    du = u - ref[k] if oko else 0.0
                    s1[k] += dv - du
                    s2[k] += dv * dv - du * du
                    bad[k] += (0.0 if ok else 1.0) - (0.0 if oko else 1.0)
            else:
                for k in range(w):
                    v = xt[k]
                    ok = v == v
                    dv = v - ref[k] if ok else 0.0
                    s1[k] += dv
                    s2[k] += dv * dv
                    bad[k] += 0.0 if ok else 1.0
            advance_runs(xt, prev, run)
            lossy = 0
            for k in range(w):
                m = s1[k] * inv_n
                q = s2[k] - s1[k] * m
                ot[k] = np.nan if bad[k] > 0.0 else _sd_out(m, q, xt[k] - ref[k], run[k], n, inv_n1, zscore)
                lossy += 1 if (bad[k] == 0.0) & (run[k] < n) & (big[k] * big[k] * tol > q) else 0
            if t < d - 1 or d < 2:
                ot[:] = np.nan
            elif lossy > 0:  # rebuild the windows whose running sums lost significance
                for k in range(w):
                    q = s2[k] - s1[k] * (s1[k] * inv_n)
                    if bad[k] == 0.0 and run[k] < n and big[k] * big[k] * tol > q:
                        v = xt[k]
                        s1[k], s2[k], big[k] = _resum2(x, t, d, j0 + k, v)
                        ref[k] = v
                        m = s1[k] * inv_n
                        ot[k] = _sd_out(m, s2[k] - s1[k] * m, 0.0, run[k], n, inv_n1, zscore)


#: ``(parallel, one-thread)`` versions of :func:`_var_body`.
_VAR = twin(_var_body)


@njit(cache=True, inline="always")
def _m4_out(s1, s2, s3, s4, n, inv_n, kurt):  # pragma: no cover - compiled
    """Skewness or excess kurtosis (pandas' bias-corrected estimators) from the shifted power sums;
    returns ``(value, m2)`` with ``m2`` the population variance."""
    m = s1 * inv_n
    a2 = s2 * inv_n
    a3 = s3 * inv_n
    m2 = a2 - m * m
    m3 = a3 - 3.0 * m * a2 + 2.0 * m * m * m
    if kurt:
        m4 = s4 * inv_n - 4.0 * m * a3 + 6.0 * m * m * a2 - 3.0 * m * m * m * m
        num = (n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) * (n - 1.0)
        res = num / ((n - 2.0) * (n - 3.0))
    else:
        res = np.sqrt(n * (n - 1.0)) * m3 / ((n - 2.0) * m2 * np.sqrt(m2))
    return res, m2


@njit(cache=True, inline="always")
def _resum4(x, t, d, j, ref):  # pragma: no cover - compiled
    """Sums of the powers 1..4 of ``x[r, j] - ref`` over the window ``t-d+1 .. t``, and the largest term."""
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    big = 0.0
    for r in range(t - d + 1, t + 1):
        dv = x[r, j] - ref
        d2 = dv * dv
        s1 += dv
        s2 += d2
        s3 += d2 * dv
        s4 += d2 * d2
        big = max(big, abs(dv))
    return s1, s2, s3, s4, big


def _moment4_body(x, d, width, kurt, out):  # pragma: no cover - compiled
    """ts_skewness (``kurt=False``) or ts_kurtosis: pandas' bias-corrected estimators."""
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n  # multiply, never divide, in the inner loops (a division costs ~4 multiplies)
    tol = n * _LOSS * 0.1  # fourth powers: the error bound is checked against m2 squared, to 1e-9
    too_short = d < (4 if kurt else 3)
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        ref = np.zeros(w)
        s1 = np.zeros(w)
        s2 = np.zeros(w)
        s3 = np.zeros(w)
        s4 = np.zeros(w)
        bad = np.zeros(w)
        run = np.zeros(w)  # days in a row equal at 10 significant digits (a window of n is constant)
        prev = np.full(w, np.nan)
        big = np.zeros(w)  # largest |x - ref| of the last rebuild's rows
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            rebase = t % d == 0
            if rebase:
                for k in range(w):
                    v = xt[k]
                    ref[k] = v if v == v else ref[k]
                    s1[k] = 0.0
                    s2[k] = 0.0
                    s3[k] = 0.0
                    s4[k] = 0.0
                    big[k] = 0.0
                for r in range(max(0, t - d + 1), t):
                    xr = x[r, j0:j0 + w]
                    for k in range(w):
                        v = xr[k]
                        dv = v - ref[k] if v == v else 0.0
                        d2 = dv * dv
                        s1[k] += dv
                        s2[k] += d2
                        s3[k] += d2 * dv
                        s4[k] += d2 * d2
                        big[k] = max(big[k], abs(dv))
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    v = xo[k]
                    ok = v == v
                    bad[k] -= 0.0 if ok else 1.0
                    if not rebase:
                        dv = v - ref[k] if ok else 0.0
                        d2 = dv * dv
                        s1[k] -= dv
                        s2[k] -= d2
                        s3[k] -= d2 * dv
                        s4[k] -= d2 * d2
            advance_runs(xt, prev, run)
            lossy = 0
            for k in range(w):
                v = xt[k]
                ok = v == v
                dv = v - ref[k] if ok else 0.0
                d2 = dv * dv
                s1[k] += dv
                s2[k] += d2
                s3[k] += d2 * dv
                s4[k] += d2 * d2
                bad[k] += 0.0 if ok else 1.0
                res, m2 = _m4_out(s1[k], s2[k], s3[k], s4[k], n, inv_n, kurt)
                undefined = bad[k] > 0.0 or run[k] >= n or m2 <= 0.0 or too_short
                ot[k] = np.nan if undefined else res
                b2 = big[k] * big[k]
                lossy += 1 if (bad[k] == 0.0) & (run[k] < n) & (b2 * b2 * tol > m2 * m2) else 0
            if t < d - 1:
                ot[:] = np.nan
            elif lossy > 0:  # rebuild the windows whose running sums lost significance
                for k in range(w):
                    m = s1[k] * inv_n
                    m2 = s2[k] * inv_n - m * m
                    b2 = big[k] * big[k]
                    if bad[k] == 0.0 and run[k] < n and b2 * b2 * tol > m2 * m2:
                        v = xt[k]
                        s1[k], s2[k], s3[k], s4[k], big[k] = _resum4(x, t, d, j0 + k, v)
                        ref[k] = v
                        res, m2 = _m4_out(s1[k], s2[k], s3[k], s4[k], n, inv_n, kurt)
                        ot[k] = np.nan if (m2 <= 0.0 or too_short) else res


#: ``(parallel, one-thread)`` versions of :func:`_moment4_body`.
_MOMENT4 = twin(_moment4_body)


@njit(cache=True, inline="always")
def _pair_window_ok(lastnan, lastcx, lastcy, lo, hi):  # pragma: no cover - compiled
    """A pair window is usable: its last NaN pair is on or before day ``lo`` (= t - d) and both series
    changed on or after day ``hi`` (= t - d + 2), i.e. neither is constant in it."""
    return (lastnan <= lo) & (lastcx >= hi) & (lastcy >= hi)


@njit(cache=True, inline="always")
def _pair_lost(bigx, bigy, tol, cxx, cyy):  # pragma: no cover - compiled
    """Whether the running pair sums lost significance: an error bound above 1e-10 of either series'
    sum of squared deviations ``cxx`` / ``cyy`` (see :data:`_LOSS`)."""
    return (bigx * bigx * tol > cxx) | (bigy * bigy * tol > cyy)


@njit(cache=True, inline="always")
def _corr_out(cxy, cxx, cyy):  # pragma: no cover - compiled
    """``cxy / sqrt(cxx * cyy)`` clipped to [-1, 1], one square root per factor (no under/overflow)."""
    res = cxy / (np.sqrt(cxx) * np.sqrt(cyy))
    return min(1.0, max(-1.0, res))


@njit(cache=True, inline="always")
def _resum_pair(x, y, t, d, j, rx, ry):  # pragma: no cover - compiled
    """Shifted sums ``(sx, sy, sxx, syy, sxy)`` of the window ``t-d+1 .. t`` of column ``j`` (all pairs
    valid) around ``(rx, ry)``, and the largest ``|x - rx|``, ``|y - ry|``."""
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    bx = 0.0
    by = 0.0
    for r in range(t - d + 1, t + 1):
        du = x[r, j] - rx
        dv = y[r, j] - ry
        sx += du
        sy += dv
        sxx += du * du
        syy += dv * dv
        sxy += du * dv
        bx = max(bx, abs(du))
        by = max(by, abs(dv))
    return sx, sy, sxx, syy, sxy, bx, by


def _comoments_body(x, y, d, width, corr, out):  # pragma: no cover - compiled
    """covariance (``corr=False``) or correlation (``corr=True``) of ``x`` and ``y``, both ``(T, N)``, over
    windows of ``d`` days, into ``out``; a pair is valid when both values are.

    Per day: one loop adds today's pair and drops the oldest (shifted running sums, rebuilt from the window
    every ``d`` days, as in :func:`_var_body`) and updates the last-NaN and last-change days; one loop
    writes the output. Correlation divides by ``sqrt(var_x * var_y)`` (one vectorized square root) and
    redoes, factor by factor, the rare days where that product under- or overflows.
    """
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n  # multiply, never divide, in the inner loops (a division costs ~4 multiplies)
    inv_n1 = 1.0 / (n - 1.0) if d > 1 else np.nan
    tol = n * _LOSS
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        rx = np.zeros(w)
        ry = np.zeros(w)
        sx = np.zeros(w)
        sy = np.zeros(w)
        sxx = np.zeros(w)
        syy = np.zeros(w)
        sxy = np.zeros(w)
        bigx = np.zeros(w)  # largest |x - rx| and |y - ry| of the last rebuild's rows
        bigy = np.zeros(w)
        # Last day (as a float) with a NaN pair, and with a change of x / of y from the day before
        # (NaN counts as a change). The window of day t is complete when lastnan <= t - d, and x is not
        # constant in it when lastcx >= t - d + 2.
        lastnan = np.full(w, -1e18)
        lastcx = np.full(w, -1e18)
        lastcy = np.full(w, -1e18)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            yt = y[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            tf = float(t)
            lo = tf - n  # a complete window has its last NaN pair on or before this day
            hi = tf - n + 2.0  # and its last change on or after this one
            xp = x[max(t - 1, 0), j0:j0 + w]  # yesterday (day 0 compares with itself: no change)
            yp = y[max(t - 1, 0), j0:j0 + w]
            near_x = 0  # days within NEAR_REL of yesterday but not equal: rounded after the update loops
            near_y = 0
            if t % d == 0:
                for k in range(w):
                    u = xt[k]
                    v = yt[k]
                    ok = (u == u) & (v == v)
                    rx[k] = u if ok else rx[k]
                    ry[k] = v if ok else ry[k]
                    sx[k] = 0.0
                    sy[k] = 0.0
                    sxx[k] = 0.0
                    syy[k] = 0.0
                    sxy[k] = 0.0
                    bigx[k] = 0.0
                    bigy[k] = 0.0
                for r in range(max(0, t - d + 1), t + 1):
                    xr = x[r, j0:j0 + w]
                    yr = y[r, j0:j0 + w]
                    for k in range(w):
                        u = xr[k]
                        v = yr[k]
                        ok = (u == u) & (v == v)
                        du = u - rx[k] if ok else 0.0
                        dv = v - ry[k] if ok else 0.0
                        sx[k] += du
                        sy[k] += dv
                        sxx[k] += du * du
                        syy[k] += dv * dv
                        sxy[k] += du * dv
                        bigx[k] = max(bigx[k], abs(du))
                        bigy[k] = max(bigy[k], abs(dv))
                for k in range(w):
                    u = xt[k]
                    v = yt[k]
                    ok = (u == u) & (v == v)
                    lastnan[k] = lastnan[k] if ok else tf
                    same_x, close_x = near_pair(u, xp[k])
                    same_y, close_y = near_pair(v, yp[k])
                    lastcx[k] = lastcx[k] if (same_x | close_x) else tf
                    lastcy[k] = lastcy[k] if (same_y | close_y) else tf
                    near_x += 1 if close_x else 0
                    near_y += 1 if close_y else 0
            else:
                if t >= d:
                    xo = x[t - d, j0:j0 + w]
                    yo = y[t - d, j0:j0 + w]
                    for k in range(w):
                        u = xt[k]
                        v = yt[k]
                        ok = (u == u) & (v == v)
                        du = u - rx[k] if ok else 0.0
                        dv = v - ry[k] if ok else 0.0
                        uo = xo[k]
                        vo = yo[k]
                        oko = (uo == uo) & (vo == vo)
                        duo = uo - rx[k] if oko else 0.0
                        dvo = vo - ry[k] if oko else 0.0
                        sx[k] += du - duo
                        sy[k] += dv - dvo
                        sxx[k] += du * du - duo * duo
                        syy[k] += dv * dv - dvo * dvo
                        sxy[k] += du * dv - duo * dvo
                        lastnan[k] = lastnan[k] if ok else tf
                        same_x, close_x = near_pair(u, xp[k])
                        same_y, close_y = near_pair(v, yp[k])
                        lastcx[k] = lastcx[k] if (same_x | close_x) else tf
                        lastcy[k] = lastcy[k] if (same_y | close_y) else tf
                        near_x += 1 if close_x else 0
                        near_y += 1 if close_y else 0
                else:
                    for k in range(w):
                        u = xt[k]
                        v = yt[k]
                        ok = (u == u) & (v == v)
                        du = u - rx[k] if ok else 0.0
                        dv = v - ry[k] if ok else 0.0
                        sx[k] += du
                        sy[k] += dv
                        sxx[k] += du * du
                        syy[k] += dv * dv
                        sxy[k] += du * dv
                        lastnan[k] = lastnan[k] if ok else tf
                        same_x, close_x = near_pair(u, xp[k])
                        same_y, close_y = near_pair(v, yp[k])
                        lastcx[k] = lastcx[k] if (same_x | close_x) else tf
                        lastcy[k] = lastcy[k] if (same_y | close_y) else tf
                        near_x += 1 if close_x else 0
                        near_y += 1 if close_y else 0
            if near_x > 0:
                mark_near_changes(xt, xp, lastcx, tf)
            if near_y > 0:
                mark_near_changes(yt, yp, lastcy, tf)
            lossy = 0  # usable windows whose running sums lost significance (see _LOSS)
            if corr:
                lost = 0  # valid pairs whose var_x * var_y under- or overflowed (an integer count vectorizes;
                # a float one would not)
                for k in range(w):
                    cxy = sxy[k] - sx[k] * sy[k] * inv_n
                    cxx = sxx[k] - sx[k] * sx[k] * inv_n
                    cyy = syy[k] - sy[k] * sy[k] * inv_n
                    usable = _pair_window_ok(lastnan[k], lastcx[k], lastcy[k], lo, hi)
                    ok = usable & (cxx > 0.0) & (cyy > 0.0)
                    q = cxx * cyy
                    res = cxy / np.sqrt(q)
                    res = res if res < 1.0 else 1.0
                    res = res if res > -1.0 else -1.0
                    good = ok & (q > 0.0) & (q < np.inf)
                    ot[k] = res if good else np.nan
                    lost += 1 if (ok & ~good) else 0
                    lossy += 1 if usable & _pair_lost(bigx[k], bigy[k], tol, cxx, cyy) else 0
                for k in range(w if lost > 0 else 0):  # redo those dividing by each square root
                    if ot[k] != ot[k] and _pair_window_ok(lastnan[k], lastcx[k], lastcy[k], lo, hi):
                        cxx = sxx[k] - sx[k] * sx[k] * inv_n
                        cyy = syy[k] - sy[k] * sy[k] * inv_n
                        if cxx > 0.0 and cyy > 0.0:
                            cxy = sxy[k] - sx[k] * sy[k] * inv_n
                            ot[k] = _corr_out(cxy, cxx, cyy)
            else:
                for k in range(w):
                    cxy = sxy[k] - sx[k] * sy[k] * inv_n
                    cxx = sxx[k] - sx[k] * sx[k] * inv_n
                    cyy = syy[k] - sy[k] * sy[k] * inv_n
                    complete = lastnan[k] <= lo  # no NaN pair in the window
                    usable = _pair_window_ok(lastnan[k], lastcx[k], lastcy[k], lo, hi)
                    # a constant x or y window covaries with nothing: exactly 0
                    ot[k] = cxy * inv_n1 if usable else (0.0 if complete else np.nan)
                    lossy += 1 if usable & _pair_lost(bigx[k], bigy[k], tol, cxx, cyy) else 0
            if t < d - 1 or d < 2:
                ot[:] = np.nan
            elif lossy > 0:  # rebuild those windows from their values
                for k in range(w):
                    cxx = sxx[k] - sx[k] * sx[k] * inv_n
                    cyy = syy[k] - sy[k] * sy[k] * inv_n
                    usable = _pair_window_ok(lastnan[k], lastcx[k], lastcy[k], lo, hi)
                    if usable and _pair_lost(bigx[k], bigy[k], tol, cxx, cyy):
                        u = xt[k]
                        v = yt[k]
                        sx[k], sy[k], sxx[k], syy[k], sxy[k], bigx[k], bigy[k] = _resum_pair(
                            x, y, t, d, j0 + k, u, v)
                        rx[k] = u
                        ry[k] = v
                        cxy = sxy[k] - sx[k] * sy[k] * inv_n
                        cxx = sxx[k] - sx[k] * sx[k] * inv_n
                        cyy = syy[k] - sy[k] * sy[k] * inv_n
                        if corr:
                            ok = cxx > 0.0 and cyy > 0.0
                            ot[k] = _corr_out(cxy, cxx, cyy) if ok else np.nan
                        else:
                            ot[k] = cxy * inv_n1


#: ``(parallel, one-thread)`` versions of :func:`_comoments_body`.
_COMOMENTS = twin(_comoments_body)


@njit(cache=True, inline="always")
def _resum_decay(x, t, d, j, ref):  # pragma: no cover - compiled
    """Plain and weighted (today ``d``, oldest 1) sums of ``x[r, j] - ref`` over the window
    ``t-d+1 .. t``, and the largest term."""
    s = 0.0
    ws = 0.0
    big = 0.0
    for r in range(t - d + 1, t + 1):
        dv = x[r, j] - ref
        s += dv
        ws += float(d - (t - r)) * dv
        big = max(big, abs(dv))
    return s, ws, big


def _decay_linear_body(x, d, width, out):  # pragma: no cover - compiled
    """Weights d, d-1, ..., 1 (today weight d) normalized to sum 1; O(1) per step:
    ``W_t = W_{t-1} - S_{t-1} + d * x_t`` with ``S`` the plain window sum."""
    T, N = x.shape
    n = float(d)
    inv_total = 2.0 / (n * (n + 1.0))  # 1 / sum of the weights
    tol = n * _LOSS
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        ref = np.zeros(w)
        s = np.zeros(w)  # plain window sum of (x - ref) up to yesterday
        ws = np.zeros(w)  # weighted window sum of (x - ref) up to yesterday
        bad = np.zeros(w)
        big = np.zeros(w)  # largest |x - ref| of the last rebuild's rows
        lim = np.zeros(w)  # the error bound they leave (see _limit)
        guard = False  # some stock of the block has lim > 0: check its windows (ordinary data: never)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t % d == 0:
                for k in range(w):
                    v = xt[k]
                    ref[k] = v if v == v else ref[k]
                    s[k] = 0.0
                    ws[k] = 0.0
                    big[k] = 0.0
                # yesterday's window: rows t-d .. t-1, row r has weight d - (t-1-r)
                for r in range(max(0, t - d), t):
                    wt = n - float(t - 1 - r)
                    xr = x[r, j0:j0 + w]
                    for k in range(w):
                        v = xr[k]
                        dv = v - ref[k] if v == v else 0.0
                        s[k] += dv
                        ws[k] += wt * dv
                        big[k] = max(big[k], abs(dv))
                guard = False
                for k in range(w):
                    lim[k] = _limit(big[k], tol, ref[k])
                    guard = guard | (lim[k] > 0.0)
            xo = x[max(t - d, 0), j0:j0 + w]
            for k in range(w):
                v = xt[k]
                ok = v == v
                dv = v - ref[k] if ok else 0.0
                bad[k] += 0.0 if ok else 1.0
                o = xo[k]
                old = o - ref[k] if (t >= d and o == o) else 0.0
                bad[k] -= 1.0 if (t >= d and o != o) else 0.0
                # every old weight drops by one (minus the sum of rows t-d .. t-1), today enters with d
                ws[k] = ws[k] - s[k] + n * dv
                s[k] += dv - old
                res = ws[k] * inv_total + ref[k]
                ot[k] = np.nan if bad[k] > 0.0 else res
            if t < d - 1:
                ot[:] = np.nan
            elif guard:  # rebuild the windows whose running sums lost significance
                for k in range(w):
                    v = xt[k]
                    if bad[k] == 0.0 and _lost(lim[k], v, ws[k] * inv_total + ref[k]):
                        s[k], ws[k], big[k] = _resum_decay(x, t, d, j0 + k, v)
                        ref[k] = v
                        lim[k] = _limit(big[k], tol, v)
                        guard = guard | (lim[k] > 0.0)
                        ot[k] = ws[k] * inv_total + v


#: ``(parallel, one-thread)`` versions of :func:`_decay_linear_body`.
_DECAY_LINEAR = twin(_decay_linear_body)


@njit(cache=True, error_model="numpy")
def _oldest_tie(x, first, idx, j, sgn, top):  # pragma: no cover - compiled
    """The oldest day in ``first .. idx`` whose ``sgn * x[., j]`` equals ``top`` (the window's extreme, first
    reached on day ``idx``) at 10 significant digits. A call: runs only where a near tie was seen."""
    for r in range(first, idx):
        if equal_at_sig(sgn * x[r, j], top):  # a NaN equals nothing
            return r
    return idx


@njit(cache=True, error_model="numpy")
def _settle_near_ties(x, ot, hit, first, j0, sgn):  # pragma: no cover - compiled
    """The positions ``ot`` (1 = day ``first``) of the stocks ``j0 + k`` flagged in ``hit`` (a day older
    than the exact extreme came within ``NEAR_REL`` of it): the oldest day equal to the extreme at 10
    significant digits (:func:`_oldest_tie`)."""
    for k in range(ot.shape[0]):
        if hit[k] > 0.0:
            day = int(ot[k]) + first - 1
            top = sgn * x[day, j0 + k]
            ot[k] = float(_oldest_tie(x, first, day, j0 + k, sgn, top) - first + 1)


def _extreme_body(x, d, width, sgn, want_index, out):  # pragma: no cover - compiled
    """Max of ``sgn * x`` over the window (``sgn = -1`` gives the min) or its position 1..d (oldest = 1,
    ties give the oldest day, values equal at 10 significant digits tie): van Herk/Gil-Werman blocks of
    ``d`` rows, prefix maxima forward and suffix maxima backward, each window = suffix of the previous block
    + prefix of the current one. For positions, each prefix (suffix) also keeps the largest value older than
    its exact maximum's first day (``pre2``, ``suf2``), so a window knows in O(1) whether an older day comes
    within ``NEAR_REL`` of its maximum; only then are the older days rounded (:func:`_oldest_tie`)."""
    T, N = x.shape
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        suf = np.empty((d + 1, w))
        suf_i = np.zeros((d + 1, w), np.int64)
        suf2 = np.empty((d + 1, w))  # largest value of the suffix older than its maximum's day
        pre = np.empty(w)
        pre_i = np.zeros(w, np.int64)
        pre2 = np.empty(w)  # largest value of the prefix older than its maximum's day
        hit = np.zeros(w)  # today's window has a near tie to resolve (1.0)
        bad = np.zeros(w)
        for t in range(T):
            r = t % d
            if r == 0:
                if t >= d:  # suffix scan of the block just finished: rows t-d .. t-1
                    for k in range(w):
                        suf[d, k] = -np.inf
                        suf_i[d, k] = t
                        suf2[d, k] = -np.inf
                    for i in range(d - 1, -1, -1):
                        row = t - d + i
                        xr = x[row, j0:j0 + w]
                        if not want_index:
                            for k in range(w):
                                v = sgn * xr[k]
                                v = v if v == v else -np.inf
                                suf[i, k] = v if v >= suf[i + 1, k] else suf[i + 1, k]
                            continue
                        for k in range(w):
                            v = sgn * xr[k]
                            v = v if v == v else -np.inf
                            take = v >= suf[i + 1, k]  # ties keep the older day
                            suf[i, k] = v if take else suf[i + 1, k]
                            suf_i[i, k] = row if take else suf_i[i + 1, k]
                            # the new day is older than the kept maximum, or becomes it (nothing older)
                            s2 = suf2[i + 1, k]
                            s2 = s2 if s2 > v else v
                            suf2[i, k] = -np.inf if take else s2
                for k in range(w):
                    pre[k] = -np.inf
                    pre_i[k] = t
                    pre2[k] = -np.inf
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    bad[k] -= 0.0 if xo[k] == xo[k] else 1.0
            first = t - d + 1
            near = 0  # windows where an older day comes within NEAR_REL of the maximum
            if not want_index:  # the window's extreme (the loop of the exact positions, without them)
                for k in range(w):
                    v = sgn * xt[k]
                    ok = v == v
                    bad[k] += 0.0 if ok else 1.0
                    v = v if ok else -np.inf
                    pre[k] = v if v > pre[k] else pre[k]
                    val = pre[k] if r == d - 1 or pre[k] > suf[r + 1, k] else suf[r + 1, k]
                    ot[k] = np.nan if bad[k] > 0.0 else sgn * val
            else:
                for k in range(w):
                    v = sgn * xt[k]
                    ok = v == v
                    bad[k] += 0.0 if ok else 1.0
                    v = v if ok else -np.inf
                    take = v > pre[k]  # ties keep the older day
                    pre2[k] = pre[k] if take else pre2[k]  # all of the prefix so far is older than today
                    pre[k] = v if take else pre[k]
                    pre_i[k] = t if take else pre_i[k]
                    if r == d - 1:
                        val = pre[k]
                        idx = pre_i[k]
                        older = pre2[k]
                    else:
                        newer = pre[k] > suf[r + 1, k]
                        val = pre[k] if newer else suf[r + 1, k]
                        idx = pre_i[k] if newer else suf_i[r + 1, k]
                        sr = suf[r + 1, k]
                        p2 = pre2[k]
                        older = (sr if sr > p2 else p2) if newer else suf2[r + 1, k]
                    ot[k] = np.nan if bad[k] > 0.0 else float(idx - first + 1)
                    close = (val - older <= NEAR_REL * abs(val)) & (bad[k] == 0.0)
                    hit[k] = 1.0 if close else 0.0
                    near += 1 if close else 0
            if t < d - 1:
                ot[:] = np.nan
            elif near > 0:
                _settle_near_ties(x, ot, hit, first, j0, sgn)


#: ``(parallel, one-thread)`` versions of :func:`_extreme_body`.
_EXTREME = twin(_extreme_body)


def _extreme_scan_body(x, d, width, sgn, want_index, out):  # pragma: no cover - compiled
    """:func:`_extreme_body`'s results (the same bits) by scanning each window from its oldest day: the
    first strict maximum of ``sgn * x`` (NaN as -inf, a NaN in the window gives NaN), and the largest value
    before it (``older``), for the same near-tie test and :func:`_oldest_tie`. ``d`` passes over a block of
    columns per day, each vectorized across stocks: faster than the blocks' bookkeeping for short windows
    (``_SCAN_MAX_WINDOW``)."""
    T, N = x.shape
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        best = np.empty(w)
        idx = np.empty(w, np.int64)
        older = np.empty(w)  # largest value before the first day of the maximum
        bad = np.empty(w)
        hit = np.zeros(w)
        for t in range(T):
            ot = out[t, j0:j0 + w]
            if t < d - 1:
                ot[:] = np.nan
                continue
            first = t - d + 1
            x0 = x[first, j0:j0 + w]
            for k in range(w):
                v = sgn * x0[k]
                ok = v == v
                bad[k] = 0.0 if ok else 1.0
                best[k] = v if ok else -np.inf
                idx[k] = first
                older[k] = -np.inf
            for i in range(first + 1, t + 1):
                xi = x[i, j0:j0 + w]
                for k in range(w):
                    v = sgn * xi[k]
                    ok = v == v
                    bad[k] += 0.0 if ok else 1.0
                    v = v if ok else -np.inf
                    top = best[k]
                    take = v > top  # ties keep the older day
                    older[k] = top if take else older[k]
                    best[k] = v if take else top
                    idx[k] = i if take else idx[k]
            if not want_index:
                for k in range(w):
                    ot[k] = np.nan if bad[k] > 0.0 else sgn * best[k]
                continue
            near = 0
            for k in range(w):
                val = best[k]
                ot[k] = np.nan if bad[k] > 0.0 else float(idx[k] - first + 1)
                close = (val - older[k] <= NEAR_REL * abs(val)) & (bad[k] == 0.0)
                hit[k] = 1.0 if close else 0.0
                near += 1 if close else 0
            if near > 0:
                _settle_near_ties(x, ot, hit, first, j0, sgn)


#: ``(parallel, one-thread)`` versions of :func:`_extreme_scan_body`.
_EXTREME_SCAN = twin(_extreme_scan_body)

#: Longest window scanned directly, for positions (``ts_argmax``/``ts_argmin``) and for values
#: (``ts_max``/``ts_min``); longer ones use the blocks. Measured on ``sp500_2013_2018``'s close, one thread
#: (docs/ops.md, session 16): positions 2.2 ms by blocks for every window vs 0.9 / 1.5 / 2.0 / 2.4 ms
#: scanned at d = 2 / 5 / 8 / 10; values 1.1 ms vs 0.6 / 0.8 / 1.3 ms at d = 2 / 3 / 5.
_SCAN_MAX_WINDOW = {True: 8, False: 3}


def _extreme(op: str, x: np.ndarray, d: int, sgn: float, want_index: bool) -> np.ndarray:
    """``ts_max``/``ts_min`` (``want_index=False``) or ``ts_argmax``/``ts_argmin`` of ``sgn * x``: scanned
    for short windows, by van Herk/Gil-Werman blocks otherwise (the same results)."""
    x = as_panel(op, x)
    d = check_window(op, d)
    kernels = _EXTREME_SCAN if d <= _SCAN_MAX_WINDOW[want_index] else _EXTREME
    return _run(op, kernels, x, d, sgn, want_index)


def _product_body(x, d, width, out):  # pragma: no cover - compiled
    """Window product by van Herk/Gil-Werman blocks (no division, exact up to rounding)."""
    T, N = x.shape
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        suf = np.ones((d + 1, w))
        pre = np.ones(w)
        bad = np.zeros(w)
        for t in range(T):
            r = t % d
            if r == 0:
                if t >= d:
                    for i in range(d - 1, -1, -1):
                        xr = x[t - d + i, j0:j0 + w]
                        for k in range(w):
                            v = xr[k]
                            suf[i, k] = (v if v == v else 1.0) * suf[i + 1, k]
                for k in range(w):
                    pre[k] = 1.0
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    bad[k] -= 0.0 if xo[k] == xo[k] else 1.0
            for k in range(w):
                v = xt[k]
                ok = v == v
                bad[k] += 0.0 if ok else 1.0
                pre[k] *= v if ok else 1.0
                val = pre[k] if r == d - 1 else suf[r + 1, k] * pre[k]
                ot[k] = val if (bad[k] == 0.0 and np.isfinite(val)) else np.nan
            if t < d - 1:
                ot[:] = np.nan


#: ``(parallel, one-thread)`` versions of :func:`_product_body`.
_PRODUCT = twin(_product_body)


@njit(cache=True, inline="always")
def _rank_score(u, v):  # pragma: no cover - compiled
    """A window value ``u``'s share of today's ``v``'s rank: 1 below, 1/2 equal, 0 above."""
    return 1.0 if u < v else (0.5 if u == v else 0.0)


@njit(cache=True, inline="always")
def _near_unequal(u, v, gap):  # pragma: no cover - compiled
    """``u`` within ``gap`` (``NEAR_REL * |v|``) of ``v`` but not equal: the two may tie once rounded."""
    a = abs(u - v)
    return (a <= gap) & (a > 0.0)


def _ts_rank_body(x, d, width, out):  # pragma: no cover - compiled
    """Percentile rank of today's value among the window's d values, ties averaged: O(d) per step.

    Values equal to ``SIG_DIGITS`` significant digits tie: exact comparisons decide, except for the
    stocks whose window holds a value within ``NEAR_REL`` (relative) of today's but not equal to it
    (rare, but for prices quoted in cents and their differences), where those near values' comparisons
    are redone on rounded values: a value further away can never round alike (``NEAR_REL``'s margin) and
    rounding keeps its order, an equal one ties either way. The scores are multiples of 1/2, so the
    corrected sum is exact: the bits of comparing every rounded value.
    """
    T, N = x.shape
    n = float(d)
    inv_n = 1.0 / n  # multiply, never divide, in the inner loops (a division costs ~4 multiplies)
    for b in prange((N + width - 1) // width):
        j0 = b * width
        w = min(N, j0 + width) - j0
        bad = np.zeros(w)
        score = np.zeros(w)
        gap = np.zeros(w)  # NEAR_REL * |today|: closer values may tie once rounded
        close = np.zeros(w, np.int64)
        for t in range(T):
            xt = x[t, j0:j0 + w]
            ot = out[t, j0:j0 + w]
            if t >= d:
                xo = x[t - d, j0:j0 + w]
                for k in range(w):
                    bad[k] -= 0.0 if xo[k] == xo[k] else 1.0
            for k in range(w):
                bad[k] += 0.0 if xt[k] == xt[k] else 1.0
                score[k] = 0.5  # today's own tie counts one half: rank = less + (equal + 1) / 2
                gap[k] = NEAR_REL * abs(xt[k])
                close[k] = 0
            if t < d - 1:
                ot[:] = np.nan
                continue
            for r in range(t - d + 1, t + 1):
                xr = x[r, j0:j0 + w]
                for k in range(w):
                    u = xr[k]
                    v = xt[k]
                    score[k] += _rank_score(u, v)
                    close[k] += 1 if _near_unequal(u, v, gap[k]) else 0
            lossy = 0
            for k in range(w):
                ot[k] = np.nan if bad[k] > 0.0 else score[k] * inv_n
                lossy += close[k]
            for k in range(w if lossy > 0 else 0):  # near ties: the near values compared once rounded
                if close[k] > 0 and bad[k] == 0.0:
                    v = xt[k]
                    rv = round_sig(v)
                    sc = score[k]
                    for r in range(t - d + 1, t + 1):
                        u = x[r, j0 + k]
                        if _near_unequal(u, v, gap[k]):  # a far or equal value's comparison stands
                            sc += _rank_score(round_sig(u), rv) - _rank_score(u, v)
                    ot[k] = sc * inv_n


#: ``(parallel, one-thread)`` versions of :func:`_ts_rank_body`.
_TS_RANK = twin(_ts_rank_body)


# --------------------------------------------------------------------------------------------------
# Python wrappers: validation outside the kernels
# --------------------------------------------------------------------------------------------------
def delay(x: np.ndarray, d: int) -> np.ndarray:
    """Value ``d`` days ago: ``out[t] = x[t-d]``; the first ``d`` rows are NaN. Shape ``(T, N)``."""
    x = as_panel("delay", x)
    d = check_window("delay", d)
    out = np.full(x.shape, np.nan)
    if d < x.shape[0]:
        out[d:] = x[:-d]
    return out


def delta(x: np.ndarray, d: int) -> np.ndarray:
    """Change over ``d`` days: ``x[t] - x[t-d]``; NaN in the first ``d`` rows, where either is NaN, or
    where the difference overflows."""
    x = as_panel("delta", x)
    d = check_window("delta", d)
    out = np.full(x.shape, np.nan)
    if d < x.shape[0]:
        with np.errstate(all="ignore"):  # the element-wise rule: a ±inf difference is NaN, silently
            _sub(x[d:], x[:-d], out=out[d:])
    return out


def _run(op: str, kernels: tuple, x: np.ndarray, d: int, *flags) -> np.ndarray:
    """Validate, then run the parallel or one-thread kernel of ``kernels`` (see ``threads.use_parallel``)."""
    x = as_panel(op, x)
    d = check_window(op, d)
    out = np.empty(x.shape)
    par = use_parallel(x.size)
    kernel = kernels[0] if par else kernels[1]
    kernel(x, d, block_width(x.shape[1], par), *flags, out)
    return out


def ts_sum(x: np.ndarray, d: int) -> np.ndarray:
    """Sum of the ``d`` days ``t-d+1 .. t`` (all must be valid, else NaN). Canonical name ``sum``."""
    return _run("sum", _SUM, x, d, False)


def ts_mean(x: np.ndarray, d: int) -> np.ndarray:
    """Mean of the ``d`` days ``t-d+1 .. t`` (all must be valid, else NaN)."""
    return _run("ts_mean", _SUM, x, d, True)


def stddev(x: np.ndarray, d: int) -> np.ndarray:
    """Sample standard deviation (``d - 1`` denominator) over the window; 0 on a constant window,
    NaN for ``d = 1``."""
    return _run("stddev", _VAR, x, d, False)


def ts_zscore(x: np.ndarray, d: int) -> np.ndarray:
    """``(x[t] - mean) / stddev`` over the window; NaN on a constant window or ``d = 1``."""
    return _run("ts_zscore", _VAR, x, d, True)


def ts_skewness(x: np.ndarray, d: int) -> np.ndarray:
    """Bias-corrected sample skewness (pandas ``rolling.skew``); NaN for ``d < 3`` or a constant window."""
    return _run("ts_skewness", _MOMENT4, x, d, False)


def ts_kurtosis(x: np.ndarray, d: int) -> np.ndarray:
    """Bias-corrected excess kurtosis (pandas ``rolling.kurt``); NaN for ``d < 4`` or a constant window."""
    return _run("ts_kurtosis", _MOMENT4, x, d, True)


def _comoments(op: str, x: np.ndarray, y: np.ndarray, d: int, mode: int) -> np.ndarray:
    x = as_panel(op, x, 1)
    y = as_panel(op, y, 2)
    check_same_shape(op, x, y)
    d = check_window(op, d)
    out = np.empty(x.shape)
    par = use_parallel(x.size)
    kernel = _COMOMENTS[0] if par else _COMOMENTS[1]
    kernel(x, y, d, block_width(x.shape[1], par), mode == 1, out)
    return out


def covariance(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    """Sample covariance (``d - 1`` denominator) of the ``d`` pairs; a pair with a NaN makes the window
    NaN; exactly 0 when either window is constant (a flat series covaries with nothing; docs/ops.md);
    NaN for ``d = 1``."""
    return _comoments("covariance", x, y, d, 0)


def correlation(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    """Pearson correlation of the ``d`` pairs, in [-1, 1]; NaN when either window is constant."""
    return _comoments("correlation", x, y, d, 1)


def decay_linear(x: np.ndarray, d: int) -> np.ndarray:
    """Weighted mean with weights ``d, d-1, ..., 1`` (today has weight ``d``) normalized to sum 1."""
    return _run("decay_linear", _DECAY_LINEAR, x, d)


def ts_max(x: np.ndarray, d: int) -> np.ndarray:
    """Maximum over the window ``t-d+1 .. t``."""
    return _extreme("ts_max", x, d, 1.0, False)


def ts_min(x: np.ndarray, d: int) -> np.ndarray:
    """Minimum over the window ``t-d+1 .. t``."""
    return _extreme("ts_min", x, d, -1.0, False)


def ts_argmax(x: np.ndarray, d: int) -> np.ndarray:
    """Position of the window's maximum: 1 = the oldest day (``t-d+1``) .. ``d`` = today, i.e.
    ``np.argmax(window) + 1``; ties give the oldest day, and values equal at 10 significant digits tie
    (``rank``'s rule: the rounding noise of a constant picks no day)."""
    return _extreme("ts_argmax", x, d, 1.0, True)


def ts_argmin(x: np.ndarray, d: int) -> np.ndarray:
    """Position of the window's minimum, same convention as :func:`ts_argmax`."""
    return _extreme("ts_argmin", x, d, -1.0, True)


def product(x: np.ndarray, d: int) -> np.ndarray:
    """Product over the window; an overflow to ±inf gives NaN."""
    return _run("product", _PRODUCT, x, d)


def ts_rank(x: np.ndarray, d: int) -> np.ndarray:
    """Percentile rank of today's value among the window's ``d`` values: ``average rank / d`` in
    ``[1/d, 1]`` (1 = today is the window's maximum), ties averaged; values equal to 10 significant
    digits tie (``sortkeys.SIG_DIGITS``)."""
    return _run("ts_rank", _TS_RANK, x, d)
