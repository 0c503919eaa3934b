"""Performance metrics of a :class:`~alpha_env.backtest.engine.BacktestResult` over a window of days.

All daily series are indexed by holding day, so a split ``slice`` of the panel's dates selects the PnL
earned on those dates. A window counts the days from the first day the backtest holds any book onward
(the warm-up before a signal's first value is not counted as flat trading); days without a book inside
that span count as zero-PnL days.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from alpha_env.backtest.engine import BacktestResult
from alpha_env.errors import DataError

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


def annualized_sharpe(pnl: np.ndarray) -> float:
    """``sqrt(252)·mean/std`` (ddof=1) of a daily PnL series; 0.0 when the std is 0 or there are fewer
    than 2 days; NaN when a PnL is NaN or infinite (never a number made from a NaN).

    NumPy's ``mean`` and ``std`` bit for bit, with their shared sum taken once."""
    pnl = np.asarray(pnl, dtype=np.float64)
    n = pnl.shape[0]
    if not np.isfinite(pnl).all():
        return math.nan
    if n < 2:
        return 0.0
    peak = max(float(pnl.max()), -float(pnl.min()))  # max |PnL|
    if peak > 0.0:  # the ratio is scale-free: dividing first keeps the variance of |PnL| > 1e154 (or of
        pnl = pnl / peak  # subnormal PnL) from overflowing (underflowing) into a Sharpe of 0
    mean = np.add.reduce(pnl) / n  # NumPy's mean (and the one inside its var)
    dev = pnl - mean
    np.multiply(dev, dev, out=dev)
    sd = math.sqrt(float(np.add.reduce(dev) / (n - 1)))  # NumPy's std(ddof=1)
    if not sd > 0.0 or not math.isfinite(sd):
        return 0.0
    return float(math.sqrt(TRADING_DAYS) * mean / sd)


def _nanmean(x: np.ndarray) -> float:
    """Mean over the finite values; NaN when there is none (an undefined IC is never reported as 0)."""
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


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
    T = result.pnl.shape[0]
    start, stop, _ = window.indices(T)
    start = max(start, result.first_held)
    out: dict[str, float] = dict.fromkeys(METRIC_NAMES, 0.0)
    if not with_rank_ic:
        del out["rank_ic"]
    if not with_ic:
        del out["ic"]
    if stop <= start:  # no counted day: no PnL, no trading, and no IC (undefined, never 0)
        if with_ic:
            out["ic"] = math.nan
        if with_rank_ic:
            out["rank_ic"] = math.nan
        return out
    sl = slice(start, stop)
    n = stop - start
    pnl = result.pnl[sl]
    tv = result.turnover[sl]
    held = result.held[sl]
    total = float(pnl.sum())  # a mean below is this sum / n: NumPy's mean, bit for bit
    traded = float(tv.sum())
    sharpe = annualized_sharpe(pnl)
    annual = TRADING_DAYS * (total / n)
    turnover = traded / n
    fitness = sharpe * math.sqrt(abs(annual) / max(turnover, 0.125))
    cum = np.cumsum(pnl)
    peak = np.maximum(cum, 0.0)
    np.maximum.accumulate(peak, out=peak)
    lag = result.lag
    rows = slice(max(start - lag, 0), max(stop - lag, 0))
    books = result.max_weight[rows]  # per-day max |w| (the backtest kernel writes it)
    n_held = int(np.count_nonzero(held))
    out.update(
        sharpe=sharpe,
        annual_return=annual,
        turnover=turnover,
        fitness=float(fitness),
        max_drawdown=float(np.subtract(peak, cum, out=peak).max()),
        margin_bps=float(1e4 * total / traded) if traded > 0 else 0.0,
        coverage=float(result.coverage[sl].mean()),
        long_count=float(result.long_count[sl][held].mean()) if n_held else 0.0,
        short_count=float(result.short_count[sl][held].mean()) if n_held else 0.0,
        max_weight=float(books.max()) if books.size else 0.0,
        total_pnl=total,
        pnl_dollars=float(total * result.settings.book_size),
        days=float(n),
        held_days=float(n_held),
        nan_held=float(result.nan_held[sl].sum()),
    )
    if with_ic:
        out["ic"] = _nanmean((result.ic if window_ic is None else window_ic(False, start, stop))[sl])
    if with_rank_ic:
        series = result.rank_ic if window_ic is None else window_ic(True, start, stop)
        out["rank_ic"] = _nanmean(series[sl])
    return out


def split_metrics(
    result: BacktestResult, splits: Mapping[str, slice], *, with_rank_ic: bool = True
) -> dict[str, dict[str, float]]:
    """Metrics per named split, plus ``"all"`` (the whole period)."""
    out = {name: window_metrics(result, sl, with_rank_ic=with_rank_ic) for name, sl in splits.items()}
    out["all"] = window_metrics(result, slice(None), with_rank_ic=with_rank_ic)
    return out


def yearly_metrics(
    result: BacktestResult, dates: np.ndarray, *, with_rank_ic: bool = True
) -> dict[str, dict[str, float]]:
    """Metrics per calendar year of ``dates`` (``(T,)`` datetime64, sorted), keyed ``"2015"``."""
    dates = np.asarray(dates)
    if dates.shape[0] != result.pnl.shape[0]:
        raise DataError(f"dates has {dates.shape[0]} entries, the backtest {result.pnl.shape[0]} days")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    out: dict[str, dict[str, float]] = {}
    for year in np.unique(years):
        idx = np.flatnonzero(years == year)
        out[str(int(year))] = window_metrics(
            result, slice(int(idx[0]), int(idx[-1]) + 1), with_rank_ic=with_rank_ic
        )
    return out
