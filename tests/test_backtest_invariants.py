"""Backtest invariants, timing (no look-ahead), costs, degenerate signals and settings validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.backtest import BacktestSettings, run_backtest, split_metrics, window_metrics, yearly_metrics
from alpha_env.errors import SettingsError


def _market(seed: int, T: int = 300, N: int = 60):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.02, (T, N))
    universe = np.ones((T, N), dtype=bool)
    return rng, returns, universe


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["market", "sector", "industry"]),
    decay=st.integers(0, 4),
    n_groups=st.integers(1, 6),
)
def test_neutral_and_unit_gross_without_truncation(seed, mode, decay, n_groups):
    rng, returns, universe = _market(seed, T=40, N=30)
    signal = rng.normal(size=returns.shape)
    signal[rng.random(signal.shape) < 0.2] = np.nan
    universe = rng.random(signal.shape) > 0.1
    groups = rng.integers(0, n_groups, signal.shape[1]).astype(np.int64)
    s = BacktestSettings(neutralization=mode, decay=decay, truncation=0.0)
    res = run_backtest(signal, returns, universe, groups, s)
    w = res.weights
    traded = res.status == 0
    assert traded.any()
    np.testing.assert_allclose(np.abs(w[traded]).sum(axis=1), 1.0, atol=1e-12)
    assert (np.abs(w[~traded]) == 0).all()
    codes = groups if mode != "market" else np.zeros_like(groups)
    for g in np.unique(codes):
        np.testing.assert_allclose(w[traded][:, codes == g].sum(axis=1), 0.0, atol=1e-12)
    # no weight outside the universe of the signal day
    assert (w[~universe] == 0).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cap=st.floats(0.02, 0.5), n=st.integers(3, 80))
def test_truncation_caps_and_keeps_unit_gross(seed, cap, n):
    rng = np.random.default_rng(seed)
    signal = rng.standard_t(1.2, (20, n))
    returns = rng.normal(0.0, 0.01, (20, n))
    universe = np.ones(signal.shape, dtype=bool)
    res = run_backtest(signal, returns, universe, None, BacktestSettings(truncation=cap))
    w = res.weights[res.status == 0]
    a = np.abs(w)
    assert (a <= cap * (1 + 1e-12)).all()
    held = (a > 0).sum(axis=1)
    feasible = held * cap >= 1.0
    np.testing.assert_allclose(a[feasible].sum(axis=1), 1.0, atol=1e-12)
    # infeasible (fewer than 1/cap held stocks): every held stock sits at the cap
    for row in a[~feasible]:
        np.testing.assert_allclose(row[row > 0], cap, rtol=1e-12)
    # water-filling keeps the order of |signal| among the uncapped stocks
    m = window_metrics(res, slice(None), with_rank_ic=False)
    assert m["max_weight"] <= cap * (1 + 1e-12)


def test_no_look_ahead_tomorrows_return():
    rng, returns, universe = _market(0, T=400, N=80)
    tomorrow = np.full_like(returns, np.nan)
    tomorrow[:-1] = returns[1:]  # the field "tomorrow's return", known only one day later
    d0 = run_backtest(tomorrow, returns, universe, None, BacktestSettings(delay=0, truncation=0.0))
    d1 = run_backtest(tomorrow, returns, universe, None, BacktestSettings(delay=1, truncation=0.0))
    s0 = window_metrics(d0, slice(None))["sharpe"]
    s1 = window_metrics(d1, slice(None))["sharpe"]
    assert s0 > 50
    assert abs(s1) < 2.5
    assert window_metrics(d0, slice(None))["ic"] == pytest.approx(1.0)
    assert window_metrics(d0, slice(None))["rank_ic"] == pytest.approx(1.0)
    # today's own return (known at the close) with delay 0 trades tomorrow: no edge on iid returns
    today = run_backtest(returns, returns, universe, None, BacktestSettings(delay=0, truncation=0.0))
    assert abs(window_metrics(today, slice(None))["sharpe"]) < 2.5


def test_pnl_timing_is_exact():
    rng, returns, universe = _market(3, T=30, N=10)
    signal = rng.normal(size=returns.shape)
    for delay in (0, 1):
        res = run_backtest(signal, returns, universe, None, BacktestSettings(delay=delay, truncation=0))
        for t in range(30 - delay - 1):
            d = t + delay + 1
            assert res.pnl[d] == pytest.approx(float(res.weights[t] @ returns[d]), abs=1e-15)
        assert (res.pnl[: delay + 1] == 0).all()
        np.testing.assert_array_equal(res.positions()[delay + 1 :], res.weights[: -(delay + 1)])


def test_costs_reduce_pnl_by_cost_times_traded_value():
    rng, returns, universe = _market(1)
    signal = rng.normal(size=returns.shape)
    free = run_backtest(signal, returns, universe, None, BacktestSettings())
    paid = run_backtest(signal, returns, universe, None, BacktestSettings(cost_bps=7.5))
    np.testing.assert_array_equal(free.weights, paid.weights)
    np.testing.assert_allclose(free.pnl - paid.pnl, 7.5e-4 * free.turnover, rtol=0, atol=1e-16)
    assert (paid.turnover > 0).sum() > 250
    mf = window_metrics(free, slice(None), with_rank_ic=False)
    mp = window_metrics(paid, slice(None), with_rank_ic=False)
    assert mf["total_pnl"] - mp["total_pnl"] == pytest.approx(7.5e-4 * free.turnover.sum(), rel=1e-12)
    assert mp["margin_bps"] == pytest.approx(mf["margin_bps"] - 7.5, rel=1e-9)


def test_nan_return_of_held_stock_earns_zero_and_is_counted():
    rng, returns, universe = _market(2, T=10, N=8)
    signal = rng.normal(size=returns.shape)
    returns[5, 3] = np.nan
    res = run_backtest(signal, returns, universe, None, BacktestSettings(truncation=0))
    assert res.nan_held[5] == 1 and res.nan_held.sum() == 1
    expected = sum(res.weights[3, i] * returns[5, i] for i in range(8) if i != 3)
    assert res.pnl[5] == pytest.approx(expected, abs=1e-16)


def test_turnover_is_book_change():
    rng, returns, universe = _market(4, T=50, N=20)
    signal = rng.normal(size=returns.shape)
    res = run_backtest(signal, returns, universe, None, BacktestSettings(delay=1))
    w = res.weights
    assert res.turnover[2] == pytest.approx(np.abs(w[0]).sum())
    for t in range(1, 48):
        assert res.turnover[t + 2] == pytest.approx(np.abs(w[t] - w[t - 1]).sum(), abs=1e-14)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: np.full_like(s, np.nan), "all NaN"),
        (lambda s: np.tile(np.arange(s.shape[0], dtype=float)[:, None], (1, s.shape[1])), "constant"),
        (lambda s: np.where(np.arange(s.shape[1]) == 0, s, np.nan), "too few valid stocks"),
    ],
    ids=["all-nan", "constant", "one-stock"],
)
def test_degenerate_signals_have_a_reason_and_clean_metrics(make, reason):
    rng, returns, universe = _market(5, T=60, N=12)
    res = run_backtest(make(rng.normal(size=returns.shape)), returns, universe, None, BacktestSettings())
    assert res.degenerate_reason is not None and res.degenerate_reason.startswith(reason)
    metrics = split_metrics(res, {"train": slice(0, 40), "test": slice(40, 60)})
    for split in metrics.values():
        # no book: no PnL and no trading (zeros), and no IC: undefined, so NaN, never a reported 0
        assert np.isnan(split["ic"]) and np.isnan(split["rank_ic"])
        assert all(np.isfinite(v) for k, v in split.items() if k not in ("ic", "rank_ic"))
        assert split["sharpe"] == 0.0 and split["held_days"] == 0.0


def test_constant_signal_with_no_neutralization_is_a_long_book():
    _, returns, universe = _market(6, T=20, N=5)
    s = BacktestSettings(neutralization="none", truncation=0.0)
    res = run_backtest(np.ones_like(returns), returns, universe, None, s)
    assert res.degenerate_reason is None
    np.testing.assert_allclose(res.weights, 0.2)
    # with a cap of 0.1 and 5 stocks, unit gross is infeasible: every stock sits at the cap
    s_cap = BacktestSettings(neutralization="none")
    capped = run_backtest(np.ones_like(returns), returns, universe, None, s_cap)
    np.testing.assert_allclose(capped.weights, 0.1)


def test_group_minus_one_is_excluded():
    rng, returns, universe = _market(7, T=20, N=6)
    groups = np.array([0, 0, 1, 1, -1, -1])
    res = run_backtest(rng.normal(size=returns.shape), returns, universe, groups,
                       BacktestSettings(neutralization="sector", truncation=0))
    assert (res.weights[:, 4:] == 0).all()
    assert (res.weights[:, :4] != 0).all()


def test_yearly_and_split_metrics_cover_the_period():
    rng, returns, universe = _market(8, T=600, N=30)
    res = run_backtest(rng.normal(size=returns.shape), returns, universe, None, BacktestSettings())
    dates = np.arange("2015-01-01", 600 * 1, dtype="datetime64[D]")[:600]
    years = yearly_metrics(res, dates)
    assert list(years) == ["2015", "2016"]
    assert years["2015"]["days"] + years["2016"]["days"] == 598  # the first 2 days hold no book
    m = split_metrics(res, {"train": slice(0, 400), "valid": slice(400, 600)})
    assert set(m) == {"train", "valid", "all"}
    assert m["all"]["days"] == 598


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay": 2},
        {"delay": -1},
        {"decay": -3},
        {"decay": 1.5},
        {"neutralization": "country"},
        {"truncation": 1.5},
        {"truncation": float("nan")},
        {"book_size": 0},
        {"cost_bps": -1},
        {"min_stocks": 1},
    ],
)
def test_bad_settings_raise_settings_error(kwargs):
    with pytest.raises(SettingsError, match=next(iter(kwargs))):
        BacktestSettings(**kwargs)


def test_settings_round_trip_and_unknown_key():
    s = BacktestSettings(delay=0, decay=np.int64(3), neutralization="Sector")
    assert s.neutralization == "sector" and s.decay == 3 and type(s.decay) is int
    assert BacktestSettings.from_dict(s.to_dict()) == s
    with pytest.raises(SettingsError, match="bogus"):
        BacktestSettings.from_dict({"bogus": 1})


def test_bad_inputs_raise_settings_error():
    _, returns, universe = _market(9, T=10, N=4)
    sig = np.zeros((10, 4))
    with pytest.raises(SettingsError, match="returns has shape"):
        run_backtest(sig, returns[:, :3], universe)
    with pytest.raises(SettingsError, match="bool"):
        run_backtest(sig, returns, universe.astype(int))
    with pytest.raises(SettingsError, match="needs group codes"):
        run_backtest(sig, returns, universe, None, BacktestSettings(neutralization="sector"))
    with pytest.raises(SettingsError, match="groups must have shape"):
        run_backtest(sig, returns, universe, np.zeros(3, np.int64), BacktestSettings(neutralization="sector"))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["none", "market", "sector"]),
    decay=st.integers(0, 4),
    truncation=st.sampled_from([0.0, 0.05, 0.3]),
    scale=st.sampled_from([1.0, 1e300, 1e-310]),
    n=st.integers(0, 12),
)
def test_the_kernels_largest_weight_is_numpys_reduction_of_the_book(seed, mode, decay, truncation, scale, n):
    """``max_weight`` (written by the kernel) equals ``np.abs(weights).max(axis=1)`` bit for bit, on
    books with truncation, decay, days without a book, overflowing and subnormal signals, and 0 stocks."""
    rng, returns, universe = _market(seed, T=30, N=n)
    signal = rng.normal(size=returns.shape) * scale
    signal[rng.random(signal.shape) < 0.3] = np.nan
    signal[5:8] = 1.0  # flat days: no book under a neutralization
    groups = rng.integers(0, 3, n).astype(np.int64)
    s = BacktestSettings(neutralization=mode, decay=decay, truncation=truncation, min_stocks=2)
    res = run_backtest(signal, returns, rng.random(signal.shape) > 0.1, groups, s)
    expected = np.abs(res.weights).max(axis=1) if n else np.zeros(res.weights.shape[0])
    np.testing.assert_array_equal(res.max_weight, expected)
    assert res.max_weight.dtype == np.float64 and res.max_weight.shape == (30,)


def test_the_row_maximum_follows_numpy_on_nan_inf_and_every_length():
    """The kernel's row maximum (four running maxima, a non-finite row redone value by value) is
    ``np.abs(row).max()`` for rows of 0-11 values holding NaN, ±inf, -0.0, huge and subnormal values."""
    from alpha_env.backtest.kernels import _row_abs_max

    rng = np.random.default_rng(0)
    for n in range(12):
        for _ in range(150):
            row = rng.normal(size=n) * rng.choice([1.0, 1e300, 1e-310])
            for _ in range(int(rng.integers(0, 3)) if n else 0):
                row[rng.integers(n)] = rng.choice([np.nan, np.inf, -np.inf, -0.0])
            expected = np.abs(row).max() if n else 0.0
            np.testing.assert_array_equal(_row_abs_max(row), expected, err_msg=str(row))


@pytest.mark.parametrize("settings", [BacktestSettings(), BacktestSettings(decay=4, delay=0, truncation=0.03,
                                                                           neutralization="sector")])
def test_parallel_and_serial_kernels_agree_exactly(settings):
    rng, returns, universe = _market(11, T=257, N=70)
    signal = rng.normal(size=returns.shape)
    signal[rng.random(signal.shape) < 0.1] = np.nan
    signal[100:103] = np.nan  # a gap crossing chunk boundaries
    groups = rng.integers(0, 4, 70).astype(np.int64)
    a = run_backtest(signal, returns, universe, groups, settings, parallel=False)
    b = run_backtest(signal, returns, universe, groups, settings, parallel=True)
    names = ("weights", "pnl", "turnover", "long_count", "short_count", "coverage", "status", "ic", "rank_ic",
             "max_weight")
    for name in names:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("decay,delay,ties", [(0, 1, False), (3, 0, False), (0, 1, True)])
def test_fast_rank_ic_equals_the_reference_kernel_bit_for_bit(decay, delay, ties):
    """The sort-once rank IC used by the metrics must equal the per-day reference kernel exactly."""
    from alpha_env.backtest.kernels import ic_kernel_serial, rank_ic_series
    from alpha_env.ops.threads import read_only

    rng = np.random.default_rng(7)
    T, N = 60, 40
    signal = rng.normal(size=(T, N))
    if ties:
        signal = np.round(signal * 2) / 2
    signal[rng.random((T, N)) < 0.1] = np.nan
    returns = rng.normal(0, 0.02, (T, N))
    returns[rng.random((T, N)) < 0.05] = np.nan
    universe = rng.random((T, N)) > 0.1
    fast = rank_ic_series(signal, returns, universe, decay, delay)
    ref = ic_kernel_serial(*map(read_only, (signal, returns, universe)), decay, delay, True)
    np.testing.assert_array_equal(fast, ref)
    assert np.isfinite(fast[delay + 1 + decay:]).mean() > 0.8


def _spearman_by_day(signal, returns, universe, lag):
    """Independent per-day Spearman IC (pandas, average ranks for ties): signal of ``d - lag`` inside the
    universe against ``returns[d]``, over the stocks where both are finite; NaN with < 3 pairs."""
    import pandas as pd

    T = signal.shape[0]
    out = np.full(T, np.nan)
    for d in range(lag, T):
        x, y = signal[d - lag], returns[d]
        keep = universe[d - lag] & np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 3:
            out[d] = pd.Series(x[keep]).corr(pd.Series(y[keep]), method="spearman")
    return out


@pytest.mark.parametrize("delay", [0, 1])
def test_rank_ic_matches_scipy_spearman_with_ties_and_gaps(delay):
    """Each day's rank IC equals scipy's Spearman (average ranks) on data with heavy ties and NaN gaps."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(11)
    T, N = 50, 45
    signal = np.round(rng.normal(size=(T, N)) * 1.5) / 2  # few distinct values: many ties
    signal[rng.random((T, N)) < 0.15] = np.nan
    signal[10:12] = np.nan  # whole days without a signal
    returns = np.round(rng.normal(0, 0.02, (T, N)), 2)  # ties in the returns too
    returns[rng.random((T, N)) < 0.1] = np.nan
    universe = rng.random((T, N)) > 0.1
    res = run_backtest(signal, returns, universe, None, BacktestSettings(delay=delay))
    lag = delay + 1
    checked = 0
    for d in range(T):
        x, y = signal[d - lag], returns[d]
        keep = universe[d - lag] & np.isfinite(x) & np.isfinite(y) if d >= lag else np.zeros(N, bool)
        if keep.sum() < 3:
            assert np.isnan(res.rank_ic[d]), d
            continue
        expected = spearmanr(x[keep], y[keep]).statistic
        assert res.rank_ic[d] == pytest.approx(expected, abs=1e-12), d
        checked += 1
    assert checked > 40
    np.testing.assert_allclose(res.rank_ic, _spearman_by_day(signal, returns, universe, lag), atol=1e-12)
    m = window_metrics(res, slice(5, 40))
    assert m["rank_ic"] == pytest.approx(np.nanmean(res.rank_ic[5:40]), abs=1e-12)


