"""Numba kernels of the backtest: plain loops over contiguous ``(T, N)`` arrays.

Validation, group re-coding and result assembly live in :mod:`alpha_env.backtest.engine`; these kernels
trust their inputs (C-contiguous float64 / bool / int64 arrays of matching shapes).

Indexing: ``t`` is the *signal day* (the book computed from data through the close of ``t``), and
``d = t + delay + 1`` is the *holding day* (the book is held from the close of ``d-1`` to the close of
``d``). Every daily series the kernel returns is indexed by the holding day.

Threads: every kernel with a parallel loop is one body compiled twice by
:func:`alpha_env.ops.threads.twin` (``name`` runs chunks in parallel, ``name_serial`` in order on one
thread, same bits); the engine picks one with :func:`alpha_env.ops.threads.use_parallel`.

Scale: the book is the same for a signal and that signal times any positive number. A day whose gross
``sum |x|`` lies outside ``[_GROSS_LO, _GROSS_HI]`` (overflowing, subnormal or nearly so, where
``1 / gross`` or the group sums would overflow) is first rescaled by the power of two that brings its
largest ``|x|`` into ``[0.5, 1)`` (exact for every value that stays normal); days of ordinary data are
never rescaled, so their books are bit for bit what they were. A decayed value whose weighted sum of
huge finite values overflows is recomputed on values scaled by a power of two. A day whose Pearson IC is
NaN is recomputed on rescaled values when its largest ``|x|`` is outside ``[_IC_LO, _IC_HI]``.

:func:`rank_ic_series` (the rank IC the engine uses) is the one Python-level composition here: Numba
passes around NumPy's SIMD row sort.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from alpha_env.ops.sortkeys import linked, order_key, sort_key_rows, take_run
from alpha_env.ops.threads import read_only, twin

__all__ = [
    "STATUS_TRADED",
    "STATUS_FEW_STOCKS",
    "STATUS_FLAT",
    "backtest_kernel",
    "backtest_kernel_serial",
    "ic_kernel",
    "ic_kernel_serial",
    "ic_days",
    "rank_ic_series",
]

#: Day status codes (per signal day).
STATUS_TRADED = 0  # a book with gross 1 (or the truncation-capped gross) was built
STATUS_FEW_STOCKS = 1  # fewer than ``min_stocks`` finite signal values inside the universe
STATUS_FLAT = 2  # enough values, but nothing left after neutralization (constant within every group)

# After neutralization, a cross-section whose gross is below this fraction of the gross before
# neutralization is rounding noise of a constant signal: it gets no book.
_FLAT_TOL = 1e-12

# A day's raw gross outside these bounds is rescaled first (see the module doc): inside them, the group
# sums stay finite and a book's gross (at least _FLAT_TOL times the raw gross) stays a normal number, so
# ``1 / gross`` is finite.
_GROSS_LO = 1e-250
_GROSS_HI = 1e250
# A day whose Pearson IC comes out NaN is recomputed on rescaled values (the correlation is scale-free)
# when its largest |x| is outside these bounds, where the sums of squares overflow or underflow.
_IC_LO = 1e-140
_IC_HI = 1e140


@njit(cache=True, error_model="numpy")
def _decayed_scaled(signal, t, i, kmax, decay, den):
    """Decayed value of stock ``i`` on day ``t`` computed on values scaled by a power of two (so the
    weighted sum cannot overflow) and scaled back; only for a stock whose plain sum overflowed."""
    amax = 0.0
    for k in range(kmax):
        x = signal[t - k, i]
        amax = max(amax, abs(x)) if np.isfinite(x) else amax
    e = math.frexp(amax)[1]
    acc = 0.0
    for k in range(kmax):
        x = signal[t - k, i]
        acc += float(decay - k) * math.ldexp(x, -e) if np.isfinite(x) else 0.0
    return math.ldexp(acc / den, e)


@njit(cache=True, error_model="numpy", inline="always")
def _undecayed(x, inside):  # pragma: no cover - compiled
    """Processed signal of one stock-day without decay (``decay <= 1``): ``x`` in the universe when finite,
    else NaN."""
    return x if (inside and np.isfinite(x)) else np.nan


@njit(cache=True, error_model="numpy")
def _day_signal(signal, universe, t, decay, out, den):
    """Processed signal of day ``t`` into ``out`` (N,): linear decay (NaN-aware), universe mask.

    ``den`` (N,) is scratch. Returns the number of finite values.
    """
    n = signal.shape[1]
    if decay <= 1:
        for i in range(n):
            out[i] = _undecayed(signal[t, i], universe[t, i])
    else:
        for i in range(n):
            out[i] = 0.0
            den[i] = 0.0
        kmax = min(decay, t + 1)
        for k in range(kmax):
            wk = float(decay - k)
            for i in range(n):  # branch-free: a NaN term adds +0.0 to sums that are never -0.0
                x = signal[t - k, i]
                fin = np.isfinite(x)
                out[i] += wk * x if fin else 0.0
                den[i] += wk if fin else 0.0
        for i in range(n):
            out[i] = out[i] / den[i] if (universe[t, i] and den[i] > 0.0) else np.nan
    count = 0
    overflow = False
    for i in range(n):
        v = out[i]
        count += not np.isnan(v)
        overflow |= np.isinf(v)
    if overflow:  # a weighted sum of huge finite values overflowed: redo those stocks scaled
        for i in range(n):
            if np.isinf(out[i]):
                out[i] = _decayed_scaled(signal, t, i, min(decay, t + 1), decay, den[i])
    return count


# Row passes of the backtest. ``fastmath={"reassoc"}`` lets LLVM vectorize their sums (gross, group
# sum, turnover, PnL): the terms are the same, their order differs (~1e-16 relative); NaN and inf
# checks are unaffected (no ``nnan``/``ninf``). Same code in the parallel and one-thread kernels, so
# both give identical bits on one machine.
_REDUCE = {"reassoc"}


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _row_valid(xrow, urow, s):
    """``s = x`` inside the universe where finite, else NaN (``xrow`` may be ``s`` itself).

    Returns (finite values, universe size, sum of |x| over the finite values)."""
    nv = 0
    nu = 0
    raw = 0.0
    for i in range(xrow.shape[0]):
        x = xrow[i]
        u = urow[i]
        ok = u and np.isfinite(x)
        s[i] = x if ok else np.nan
        nv += ok
        nu += u
        raw += abs(x) if ok else 0.0
    return nv, nu, raw


@njit(cache=True, error_model="numpy")
def _row_rescale(s):
    """Multiply the non-NaN ``s`` by the power of two that brings ``max |s|`` into ``[0.5, 1)``.

    Returns the new ``sum |s|``. Used only on days whose gross overflows or is (nearly) subnormal.
    """
    amax = 0.0
    for i in range(s.shape[0]):
        a = abs(s[i])
        amax = a if a > amax else amax  # NaN compares false: skipped
    if not amax > 0.0:
        return 0.0
    e = math.frexp(amax)[1]
    raw = 0.0
    for i in range(s.shape[0]):
        v = s[i]
        if not np.isnan(v):
            v = math.ldexp(v, -e)
            s[i] = v
            raw += abs(v)
    return raw


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _row_sum_known(s, gcode):
    """(sum, count) of the non-NaN ``s`` whose group code is >= 0 (one group)."""
    tot = 0.0
    cnt = 0
    for i in range(s.shape[0]):
        ok = not np.isnan(s[i]) and gcode[i] >= 0
        tot += s[i] if ok else 0.0
        cnt += ok
    return tot, cnt


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _row_book(s, gcode, gmean, w):
    """Unscaled book ``w = s - gmean[group]`` (0 for NaN ``s`` or code -1). Returns (gross, max |w|)."""
    gross = 0.0
    amax = 0.0
    for i in range(s.shape[0]):
        g = gcode[i]
        ok = not np.isnan(s[i]) and g >= 0
        v = s[i] - gmean[g if g >= 0 else 0] if ok else 0.0
        w[i] = v
        a = abs(v)
        gross += a
        amax = max(amax, a)
    return gross, amax


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _row_trade(w, inv, wrow, rrow):
    """Write the book ``wrow = w·inv``; returns (PnL on ``rrow``, long, short, held stocks whose return
    is NaN)."""
    p = 0.0
    nl = 0
    ns = 0
    nn = 0
    for i in range(w.shape[0]):
        wi = w[i] * inv
        wrow[i] = wi
        nl += wi > 0.0
        ns += wi < 0.0
        r = rrow[i]
        fin = np.isfinite(r)
        p += wi * r if fin else 0.0
        nn += (not fin) and wi != 0.0
    return p, nl, ns, nn


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _row_turnover(wrow, prev):
    """``sum |wrow - prev|``. The one turnover reduction (inside chunks and at chunk starts alike), so
    the parallel and one-thread kernels sum in the same order."""
    tv = 0.0
    for i in range(wrow.shape[0]):
        tv += abs(wrow[i] - prev[i])
    return tv


@njit(cache=True, error_model="numpy")
def _row_abs_max(wrow):
    """``max |wrow|`` as NumPy's ``np.abs(wrow).max()`` gives it (NaN when some value is NaN, inf when
    one is infinite and none NaN), 0 for an empty row. Four running maxima (the loop does not vectorize:
    four independent chains run about 3x faster than one) and a sum of ``a - a``, which is 0 unless some
    value is not finite; such a row is redone one value at a time."""
    n = wrow.shape[0]
    m0 = m1 = m2 = m3 = 0.0
    bad = 0.0
    i = 0
    while i + 4 <= n:
        a0 = abs(wrow[i])
        a1 = abs(wrow[i + 1])
        a2 = abs(wrow[i + 2])
        a3 = abs(wrow[i + 3])
        m0 = a0 if a0 > m0 else m0
        m1 = a1 if a1 > m1 else m1
        m2 = a2 if a2 > m2 else m2
        m3 = a3 if a3 > m3 else m3
        bad += (a0 - a0) + (a1 - a1) + (a2 - a2) + (a3 - a3)
        i += 4
    while i < n:
        a = abs(wrow[i])
        m0 = a if a > m0 else m0
        bad += a - a
        i += 1
    if bad == 0.0:
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        return m2 if m2 > m0 else m0
    m = 0.0  # a NaN or an infinity: NumPy's rule, value by value
    for i in range(n):
        a = abs(wrow[i])
        if a != a:
            return a
        m = a if a > m else m
    return m


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


@njit(cache=True, error_model="numpy", inline="always")
def _corr_from_sums(sxy, sxx, syy):  # pragma: no cover - compiled
    """``sxy / sqrt(sxx · syy)`` from centred sums; NaN when undefined. Square root of each factor: the
    product of two tiny sums of squares can underflow to 0."""
    denom = np.sqrt(sxx) * np.sqrt(syy)
    if not denom > 0.0 or not np.isfinite(denom):
        return np.nan
    return sxy / denom


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _pearson_masked(x, y):
    """``(m, Pearson correlation)`` of ``x``, ``y`` (N,) over the ``m`` columns where ``x`` is not NaN and
    ``y`` is finite; NaN when undefined. Branch-free masked sums that LLVM vectorizes (``_REDUCE``): no
    compaction of the pairs."""
    N = x.shape[0]
    m = 0
    sx = 0.0
    sy = 0.0
    for i in range(N):
        p = (not np.isnan(x[i])) & np.isfinite(y[i])
        m += p
        sx += x[i] if p else 0.0
        sy += y[i] if p else 0.0
    if m < 3:
        return m, np.nan
    mx = sx / m
    my = sy / m
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(N):
        p = (not np.isnan(x[i])) & np.isfinite(y[i])
        dx = x[i] - mx if p else 0.0
        dy = y[i] - my if p else 0.0
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    return m, _corr_from_sums(sxy, sxx, syy)


@njit(cache=True, error_model="numpy")
def _backtest_chunk(
    c, chunk, signal, returns, universe, gcode, G, demean, decay, lag, truncation, min_stocks,
    weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid, max_weight,
):
    """Process the signal days of chunk ``c`` (``[c·chunk, (c+1)·chunk)``) in order, writing the outputs.

    Passes over a day's row (all but the group sums of several groups vectorized, see ``_REDUCE``):
    (1) signal and universe → processed value, counts, gross (after the decay passes when
    ``decay > 1``); (2) group sums (``demean`` only); (3) the unscaled, neutralized book, its gross and
    largest weight; (4) scale and write the book, its PnL and counts; (5) turnover against the row
    before and the written book's largest ``|w|`` (both in L1). Truncation adds passes only on days where
    the cap binds.
    """
    T, N = signal.shape
    t0 = c * chunk
    t1 = min(T, t0 + chunk)
    s = np.empty(N)
    den = np.empty(N)
    w = np.empty(N)
    capped = np.zeros(N, dtype=np.bool_)
    gsum = np.zeros(G)
    gcnt = np.zeros(G, dtype=np.int64)
    gmean = np.zeros(G)
    for t in range(t0, t1):
        d = t + lag
        if decay > 1:
            _day_signal(signal, universe, t, decay, s, den)
            n_valid, n_univ, raw_gross = _row_valid(s, universe[t], s)
        else:
            n_valid, n_univ, raw_gross = _row_valid(signal[t], universe[t], s)
        valid[t] = n_valid
        if d < T:
            coverage[d] = n_valid / n_univ if n_univ > 0 else 0.0
        traded = False
        inv = 1.0
        if n_valid < min_stocks:
            status[t] = STATUS_FEW_STOCKS
        else:
            if raw_gross > 0.0 and not (_GROSS_LO <= raw_gross <= _GROSS_HI):
                raw_gross = _row_rescale(s)  # overflowing or subnormal day: same book, normal numbers
            for g in range(G):
                gmean[g] = 0.0
            if demean:
                if G == 1:
                    tot, cnt = _row_sum_known(s, gcode)
                    gmean[0] = tot / cnt if cnt > 0 else 0.0
                else:
                    for g in range(G):
                        gsum[g] = 0.0
                        gcnt[g] = 0
                    for i in range(N):  # branch-free: +0.0 leaves a sum (never -0.0) unchanged
                        g = gcode[i]
                        ok = g >= 0 and not np.isnan(s[i])
                        gg = g if g >= 0 else 0
                        gsum[gg] += s[i] if ok else 0.0
                        gcnt[gg] += ok
                    for g in range(G):
                        gmean[g] = gsum[g] / gcnt[g] if gcnt[g] > 0 else 0.0
            gross, amax = _row_book(s, gcode, gmean, w)
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
        wrow = weights[t]
        if not traded:
            for i in range(N):
                wrow[i] = 0.0
        elif d < T:
            p, nl, ns, nn = _row_trade(w, inv, wrow, returns[d])
            pnl[d] = p
            n_long[d] = nl
            n_short[d] = ns
            nan_held[d] = nn
        else:
            for i in range(N):
                wrow[i] = w[i] * inv
        if t > t0 and d < T:  # the row t-1 of another chunk may not be written yet
            turnover[d] = _row_turnover(wrow, weights[t - 1])
        max_weight[t] = _row_abs_max(wrow)


@njit(cache=True, error_model="numpy")
def _chunk_starts_turnover(weights, turnover, chunk, n_chunks, lag):
    """Turnover of the first day of each chunk, whose previous book belongs to another chunk."""
    T, N = weights.shape
    cash = np.zeros(N)
    for c in range(n_chunks):
        t = c * chunk
        d = t + lag
        if t >= T or d >= T:
            continue
        turnover[d] = _row_turnover(weights[t], weights[t - 1] if t > 0 else cash)


def _backtest_body(
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
):  # pragma: no cover - compiled
    """Build the daily books and their gross PnL, chunks of days in parallel (``backtest_kernel``) or in
    order on one thread (``backtest_kernel_serial``); both give the same bits.

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
        coverage (finite signal / universe size); plus by signal day: status codes, valid counts and
        the book's largest ``|w|`` (NaN when the book holds a NaN: ``np.abs(weights).max(axis=1)``).
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
    max_weight = np.zeros(T)
    lag = delay + 1
    chunk = (T + n_chunks - 1) // n_chunks
    G = max(n_groups, 1)
    for c in prange(n_chunks):
        _backtest_chunk(
            c, chunk, signal, returns, universe, gcode, G, demean, decay, lag, truncation, min_stocks,
            weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid, max_weight,
        )
    _chunk_starts_turnover(weights, turnover, chunk, n_chunks, lag)
    return weights, pnl, turnover, n_long, n_short, nan_held, coverage, status, valid, max_weight


