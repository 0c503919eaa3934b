"""The backtest is scale-free, and a NaN never reaches a metric as a number (issue 19, defect 3).

Reproducers: ``product(returns, 60) ^ 3`` on the synthetic market had a subnormal gross on 198 days, so
``1 / gross`` overflowed, the books and PnL became NaN and the Sharpe read 0.0 with the
``not_degenerate`` check passing; ``close * 1e306`` (the signal of ``close``) was called "constant across
stocks" because its gross overflowed.
"""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.ace import ACE
from alpha_env.backtest import BacktestSettings, annualized_sharpe, run_backtest, split_metrics
from alpha_env.backtest import engine as engine_module
from alpha_env.data import synthetic_market


@pytest.fixture(scope="module")
def ace() -> ACE:
    return ACE(synthetic_market(seed=0))


def _panel(seed: int = 0, T: int = 120, N: int = 40):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.02, (T, N))
    signal = rng.uniform(1.0, 100.0, (T, N))
    signal[rng.random((T, N)) < 0.05] = np.nan
    universe = rng.random((T, N)) > 0.02
    groups = rng.integers(0, 5, N).astype(np.int64)
    return signal, returns, universe, groups


def _assert_same_metrics(a: dict, b: dict, rtol: float) -> None:
    for split in a:
        for key, value in a[split].items():
            assert b[split][key] == pytest.approx(value, rel=rtol, abs=1e-12), (split, key)


def test_subnormal_gross_is_an_honest_result_not_sharpe_0_with_nan_pnl(ace):
    res = ace.simulate("product(returns, 60) ^ 3", save=False)
    bt = res.backtest
    sharpe = res.metrics["all"]["sharpe"]
    if res.degenerate_reason is None:  # an honest result: every book and PnL is a number
        assert np.isfinite(bt.pnl).all() and np.isfinite(bt.weights).all()
        assert np.isfinite(sharpe) and sharpe != 0.0
        assert bt.held.sum() > 0
    else:  # or degenerate with a reason, and no number made from a NaN
        assert not next(c for c in res.checks if c.name == "not_degenerate").passed
    assert not (np.isnan(bt.pnl).any() and sharpe == 0.0)


@pytest.mark.parametrize("scale", ["1e305", "1e-310"])
def test_scaled_close_has_the_metrics_of_close(ace, scale):
    base = ace.simulate("close", save=False)
    scaled = ace.simulate(f"close * {scale}", save=False)
    assert scaled.degenerate_reason is None
    assert np.abs(scaled.backtest.weights - base.backtest.weights).max() < 1e-14
    _assert_same_metrics(base.metrics, scaled.metrics, rtol=1e-9)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("factor", [1e306, 1e-310, 2.0 ** -1000])
def test_books_do_not_depend_on_the_signal_scale(factor, parallel):
    signal, returns, universe, groups = _panel()
    settings = BacktestSettings(neutralization="sector", decay=3)
    base = run_backtest(signal, returns, universe, groups, settings, parallel=parallel)
    scaled = run_backtest(signal * factor, returns, universe, groups, settings, parallel=parallel)
    assert scaled.degenerate_reason is None
    np.testing.assert_array_equal(scaled.status, base.status)
    np.testing.assert_allclose(scaled.weights, base.weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scaled.pnl, base.pnl, rtol=0, atol=1e-13)
    # the Pearson IC is scale-free too (its sums of squares are rescaled when they would over/underflow)
    np.testing.assert_allclose(scaled.ic, base.ic, rtol=1e-9, atol=1e-12)


def test_a_power_of_two_scale_gives_the_same_bits():
    signal, returns, universe, groups = _panel(1)
    base = run_backtest(signal, returns, universe, groups, BacktestSettings())
    for factor in (2.0 ** 40, 2.0 ** -40, 2.0 ** 900):  # 2^900: the gross overflows and is rescaled
        scaled = run_backtest(signal * factor, returns, universe, groups, BacktestSettings())
        np.testing.assert_array_equal(scaled.weights, base.weights)
        np.testing.assert_array_equal(scaled.pnl, base.pnl)


def test_a_nan_that_reaches_the_pnl_makes_the_result_degenerate(monkeypatch):
    signal, returns, universe, groups = _panel(2)
    real = engine_module.backtest_kernel_serial

    def leaky(*args):  # what the kernel did before the fix: NaN books and PnL on some days
        out = real(*args)
        out[0][30] = np.nan
        out[1][31:40] = np.nan
        out[9][30] = np.nan  # the book's largest |w|, as the kernel reads it from the book it wrote
        return out

    monkeypatch.setattr(engine_module, "backtest_kernel_serial", leaky)
    res = run_backtest(signal, returns, universe, groups, BacktestSettings(), parallel=False)
    assert res.degenerate_reason is not None and res.degenerate_reason.startswith("non-finite result")
    assert "9 holding days (first: day 31)" in res.degenerate_reason
    assert "1 signal days (first: day 30)" in res.degenerate_reason
    assert np.isnan(split_metrics(res, {"train": slice(0, 60)})["all"]["sharpe"])


def test_sharpe_of_a_nan_pnl_is_nan_not_zero():
    assert np.isnan(annualized_sharpe(np.array([0.01, np.nan, -0.02, 0.03])))
    assert np.isnan(annualized_sharpe(np.array([0.01, np.inf, -0.02])))
    assert annualized_sharpe(np.zeros(5)) == 0.0  # a flat PnL stays 0 (std 0, documented)
