"""Broken input files found by adversarial testing (issue 19): each fails with one DataError naming the
file and rows, or loads with a warning, never a raw traceback or a silent wrong number."""

from __future__ import annotations

import gzip
import warnings

import pandas as pd
import pytest

from alpha_env.data import check_dataset, load_panel, read_table
from alpha_env.errors import DataError


def _frame(n_dates: int = 60, tickers: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> pd.DataFrame:
    dates = pd.bdate_range("2013-01-02", periods=n_dates).strftime("%Y-%m-%d")
    rows = [{"date": d, "ticker": tk, "open": 10 + 0.1 * i, "high": 10.2 + 0.1 * i, "low": 9.8 + 0.1 * i,
             "close": 10 + 0.1 * i, "volume": 1000.0} for tk in tickers for i, d in enumerate(dates)]
    return pd.DataFrame(rows)


def test_truncated_gzip_is_a_data_error_naming_the_file(tmp_path):
    raw = gzip.compress(_frame().to_csv(index=False).encode())
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"prices\.csv\.gz: the compressed file is truncated"):
        read_table(path)
    with pytest.raises(DataError, match="truncated"):
        load_panel(path)
    report = check_dataset(path)
    assert not report.ok and "truncated" in report.errors[0].message


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 20)
    with pytest.raises(DataError, match=r"prices\.csv\.gz"):
        read_table(path)


def test_intraday_rows_are_rejected_with_ticker_date_and_rows(tmp_path):
    df = _frame()
    df["date"] = df["date"] + " 15:30"
    extra = df.iloc[[5]].copy()
    extra["date"] = extra["date"].str.replace("15:30", "10:00")
    path = tmp_path / "intraday.csv"
    pd.concat([df, extra], ignore_index=True).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"intraday.csv: column 'date': 2 rows are several bars of one ticker "
                                        r"on one day .* at rows 5 \(AAA 2013-01-09 15:30:00\), 180 \(AAA "
                                        r"2013-01-09 10:00:00\)"):
        load_panel(path)
    assert [i.kind for i in check_dataset(path).errors] == ["intraday"]


def test_one_bar_a_day_with_a_time_of_day_still_loads(tmp_path):
    df = _frame()
    df["date"] = df["date"] + " 16:00"
    path = tmp_path / "eod.csv"
    df.to_csv(path, index=False)
    assert load_panel(path).shape == (60, 3)


@pytest.mark.parametrize(("column", "text"), [("close", "inf"), ("high", "1e400"), ("volume", "-inf")])
def test_infinite_values_are_data_errors_naming_rows_and_column(tmp_path, column, text):
    df = _frame().astype({column: object})
    df.loc[7, column] = text
    path = tmp_path / "inf.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"column '{column}': 1 infinite value\(s\).* at rows 7 \(AAA "
                                        r"2013-01-11\)") as info:
        load_panel(path)
    assert [i.kind for i in info.value.issues] == ["non_finite"]


def test_a_stray_date_is_reported_and_warned_about(tmp_path):
    df = _frame()
    stray = pd.DataFrame([{"date": "1600-01-01", "ticker": "AAA", "open": 10.0, "high": 10.0, "low": 10.0,
                           "close": 10.0, "volume": 5.0}])
    path = tmp_path / "old.csv"
    pd.concat([df, stray], ignore_index=True).to_csv(path, index=False)
    report = check_dataset(path)
    assert report.ok
    (issue,) = report.of_kind("date_outlier")
    assert issue.rows == (180,) and "1600-01-01" in issue.message
    assert "2013-01-02..2013-03-26" in issue.message
    with pytest.warns(UserWarning, match="1600-01-01"):
        panel = load_panel(path)
    assert panel.metadata["quality"]["date_outlier"] == 1


def test_ordinary_file_has_no_date_outlier(tmp_path):
    path = tmp_path / "good.csv"
    _frame().to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_panel(path)
    assert not check_dataset(path).of_kind("date_outlier")


@pytest.mark.parametrize("n_dates", [1, 2, 3])
def test_too_few_dates_fail_with_the_empty_split_error(tmp_path, n_dates):
    path = tmp_path / "short.csv"
    _frame(n_dates).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"short.csv: split '(valid|test)' contains no trading date"):
        load_panel(path)
    assert [i.kind for i in check_dataset(path).errors] == ["splits"]
    assert load_panel(path, splits={"train": 1.0}).splits["train"] == slice(0, n_dates)


def test_four_dates_split_without_an_empty_split(tmp_path):
    path = tmp_path / "four.csv"
    _frame(4).to_csv(path, index=False)
    assert all(s.stop > s.start for s in load_panel(path).splits.values())

