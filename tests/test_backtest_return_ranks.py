"""The rank IC with the return side sorted once (``backtest.return_ranks``) is bit for bit the engine's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.ace import ACE
from alpha_env.backtest import BacktestSettings, return_ranks, run_backtest
from alpha_env.backtest.kernels import ic_kernel_serial, rank_ic_series
from alpha_env.backtest.return_ranks import ReturnRanks
from alpha_env.data import synthetic_market
from alpha_env.ops.threads import read_only


def _inputs(seed: int, T: int = 90, N: int = 37):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.02, (T, N))
    returns[rng.random((T, N)) < 0.05] = np.nan
    returns[3] = np.round(returns[3], 2)  # heavy ties
    returns[5 % T] = 0.01 + rng.integers(0, 4, N) * 1.7e-18  # a few ulps apart: runs of one key, out of order
    returns[4, :5] = np.inf
    universe = rng.random((T, N)) > 0.1
    return rng, returns, universe


def _signals(rng, T: int, N: int) -> list[np.ndarray]:
    plain = rng.standard_normal((T, N))
    holes = plain.copy()
    holes[rng.random((T, N)) < 0.3] = np.nan
    ties = np.round(plain, 0)
    odd = plain.copy()
    odd[:, :10] = np.nan
    odd[7] = np.inf
    odd[8] = -0.0
    odd[9, ::2] = 5e-324
    zeros = np.where(rng.random((T, N)) < 0.5, -0.0, 0.0)  # -0.0 and 0.0 tie, in linked coarse runs
    zeros[:, ::3] = plain[:, ::3]
    band = 1000.0 + plain * 1e-9  # one coarse run a day, out of value order: the merge sort
    near = np.round(plain, 1) + rng.integers(0, 3, (T, N)) * 1e-13  # short runs out of order, with ties
    return [plain, holes, ties, odd, zeros, band, near]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("decay", [1, 4])
@pytest.mark.parametrize("parallel", [False, True])
def test_cached_rank_ic_equals_rank_ic_series(seed, delay, decay, parallel):
    """The cached rank IC is ``rank_ic_series``'s, and ``rank_ic_and_ic``'s Pearson IC (from the same key
    pass) is ``ic_kernel``'s, bit for bit, on all days and on a window."""
    rng, returns, universe = _inputs(seed)
    ranks = ReturnRanks(returns, universe, delay + 1, parallel)
    huge = rng.standard_normal(returns.shape) * 1e200  # Pearson's sums of squares overflow: its rescaled rule
    tiny = rng.standard_normal(returns.shape) * 1e-170  # ... or underflow
    for signal in [*_signals(rng, *returns.shape), huge, tiny]:
        ref = rank_ic_series(signal, returns, universe, decay, delay)
        pearson = ic_kernel_serial(*map(read_only, (signal, returns, universe)), decay, delay, False)
        assert np.array_equal(ranks.rank_ic(signal, decay, parallel=parallel), ref, equal_nan=True)
        ranked, ic = ranks.rank_ic_and_ic(signal, decay, parallel=parallel)
        assert ranked.tobytes() == ref.tobytes() and ic.tobytes() == pearson.tobytes()
        part = ranks.rank_ic(signal, decay, (20, 61), parallel)
        assert np.array_equal(part[20:61], ref[20:61], equal_nan=True)
        assert np.isnan(part[:20]).all() and np.isnan(part[61:]).all()
        ranked, ic = ranks.rank_ic_and_ic(signal, decay, (20, 61), parallel)
        assert ranked.tobytes() == part.tobytes() and ic[20:61].tobytes() == pearson[20:61].tobytes()
        assert np.isnan(ic[:20]).all() and np.isnan(ic[61:]).all()


@pytest.mark.parametrize("parallel", [False, True])
def test_coarse_runs_long_and_short_out_of_value_order(parallel):
    """150 stocks: a day's whole signal in one coarse run (values 1e-9 apart relative: the merge sort),
    short runs of values 1e-13 apart with ties (the insertion sort), and -0.0 beside 0.0."""
    rng, returns, universe = _inputs(4, T=40, N=150)
    ranks = ReturnRanks(returns, universe, 1, parallel)
    for signal in _signals(rng, *returns.shape)[4:]:
        for decay in (1, 3):
            ref = rank_ic_series(signal, returns, universe, decay, 0)
            assert np.isfinite(ref).sum() > 30
            assert ranks.rank_ic(signal, decay, None, parallel).tobytes() == ref.tobytes()


@pytest.mark.parametrize("parallel", [False, True])
def test_rows_too_wide_for_coarse_keys_use_the_engines_kernels(monkeypatch, parallel):
    """Rows wider than the coarse keys serve (here made narrow: 37 columns need 6 bits) give the same
    bits through the engine's kernels."""
    rng, returns, universe = _inputs(3)
    ranks = ReturnRanks(returns, universe, 2, parallel)
    signals = _signals(rng, *returns.shape)
    coarse = [ranks.rank_ic_and_ic(signal, 2, (10, 70), parallel) for signal in signals]
    monkeypatch.setattr(return_ranks, "COARSE_MAX_BITS", 5)
    for signal, (ranked, ic) in zip(signals, coarse, strict=True):
        wide_ranked, wide_ic = ranks.rank_ic_and_ic(signal, 2, (10, 70), parallel)
        assert wide_ranked.tobytes() == ranked.tobytes() and wide_ic.tobytes() == ic.tobytes()
        assert ranks.rank_ic(signal, 2, None, parallel).tobytes() == rank_ic_series(
            signal, returns, universe, 2, 1).tobytes()


