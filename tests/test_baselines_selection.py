"""Selection helpers: deflated Sharpe ratio (hand-computed example), windows, de-correlated picks, costs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpha_env.backtest import BacktestSettings, run_backtest, window_metrics
from alpha_env.errors import SettingsError
from alpha_env.search.selection import (
    EULER_GAMMA,
    at_cost,
    deflated_sharpe_from_pnl,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    greedy_decorrelated,
    mean_pairwise_correlation,
    normal_cdf,
    normal_ppf,
    probabilistic_sharpe_ratio,
    return_moments,
    selection_window,
)


def test_deflated_sharpe_matches_the_papers_worked_example():
    # Bailey & López de Prado (2014), numerical example: annualized SR 2.5 over 5 years of daily returns
    # (T = 1250), N = 100 trials whose annualized Sharpe variance is 0.5, skew -3, kurtosis 10.
    sr = 2.5 / math.sqrt(250)
    var = 0.5 / 250
    # by hand: Φ⁻¹(0.99) = 2.326348, Φ⁻¹(1 - 1/(100e)) = 2.680210
    sr0 = math.sqrt(var) * ((1 - 0.5772156649) * 2.326348 + 0.5772156649 * 2.680210)
    assert sr0 == pytest.approx(0.11317, abs=1e-5)
    assert expected_max_sharpe(100, var) == pytest.approx(sr0, rel=1e-6)
    z = (sr - sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + (10 - 1) / 4 * sr**2)
    hand = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert hand == pytest.approx(0.9004, abs=1e-4)  # the paper's DSR
    assert deflated_sharpe_ratio(sr, 100, var, 1250, -3.0, 10.0) == pytest.approx(hand, abs=1e-6)


def test_one_trial_is_the_probabilistic_sharpe_ratio():
    assert expected_max_sharpe(1, 0.3) == 0.0
    psr = probabilistic_sharpe_ratio(0.05, 0.0, 500)
    assert deflated_sharpe_ratio(0.05, 1, 0.3, 500) == pytest.approx(psr)
    # more trials or more dispersion lower the DSR
    assert deflated_sharpe_ratio(0.1, 1000, 0.002, 500) < deflated_sharpe_ratio(0.1, 10, 0.002, 500)
    assert deflated_sharpe_ratio(0.1, 10, 0.004, 500) < deflated_sharpe_ratio(0.1, 10, 0.001, 500)


def test_normal_functions_and_errors():
    assert normal_cdf(0.0) == pytest.approx(0.5)
    assert normal_cdf(normal_ppf(0.975)) == pytest.approx(0.975)
    assert EULER_GAMMA == pytest.approx(0.5772156649)
    with pytest.raises(SettingsError):
        normal_ppf(1.0)
    with pytest.raises(SettingsError):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(SettingsError):
        probabilistic_sharpe_ratio(0.1, 0.0, 1)


def test_moments_and_dsr_from_pnl():
    rng = np.random.default_rng(0)
    x = rng.normal(0.001, 0.01, 2000)
    sr, skew, kurt, n = return_moments(x)
    assert n == 2000 and sr == pytest.approx(x.mean() / x.std(ddof=1))
    assert abs(skew) < 0.2 and kurt == pytest.approx(3.0, abs=0.3)
    dsr = deflated_sharpe_from_pnl(x, 50, [0.02, -0.01, 0.03, 0.0])
    assert 0.0 <= dsr <= 1.0
    assert math.isnan(deflated_sharpe_from_pnl(x[:2], 5, [0.1, 0.2]))


def test_selection_window_never_includes_test():
    splits = {"train": slice(0, 60), "valid": slice(60, 80), "test": slice(80, 100)}
    assert selection_window(splits) == slice(0, 80)
    assert selection_window(splits, ("train",)) == slice(0, 60)
    with pytest.raises(SettingsError, match="test"):
        selection_window(splits, ("train", "test"))
    with pytest.raises(SettingsError, match="contiguous"):
        selection_window({"train": slice(0, 50), "valid": slice(60, 80)})


def test_greedy_decorrelated_and_mean_correlation():
    rng = np.random.default_rng(1)
    a = rng.normal(size=300)
    b = a + 0.05 * rng.normal(size=300)  # nearly a copy of a
    c = rng.normal(size=300)
    items = {"a": (3.0, a), "b": (2.0, b), "c": (1.0, c), "flat": (5.0, np.zeros(300))}
    picked = greedy_decorrelated(list(items), lambda k: items[k][0], lambda k: items[k][1], n=3,
                                 max_correlation=0.7)
    assert picked == ["a", "c"]  # flat skipped, b too correlated with a
    assert mean_pairwise_correlation([a, -a]) == pytest.approx(-1.0)
    assert math.isnan(mean_pairwise_correlation([a]))


def test_at_cost_subtracts_cost_times_turnover():
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.01, (120, 30))
    signal = rng.normal(size=(120, 30))
    universe = np.ones((120, 30), dtype=bool)
    gross = run_backtest(signal, returns, universe, None, BacktestSettings())
    net = run_backtest(signal, returns, universe, None, BacktestSettings(cost_bps=5.0))
    derived = at_cost(gross, 5.0)
    np.testing.assert_allclose(derived.pnl, net.pnl, atol=1e-15)
    assert window_metrics(derived, slice(0, 120))["sharpe"] == pytest.approx(
        window_metrics(net, slice(0, 120))["sharpe"])
    with pytest.raises(SettingsError):
        at_cost(gross, -1.0)
