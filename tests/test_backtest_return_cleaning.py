"""Return cleaning (``max_return``, ``glitch_factor``): off = unchanged, on = a planted one-day glitch no
longer books its PnL spike (and is counted), bad values are named, and the signal / book never changes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from alpha_env.ace import ACE, SimulationSettings
from alpha_env.ace.ids import alpha_id
from alpha_env.backtest import BacktestSettings, run_backtest
from alpha_env.backtest.cleaning import clean_returns, return_mask
from alpha_env.backtest.kernels import backtest_kernel_serial
from alpha_env.cli import main
from alpha_env.data import MarketPanel, synthetic_market
from alpha_env.errors import SettingsError
from alpha_env.ops.threads import read_only

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

GLITCH_DAY, GLITCH_STOCK = 150, 7


def _market(glitch: float = 1.0) -> MarketPanel:
    """A small synthetic market; with ``glitch != 1`` one stock's close is off by that factor for one day."""
    base = synthetic_market(seed=3, n_stocks=30, n_days=240, news=False)
    fields = {n: np.array(base.field(n)) for n in ("open", "high", "low", "close", "volume")}
    for n in ("open", "high", "low", "close"):
        fields[n][GLITCH_DAY, GLITCH_STOCK] *= glitch
    groups = {g: (base.group(g), base.group_labels(g)) for g in base.group_names if g != "market"}
    return MarketPanel(base.dates, base.tickers, fields, groups=groups, universe=base.universe,
                       splits=base.splits)


def _returns(close: np.ndarray) -> np.ndarray:
    out = np.full_like(close, np.nan)
    out[1:] = close[1:] / close[:-1] - 1.0
    return out


# ------------------------------------------------------------------------------------------ off
def test_off_is_the_plain_kernel_and_keeps_ids():
    rng = np.random.default_rng(0)
    T, N = 120, 25
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    close[60, 3] /= 10  # a decimal-shift glitch, booked as is when cleaning is off
    ret = _returns(close)
    signal = rng.normal(size=(T, N))
    universe = np.ones((T, N), dtype=bool)
    explicit_off = BacktestSettings(max_return=0, glitch_factor=0, glitch_band=0.05)
    assert explicit_off == BacktestSettings() and not explicit_off.cleans_returns
    res = run_backtest(signal, ret, universe, None, explicit_off)
    raw = backtest_kernel_serial(*map(read_only, (signal, ret, universe)), np.zeros(N, np.int64), 1, True,
                                 0, 1, 0.1, 2, 1)
    for name, ref in zip(("weights", "gross_pnl", "turnover", "long_count", "short_count", "nan_held"), raw):
        np.testing.assert_array_equal(getattr(res, name), ref, err_msg=name)
    assert res.return_mask is None and res.masked_returns == 0
    assert not res.masked_held.any() and not res.removed_pnl.any()
    assert clean_returns(ret, explicit_off)[0] is ret
    # settings dicts (and so alpha ids) name the cleaning keys only when they are on
    old_keys = ["delay", "decay", "neutralization", "truncation", "book_size", "cost_bps", "min_stocks",
                "min_price", "top_n", "adv_window"]
    assert list(SimulationSettings().to_dict()) == old_keys
    assert "max_return" not in BacktestSettings().to_dict()
    on = SimulationSettings(glitch_factor=1.5)
    assert on.to_dict()["glitch_factor"] == 1.5 and SimulationSettings.from_dict(on.to_dict()) == on
    plain = SimulationSettings().to_dict()
    assert alpha_id("rank(close)", on.to_dict(), "d") != alpha_id("rank(close)", plain, "d")


# ------------------------------------------------------------------------------------------ on
@pytest.mark.parametrize("settings", [dict(glitch_factor=1.5), dict(max_return=0.5),
                                      dict(max_return=0.5, glitch_factor=2.5, glitch_band=0.1)])
