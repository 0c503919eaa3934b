"""The metrics of a window are the module table's NumPy definitions, bit for bit.

``window_metrics`` and ``annualized_sharpe`` take shortcuts for speed (one shared sum for a mean and a
std, the held days computed once per result); these tests state the definitions in plain NumPy and check
every number against them on drawn series and backtests.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.backtest import (
    BacktestSettings,
    annualized_sharpe,
    run_backtest,
    split_metrics,
    yearly_metrics,
)
from alpha_env.backtest.metrics import METRIC_NAMES, TRADING_DAYS, window_metrics


def _reference_sharpe(pnl: np.ndarray) -> float:
    pnl = np.asarray(pnl, dtype=np.float64)
    if not np.isfinite(pnl).all():
        return math.nan
    if pnl.shape[0] < 2:
        return 0.0
    peak = float(np.abs(pnl).max())
    if peak > 0.0:
        pnl = pnl / peak
    sd = float(pnl.std(ddof=1))
    if not sd > 0.0 or not math.isfinite(sd):
        return 0.0
    return float(math.sqrt(TRADING_DAYS) * pnl.mean() / sd)


def _reference_window(res, window: slice) -> dict[str, float]:
    T = res.pnl.shape[0]
    start, stop, _ = window.indices(T)
    idx = np.flatnonzero(res.held)
    start = max(start, int(idx[0]) if idx.size else T)
    out = dict.fromkeys(METRIC_NAMES, 0.0)
    if stop <= start:
        out["ic"] = out["rank_ic"] = math.nan
        return out
    sl = slice(start, stop)
    pnl, tv, held = res.pnl[sl], res.turnover[sl], res.held[sl]
    sharpe = _reference_sharpe(pnl)
    annual = float(TRADING_DAYS * pnl.mean())
    turnover = float(tv.mean())
    cum = np.cumsum(pnl)
    peak = np.maximum.accumulate(np.maximum(cum, 0.0))
    books = res.max_weight[max(start - res.lag, 0):max(stop - res.lag, 0)]
    ic = res.ic[sl][np.isfinite(res.ic[sl])]
    ric = res.rank_ic[sl][np.isfinite(res.rank_ic[sl])]
    out.update(
        sharpe=sharpe,
        annual_return=annual,
        turnover=turnover,
        fitness=float(sharpe * math.sqrt(abs(annual) / max(turnover, 0.125))),
        max_drawdown=float((peak - cum).max()),
        margin_bps=float(1e4 * pnl.sum() / tv.sum()) if tv.sum() > 0 else 0.0,
        ic=float(ic.mean()) if ic.size else math.nan,
        rank_ic=float(ric.mean()) if ric.size else math.nan,
        coverage=float(res.coverage[sl].mean()),
        long_count=float(res.long_count[sl][held].mean()) if held.any() else 0.0,
        short_count=float(res.short_count[sl][held].mean()) if held.any() else 0.0,
        max_weight=float(books.max()) if books.size else 0.0,
        total_pnl=float(pnl.sum()),
        pnl_dollars=float(pnl.sum() * res.settings.book_size),
        days=float(stop - start),
        held_days=float(held.sum()),
        nan_held=float(res.nan_held[sl].sum()),
    )
    return out


def _same(a: float, b: float) -> bool:
    return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)


_MAGNITUDE = st.integers(-300, 300)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), _MAGNITUDE, st.integers(0, 2**32 - 1),
       st.sampled_from(["normal", "flat", "nan", "inf", "huge"]))
def test_sharpe_is_numpys_mean_over_std_bit_for_bit(n: int, exponent: int, seed: int, kind: str):
    rng = np.random.default_rng(seed)
    pnl = rng.normal(0.0, 10.0**exponent, n)
    if kind == "flat":
        pnl = np.full(n, 10.0**exponent)
    elif kind == "nan" and n:
        pnl[rng.integers(n)] = np.nan
    elif kind == "inf" and n:
        pnl[rng.integers(n)] = -np.inf
    elif kind == "huge":
        pnl = rng.choice([-1.0, 1.0], n) * 1.7e308
    assert _same(annualized_sharpe(pnl), _reference_sharpe(pnl))


def _backtest(seed: int, T: int = 90, N: int = 25, nan_days: int = 0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(T, N))
    signal[rng.random((T, N)) < 0.1] = np.nan
    signal[:nan_days] = np.nan  # no book at first: the windows start at the first held day
    returns = rng.normal(0.0, 0.02, (T, N))
    returns[rng.random((T, N)) < 0.02] = np.nan
    universe = rng.random((T, N)) > 0.05
    groups = rng.integers(0, 4, N).astype(np.int64)
    return run_backtest(signal, returns, universe, groups, BacktestSettings(), parallel=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40), st.integers(0, 95), st.integers(0, 95))
def test_window_metrics_are_the_tables_definitions_bit_for_bit(seed: int, nan_days: int, a: int, b: int):
    res = _backtest(seed, nan_days=nan_days)
    got = window_metrics(res, slice(min(a, b), max(a, b)))
    want = _reference_window(res, slice(min(a, b), max(a, b)))
    assert got.keys() == want.keys()
    for key in want:
        assert _same(got[key], want[key]), (key, got[key], want[key])
        assert type(got[key]) is float, key


def test_split_and_yearly_metrics_match_the_definitions_on_every_window():
    res = _backtest(7, T=300, nan_days=12)
    dates = np.arange("2015-11-02", 300, dtype="datetime64[D]")
    splits = {"train": slice(0, 150), "test": slice(150, 300)}
    for name, m in split_metrics(res, splits).items():
        want = _reference_window(res, splits.get(name, slice(None)))
        assert all(_same(m[k], want[k]) for k in want), name
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    for year, m in yearly_metrics(res, dates).items():
        idx = np.flatnonzero(years == int(year))
        want = _reference_window(res, slice(int(idx[0]), int(idx[-1]) + 1))
        assert all(_same(m[k], want[k]) for k in want), year
