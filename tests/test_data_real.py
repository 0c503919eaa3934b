"""The bundled real datasets load with no options (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alpha_env.data import check_dataset, load_panel

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SP500 = DATA / "sp500_2013_2018"
US = DATA / "us_2006_2013"

pytestmark = pytest.mark.real_data


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not available")


@pytest.fixture(scope="module")
def sp500():
    _need(SP500)
    return load_panel(SP500)


@pytest.fixture(scope="module")
def us():
    _need(US)
    return load_panel(US)


def test_sp500_shape_and_groups(sp500):
    assert sp500.shape == (1259, 505)
    assert str(sp500.dates[0]) == "2013-02-08" and str(sp500.dates[-1]) == "2018-02-07"
    assert len(sp500.group_labels("sector")) == 12
    assert sp500.metadata["group_columns"] == {"sector": "sector", "industry": "industry",
                                               "subindustry": "industry"}
    assert np.array_equal(sp500.group("industry"), sp500.group("subindustry"))
    assert sp500.metadata["vwap_approximated"] is True
    # the 11 missing opens load as NaN, not 0
    aapl = list(sp500.tickers).index("REGN")
    d = sp500.date_index("2015-06-09")
    assert np.isnan(sp500.field("open")[d, aapl]) and np.isfinite(sp500.field("close")[d, aapl])
    # a recent index addition is NaN (not listed) before its first day
    aptv = list(sp500.tickers).index("APTV")
    assert np.isfinite(sp500.field("close")[:, aptv]).sum() == 44
    assert not sp500.universe[:-44, aptv].any()


def test_sp500_documented_jumps_are_reported(sp500):
    jumps = {(t, d) for t, d, _ in sp500.metadata["jumps"]}
    for case in [("DISCA", "2014-08-07"), ("DISCK", "2014-08-07"), ("EBAY", "2015-07-20"),
                 ("NI", "2015-07-02"), ("LNT", "2016-05-19")]:
        assert case in jumps
    labels = {(t, d): lab for t, d, lab in sp500.metadata["jumps"]}
    assert labels[("LNT", "2016-05-19")] == "reversed" and labels[("EBAY", "2015-07-20")] == "persisted"


def test_sp500_check_report():
    _need(SP500)
    report = check_dataset(SP500)
    assert report.ok
    assert {"missing_value", "zero_volume", "jump", "ohlc_masked"} <= {i.kind for i in report.issues}
    assert report.stats["tickers"] == 505 and report.stats["dates"] == 1259
    assert ("LNT", "2016-05-19") in report.jumps()


def test_us_shape_sectors_and_news(us):
    assert us.shape == (1804, 637)
    assert len(us.group_labels("sector")) == 12
    assert us.documents is not None and len(us.documents) == 106_520
    counts = us.field("news_count")
    assert counts.shape == us.shape and np.nansum(counts) > 20_000
    close = us.field("close")
    assert np.all(np.isnan(counts[~np.isfinite(close)]))


def test_us_news_has_no_look_ahead(us):
    docs = us.documents
    pub = docs.published
    idx = docs.available_index
    decisions = docs.decision_instants(us.dates)
    ok = idx >= 0
    assert (pub[ok] <= decisions[idx[ok]]).all()  # usable at or after publication
    prev = idx[ok] - 1
    has_prev = prev >= 0
    assert (pub[ok][has_prev] > decisions[prev[has_prev]]).all()  # and not usable one close earlier
    rng = np.random.default_rng(0)
    for t in rng.choice(us.n_dates, 25, replace=False):
        cutoff = decisions[t]
        got = docs.indices_before(us.dates[t], lookback_days=3)
        assert (pub[got] <= cutoff).all()
        assert (pub[got] > cutoff - np.timedelta64(3, "D")).all()
        assert got.size == int(((pub <= cutoff) & (pub > cutoff - np.timedelta64(3, "D"))).sum())
    # "Fri Oct 20, 2006 4:25pm EDT" (after Friday's close) is first usable at Monday's close
    k = int(np.flatnonzero(pub == np.datetime64("2006-10-20T20:25", "ns"))[0])
    assert str(docs.available_dates[k]) == "2006-10-23"
    assert k not in set(docs.indices_before("2006-10-20", lookback_days=5).tolist())
    assert k in set(docs.indices_before("2006-10-23", lookback_days=5).tolist())
