"""Long ``(date, ticker, value...)`` rows → wide ``(T, N)`` arrays, without pandas pivot overhead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["WideFrame", "long_to_wide"]


@dataclass(frozen=True)
class WideFrame:
    """Result of :func:`long_to_wide`.

    Attributes:
        dates: ``(T,)`` sorted unique ``datetime64[D]``.
        tickers: ``(N,)`` sorted unique tickers.
        arrays: column name → ``(T, N)`` float64, NaN where no row exists.
        row_of: ``(T, N)`` int64 index of the source row for each cell, ``-1`` where none.
    """

    dates: np.ndarray
    tickers: np.ndarray
    arrays: dict[str, np.ndarray]
    row_of: np.ndarray


def long_to_wide(frame: pd.DataFrame, columns: Sequence[str]) -> WideFrame:
    """Scatter the long rows of ``frame`` (columns ``date`` as datetime64, ``ticker``) into arrays.

    ``frame`` must have no duplicate ``(date, ticker)`` (validation checks that first).
    """
    date_vals = frame["date"].to_numpy().astype("datetime64[D]")
    d_codes, dates = pd.factorize(date_vals, sort=True)
    t_codes, tickers = pd.factorize(frame["ticker"].to_numpy(), sort=True)
    shape = (len(dates), len(tickers))
    row_of = np.full(shape, -1, dtype=np.int64)
    row_of[d_codes, t_codes] = np.arange(len(frame))
    arrays: dict[str, np.ndarray] = {}
    for col in columns:
        out = np.full(shape, np.nan)
        out[d_codes, t_codes] = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
        arrays[col] = out
    return WideFrame(
        dates=np.asarray(dates, dtype="datetime64[D]"),
        tickers=np.asarray(tickers, dtype=str),
        arrays=arrays,
        row_of=row_of,
    )
