"""Forward-return targets, aligned with the backtest's delay.

Row ``t`` of a target is the return earned by a position taken at the close of day ``t + delay`` (the
first close at which a signal computed from data through the close of ``t`` can be traded) and held
``horizon`` trading days:

    target[t, i] = close[t + delay + horizon, i] / close[t + delay, i] - 1        (fraction, not %)

So with ``horizon = 1`` the target of row ``t`` is ``returns[t + delay + 1]``, the return the backtest
books on holding day ``t + delay + 1`` for the signal of day ``t``. Shape ``(T, N)`` like the panel; the
last ``delay + horizon`` rows are NaN (their closes lie after the panel), and so is every cell where
either close is missing or the entry close is not positive. A target is only an *outcome*: it is
known at the close of day ``t + delay + horizon`` (:func:`known_lag`) and never enters a signal.

Example::

    y = forward_returns(panel.field("close"), horizon=5, delay=1)     # (T, N), like AlphaGen's 5-day
    rows = fit_rows(panel.splits["train"], horizon=5, delay=1)        # train rows known inside train
"""

from __future__ import annotations

import numpy as np

from alpha_env.errors import DataError, SettingsError

__all__ = ["forward_returns", "known_lag", "fit_rows", "check_horizon", "check_delay"]


def check_horizon(horizon: object) -> int:
    """``horizon`` as a positive int of trading days; :class:`SettingsError` otherwise."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or int(horizon) < 1:
        raise SettingsError(f"horizon must be a positive integer number of days, got {horizon!r}")
    return int(horizon)


def check_delay(delay: object) -> int:
    """``delay`` as a non-negative int of trading days; :class:`SettingsError` otherwise."""
    if isinstance(delay, bool) or not isinstance(delay, int | np.integer) or int(delay) < 0:
        raise SettingsError(f"delay must be a non-negative integer number of days, got {delay!r}")
    return int(delay)


def known_lag(horizon: int, delay: int) -> int:
    """Days after row ``t`` at whose close the target of row ``t`` is known: ``delay + horizon``."""
    return check_delay(delay) + check_horizon(horizon)


def forward_returns(close: np.ndarray, *, horizon: int = 1, delay: int = 1) -> np.ndarray:
    """Forward return of each signal row (see the module docstring for the exact definition).

    Args:
        close: ``(T, N)`` closing prices (NaN = missing).
        horizon: holding period in trading days (1 by default; 5 or 20 for AlphaGen-style targets).
        delay: days between the signal's data and the entry close (the backtest's ``delay``).

    Returns:
        ``(T, N)`` float64 fractions; NaN in the last ``delay + horizon`` rows and where undefined.
    """
    h = check_horizon(horizon)
    d = check_delay(delay)
    close = np.asarray(close, dtype=np.float64)
    if close.ndim != 2:
        raise DataError(f"close must be a (dates x stocks) array, got shape {close.shape}")
    T = close.shape[0]
    out = np.full(close.shape, np.nan)
    n = T - d - h
    if n <= 0:
        return out
    entry = close[d : d + n]
    exit_ = close[d + h : d + h + n]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = exit_ / entry - 1.0
    ok = (entry > 0.0) & np.isfinite(entry) & np.isfinite(exit_)
    out[:n] = np.where(ok, r, np.nan)
    return out


def fit_rows(split: slice, *, horizon: int, delay: int, n_dates: int | None = None) -> slice:
    """Rows of ``split`` whose target is known by the close of the split's last day.

    Row ``t`` qualifies when ``t + delay + horizon <= stop - 1``: a model fitted on these rows uses no
    price from after the split. ``n_dates`` resolves open-ended slices.
    """
    lag = known_lag(horizon, delay)
    if n_dates is None:
        if split.start is None or split.stop is None:
            raise SettingsError("fit_rows needs n_dates for an open-ended split")
        start, stop = int(split.start), int(split.stop)
    else:
        start, stop, _ = split.indices(n_dates)
    return slice(start, max(start, stop - lag))
