"""AlphaPool: combination models against direct numpy fits, no look-ahead, admission rules."""

from __future__ import annotations

import numpy as np
import pytest
from pool_support import DELAY, SPLITS, N, T, market, zscore_ref

from alpha_env.errors import DataError, SettingsError
from alpha_env.pool import AlphaPool, PoolSettings, daily_ic, forward_returns, ic_stats

pytestmark = pytest.mark.filterwarnings("ignore:.*(empty slice|Degrees of freedom).*:RuntimeWarning")


def _signals(close, k: int, seed: int = 1):
    """``k`` signals that each see the 1-day target through their own noise, with NaN holes."""
    rng = np.random.default_rng(seed)
    y = np.nan_to_num(forward_returns(close, horizon=1, delay=DELAY))
    out = []
    for i in range(k):
        s = y + rng.normal(0, 0.02 * (i + 1), (T, N))
        s[rng.random((T, N)) < 0.05] = np.nan
        out.append(s)
    return out


def _design(pool, close, universe, signals):
    y = forward_returns(close, horizon=1, delay=DELAY)
    y = np.where(universe, y, np.nan)
    zy = (y - np.nanmean(y, axis=1, keepdims=True)) / np.nanstd(y, axis=1, ddof=1, keepdims=True)
    rows = pool.fit
    cells = np.isfinite(zy[rows])
    X = np.stack([zscore_ref(s, universe)[rows][cells] for s in signals], axis=1)
    return X, zy[rows][cells]


def _pool(settings=None, seed=0):
    close, universe = market(seed)
    return AlphaPool(close, SPLITS, settings, universe=universe, delay=DELAY), close, universe


def test_lstsq_weights_equal_numpy_lstsq():
    pool, close, universe = _pool(PoolSettings(capacity=4))
    sigs = _signals(close, 4)
    for i, s in enumerate(sigs):
        pool.add(f"s{i}", s)
    X, y = _design(pool, close, universe, sigs)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(pool.weights, ref, rtol=0, atol=1e-9)
    assert pool.fit == slice(0, 100 - DELAY - 1)


def test_ridge_weights_equal_the_closed_form():
    pool, close, universe = _pool(PoolSettings(capacity=3, model="ridge", ridge_alpha=0.5))
    sigs = _signals(close, 3)
    for i, s in enumerate(sigs):
        pool.add(f"s{i}", s)
    X, y = _design(pool, close, universe, sigs)
    n = len(y)
    ref = np.linalg.solve(X.T @ X / n + 0.5 * np.eye(3), X.T @ y / n)
    np.testing.assert_allclose(pool.weights, ref, rtol=0, atol=1e-9)


def test_objective_and_member_ic_equal_the_daily_ic_of_the_combined_signal():
    pool, close, universe = _pool(PoolSettings(capacity=3, model="ic_weighted"))
    sigs = _signals(close, 3)
    for i, s in enumerate(sigs):
        pool.add(f"s{i}", s)
    y = forward_returns(close, horizon=1, delay=DELAY)
    ref = ic_stats(daily_ic(pool.combined(), y, universe), pool.fit)["mean"]
    assert pool.objective == pytest.approx(ref, abs=1e-10)
    ics = np.array([ic_stats(daily_ic(zscore_ref(s, universe), y, universe), pool.fit)["mean"] for s in sigs])
    np.testing.assert_allclose([m.ic for m in pool.members], ics, atol=1e-10)
    np.testing.assert_allclose(pool.weights, ics / np.abs(ics).sum(), atol=1e-10)
    assert pool.combined("valid").shape == (30, N)


