"""Order-preserving sort keys of panel rows, and the decoding of their runs.

The cross-sectional ``rank``, ``group_rank`` and the backtest's Spearman rank IC share one technique: each
float of a row becomes a ``uint64`` key whose unsigned order is the value order (NaN sorts last), with the
value's column in the key's low ``bits``; NumPy's (SIMD) ``sort`` then orders every row's keys, and a
Numba pass walks the sorted row. Two keys whose high parts differ hold different values; keys that share
their high parts (ties, or values a few ulps apart, or ``-0.0`` next to ``0.0``) form a *run* that
:func:`take_run` decodes and orders by real value.

Public API: :func:`sorted_keys` (Python) and the Numba helpers :func:`valid_count`, :func:`linked`,
:func:`take_run`, meant to be called from other kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.ops.threads import use_parallel

__all__ = ["sorted_keys", "valid_count", "linked", "take_run"]


@njit(cache=True, error_model="numpy", inline="always")
def _key_row(x, xb, t, bits, keys):  # pragma: no cover - compiled
    N = x.shape[1]
    low = np.uint64((1 << bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
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


@njit(cache=True, error_model="numpy", parallel=True)
def _sort_keys(x, bits, keys):  # pragma: no cover - compiled
    """uint64 keys whose order is the order of the values, with the column index in the low ``bits``.

    The float's bits are mapped to an order-preserving unsigned integer (NaN → the largest key), then the
    low ``bits`` are replaced by the column index, so one plain (SIMD) sort of the keys yields each
    row's order and permutation. Values that differ only in those low mantissa bits may come out in
    index order; the rank passes order such runs by their real values.
    """
    xb = x.view(np.uint64)
    for t in prange(x.shape[0]):
        _key_row(x, xb, t, bits, keys)


@njit(cache=True, error_model="numpy")
def _sort_keys_serial(x, bits, keys):  # pragma: no cover - compiled
    """One-thread :func:`_sort_keys`."""
    xb = x.view(np.uint64)
    for t in range(x.shape[0]):
        _key_row(x, xb, t, bits, keys)


@njit(cache=True, error_model="numpy", inline="always")
def valid_count(kr, high):  # pragma: no cover - compiled
    """Number of non-NaN values of a sorted key row (NaN keys, all-ones high bits, sort last)."""
    n = kr.shape[0]
    while n > 0 and (kr[n - 1] & high) == high:
        n -= 1
    return n


@njit(cache=True, error_model="numpy", inline="always")
def linked(h_prev, h_next, high):  # pragma: no cover - compiled
    """Whether two consecutive sorted keys (high parts) may hold equal values.

    Equal values have equal keys except ``-0.0`` and ``0.0``, whose keys are adjacent but differ in the
    high bits: the run holding ``-0.0`` is linked to the run holding ``0.0``.
    """
    negz = (~(np.uint64(1) << np.uint64(63))) & high
    posz = np.uint64(1) << np.uint64(63)
    return h_prev == h_next or (h_prev == negz and h_next == posz)


@njit(cache=True, error_model="numpy", inline="always")
def take_run(row, kr, i, n, high, low, ix, vals):  # pragma: no cover - compiled
    """Decode the run of linked keys that starts at ``i`` of a sorted key row (``n`` valid keys) into
    ``ix`` (columns) and ``vals`` (values) from index 0, ordered stably by value; returns its end.

    One pass decodes and checks the order; only a run out of value order (values that differ in the
    key's low bits) gets an insertion sort. A run of ties is already in order.
    """
    j = np.int64(kr[i] & low)
    ix[0] = j
    vals[0] = row[j]
    in_order = True
    k = i + 1
    while k < n and linked(kr[k - 1] & high, kr[k] & high, high):
        j = np.int64(kr[k] & low)
        v = row[j]
        ix[k - i] = j
        vals[k - i] = v
        in_order = in_order and not vals[k - i - 1] > v
        k += 1
    if not in_order:
        for a in range(1, k - i):
            b = a
            while b > 0 and vals[b - 1] > vals[b]:
                tv = vals[b - 1]
                vals[b - 1] = vals[b]
                vals[b] = tv
                tj = ix[b - 1]
                ix[b - 1] = ix[b]
                ix[b] = tj
                b -= 1
    return k



def sorted_keys(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Row-wise sorted keys of a ``(T, N)`` float64 panel: ``(keys uint64 (T, N), bits)``.

    Each row's keys are in value order (NaN last); ``key & ((1 << bits) - 1)`` is the value's column.
    """
    bits = max(1, int(x.shape[1] - 1).bit_length())
    keys = np.empty(x.shape, dtype=np.uint64)
    (_sort_keys if use_parallel(x.size) else _sort_keys_serial)(x, bits, keys)
    keys.sort(axis=1)
    return keys, bits