def test_planted_glitch_no_longer_spikes_and_is_counted(settings):
    panel = _market(glitch=3.0)  # close x3 for one day, then back: returns +200 % and -66.7 %
    expr = "-1 * rank(ts_mean(volume, 5))"  # a book that does not react to the glitched close
    off = ACE(panel, SimulationSettings(neutralization="sector"), rank_ic=False).simulate(expr, save=False)
    on = ACE(panel, SimulationSettings(neutralization="sector", **settings), rank_ic=False).simulate(
        expr, save=False)
    d0, d1 = GLITCH_DAY, GLITCH_DAY + 1
    pos = off.backtest.positions()
    w0, w1 = pos[d0, GLITCH_STOCK], pos[d1, GLITCH_STOCK]
    assert w0 != 0 and w1 != 0  # the planted stock is held through the glitch
    r = panel.field("returns")[:, GLITCH_STOCK]
    assert r[d0] > 1.5 and r[d1] < -0.6  # about +200 % and -66.7 %
    # off: the spike is booked; on: exactly w*r disappears on both days, every other day is unchanged
    assert abs(off.pnl[d0]) > 2 * np.abs(np.delete(off.pnl, [d0, d1])).max()  # the largest day by far
    np.testing.assert_allclose(off.pnl[[d0, d1]] - on.pnl[[d0, d1]], [w0 * r[d0], w1 * r[d1]], atol=1e-15)
    rest = np.ones(off.pnl.shape[0], dtype=bool)
    rest[[d0, d1]] = False
    np.testing.assert_array_equal(on.pnl[rest], off.pnl[rest])
    assert abs(on.pnl[d0]) <= np.abs(on.pnl[rest]).max()  # an ordinary day
    bt = on.backtest
    assert bt.masked_returns == 2 and bt.return_mask[d0, GLITCH_STOCK] and bt.return_mask[d1, GLITCH_STOCK]
    assert bt.masked_held[d0] == 1 and bt.masked_held[d1] == 1 and bt.masked_held.sum() == 2
    assert bt.nan_held.sum() == off.backtest.nan_held.sum()  # masked returns are not counted as NaN
    np.testing.assert_allclose(bt.removed_pnl[[d0, d1]], [w0 * r[d0], w1 * r[d1]], atol=1e-15)
    summary = on.metadata["return_cleaning"]
    assert summary["masked_returns"] == 2 and summary["masked_held"] == 2
    assert summary["removed_pnl"] == pytest.approx(w0 * r[d0] + w1 * r[d1])
    split = next(n for n, sl in panel.splits.items() if d0 in range(*sl.indices(panel.n_dates)))
    assert summary["by_split"][split]["masked_held"] == 2
    top = summary["largest"][0]
    assert top["ticker"] == panel.tickers[GLITCH_STOCK] and top["date"] == str(panel.dates[d0])
    json.dumps(on.metadata, allow_nan=False)  # storable as is
    assert "return_cleaning" not in off.metadata
    assert on.alpha_id != off.alpha_id


def test_cleaning_never_changes_the_signal_or_the_book():
    """No look-ahead: the glitch rule reads the next day's return, but only for the booked returns;
    a signal that reacts to the glitched close builds the very same books with and without cleaning."""
    panel = _market(glitch=0.1)  # a decimal shift: -90 % then +900 %
    expr = "-1 * delta(close, 1)"  # sees the bad close on its day, as a live trader would
    ace_off = ACE(panel, SimulationSettings(), rank_ic=False)
    ace_on = ACE(panel, SimulationSettings(glitch_factor=1.5, max_return=0.3), rank_ic=False)
    sig_off = ace_off.evaluator.evaluate(ace_off.canonical(expr)[0])
    sig_on = ace_on.evaluator.evaluate(ace_on.canonical(expr)[0])
    np.testing.assert_array_equal(sig_on, sig_off)
    off, on = ace_off.simulate(expr, save=False), ace_on.simulate(expr, save=False)
    for name in ("weights", "turnover", "long_count", "short_count", "coverage", "status", "valid_count"):
        np.testing.assert_array_equal(getattr(on.backtest, name), getattr(off.backtest, name), err_msg=name)
    changed = np.flatnonzero(on.pnl != off.pnl)
    assert set(changed) <= set(np.flatnonzero(on.backtest.masked_held))
    assert on.backtest.masked_held.sum() >= 2