def test_rolling_weights_never_read_data_after_the_day_they_apply_to():
    settings = PoolSettings(capacity=3, model="rolling", refit_every=7, lookback=30)
    close, universe = market(0)
    sigs = _signals(close, 3)
    rng = np.random.default_rng(9)
    for s_day in (63, 77, 119):  # refit days (multiples of refit_every)
        pools = []
        for scramble, bump in ((False, False), (True, False), (True, True)):
            c = close.copy()
            ss = [x.copy() for x in sigs]
            if scramble:  # every close from day s on, every signal row after s
                c[s_day:] *= np.exp(rng.normal(0, 0.3, c[s_day:].shape))
                for x in ss:
                    x[s_day + 1 :] = rng.normal(size=x[s_day + 1 :].shape)
            if bump:  # ... and the close of day s - 1, which the weights of day s may read
                c[s_day - 1] *= np.exp(rng.normal(0, 0.3, N))
            p = AlphaPool(c, SPLITS, settings, universe=universe, delay=DELAY)
            for i, x in enumerate(ss):
                p.add(f"s{i}", x)
            pools.append(p)
        base, scrambled, bumped = pools
        W0, W1 = base.weight_path(), scrambled.weight_path()
        np.testing.assert_array_equal(W0[: s_day + 1], W1[: s_day + 1])
        np.testing.assert_array_equal(base.combined()[: s_day + 1], scrambled.combined()[: s_day + 1])
        assert np.isfinite(W0[s_day]).all()
        assert not np.array_equal(W0[s_day], bumped.weight_path()[s_day])  # the test can see a leak
    assert np.isnan(W0[0]).all()  # no data known before the first day: no weights, NaN signal
    assert np.isnan(base.combined()[0]).all()


def _hand_made(close):
    """The target seen through noise: strong ``a``, its near copy ``a2`` (worse), a better copy
    ``a3``, an independent view ``b``, and noise ``z``."""
    rng = np.random.default_rng(3)
    y = np.nan_to_num(forward_returns(close, horizon=1, delay=DELAY))
    e1 = rng.normal(0, 0.03, (T, N))
    a = y + e1
    return {
        "a": a,
        "a2": a + rng.normal(0, 0.01, (T, N)),
        "a3": y + 0.5 * e1,
        "b": y + rng.normal(0, 0.03, (T, N)),
        "z": rng.normal(size=(T, N)),
    }


def test_correlated_candidate_is_refused_unless_better():
    pool, close, _ = _pool(PoolSettings(capacity=5))
    s = _hand_made(close)
    first = pool.offer("a", s["a"])
    assert first.accepted and first.objective_before == 0.0 and first.gain == first.objective_after
    before = pool.objective
    r = pool.offer("a2", s["a2"])
    assert not r.accepted and r.gain == 0.0 and "correlates" in r.reason
    assert r.objective_before == r.objective_after == before == pool.objective
    assert [m.expr for m in pool.members] == ["a"]
    r = pool.offer("a3", s["a3"])
    assert r.accepted and r.replaced == ("a",) and r.gain > 0
    assert [m.expr for m in pool.members] == ["a3"]
    r = pool.offer("b", s["b"])
    assert r.accepted and r.replaced == () and r.gain > 0 and len(pool) == 2
    r = pool.offer("b", s["b"])
    assert not r.accepted and r.gain == 0.0 and "already" in r.reason


def test_replace_by_ic_compares_single_train_ics():
    pool, close, _ = _pool(PoolSettings(capacity=5, replace_by="ic"))
    s = _hand_made(close)
    pool.offer("a", s["a"])
    assert not pool.offer("a2", s["a2"]).accepted
    assert pool.offer("a3", s["a3"]).replaced == ("a",)


def test_full_pool_refuses_the_weakest_candidate_and_evicts_the_weakest_member():
    pool, close, _ = _pool(PoolSettings(capacity=2, max_corr=0.99))
    s = _hand_made(close)
    assert pool.offer("a", s["a"]).accepted
    assert pool.offer("z", s["z"]).accepted  # room left: noise joins
    r = pool.offer("b", s["b"])
    assert r.accepted and r.replaced == ("z",) and r.gain > 0
    before = pool.objective
    r = pool.offer("z", s["z"])
    assert not r.accepted and r.gain == 0.0 and r.reason == "smallest contribution in a full pool"
    assert pool.objective == before and [m.expr for m in pool.members] == ["a", "b"]


