"""Attach a per-stock daily field from a long table (e.g. ``news_sentiment`` from the document encoder).

The table's ``date`` is the date the value becomes known at the close (for news: the first trading date
whose close follows the text's publication, as ``experiments/encode_documents.py`` writes it), so
``field[t, i]`` only ever holds information available at the close of ``t``: an alpha reading it at ``t``
sees no later value.

Per-stock news fields (:func:`stock_news_fields`, :func:`attach_news_fields`): from the panel's own
documents, ``news_count`` (texts citing the stock), ``news_sentiment`` (their mean polarity, with a sentiment
model) and ``news_emb_0 .. news_emb_{k-1}`` (their mean embedding through a fixed random projection, seeded
explicitly). A text enters the row of the first trading date *strictly after its publication date* (in the
store's time zone): a text published on day ``t``, before or after the close, never changes any value at
days ``<= t``. Cells without a text are 0 (no news is neutral news).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.errors import DataError, SettingsError

__all__ = ["attach_daily_field", "read_daily_field", "news_field_rows", "stock_news_fields",
           "attach_news_fields", "NEWS_FIELD_PREFIX"]

NEWS_FIELD_PREFIX = "news_"
"""Prefix of the per-stock news fields: ``news_count``, ``news_sentiment``, ``news_emb_<j>``."""


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


def news_field_rows(documents: Any, calendar: Any) -> np.ndarray:
    """``(D,)`` int64 row of each text: the first trading date of ``calendar`` strictly after the text's
    publication date in ``documents.timezone`` (-1 when the calendar ends first)."""
    cal = np.asarray(calendar, dtype="datetime64[D]")
    local = pd.DatetimeIndex(documents.published).tz_localize("UTC").tz_convert(documents.timezone)
    day = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    rows = np.searchsorted(cal, day, side="right").astype(np.int64)
    rows[rows >= cal.size] = -1
    return rows


def stock_news_fields(
    documents: Any,
    tickers: Any,
    calendar: Any,
    *,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    k: int = 0,
    seed: int | None = None,
    sentiment: Callable[[list[str]], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per-stock daily news fields, each ``(T, N)`` float64 (module docstring for the timing).

    Args:
        documents: a :class:`~alpha_env.data.DocumentStore` (its tickers say which stocks a text cites).
        tickers: ``(N,)`` the panel's tickers; calendar: ``(T,)`` its trading dates.
        embed: texts → ``(n, d)`` embeddings (e.g. ``encoders.DocumentEncoder(...).encode``, or the
            torch-free hashed bag of words); needed when ``k > 0``.
        k: number of embedding projections ``news_emb_0 .. news_emb_{k-1}``.
        seed: seed of the ``(d, k)`` Gaussian projection (scaled by ``1/sqrt(d)``); required when ``k > 0``.
        sentiment: texts → ``(n,)`` polarity in [-1, 1] (e.g. ``DocumentEncoder(finbert).polarity``);
            adds ``news_sentiment``.

    Returns:
        ``{"news_count": ..., ["news_sentiment": ...,] "news_emb_0": ..., ...}``.

    Raises:
        SettingsError: ``k < 0``, or ``k > 0`` without an explicit ``seed`` or without ``embed``.
        DataError: an embedder or sentiment model returns the wrong shape or a non-finite value.
    """
    if k < 0:
        raise SettingsError(f"k (news embedding projections) must be >= 0, got {k}")
    if k > 0 and seed is None:
        raise SettingsError("news embedding projections need an explicit seed (seed=...)")
    cal = np.asarray(calendar, dtype="datetime64[D]")
    col = {str(t): j for j, t in enumerate(np.asarray(tickers, dtype=str))}
    rows = news_field_rows(documents, cal)
    hits_doc: list[int] = []
    hits_row: list[int] = []
    hits_col: list[int] = []
    for d in np.flatnonzero(rows >= 0):
        for ticker in documents.document(int(d)).tickers:
            j = col.get(str(ticker))
            if j is not None:
                hits_doc.append(int(d))
                hits_row.append(int(rows[d]))
                hits_col.append(j)
    doc_idx, row_idx, col_idx = (np.asarray(a, dtype=np.int64) for a in (hits_doc, hits_row, hits_col))
    shape = (cal.size, len(col))
    count = np.zeros(shape)
    np.add.at(count, (row_idx, col_idx), 1.0)
    out = {f"{NEWS_FIELD_PREFIX}count": count}
    cited = np.unique(doc_idx)
    texts = [documents.text(int(d)) for d in cited]
    position = np.searchsorted(cited, doc_idx)  # hit → row of the cited-texts arrays

    def cell_mean(values: np.ndarray, what: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] != len(texts) or not np.isfinite(values).all():
            raise DataError(f"stock news fields: the {what} returned shape {values.shape} with "
                            f"{int((~np.isfinite(values)).sum())} non-finite values for {len(texts)} texts")
        total = np.zeros(shape + values.shape[1:])
        np.add.at(total, (row_idx, col_idx), values[position])
        scale = np.where(count > 0, count, 1.0)
        return total / (scale if values.ndim == 1 else scale[..., None])

    if sentiment is not None:
        out[f"{NEWS_FIELD_PREFIX}sentiment"] = cell_mean(sentiment(texts) if texts else np.zeros(0),
                                                         "sentiment model")
    if k > 0:
        if embed is None:
            raise SettingsError("news embedding projections (k > 0) need an embedder (embed=texts → (n, d))")
        vectors = np.asarray(embed(texts), dtype=np.float64) if texts else None
        if vectors is None:  # no text cites a stock: nothing to project
            means = np.zeros((*shape, k))
        else:
            if vectors.ndim != 2:
                raise DataError(f"stock news fields: the embedder returned shape {vectors.shape}")
            rng = np.random.default_rng(seed)
            projection = rng.standard_normal((vectors.shape[1], k)) / np.sqrt(vectors.shape[1])
            means = cell_mean(vectors @ projection, "embedder")
        for j in range(k):
            out[f"{NEWS_FIELD_PREFIX}emb_{j}"] = means[..., j]
    return out


def attach_news_fields(panel: Any, **options: Any) -> tuple[Any, list[str]]:
    """A new panel with :func:`stock_news_fields` of its own documents; returns ``(panel, field names)``.

    ``news_count`` replaces a count the loader attached (that one counts a text on its available date;
    this one from the day after publication). ``options`` are those of :func:`stock_news_fields`.

    Raises:
        DataError: the panel has no documents.
    """
    if panel.documents is None or len(panel.documents) == 0:
        raise DataError("per-stock news fields need a panel with news (documents); this one has none")
    fields = stock_news_fields(panel.documents, panel.tickers, panel.dates, **options)
    return panel.with_fields(fields), list(fields)