@pytest.mark.parametrize("delay, decay", [(0, 0), (1, 0), (1, 3)])
def test_pearson_ic_matches_numpy_corrcoef_with_gaps(delay, decay):
    """Each day's Pearson IC (every path: the engine's kernel, the ACE's cached rank-IC pass, the window-only
    reward path) equals NumPy's correlation of the processed signal (decayed, in the universe) and the
    returns over the stocks where both are finite, on data with NaN, inf and universe gaps."""
    from alpha_env.backtest.kernels import _day_signal, ic_days, ic_kernel_serial
    from alpha_env.backtest.return_ranks import ReturnRanks
    from alpha_env.ops.threads import read_only

    rng = np.random.default_rng(5 + decay)
    T, N = 60, 40
    signal = rng.normal(size=(T, N))
    signal[rng.random((T, N)) < 0.15] = np.nan
    signal[rng.random((T, N)) < 0.02] = np.inf
    signal[20:22] = np.nan  # whole days without a signal
    returns = rng.normal(0, 0.02, (T, N))
    returns[rng.random((T, N)) < 0.1] = np.nan
    returns[rng.random((T, N)) < 0.02] = -np.inf
    universe = rng.random((T, N)) > 0.1
    signal, returns, universe = map(read_only, (signal, returns, universe))
    lag = delay + 1
    engine = ic_kernel_serial(signal, returns, universe, decay, delay, False)
    cached = ReturnRanks(returns, universe, lag).rank_ic_and_ic(signal, decay)[1]
    window = ic_days(signal, returns, universe, decay, delay, 0, T)
    s, den = np.empty(N), np.empty(N)
    checked = 0
    for d in range(T):
        if d < lag:
            assert np.isnan(engine[d]) and np.isnan(cached[d]) and np.isnan(window[d])
            continue
        _day_signal(signal, universe, d - lag, decay, s, den)
        keep = np.isfinite(s) & np.isfinite(returns[d])
        if keep.sum() < 3:
            assert np.isnan(engine[d]) and np.isnan(cached[d]), d
            continue
        expected = np.corrcoef(s[keep], returns[d][keep])[0, 1]
        for got in (engine[d], cached[d], window[d]):
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-14), d
        checked += 1
    assert checked > 45


