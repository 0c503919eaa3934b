"""The metrics of a window are the module table's NumPy definitions, bit for bit.

``window_metrics`` and ``annualized_sharpe`` take shortcuts for speed (one shared sum for a mean and a
std, the held days computed once per result); these tests state the definitions in plain NumPy and check
every number against them on drawn series and backtests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
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
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in a PnL with infinities: NaN
        cum = np.cumsum(pnl)
        peak = np.maximum.accumulate(np.maximum(cum, 0.0))
        drawdown = float((peak - cum).max())
    books = res.max_weight[max(start - res.lag, 0):max(stop - res.lag, 0)]
    ic = res.ic[sl][np.isfinite(res.ic[sl])]
    ric = res.rank_ic[sl][np.isfinite(res.rank_ic[sl])]
    out.update(
        sharpe=sharpe,
        annual_return=annual,
        turnover=turnover,
        fitness=float(sharpe * math.sqrt(abs(annual) / max(turnover, 0.125))),
        max_drawdown=drawdown,
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


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 9), st.integers(0, 2**32 - 1),
       st.sampled_from(["normal", "negative zeros", "mixed zeros", "magnitudes", "nan"]))
def test_window_sums_are_numpys_add_reduce_bit_for_bit(n: int, offset: int, seed: int, kind: str):
    """The table's sums follow NumPy's pairwise order (blocks of 128, halves at multiples of 8) and its
    reduction's start from 0.0 (a sum of -0.0s is 0.0): a window's ``total_pnl`` is ``np.add.reduce`` of
    its PnL, whatever its length and start."""
    import dataclasses

    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    if kind == "negative zeros":
        a = np.full(n, -0.0)
    elif kind == "mixed zeros":
        a = rng.choice([-0.0, 0.0], n)
    elif kind == "magnitudes":
        a = a * 10.0 ** rng.integers(-300, 300, n)
    elif kind == "nan":
        a[rng.integers(n)] = np.nan
    res = _backtest(seed % 1000, T=offset + 2 + n, N=6)
    start = max(offset, res.first_held)
    pnl = np.concatenate([rng.normal(size=start), a])[: res.pnl.shape[0]]
    pnl = np.concatenate([pnl, np.zeros(res.pnl.shape[0] - pnl.shape[0])])
    res = dataclasses.replace(res, pnl=pnl)
    got = window_metrics(res, slice(start, start + n))["total_pnl"]
    assert _same(got, float(np.add.reduce(pnl[start:start + n])))


def test_every_short_window_matches_the_definitions():
    """Windows of 1 to 6 days at every start: the book's largest weight comes from the signal days of
    the window's holding days (a one-day shift changes it), the drawdown from the window's own PnL."""
    for delay_days in (0, 12):
        res = _backtest(11, nan_days=delay_days)
        for length in range(1, 7):
            for start in range(0, res.pnl.shape[0] - length + 1):
                got = window_metrics(res, slice(start, start + length))
                want = _reference_window(res, slice(start, start + length))
                for key in want:
                    assert _same(got[key], want[key]), (start, length, key, got[key], want[key])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pnl_day_gives_the_definitions_not_a_number_made_from_it(bad: float):
    """A NaN or infinite PnL (a book on an overflowing signal) propagates through the Sharpe, the
    drawdown and the sums exactly as NumPy's expressions do: never a finite number made from it."""
    import dataclasses

    res = _backtest(5, T=120, nan_days=4)
    pnl = res.pnl.copy()
    pnl[[30, 31, 77]] = bad
    books = res.max_weight.copy()  # and a book of that weight, then finite ones after it
    books[[50, 51]] = bad, 0.5 * books[52]
    res = dataclasses.replace(res, pnl=pnl, _derived={**res._derived, "max_weight": books})
    for window in (slice(0, 120), slice(20, 40), slice(31, 32), slice(40, 76), slice(70, 90), slice(49, 60)):
        got = window_metrics(res, window)
        want = _reference_window(res, window)
        for key in want:
            assert _same(got[key], want[key]), (window, key, got[key], want[key])