# ------------------------------------------------------------------------------------------ rule
def test_glitch_rule_masks_only_one_day_reversals():
    T = 12
    prices = {
        "glitch": [10, 10, 10, 1.0, 10.2, 10, 10, 10, 10, 10, 10, 10],     # /10 for a day, back within 5 %
        "persists": [10, 10, 10, 1.0, 1.0, 1.0, 1, 1, 1, 1, 1, 1],          # a real (unadjusted) drop
        "two_days": [10, 10, 10, 30, 30, 10, 10, 10, 10, 10, 10, 10],      # bad for two days: not one-day
        "not_back": [10, 10, 10, 30, 12, 12, 12, 12, 12, 12, 12, 12],      # back, but only within 20 %
        "small": [10, 10, 10, 13, 10, 10, 10, 10, 10, 10, 10, 10],          # +30 % and back: below factor
        "gap": [10, 10, 10, 30, np.nan, 10, 10, 10, 10, 10, 10, 10],       # no next close: not judged
        "late": [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 30],           # last day: no next close
    }
    close = np.array(list(prices.values()), dtype=float).T
    assert close.shape == (T, len(prices))
    ret = _returns(close)
    mask = return_mask(ret, BacktestSettings(glitch_factor=1.5))
    col = {k: i for i, k in enumerate(prices)}
    assert set(zip(*np.nonzero(mask))) == {(3, col["glitch"]), (4, col["glitch"])}
    capped = return_mask(ret, BacktestSettings(max_return=0.5))
    np.testing.assert_array_equal(capped, np.isfinite(ret) & (np.abs(np.nan_to_num(ret)) > 0.5))
    wide = return_mask(ret, BacktestSettings(glitch_factor=1.5, glitch_band=0.25))
    assert wide[3, col["not_back"]] and wide[4, col["not_back"]]
    cleaned, m = clean_returns(ret, BacktestSettings(glitch_factor=1.5))
    assert np.isnan(cleaned[m]).all() and not np.isnan(ret[m]).any()  # the input is never modified


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(max_return=-0.1), "max_return"),
    (dict(max_return=math.nan), "max_return"),
    (dict(max_return="big"), "max_return"),
    (dict(max_return=True), "max_return"),
    (dict(glitch_factor=1.0), "glitch_factor"),
    (dict(glitch_factor=0.5), "glitch_factor"),
    (dict(glitch_factor=-2), "glitch_factor"),
    (dict(glitch_factor=math.inf), "glitch_factor"),
    (dict(glitch_factor=1.04), "glitch_factor"),  # must exceed 1 + glitch_band
    (dict(glitch_band=0.0), "glitch_band"),
    (dict(glitch_band=1.0), "glitch_band"),
    (dict(glitch_band=None), "glitch_band"),
])
def test_bad_values_name_the_setting(kwargs, name):
    with pytest.raises(SettingsError, match=name):
        BacktestSettings(**kwargs)
    with pytest.raises(SettingsError, match=name):
        SimulationSettings(**kwargs)
    with pytest.raises(SettingsError, match=name):
        SimulationSettings.from_dict(kwargs)


def test_cli_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["simulate", "rank(-delta(close, 5))", "--no-store", "--no-png"]
    assert main([*argv, "--glitch-factor", "1.5", "--max-return", "0.4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metadata"]["settings"]["glitch_factor"] == 1.5
    assert out["metadata"]["settings"]["max_return"] == 0.4
    assert out["metadata"]["return_cleaning"]["masked_returns"] >= 0
    assert main([*argv, "--max-return", "0.4"]) == 0
    assert "return cleaning:" in capsys.readouterr().out
    assert main([*argv, "--glitch-factor", "1.2", "--glitch-band", "0.3"]) == 2  # a user error
    assert "glitch_factor" in capsys.readouterr().err


def test_study_threads_the_option(tmp_path, experiments):
    study_real_data = experiments("study_real_data")

    doc = study_real_data.main(["--quick", "--datasets", "synthetic", "--methods", "alpha101", "--costs", "0",
                                "--glitch-factor", "1.5", "--out", str(tmp_path), "--no-progress"])
    assert doc["args"]["glitch_factor"] == 1.5 and doc["datasets"]["synthetic"]["masked_returns"] == 0
    assert doc["runs"] and not doc["runs"][0]["note"].startswith("failed")
    assert "return cleaning (booked returns only" in (tmp_path / "results.md").read_text()


# ------------------------------------------------------------------------------------------ real data
@pytest.mark.real_data
def test_us_2006_2013_decimal_glitches():
    """The one-day glitches of us_2006_2013 (closes a decimal place off for a day) are what the rule
    masks; the two in its test split were the -17 % / -13 % days of the study's charts."""
    path = DATA / "us_2006_2013"
    if not path.exists():
        pytest.skip("../shared/data/us_2006_2013 is absent")
    from alpha_env.data import load_panel

    panel = load_panel(path, news="")
    ret = panel.field("returns")
    mask = return_mask(ret, BacktestSettings(glitch_factor=1.5))
    hits = {(str(panel.tickers[i]), str(panel.dates[t])) for t, i in zip(*np.nonzero(mask))}
    assert len(hits) == 20
    assert {("PXD", "2013-08-05"), ("PXD", "2013-08-06"), ("AVB", "2012-12-21"), ("AVB", "2012-12-24"),
            ("BXP", "2007-05-02"), ("BXP", "2007-05-03")} <= hits
    ace = ACE(panel, SimulationSettings(neutralization="sector", glitch_factor=1.5), rank_ic=False)
    res = ace.simulate("-1 * delta(close, 1)", save=False)
    test = panel.splits["test"]
    off = res.backtest.pnl + res.backtest.removed_pnl  # what the uncleaned backtest books
    assert off[test].min() < -0.15 and res.pnl[test].min() > -0.05
    assert res.metadata["return_cleaning"]["largest"][0]["ticker"] in {"PXD", "AVB", "BXP"}
