"""Order-preserving sort keys of panel rows, and the decoding of their runs.

The cross-sectional ``rank``, ``group_rank`` and the backtest's Spearman rank IC share one technique: each
float of a row becomes a ``uint64`` key whose unsigned order is the value order (NaN sorts last), with the
value's column in the key's low ``bits``; NumPy's (SIMD) ``sort`` then orders every row's keys, and a
Numba pass walks the sorted row. Two keys whose high parts differ hold different values; keys that share
their high parts (ties, or values a few ulps apart, or ``-0.0`` next to ``0.0``) form a *run* that
:func:`take_run` decodes and orders by real value.

Public API: :func:`sorted_keys` (Python) and the Numba helpers :func:`order_key` (the one key rule, which
the backtest's rank IC builds its keys with), :func:`valid_count`, :func:`linked`, :func:`take_run`, meant
to be called from other kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from alpha_env.ops.threads import read_only, row_chunks, twin, use_parallel

#: Significant decimal digits at which ``rank`` and ``ts_rank`` compare values: values equal when rounded
#: to this many digits tie, so rounding noise of computed values does not order them. A difference of
#: cent prices ``p`` carries a relative error up to about ``p * 2.2e-14`` of a one-cent difference (12 digits
#: would separate ``300.01 - 300.0`` from ``0.01``); 10 digits keep such differences tied for prices up to
#: about 20,000 and still order values that differ by one part in 10**9.
SIG_DIGITS = 10

_P10_OFF = 330
_P10 = np.array([float(f"1e{k}") for k in range(-_P10_OFF, _P10_OFF + 1)])  # correctly rounded 10**k
_SIG_TOP = float(10 ** SIG_DIGITS)
_SIG_LOW = float(10 ** (SIG_DIGITS - 1))
#: Relative gap above which two values can never round to the same ``SIG_DIGITS`` digits (with margin).
NEAR_REL = 1.01 * 10.0 ** (1 - SIG_DIGITS)

__all__ = ["SIG_DIGITS", "COARSE_MAX_BITS", "sorted_keys", "sort_key_rows", "order_key", "valid_count",
           "linked", "coarse_key", "coarse_linked", "coarse_zero_bits", "take_run", "sort_pairs", "round_sig",
           "sig_key", "SIG_KEY_OTHER", "sig_key_row", "near_flags", "flag_count", "count_near",
           "flag_scratch", "DENSE_SHARE",
           "near_span", "near", "take_near_run", "equal_at_sig", "near_pair", "advance_runs",
           "mark_near_changes"]


@njit(cache=True, error_model="numpy", inline="always")
def order_key(u, high, j):  # pragma: no cover - compiled
    """Order key of a non-NaN float with bits ``u`` (uint64) in column ``j``: the bits mapped to an unsigned
    integer in value order (negative floats inverted, the sign bit set on the others), the low bits
    (``~high``) replaced by ``j``."""
    sign = np.uint64(1) << np.uint64(63)
    k = ~u if u & sign else u | sign
    return (k & high) | np.uint64(j)


@njit(cache=True, error_model="numpy", inline="always")
def _value_key(u, high, j):  # pragma: no cover - compiled
    """:func:`order_key` of the float with bits ``u`` (uint64) in column ``j``; NaN (exponent all ones,
    mantissa not zero) gets all-ones high bits: it sorts last."""
    nan = (u & np.uint64(0x7FFFFFFFFFFFFFFF)) > np.uint64(0x7FF0000000000000)
    return (high | np.uint64(j)) if nan else order_key(u, high, j)


@njit(cache=True, error_model="numpy", inline="always")
def _key_row(x, xb, t, bits, keys):  # pragma: no cover - compiled
    N = x.shape[1]
    high = ~np.uint64((1 << bits) - 1)
    for j in range(N):
        keys[t, j] = _value_key(xb[t, j], high, j)


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
def coarse_key(k, high32, low):  # pragma: no cover - compiled
    """The 32-bit coarse key of a 64-bit order key ``k`` whose low ``bits`` (mask ``low``) hold its column:
    the key's top ``32 - bits`` bits (``high32``, a uint64 mask of the low 32 bits) then the column. Coarse
    order is the key order up to runs of equal coarse top bits (values within a ``2**(bits - 21)``
    relative band)."""
    return np.uint32(((k >> np.uint64(32)) & high32) | (k & low))


@njit(cache=True, error_model="numpy", inline="always")
def coarse_zero_bits(high32):  # pragma: no cover - compiled
    """``(negz, posz)``: the high parts (``high32``, their uint32 mask) of the coarse keys of ``-0.0`` and
    ``0.0``, adjacent in the sort and linked (equal values)."""
    return np.uint32(0x7FFFFFFF) & high32, np.uint32(0x80000000)


@njit(cache=True, error_model="numpy", inline="always")
def coarse_linked(h_prev, h_next, high32):  # pragma: no cover - compiled
    """:func:`linked` for the high parts of two consecutive sorted coarse keys (uint32; ``high32`` their
    uint32 mask): equal, or the run of ``-0.0`` next to the run of ``0.0``."""
    negz, posz = coarse_zero_bits(high32)
    return h_prev == h_next or (h_prev == negz and h_next == posz)


@njit(cache=True, error_model="numpy", inline="always")
def sort_pairs(vals, ix, m):  # pragma: no cover - compiled
    """Insertion sort of ``vals[:m]`` ascending, moving ``ix[:m]`` along (stable; for short, nearly
    sorted runs)."""
    for a in range(1, m):
        b = a
        while b > 0 and vals[b - 1] > vals[b]:
            tv = vals[b - 1]
            vals[b - 1] = vals[b]
            vals[b] = tv
            tj = ix[b - 1]
            ix[b - 1] = ix[b]
            ix[b] = tj
            b -= 1


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
        sort_pairs(vals, ix, k - i)
    return k



@njit(cache=True, error_model="numpy", inline="always")
def _sig_parts(a):  # pragma: no cover - compiled
    """``(e, r)`` of a magnitude ``a`` in ``[1e-290, 1e290]`` rounded to :data:`SIG_DIGITS` significant
    digits: ``a ~ r * 10**(e - SIG_DIGITS + 1)`` with the integer ``r`` (a float) in ``[10**(SIG_DIGITS - 1),
    10**SIG_DIGITS)``, one canonical form (a rounding up to the next power of ten moves to the next ``e``).
    The decimal exponent comes from the binary one (``floor(x * log10(2)) == (x * 78913) >> 18`` for every
    exponent of a double, checked exhaustively), corrected by the table of powers of ten; branch-free, so
    loops over many values vectorize."""
    e = ((np.int64(np.float64(a).view(np.uint64) >> np.uint64(52)) - 1023) * 78913) >> 18
    e += np.int64(a >= _P10[e + 1 + _P10_OFF]) - np.int64(a < _P10[e + _P10_OFF])  # the mantissa's share
    r = np.rint(a * _P10[SIG_DIGITS - 1 - e + _P10_OFF])  # a * 10**k is in [10**(digits-1), 10**digits)
    top = r >= _SIG_TOP
    return e + np.int64(top), (_SIG_LOW if top else r)


@njit(cache=True, error_model="numpy", inline="always")
def round_sig(v):  # pragma: no cover - compiled
    """``v`` rounded to :data:`SIG_DIGITS` significant decimal digits (the nearest float to that decimal),
    a monotone map; NaN, ``±0``, ``±inf`` and magnitudes outside ``[1e-290, 1e290]`` are returned as they
    are. :func:`_sig_parts`, then a division (about 2.5-5 ns in a loop; ``log10`` took 20)."""
    a = abs(v)
    if not (a >= 1e-290 and a <= 1e290):  # normal numbers only below: the exponent field is the exponent
        return v
    e, r = _sig_parts(a)
    k = SIG_DIGITS - 1 - e
    q = r / _P10[k + _P10_OFF] if k >= 0 else r * _P10[-k + _P10_OFF]
    return q if v > 0.0 else -q


#: :func:`sig_key` of the values it does not map (NaN, ``±inf``, nonzero magnitudes outside ``[1e-290,
#: 1e290]``): a caller that meets it uses :func:`round_sig` instead.
SIG_KEY_OTHER = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(cache=True, error_model="numpy", inline="always")
def sig_key(v):  # pragma: no cover - compiled
    """An int64 with the order and equalities of :func:`round_sig` (``sig_key(a) < sig_key(b)`` exactly when
    ``round_sig(a) < round_sig(b)``, ``==`` when ``==``) for ``±0`` and magnitudes in ``[1e-290, 1e290]``
    (``±0`` give 0); :data:`SIG_KEY_OTHER` for every other value. ``round_sig``'s decimal ``(e, r)`` packed
    as ``(e + 400) * 2**34 + r``, negated for negative values (distinct decimals are distinct floats): no
    division and no branch, so a loop over a row's values vectorizes (about 1.5 ns a value)."""
    a = abs(v)
    ok = (a >= 1e-290) & (a <= 1e290)
    e, r = _sig_parts(a if ok else 1.0)
    key = ((e + 400) << 34) + np.int64(r)
    key = key if v > 0.0 else -key
    return key if ok else (np.int64(0) if v == 0.0 else SIG_KEY_OTHER)