def test_pearson_ic_of_tiny_pairs_is_rescaled_by_the_pairs_alone():
    """Pairs whose sums of squares underflow (signal ~1e-200) get their IC from rescaled values; a huge
    signal on a stock without a return (not a pair) must not set that scale (it would flush the pairs to
    zero)."""
    from alpha_env.backtest.kernels import ic_days, ic_kernel_serial
    from alpha_env.backtest.return_ranks import ReturnRanks
    from alpha_env.ops.threads import read_only

    rng = np.random.default_rng(8)
    T, N = 12, 30
    base = rng.normal(size=(T, N))
    returns = rng.normal(0, 0.02, (T, N))
    returns[:, 0] = np.nan  # stock 0 is never a pair
    signal = base * 1e-200
    signal[:, 0] = 1e300
    universe = np.ones((T, N), bool)
    signal, returns, universe = map(read_only, (signal, returns, universe))
    engine = ic_kernel_serial(signal, returns, universe, 0, 0, False)
    cached = ReturnRanks(returns, universe, 1).rank_ic_and_ic(signal, 0)[1]
    window = ic_days(signal, returns, universe, 0, 0, 0, T)
    for d in range(1, T):
        expected = np.corrcoef(base[d - 1, 1:], returns[d, 1:])[0, 1]
        for got in (engine[d], cached[d], window[d]):
            assert got == pytest.approx(expected, rel=1e-12), d


def test_an_ic_defined_on_no_day_of_a_window_is_nan_never_zero():
    """A window where the signal is flat across stocks has no defined daily IC: the window's IC and rank IC
    are NaN (shown as n/a), never a reported 0; a window with a real signal gets a number."""
    rng, returns, universe = _market(3)
    signal = rng.normal(size=returns.shape)
    signal[200:] = 1.0  # the same value for every stock: no cross-sectional spread, no IC
    res = run_backtest(signal, returns, universe, None, BacktestSettings())
    flat = window_metrics(res, slice(220, 300))
    assert np.isnan(flat["ic"]) and np.isnan(flat["rank_ic"])
    live = window_metrics(res, slice(20, 180))
    assert np.isfinite(live["ic"]) and np.isfinite(live["rank_ic"])