backtest_kernel, backtest_kernel_serial = twin(_backtest_body)


# --------------------------------------------------------------------------------------------------
# IC. The rank IC sorts order keys (the same idea as ``alpha_env.ops.crosssection.rank``): a float maps
# to an order-preserving uint64 whose low ``bits`` are replaced by the column, so a plain integer sort
# orders a day's pairs; runs of keys that share their high bits (ties, values a few ulps apart, -0/0)
# are decoded and ordered by their real values. Average ranks and tie groups equal those of a stable
# sort of the values (ties share their mean 1-based rank).
# --------------------------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def _pair_keys(signal, returns, universe, decay, t, d, bits, s, kx, ky, den):
    """Processed signal of day ``t`` into ``s`` (N,) and the order keys of the pairs (signal of ``t``,
    ``returns[d]``) where both are finite into ``kx``, ``ky`` (N,); other columns get keys that sort
    last; ``den`` (N,) is scratch. Returns the number of pairs."""
    N = signal.shape[1]
    _day_signal(signal, universe, t, decay, s, den)
    low = np.uint64((1 << bits) - 1)
    high = ~low
    sb = s.view(np.uint64)
    rb = returns[d].view(np.uint64)
    m = 0
    for i in range(N):
        r = returns[d, i]
        if not np.isnan(s[i]) and np.isfinite(r):
            kx[i] = order_key(sb[i], high, i)
            ky[i] = order_key(rb[i], high, i)
            m += 1
        else:
            kx[i] = high | np.uint64(i)
            ky[i] = high | np.uint64(i)
    return m