@njit(cache=True, error_model="numpy")
def sig_key_row(row, kr, low, n, vals, rk):  # pragma: no cover - compiled
    """``rk[i] = sig_key(row[col_i])`` for the first ``n`` keys of a sorted key row (``col_i = kr[i] &
    low``; their values into ``vals``), in loops that vectorize; returns False when a value has no key
    (:data:`SIG_KEY_OTHER`) or the keys come out of order (values that may tie out of value order: the
    key's low bits hold the column): then tie groups are not the runs of equal ``rk``. ``vals`` (N,)
    float, ``rk`` (N,) int64."""
    for i in range(n):
        vals[i] = row[np.int64(kr[i] & low)]
    for i in range(n):
        rk[i] = sig_key(vals[i])
    unfit = False
    for i in range(n):
        unfit |= rk[i] == SIG_KEY_OTHER
    for i in range(1, n):
        unfit |= rk[i] < rk[i - 1]
    return not unfit


@njit(cache=True, error_model="numpy")
def _round_sig_called(v):  # pragma: no cover - compiled
    """:func:`round_sig` as a call, not inlined: for loops that round rarely (inlined, its logarithm and
    table look-ups slow the loop around it on every step)."""
    return round_sig(v)


@njit(cache=True, error_model="numpy", inline="always")
def equal_at_sig(a, b):  # pragma: no cover - compiled
    """Whether ``a`` and ``b`` are equal at :data:`SIG_DIGITS` significant digits (``rank``'s tie rule);
    NaN equals nothing. For the smallest and largest value of a set, whether the whole set is: ``round_sig``
    is monotone, so it is enough that the two ends round alike. Exact equals and values further apart than
    :data:`NEAR_REL` are answered without a logarithm (the rounding is a call, rarely made)."""
    if a == b:
        return True
    aa = abs(a)
    ab = abs(b)
    if not abs(a - b) <= NEAR_REL * (aa if aa > ab else ab):  # not the generic max: loops stay fast
        return False
    return _round_sig_called(a) == _round_sig_called(b)


