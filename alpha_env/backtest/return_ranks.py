"""The rank IC with the forward returns' side sorted once per panel (:class:`ReturnRanks`).

A day's Spearman IC ranks the processed signal of signal day ``t`` and ``returns[d]`` (``d = t + lag``)
over the stocks where both are known. Those pairs are always a subset of the day's *base set*: stocks in
``universe[t]`` (outside it the processed signal is NaN) with a finite return. :class:`ReturnRanks`
sorts the return keys of every day's base set once and decodes their average ranks; a signal then
needs only its own sort:

- when the pairs are the whole base set (the usual case), the cached return ranks are the day's ranks;
- otherwise the pairs' return ranks come from one walk along the cached sorted keys that skips the
  other stocks (a subsequence of a sorted row is sorted: no sort, only the decode).

The signal side sorts 32-bit *coarse* keys (:func:`~alpha_env.ops.sortkeys.coarse_key`: the order key's
top bits, then the column) with NumPy's SIMD row sort and walks them directly: a run of equal coarse top
bits (ties, or values within a ``2**(bits - 21)`` relative band) is decoded and ordered by real value
there, so the 64-bit keys are never built, refined or sorted. The Spearman sums are exact (ranks are
multiples of 1/2, every sum a multiple of 1/4 under 2**51), so they are taken as raw sums in vectorized
passes (positions times return ranks, corrected on the runs) and still give the same bits as
:func:`alpha_env.backtest.kernels.rank_ic_series` (its keys, decode and Pearson of ranks);
``tests/test_backtest_return_ranks.py`` checks it. Rows wider than ``2**COARSE_MAX_BITS`` columns use the
engine's kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.backtest.kernels import (
    _EXACT_RANK_SUMS,
    _RANK_IC_BLOCK_CELLS,
    _corr_from_sums,
    _day_signal,
    _ic_of_day_signal,
    _ranks_from_keys,
    _run_ranks,
    _tie_end,
    _undecayed,
    ic_kernel,
    ic_kernel_serial,
    rank_ic_series,
)
from alpha_env.ops.sortkeys import (
    COARSE_MAX_BITS,
    coarse_key,
    coarse_linked,
    coarse_zero_bits,
    linked,
    order_key,
    sort_key_rows,
    sort_pairs,
)
from alpha_env.ops.threads import read_only, row_chunks, twin

__all__ = ["ReturnRanks"]


def _base_keys_body(returns, universe, lag, bits, kr, mb, n_chunks):  # pragma: no cover - compiled
    """Order keys of each holding day's base set (universe of ``d - lag``, finite return) into ``kr``
    (rows by holding day; other columns get keys that sort last) and the set sizes into ``mb``."""
    T, N = returns.shape
    low = np.uint64((1 << bits) - 1)
    high = ~low
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for d in range(c * chunk, min(T, (c + 1) * chunk)):
            m = 0
            rb = returns[d].view(np.uint64)
            for i in range(N):
                r = returns[d, i]
                if d >= lag and universe[d - lag, i] and np.isfinite(r):
                    kr[d, i] = order_key(rb[i], high, i)
                    m += 1
                else:
                    kr[d, i] = high | np.uint64(i)
            mb[d] = m


def _base_ranks_body(kr, returns, mb, bits, ranks, n_chunks):  # pragma: no cover - compiled
    """Average ranks of each day's base set from its sorted key row (NaN outside the set)."""
    T, N = kr.shape
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        ix = np.empty(N, np.int64)
        vals = np.empty(N)
        for d in range(c * chunk, min(T, (c + 1) * chunk)):
            _ranks_from_keys(kr[d], returns[d], mb[d], bits, ranks[d], ix, vals)


_base_keys, _base_keys_serial = twin(_base_keys_body)
_base_ranks, _base_ranks_serial = twin(_base_ranks_body)