@njit(cache=True, error_model="numpy", inline="always")
def _tie_end(vals, a, n):  # pragma: no cover - compiled
    """End (exclusive) of the tie group that starts at ``a`` in the decoded run ``vals[:n]`` (value order)."""
    v = vals[a]
    b = a + 1
    while b < n and vals[b] == v:
        b += 1
    return b


@njit(cache=True, error_model="numpy", inline="always")
def _run_ranks(vals, ix, n, pos, out):  # pragma: no cover - compiled
    """Average 1-based ranks of a decoded run of ``n`` values in value order (``vals``, their columns
    ``ix``) at positions ``pos .. pos + n - 1``, by column into ``out``: a tie group shares its mean rank."""
    a = 0
    while a < n:
        b = _tie_end(vals, a, n)
        r = 0.5 * ((pos + a) + (pos + b - 1)) + 1.0
        for q in range(a, b):
            out[ix[q]] = r
        a = b


@njit(cache=True, error_model="numpy")
def _ranks_from_keys(kr, vals_row, m, bits, out, ix, vals):
    """Average 1-based ranks of the ``m`` valid pairs from a sorted key row, by column, into ``out``
    (N,); NaN for the other columns. ``vals_row`` (N,) holds the values by column; ``ix``, ``vals`` (N,)
    are scratch."""
    low = np.uint64((1 << bits) - 1)
    high = ~low
    N = kr.shape[0]
    for q in range(m, N):
        out[np.int64(kr[q] & low)] = np.nan
    i = 0
    while i < m:
        if i + 1 == m or not linked(kr[i] & high, kr[i + 1] & high, high):
            out[np.int64(kr[i] & low)] = 0.5 * (i + i) + 1.0
            i += 1
            continue
        k = take_run(vals_row, kr, i, m, high, low, ix, vals)  # decoded, stably ordered by value
        _run_ranks(vals, ix, k - i, i, out)
        i = k


