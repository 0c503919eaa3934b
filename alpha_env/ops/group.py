"""Group operators: cross-sectional statistics within groups (sector, industry, ...) each day.

Groups are ``(N,)`` int64 codes ``0 .. G-1``; ``-1`` is an unknown group. Every group operator returns NaN
where ``x`` is NaN or the stock's code is ``-1``; statistics use the group's valid stocks of the day.

- ``indneutralize(x, g)``: ``x - mean of x over the stock's group`` (group means become 0).
- ``group_mean(x, g)``: the group's mean.
- ``group_zscore(x, g)``: ``(x - group mean) / group std`` (``n - 1``); NaN when the group has fewer than
  2 valid stocks or they are all equal.
- ``group_rank(x, g)``: percentile rank within the group, ties averaged, in ``(0, 1]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.ops._checks import as_panel, check_groups
from alpha_env.ops.crosssection import _order_from_keys, sorted_keys

__all__ = ["indneutralize", "group_mean", "group_zscore", "group_rank"]


@njit(cache=True, error_model="numpy", parallel=True)
def _group_stats_kernel(x, g, ngroups, mode, out):  # pragma: no cover - compiled
    """mode 0: demean, 1: mean, 2: zscore."""
    T, N = x.shape
    for t in prange(T):
        cnt = np.zeros(ngroups)
        s = np.zeros(ngroups)
        for j in range(N):
            v = x[t, j]
            c = g[j]
            if c >= 0 and v == v:
                cnt[c] += 1.0
                s[c] += v
        for c in range(ngroups):
            if cnt[c] > 0:
                s[c] /= cnt[c]
        sd = np.zeros(ngroups)
        if mode == 2:
            for j in range(N):
                v = x[t, j]
                c = g[j]
                if c >= 0 and v == v:
                    sd[c] += (v - s[c]) * (v - s[c])
            for c in range(ngroups):
                sd[c] = np.sqrt(sd[c] / (cnt[c] - 1.0)) if cnt[c] > 1 else 0.0
        for j in range(N):
            v = x[t, j]
            c = g[j]
            if c < 0 or v != v:
                out[t, j] = np.nan
            elif mode == 0:
                out[t, j] = v - s[c]
            elif mode == 1:
                out[t, j] = s[c]
            else:
                out[t, j] = (v - s[c]) / sd[c] if sd[c] > 0.0 else np.nan


@njit(cache=True, error_model="numpy", parallel=True)
def _group_rank_kernel(x, keys, bits, g, ngroups, out):  # pragma: no cover - compiled
    T, N = x.shape
    for t in prange(T):
        row = x[t]
        ix = np.empty(N, np.int64)
        _order_from_keys(row, keys[t], bits, ix)
        o = out[t]
        n = np.zeros(ngroups)
        pos = np.zeros(ngroups)
        tie = np.zeros(ngroups)
        for j in range(N):
            c = g[j]
            if c >= 0 and row[j] == row[j]:
                n[c] += 1.0
            else:
                o[j] = np.nan
        i = 0
        while i < N:
            v = row[ix[i]]
            if v != v:
                i += 1
                continue
            # global tie block [i, k): equal values (NaNs sort last)
            k = i + 1
            while k < N and row[ix[k]] == v:
                k += 1
            for m in range(i, k):
                a = ix[m]
                c = g[a]
                if c >= 0 and row[a] == row[a]:
                    tie[c] += 1.0
            for m in range(i, k):
                a = ix[m]
                c = g[a]
                if c >= 0 and row[a] == row[a]:
                    o[a] = (2.0 * pos[c] + tie[c] + 1.0) * 0.5 / n[c]
            for m in range(i, k):
                a = ix[m]
                c = g[a]
                if c >= 0 and tie[c] > 0:
                    pos[c] += tie[c]
                    tie[c] = 0.0
            i = k


def _prepare(op: str, x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    x = as_panel(op, x)
    g = check_groups(op, groups, x.shape[1])
    ngroups = int(g.max()) + 1 if g.size else 0
    return x, g, max(ngroups, 1)


def indneutralize(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Demean ``x`` within each group every day: ``x - group mean``; NaN for code -1 or NaN ``x``."""
    x, g, ng = _prepare("indneutralize", x, groups)
    out = np.empty(x.shape)
    _group_stats_kernel(x, g, ng, 0, out)
    return out


def group_mean(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The mean of ``x`` over the stock's group that day (NaN where ``x`` is NaN or code is -1)."""
    x, g, ng = _prepare("group_mean", x, groups)
    out = np.empty(x.shape)
    _group_stats_kernel(x, g, ng, 1, out)
    return out


def group_zscore(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(x - group mean) / group std`` (``n - 1``) each day; NaN for groups of < 2 or equal values."""
    x, g, ng = _prepare("group_zscore", x, groups)
    out = np.empty(x.shape)
    _group_stats_kernel(x, g, ng, 2, out)
    return out


def group_rank(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Percentile rank of ``x`` within the stock's group each day, ties averaged, in ``(0, 1]``."""
    x, g, ng = _prepare("group_rank", x, groups)
    keys, bits = sorted_keys(x)
    out = np.empty(x.shape)
    _group_rank_kernel(x, keys, bits, g, ng, out)
    return out