@njit(cache=True, error_model="numpy")
def _base_runs(kr, mb, bits):  # pragma: no cover - compiled
    """The runs of linked keys (values that may tie) of every day's sorted base-set key row ``kr[d, :mb[d]]``:
    ``(run_at, runs)``, day ``d``'s runs being ``runs[run_at[d]:run_at[d + 1]]`` as ``[start, end)``
    positions. ``run_at`` ``(T + 1,)`` int64, ``runs`` ``(R, 2)`` int64 (at least one row)."""
    T = kr.shape[0]
    low = np.uint64((1 << bits) - 1)
    high = ~low
    run_at = np.zeros(T + 1, np.int64)
    runs = np.empty((1, 2), np.int64)
    for fill in range(2):  # count, then fill
        if fill:
            runs = np.empty((max(run_at[T], 1), 2), np.int64)
        for d in range(T):
            k = run_at[d]
            row = kr[d]
            q = 0
            while q + 1 < mb[d]:
                if not linked(row[q] & high, row[q + 1] & high, high):
                    q += 1
                    continue
                e = q + 2
                while e < mb[d] and linked(row[e - 1] & high, row[e] & high, high):
                    e += 1
                if fill:
                    runs[k, 0] = q
                    runs[k, 1] = e
                k += 1
                q = e
            if not fill:
                run_at[d + 1] = k
    return run_at, runs


@njit(cache=True, error_model="numpy", inline="always")
def _centred_squares(m, ties):  # pragma: no cover - compiled
    """``sum (rank - (m + 1) / 2)**2`` of the average ranks of ``m`` values whose tie groups have sizes
    ``g`` with ``ties = sum (g**3 - g)``: ``(m**3 - m - ties) / 12``, exact (an integer multiple of 1/2
    under 2**51 for ``m <= 2**16``)."""
    return (m * m * m - m - ties) / 12.0


@njit(cache=True, error_model="numpy")
def _subset_ranks(kb, s, r, mb, bits, runs, ry, ix, vals):  # pragma: no cover - compiled
    """Average 1-based ranks of the returns ``r`` among the pairs (the base-set columns where the processed
    signal ``s`` is not NaN), by column into ``ry``, in one walk along the base set's sorted keys ``kb``
    (``mb`` of them) that skips the other columns; ``runs`` ``(k, 2)``: the day's runs of linked base keys
    (``[start, end)``, in order); ``ix``, ``vals`` (N,) scratch. Returns the number of pairs and the
    centred sum of squares of their ranks. Other base columns get a number in ``ry`` that means nothing.

    The pairs' keys in base order are the pairs' sorted keys (a subsequence of a sorted row is sorted), and
    a run of linked keys among them is the pairs of one run of linked base keys (keys sort by their high
    bits, and ``-0.0``/``0.0`` are adjacent), so the ranks are :func:`_ranks_from_keys`' on those keys.
    Between the runs a pair's rank is its position among the pairs (a branch-free stretch).
    """
    low = np.uint64((1 << bits) - 1)
    pos = 0  # pairs ranked so far
    ties = 0  # sum over tie groups of g**3 - g
    q = 0
    for u in range(runs.shape[0] + 1):
        a = runs[u, 0] if u < runs.shape[0] else mb
        for p in range(q, a):  # single keys: the position among the pairs
            j = np.int64(kb[p] & low)
            ry[j] = pos + 1.0
            pos += not np.isnan(s[j])
        if u == runs.shape[0]:
            break
        e = runs[u, 1]
        k = 0
        in_order = True
        for p in range(a, e):  # the run's pairs, decoded in key order (take_run's order check)
            j = np.int64(kb[p] & low)
            if not np.isnan(s[j]):
                v = r[j]
                ix[k] = j
                vals[k] = v
                in_order = in_order and not (k > 0 and vals[k - 1] > v)
                k += 1
        if not in_order:
            sort_pairs(vals, ix, k)
        _run_ranks(vals, ix, k, pos, ry)
        a = 0
        while a < k:  # the run's tie groups, for the centred sum of squares
            g = _tie_end(vals, a, k) - a
            ties += g * g * g - g
            a += g
        pos += k
        q = e
    return pos, _centred_squares(pos, ties)


#: A run of coarse keys out of value order up to this long is put in order by insertion sort; a longer
#: one (a narrow band of distinct values) by a merge sort.
_INSERTION_RUN = 32
#: A run of coarse keys longer than this is first checked for one tie group (vectorized); a shorter one
#: (often a few distinct values in one coarse band) goes straight to the decode.
_SHORT_RUN = 8


