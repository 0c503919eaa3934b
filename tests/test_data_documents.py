"""DocumentStore: publication parsing, alignment to decision times, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpha_env.data import DocumentStore, load_news
from alpha_env.data.documents import parse_published
from alpha_env.errors import DataError

CAL = pd.bdate_range("2013-03-07", periods=5).to_numpy().astype("datetime64[D]")  # Thu..Wed


def _store(**kw) -> DocumentStore:
    stamps = pd.to_datetime([
        "2013-03-07 15:59", "2013-03-07 16:00", "2013-03-07 16:01",  # Thursday around the close
        "2013-03-09 11:00",  # Saturday
        "2013-03-13 17:00",  # after the last close
    ]).tz_localize("America/New_York")
    return DocumentStore(stamps, ["a", "b", "c", "d", "e"], ["", "", "", "", ""],
                         ["AAA", "", "AAA BBB", "BBB", "AAA"], calendar=CAL, **kw)


def test_available_dates_follow_the_close():
    s = _store()
    got = s.available_dates
    assert list(got[:4].astype(str)) == ["2013-03-07", "2013-03-07", "2013-03-08", "2013-03-11"]
    assert np.isnat(got[4])


def test_decision_time_configurable():
    s = _store(decision_time="09:30")
    assert str(s.available_dates[0]) == "2013-03-08"


def test_dst_switch_handled():
    # 2013-03-10 US clocks change: 16:00 New York is 21:00 UTC before, 20:00 UTC after
    inst = _store().decision_instants(np.array(["2013-03-08", "2013-03-11"], dtype="datetime64[D]"))
    assert [str(x)[11:16] for x in inst] == ["21:00", "20:00"]


def test_documents_before_never_returns_later_texts():
    s = _store()
    titles = [d.title for d in s.documents_before("2013-03-07", lookback_days=3)]
    assert titles == ["a", "b"]
    assert [d.title for d in s.documents_before("2013-03-11", lookback_days=4)] == ["a", "b", "c", "d"]
    assert [d.title for d in s.documents_before("2013-03-11", lookback_days=3)] == ["d"]
    assert [d.title for d in s.documents_before("2013-03-08", lookback_days=1)] == ["c"]
    at = pd.Timestamp("2013-03-07 16:00:30", tz="America/New_York")
    assert [d.title for d in s.documents_before(at, lookback_days=1)] == ["a", "b"]
    with pytest.raises(DataError, match="ambiguous"):
        s.documents_before(pd.Timestamp("2013-03-07 12:00"))


def test_daily_counts():
    counts = _store().daily_counts(["AAA", "BBB", "CCC"])
    assert counts.shape == (5, 3)
    assert counts[:3].tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert counts.sum() == 4  # the text after the last close is not counted


def test_parse_published_formats_and_errors():
    vals = pd.Series(["Fri Oct 20, 2006 4:25pm EDT", "Mon Jan 07, 2008 9:05am EST", "2010-05-03T14:00:00Z",
                      "2010-05-03 10:00:00-04:00"])
    got = parse_published(vals)
    assert [str(x)[:16] for x in got] == ["2006-10-20T20:25", "2008-01-07T14:05", "2010-05-03T14:00",
                                          "2010-05-03T14:00"]
    with pytest.raises(DataError, match="rows 0"):
        parse_published(pd.Series(["Fri Oct 20, 2006 4:25pm XYZ"]))
    with pytest.raises(DataError, match="rows 1"):
        parse_published(pd.Series(["2010-05-03T14:00:00Z", "2010-05-03 14:00"]))


def test_load_news_file_with_missing_stamp(tmp_path):
    df = pd.DataFrame({"date": ["2013-03-07", "2013-03-08"],
                       "published": ["Thu Mar 07, 2013 3:00pm EST", None],
                       "title": ["x", None], "tickers": ["AAA", ""], "lead": ["body", "later"]})
    p = tmp_path / "news.csv"
    df.to_csv(p, index=False)
    s = load_news(str(p), calendar=CAL)
    assert s.info["published_fallback"] == 1
    # missing stamp -> end of its date anywhere on earth (Mar 9 12:00 UTC) -> usable Monday
    assert [str(x) for x in s.available_dates] == ["2013-03-07", "2013-03-11"]
    assert s.text(0) == "x. body" and s.text(1) == "later"
    with pytest.raises(DataError, match="published"):
        df.drop(columns=["published"]).to_csv(p, index=False)
        load_news(str(p))