def test_signal_without_train_ic_is_refused():
    pool, close, _ = _pool()
    r = pool.offer("const", np.ones((T, N)))
    assert not r.accepted and r.gain == 0.0 and "no defined train IC" in r.reason
    assert len(pool) == 0 and pool.objective == 0.0 and np.isnan(pool.combined()).all()


def test_alphagen_rule_refuses_above_its_mutual_ic_and_drops_the_least_weight():
    settings = PoolSettings(capacity=2, rule="alphagen")
    assert settings.max_corr == 0.99 and PoolSettings().max_corr == 0.7
    pool, close, universe = _pool(settings)
    s = _hand_made(close)
    assert pool.offer("a", s["a"]).accepted
    r = pool.offer("2a", 2 * s["a"] + 1)
    assert not r.accepted and r.gain == 0.0 and "mutual IC" in r.reason
    assert pool.offer("a2", s["a2"]).accepted  # 0.7 < corr < 0.99: AlphaGen keeps it
    # its weights solve mutual_ic @ w = single_ic (mutual IC: mean daily correlation on the fit cells)
    y = np.where(universe, forward_returns(close, horizon=1, delay=DELAY), np.nan)[pool.fit]
    za, zb = (np.where(np.isfinite(y), zscore_ref(s[k], universe)[pool.fit], 0.0) for k in ("a", "a2"))
    c = np.mean((za * zb).sum(1) / np.sqrt((za * za).sum(1) * (zb * zb).sum(1)))
    ics = [m.ic for m in pool.members]
    np.testing.assert_allclose(pool.weights, np.linalg.solve([[1, c], [c, 1]], ics), atol=1e-9)
    r = pool.offer("b", s["b"])
    assert r.accepted and len(r.replaced) == 1
    r = pool.offer("z", s["z"])
    assert not r.accepted and r.reason == "least |weight| in a full pool"


def test_callable_objective_is_maximised():
    calls = []

    def objective(combined):
        calls.append(combined.shape)
        return float(np.nanmean(combined[:50] * 0) + len(calls))

    pool, close, _ = _pool(PoolSettings(capacity=3, objective=objective))
    r = pool.offer("a", _hand_made(close)["a"])
    assert r.accepted and calls[0] == (T, N) and r.objective_after == pool.objective


def test_settings_and_shapes_are_checked():
    for bad in ({"capacity": 0}, {"model": "ols"}, {"rule": "x"}, {"max_corr": 1.5}, {"horizon": 0},
                {"ridge_alpha": -1.0}, {"refit_every": 0}, {"lookback": 0}, {"objective": "sortino"},
                {"holdout": 1.0}, {"holdout": -0.1}, {"min_ic_t": -1.0}, {"holdout": 0.3, "model": "rolling"},
                {"min_half_ic_t": -1.0}, {"min_half_ic_t": float("nan")}, {"min_half_ic_t": True},
                {"rule": "alphagen", "model": "ridge"}, {"replace_by": "size"}):
        with pytest.raises(SettingsError):
            PoolSettings(**bad)
    pool, _, _ = _pool(PoolSettings(capacity=1))
    with pytest.raises(DataError, match="shape"):
        pool.offer("x", np.zeros((3, 3)))
    with pytest.raises(DataError, match="unknown split"):
        pool.combined("holdout")
    pool.add("x", np.random.default_rng(0).normal(size=(T, N)))
    with pytest.raises(DataError, match="full"):
        pool.add("y", np.zeros((T, N)))
    with pytest.raises(DataError, match="train"):
        AlphaPool(np.ones((5, 5)), {"valid": slice(0, 5)})


