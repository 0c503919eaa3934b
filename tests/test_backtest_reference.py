"""The Numba backtest equals a plain pandas reference backtest (same rules, written independently here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpha_env.backtest import BacktestSettings, run_backtest, window_metrics

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SP500 = DATA / "sp500_2013_2018"


def reference_backtest(signal, returns, universe, groups, s: BacktestSettings) -> dict[str, pd.DataFrame]:
    """Pandas version of the documented rules; truncation by repeated "clip, rescale" (no water-filling)."""
    sig = pd.DataFrame(signal)
    ret = pd.DataFrame(returns)
    uni = pd.DataFrame(universe)
    if s.decay > 1:
        num = sum((s.decay - k) * sig.shift(k).fillna(0.0) for k in range(s.decay))
        den = sum((s.decay - k) * sig.shift(k).notna() for k in range(s.decay))
        x = (num / den.where(den > 0)).where(den > 0)
    else:
        x = sig.copy()
    x = x.where(uni & np.isfinite(x))
    valid = x.notna().sum(axis=1)
    raw_gross = x.abs().sum(axis=1)
    if s.neutralization == "market":
        x = x.sub(x.mean(axis=1), axis=0)
    elif s.neutralization != "none":
        g = pd.Series(groups)
        x.loc[:, (g < 0).to_numpy()] = np.nan
        parts = []
        for code in sorted(set(g[g >= 0])):
            cols = x.columns[(g == code).to_numpy()]
            parts.append(x[cols].sub(x[cols].mean(axis=1), axis=0))
        x = pd.concat(parts + [x.loc[:, (g < 0).to_numpy()]], axis=1)[x.columns]
    gross = x.abs().sum(axis=1)
    traded = (valid >= s.min_stocks) & (gross > 1e-12 * raw_gross)
    w = x.div(gross, axis=0).fillna(0.0)
    w[~traded] = 0.0
    if s.truncation > 0:
        c = s.truncation
        a = w.to_numpy().copy()
        for _ in range(20000):
            over = np.abs(a).max(axis=1) > c * (1 + 1e-14)
            if not over.any():
                break
            clipped = np.clip(a[over], -c, c)
            a[over] = clipped / np.abs(clipped).sum(axis=1, keepdims=True)
        w = pd.DataFrame(np.clip(a, -c, c), index=w.index, columns=w.columns)
    lag = s.delay + 1
    held = w.shift(lag).fillna(0.0)
    gross_pnl = (held * ret.fillna(0.0)).sum(axis=1)
    turnover = (w - w.shift(1).fillna(0.0)).abs().sum(axis=1).shift(lag).fillna(0.0)
    pnl = gross_pnl - s.cost_bps * 1e-4 * turnover
    return {"weights": w, "pnl": pnl, "turnover": turnover, "held": held}


def _sharpe_reference(pnl: pd.Series) -> float:
    return float(np.sqrt(252) * pnl.mean() / pnl.std())


def _compare(signal, returns, universe, groups, s, atol=1e-9):
    res = run_backtest(signal, returns, universe, groups, s)
    ref = reference_backtest(signal, returns, universe, groups, s)
    np.testing.assert_allclose(res.weights, ref["weights"].to_numpy(), rtol=0, atol=atol)
    np.testing.assert_allclose(res.pnl, ref["pnl"].to_numpy(), rtol=0, atol=atol)
    np.testing.assert_allclose(res.turnover, ref["turnover"].to_numpy(), rtol=0, atol=atol)
    held = ref["held"].to_numpy()
    np.testing.assert_array_equal(res.long_count, (held > 0).sum(axis=1))
    np.testing.assert_array_equal(res.short_count, (held < 0).sum(axis=1))
    first = int(np.flatnonzero(res.held)[0])
    m = window_metrics(res, slice(None), with_rank_ic=False)
    pnl = ref["pnl"].iloc[first:]
    assert m["sharpe"] == pytest.approx(_sharpe_reference(pnl), rel=1e-9, abs=1e-9)
    assert m["turnover"] == pytest.approx(ref["turnover"].iloc[first:].mean(), rel=1e-9)
    cum = pnl.cumsum()
    assert m["max_drawdown"] == pytest.approx(float((cum.cummax().clip(lower=0) - cum).max()), abs=1e-12)
    return res


def _synthetic(seed: int, T: int = 160, N: int = 37, nan_frac: float = 0.1):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.02, (T, N))
    returns[rng.random((T, N)) < 0.02] = np.nan
    signal = rng.normal(size=(T, N))
    signal[rng.random((T, N)) < nan_frac] = np.nan
    signal[:5] = np.nan  # warm-up
    signal[40, :] = 3.0  # one constant day
    universe = rng.random((T, N)) > 0.05
    groups = rng.integers(-1, 5, N).astype(np.int64)
    return signal, returns, universe, groups


SETTINGS = [
    BacktestSettings(),
    BacktestSettings(delay=0, neutralization="none", truncation=0.0),
    BacktestSettings(delay=1, decay=4, neutralization="sector", truncation=0.05, cost_bps=5.0),
    BacktestSettings(delay=0, decay=2, neutralization="industry", truncation=0.08),
    BacktestSettings(neutralization="subindustry", truncation=0.0, cost_bps=10.0, min_stocks=5),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.neutralization}-d{s.delay}-k{s.decay}")
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pandas_reference_synthetic(settings, seed):
    _compare(*_synthetic(seed), settings)


def test_matches_reference_with_binding_truncation_everywhere():
    # few stocks per day, heavy-tailed signal: the cap binds on most days and needs several rounds
    rng = np.random.default_rng(7)
    T, N = 60, 25
    signal = rng.standard_t(1.5, (T, N))
    returns = rng.normal(0, 0.01, (T, N))
    universe = np.ones((T, N), dtype=bool)
    res = _compare(signal, returns, universe, None, BacktestSettings(truncation=0.06))
    assert (np.abs(res.weights).max(axis=1) >= 0.06 - 1e-12).mean() > 0.9


@pytest.fixture(scope="module")
def sp500():
    if not SP500.exists():
        pytest.skip(f"real data not found at {SP500}")
    frame = pd.read_csv(SP500 / "all_stocks_5yr.csv.gz", parse_dates=["date"])
    close = frame.pivot(index="date", columns="Name", values="close").sort_index()
    volume = frame.pivot(index="date", columns="Name", values="volume").reindex_like(close)
    sectors = pd.read_csv(SP500 / "sectors.csv").set_index("ticker").reindex(close.columns)
    codes = pd.factorize(sectors["sector"])[0].astype(np.int64)  # -1 where unknown
    returns = close / close.shift(1) - 1.0
    return close, volume, returns, codes


@pytest.mark.real_data
@pytest.mark.parametrize(
    "settings",
    [
        BacktestSettings(),
        BacktestSettings(neutralization="sector", decay=3, cost_bps=2.0),
        BacktestSettings(delay=0, neutralization="none", truncation=0.02),
    ],
    ids=["default", "sector-decay", "none-d0"],
)
def test_matches_pandas_reference_sp500(sp500, settings):
    close, volume, returns, codes = sp500
    signal = -(close / close.shift(5) - 1.0) * np.log(volume.rolling(10).mean())
    universe = close.notna().to_numpy()
    res = _compare(signal.to_numpy(), returns.to_numpy(), universe, codes, settings)
    assert res.degenerate_reason is None
    assert np.isfinite(res.pnl).all()
