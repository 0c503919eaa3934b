"""ACE.simulate: results, ids, metadata, checks, store integration, no look-ahead through a custom field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alpha_env.ace import ACE, AlphaStore, CheckThresholds, SimulationSettings, alpha_id, run_checks
from alpha_env.backtest import BacktestSettings, run_backtest, split_metrics
from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError, SettingsError
from alpha_env.evaluate import Evaluator


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=40, n_days=320, news=False)


def test_simulate_result_shape_and_metadata(panel):
    res = ACE(panel).simulate("rank(-delta(close, 5))")
    assert re.fullmatch(r"[0-9a-f]{16}", res.alpha_id)
    assert res.expression == "rank(-delta(close, 5))"
    assert set(res.metrics) == {"train", "valid", "test", "all"}
    assert res.pnl.shape == (panel.n_dates,) and res.dates.shape == (panel.n_dates,)
    keys = ("settings", "dataset_id", "code_version", "started_at", "finished_at", "run_time_s", "splits")
    for key in keys:
        assert key in res.metadata
    assert res.metadata["dataset_id"] == panel.dataset_id
    assert res.metadata["run_time_s"] > 0
    assert res.degenerate_reason is None
    assert [c.name for c in res.checks] == [
        "not_degenerate", "sharpe", "fitness", "turnover", "max_weight", "correlation"
    ]
    assert res.to_dict(series=True)["pnl"][-1] == pytest.approx(res.pnl[-1])


def test_a_stored_result_of_older_code_is_not_taken_for_this_codes(panel, tmp_path):
    """The code version is the release plus a fingerprint of the sources: a store holding the alpha's
    simulation by other code (the release alone, as before session 17) gets a new row, which ``get``
    returns; the same code again writes nothing."""
    import alpha_env
    from alpha_env.kernel_cache import sources_fingerprint

    version = alpha_env.CODE_VERSION
    assert version == f"{alpha_env.__version__}+{sources_fingerprint(Path(alpha_env.__file__).parent)}"
    with AlphaStore(tmp_path / "a.db") as store:
        ace = ACE(panel, store=store)
        old = ace.simulate("rank(-delta(close, 5))", save=False)
        old.metadata["code_version"] = alpha_env.__version__
        old.metrics["train"]["sharpe"] = 123.0  # what the older code had stored
        first = store.save(old)
        new = ace.simulate("rank(-delta(close, 5))")
        assert new.metadata["code_version"] == version and new.metadata["simulation_id"] != first
        got = store.get(new.alpha_id)
        assert got.metadata["code_version"] == version and got.metrics == new.metrics
        again = ace.simulate("rank(-delta(close, 5))")
        assert again.metadata["simulation_id"] == new.metadata["simulation_id"]
        assert store.counts()["simulations"] == 2


def test_simulate_equals_direct_backtest(panel):
    settings = SimulationSettings(neutralization="sector", decay=3, cost_bps=1.0)
    res = ACE(panel, settings).simulate("ts_rank(volume, 10) - rank(returns)")
    signal = Evaluator(panel).evaluate("ts_rank(volume, 10) - rank(returns)")
    bt = run_backtest(signal, panel.field("returns"), panel.universe, panel.group("sector"),
                      BacktestSettings(neutralization="sector", decay=3, cost_bps=1.0))
    np.testing.assert_array_equal(res.pnl, bt.pnl)
    assert res.metrics == split_metrics(bt, panel.splits)


def test_alpha_id_is_stable_and_depends_on_what_matters(panel):
    a = ACE(panel).simulate("(-1 * Ts_Rank(rank(low), 9))", save=False)
    b = ACE(panel).simulate("-1 * ts_rank(rank(low), 9)", save=False)
    assert a.alpha_id == b.alpha_id and a.expression == b.expression
    assert a.alpha_id == alpha_id(a.expression, SimulationSettings().to_dict(), panel.dataset_id)
    other_settings = ACE(panel, SimulationSettings(delay=0)).alpha_id(a.expression)
    other_data = ACE(synthetic_market(seed=1, n_stocks=40, n_days=320, news=False)).alpha_id(a.expression)
    assert len({a.alpha_id, other_settings, other_data}) == 3


def test_degenerate_expression_gives_reason_and_fails_check(panel):
    res = ACE(panel).simulate("close - close")
    assert res.degenerate_reason is not None
    assert not res.passed
    assert next(c for c in res.checks if c.name == "not_degenerate").passed is False
    # no book: zeros for PnL and trading, NaN for the IC (undefined, never a reported 0)
    assert all(np.isfinite(v) for m in res.metrics.values() for k, v in m.items()
               if k not in ("ic", "rank_ic"))
    assert all(np.isnan(m["ic"]) and np.isnan(m["rank_ic"]) for m in res.metrics.values())


def test_bad_expression_raises_with_position(panel):
    with pytest.raises(ExpressionError) as err:
        ACE(panel).simulate("rank(close +)")
    assert err.value.position is not None


def test_settings_validation(panel):
    with pytest.raises(SettingsError, match="top_n"):
        SimulationSettings(top_n=0)
    with pytest.raises(SettingsError, match="bogus"):
        SimulationSettings.from_dict({"bogus": 1})
    with pytest.raises(SettingsError, match="neutralization"):
        ACE(panel, {"neutralization": "country"})
    with pytest.raises(SettingsError, match="check split"):
        ACE(panel, thresholds=CheckThresholds(split="holdout"))


def test_top_n_universe_limits_the_book(panel):
    res = ACE(panel, SimulationSettings(top_n=10, truncation=0.0)).simulate("rank(-delta(close, 5))")
    held = res.backtest.long_count + res.backtest.short_count
    assert held.max() <= 10 and held.max() >= 8


def test_tomorrows_return_custom_field_no_look_ahead(panel):
    ret = panel.field("returns")
    tomorrow = np.full_like(ret, np.nan)
    tomorrow[:-1] = ret[1:]
    cheat = panel.with_fields({"tomorrow": tomorrow})
    s0 = ACE(cheat, SimulationSettings(delay=0)).simulate("rank(tomorrow)").metrics["all"]["sharpe"]
    s1 = ACE(cheat, SimulationSettings(delay=1)).simulate("rank(tomorrow)").metrics["all"]["sharpe"]
    assert s0 > 20
    assert abs(s1) < 3


def test_store_integration_submit_and_correlation(panel, tmp_path):
    loose = CheckThresholds(sharpe=-100, fitness=-100, turnover_min=0.0, turnover_max=10.0)
    with AlphaStore(tmp_path / "ace.db") as store:
        ace = ACE(panel, store=store, thresholds=loose)
        first = ace.simulate("rank(-delta(close, 5))")
        assert first.alpha_id in store
        passed, checks = ace.submit(first)
        assert passed, checks
        # the same book under another name: PnL correlation 1 -> the correlation check fails
        twin = ace.simulate("2 * rank(-delta(close, 5))")
        corr = next(c for c in twin.checks if c.name == "correlation")
        assert corr.value == pytest.approx(1.0) and not corr.passed
        passed, _ = ace.submit(twin)
        assert not passed
        # an unrelated alpha passes the correlation check
        other = ace.simulate("rank(volume)")
        assert next(c for c in other.checks if c.name == "correlation").value < 0.7
        assert store.counts()["submissions"] == 2
        assert [r["alpha_id"] for r in store.top("sharpe", "train", 10)]


def test_run_checks_thresholds_and_values():
    dates = np.arange("2020-01-01", 100, dtype="datetime64[D]")[:100]
    rng = np.random.default_rng(0)
    pnl = rng.normal(0, 0.01, 100)
    metrics = {"train": {"sharpe": 1.3, "fitness": 0.9, "turnover": 0.8, "max_weight": 0.1}}
    submitted = {"x": (dates, -pnl), "y": (dates, pnl + rng.normal(0, 0.01, 100))}
    checks = {c.name: c for c in run_checks(metrics, dates, pnl, slice(0, 100), submitted)}
    assert checks["sharpe"].passed and checks["sharpe"].threshold == 1.25
    assert not checks["fitness"].passed
    assert not checks["turnover"].passed and checks["turnover"].threshold == (0.01, 0.7)
    assert checks["max_weight"].passed
    assert 0.5 < checks["correlation"].value < 0.9  # the max over submitted alphas (y, not -pnl)
    assert "y" in checks["correlation"].detail


@pytest.mark.parametrize("text", ["rank(-delta(close, 5))", "close * 0", "ts_mean(returns, 5)"])
def test_a_score_without_the_ic_has_the_other_metrics_bit_for_bit(panel, text):
    """``ACE.score(..., ic=False)``: no ``ic`` key, every other metric the same bits (a live alpha, a
    degenerate one and one whose window starts late); the completed simulation has every metric."""
    ace = ACE(panel)
    rows = ace.window_rows("train")
    with_ic = ace.score(text, "train", rows=rows)
    lean = ACE(panel).score(text, "train", rows=rows, ic=False)
    assert "ic" in with_ic.metrics and "ic" not in lean.metrics
    assert list(lean.metrics) == [k for k in with_ic.metrics if k != "ic"]
    for key, value in lean.metrics.items():
        assert value == with_ic.metrics[key] or (np.isnan(value) and np.isnan(with_ic.metrics[key])), key
    assert lean.degenerate_reason == with_ic.degenerate_reason
    done = ace.complete(lean)
    ref = ACE(panel).simulate(text, save=False)
    assert done.metrics.keys() == ref.metrics.keys() and "ic" in done.metrics["train"]
    np.testing.assert_array_equal(done.pnl, ref.pnl)


def test_rank_ic_can_be_left_out(panel, tmp_path):
    full = ACE(panel).simulate("rank(-delta(close, 5))", save=False)
    with AlphaStore(tmp_path / "fast.db") as store:
        fast = ACE(panel, store=store, rank_ic=False).simulate("rank(-delta(close, 5))")
        assert "rank_ic" not in fast.metrics["train"] and "rank_ic" in full.metrics["train"]
        assert {k: v for k, v in full.metrics["train"].items() if k != "rank_ic"} == fast.metrics["train"]
        assert store.top("rank_ic", "train")[0]["value"] is None
        assert store.get(fast.alpha_id).metrics == fast.metrics
