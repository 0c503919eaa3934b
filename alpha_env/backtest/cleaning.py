"""Return cleaning: which daily returns a backtest books as 0 (a data-cleaning step, off by default).

Real price files carry bad closes: in ``us_2006_2013`` a close is sometimes printed a decimal place off for
one day and is right again the next (PXD 2013-08-05: 180.81 → 17.97 → 176.27, i.e. returns −90 % then
+881 %); ``sp500_2013_2018`` has one such day (LNT 2016-05-19) and unadjusted corporate actions. A
daily-rebalanced book that holds weight ``w`` through such a pair books ``w·(−0.90 + 8.81) ≈ 7.9·w``
although the stock went nowhere: a short of 2 % of the book loses 17 % in a day.

Two rules, each off at 0 (see :class:`~alpha_env.backtest.BacktestSettings`):

=================== ================================================================================
setting             a return ``r[t, i]`` is masked (booked as 0) when
=================== ================================================================================
``max_return``      ``|r[t, i]| > max_return``
``glitch_factor``   day ``t`` is a *one-day glitch*: ``|log(1 + r[t, i])| > log(glitch_factor)`` and
                    ``|log((1 + r[t, i])·(1 + r[t+1, i]))| < log(1 + glitch_band)`` (the close of
                    ``t + 1`` is back within ``glitch_band`` of the close of ``t − 1``); both ``r[t]``
                    and ``r[t+1]`` are masked
=================== ================================================================================

What it uses: the returns only (``returns[t] = close[t]/close[t-1] − 1``). The glitch rule judges the
return of day ``t`` with the close of ``t + 1``, one day of hindsight, as any cleaning of a bad print does.
That hindsight never reaches a signal: the signal is computed from the panel's own fields, which cleaning
does not touch, so a signal still sees the bad close on its day (as a live trader would). Cleaning changes
only the returns the backtest books and correlates with (PnL, IC, rank IC). Multi-day bad prints are left
to ``max_return``.
"""

from __future__ import annotations

import math

import numpy as np

from alpha_env.backtest.settings import BacktestSettings

__all__ = ["return_mask", "clean_returns"]


def return_mask(returns: np.ndarray, settings: BacktestSettings) -> np.ndarray:
    """``(T, N)`` bool: the finite returns that ``settings`` masks (all ``False`` when cleaning is off).

    Args:
        returns: ``(T, N)`` float daily returns (fractions); NaN = no return (never masked).
        settings: the backtest settings (``max_return``, ``glitch_factor``, ``glitch_band``).
    """
    r = np.asarray(returns, dtype=np.float64)
    mask = np.zeros(r.shape, dtype=bool)
    finite = np.isfinite(r)
    if settings.max_return > 0.0:
        with np.errstate(invalid="ignore"):
            mask |= finite & (np.abs(r) > settings.max_return)
    if settings.glitch_factor > 0.0 and r.shape[0] > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log1p(np.where(finite, r, np.nan))  # r = -1 (a zero close) gives -inf: a jump
            jump = np.abs(lr[:-1]) > math.log(settings.glitch_factor)
            back = np.abs(lr[:-1] + lr[1:]) < math.log1p(settings.glitch_band)
        glitch = jump & back  # day t of a glitch, t = 0 .. T-2 (NaN comparisons are False)
        mask[:-1] |= glitch
        mask[1:] |= glitch
    return mask


def clean_returns(returns: np.ndarray, settings: BacktestSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """The returns a backtest books: masked returns set to NaN (a held NaN return earns 0).

    Returns ``(returns, mask)``: the input itself and ``None`` when cleaning is off, else a cleaned copy
    (C-contiguous float64) and the :func:`return_mask`.
    """
    if not settings.cleans_returns:
        return returns, None
    mask = return_mask(returns, settings)
    out = np.array(returns, dtype=np.float64, order="C", copy=True)
    out[mask] = np.nan
    return out, mask