@njit(cache=True, error_model="numpy", inline="always")
def near_pair(u, v):  # pragma: no cover - compiled
    """``(u == v, close)``: ``close`` when they differ by at most :data:`NEAR_REL` of the larger magnitude
    (they may tie once rounded; never with a NaN). Written without Python's generic ``max``, so the loops
    around it vectorize."""
    au = abs(u)
    av = abs(v)
    return u == v, (u != v) & (abs(u - v) <= NEAR_REL * (au if au > av else av))


@njit(cache=True, error_model="numpy", inline="always")
def advance_runs(a, prev, run):  # pragma: no cover - compiled
    """One day of per-element run tracking: ``run[k] + 1`` where ``a[k]`` (today) equals ``prev[k]``
    (yesterday) at :data:`SIG_DIGITS` significant digits (:func:`equal_at_sig`; NaN equals nothing), else
    1; then ``prev[k] = a[k]``. 1-D arrays of one length. Exact equals and far values are decided by a loop
    that vectorizes; values within :data:`NEAR_REL` but not equal (rare but for rounding noise) keep their
    run and yesterday's value in it and are rounded in a second pass that runs only when there are some (the
    pair kernels track last changes the same way: :func:`mark_near_changes`)."""
    near = 0
    for k in range(len(a)):
        u = a[k]
        same, close = near_pair(u, prev[k])
        run[k] = run[k] + 1.0 if same else (run[k] if close else 1.0)
        prev[k] = prev[k] if close else u
        near += 1 if close else 0
    if near > 0:
        for k in range(len(a)):
            u = a[k]
            if near_pair(u, prev[k])[1]:
                run[k] = run[k] + 1.0 if equal_at_sig(u, prev[k]) else 1.0
                prev[k] = u