@njit(cache=True, error_model="numpy", inline="always")
def _bits_end(kc, i, m, high, h):  # pragma: no cover - compiled
    """End (exclusive) of the block of sorted coarse keys from ``i`` whose high bits are ``h`` (``kc[i]``'s),
    within ``kc[:m]``: an exponential then a binary search, so a long run of ties costs O(log n)."""
    lo = i
    step = 1
    hi = i + 1
    while hi < m and (kc[hi] & high) == h:
        lo = hi
        step *= 2
        hi = lo + step
    hi = min(hi, m)
    while hi - lo > 1:  # kc[lo] has the bits h; kc[hi] does not (or hi == m)
        mid = (lo + hi) // 2
        if (kc[mid] & high) == h:
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _position_sums(kc, m, low, ry):  # pragma: no cover - compiled
    """``sum (i + 1) * ry[col_i]`` over the first ``m`` sorted coarse keys ``kc`` (column ``col_i = kc[i] &
    low``). Every term is a multiple of 1/2 and every partial sum one under 2**51, so the sum is exact in
    any order: ``reassoc`` lets LLVM vectorize it (gathers) without changing a bit."""
    sxy = 0.0
    for i in range(m):
        sxy += np.float64(np.int32(i + 1)) * ry[np.int64(kc[i] & low)]
    return sxy


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _tie_run_term(kc, i, k, low, vals_row, ry, r):  # pragma: no cover - compiled
    """For the run of sorted coarse keys ``kc[i:k]``: ``(sum (r - (p + 1)) * ry[col_p], number of values
    unequal to the first)`` over its positions ``p`` (``col_p = kc[p] & low``; values by column in
    ``vals_row``). When the run is one tie group of mean rank ``r``, the first is what turns its positional
    terms into rank terms. Exact sums, so ``reassoc`` (vectorized gathers) changes no bit."""
    v0 = vals_row[np.int64(kc[i] & low)]
    term = 0.0
    unequal = 0
    for p in range(i, k):
        j = np.int64(kc[p] & low)
        term += (r - np.float64(np.int32(p + 1))) * ry[j]
        unequal += vals_row[j] != v0
    return term, unequal


@njit(cache=True, error_model="numpy", inline="always")
def _may_link(h, h_next, negz):  # pragma: no cover - compiled
    """Whether sorted coarse keys with high parts ``h``, ``h_next`` may be linked (a superset of
    :func:`~alpha_env.ops.sortkeys.coarse_linked`: equal high parts, or ``h`` is ``-0.0``'s), branch-free."""
    return (h == h_next) | (h == negz)


@njit(cache=True, error_model="numpy", inline="always")
def _link_candidates(kc, m, high, negz, at):  # pragma: no cover - compiled
    """The positions ``p < m - 1`` of the sorted coarse keys ``kc`` whose key may link to the next (equal
    high bits, or the high bits of ``-0.0``), in order, into ``at``; returns their number. One branch-free
    pass (``m >= 1``)."""
    c = 0
    hp = kc[0] & high
    for p in range(m - 1):
        hn = kc[p + 1] & high
        at[c] = p
        c += _may_link(hp, hn, negz)
        hp = hn
    return c


