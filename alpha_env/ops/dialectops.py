"""Operators added for the Qlib and BRAIN dialects whose NaN or history rules differ from the window rule.

Every other time-series operator needs all ``d`` days of its window valid. These read NaN deliberately
or carry a state, and each states its rule (also fields of the operator table, ``window_rule``):

* ``ts_count_nans(x, d)``: the number of NaN values in the window ``t-d+1 .. t`` (a count, never NaN once
  the window exists; the first ``d-1`` rows are NaN because the window starts before the first day).
  Qlib's ``Count(x, N)`` is ``N - ts_count_nans(x, N)``; BRAIN's ``ts_count_nans`` is this.
* ``ts_backfill(x, d)``: today's value if valid, else the most recent valid value of the window
  ``t-d+1 .. t``; NaN when the whole window is NaN (first ``d-1`` rows NaN). BRAIN's ``ts_backfill`` with
  ``k = 1``.
* ``ts_ema(x, d)``: exponentially weighted mean with span ``d`` (``alpha = 2 / (d + 1)``) over *every* day
  since the panel's first, as pandas ``ewm(span=d, adjust=True, ignore_na=False).mean()`` (a NaN day
  is skipped but still ages the older weights); NaN on a day whose value is NaN and on the first
  ``d-1`` rows. Qlib's ``EMA(x, N)`` for ``N >= 1``. Values depend on where the panel starts.
* ``trade_when(trigger, alpha, exit)``: BRAIN's state operator: NaN where ``exit > 0``; else ``alpha``
  where ``trigger > 0``; else yesterday's output (NaN before the first trade). A NaN trigger or exit is
  not ``> 0`` (BRAIN's comparison), so it holds / does not exit.
* ``bucket(x, end, step)``: BRAIN's bucket index of a value with ``range="0, end, step"`` (BRAIN's
  ``range="start, end, step"`` is ``bucket(x - start, end - start, step)``): boundaries ``b_k = k * step``
  for ``k < n`` and ``b_n = end``; the index is the number of boundaries strictly below ``x`` (0 for
  ``x <= 0``, ``n + 1`` for ``x > end``; buckets are right-closed ``(b_{k-1}, b_k]``); NaN stays NaN.
* ``rank01(x)``, ``group_rank01(x, g)``: BRAIN's ``rank`` / ``group_rank``: ``(r - 1) / (n - 1)`` with
  ``r`` the 1-based rank among the day's ``n`` valid values (of the group), exact ties averaged: the
  smallest 0, the largest 1; NaN for ``n < 2``, a NaN value or an unknown group (code -1).

Shapes: series are ``(T, N)`` float64; windows ``int`` days; group codes ``(N,)`` int64. Each kernel is a
plain loop per stock (column), compiled as parallel and one-thread twins.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numba import prange

from alpha_env.errors import ExpressionError
from alpha_env.ops._checks import as_panel, check_groups, check_same_shape, check_window
from alpha_env.ops.threads import twin, use_parallel

__all__ = ["ts_count_nans", "ts_backfill", "ts_ema", "trade_when", "bucket", "bucket_edges", "rank01",
           "group_rank01", "MAX_BUCKETS"]

#: Most buckets a ``range`` may make (a typo such as a step of 1e-9 would otherwise allocate forever).
MAX_BUCKETS = 10_000


def _count_nans_body(x, d, out):  # pragma: no cover - compiled
    T, N = x.shape
    for j in prange(N):
        bad = 0
        for t in range(T):
            if x[t, j] != x[t, j]:
                bad += 1
            if t >= d and x[t - d, j] != x[t - d, j]:
                bad -= 1
            out[t, j] = np.nan if t < d - 1 else float(bad)


def _backfill_body(x, d, out):  # pragma: no cover - compiled
    T, N = x.shape
    for j in prange(N):
        last = -1  # row of the most recent valid value
        for t in range(T):
            if x[t, j] == x[t, j]:
                last = t
            if t < d - 1 or last < 0 or last < t - d + 1:
                out[t, j] = np.nan
            else:
                out[t, j] = x[last, j]


def _ema_body(x, d, out):  # pragma: no cover - compiled
    T, N = x.shape
    keep = 1.0 - 2.0 / (d + 1.0)
    for j in prange(N):
        num = 0.0
        den = 0.0
        for t in range(T):
            v = x[t, j]
            num *= keep
            den *= keep
            if v == v:
                num += v
                den += 1.0
            out[t, j] = num / den if (t >= d - 1 and v == v and den > 0.0) else np.nan


def _trade_when_body(trigger, alpha, exit_, out):  # pragma: no cover - compiled
    T, N = alpha.shape
    for j in prange(N):
        prev = np.nan
        for t in range(T):
            if exit_[t, j] > 0.0:
                prev = np.nan
            elif trigger[t, j] > 0.0:
                prev = alpha[t, j]
            out[t, j] = prev


def _bucket_body(x, edges, out):  # pragma: no cover - compiled
    T, N = x.shape
    m = edges.shape[0]
    for t in prange(T):
        for j in range(N):
            v = x[t, j]
            if v != v:
                out[t, j] = np.nan
                continue
            lo, hi = 0, m  # number of edges strictly below v
            while lo < hi:
                mid = (lo + hi) >> 1
                if edges[mid] < v:
                    lo = mid + 1
                else:
                    hi = mid
            out[t, j] = float(lo)


def _group_rank01_body(x, codes, n_groups, out):  # pragma: no cover - compiled
    T, N = x.shape
    for t in prange(T):
        row = x[t]
        order = np.argsort(row, kind="mergesort")  # NaN last
        counts = np.zeros(n_groups + 1, np.int64)
        for j in range(N):
            if row[j] == row[j] and codes[j] >= 0:
                counts[codes[j] + 1] += 1
        starts = np.cumsum(counts)  # starts[g] = first slot of group g
        slots = np.empty(N, np.int64)
        fill = starts[:n_groups].copy()
        for k in range(N):
            j = order[k]
            if row[j] == row[j] and codes[j] >= 0:
                slots[fill[codes[j]]] = j
                fill[codes[j]] += 1
        out[t, :] = np.nan
        for g in range(n_groups):
            a, b = starts[g], starts[g] + counts[g + 1]
            n = b - a
            if n < 2:
                continue
            k = a
            while k < b:
                e = k
                while e + 1 < b and row[slots[e + 1]] == row[slots[k]]:
                    e += 1
                r = 0.5 * ((k - a) + (e - a))  # average 0-based rank of the tie run
                for i in range(k, e + 1):
                    out[t, slots[i]] = r / (n - 1)
                k = e + 1


_COUNT_NANS = twin(_count_nans_body)
_BACKFILL = twin(_backfill_body)
_EMA = twin(_ema_body)
_TRADE_WHEN = twin(_trade_when_body)
_BUCKET = twin(_bucket_body)
_GROUP_RANK01 = twin(_group_rank01_body)


def _pick(kernels: tuple, x: np.ndarray):
    return kernels[0] if use_parallel(x.size) else kernels[1]


def _windowed(op: str, kernels: tuple, x: np.ndarray, d: int) -> np.ndarray:
    x = as_panel(op, x)
    d = check_window(op, d)
    out = np.empty(x.shape)
    _pick(kernels, x)(x, d, out)
    return out


def ts_count_nans(x: np.ndarray, d: int) -> np.ndarray:
    """Number of NaN values in the window ``t-d+1 .. t`` (days); first ``d-1`` rows NaN."""
    return _windowed("ts_count_nans", _COUNT_NANS, x, d)


def ts_backfill(x: np.ndarray, d: int) -> np.ndarray:
    """Today's value, or the most recent valid one of the window ``t-d+1 .. t``; NaN when it has none."""
    return _windowed("ts_backfill", _BACKFILL, x, d)