#: Up to this many pairs, every sum of :func:`_pearson_ranks` is exact in float64.
_EXACT_RANK_SUMS = 100_000


@njit(cache=True, error_model="numpy")
def _pearson_ranks(x, y, m):
    """Pearson correlation of average ranks ``x``, ``y`` over the columns where ``x`` is not NaN (``m``).

    The Pearson correlation of the pairs, bit for bit in any summation order: ranks are multiples of 1/2, so
    ``sum(x) = m(m+1)/2`` exactly, the mean is exactly ``(m+1)/2``, and every deviation, product and sum
    below is a multiple of 1/4 under 2^51, i.e. exact in any order. One pass instead of two.
    """
    if m < 3:
        return np.nan
    N = x.shape[0]
    if m > _EXACT_RANK_SUMS:  # sums no longer provably exact: the two-pass reference order
        mx = 0.0
        my = 0.0
        for j in range(N):
            if not np.isnan(x[j]):
                mx += x[j]
                my += y[j]
        mx /= m
        my /= m
    else:
        mx = 0.5 * (m * (m + 1)) / m
        my = mx
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for j in range(N):
        if not np.isnan(x[j]):
            dx = x[j] - mx
            dy = y[j] - my
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
    return _corr_from_sums(sxy, sxx, syy)


