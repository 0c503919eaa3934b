"""Cross-sectional operators: one computation per day over the day's stocks (a contiguous row).

- ``rank``: percentile rank among the day's valid (non-NaN) stocks, ties averaged: ``average rank / n``
  in ``(0, 1]`` (the largest value gets 1). NaN stays NaN and is not counted in ``n``.
- ``zscore``: ``(x - mean) / std`` over the day's valid stocks, ``std`` with ``n - 1``; NaN when fewer
  than 2 valid stocks or all equal.
- ``scale(x, a)``: ``x * a / sum(|x|)`` so that the day's absolute values sum to ``a``; NaN on a day whose
  ``sum(|x|)`` is 0.

``rank`` is sort based: each value becomes an order-preserving 64-bit key carrying its column in the low
bits, NumPy's (SIMD) ``sort`` orders the keys of every row, and a parallel Numba pass decodes the
permutation, repairs the order of values that differ only in those low bits, and assigns tie-averaged
ranks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.errors import ExpressionError
from alpha_env.ops._checks import as_panel

__all__ = ["rank", "zscore", "scale", "sorted_keys"]


@njit(cache=True, error_model="numpy", parallel=True)
def _sort_keys(x, bits, keys):  # pragma: no cover - compiled
    """uint64 keys whose order is the order of the values, with the column index in the low ``bits``.

    The float's bits are mapped to an order-preserving unsigned integer (NaN → the largest key), then the
    low ``bits`` are replaced by the column index, so one plain (SIMD) sort of the keys yields each
    row's order and permutation. Values that differ only in those low mantissa bits may come out in
    index order; :func:`_order_from_keys` repairs that with an insertion pass on the real values.
    """
    T, N = x.shape
    low = np.uint64((1 << bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
    xb = x.view(np.uint64)
    for t in prange(T):
        for j in range(N):
            v = x[t, j]
            u = xb[t, j]
            if v != v:
                k = ~np.uint64(0)
            elif u & sign:
                k = ~u
            else:
                k = u | sign
            keys[t, j] = (k & high) | np.uint64(j)


@njit(cache=True, error_model="numpy")
def _order_from_keys(row, keys_row, bits, ix):  # pragma: no cover - compiled
    """Decode the permutation of one sorted key row and make it exactly sorted by value."""
    low = np.uint64((1 << bits) - 1)
    n = row.shape[0]
    for i in range(n):
        ix[i] = np.int64(keys_row[i] & low)
    for i in range(1, n):  # values equal in their high bits only: insertion pass (almost never moves)
        j = i
        while j > 0 and row[ix[j - 1]] > row[ix[j]]:
            tmp = ix[j - 1]
            ix[j - 1] = ix[j]
            ix[j] = tmp
            j -= 1


def sorted_keys(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Row-wise sorted order keys of ``x`` (see :func:`_sort_keys`) and the number of index bits."""
    bits = max(1, int(x.shape[1] - 1).bit_length())
    keys = np.empty(x.shape, dtype=np.uint64)
    _sort_keys(x, bits, keys)
    keys.sort(axis=1)
    return keys, bits


@njit(cache=True, error_model="numpy", parallel=True)
def _rank_kernel(x, keys, bits, out):  # pragma: no cover - compiled
    T, N = x.shape
    for t in prange(T):
        row = x[t]
        o = out[t]
        ix = np.empty(N, np.int64)
        _order_from_keys(row, keys[t], bits, ix)
        n = 0
        for j in range(N):
            if row[j] == row[j]:
                n += 1
        i = 0
        while i < n:  # valid values come first in the order, NaNs last
            v = row[ix[i]]
            k = i + 1
            while k < n and row[ix[k]] == v:
                k += 1
            r = (i + k + 1) * 0.5 / n  # average of the 1-based ranks i+1 .. k, over n
            for m in range(i, k):
                o[ix[m]] = r
            i = k
        for m in range(n, N):
            o[ix[m]] = np.nan


@njit(cache=True, error_model="numpy", parallel=True)
def _zscore_kernel(x, out):  # pragma: no cover - compiled
    T, N = x.shape
    for t in prange(T):
        n = 0
        s = 0.0
        for j in range(N):
            v = x[t, j]
            if v == v:
                n += 1
                s += v
        if n < 2:
            for j in range(N):
                out[t, j] = np.nan
            continue
        mean = s / n
        ss = 0.0
        for j in range(N):
            v = x[t, j]
            if v == v:
                ss += (v - mean) * (v - mean)
        sd = np.sqrt(ss / (n - 1))
        for j in range(N):
            v = x[t, j]
            out[t, j] = (v - mean) / sd if (sd > 0.0 and v == v) else np.nan


@njit(cache=True, error_model="numpy", parallel=True)
def _scale_kernel(x, a, out):  # pragma: no cover - compiled
    T, N = x.shape
    for t in prange(T):
        s = 0.0
        for j in range(N):
            v = x[t, j]
            if v == v:
                s += abs(v)
        f = a / s if s > 0.0 else np.nan
        for j in range(N):
            out[t, j] = x[t, j] * f


def rank(x: np.ndarray) -> np.ndarray:
    """Percentile rank of each stock among the day's valid stocks, ties averaged, in ``(0, 1]``."""
    x = as_panel("rank", x)
    keys, bits = sorted_keys(x)
    out = np.empty(x.shape)
    _rank_kernel(x, keys, bits, out)
    return out


def zscore(x: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score of each day: ``(x - mean) / std`` (``n - 1``), NaN-aware."""
    x = as_panel("zscore", x)
    out = np.empty(x.shape)
    _zscore_kernel(x, out)
    return out


def scale(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Rescale each day so that ``sum(|x|) = a`` over the valid stocks (NaN stays NaN)."""
    x = as_panel("scale", x)
    a = float(a)
    if not np.isfinite(a):
        raise ExpressionError(f"scale: the target book a must be finite, got {a}", expression="scale")
    out = np.empty(x.shape)
    _scale_kernel(x, a, out)
    return out
