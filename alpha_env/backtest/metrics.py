"""Performance metrics of a :class:`~alpha_env.backtest.engine.BacktestResult` over a window of days.

All daily series are indexed by holding day, so a split ``slice`` of the panel's dates selects the PnL
earned on those dates. A window counts the days from the first day the backtest holds any book onward
(the warm-up before a signal's first value is not counted as flat trading:
:meth:`~alpha_env.backtest.engine.BacktestResult.counted_days`); days without a book inside that span count
as zero-PnL days.

| metric          | definition (over the counted days of the window)                                  |
|-----------------|-----------------------------------------------------------------------------------|
| `sharpe`        | `sqrt(252) · mean(pnl) / std(pnl)` (ddof=1; 0 when std is 0 or < 2 days; NaN when a |
|                 | PnL is not finite: a NaN never becomes 0)                                         |
| `annual_return` | `252 · mean(pnl)`, fraction of the gross book                                     |
| `turnover`      | `mean(turnover)`, fraction of the book traded per day                             |
| `fitness`       | `sharpe · sqrt(|annual_return| / max(turnover, 0.125))`                          |
| `max_drawdown`  | largest drop of `cumsum(pnl)` from its running peak (peak starts at 0), fraction  |
| `margin_bps`    | `1e4 · sum(pnl) / sum(turnover)` (0 without trading): PnL per traded dollar       |
| `ic`, `rank_ic` | mean of the daily Pearson / Spearman IC (days where it is defined; NaN if none,   |
|                 | a window that holds no book included)                                             |
| `coverage`      | mean fraction of the universe with a finite signal                                |
| `long_count`, `short_count` | mean number of stocks held long / short on days with a book           |
| `max_weight`    | largest `|w|` of a book held in the window (fraction of the gross book)           |
| `total_pnl`     | `sum(pnl)` (fraction of book); `pnl_dollars` = that times `book_size`             |
| `days`, `held_days`, `nan_held` | counted days, days with a book, held stock-days with NaN return   |

Every window of a result (the splits, the years) is computed in one Numba pass (:func:`_window_table`)
that takes each number by NumPy's own expression and summation order (NumPy's pairwise float64 sum,
:func:`_pairwise_sum`), so the table is the NumPy definitions' bits at a tenth of their Python overhead
(``tests/test_backtest_metrics.py`` states them in plain NumPy and compares bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from numba import njit

from alpha_env.backtest.engine import BacktestResult
from alpha_env.errors import DataError
from alpha_env.ops.threads import read_only

__all__ = ["METRIC_NAMES", "window_metrics", "split_metrics", "yearly_metrics", "annualized_sharpe"]

TRADING_DAYS = 252

#: Keys of every metrics dict, in display order.
METRIC_NAMES: tuple[str, ...] = (
    "sharpe",
    "annual_return",
    "turnover",
    "fitness",
    "max_drawdown",
    "margin_bps",
    "ic",
    "rank_ic",
    "coverage",
    "long_count",
    "short_count",
    "max_weight",
    "total_pnl",
    "pnl_dollars",
    "days",
    "held_days",
    "nan_held",
)


#: Columns of :func:`_window_table`'s rows.
(_TOTAL, _TRADED, _SHARPE, _DRAWDOWN, _COVERAGE, _LONG, _SHORT, _MAX_WEIGHT, _HELD, _NAN_HELD, _IC,
 _RANK_IC) = range(12)
_NONE = read_only(np.empty(0))  # a series not wanted


_BLOCK = 128  # NumPy's pairwise-sum block (PW_BLOCKSIZE)


@njit(cache=True, error_model="numpy", inline="always")
def _block_sum(a, lo, n):  # pragma: no cover - compiled
    """NumPy's sum of one block ``a[lo:lo + n]`` (``n <= _BLOCK``): in order below 8 values, else in 8
    interleaved partial sums combined pairwise, then the rest in order."""
    if n < 8:
        s = 0.0
        for i in range(lo, lo + n):
            s += a[i]
        return s
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    m = n - n % 8
    for i in range(lo + 8, lo + m, 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + m, lo + n):
        s += a[i]
    return s


@njit(cache=True, error_model="numpy")
def _pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """``a[lo:lo + n]`` summed in the order of NumPy's float64 ``add.reduce`` (its pairwise sum: a range
    longer than a block is halved at a multiple of 8 and its halves' sums added). The halving tree is
    walked with an explicit stack (Numba's cache does not keep recursive functions safely)."""
    if n <= _BLOCK:
        return _block_sum(a, lo, n)
    nodes = np.empty((64, 3), np.int64)  # (start, length, halves done): a depth of log2(n / 128) + 1
    sums = np.empty(64)
    top = 0
    k = 0
    nodes[0, 0] = lo
    nodes[0, 1] = n
    nodes[0, 2] = 0
    while top >= 0:
        start = nodes[top, 0]
        length = nodes[top, 1]
        if length <= _BLOCK:
            sums[k] = _block_sum(a, start, length)
            k += 1
            top -= 1
            continue
        half = length // 2
        half -= half % 8
        done = nodes[top, 2]
        nodes[top, 2] = done + 1
        if done == 0:
            nodes[top + 1, 0] = start
            nodes[top + 1, 1] = half
        elif done == 1:
            nodes[top + 1, 0] = start + half
            nodes[top + 1, 1] = length - half
        else:  # both halves summed: left + right
            sums[k - 2] = sums[k - 2] + sums[k - 1]
            k -= 1
            top -= 1
            continue
        nodes[top + 1, 2] = 0
        top += 1
    return sums[0]


@njit(cache=True, error_model="numpy", inline="always")
def _maximum(a, b):  # pragma: no cover - compiled
    """NumPy's ``maximum(a, b)``: NaN when either is NaN, else the larger (``a`` on a tie)."""
    return a if (a >= b or a != a) else b


@njit(cache=True, error_model="numpy", inline="always")
def _sum(a, lo, n):  # pragma: no cover - compiled
    """NumPy's ``a[lo:lo + n].sum()`` of a float64 array, bit for bit (its reduction starts from 0.0)."""
    return 0.0 + _pairwise_sum(a, lo, n)


@njit(cache=True, error_model="numpy")
def _sharpe(pnl, lo, n, scratch):  # pragma: no cover - compiled
    """:func:`annualized_sharpe` of ``pnl[lo:lo + n]``; ``scratch``: at least ``n`` float64."""
    for i in range(lo, lo + n):
        if not np.isfinite(pnl[i]):
            return np.nan
    if n < 2:
        return 0.0
    hi = pnl[lo]
    low = pnl[lo]
    for i in range(lo, lo + n):
        hi = max(hi, pnl[i])
        low = min(low, pnl[i])
    peak = max(hi, -low)  # max |PnL|: the ratio is scale-free, and dividing first keeps the variance of
    for i in range(n):  # |PnL| > 1e154 (or of subnormal PnL) from overflowing (underflowing) into 0
        scratch[i] = pnl[lo + i] / peak if peak > 0.0 else pnl[lo + i]
    mean = _sum(scratch, 0, n) / n  # NumPy's mean (and the one inside its var)
    for i in range(n):
        d = scratch[i] - mean
        scratch[i] = d * d
    sd = np.sqrt(_sum(scratch, 0, n) / (n - 1))  # NumPy's std(ddof=1)
    if not sd > 0.0 or not np.isfinite(sd):
        return 0.0
    return np.sqrt(float(TRADING_DAYS)) * mean / sd


@njit(cache=True, error_model="numpy")
def _window_table(pnl, tv, held, coverage, long_count, short_count, max_weight, nan_held, ic, rank_ic, lag,
                  starts, stops, out):  # pragma: no cover - compiled
    """Row ``w`` of ``out``: the sums and extremes behind :func:`window_metrics` of the counted days
    ``starts[w] .. stops[w] - 1`` (each window at least one day), by the columns ``_TOTAL`` ..
    ``_RANK_IC``, each NumPy's expression of the module table bit for bit. ``ic`` / ``rank_ic``: ``(T,)``
    series, or empty when not wanted."""
    T = pnl.shape[0]
    scratch = np.empty(T)
    for w in range(starts.shape[0]):
        s = starts[w]
        e = stops[w]
        n = e - s
        row = out[w]
        row[_TOTAL] = _sum(pnl, s, n)
        row[_TRADED] = _sum(tv, s, n)
        row[_SHARPE] = _sharpe(pnl, s, n, scratch)
        cum = pnl[s]  # cumsum(pnl), its running peak (from 0) and the largest drop from it
        peak = _maximum(cum, 0.0)
        drop = peak - cum
        for i in range(s + 1, e):
            cum = cum + pnl[i]
            peak = _maximum(peak, _maximum(cum, 0.0))
            drop = _maximum(drop, peak - cum)
        row[_DRAWDOWN] = drop
        row[_COVERAGE] = _sum(coverage, s, n) / n
        longs = 0.0
        shorts = 0.0
        n_held = 0
        lost = 0
        for i in range(s, e):  # integer counts: their float sums are exact in any order
            if held[i]:
                longs += long_count[i]
                shorts += short_count[i]
                n_held += 1
            lost += nan_held[i]
        row[_LONG] = longs / n_held if n_held else 0.0
        row[_SHORT] = shorts / n_held if n_held else 0.0
        row[_HELD] = n_held
        row[_NAN_HELD] = lost
        a = max(s - lag, 0)
        b = max(e - lag, 0)
        top = max_weight[a] if b > a else 0.0
        for i in range(a + 1, b):
            top = _maximum(top, max_weight[i])
        row[_MAX_WEIGHT] = top
        for col, series in ((_IC, ic), (_RANK_IC, rank_ic)):
            if series.shape[0] == 0:
                continue
            m = 0
            for i in range(s, e):  # the mean of the finite values (NaN when none)
                if np.isfinite(series[i]):
                    scratch[m] = series[i]
                    m += 1
            row[col] = _sum(scratch, 0, m) / m if m else np.nan


def annualized_sharpe(pnl: np.ndarray) -> float:
    """``sqrt(252)·mean/std`` (ddof=1) of a daily PnL series; 0.0 when the std is 0 or there are fewer
    than 2 days; NaN when a PnL is NaN or infinite (never a number made from a NaN).

    NumPy's ``mean`` and ``std`` bit for bit (its summation order), with their shared sum taken once; the
    PnL is divided by its largest magnitude first (the ratio is scale-free: no overflow or underflow)."""
    pnl = np.ascontiguousarray(pnl, dtype=np.float64).reshape(-1)
    return float(_sharpe(read_only(pnl), 0, pnl.shape[0], np.empty(pnl.shape[0])))


def _windows(result: BacktestResult, windows: list[slice], with_rank_ic: bool, with_ic: bool,
             series: tuple[np.ndarray, np.ndarray] | None = None) -> list[dict[str, float]]:
    """:func:`window_metrics` of each of ``windows`` (one pass of :func:`_window_table` for all);
    ``series``: ``(ic, rank_ic)`` in place of the result's."""
    bounds = [result.counted_days(w) for w in windows]
    counted = [(a, b) for a, b in bounds if b > a]
    rows = np.zeros((len(counted), 12))
    if counted:
        ic, rank_ic = series if series is not None else (
            result.ic if with_ic else _NONE, result.rank_ic if with_rank_ic else _NONE)
        arrays = (result.pnl, result.turnover, result.held, result.coverage, result.long_count,
                  result.short_count, result.max_weight, result.nan_held, ic, rank_ic)
        starts, stops = np.array(counted, np.int64).T.copy()
        _window_table(*(read_only(np.ascontiguousarray(x)) for x in arrays), result.lag, starts, stops, rows)
    book = result.settings.book_size
    out = []
    k = 0
    for a, b in bounds:
        m: dict[str, float] = dict.fromkeys(METRIC_NAMES, 0.0)
        if not with_rank_ic:
            del m["rank_ic"]
        if not with_ic:
            del m["ic"]
        if b <= a:  # no counted day: no PnL, no trading, and no IC (undefined, never 0)
            if with_ic:
                m["ic"] = math.nan
            if with_rank_ic:
                m["rank_ic"] = math.nan
            out.append(m)
            continue
        r = rows[k].tolist()
        k += 1
        n = b - a
        total, traded, sharpe = r[_TOTAL], r[_TRADED], r[_SHARPE]
        annual = TRADING_DAYS * (total / n)  # NumPy's mean: the sum / n
        turnover = traded / n
        drawdown = r[_DRAWDOWN]
        if drawdown == 0.0:  # NumPy's max of a mix of 0.0 and -0.0 picks by lanes: take its own answer
            cum = np.cumsum(result.pnl[a:b])
            drawdown = float((np.maximum.accumulate(np.maximum(cum, 0.0)) - cum).max())
        m.update(
            sharpe=sharpe,
            annual_return=annual,
            turnover=turnover,
            fitness=sharpe * math.sqrt(abs(annual) / max(turnover, 0.125)),
            max_drawdown=drawdown,
            margin_bps=1e4 * total / traded if traded > 0 else 0.0,
            coverage=r[_COVERAGE],
            long_count=r[_LONG],
            short_count=r[_SHORT],
            max_weight=r[_MAX_WEIGHT],
            total_pnl=total,
            pnl_dollars=float(total * book),
            days=float(n),
            held_days=r[_HELD],
            nan_held=r[_NAN_HELD],
        )
        if with_ic:
            m["ic"] = r[_IC]
        if with_rank_ic:
            m["rank_ic"] = r[_RANK_IC]
        out.append(m)
    return out


def window_metrics(result: BacktestResult, window: slice, *, with_rank_ic: bool = True, with_ic: bool = True,
                   window_ic: Callable[[bool, int, int], np.ndarray] | None = None) -> dict[str, float]:
    """Metrics of the holding days in ``window`` (a date-index slice); see the module table.

    ``with_rank_ic=False`` leaves out ``rank_ic``, the one costly metric (two sorts per day);
    ``with_ic=False`` leaves out ``ic`` (a pass over the window's signal and returns).
    ``window_ic(ranked, start, stop)``, when given, returns the ``(T,)`` Pearson (``ranked=False``) or
    rank IC series, correct on the holding days ``start .. stop - 1`` (the window's counted days), in
    place of ``result.ic`` / ``result.rank_ic`` (all days): the lean path of a caller that needs one
    window (e.g. a reward; see :meth:`alpha_env.ace.ACE.score`). Same numbers either way.
    """
    series = None
    if window_ic is not None:
        start, stop = result.counted_days(window)
        if stop > start:
            series = (window_ic(False, start, stop) if with_ic else _NONE,
                      window_ic(True, start, stop) if with_rank_ic else _NONE)
    return _windows(result, [window], with_rank_ic, with_ic, series)[0]


def split_metrics(
    result: BacktestResult, splits: Mapping[str, slice], *, with_rank_ic: bool = True
) -> dict[str, dict[str, float]]:
    """Metrics per named split, plus ``"all"`` (the whole period)."""
    names = [*splits, "all"]
    windows = [*splits.values(), slice(None)]
    return dict(zip(names, _windows(result, windows, with_rank_ic, True), strict=True))


def yearly_metrics(
    result: BacktestResult, dates: np.ndarray, *, with_rank_ic: bool = True
) -> dict[str, dict[str, float]]:
    """Metrics per calendar year of ``dates`` (``(T,)`` datetime64, sorted), keyed ``"2015"``."""
    dates = np.asarray(dates)
    if dates.shape[0] != result.pnl.shape[0]:
        raise DataError(f"dates has {dates.shape[0]} entries, the backtest {result.pnl.shape[0]} days")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    names = []
    windows = []
    for year in np.unique(years):
        idx = np.flatnonzero(years == year)
        names.append(str(int(year)))
        windows.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return dict(zip(names, _windows(result, windows, with_rank_ic, True), strict=True))
