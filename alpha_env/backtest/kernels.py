"""Numba kernels of the backtest: plain loops over contiguous ``(T, N)`` arrays.

Validation, group re-coding and result assembly live in :mod:`alpha_env.backtest.engine`; these kernels
trust their inputs (C-contiguous float64 / bool / int64 arrays of matching shapes).

Indexing: ``t`` is the *signal day* (the book computed from data through the close of ``t``), and
``d = t + delay + 1`` is the *holding day* (the book is held from the close of ``d-1`` to the close of
``d``). Every daily series the kernel returns is indexed by the holding day.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "STATUS_TRADED",
    "STATUS_FEW_STOCKS",
    "STATUS_FLAT",
    "backtest_kernel",
    "backtest_kernel_serial",
    "ic_kernel",
    "ic_kernel_serial",
]

#: Day status codes (per signal day).
STATUS_TRADED = 0  # a book with gross 1 (or the truncation-capped gross) was built
STATUS_FEW_STOCKS = 1  # fewer than ``min_stocks`` finite signal values inside the universe
STATUS_FLAT = 2  # enough values, but nothing left after neutralization (constant within every group)

# After neutralization, a cross-section whose gross is below this fraction of the gross before
# neutralization is rounding noise of a constant signal: it gets no book.
_FLAT_TOL = 1e-12


@njit(cache=True, error_model="numpy", inline="always")
def _day_signal(signal, universe, t, decay, out):
    """Processed signal of day ``t`` into ``out`` (N,): linear decay (NaN-aware), universe mask.

    Returns the number of finite values.
    """
    n = signal.shape[1]
    if decay <= 1:
        for i in range(n):
            x = signal[t, i]
            if universe[t, i] and np.isfinite(x):
                out[i] = x
            else:
                out[i] = np.nan
    else:
        den = np.zeros(n)
        for i in range(n):
            out[i] = 0.0
        kmax = min(decay, t + 1)
        for k in range(kmax):
            wk = float(decay - k)
            for i in range(n):
                x = signal[t - k, i]
                if np.isfinite(x):
                    out[i] += wk * x
                    den[i] += wk
        for i in range(n):
            if universe[t, i] and den[i] > 0.0:
                out[i] = out[i] / den[i]
            else:
                out[i] = np.nan
    count = 0
    for i in range(n):
        if not np.isnan(out[i]):
            count += 1
    return count


@njit(cache=True, error_model="numpy")
def _truncate(w, cap, capped):
    """Cap ``|w|`` at ``cap`` and rescale the rest so that ``sum |w| = 1`` (water-filling, exact).

    ``w`` is finite with ``sum |w| = 1`` on entry. The capped set only grows, so the loop ends after at
    most N rounds (in practice 2-3). When fewer than ``1/cap`` stocks hold a weight, the target is
    infeasible and every held stock ends at ``±cap`` (gross ``< 1``).
    """
    n = w.shape[0]
    wmax = 0.0
    for i in range(n):
        capped[i] = False
        a = abs(w[i])
        if a > wmax:
            wmax = a
    if wmax <= cap:
        return
    while True:
        k = 0
        rest = 0.0
        for i in range(n):
            if capped[i]:
                k += 1
            else:
                rest += abs(w[i])
        left = 1.0 - k * cap
        if left <= 0.0 or rest <= 0.0:
            lam = 0.0
        else:
            lam = left / rest
        new = False
        for i in range(n):
            if not capped[i] and w[i] != 0.0 and lam * abs(w[i]) > cap:
                capped[i] = True
                new = True
        if not new:
            break
    for i in range(n):
        if capped[i]:
            w[i] = cap if w[i] > 0.0 else -cap
        else:
            w[i] = lam * w[i]


@njit(cache=True, error_model="numpy")
def _pearson(x, y, m):
    """Pearson correlation of the first ``m`` entries of ``x`` and ``y``; NaN when undefined."""
    if m < 3:
        return np.nan
    mx = 0.0
    my = 0.0
    for j in range(m):
        mx += x[j]
        my += y[j]
    mx /= m
    my /= m
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for j in range(m):
        dx = x[j] - mx
        dy = y[j] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    # sqrt each factor: the product of two tiny sums of squares can underflow to 0
    denom = np.sqrt(sxx) * np.sqrt(syy)
    if not denom > 0.0 or not np.isfinite(denom):
        return np.nan
    return sxy / denom


@njit(cache=True, error_model="numpy")
def _backtest_chunk(
    c, chunk, signal, returns, universe, gcode, G, demean, decay, lag, truncation, min_stocks,
    weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid,
):
    """Process the signal days of chunk ``c`` (``[c·chunk, (c+1)·chunk)``) in order, writing the outputs."""
    T, N = signal.shape
    t0 = c * chunk
    t1 = min(T, t0 + chunk)
    s = np.empty(N)
    w = np.empty(N)
    capped = np.zeros(N, dtype=np.bool_)
    gsum = np.zeros(G)
    gcnt = np.zeros(G, dtype=np.int64)
    gmean = np.zeros(G)
    for t in range(t0, t1):
        d = t + lag
        # pass 1: processed signal, counts, raw gross, group sums
        if decay > 1:
            _day_signal(signal, universe, t, decay, s)
        for g in range(G):
            gsum[g] = 0.0
            gcnt[g] = 0
        n_valid = 0
        n_univ = 0
        raw_gross = 0.0
        for i in range(N):
            if decay > 1:
                x = s[i]
            else:
                x = signal[t, i]
            u = universe[t, i]
            if u:
                n_univ += 1
            if u and np.isfinite(x):
                s[i] = x
                n_valid += 1
                raw_gross += abs(x)
                g = gcode[i]
                if g >= 0:
                    gsum[g] += x
                    gcnt[g] += 1
            else:
                s[i] = np.nan
        valid[t] = n_valid
        if d < T:
            coverage[d] = n_valid / n_univ if n_univ > 0 else 0.0
        traded = False
        if n_valid < min_stocks:
            status[t] = STATUS_FEW_STOCKS
        else:
            # pass 2: neutralize, gross, largest |w|
            for g in range(G):
                gmean[g] = gsum[g] / gcnt[g] if (demean and gcnt[g] > 0) else 0.0
            gross = 0.0
            amax = 0.0
            for i in range(N):
                g = gcode[i]
                if np.isnan(s[i]) or g < 0:
                    w[i] = 0.0
                else:
                    v = s[i] - gmean[g]
                    w[i] = v
                    a = abs(v)
                    gross += a
                    if a > amax:
                        amax = a
            if not gross > _FLAT_TOL * raw_gross:
                status[t] = STATUS_FLAT
            else:
                traded = True
                inv = 1.0 / gross
                if truncation > 0.0 and amax * inv > truncation:
                    for i in range(N):
                        w[i] *= inv
                    _truncate(w, truncation, capped)
                    inv = 1.0
        # pass 3: write the book, its PnL, counts and turnover
        tv = 0.0
        prev_ok = t > t0  # the row t-1 of another chunk may not be written yet
        if not traded:
            for i in range(N):
                weights[t, i] = 0.0
                if prev_ok:
                    tv += abs(weights[t - 1, i])
        elif d < T:
            p = 0.0
            nl = 0
            ns = 0
            nn = 0
            for i in range(N):
                wi = w[i] * inv
                weights[t, i] = wi
                if prev_ok:
                    tv += abs(wi - weights[t - 1, i])
                nl += wi > 0.0  # branch-free: the sign of a weight is a coin flip
                ns += wi < 0.0
                r = returns[d, i]
                if np.isfinite(r):
                    p += wi * r
                elif wi != 0.0:
                    nn += 1
            pnl[d] = p
            n_long[d] = nl
            n_short[d] = ns
            nan_held[d] = nn
        else:
            for i in range(N):
                weights[t, i] = w[i] * inv
        if prev_ok and d < T:
            turnover[d] = tv


@njit(cache=True, error_model="numpy")
def _chunk_starts_turnover(weights, turnover, chunk, n_chunks, lag):
    """Turnover of the first day of each chunk, whose previous book belongs to another chunk."""
    T, N = weights.shape
    for c in range(n_chunks):
        t = c * chunk
        d = t + lag
        if t >= T or d >= T:
            continue
        tv = 0.0
        for i in range(N):
            prev = weights[t - 1, i] if t > 0 else 0.0
            tv += abs(weights[t, i] - prev)
        turnover[d] = tv


@njit(cache=True, error_model="numpy", parallel=True)
def backtest_kernel(
    signal,
    returns,
    universe,
    gcode,
    n_groups,
    demean,
    decay,
    delay,
    truncation,
    min_stocks,
    n_chunks,
):
    """Build the daily books and their gross PnL, chunks of days in parallel.

    Args:
        signal, returns: ``(T, N)`` float64. universe: ``(T, N)`` bool.
        gcode: ``(N,)`` int64 group codes in ``[0, n_groups)``, ``-1`` = excluded from the book.
        demean: demean within groups (``False`` for neutralization ``none``).
        decay, delay, min_stocks: ints; truncation: float (0 = off).
        n_chunks: number of contiguous day chunks (days inside a chunk run in order, so the previous
            book is still in cache for the turnover).

    Returns:
        weights ``(T, N)`` by signal day; and by holding day ``(T,)``: gross pnl (fraction of book),
        turnover (fraction of book), long and short counts, NaN-return count of held stocks,
        coverage (finite signal / universe size); plus by signal day: status codes and valid counts.
    """
    T, N = signal.shape
    weights = np.empty((T, N))
    pnl = np.zeros(T)
    turnover = np.zeros(T)
    n_long = np.zeros(T, dtype=np.int64)
    n_short = np.zeros(T, dtype=np.int64)
    nan_held = np.zeros(T, dtype=np.int64)
    coverage = np.zeros(T)
    status = np.zeros(T, dtype=np.int64)
    valid = np.zeros(T, dtype=np.int64)
    lag = delay + 1
    chunk = (T + n_chunks - 1) // n_chunks
    G = max(n_groups, 1)
    for c in prange(n_chunks):
        _backtest_chunk(
            c, chunk, signal, returns, universe, gcode, G, demean, decay, lag, truncation, min_stocks,
            weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid,
        )
    _chunk_starts_turnover(weights, turnover, chunk, n_chunks, lag)
    return weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid


@njit(cache=True, error_model="numpy")
def backtest_kernel_serial(
    signal,
    returns,
    universe,
    gcode,
    n_groups,
    demean,
    decay,
    delay,
    truncation,
    min_stocks,
    n_chunks,
):
    """Same as :func:`backtest_kernel`, chunks in order on one thread (small panels, busy machines)."""
    T, N = signal.shape
    weights = np.empty((T, N))
    pnl = np.zeros(T)
    turnover = np.zeros(T)
    n_long = np.zeros(T, dtype=np.int64)
    n_short = np.zeros(T, dtype=np.int64)
    nan_held = np.zeros(T, dtype=np.int64)
    coverage = np.zeros(T)
    status = np.zeros(T, dtype=np.int64)
    valid = np.zeros(T, dtype=np.int64)
    lag = delay + 1
    chunk = (T + n_chunks - 1) // n_chunks
    G = max(n_groups, 1)
    for c in range(n_chunks):
        _backtest_chunk(
            c, chunk, signal, returns, universe, gcode, G, demean, decay, lag, truncation, min_stocks,
            weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid,
        )
    _chunk_starts_turnover(weights, turnover, chunk, n_chunks, lag)
    return weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid


@njit(cache=True, error_model="numpy")
def _average_ranks(x, m, order, out):
    """Average ranks (1-based, ties share their mean rank) of the first ``m`` entries of ``x``."""
    order[:m] = np.argsort(x[:m], kind="mergesort")
    j = 0
    while j < m:
        k = j
        while k + 1 < m and x[order[k + 1]] == x[order[j]]:
            k += 1
        r = 0.5 * (j + k) + 1.0
        for q in range(j, k + 1):
            out[order[q]] = r
        j = k + 1


@njit(cache=True, error_model="numpy")
def _ic_day(signal, returns, universe, decay, t, d, ranked):
    """IC of the processed signal of day ``t`` with ``returns[d]`` (NaN when undefined)."""
    N = signal.shape[1]
    s = np.empty(N)
    _day_signal(signal, universe, t, decay, s)
    xs = np.empty(N)
    ys = np.empty(N)
    m = 0
    for i in range(N):
        r = returns[d, i]
        if not np.isnan(s[i]) and np.isfinite(r):
            xs[m] = s[i]
            ys[m] = r
            m += 1
    if m < 3:
        return np.nan
    if not ranked:
        return _pearson(xs, ys, m)
    order = np.empty(m, dtype=np.int64)
    rx = np.empty(m)
    ry = np.empty(m)
    _average_ranks(xs, m, order, rx)
    _average_ranks(ys, m, order, ry)
    return _pearson(rx, ry, m)


@njit(cache=True, error_model="numpy", parallel=True)
def ic_kernel(signal, returns, universe, decay, delay, ranked):
    """Daily IC by holding day: correlation of the processed signal of day ``d-delay-1`` (decayed,
    universe-masked, not neutralized) with ``returns[d]`` over the stocks where both are finite.

    ``ranked=False`` gives Pearson IC, ``True`` Spearman rank IC (average ranks for ties). NaN on days
    with fewer than 3 pairs or no spread. Days in parallel.
    """
    T = signal.shape[0]
    out = np.full(T, np.nan)
    lag = delay + 1
    for t in prange(max(T - lag, 0)):
        out[t + lag] = _ic_day(signal, returns, universe, decay, t, t + lag, ranked)
    return out


@njit(cache=True, error_model="numpy")
def ic_kernel_serial(signal, returns, universe, decay, delay, ranked):
    """Same as :func:`ic_kernel` on one thread."""
    T = signal.shape[0]
    out = np.full(T, np.nan)
    lag = delay + 1
    for t in range(max(T - lag, 0)):
        out[t + lag] = _ic_day(signal, returns, universe, decay, t, t + lag, ranked)
    return out
