"""Bad input gets a specific DataError naming file, column and rows; suspicious data is only reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpha_env.data import check_dataset, load_panel, validate_prices
from alpha_env.errors import DataError


def _good_frame(n_days: int = 30, tickers: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    rows = []
    for k, tk in enumerate(tickers):
        close = 50.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, n_days)))
        for d, c in zip(dates, close):
            rows.append({"date": d.strftime("%Y-%m-%d"), "open": c * 1.001, "high": c * 1.02,
                         "low": c * 0.98, "close": c, "volume": 1000 + k, "Name": tk})
    return pd.DataFrame(rows)


def _write(tmp_path: Path, df: pd.DataFrame, name: str = "prices.csv") -> Path:
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def _error(path: Path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load_panel(path, **kw)
    msg = str(info.value)
    assert "Traceback" not in msg
    assert str(path) in msg
    return msg


def test_good_csv_loads_with_kaggle_name_column(tmp_path):
    p = _write(tmp_path, _good_frame())
    panel = load_panel(p)
    assert panel.shape == (30, 3)
    assert list(panel.tickers) == ["AAA", "BBB", "CCC"]


def test_missing_required_column(tmp_path):
    msg = _error(_write(tmp_path, _good_frame().drop(columns=["volume"])))
    assert "volume" in msg and "missing required column" in msg


def test_unparsable_dates(tmp_path):
    df = _good_frame()
    df.loc[4, "date"] = "not-a-date"
    msg = _error(_write(tmp_path, df))
    assert "column 'date'" in msg and "4 ('not-a-date')" in msg


def test_duplicate_date_ticker(tmp_path):
    df = pd.concat([_good_frame(), _good_frame().iloc[[7]]], ignore_index=True)
    msg = _error(_write(tmp_path, df))
    assert "(date, ticker)" in msg and "7 (AAA" in msg and "90 (AAA" in msg


def test_non_numeric_prices(tmp_path):
    df = _good_frame()
    df["close"] = df["close"].astype(object)
    df.loc[12, "close"] = "abc"
    msg = _error(_write(tmp_path, df))
    assert "column 'close'" in msg and "non-numeric" in msg and "12 (AAA" in msg and "'abc'" in msg


def test_non_positive_prices(tmp_path):
    df = _good_frame()
    df.loc[33, ["low", "close"]] = [0.0, 0.0]
    msg = _error(_write(tmp_path, df))
    assert "non-positive" in msg and "33 (BBB" in msg and "column 'close'" in msg


def test_high_below_low(tmp_path):
    df = _good_frame()
    df.loc[5, ["high", "low"]] = [10.0, 20.0]
    msg = _error(_write(tmp_path, df))
    assert "high < low" in msg and "5 (AAA" in msg


def test_close_outside_range(tmp_path):
    df = _good_frame()
    df.loc[61, "close"] = df.loc[61, "high"] * 1.5
    msg = _error(_write(tmp_path, df))
    assert "outside [low, high]" in msg and "61 (CCC" in msg


def test_ohlc_within_tolerance_is_masked_not_fatal(tmp_path):
    df = _good_frame()
    df.loc[5, ["high", "low"]] = [10.0, 20.0]
    panel = load_panel(_write(tmp_path, df), ohlc_tolerance=0.05)
    i = list(panel.tickers).index("AAA")
    assert np.isnan(panel.field("high")[5, i]) and np.isnan(panel.field("low")[5, i])
    assert np.isfinite(panel.field("close")[5, i])
    assert panel.metadata["quality"]["ohlc_masked"] == 1


def test_empty_file(tmp_path):
    p = tmp_path / "prices.csv"
    p.write_text("")
    assert "empty" in _error(p)
    p.write_text("date,open,high,low,close,volume,Name\n")
    assert "no data rows" in _error(p)


def test_sector_file_matching_no_ticker(tmp_path):
    p = _write(tmp_path, _good_frame())
    s = tmp_path / "sectors.csv"
    pd.DataFrame({"ticker": ["XXX", "YYY"], "sector": ["Energy", "Utilities"]}).to_csv(s, index=False)
    with pytest.raises(DataError) as info:
        load_panel(p, sectors=s)
    msg = str(info.value)
    assert str(s) in msg and "column 'ticker'" in msg and "match" in msg


def test_missing_values_are_nan_and_reported(tmp_path):
    df = _good_frame()
    df.loc[3, "open"] = np.nan
    panel = load_panel(_write(tmp_path, df))
    assert np.isnan(panel.field("open")[3, 0])
    assert panel.metadata["quality"]["missing_value"] == 1


def test_mapping_renames_columns(tmp_path):
    df = _good_frame().rename(columns={"Name": "permno_code", "close": "px_last"})
    p = _write(tmp_path, df)
    with pytest.raises(DataError, match="close"):
        load_panel(p)
    panel = load_panel(p, mapping={"permno_code": "ticker", "px_last": "close"})
    assert panel.shape == (30, 3)
    with pytest.raises(DataError, match="lacks"):
        load_panel(p, mapping={"nope": "ticker"})


def test_suspicious_jumps_zero_volume_and_gaps_are_reported():
    df = _good_frame(40)
    aaa = df.index[df["Name"] == "AAA"]
    df.loc[aaa[20:], ["open", "high", "low", "close"]] *= 0.5  # unadjusted 2:1 split: persists
    bbb = df.index[df["Name"] == "BBB"]
    df.loc[bbb[10], ["open", "high", "low", "close"]] *= 3.0  # one-day glitch: reverses
    df.loc[bbb[30], "volume"] = 0
    ccc = df.index[df["Name"] == "CCC"]
    df = df.drop(index=ccc[15:22]).rename(columns={"Name": "ticker"})
    issues = validate_prices(df, "mem")
    assert not [i for i in issues if i.severity == "error"]
    jumps = {(i.details["ticker"], i.details["date"], i.details["label"]) for i in issues if i.kind == "jump"}
    dates = pd.bdate_range("2020-01-01", periods=40).strftime("%Y-%m-%d")
    assert ("AAA", dates[20], "persisted") in jumps
    assert ("BBB", dates[10], "reversed") in jumps
    assert len(jumps) == 2  # the reversal day of the glitch is not a second jump
    zv = [i for i in issues if i.kind == "zero_volume"]
    assert zv and zv[0].count == 1
    gaps = [i for i in issues if i.kind == "gap"]
    assert gaps and gaps[0].details["gaps"] == [["CCC", dates[15], 7]]


def test_check_dataset_reports_errors_without_raising(tmp_path):
    df = _good_frame()
    df.loc[2, ["open", "high", "low", "close"]] = -1.0
    p = _write(tmp_path, df)
    report = check_dataset(p)
    assert not report.ok
    assert {i.kind for i in report.errors} == {"non_positive"}
    assert {i.column for i in report.errors} == {"open", "high", "low", "close"}
    assert report.to_dict()["n_errors"] == 4


def test_parquet_and_gzip_round_trip(tmp_path):
    df = _good_frame()
    a = load_panel(_write(tmp_path, df, "prices.csv.gz"))
    df2 = df.copy()
    df2["date"] = pd.to_datetime(df2["date"])
    pq = tmp_path / "p.parquet"
    df2.to_parquet(pq)
    b = load_panel(pq)
    np.testing.assert_array_equal(a.field("close"), b.field("close"))
    assert a.dataset_id == b.dataset_id


def test_dataset_folder_with_config(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    df = _good_frame(50)
    df["shares"] = 1e6
    _write(folder, df.rename(columns={"Name": "sym"}), "mydata.csv")
    _write(folder, _good_frame(5), "other.csv")
    pd.DataFrame({"ticker": ["AAA", "BBB", "CCC"], "sector": ["E", "E", "U"],
                  "industry": ["E1", "E2", None]}).to_csv(folder / "sectors.csv", index=False)
    with pytest.raises(DataError, match="several candidate price files"):
        load_panel(folder)
    (folder / "alpha_env.yaml").write_text(
        "name: tiny\nprices: mydata.csv\nmapping: {sym: ticker}\n"
        "splits: {valid: '2020-02-01', test: '2020-02-20'}\n"
        "universe: {min_history: 5}\n")
    panel = load_panel(folder)
    assert panel.metadata["name"] == "tiny"
    assert panel.has_field("cap") and "cap" in panel.field_names
    np.testing.assert_allclose(panel.field("cap"), panel.field("close") * 1e6)
    assert panel.group_labels("sector") == ("E", "U")
    assert list(panel.group("industry")) == [0, 1, -1]
    assert list(panel.group("subindustry")) == [0, 1, -1]
    assert panel.dates[panel.splits["valid"]][0] == np.datetime64("2020-02-03")
    assert not panel.universe[3].any() and panel.universe[4].all()
    (folder / "alpha_env.yaml").write_text("prices: mydata.csv\nbogus: 1\n")
    with pytest.raises(DataError, match="bogus"):
        load_panel(folder)