@njit(cache=True, error_model="numpy")
def _rank_ic_from_sorted(kx, ky, vx, returns, d, m, bits, rx, ry, ix, vals):
    """Spearman IC of one day from its sorted key rows (``vx``: processed signal by column)."""
    if m < 3:
        return np.nan
    _ranks_from_keys(kx, vx, m, bits, rx, ix, vals)
    _ranks_from_keys(ky, returns[d], m, bits, ry, ix, vals)
    return _pearson_ranks(rx, ry, m)


@njit(cache=True, error_model="numpy")
def _ic_day(signal, returns, universe, decay, t, d, s, xs, den):
    """Pearson IC of the processed signal of day ``t`` with ``returns[d]`` (NaN when undefined);
    ``s``, ``xs``, ``den`` (N,) are scratch."""
    _day_signal(signal, universe, t, decay, s, den)
    return _ic_of_day_signal(s, returns, d, xs)


@njit(cache=True, error_model="numpy")
def _ic_of_day_signal(s, returns, d, xs):
    """Pearson IC of a processed day signal ``s`` (N,) with ``returns[d]`` over the stocks where both are
    finite (NaN when undefined); ``xs`` (N,) is scratch. The one per-day rule of every Pearson IC
    (``ic_kernel``, ``ic_days``, :class:`~alpha_env.backtest.return_ranks.ReturnRanks`)."""
    y = returns[d]
    m, ic = _pearson_masked(s, y)
    if ic != ic and m >= 3:  # undefined: maybe only because the sums of squares over/underflowed
        amax = 0.0
        for i in range(s.shape[0]):  # the pairs' signal, NaN elsewhere
            pair = not np.isnan(s[i]) and np.isfinite(y[i])
            xs[i] = s[i] if pair else np.nan
            a = abs(xs[i])
            amax = a if a > amax else amax  # NaN compares false: skipped
        if amax > 0.0 and not (_IC_LO <= amax <= _IC_HI):
            _row_rescale(xs)  # the correlation is scale-free
            ic = _pearson_masked(xs, y)[1]
    return ic