@njit(cache=True, error_model="numpy")
def mark_near_changes(a, b, last, day):  # pragma: no cover - compiled
    """``last[k] = day`` where ``a[k]`` (today) and ``b[k]`` (yesterday) are within :data:`NEAR_REL` but not
    equal and differ at :data:`SIG_DIGITS` digits: the rounding pass of change tracking. A kernel's own loop
    marks exact changes and far values and counts the near pairs (:func:`near_pair`), and calls this only
    when it found some. Eight pairs at a time are tested in a loop that vectorizes, so a day's few near
    pairs cost a look at their block only."""
    n = len(a)
    for k0 in range(0, n, 8):
        k1 = min(k0 + 8, n)
        hit = False
        for k in range(k0, k1):
            hit |= near_pair(a[k], b[k])[1]
        if hit:
            for k in range(k0, k1):
                if near_pair(a[k], b[k])[1] and not equal_at_sig(a[k], b[k]):
                    last[k] = day


def near_span(bits: int) -> np.uint64:
    """Largest gap between the high parts of two sorted keys (see :func:`sorted_keys`) whose values may
    round to the same :data:`SIG_DIGITS` digits: such values are fewer than ``NEAR_REL * 2**53`` ulps
    apart (2**23.2 for 10 digits)."""
    return np.uint64(int(NEAR_REL * 2.0**53) + 1 + (1 << bits))


@njit(cache=True, error_model="numpy", inline="always")
def near(h_prev, h_next, span):  # pragma: no cover - compiled
    """Whether two consecutive sorted keys (high parts, ``h_prev <= h_next``) may hold values that tie
    at :data:`SIG_DIGITS` digits (a superset of :func:`linked`)."""
    return h_next - h_prev <= span


#: A sorted row with a key :func:`near` the next at one position in ``DENSE_SHARE`` or more (ties or near
#: values all along it, e.g. differences of cent prices) is ranked by ``rank`` and ``group_rank`` from its
#: :func:`sig_key_row` with no branch on the data. Measured in session 21 (``sp500_2013_2018``, 1 thread):
#: the branchy walk costs about 1.1 ms + 13 ms times the share of near keys a panel, the dense one 2.5 ms.
DENSE_SHARE = 8


