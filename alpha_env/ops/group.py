"""Group operators: cross-sectional statistics within groups (sector, industry, ...) each day.

Groups are ``(N,)`` int64 codes ``0 .. G-1``; ``-1`` is an unknown group. Every group operator returns NaN
where ``x`` is NaN or the stock's code is ``-1``; statistics use the group's valid stocks of the day.

- ``indneutralize(x, g)``: ``x - mean of x over the stock's group`` (group means become 0).
- ``group_mean(x, g)``: the group's mean; a group whose valid values are all equal has that value as its
  mean exactly, never a value an ulp off.
- ``group_zscore(x, g)``: ``(x - group mean) / group std`` (``n - 1``); NaN when the group has fewer than
  2 valid stocks or they are all equal.
- ``group_rank(x, g)``: percentile rank within the group, ties averaged, in ``(0, 1]``.

"Equal" follows ``rank``'s tie rule: values equal at ``SIG_DIGITS`` (10) significant digits. A group of
such values is flat: it demeans to exactly 0, has no z-score, and its ranks tie, so rounding noise of a
mathematically constant signal (``(close + 1) - close``) is not turned into a spread. (Noise around 0,
values such as ±1e-17, has no digits in common and stays a spread, as in ``rank``.)

``group_rank`` walks the row's sorted keys once like :func:`~alpha_env.ops.crosssection.rank`, or, on a
row of near keys all along it, counts each group's members before and through each tie block of equal
``sortkeys.sig_key`` in two branch-free passes (the same bits). Every
kernel has a parallel and a one-thread version (identical results), chosen by
:func:`~alpha_env.ops.threads.use_parallel`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.ops._checks import as_panel, check_groups
from alpha_env.ops.sortkeys import (
    DENSE_SHARE,
    count_near,
    equal_at_sig,
    near,
    near_span,
    sig_key_row,
    sorted_keys,
    take_near_run,
    valid_count,
)
from alpha_env.ops.threads import row_chunks, use_parallel

__all__ = ["indneutralize", "group_mean", "group_zscore", "group_rank"]


@njit(cache=True, error_model="numpy")
def _group_stats_row(x, t, g, mode, out, cnt, s, sd, lo, hi):  # pragma: no cover - compiled
    """mode 0: demean, 1: mean, 2: zscore, of row ``t``; ``cnt``, ``s``, ``sd``, ``lo``, ``hi`` are (G,)
    scratch.

    A group whose valid values are all equal at ``SIG_DIGITS`` significant digits (the tie rule of
    ``rank``; :func:`~alpha_env.ops.sortkeys.equal_at_sig`) is flat: it demeans to exactly 0 and has no
    z-score, so rounding noise (``(close + 1) - close``) is not turned into a signal. A group of exactly
    equal values has that value as its mean exactly (a sum divided by the count may miss it by an ulp).
    ``hi`` holds 1 for a flat group after the first pass.
    """
    N = x.shape[1]
    ngroups = cnt.shape[0]
    for c in range(ngroups):
        cnt[c] = 0.0
        s[c] = 0.0
        lo[c] = np.inf
        hi[c] = -np.inf
    for j in range(N):
        v = x[t, j]
        c = g[j]
        if c >= 0 and v == v:
            lo[c] = min(lo[c], v)
            hi[c] = max(hi[c], v)
            cnt[c] += 1.0
            s[c] += v
    for c in range(ngroups):
        if cnt[c] > 0:
            s[c] = lo[c] if lo[c] == hi[c] else s[c] / cnt[c]
            hi[c] = 1.0 if equal_at_sig(lo[c], hi[c]) else 0.0
        sd[c] = 0.0
    if mode == 2:
        for j in range(N):
            v = x[t, j]
            c = g[j]
            if c >= 0 and v == v:
                sd[c] += (v - s[c]) * (v - s[c])
        for c in range(ngroups):
            sd[c] = np.sqrt(sd[c] / (cnt[c] - 1.0)) if cnt[c] > 1 and hi[c] == 0.0 else 0.0
    for j in range(N):
        v = x[t, j]
        c = g[j]
        if c < 0 or v != v:
            out[t, j] = np.nan
        else:
            if mode == 0:
                r = v - v if hi[c] == 1.0 else v - s[c]  # v - v: 0, or NaN for ±inf as before
            elif mode == 1:
                r = s[c]
            else:
                r = (v - s[c]) / sd[c] if sd[c] > 0.0 else np.nan
            out[t, j] = r if abs(r) < np.inf else np.nan  # an overflowed group sum gives NaN, not ±inf


@njit(cache=True, error_model="numpy", parallel=True)
def _group_stats_kernel(x, g, ngroups, mode, out, n_chunks):  # pragma: no cover - compiled
    """mode 0: demean, 1: mean, 2: zscore; rows in ``n_chunks`` parallel chunks."""
    T = x.shape[0]
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        cnt = np.zeros(ngroups)
        s = np.zeros(ngroups)
        sd = np.zeros(ngroups)
        lo = np.zeros(ngroups)
        hi = np.zeros(ngroups)
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            _group_stats_row(x, t, g, mode, out, cnt, s, sd, lo, hi)


@njit(cache=True, error_model="numpy")
def _group_stats_kernel_serial(x, g, ngroups, mode, out):  # pragma: no cover - compiled
    """One-thread :func:`_group_stats_kernel`."""
    cnt = np.zeros(ngroups)
    s = np.zeros(ngroups)
    sd = np.zeros(ngroups)
    lo = np.zeros(ngroups)
    hi = np.zeros(ngroups)
    for t in range(x.shape[0]):
        _group_stats_row(x, t, g, mode, out, cnt, s, sd, lo, hi)


@njit(cache=True, error_model="numpy")
def _group_rank_dense(row, kr, low, nv, g, o, before, vals, rk, n, state):  # pragma: no cover - compiled
    """Ranks within groups of one row of many near keys (see :func:`_group_rank_row`), with no branch on the
    data: the values' rounding order (:func:`~alpha_env.ops.sortkeys.sig_key_row`) splits the sorted row
    into tie blocks; a forward pass gives each position the count of its group's members before its block
    (the count its group shows at its first member in the block), a backward pass the count up to the
    block's end, and the rank is ``(before + through + 1) / 2 / n``: :func:`_group_rank_row`'s ``2 pos +
    tie + 1`` in integers, the same bits. Returns False, writing nothing, where ``sig_key_row`` does.
    ``n`` (G,) the groups' valid counts; ``before``, ``vals``, ``rk`` (N,) and ``state`` (G + 1, 2) int64
    scratch (slot G: stocks of no group; per group its running count and ``block * 2**32 + mark``)."""
    if not sig_key_row(row, kr, low, nv, vals, rk):
        return False
    G = n.shape[0]
    for c in range(G + 1):
        state[c, 0] = 0
        state[c, 1] = -1
    block = 0
    prev = rk[0]
    for i in range(nv):
        block += rk[i] != prev
        prev = rk[i]
        c = g[np.int64(kr[i] & low)]
        c = c if c >= 0 else G
        cnt = state[c, 0]
        seen = state[c, 1]
        mark = seen & 0xFFFFFFFF if (seen >> 32) == block else cnt  # the count at its first in the block
        state[c, 1] = (block << 32) | mark
        state[c, 0] = cnt + 1
        before[i] = mark
    for c in range(G + 1):
        state[c, 1] = -1
    for i in range(nv - 1, -1, -1):
        a = np.int64(kr[i] & low)
        c = g[a]
        c = c if c >= 0 else G
        cnt = state[c, 0]
        seen = state[c, 1]
        mark = seen & 0xFFFFFFFF if (seen >> 32) == block else cnt  # the count through its last in the block
        state[c, 1] = (block << 32) | mark
        state[c, 0] = cnt - 1
        if c < G:
            o[a] = (before[i] + mark + 1) * 0.5 / n[c]
        block -= rk[i] != rk[max(i - 1, 0)]
    return True


@njit(cache=True, error_model="numpy")
def _group_rank_row(row, kr, bits, span, g, o, ix, vals, rk, n, pos, tie, state,
                    dense):  # pragma: no cover - compiled
    """Ranks within groups of one row from its sorted key row (see :func:`rank`'s single pass): values
    equal to ``SIG_DIGITS`` significant digits tie, as in ``rank``.

    A key not :func:`~alpha_env.ops.sortkeys.near` the next one holds a value that ties with no other;
    runs of near keys are decoded with their values rounded (:func:`~alpha_env.ops.sortkeys.round_sig`)
    and split into tie blocks of equal rounded values. A row with a key near the next at one position in
    ``DENSE_SHARE`` or more is ranked by :func:`_group_rank_dense` instead (the same bits) when ``dense``
    (the previous row was such a row: the walk counts its near keys as it goes, so rows of few near keys
    pay no pass to count them). Returns ``dense`` for the next row. ``ix``,
    ``vals``, ``rk`` (N,), ``n``, ``pos``, ``tie`` (G,) and ``state`` (G + 1, 2) int64 are scratch.
    """
    low = np.uint64((1 << bits) - 1)
    high = ~low
    N = row.shape[0]
    for c in range(n.shape[0]):
        n[c] = 0.0
        pos[c] = 0.0
        tie[c] = 0.0
    for j in range(N):
        c = g[j]
        if c >= 0 and row[j] == row[j]:
            n[c] += 1.0
        else:
            o[j] = np.nan
    nv = valid_count(kr, high)
    if nv == 0:
        return dense
    if dense:
        if count_near(kr, high, span, nv) * DENSE_SHARE < nv:
            dense = False  # this row is walked, and the next one
        elif _group_rank_dense(row, kr, low, nv, g, o, ix, vals, rk, n, state):
            return True
    near_keys = 0
    i = 0
    while i < nv:
        if i + 1 == nv or not near(kr[i] & high, kr[i + 1] & high, span):
            # a value strictly between its neighbours: next position of its group
            a = np.int64(kr[i] & low)
            c = g[a]
            if c >= 0:
                o[a] = (2.0 * pos[c] + 1.0 + 1.0) * 0.5 / n[c]
                pos[c] += 1.0
            i += 1
            continue
        k = take_near_run(row, kr, i, nv, span, high, low, ix, vals)
        near_keys += k - i - 1
        m0 = 0
        while m0 < k - i:  # global tie blocks [m0, m1) inside the run
            v = vals[m0]
            m1 = m0 + 1
            while m1 < k - i and vals[m1] == v:
                m1 += 1
            for m in range(m0, m1):
                c = g[ix[m]]
                if c >= 0:
                    tie[c] += 1.0
            for m in range(m0, m1):
                a = ix[m]
                c = g[a]
                if c >= 0:
                    o[a] = (2.0 * pos[c] + tie[c] + 1.0) * 0.5 / n[c]
            for m in range(m0, m1):
                c = g[ix[m]]
                if c >= 0 and tie[c] > 0:
                    pos[c] += tie[c]
                    tie[c] = 0.0
            m0 = m1
        i = k
    return dense or near_keys * DENSE_SHARE >= nv


@njit(cache=True, error_model="numpy", parallel=True)
def _group_rank_kernel(x, keys, bits, span, g, ngroups, out, n_chunks):  # pragma: no cover - compiled
    T, N = x.shape
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        ix = np.empty(N, np.int64)
        vals = np.empty(N)
        rk = np.empty(N, np.int64)
        n = np.zeros(ngroups)
        pos = np.zeros(ngroups)
        tie = np.zeros(ngroups)
        state = np.empty((ngroups + 1, 2), np.int64)
        dense = False
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            dense = _group_rank_row(x[t], keys[t], bits, span, g, out[t], ix, vals, rk, n, pos, tie, state,
                                    dense)


@njit(cache=True, error_model="numpy")
def _group_rank_kernel_serial(x, keys, bits, span, g, ngroups, out):  # pragma: no cover - compiled
    T, N = x.shape
    ix = np.empty(N, np.int64)
    vals = np.empty(N)
    rk = np.empty(N, np.int64)
    n = np.zeros(ngroups)
    pos = np.zeros(ngroups)
    tie = np.zeros(ngroups)
    state = np.empty((ngroups + 1, 2), np.int64)
    dense = False
    for t in range(T):
        dense = _group_rank_row(x[t], keys[t], bits, span, g, out[t], ix, vals, rk, n, pos, tie, state, dense)


def _stats(x: np.ndarray, g: np.ndarray, ng: int, mode: int) -> np.ndarray:
    out = np.empty(x.shape)
    if use_parallel(x.size):
        _group_stats_kernel(x, g, ng, mode, out, row_chunks(x.shape[0]))
    else:
        _group_stats_kernel_serial(x, g, ng, mode, out)
    return out


def _prepare(op: str, x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    x = as_panel(op, x)
    g = check_groups(op, groups, x.shape[1])
    ngroups = int(g.max()) + 1 if g.size else 0
    return x, g, max(ngroups, 1)


def indneutralize(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Demean ``x`` within each group every day: ``x - group mean``; NaN for code -1 or NaN ``x``."""
    x, g, ng = _prepare("indneutralize", x, groups)
    return _stats(x, g, ng, 0)


def group_mean(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The mean of ``x`` over the stock's group that day (NaN where ``x`` is NaN or code is -1)."""
    x, g, ng = _prepare("group_mean", x, groups)
    return _stats(x, g, ng, 1)


def group_zscore(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(x - group mean) / group std`` (``n - 1``) each day; NaN for groups of < 2 or equal values."""
    x, g, ng = _prepare("group_zscore", x, groups)
    return _stats(x, g, ng, 2)


def group_rank(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Percentile rank of ``x`` within the stock's group each day, in ``(0, 1]``; values equal to
    ``SIG_DIGITS`` (10) significant digits tie, as in ``rank``, and ties are averaged."""
    x, g, ng = _prepare("group_rank", x, groups)
    keys, bits = sorted_keys(x)
    span = near_span(bits)
    out = np.empty(x.shape)
    if use_parallel(x.size):
        _group_rank_kernel(x, keys, bits, span, g, ng, out, row_chunks(x.shape[0]))
    else:
        _group_rank_kernel_serial(x, keys, bits, span, g, ng, out)
    return out