def test_sharpe_objective_is_the_train_sharpe_of_the_combined_backtest():
    from alpha_env.backtest import BacktestSettings, run_backtest, window_metrics
    from alpha_env.pool import sharpe_objective

    close, universe = market(0)
    returns = np.full(close.shape, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1
    objective = sharpe_objective(returns, universe, SPLITS["train"])
    pool = AlphaPool(close, SPLITS, PoolSettings(capacity=2, objective=objective), universe=universe)
    s = _hand_made(close)
    r = pool.offer("a", s["a"])
    res = run_backtest(pool.combined(), returns, universe, None, BacktestSettings())
    assert r.accepted and r.objective_after == window_metrics(res, SPLITS["train"])["sharpe"] > 0


def test_rolling_objective_is_the_daily_ic_of_its_combined_signal():
    pool, close, universe = _pool(PoolSettings(capacity=3, model="rolling", refit_every=5, lookback=40))
    s = _hand_made(close)
    assert pool.offer("a", s["a"]).accepted and pool.offer("b", s["b"]).accepted
    y = forward_returns(close, horizon=1, delay=DELAY)
    ref = ic_stats(daily_ic(pool.combined(), y, universe), pool.fit)["mean"]
    assert np.isfinite(ref) and pool.objective == pytest.approx(ref, abs=1e-10)
    W = pool.weight_path()
    assert W.shape == (T, 2) and np.isnan(W[:5]).all() and not np.allclose(W[50], W[90])


def test_holdout_fits_weights_before_the_held_out_rows_and_scores_on_them():
    """With holdout h, the weights are the least-squares fit on the train rows whose targets are known
    before the held-out rows start, and the objective is the combined IC over the held-out rows only."""
    settings = PoolSettings(capacity=3, holdout=0.3)
    pool, close, _ = _pool(settings)
    signals = _hand_made(close)
    for name in ("a", "b"):
        pool.offer(name, signals[name])
    full, fit, score = pool._rows, pool.fit, pool.score_rows
    assert fit.start == full.start and score.stop == full.stop
    assert fit.stop + 1 + settings.horizon <= score.start  # delay 1: fit targets known before holdout
    reference = AlphaPool(close, {"train": slice(0, fit.stop + 1 + settings.horizon)},
                          PoolSettings(capacity=3), universe=pool.universe)
    for name in ("a", "b"):
        reference.add(name, signals[name])
    np.testing.assert_allclose(pool.weights, reference.weights, rtol=1e-9, atol=1e-12)
    combined = pool.combined()
    target = forward_returns(close, horizon=1, delay=1)
    expected = np.nanmean(daily_ic(combined[score], target[score], pool.universe[score]))
    assert pool.objective == pytest.approx(expected, abs=1e-9)


def test_min_ic_t_refuses_insignificant_candidates_with_zero_gain():
    pool, close, _ = _pool(PoolSettings(capacity=3, min_ic_t=3.0))
    noise = np.random.default_rng(7).normal(size=close.shape)
    r = pool.offer("noise", noise)
    assert not r.accepted and r.gain == 0.0 and "t-statistic" in r.reason and len(pool) == 0
    strong = forward_returns(close, horizon=1, delay=1)  # the target itself: a perfect alpha (test only)
    assert pool.offer("oracle", np.nan_to_num(strong)).accepted


@pytest.mark.parametrize("rule", ["pool", "alphagen"])
def test_candidates_refused_at_the_gates_leave_no_trace(rule):
    """The gates read the candidate alone (its dot products with the members come after them): a pool
    offered noise between its members ends with the same bits as one that was never offered it."""
    model = {"model": "ridge", "ridge_alpha": 0.5} if rule == "pool" else {}
    settings = PoolSettings(capacity=3, min_ic_t=3.0, rule=rule, max_corr=0.99, **model)
    with_noise, close, _ = _pool(settings)
    clean, _, _ = _pool(settings)
    rng = np.random.default_rng(11)
    sigs = _signals(close, 4, seed=5)
    results = ([], [])
    for i, s in enumerate(sigs):
        noise = rng.normal(size=close.shape)
        gated = with_noise.offer(f"noise{i}", noise)
        assert not gated.accepted and "t-statistic" in gated.reason
        results[0].append(with_noise.offer(f"s{i}", s))
        results[1].append(clean.offer(f"s{i}", s))
    assert [r.accepted for r in results[0]] == [r.accepted for r in results[1]]
    assert any(r.accepted for r in results[0]) and len(with_noise) >= 2
    assert [(r.reason, r.gain) for r in results[0]] == [(r.reason, r.gain) for r in results[1]]
    assert with_noise.objective == clean.objective
    assert with_noise.weights.tobytes() == clean.weights.tobytes()
    assert with_noise.combined().tobytes() == clean.combined().tobytes()


def _half_t(signal, close, universe, rows: slice) -> float:
    """The t-statistic of a signal's daily IC on ``rows``, by hand."""
    ic = daily_ic(signal[rows], forward_returns(close, horizon=1, delay=DELAY)[rows], universe[rows])
    ic = ic[np.isfinite(ic)]
    return ic.mean() / ic.std(ddof=1) * np.sqrt(ic.size)


def test_min_half_ic_t_refuses_an_alpha_carried_by_one_half_of_train():
    pool, close, universe = _pool(PoolSettings(capacity=3, min_ic_t=3.0, min_half_ic_t=2.0))
    start, stop, _ = pool.score_rows.indices(T)
    middle = start + (stop - start) // 2
    target = np.nan_to_num(forward_returns(close, horizon=1, delay=DELAY))
    rng = np.random.default_rng(3)
    early = target + rng.normal(0, 0.01, (T, N))  # sees the target in the first half of train only
    early[middle:] = rng.normal(0, 1, (T - middle, N))
    first = _half_t(early, close, universe, slice(start, middle))
    second = _half_t(early, close, universe, slice(middle, stop))
    whole = _half_t(early, close, universe, slice(start, stop))
    assert whole >= 3.0 and first >= 2.0 > second  # min_ic_t alone would admit it
    r = pool.offer("early", early)
    assert not r.accepted and r.gain == 0.0 and len(pool) == 0
    assert f"{second:.2f} in the second half" in r.reason
    steady = target + rng.normal(0, 0.01, (T, N))
    assert pool.offer("steady", steady).accepted
    # strongly negative IC in the second half, weaker and positive in the first: negative on the whole,
    # so the first half counts against it (no min_ic_t here)
    settings = PoolSettings(capacity=3, min_half_ic_t=2.0)
    pool = AlphaPool(close, SPLITS, settings, universe=universe, delay=DELAY)
    flipped = -target + rng.normal(0, 0.002, (T, N))
    flipped[:middle] = target[:middle] + rng.normal(0, 0.03, (middle, N))
    assert _half_t(flipped, close, universe, slice(start, middle)) > 2.0
    assert _half_t(flipped, close, universe, slice(start, stop)) < 0.0
    r = pool.offer("flipped", flipped)
    assert not r.accepted and "in the first half" in r.reason
    assert pool.offer("flipped whole", -target + rng.normal(0, 0.01, (T, N))).accepted
    assert PoolSettings().min_half_ic_t == 0.0  # off by default


# ---------------------------------------------------------------- pruning inside train
def _mixed_pool(settings: PoolSettings, close=None, universe=None, seed: int = 0):
    """A pool of 3 informative signals and 4 pure-noise ones, added without the admission rule."""
    pool, c, u = _pool(settings, seed)
    if close is not None:
        pool = AlphaPool(close, SPLITS, settings, universe=universe, delay=DELAY)
        c, u = close, universe
    informative = _signals(c, 3)
    rng = np.random.default_rng(7)
    noise = [rng.normal(0, 1, (T, N)) for _ in range(4)]
    for i, s in enumerate(informative):
        pool.add(f"good{i}", s)
    for i, s in enumerate(noise):
        pool.add(f"noise{i}", s)
    return pool, c, u, informative + noise


def test_prune_removes_members_that_lower_the_held_out_ic_and_refits_on_train():
    settings = PoolSettings(capacity=8)
    pool, close, universe, signals = _mixed_pool(settings)
    names = [m.expr for m in pool.members]
    result = pool.prune(0.3)
    assert set(result.removed) | set(result.kept) == set(names) and not set(result.removed) & set(result.kept)
    assert {f"good{i}" for i in range(3)} <= set(result.kept) and result.removed
    assert all(name.startswith("noise") for name in result.removed)
    assert result.held_ic_after > result.held_ic_before
    # the reported held-out IC: numpy least squares on the inner rows, the combined IC on the held rows
    y = np.where(universe, forward_returns(close, horizon=1, delay=DELAY), np.nan)
    zy = (y - np.nanmean(y, axis=1, keepdims=True)) / np.nanstd(y, axis=1, ddof=1, keepdims=True)
    inner, held = slice(*result.fit_rows), slice(*result.held_rows)
    assert inner.start == pool.fit.start and held.stop == pool.fit.stop
    assert inner.stop + DELAY + settings.horizon <= held.start  # no inner target is known inside held
    for kept, expected in ((names, result.held_ic_before), (list(result.kept), result.held_ic_after)):
        Z = [zscore_ref(signals[names.index(k)], universe) for k in kept]
        cells = np.isfinite(zy[inner])
        X = np.stack([z[inner][cells] for z in Z], axis=1)
        w = np.linalg.lstsq(X, zy[inner][cells], rcond=None)[0]
        combined = sum(wk * z for wk, z in zip(w, Z, strict=True))
        ic = np.nanmean(daily_ic(combined[held], y[held], universe[held]))
        assert ic == pytest.approx(expected, abs=1e-9)
    # afterwards: the kept members with the weights a fresh pool of them fits on the whole train
    fresh, *_ = _pool(PoolSettings(capacity=8))
    for name in result.kept:
        fresh.add(name, signals[names.index(name)])
    np.testing.assert_allclose(pool.weights, fresh.weights, rtol=0, atol=1e-12)
    assert pool.objective == pytest.approx(fresh.objective, abs=1e-12)


@pytest.mark.parametrize("model", ["lstsq", "ridge", "conditional"])
def test_prune_never_reads_after_the_train_split(model):
    """Scrambling every price and signal after the train split changes nothing the pruning decides."""
    kw = {"ridge_alpha": 0.1} if model != "lstsq" else {}
    settings = PoolSettings(capacity=8, model=model, **kw)

    def run(scramble: bool):
        close, universe = market(0)
        state = np.linspace(-1, 1, T)[:, None] if model == "conditional" else None
        pool = AlphaPool(close, SPLITS, settings, universe=universe, delay=DELAY, state=state)
        informative = _signals(close, 3)
        rng = np.random.default_rng(7)
        noise = [rng.normal(0, 1, (T, N)) for _ in range(4)]
        if scramble:
            later = slice(SPLITS["train"].stop, T)
            wild = np.random.default_rng(99)
            close = close.copy()
            close[later] = 40 * np.exp(wild.normal(0, 0.3, close[later].shape))
            pool = AlphaPool(close, SPLITS, settings, universe=universe, delay=DELAY, state=state)
            for s in informative + noise:
                s[later] = wild.normal(0, 5, s[later].shape)
        for i, s in enumerate(informative + noise):
            pool.add(f"s{i}", s)
        result = pool.prune(0.3)
        return result, pool.weight_path()[: SPLITS["train"].stop]

    (a, wa), (b, wb) = run(False), run(True)
    assert a.removed == b.removed and a.kept == b.kept
    assert a.held_ic_before == b.held_ic_before and a.held_ic_after == b.held_ic_after
    np.testing.assert_array_equal(wa, wb)


def test_prune_settings_are_checked():
    pool, *_ = _mixed_pool(PoolSettings(capacity=8))
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(SettingsError, match="holdout"):
            pool.prune(bad)
    with pytest.raises(DataError, match="cannot hold a prune holdout"):
        pool.prune(0.999)
    other, *_ = _pool(PoolSettings(capacity=3, model="ic_weighted"))
    with pytest.raises(SettingsError, match="prune applies"):
        other.prune(0.3)
    untouched = [m.expr for m in pool.members]
    assert len(untouched) == 7  # a refused prune removed nothing