@njit(cache=True, error_model="numpy")
def _ic_chunk(c, chunk, signal, returns, universe, decay, lag, ranked, bits, out):
    """IC of the signal days of chunk ``c``, with scratch buffers allocated once for the chunk."""
    T, N = signal.shape
    t0 = c * chunk
    t1 = min(T - lag, t0 + chunk)
    s = np.empty(N)
    a = np.empty(N)
    b = np.empty(N)
    den = np.empty(N)
    if not ranked:
        for t in range(t0, t1):
            out[t + lag] = _ic_day(signal, returns, universe, decay, t, t + lag, s, a, den)
        return
    kx = np.empty(N, np.uint64)
    ky = np.empty(N, np.uint64)
    ix = np.empty(N, np.int64)
    vals = np.empty(N)
    for t in range(t0, t1):
        m = _pair_keys(signal, returns, universe, decay, t, t + lag, bits, s, kx, ky, den)
        kx.sort()
        ky.sort()
        out[t + lag] = _rank_ic_from_sorted(kx, ky, s, returns, t + lag, m, bits, a, b, ix, vals)


def _ic_body(signal, returns, universe, decay, delay, ranked):  # pragma: no cover - compiled
    """Daily IC by holding day: correlation of the processed signal of day ``d-delay-1`` (decayed,
    universe-masked, not neutralized) with ``returns[d]`` over the stocks where both are finite.

    ``ranked=False`` gives Pearson IC, ``True`` Spearman rank IC (average ranks for ties). NaN on days
    with fewer than 3 pairs or no spread. Chunks of days in parallel (``ic_kernel``) or in order
    (``ic_kernel_serial``); every day is computed alone, so both give the same bits. (For the rank IC of
    a whole panel :func:`rank_ic_series` is faster: it sorts with NumPy's SIMD sort.)
    """
    T, N = signal.shape
    out = np.full(T, np.nan)
    lag = delay + 1
    days = max(T - lag, 0)
    bits = _index_bits(N)
    n_chunks = max(1, min(days, 64))
    chunk = (days + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        _ic_chunk(c, chunk, signal, returns, universe, decay, lag, ranked, bits, out)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _index_bits(n):
    """Low key bits that hold a column index ``0 .. n-1`` (at least 1)."""
    bits = 1
    while (1 << bits) < n:
        bits += 1
    return bits


ic_kernel, ic_kernel_serial = twin(_ic_body)


@njit(cache=True, error_model="numpy")
def ic_days(signal, returns, universe, decay, delay, start, stop):  # pragma: no cover - compiled
    """Pearson IC of the holding days ``start .. stop - 1`` only (NaN elsewhere), one thread: bit for bit
    ``ic_kernel(..., ranked=False)`` on those days (every day is computed alone)."""
    T, N = signal.shape
    out = np.full(T, np.nan)
    lag = delay + 1
    s = np.empty(N)
    a = np.empty(N)
    den = np.empty(N)
    for d in range(max(start, lag), min(stop, T)):
        out[d] = _ic_day(signal, returns, universe, decay, d - lag, d, s, a, den)
    return out


def _rank_ic_keys_body(signal, returns, universe, decay, lag, bits, t0, kx, ky, vx, m,
                       n_chunks):  # pragma: no cover - compiled
    """Order keys (and processed signal) of the signal days ``t0 .. t0 + D - 1`` into rows ``0 .. D-1``."""
    D, N = kx.shape
    chunk = (D + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        den = np.empty(N)
        for r in range(c * chunk, min(D, (c + 1) * chunk)):
            t = t0 + r
            m[r] = _pair_keys(signal, returns, universe, decay, t, t + lag, bits, vx[r], kx[r], ky[r], den)


def _rank_ic_decode_body(kx, ky, vx, returns, lag, bits, t0, m, out, n_chunks):  # pragma: no cover - compiled
    """Average ranks and their Pearson correlation of each day's sorted key rows into ``out``."""
    D, N = kx.shape
    chunk = (D + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        rx = np.empty(N)
        ry = np.empty(N)
        ix = np.empty(N, np.int64)
        vals = np.empty(N)
        for r in range(c * chunk, min(D, (c + 1) * chunk)):
            d = t0 + r + lag
            out[d] = _rank_ic_from_sorted(kx[r], ky[r], vx[r], returns, d, m[r], bits, rx, ry, ix, vals)


_rank_ic_keys, _rank_ic_keys_serial = twin(_rank_ic_keys_body)
_rank_ic_decode, _rank_ic_decode_serial = twin(_rank_ic_decode_body)


#: Signal days per block of :func:`rank_ic_series` (its key and value buffers stay in cache).
_RANK_IC_BLOCK_CELLS = 1 << 16


def rank_ic_series(
    signal: np.ndarray,
    returns: np.ndarray,
    universe: np.ndarray,
    decay: int,
    delay: int,
    parallel: bool = False,
) -> np.ndarray:
    """Spearman rank IC by holding day, identical to ``ic_kernel(..., ranked=True)`` (bit for bit).

    Builds the order keys of a block of days in one Numba pass, sorts them (:func:`sort_key_rows`: NumPy's
    SIMD row sort of 32-bit coarse keys, refined),
    and decodes average ranks and the Pearson correlation of the ranks in a second pass; buffers are
    allocated once per call and reused across blocks.

    Args:
        signal, returns: ``(T, N)`` float64 C-contiguous. universe: ``(T, N)`` bool.
        decay, delay: the backtest settings. parallel: run the Numba passes on all threads.

    Returns:
        ``(T,)`` float64 by holding day, NaN where undefined (first ``delay + 1`` days, < 3 pairs).
    """
    T, N = signal.shape
    out = np.full(T, np.nan)
    lag = delay + 1
    days = max(T - lag, 0)
    if days == 0 or N == 0:
        return out
    signal, returns, universe = read_only(signal), read_only(returns), read_only(universe)
    bits = max(1, int(N - 1).bit_length())
    block = max(1, min(days, _RANK_IC_BLOCK_CELLS // N))
    kx = np.empty((block, N), np.uint64)
    ky = np.empty((block, N), np.uint64)
    vx = np.empty((block, N))
    m = np.empty(block, np.int64)
    n_chunks = max(1, min(block, 4 * numba.get_num_threads()))
    keys, decode = (_rank_ic_keys, _rank_ic_decode) if parallel else (_rank_ic_keys_serial,
                                                                        _rank_ic_decode_serial)
    for t0 in range(0, days, block):
        D = min(block, days - t0)
        bx, by, bv, bm = kx[:D], ky[:D], vx[:D], m[:D]
        chunks = min(n_chunks, D) if parallel else 1
        keys(signal, returns, universe, decay, lag, bits, t0, bx, by, bv, bm, chunks)
        sort_key_rows(bx, bits, parallel)
        sort_key_rows(by, bits, parallel)
        decode(bx, by, bv, returns, lag, bits, t0, bm, out, chunks)
    return out