@njit(cache=True, error_model="numpy", inline="always")
def flag_scratch(N):  # pragma: no cover - compiled
    """Bool scratch for :func:`near_flags` over rows of ``N`` keys: whole 8-flag words (read as uint64)."""
    return np.zeros(max(8, (N + 7) // 8 * 8), np.bool_)


@njit(cache=True, error_model="numpy", inline="always")
def near_flags(kr, high, span, n, flags):  # pragma: no cover - compiled
    """``flags[i]``: whether sorted key ``i`` (high part ``kr[i] & high``) is :func:`near` key ``i + 1``,
    False from ``n - 1`` on (``n >= 1`` valid keys; ``flags`` from :func:`flag_scratch`): one branch-free
    pass."""
    for i in range(n - 1):
        flags[i] = near(kr[i] & high, kr[i + 1] & high, span)
    flags[n - 1:] = False


@njit(cache=True, error_model="numpy", inline="always")
def flag_count(word):  # pragma: no cover - compiled
    """How many of the eight 0/1 bytes of a uint64 ``word`` of flags are set (their sum in the top byte)."""
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, error_model="numpy", inline="always")
def count_near(kr, high, span, n):  # pragma: no cover - compiled
    """How many of the first ``n - 1`` sorted keys are :func:`near` the next one (:func:`near_flags`'
    count, without the flags; a loop that vectorizes)."""
    c = 0
    for i in range(n - 1):
        c += near(kr[i] & high, kr[i + 1] & high, span)
    return c


@njit(cache=True, error_model="numpy", inline="always")
def take_near_run(row, kr, i, n, span, high, low, ix, vals):  # pragma: no cover - compiled
    """Decode the run of :func:`near` keys that starts at ``i`` into ``ix`` (columns) and ``vals``
    (values rounded by :func:`round_sig`) from index 0, ordered stably by value; returns its end. A value
    equal to the one before it reuses its rounding (runs of exact ties, the usual run, cost no logarithm)."""
    j = np.int64(kr[i] & low)
    ix[0] = j
    raw = row[j]
    rounded = _round_sig_called(raw)
    vals[0] = rounded
    in_order = True
    k = i + 1
    while k < n and near(kr[k - 1] & high, kr[k] & high, span):
        j = np.int64(kr[k] & low)
        ix[k - i] = j
        v = row[j]
        if v != raw:
            raw = v
            r = _round_sig_called(v)
            in_order = in_order and not rounded > r
            rounded = r
        vals[k - i] = rounded
        k += 1
    if not in_order:
        sort_pairs(vals, ix, k - i)  # runs are short and nearly sorted
    return k


#: Column bits up to which :func:`sort_key_rows` sorts 32-bit coarse keys (at least 16 value bits left);
#: wider rows fall back to NumPy's 64-bit row sort.
COARSE_MAX_BITS = 16
#: A row whose insertion-sort fix-up moves keys more than this many times its length is sorted outright.
_SHIFT_BUDGET = 4


def _coarse_body(keys, bits, coarse, n_chunks):  # pragma: no cover - compiled
    """32-bit coarse keys of 64-bit keys rows: the key's top ``32 - bits`` bits, then its column (the
    key's low ``bits``). Coarse order is the key order up to runs of equal top bits."""
    T, N = keys.shape
    low = np.uint64((1 << bits) - 1)
    high32 = np.uint64(0xFFFFFFFF) & ~low
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            for j in range(N):
                coarse[t, j] = coarse_key(keys[t, j], high32, low)


def _refine_body(keys, bits, coarse, n_chunks):  # pragma: no cover - compiled
    """Rows of ``keys`` (column ``j`` holding the key whose low ``bits`` are ``j``) rewritten in key order
    from their sorted coarse rows: each coarse key names its 64-bit key, and keys out of order (only in
    runs of equal coarse top bits: values in a 2**(bits - 21) relative band) are put in order by an
    insertion sort that falls back to a full row sort when the runs are long."""
    T, N = keys.shape
    low32 = np.uint32((1 << bits) - 1)
    chunk = (T + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        row = np.empty(N, np.uint64)
        for t in range(c * chunk, min(T, (c + 1) * chunk)):
            kt = keys[t]
            ct = coarse[t]
            row[:] = kt
            for q in range(N):
                kt[q] = row[np.int64(ct[q] & low32)]
            shifts = 0  # insertion sort: keys are out of order only inside runs of equal coarse keys
            for q in range(1, N):
                v = kt[q]
                if kt[q - 1] > v:
                    b = q
                    while b > 0 and kt[b - 1] > v:
                        kt[b] = kt[b - 1]
                        b -= 1
                    kt[b] = v
                    shifts += q - b
                    if shifts > _SHIFT_BUDGET * N:  # long runs (a narrow band of values): sort the row
                        kt.sort()
                        break


_coarse, _coarse_serial = twin(_coarse_body)
_refine, _refine_serial = twin(_refine_body)


def sort_key_rows(keys: np.ndarray, bits: int, parallel: bool = False) -> None:
    """Sort each row of a ``(T, N)`` uint64 key panel in place, exactly as ``keys.sort(axis=1)`` does,
    where the key in column ``j`` carries ``j`` in its low ``bits`` (keys of a row are distinct).

    NumPy's SIMD row sort of 32-bit keys is about 10x faster than of 64-bit keys, so the rows are sorted
    by a 32-bit coarse key (the key's top ``32 - bits`` bits and the column), then each coarse key is
    replaced by its 64-bit key and the (short) runs of equal coarse top bits are ordered by full key.
    Rows wider than ``2**COARSE_MAX_BITS`` use the 64-bit sort.
    """
    if keys.size == 0:
        return
    if bits > COARSE_MAX_BITS:
        keys.sort(axis=1)
        return
    coarse = np.empty(keys.shape, np.uint32)
    n_chunks = row_chunks(keys.shape[0]) if parallel else 1
    (_coarse if parallel else _coarse_serial)(keys, bits, coarse, n_chunks)
    coarse.sort(axis=1)
    (_refine if parallel else _refine_serial)(keys, bits, coarse, n_chunks)


def sorted_keys(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Row-wise sorted keys of a ``(T, N)`` float64 panel: ``(keys uint64 (T, N), bits)``.

    Each row's keys are in value order (NaN last); ``key & ((1 << bits) - 1)`` is the value's column.
    """
    x = read_only(x)
    bits = max(1, int(x.shape[1] - 1).bit_length())
    keys = np.empty(x.shape, dtype=np.uint64)
    parallel = use_parallel(x.size)
    (_sort_keys if parallel else _sort_keys_serial)(x, bits, keys)
    sort_key_rows(keys, bits, parallel)
    return keys, bits
