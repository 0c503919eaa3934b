"""Encode a news file into the per-day document-embedding table the environment reads.

Reads a news file (``published, title, tickers, lead``), aligns every text to the first trading date
whose close (16:00 New York) follows its publication (``DocumentStore``), embeds ``"title. lead"`` with a
:class:`encoders.DocumentEncoder` (cached on disk, so a rerun encodes nothing) and writes, under ``--out``:

==============================  ========================================================================
file                            content
==============================  ========================================================================
``document_embeddings.parquet`` index ``date`` (available date), columns ``e0..e{dim-1}`` float32: the
                                mean embedding of the texts that became available that day. Read it with
                                ``EmbeddingTable.from_frame(pd.read_parquet(path))``. A text published
                                after a close counts for the next trading day: no look-ahead.
``news_sentiment.parquet``      (with ``--sentiment-model``) long table ``date, ticker, news_sentiment,
                                news_count``: mean ``P(positive) - P(negative)`` of the texts citing the
                                ticker that became available that day
``encode_documents.json``       model id, settings, counts, seconds and texts per second
==============================  ========================================================================

Usage::

    python experiments/encode_documents.py                       # ../shared/data/us_2006_2013/news.parquet
    python experiments/encode_documents.py --limit 5000 --model path/to/finbert \
        --sentiment-model path/to/finbert
    python experiments/encode_documents.py --quick               # 200 texts, for CI
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:  # _common, also when imported by file path
    sys.path.insert(0, str(ROOT / "experiments"))

import _common  # noqa: E402

from alpha_env.data import load_news  # noqa: E402
from alpha_env.errors import DataError  # noqa: E402

__all__ = ["Args", "main", "daily_mean", "ticker_sentiment"]

DEFAULT_NEWS = ROOT.parent / "shared" / "data" / "us_2006_2013" / "news.parquet"


@dataclass
class Args:
    """Arguments of encode_documents.py."""

    news: str = str(DEFAULT_NEWS)
    """news file (Parquet or CSV with published, title, tickers, lead)"""
    prices: str | None = None
    """price file whose dates are the trading calendar (default: prices.parquet beside the news file;
    business days when there is none)"""
    model: str | None = None
    """document model: folder or Hub name in the local cache (default: the bundled all-MiniLM-L6-v2)"""
    sentiment_model: str | None = None
    """model with a sentiment head for the per-stock news_sentiment field (none: no sentiment file)"""
    out: str = "runs/documents"
    """output folder"""
    cache_dir: str = "runs/cache"
    """embedding cache folder (reruns encode nothing)"""
    max_length: int = 128
    """tokens per text"""
    batch_size: int = 64
    """texts per forward pass"""
    limit: int | None = None
    """encode only the first N texts (by publication time)"""
    threads: int | None = None
    """torch intra-op threads (default: torch's choice)"""
    quick: bool = False
    """CI mode: 200 texts, max_length 64"""


def parse_args(argv: list[str] | None = None) -> Args:
    """Command line → :class:`Args` (one ``--flag`` per field; ``--quick`` then shrinks the job)."""
    args = _common.parse_args(Args, argv, description=__doc__.split("\n")[0])
    if args.quick:
        args.limit = min(args.limit or 200, 200)
        args.max_length = min(args.max_length, 64)
    return args


def trading_calendar(news_path: Path, prices: str | None, published: np.ndarray) -> np.ndarray:
    """Trading dates: the price file's dates, or business days spanning the news (plus one week)."""
    path = Path(prices) if prices else news_path.with_name("prices.parquet")
    if path.is_file():
        dates = (
            pd.read_parquet(path, columns=["date"])["date"]
            if path.suffix == ".parquet"
            else (pd.read_csv(path, usecols=["date"])["date"])
        )
        return np.unique(pd.to_datetime(dates).to_numpy(dtype="datetime64[D]"))
    if prices:
        raise DataError(f"price file {prices} does not exist")
    start = pd.Timestamp(published.min()).normalize()
    stop = pd.Timestamp(published.max()).normalize() + pd.Timedelta(days=7)
    return pd.bdate_range(start, stop).to_numpy(dtype="datetime64[D]")


def daily_mean(dates: np.ndarray, vectors: np.ndarray) -> pd.DataFrame:
    """Mean vector per date: DataFrame indexed by ``date`` with columns ``e0..`` (float32)."""
    frame = pd.DataFrame(vectors, columns=[f"e{j}" for j in range(vectors.shape[1])])
    frame.index = pd.DatetimeIndex(dates.astype("datetime64[ns]"), name="date")
    return frame.groupby(level=0).mean().astype(np.float32)


def ticker_sentiment(dates: np.ndarray, tickers: list[tuple[str, ...]], polarity: np.ndarray) -> pd.DataFrame:
    """Long table ``date, ticker, news_sentiment, news_count`` from per-text polarity."""
    rows = [(d, t, p) for d, ts, p in zip(dates, tickers, polarity) for t in ts]
    frame = pd.DataFrame(rows, columns=["date", "ticker", "polarity"])
    grouped = frame.groupby(["date", "ticker"])["polarity"]
    out = pd.DataFrame({"news_sentiment": grouped.mean(), "news_count": grouped.size()}).reset_index()
    out["date"] = pd.to_datetime(out["date"])
    return out


def main(argv: list[str] | None = None) -> dict:
    """Run the job; returns the summary written to ``encode_documents.json``."""
    args = parse_args(argv)
    import torch

    from encoders import DocumentEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    news_path = Path(args.news)
    if not news_path.is_file():
        raise DataError(f"news file {news_path} does not exist (pass --news)")
    store = load_news(str(news_path))
    calendar = trading_calendar(news_path, args.prices, store.published)
    store = store.aligned(calendar)
    index = np.flatnonzero(store.available_index >= 0)
    if args.limit is not None:
        index = index[: args.limit]
    if index.size == 0:
        raise DataError(f"{news_path}: no text is published inside the calendar's dates")
    texts = [store.text(int(k)) for k in index]
    dates = store.available_dates[index]
    tickers = [store.document(int(k)).tickers for k in index]

    encoder = DocumentEncoder(
        args.model, max_length=args.max_length, batch_size=args.batch_size, cache_dir=args.cache_dir
    )
    print(
        f"encoding {len(texts):,} texts with {encoder.model_id} "
        f"({encoder.pooling} pooling, dim {encoder.dim})"
    )
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = daily_mean(dates, vectors)
    table.to_parquet(out / "document_embeddings.parquet")
    summary = {
        "news": str(news_path),
        "model_id": encoder.model_id,
        "pooling": encoder.pooling,
        "max_length": args.max_length,
        "dim": encoder.dim,
        "texts": len(texts),
        "texts_encoded_now": encoder.texts_encoded,
        "days": len(table),
        "first_date": str(table.index.min().date()),
        "last_date": str(table.index.max().date()),
        "seconds": round(seconds, 2),
        "texts_per_second": round(encoder.texts_encoded / seconds, 1) if encoder.texts_encoded else None,
        "torch_threads": torch.get_num_threads(),
    }
    if args.sentiment_model:
        scorer = DocumentEncoder(
            args.sentiment_model,
            max_length=args.max_length,
            batch_size=args.batch_size,
            cache_dir=args.cache_dir,
        )
        # only texts that cite a ticker feed a per-stock field: score just those
        cited = [k for k, ts in enumerate(tickers) if ts]
        start = time.perf_counter()
        polarity = scorer.polarity([texts[k] for k in cited])
        scored = time.perf_counter() - start
        sentiment = ticker_sentiment(dates[cited], [tickers[k] for k in cited], polarity)
        sentiment.to_parquet(out / "news_sentiment.parquet", index=False)
        summary["sentiment_model_id"] = scorer.model_id
        summary["sentiment_texts"] = len(cited)
        summary["sentiment_rows"] = len(sentiment)
        summary["sentiment_seconds"] = round(scored, 2)
        summary["sentiment_texts_per_second"] = (
            round(scorer.texts_encoded / scored, 1) if scorer.texts_encoded else None
        )
    (out / "encode_documents.json").write_text(json.dumps(summary, indent=2))
    rate = summary["texts_per_second"]
    print(
        f"{len(texts):,} texts → {len(table):,} days in {seconds:.1f} s"
        + (f" ({rate} texts/s)" if rate else " (all from the cache)")
        + f"; written to {out}"
    )
    return summary


if __name__ == "__main__":
    sys.exit(_common.run_cli(main, "encode_documents", sys.argv[1:]))