@njit(cache=True, error_model="numpy")
def _spearman_coarse(kc, vals_row, m, bits, ry, syy, ix, vals, at, sparse):  # pragma: no cover - compiled
    """``(Spearman correlation, keys in runs after each run's first)`` of the ``m`` pairs from the signal's
    sorted coarse key row ``kc`` (values by column in ``vals_row``) and the returns' average ranks by
    column ``ry``; ``syy`` is the returns' centred sum of squares over the pairs.

    The sums are raw sums, exact (ranks are multiples of 1/2, ``m <= _EXACT_RANK_SUMS``), so the centred
    sums derived from them are ``_pearson_ranks``' bits: ``sxy = sum rx * ry - m * mx * my`` with ``rx``
    the position ``i + 1`` (one vectorized pass, :func:`_position_sums`) corrected on the runs of linked
    coarse keys (:func:`~alpha_env.ops.sortkeys.coarse_linked`; decoded and ordered by value, a tie group
    sharing its mean rank), and ``sxx`` from the tie groups' sizes (:func:`_centred_squares`). A run of
    equal values (one tie group, the usual run) is corrected straight from the keys.

    The runs are found one of two ways, with the same result: ``sparse`` (a row of mostly distinct values)
    lists the keys that may link first (:func:`_link_candidates`, branch-free) and visits only those;
    otherwise the keys are stepped through four at a time, a run skipped whole by a search for its end
    (rows of heavy ties, few long runs). The caller picks by the previous row's count of keys in runs after
    each run's first (the second result). ``ix``, ``vals``, ``at`` (N,) scratch.
    """
    low = np.uint32((1 << bits) - 1)
    high = np.uint32(0xFFFFFFFF) & ~low
    sxy = _position_sums(kc, m, low, ry)
    ties = 0  # sum over tie groups of g**3 - g (exact in int64: g <= 2**16)
    negz, posz = coarse_zero_bits(high)  # -0.0's run links to 0.0's
    c = _link_candidates(kc, m, high, negz, at) if sparse else 0
    u = 0  # the next candidate in at[:c] (not q: the run's loops below use q)
    inner = 0  # keys in runs, after each run's first
    i = 0
    while i + 1 < m:
        if sparse:  # on to the next key that may link (the keys between link to nothing)
            while u < c and at[u] < i:
                u += 1
            if u == c:
                break
            i = at[u]
        elif i + 4 < m:  # four keys at a time while no link (nor a -0.0 that may link) is among them
            h0 = kc[i] & high
            h1 = kc[i + 1] & high
            h2 = kc[i + 2] & high
            h3 = kc[i + 3] & high
            h4 = kc[i + 4] & high
            if not (_may_link(h0, h1, negz) | _may_link(h1, h2, negz) | _may_link(h2, h3, negz)
                    | _may_link(h3, h4, negz)):
                i += 4
                continue
        h = kc[i] & high
        if not coarse_linked(h, kc[i + 1] & high, high):
            i += 1
            continue
        k = _bits_end(kc, i, m, high, h)
        if h == negz and k < m and (kc[k] & high) == posz:
            k = _bits_end(kc, k, m, high, posz)
        n = k - i
        inner += n - 1
        if n == 2:  # the usual run of near values: swap or tie the two positions' ranks in place
            j0 = np.int64(kc[i] & low)
            j1 = np.int64(kc[i + 1] & low)
            v0 = vals_row[j0]
            v1 = vals_row[j1]
            if v0 > v1:  # ranks i + 2 and i + 1 instead of i + 1 and i + 2
                sxy += ry[j0] - ry[j1]
            elif v0 == v1:  # both i + 1.5
                sxy += 0.5 * (ry[j0] - ry[j1])
                ties += 6
            i = k
            continue
        if n > _SHORT_RUN:
            r = 0.5 * ((i + 1) + k)  # the mean rank of positions i + 1 .. k
            term, unequal = _tie_run_term(kc, i, k, low, vals_row, ry, r)
            if unequal == 0:  # one tie group: the positional terms become mean-rank terms
                sxy += term
                ties += n * n * n - n
                i = k
                continue
        in_order = True
        for q in range(n):  # decode (positional terms out), order by value, tie groups' terms in
            j = np.int64(kc[i + q] & low)
            v = vals_row[j]
            sxy -= (i + q + 1) * ry[j]
            ix[q] = j
            vals[q] = v
            in_order = in_order and not (q > 0 and vals[q - 1] > v)
        if not in_order:
            if n <= _INSERTION_RUN:
                sort_pairs(vals, ix, n)
            else:
                order = np.argsort(vals[:n], kind="mergesort")
                vals[:n] = vals[:n][order]
                ix[:n] = ix[:n][order]
        a = 0
        while a < n:
            b = _tie_end(vals, a, n)
            r = 0.5 * ((i + a) + (i + b - 1)) + 1.0
            for q in range(a, b):
                sxy += r * ry[ix[q]]
            g = b - a
            ties += g * g * g - g
            a = b
        i = k
    mean = 0.5 * (m * (m + 1)) / m
    sxy -= m * mean * mean
    return _corr_from_sums(sxy, _centred_squares(m, ties), syy), inner


