"""Attach a per-stock daily field from a long table (e.g. ``news_sentiment`` from the document encoder).

The table's ``date`` is the date the value becomes known at the close (for news: the first trading date
whose close follows the text's publication, as ``experiments/encode_documents.py`` writes it), so
``field[t, i]`` only ever holds information available at the close of ``t``: an alpha reading it at ``t``
sees no later value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.errors import DataError

__all__ = ["attach_daily_field", "read_daily_field"]


def read_daily_field(path: str | Path, column: str) -> pd.DataFrame:
    """Read ``date, ticker, <column>`` from a Parquet or CSV file (other columns are ignored).

    Raises:
        DataError: missing file or column, unparsable dates.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"daily field file {source} does not exist")
    frame = pd.read_parquet(source) if source.suffix == ".parquet" else pd.read_csv(source)
    missing = [c for c in ("date", "ticker", column) if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; it has {list(frame.columns)}")
    return frame[["date", "ticker", column]]


def attach_daily_field(panel: Any, frame: pd.DataFrame, column: str, *, fill: float = 0.0,
                       name: str | None = None) -> tuple[Any, dict[str, int]]:
    """A new panel with ``frame[column]`` as the ``(T, N)`` field ``name`` (default ``column``).

    Args:
        panel: the :class:`~alpha_env.data.MarketPanel`.
        frame: long rows ``date, ticker, <column>``; one row per (date, ticker).
        column: the value column (finite numbers).
        fill: value of the cells without a row (0.0: no news is neutral news); NaN keeps them missing.
        name: field name on the panel.

    Returns:
        ``(panel, counts)`` with ``counts`` = rows ``used``, rows of ``unknown_tickers``, rows dated
        ``outside`` the panel's first..last date.

    Raises:
        DataError: a missing column, a duplicate (date, ticker), a non-finite value or a date inside the
            panel's span that is not one of its trading dates (naming the first offending row).
    """
    for col in ("date", "ticker", column):
        if col not in frame.columns:
            raise DataError(f"daily field table: missing column {col!r}; it has {list(frame.columns)}")
    try:
        dates = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise DataError(f"daily field table: column 'date' does not parse as dates ({exc})") from None
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"daily field table: column {column!r} row {int(bad[0])} is not a finite number "
                        f"({frame[column].iloc[bad[0]]!r})")
    tickers = frame["ticker"].astype(str).to_numpy()
    dup = pd.DataFrame({"d": dates, "t": tickers}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"daily field table: duplicate (date, ticker) at row {row}: "
                        f"{dates[row]} {tickers[row]}")
    cal = np.asarray(panel.dates, dtype="datetime64[D]")
    inside = (dates >= cal[0]) & (dates <= cal[-1])
    t_idx = np.searchsorted(cal, dates)
    off = inside & (cal[np.minimum(t_idx, cal.size - 1)] != dates)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DataError(f"daily field table: row {row} is dated {dates[row]}, which is not a trading date of "
                        f"the panel (align the table to the panel's calendar)")
    col_of = {t: j for j, t in enumerate(np.asarray(panel.tickers, dtype=str))}
    j_idx = np.array([col_of.get(t, -1) for t in tickers], dtype=np.int64)
    use = inside & (j_idx >= 0)
    out = np.full(panel.shape, float(fill))
    out[t_idx[use], j_idx[use]] = values[use]
    counts = {"used": int(use.sum()), "unknown_tickers": int((inside & (j_idx < 0)).sum()),
              "outside": int((~inside).sum())}
    return panel.with_fields({name or column: out}), counts
