"""Cross-sectional operators: one computation per day over the day's stocks (a contiguous row).

- ``rank``: percentile rank among the day's valid (non-NaN) stocks, ties averaged: ``average rank / n``
  in ``(0, 1]`` (the largest value gets 1). NaN stays NaN and is not counted in ``n``. Values equal
  when rounded to 10 significant digits tie (``sortkeys.SIG_DIGITS``), so rounding noise of
  computed values (``300.01 - 300.0`` vs ``0.01``) does not order them.
- ``zscore``: ``(x - mean) / std`` over the day's valid stocks, ``std`` with ``n - 1``; NaN when fewer
  than 2 valid stocks or all equal at 10 significant digits (rounding noise is no spread).
- ``scale(x, a)``: ``x * a / sum(|x|)`` so that the day's absolute values sum to ``a``; NaN on a day whose
  ``sum(|x|)`` is 0 (a subnormal sum, where ``a / sum`` would overflow, divides ``x`` by the sum first).

``rank`` is sort based: each value becomes an order-preserving 64-bit key carrying its column in the low
bits, NumPy's (SIMD) ``sort`` orders the keys of every row (:func:`~alpha_env.ops.sortkeys.sorted_keys`),
and each sorted key row gets every position's rank in one branch-free pass; a key far (more than ~2**23
ulps) from both neighbours' is a value that ties with no other, so its position's rank is final (no look-up
of the value); only runs of near keys (ties, or values a few ulps apart), found from a row of flags read
eight at a time, are decoded, grouped by their value at 10 significant digits and tie-averaged. A row of
near keys all along it (one in ``sortkeys.DENSE_SHARE`` or more, e.g. differences of cent prices, chosen
from the row before) is ranked without a branch on the data instead: each value's
``sortkeys.sig_key`` (its rounding's order as an integer), the tie groups' bounds from two scans.

A day whose valid values are all integers of magnitude below ``1e9`` within
``COUNT_SPAN_PER_STOCK * N + 64`` of its first valid value (booleans, ``sign``, ``ts_argmax``, counts) is
ranked by counting instead: a histogram, its running sum, one rank per distinct value. Such
integers are exact at 10 significant digits, so they tie exactly when equal, and the rank is computed by
the same expression from the same tie group bounds: the same bits as the sort path (tested). ``rank``
tries counting on every day first (a day with any other value stops at that value) and sorts the days
that need it, or every day when at most half were counted (a copy of the other days would cost more than
sorting the counted ones, typically a signal's all-NaN first days).

The sort keys and run decoding live in :mod:`alpha_env.ops.sortkeys` (shared with ``group_rank`` and
the backtest's rank IC). Threads: every kernel has a parallel (rows in chunks) and a one-thread version
with identical results; :func:`alpha_env.ops.threads.use_parallel` picks one by panel size.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.errors import ExpressionError
from alpha_env.ops._checks import as_panel
from alpha_env.ops.sortkeys import (
    DENSE_SHARE,
    count_near,
    equal_at_sig,
    flag_count,
    flag_scratch,
    near,
    near_flags,
    near_span,
    round_sig,
    sig_key_row,
    sorted_keys,
    take_near_run,
    valid_count,
)
from alpha_env.ops.threads import read_only, row_chunks, twin, use_parallel

__all__ = ["rank", "zscore", "scale", "COUNT_SPAN_PER_STOCK"]

#: A day of integer values is ranked by counting when they lie within ``COUNT_SPAN_PER_STOCK * N + 64`` of
#: the day's first valid value (the histogram then costs no more than a few passes over its ``N`` values).
COUNT_SPAN_PER_STOCK = 4
_COUNT_MAX_ABS = 1e9  # integers below this magnitude are exact at SIG_DIGITS (10) significant digits


def _count_rank_body(x, max_span, out, done, n_chunks):  # pragma: no cover - compiled
    """Rank by counting each row of ``x`` whose valid values are integers (``|v| < 1e9``) within
    ``max_span`` of the row's first valid value; ``done[t]`` tells whether row ``t`` was (its ``out`` row
    written). A row stops at its first value that is not such an integer."""
    T, N = x.shape
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        counts = np.zeros(2 * max_span + 1, np.int64)  # bin v - first + max_span; zero between rows
        ranks = np.empty(2 * max_span + 1)
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            row = x[t]
            first = np.nan
            for j in range(N):
                if row[j] == row[j]:
                    first = row[j]
                    break
            dmin = 0.0  # lowest and highest v - first seen
            dmax = 0.0
            n = 0
            ok = True
            for j in range(N):
                v = row[j]
                if v != v:
                    continue
                d = v - first
                if not (abs(v) < _COUNT_MAX_ABS and v == np.floor(v) and abs(d) <= max_span):
                    ok = False
                    break
                counts[np.int64(d) + max_span] += 1
                dmin = min(dmin, d)
                dmax = max(dmax, d)
                n += 1
            done[t] = ok
            lo = np.int64(dmin) + max_span
            hi = np.int64(dmax) + max_span
            if not ok:
                counts[lo:hi + 1] = 0
                continue
            i = 0  # values below the current one: the tie group [i, i + k) in the sort order
            for b in range(lo, hi + 1):
                k = counts[b]
                if k:
                    ranks[b] = (i + (i + k) + 1) * 0.5 / n  # _rank_row_fast's expression, same bits
                    i += k
                    counts[b] = 0
            for j in range(N):
                v = row[j]
                out[t, j] = ranks[np.int64(v - first) + max_span] if v == v else np.nan


_count_rank, _count_rank_serial = twin(_count_rank_body)

@njit(cache=True, error_model="numpy")
def _rank_row_fast(row, kr, low, high, span, n, o, ix, tab, flags):  # pragma: no cover - compiled
    """Ranks of one row along its key order; returns how many keys are near the next one, or -1 (ranks not
    all written) when values that may tie came out of value order.

    Every position first takes its own rank ``tab[i]`` (a value that ties with no other keeps it);
    then ``flags[i]`` tells whether key ``i`` is :func:`~alpha_env.ops.sortkeys.near` the next one
    (:func:`~alpha_env.ops.sortkeys.near_flags`; values equal to ``SIG_DIGITS`` digits have keys within
    ``span``). The flags are read eight at a time: a flagged key starts a run, where values are grouped
    by their rounding (:func:`~alpha_env.ops.sortkeys.round_sig`), every group's successor checked to be
    larger, and a group's positions take their mean rank. A value equal to its group's first value takes
    that value's rounding (``x == raw`` implies equal roundings; ``-0.0`` and ``0.0`` compare equal either
    way), and a value whose key is not near the one before ends the group (it rounds above it), so a run of
    exact ties rounds nothing. ``flags``: bool scratch of a multiple of 8 entries, at least ``n``.
    """
    for i in range(n):
        o[np.int64(kr[i] & low)] = tab[i]
    near_flags(kr, high, span, n, flags)
    words = flags.view(np.uint64)
    near_keys = 0
    i = 0  # the first position not yet in a tie group
    for w in range((n + 6) // 8):
        if words[w] == 0:
            continue
        near_keys += flag_count(words[w])
        for p in range(max(8 * w, i), 8 * w + 8):
            if not flags[p] or p < i:
                continue
            i = p
            j = np.int64(kr[i] & low)
            raw = row[j]
            v = raw  # the group's rounded value, once a value unequal to raw but near needs it
            rounded = False
            ix[0] = j
            k = i + 1
            while k < n:  # the tie group [i, k)
                j = np.int64(kr[k] & low)
                x = row[j]
                if x != raw:  # exact ties (the usual run) need no rounding
                    if not flags[k - 1]:  # far above the group's values: rounds above them
                        break
                    if not rounded:
                        v = round_sig(raw)
                        rounded = True
                    vk = round_sig(x)
                    if vk != v:
                        if vk < v:
                            return -1
                        break
                ix[k - i] = j
                k += 1
            r = (i + k + 1) * 0.5 / n  # average of the 1-based ranks i+1 .. k, over n
            for m in range(k - i):
                o[ix[m]] = r
            i = k
    return near_keys


@njit(cache=True, error_model="numpy")
def _rank_row_dense(row, kr, low, n, o, vals, rk, start):  # pragma: no cover - compiled
    """Ranks of one row of many near keys (ties or near values all along it, e.g. differences of cent
    prices) along its key order, without a branch on the data: the values' rounding order
    (:func:`~alpha_env.ops.sortkeys.sig_key_row`), each position's tie group bounds from a forward and a
    backward scan, then its rank ``(first + end + 1) / 2 / n``, the expression of :func:`_rank_row_fast`'s
    groups and of ``tab`` (a group of one). Returns False, writing nothing, where ``sig_key_row`` does (the
    caller ranks the row another way). ``vals`` (N,) float, ``rk``, ``start`` (N,) int64 scratch."""
    if not sig_key_row(row, kr, low, n, vals, rk):
        return False
    first = 0
    start[0] = 0
    for i in range(1, n):
        first = first if rk[i] == rk[i - 1] else i
        start[i] = first
    end = n
    for i in range(n - 1, -1, -1):
        o[np.int64(kr[i] & low)] = (start[i] + end + 1) * 0.5 / n
        end = end if rk[max(i - 1, 0)] == rk[i] else i
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _position_ranks(tab, n):  # pragma: no cover - compiled
    """``tab[i] = (i + 1) / n`` for ``i < n`` (the rank of position ``i`` that ties with no other, by the
    expression the tie groups use); ``tab[-1]`` remembers ``n``, so rows of the same count reuse it."""
    if tab[-1] != n:
        for i in range(n):
            tab[i] = (i + i + 1 + 1) * 0.5 / n
        tab[-1] = n


@njit(cache=True, error_model="numpy")
def _rank_row(row, kr, bits, span, o, ix, vals, rk, tab, flags, dense):  # pragma: no cover - compiled
    """Tie-averaged percentile ranks of one row from its sorted key row; ``ix``, ``rk``: (N,) int64 and
    ``vals``: (N,) scratch; ``tab``: (N + 1,) position ranks (:func:`_position_ranks`, kept across rows);
    ``flags``: bool scratch (:func:`~alpha_env.ops.sortkeys.flag_scratch`).

    :func:`_rank_row_fast` writes the ranks, or :func:`_rank_row_dense` (the same bits) when ``dense``: the
    previous row had a key near the next at one position in ``DENSE_SHARE`` or more (the fast path counts
    them as it reads the flags, so rows of few near keys pay nothing for the choice) and this one has too
    (:func:`~alpha_env.ops.sortkeys.count_near`, as ``group_rank`` decides).
    A row where values that may tie came out of value order (rare) is redone on runs of near keys sorted
    by rounded value. Returns ``dense`` for the next row.
    """
    low = np.uint64((1 << bits) - 1)
    high = ~low
    N = row.shape[0]
    n = valid_count(kr, high)
    for m in range(n, N):
        o[np.int64(kr[m] & low)] = np.nan
    if n == 0:
        return dense
    if dense and count_near(kr, high, span, n) * DENSE_SHARE >= n and _rank_row_dense(
            row, kr, low, n, o, vals, rk, ix):
        return True
    _position_ranks(tab, n)
    near_keys = _rank_row_fast(row, kr, low, high, span, n, o, ix, tab, flags)
    if near_keys >= 0:
        return near_keys * DENSE_SHARE >= n
    i = 0
    while i < n:
        if i + 1 == n or not near(kr[i] & high, kr[i + 1] & high, span):
            o[np.int64(kr[i] & low)] = tab[i]
            i += 1
            continue
        k = take_near_run(row, kr, i, n, span, high, low, ix, vals)
        a = 0
        while a < k - i:  # tie groups inside the run, by rounded value
            v = vals[a]
            b = a + 1
            while b < k - i and vals[b] == v:
                b += 1
            r = ((i + a) + (i + b) + 1) * 0.5 / n
            for m in range(a, b):
                o[ix[m]] = r
            a = b
        i = k
    return dense


@njit(cache=True, error_model="numpy", parallel=True)
def _rank_kernel(x, keys, bits, span, out, n_chunks):  # pragma: no cover - compiled
    T, N = x.shape
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        ix = np.empty(N, np.int64)
        vals = np.empty(N)
        rk = np.empty(N, np.int64)
        tab = np.full(N + 1, -1.0)
        flags = flag_scratch(N)
        dense = False
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            dense = _rank_row(x[t], keys[t], bits, span, out[t], ix, vals, rk, tab, flags, dense)


@njit(cache=True, error_model="numpy")
def _rank_kernel_serial(x, keys, bits, span, out):  # pragma: no cover - compiled
    T, N = x.shape
    ix = np.empty(N, np.int64)
    vals = np.empty(N)
    rk = np.empty(N, np.int64)
    tab = np.full(N + 1, -1.0)
    flags = flag_scratch(N)
    dense = False
    for t in range(T):
        dense = _rank_row(x[t], keys[t], bits, span, out[t], ix, vals, rk, tab, flags, dense)


@njit(cache=True, error_model="numpy", inline="always")
def _zscore_row(x, t, out):  # pragma: no cover - compiled
    """Row ``t``'s z-scores; NaN on a row of fewer than 2 valid values or of values all equal at
    ``SIG_DIGITS`` significant digits (``rank``'s tie rule; decided on the smallest and largest value:
    their mean, a sum divided by the count, may miss equal values by an ulp, and rounding noise such as
    ``(close + 1) - close`` would give z-scores of magnitude ~1)."""
    N = x.shape[1]
    n = 0
    s = 0.0
    lo = np.inf
    hi = -np.inf
    for j in range(N):
        v = x[t, j]
        if v == v:
            lo = min(lo, v)
            hi = max(hi, v)
            n += 1
            s += v
    if n < 2 or equal_at_sig(lo, hi):
        for j in range(N):
            out[t, j] = np.nan
        return
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
def _zscore_kernel(x, out):  # pragma: no cover - compiled
    for t in prange(x.shape[0]):
        _zscore_row(x, t, out)


@njit(cache=True, error_model="numpy")
def _zscore_kernel_serial(x, out):  # pragma: no cover - compiled
    for t in range(x.shape[0]):
        _zscore_row(x, t, out)


@njit(cache=True, error_model="numpy", inline="always")
def _scale_row(x, t, a, out):  # pragma: no cover - compiled
    N = x.shape[1]
    s = 0.0
    for j in range(N):
        v = x[t, j]
        if v == v:
            s += abs(v)
    f = a / s if s > 0.0 else np.nan
    if np.isfinite(f) or s != s or s == 0.0:
        for j in range(N):
            out[t, j] = x[t, j] * f
    else:  # a / s overflows (subnormal sum): divide first, |x / s| <= 1
        for j in range(N):
            out[t, j] = (x[t, j] / s) * a


@njit(cache=True, error_model="numpy", parallel=True)
def _scale_kernel(x, a, out):  # pragma: no cover - compiled
    for t in prange(x.shape[0]):
        _scale_row(x, t, a, out)


@njit(cache=True, error_model="numpy")
def _scale_kernel_serial(x, a, out):  # pragma: no cover - compiled
    for t in range(x.shape[0]):
        _scale_row(x, t, a, out)


def rank(x: np.ndarray) -> np.ndarray:
    """Percentile rank of each stock among the day's valid stocks, in ``(0, 1]``; values equal to
    ``SIG_DIGITS`` (10) significant digits tie, and ties are averaged."""
    x = as_panel("rank", x)
    out = np.empty(x.shape)
    if x.size == 0:
        return out
    done = np.empty(x.shape[0], dtype=np.bool_)
    max_span = COUNT_SPAN_PER_STOCK * x.shape[1] + 64
    if use_parallel(x.size):
        _count_rank(x, max_span, out, done, row_chunks(x.shape[0]))
    else:
        _count_rank_serial(x, max_span, out, done, 1)
    n_done = int(np.count_nonzero(done))
    if n_done == x.shape[0]:
        return out
    if 2 * n_done <= x.shape[0]:  # mostly other days (often: counted days are a signal's all-NaN head):
        _rank_sorted(x, out)  # sort every day (a counted day's ranks are the same bits) rather than copy
        return out
    rest = np.flatnonzero(~done)  # the days with other values
    ranks = np.empty((rest.size, x.shape[1]))
    _rank_sorted(np.ascontiguousarray(x[rest]), ranks)
    out[rest] = ranks
    return out


def _rank_sorted(x: np.ndarray, out: np.ndarray) -> None:
    """The sort path of :func:`rank`: every row of the C-contiguous ``(T, N)`` ``x`` ranked into ``out``."""
    x = read_only(x)
    keys, bits = sorted_keys(x)
    span = near_span(bits)
    if use_parallel(x.size):
        _rank_kernel(x, keys, bits, span, out, row_chunks(x.shape[0]))
    else:
        _rank_kernel_serial(x, keys, bits, span, out)


def zscore(x: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score of each day: ``(x - mean) / std`` (``n - 1``), NaN-aware."""
    x = as_panel("zscore", x)
    out = np.empty(x.shape)
    (_zscore_kernel if use_parallel(x.size) else _zscore_kernel_serial)(x, out)
    return out


def scale(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Rescale each day so that ``sum(|x|) = a`` over the valid stocks (NaN stays NaN)."""
    x = as_panel("scale", x)
    a = float(a)
    if not np.isfinite(a):
        raise ExpressionError(f"scale: the target book a must be finite, got {a}", expression="scale")
    out = np.empty(x.shape)
    (_scale_kernel if use_parallel(x.size) else _scale_kernel_serial)(x, a, out)
    return out