def _signal_keys_body(signal, returns, universe, decay, lag, bits, t0, kc, vx, m, ic,
                      n_chunks):  # pragma: no cover - compiled
    """For each signal day ``t = t0 + r``: its processed signal (decay, universe) into ``vx[r]``, the coarse
    keys of its pairs (processed signal and ``returns[t + lag]`` both finite) into ``kc[r]`` (the other
    columns get keys that sort last), their number into ``m[r]``, and, when ``ic`` is ``(T,)`` (not
    empty), the holding day's Pearson IC into ``ic[t + lag]``: ``ic_kernel``'s per-day rule on the same
    pairs. The key loop is branch-free (a key is written for every column); without decay it also makes
    the processed signal."""
    D, N = kc.shape
    want_ic = ic.shape[0] > 0
    low = np.uint64((1 << bits) - 1)
    high = ~low
    high32 = np.uint64(0xFFFFFFFF) & high
    chunk = (D + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        den = np.empty(N)
        xs = np.empty(N)
        for r in range(c * chunk, min(D, (c + 1) * chunk)):
            t = t0 + r
            d = t + lag
            s = vx[r]
            y_row = returns[d]
            k_row = kc[r]
            if decay > 1:
                _day_signal(signal, universe, t, decay, s, den)
            n = 0
            for i in range(N):
                x = _undecayed(signal[t, i], universe[t, i]) if decay <= 1 else s[i]
                s[i] = x
                pair = not np.isnan(x) and np.isfinite(y_row[i])
                key = np.uint32(coarse_key(order_key(np.float64(x).view(np.uint64), high, i), high32, low))
                k_row[i] = key if pair else np.uint32(high32 | np.uint64(i))
                n += pair
            m[r] = n
            if want_ic:
                ic[d] = _ic_of_day_signal(s, returns, d, xs)


def _decode_body(kc, vx, kb, rb, mb, syy, run_at, runs, returns, lag, bits, t0, m, out,
                 n_chunks):  # pragma: no cover - compiled
    """Spearman IC of each day from the signal's sorted coarse key rows and the cached return side (``syy``:
    each holding day's centred sum of squares of its base-set ranks). A day is walked the sparse way
    (:func:`_spearman_coarse`) unless half or more of the previous day's keys followed another key in a run
    (heavy ties: price-level signals, ``rank`` of a few values, ``ts_argmax``), which are stepped through."""
    D, N = kc.shape
    chunk = (D + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        ry = np.empty(N)
        ix = np.empty(N, np.int64)
        vals = np.empty(N)
        at = np.empty(N, np.int64)
        sparse = True
        for r in range(c * chunk, min(D, (c + 1) * chunk)):
            d = t0 + r + lag
            mr = m[r]
            if mr < 3:
                out[d] = np.nan
                continue
            if mr == mb[d]:  # the pairs are the whole base set: its ranks are the day's ranks
                ry_d, syy_d = rb[d], syy[d]
            else:
                day_runs = runs[run_at[d]:run_at[d + 1]]
                syy_d = _subset_ranks(kb[d], vx[r], returns[d], mb[d], bits, day_runs, ry, ix, vals)[1]
                ry_d = ry
            out[d], inner = _spearman_coarse(kc[r], vx[r], mr, bits, ry_d, syy_d, ix, vals, at, sparse)
            sparse = 2 * inner < mr


_signal_keys, _signal_keys_serial = twin(_signal_keys_body)
_decode, _decode_serial = twin(_decode_body)


class ReturnRanks:
    """The return side of the rank IC of one panel, sorted once: every holding day's base set (stocks in
    the universe of the signal day, finite return), its sorted order keys and its average ranks.

    Args:
        returns: ``(T, N)`` float64 C-contiguous returns as the backtest books them (cleaned when the
            settings clean them).
        universe: ``(T, N)`` bool universe the backtests of this panel use.
        lag: ``delay + 1`` (days from signal day to holding day).
        parallel: run the passes on all Numba threads.

    Memory: two ``(T, N)`` arrays (uint64 keys, float64 ranks), plus each day's centred sum of squares of
    its ranks (``centred_squares``, ``(T,)``) and its runs of linked keys (``runs[run_at[d]:run_at[d + 1]]``,
    ``[start, end)`` positions in the sorted row).
    """

    def __init__(self, returns: np.ndarray, universe: np.ndarray, lag: int, parallel: bool = False):
        T, N = returns.shape
        self.returns = read_only(returns)  # the kernels' one input type (alpha_env.ops.threads)
        self.universe = read_only(universe)
        self.lag = int(lag)
        self.bits = max(1, int(N - 1).bit_length())
        self.keys = np.empty((T, N), np.uint64)
        self.sizes = np.zeros(T, np.int64)
        self.ranks = np.full((T, N), np.nan)
        self.centred_squares = np.zeros(T)
        self.run_at = np.zeros(T + 1, np.int64)
        self.runs = np.empty((1, 2), np.int64)
        if T == 0 or N == 0:
            return
        chunks = row_chunks(T) if parallel else 1
        (_base_keys if parallel else _base_keys_serial)(self.returns, self.universe, self.lag, self.bits,
                                                       self.keys, self.sizes, chunks)
        sort_key_rows(self.keys, self.bits, parallel)
        (_base_ranks if parallel else _base_ranks_serial)(self.keys, self.returns, self.sizes, self.bits,
                                                         self.ranks, chunks)
        dev = self.ranks - 0.5 * (self.sizes + 1)[:, None]
        self.centred_squares = np.nansum(dev * dev, axis=1)  # exact: multiples of 1/4 under 2**51
        self.run_at, self.runs = _base_runs(self.keys, self.sizes, self.bits)

    def rank_ic(self, signal: np.ndarray, decay: int, days: tuple[int, int] | None = None,
                parallel: bool = False) -> np.ndarray:
        """``(T,)`` Spearman rank IC by holding day, bit for bit
        :func:`~alpha_env.backtest.kernels.rank_ic_series` on the holding days ``days = (start, stop)``
        (all days when ``None``); NaN elsewhere.

        Args:
            signal: ``(T, N)`` float64 C-contiguous raw signal (decay and universe applied here).
            decay: the backtest's decay.
        """
        return self._series(signal, decay, days, parallel, None)

    def rank_ic_and_ic(self, signal: np.ndarray, decay: int, days: tuple[int, int] | None = None,
                       parallel: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(rank IC, Pearson IC)``, each ``(T,)`` by holding day: :meth:`rank_ic` and, from the same pass
        over the processed day signals, the Pearson IC bit for bit
        :func:`~alpha_env.backtest.kernels.ic_kernel` (``ranked=False``) with these returns, on the same
        holding days (NaN elsewhere). Cheaper than the two apart: the signal is decayed and masked once."""
        ic = np.full(signal.shape[0], np.nan)
        return self._series(signal, decay, days, parallel, ic), ic

    def _series(self, signal: np.ndarray, decay: int, days: tuple[int, int] | None, parallel: bool,
                ic: np.ndarray | None) -> np.ndarray:
        T, N = signal.shape
        signal = read_only(signal)
        out = np.full(T, np.nan)
        lag = self.lag
        start, stop = (lag, T) if days is None else (max(int(days[0]), lag), min(int(days[1]), T))
        if stop <= start or N == 0:
            return out
        if self.bits > COARSE_MAX_BITS:  # rows too wide for coarse keys (and exact sums): the engine's
            out[start:stop] = rank_ic_series(signal, self.returns, self.universe, decay, lag - 1,
                                             parallel)[start:stop]
            if ic is not None:
                ic[start:stop] = (ic_kernel if parallel else ic_kernel_serial)(
                    signal, self.returns, self.universe, decay, lag - 1, False)[start:stop]
            return out
        assert N <= _EXACT_RANK_SUMS  # 2**COARSE_MAX_BITS columns at most: the Spearman sums are exact
        t_first, t_end = start - lag, stop - lag  # signal days
        n_days = t_end - t_first
        block = max(1, min(n_days, _RANK_IC_BLOCK_CELLS // N))
        kc = np.empty((block, N), np.uint32)
        vx = np.empty((block, N))
        m = np.empty(block, np.int64)
        keys, decode = (_signal_keys, _decode) if parallel else (_signal_keys_serial, _decode_serial)
        for t0 in range(t_first, t_end, block):
            D = min(block, t_end - t0)
            chunks = min(row_chunks(D), D) if parallel else 1
            keys(signal, self.returns, self.universe, decay, lag, self.bits, t0, kc[:D], vx[:D], m[:D],
                 np.empty(0) if ic is None else ic, chunks)
            kc[:D].sort(axis=1)
            decode(kc[:D], vx[:D], self.keys, self.ranks, self.sizes, self.centred_squares, self.run_at,
                   self.runs, self.returns, lag, self.bits, t0, m[:D], out, chunks)
        return out
