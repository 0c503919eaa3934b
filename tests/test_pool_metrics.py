"""Targets and factor metrics of alpha_env.pool against pandas / scipy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alpha_env.errors import SettingsError
from alpha_env.pool import (
    daily_ic,
    factor_metrics,
    fit_rows,
    forward_returns,
    ic_decay,
    ic_stats,
    known_lag,
    quantile_returns,
)


def _close(T: int = 80, N: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    close[rng.random((T, N)) < 0.03] = np.nan
    return close


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("horizon", [1, 5, 20])
def test_forward_returns_match_pandas_shift(delay, horizon):
    close = _close()
    c = pd.DataFrame(close)
    ref = (c.shift(-(delay + horizon)) / c.shift(-delay) - 1).to_numpy()
    out = forward_returns(close, horizon=horizon, delay=delay)
    assert out.shape == close.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-15)
    assert np.isnan(out[-(delay + horizon):]).all()
    assert known_lag(horizon, delay) == delay + horizon


def test_one_day_target_is_the_backtest_holding_day_return():
    close = _close()
    returns = close[1:] / close[:-1] - 1  # returns[d - 1] is the return of holding day d
    y = forward_returns(close, horizon=1, delay=1)
    np.testing.assert_allclose(y[:-2], returns[1:], rtol=0, atol=0)


def test_target_settings_are_checked():
    with pytest.raises(SettingsError, match="horizon"):
        forward_returns(_close(), horizon=0)
    with pytest.raises(SettingsError, match="delay"):
        forward_returns(_close(), delay=-1)


def test_fit_rows_keep_targets_inside_the_split():
    assert fit_rows(slice(0, 100), horizon=5, delay=1) == slice(0, 94)
    assert fit_rows(slice(None), horizon=1, delay=1, n_dates=50) == slice(0, 48)


def _pair(seed: int = 1, ties: bool = False):
    rng = np.random.default_rng(seed)
    T, N = 60, 40
    x = rng.normal(size=(T, N))
    y = 0.2 * x + rng.normal(size=(T, N))
    if ties:
        x = np.round(x)
    x[rng.random((T, N)) < 0.1] = np.nan
    y[rng.random((T, N)) < 0.1] = np.nan
    x[3] = np.nan  # a day without signal
    return x, y


@pytest.mark.parametrize("ties", [False, True])
def test_daily_ic_and_rank_ic_match_pandas(ties):
    x, y = _pair(ties=ties)
    X, Y = pd.DataFrame(x), pd.DataFrame(y)
    ref = X.corrwith(Y, axis=1).to_numpy()
    ref_rank = X.corrwith(Y, axis=1, method="spearman").to_numpy()
    np.testing.assert_allclose(daily_ic(x, y), ref, atol=1e-12)
    np.testing.assert_allclose(daily_ic(x, y, ranked=True), ref_rank, atol=1e-12)
    t = 7
    ok = np.isfinite(x[t]) & np.isfinite(y[t])
    assert daily_ic(x, y, ranked=True)[t] == pytest.approx(stats.spearmanr(x[t, ok], y[t, ok])[0], abs=1e-12)


def test_daily_ic_respects_the_universe():
    x, y = _pair()
    u = np.random.default_rng(5).random(x.shape) < 0.7
    ref = pd.DataFrame(np.where(u, x, np.nan)).corrwith(pd.DataFrame(y), axis=1).to_numpy()
    np.testing.assert_allclose(daily_ic(x, y, u), ref, atol=1e-12)


def test_ic_stats_mean_sd_ir():
    x, y = _pair()
    d = daily_ic(x, y)
    s = pd.Series(d[10:50]).dropna()
    out = ic_stats(d, slice(10, 50))
    assert out["mean"] == pytest.approx(s.mean(), abs=1e-14)
    assert out["sd"] == pytest.approx(s.std(), abs=1e-14)
    assert out["ir"] == pytest.approx(s.mean() / s.std(), abs=1e-12)
    assert out["days"] == len(s)
    empty = ic_stats(np.full(5, np.nan))
    assert np.isnan(empty["mean"]) and np.isnan(empty["ir"]) and empty["days"] == 0


def test_quantile_returns_match_pandas_qcut():
    rng = np.random.default_rng(2)
    T, N, q = 40, 50, 5
    x = rng.normal(size=(T, N))
    y = 0.3 * x + rng.normal(size=(T, N))
    rows = []
    for t in range(T):
        b = pd.qcut(x[t], q, labels=False)
        rows.append(pd.Series(y[t]).groupby(b).mean())
    ref = pd.DataFrame(rows).mean().to_numpy()
    np.testing.assert_allclose(quantile_returns(x, y, quantiles=q), ref, atol=1e-14)
    out = quantile_returns(x, y, quantiles=q, rows=slice(0, 10))
    np.testing.assert_allclose(out, pd.DataFrame(rows[:10]).mean().to_numpy(), atol=1e-14)


def test_quantile_returns_put_ties_together_and_skip_missing():
    x = np.array([[1.0, 1.0, 2.0, 3.0, np.nan, 4.0]])
    y = np.array([[0.1, 0.3, 0.5, 0.7, 9.0, np.nan]])
    # valid pairs: (1, .1), (1, .3), (2, .5), (3, .7): percentile ranks .375 .375 .75 1
    np.testing.assert_allclose(quantile_returns(x, y, quantiles=2), [0.2, 0.6], atol=1e-15)
    with pytest.raises(SettingsError, match="quantiles"):
        quantile_returns(x, y, quantiles=1)


def test_ic_decay_and_factor_metrics():
    close = _close(T=120, N=25, seed=3)
    rng = np.random.default_rng(4)
    y1 = forward_returns(close, horizon=1, delay=1)
    signal = np.where(np.isfinite(y1), y1, 0.0) + rng.normal(0, 0.02, close.shape)
    decay = ic_decay(signal, close, delay=1, horizons=(1, 5), rows=slice(0, 80))
    ref5 = pd.DataFrame(signal[:80]).corrwith(pd.DataFrame(forward_returns(close, horizon=5)[:80]), axis=1)
    assert decay[5] == pytest.approx(ref5.mean(), abs=1e-12)
    assert decay[1] > decay[5] > -1
    out = factor_metrics(signal, close, {"train": slice(0, 80), "test": slice(80, 120)},
                         decay_horizons=(1, 2, 5))
    assert set(out) == {"train", "test", "all"}
    tr = out["train"]
    assert tr["ic_decay"][1] == pytest.approx(tr["ic"])
    assert tr["icir"] == pytest.approx(tr["ic"] / tr["ic_sd"])
    assert tr["rank_icir"] == pytest.approx(tr["rank_ic"] / tr["rank_ic_sd"])
    assert len(tr["quantile_returns"]) == 5
    assert tr["quantile_spread"] > 0