def test_cached_rank_ic_empty_and_short_windows():
    _, returns, universe = _inputs(2, T=5, N=3)
    ranks = ReturnRanks(returns, universe, 1)
    signal = np.ones_like(returns)
    assert np.isnan(ranks.rank_ic(signal, 1, (4, 2))).all()
    assert np.array_equal(ranks.rank_ic(signal, 1), rank_ic_series(signal, returns, universe, 1, 0),
                          equal_nan=True)


@pytest.mark.parametrize("settings", [{}, {"decay": 3, "delay": 0}, {"max_return": 0.05}])
def test_ace_rank_ic_equals_engine(settings):
    panel = synthetic_market(seed=0, n_stocks=30, n_days=300)
    ace = ACE(panel, settings)
    expr = "rank(ts_argmax(close, 5)) - rank(volume)"
    result = ace.simulate(expr, save=False)
    bt = run_backtest(ace.evaluator.evaluate(expr), ace._returns, ace._universe, ace._groups,
                      ace._backtest_settings)
    assert isinstance(ace._backtest_settings, BacktestSettings)
    assert np.array_equal(result.backtest.rank_ic, bt.rank_ic, equal_nan=True)
    assert result.backtest.ic.tobytes() == bt.ic.tobytes()  # simulate's one pass gives the engine's bits
    for name, sl in panel.splits.items():
        score = ace.score(expr, name)
        counted = np.asarray(bt.rank_ic)[max(sl.indices(panel.n_dates)[0], int(np.flatnonzero(bt.held)[0])):
                                         sl.indices(panel.n_dates)[1]]
        finite = counted[np.isfinite(counted)]
        assert score.metrics["rank_ic"] == (float(finite.mean()) if finite.size else 0.0)
        assert score.metrics == result.metrics[name]  # the lean window path gives the same numbers


# values whose coarse keys collide, tie, cross zero or sit at the float edges
_PALETTE = np.array([0.0, -0.0, 1.0, -1.0, 1.0 + 2.0**-40, 1.0 + 2.0**-30, 1.0 - 2.0**-45, 2.0, 1e-320,
                     -1e-320, 5e-324, 1e300, -1e300, 0.5, 0.5 + 2.0**-50, 3.0, np.nan])


@settings(max_examples=80, deadline=None)
@given(st.integers(4, 14), st.integers(3, 70), st.integers(0, 2**32 - 1), st.sampled_from([1, 3]),
       st.sampled_from([0, 1]), st.floats(0.0, 1.0))
def test_cached_rank_ic_on_drawn_panels(T, N, seed, decay, delay, mix):
    """Drawn panels mixing a palette of colliding, tied, signed-zero, subnormal and huge values with
    plain noise: the coarse walk gives ``rank_ic_series``' and ``ic_kernel``'s bits."""
    rng = np.random.default_rng(seed)
    signal = np.where(rng.random((T, N)) < mix, rng.choice(_PALETTE, (T, N)), rng.standard_normal((T, N)))
    returns = np.where(rng.random((T, N)) < mix, rng.choice(_PALETTE[:-4], (T, N)),
                       rng.normal(0.0, 0.02, (T, N)))
    universe = rng.random((T, N)) > 0.15
    ranks = ReturnRanks(returns, universe, delay + 1)
    ranked, ic = ranks.rank_ic_and_ic(signal, decay)
    assert ranked.tobytes() == rank_ic_series(signal, returns, universe, decay, delay).tobytes()
    assert ic.tobytes() == ic_kernel_serial(*map(read_only, (signal, returns, universe)), decay, delay,
                                            False).tobytes()


@pytest.mark.parametrize("parallel", [False, True])
def test_rows_of_distinct_values_and_rows_of_ties_in_turn(parallel):
    """The walk takes the sparse way on a day after a day of mostly distinct values and the stepping way
    after a day of heavy ties; blocks of each, with near pairs, ``-0.0`` beside ``0.0`` and a lone
    ``-0.0`` among distinct values, give the engine's bits either way."""
    rng, returns, universe = _inputs(7, T=60, N=120)
    plain = rng.standard_normal(returns.shape)
    signal = plain.copy()
    for start in (0, 14, 33):  # blocks of heavy ties (then distinct values again)
        signal[start:start + 7] = np.round(plain[start:start + 7], 0)
    signal[20:30, :6] = np.array([0.0, -0.0, 2.5, 2.5 + 1e-13, -0.0, 0.0])  # -0.0 / 0.0 runs, a near pair
    signal[40:50, 0] = -0.0  # a -0.0 that links to nothing
    signal[41, 1] = 0.0
    signal[52:, 3] = signal[52:, 4] * (1.0 + 1e-15)  # near pairs out of value order
    for decay in (1, 3):
        ref = rank_ic_series(signal, returns, universe, decay, 0)
        assert np.isfinite(ref).sum() > 50
        assert ReturnRanks(returns, universe, 1, parallel).rank_ic(signal, decay, None, parallel).tobytes() \
            == ref.tobytes()