def ts_ema(x: np.ndarray, d: int) -> np.ndarray:
    """Exponentially weighted mean with span ``d`` over every day since the panel's first (see module)."""
    return _windowed("ts_ema", _EMA, x, d)


def trade_when(trigger: np.ndarray, alpha: np.ndarray, exit: np.ndarray) -> np.ndarray:
    """BRAIN's ``trade_when``: NaN where ``exit > 0``, ``alpha`` where ``trigger > 0``, else yesterday's."""
    trigger = as_panel("trade_when", trigger, 1)
    alpha = as_panel("trade_when", alpha, 2)
    exit = as_panel("trade_when", exit, 3)
    check_same_shape("trade_when", trigger, alpha)
    check_same_shape("trade_when", alpha, exit)
    out = np.empty(alpha.shape)
    _pick(_TRADE_WHEN, alpha)(trigger, alpha, exit, out)
    return out


def bucket_edges(start: float, end: float, step: float) -> np.ndarray:
    """The boundaries ``start, start + step, ..., end`` of ``range="start, end, step"`` (float64).

    Raises:
        ExpressionError: a bound is not a finite number, ``end <= start``, ``step <= 0`` or more than
            :data:`MAX_BUCKETS` buckets.
    """
    values = (start, end, step)
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) for v in values):
        raise ExpressionError(f"bucket: start, end and step must be finite numbers, got {values!r}",
                              expression="bucket")
    start, end, step = (float(v) for v in values)
    if end <= start or step <= 0.0:
        raise ExpressionError(f"bucket: needs start < end and step > 0, got range {start:g}, {end:g}, "
                              f"{step:g}", expression="bucket")
    ratio = (end - start) / step
    n = round(ratio) if abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio) else math.ceil(ratio)
    if n > MAX_BUCKETS:
        raise ExpressionError(f"bucket: range {start:g}, {end:g}, {step:g} makes {n} buckets (at most "
                              f"{MAX_BUCKETS})", expression="bucket")
    edges = start + np.arange(n + 1, dtype=np.float64) * step
    edges[-1] = end
    return edges


def bucket(x: np.ndarray, end: float, step: float) -> np.ndarray:
    """BRAIN's bucket index of each value for ``range="0, end, step"`` (see module); NaN stays NaN."""
    x = as_panel("bucket", x)
    edges = bucket_edges(0.0, end, step)
    out = np.empty(x.shape)
    _pick(_BUCKET, x)(x, edges, out)
    return out


def group_rank01(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(r - 1) / (n - 1)`` within each group per day, in [0, 1] (exact ties averaged; NaN for n < 2)."""
    x = as_panel("group_rank01", x)
    codes = check_groups("group_rank01", groups, x.shape[1])
    n_groups = int(codes.max()) + 1 if codes.size else 0
    out = np.empty(x.shape)
    _pick(_GROUP_RANK01, x)(x, codes, max(n_groups, 0), out)
    return out


def rank01(x: np.ndarray) -> np.ndarray:
    """``(r - 1) / (n - 1)`` across the day's valid stocks, in [0, 1] (BRAIN's ``rank``)."""
    x = as_panel("rank01", x)
    return group_rank01(x, np.zeros(x.shape[1], dtype=np.int64))
