"""``alpha-env data info|check``: JSON output, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from alpha_env.cli import data as data_cli
from alpha_env.errors import DataError


def _run(argv: list[str], capsys) -> tuple[int, str]:
    # the data subcommand on its own parser, so this test does not depend on the other subcommands
    parser = argparse.ArgumentParser(prog="alpha-env")
    data_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def _csv(tmp_path, bad: bool = False):
    dates = pd.bdate_range("2020-01-01", periods=40).strftime("%Y-%m-%d")
    rows = [{"date": d, "open": 10.0 + i, "high": 11.0 + i, "low": 9.0 + i, "close": 10.5 + i, "volume": 100,
             "Name": tk} for tk in ("AA", "BB") for i, d in enumerate(dates)]
    df = pd.DataFrame(rows)
    if bad:
        df.loc[3, "close"] = -5.0
        df.loc[3, "low"] = -6.0
    p = tmp_path / ("bad.csv" if bad else "good.csv")
    df.to_csv(p, index=False)
    return p


def test_info_json_on_file_and_synthetic(tmp_path, capsys):
    code, out = _run(["data", "info", str(_csv(tmp_path)), "synthetic:2", "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info[0]["dates"] == 40 and info[0]["tickers"] == 2 and "returns" in info[0]["fields"]
    assert info[0]["splits"]["train"]["days"] == 24
    assert info[1]["tickers"] == 100 and len(info[1]["planted"]) == 3


def test_check_exit_codes(tmp_path, capsys):
    code, out = _run(["data", "check", str(_csv(tmp_path)), "--json"], capsys)
    assert code == 0 and json.loads(out)["ok"] is True
    code, out = _run(["data", "check", str(_csv(tmp_path, bad=True))], capsys)
    assert code == 1 and "non_positive" in out and "3 (AA 2020-01-06)" in out


def test_main_prints_one_line_error(tmp_path, capsys, monkeypatch):
    import alpha_env.cli as cli

    monkeypatch.setattr(cli, "_COMMAND_MODULES", ("data",))
    code = cli.main(["data", "info", str(tmp_path / "missing.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "no such file" in err and "Traceback" not in err


def test_info_does_not_touch_arrays(tmp_path, capsys):
    p = data_cli.open_panel(str(_csv(tmp_path)))
    assert np.isfinite(p.field("close")).all()
    with pytest.raises(DataError, match="synthetic seed"):
        data_cli.open_panel("synthetic:x")


def test_check_synthetic_works_like_info(capsys):
    # issue 19: `alpha-env data check synthetic` failed while `data info synthetic` worked
    code, out = _run(["data", "check", "synthetic", "synthetic:3", "--json"], capsys)
    assert code == 0
    reports = json.loads(out)
    assert [r["source"] for r in reports] == ["synthetic", "synthetic:3"]
    assert reports[0]["ok"] and reports[0]["stats"]["dates"] == 1000 and reports[0]["stats"]["tickers"] == 100
