"""attach_daily_field: long (date, ticker, value) rows become a panel field, with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpha_env.data import attach_daily_field, read_daily_field, synthetic_market
from alpha_env.errors import DataError


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=1, n_stocks=10, n_days=80, news=False)


def _rows(panel, *items):
    return pd.DataFrame([(str(panel.dates[t]), panel.tickers[j], v) for t, j, v in items],
                        columns=["date", "ticker", "news_sentiment"])


def test_rows_land_on_their_date_and_stock_and_the_rest_is_filled(panel):
    frame = _rows(panel, (3, 1, 0.5), (10, 4, -0.25))
    frame.loc[len(frame)] = ["2001-01-02", panel.tickers[0], 0.9]  # before the panel: ignored
    frame.loc[len(frame)] = [str(panel.dates[5]), "ZZZZ", 0.9]  # unknown ticker: ignored
    out, counts = attach_daily_field(panel, frame, "news_sentiment")
    field = out.field("news_sentiment")
    assert field[3, 1] == 0.5 and field[10, 4] == -0.25
    assert np.count_nonzero(field) == 2
    assert counts == {"used": 2, "unknown_tickers": 1, "outside": 1}
    missing, _ = attach_daily_field(panel, frame, "news_sentiment", fill=np.nan, name="sent")
    assert np.isnan(missing.field("sent")).sum() == field.size - 2


def test_bad_tables_name_the_row(panel, tmp_path):
    weekend = pd.Timestamp(panel.dates[0]) + pd.Timedelta(days=1)
    while weekend.to_datetime64().astype("datetime64[D]") in set(panel.dates):
        weekend += pd.Timedelta(days=1)
    frame = _rows(panel, (2, 0, 0.1))
    frame.loc[len(frame)] = [str(weekend.date()), panel.tickers[0], 0.2]
    with pytest.raises(DataError, match="row 1 is dated"):
        attach_daily_field(panel, frame, "news_sentiment")
    with pytest.raises(DataError, match="row 1 is not a finite"):
        attach_daily_field(panel, _rows(panel, (2, 0, 0.1), (3, 0, float("inf"))), "news_sentiment")
    with pytest.raises(DataError, match="duplicate"):
        attach_daily_field(panel, _rows(panel, (2, 0, 0.1), (2, 0, 0.3)), "news_sentiment")
    with pytest.raises(DataError, match="missing column"):
        attach_daily_field(panel, frame.drop(columns="news_sentiment"), "news_sentiment")
    with pytest.raises(DataError, match="does not exist"):
        read_daily_field(tmp_path / "none.parquet", "news_sentiment")
    path = tmp_path / "s.parquet"
    _rows(panel, (2, 0, 0.1)).to_parquet(path)
    assert list(read_daily_field(path, "news_sentiment").columns) == ["date", "ticker", "news_sentiment"]
