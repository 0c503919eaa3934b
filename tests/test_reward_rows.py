"""Scoring the first dates only (the reward path, issue 16): ``Evaluator.evaluate(rows=R)``,
``ACE.score(rows=R)``, a pool offered partial signals and the env that uses both give the same numbers as
the full panel, bit for bit, and read nothing after the reward window's end."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alpha_env.env as E
from alpha_env.ace import ACE
from alpha_env.ace.pools import new_pool
from alpha_env.data import synthetic_market
from alpha_env.errors import DataError, ExpressionError, SettingsError
from alpha_env.evaluate import Evaluator
from alpha_env.grammar import OPERATORS, Call, Codebook, Const, Field, Group, Kind, Window, alpha101, lookback
from alpha_env.grammar.corpus import random_expression
from alpha_env.pool import PoolSettings

T_DAYS, N_STOCKS = 260, 30


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=3, n_stocks=N_STOCKS, n_days=T_DAYS, news=False)


def _call(op: str):
    """A call of ``op`` with typical arguments of each kind (a window of 5 days)."""
    spec = OPERATORS[op]
    series = iter([Field("close"), Field("volume"), Field("returns")])
    consts = {"ts_quantile": [Const(0.3)], "bucket": [Const(0.9), Const(0.1)]}.get(op, [Const(0.5)])
    args = []
    for kind in spec.arg_kinds:
        if kind == Kind.SERIES:
            args.append(next(series))
        elif kind == Kind.BOOL:
            args.append(Call("lt", (Field("returns"), Const(0.0))))
        elif kind == Kind.WINDOW:
            args.append(Window(5))
        elif kind == Kind.GROUP:
            args.append(Group("sector"))
        else:
            args.append(consts.pop(0))
    return Call(op, tuple(args))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_every_operator_on_the_first_rows_equals_the_full_result(op, panel):
    expr = _call(op)
    full = Evaluator(panel, cache_bytes=0).evaluate(expr)
    for rows in (1, 4, 5, 37, T_DAYS - 1, T_DAYS):
        part = Evaluator(panel, cache_bytes=0).evaluate(expr, rows=rows)
        assert part.shape == (rows, N_STOCKS)
        assert _same(part, full[:rows]), (op, rows)


def test_the_101_alphas_on_the_first_rows_equal_the_full_result(panel):
    checked = 0
    for alpha in alpha101():
        if lookback(alpha.expr) >= T_DAYS:
            continue
        try:
            full = Evaluator(panel, cache_bytes=0).evaluate(alpha.expr)
        except ExpressionError:  # reads a field this panel lacks (cap)
            continue
        part = Evaluator(panel, cache_bytes=0).evaluate(alpha.expr, rows=150)
        assert _same(part, full[:150]), alpha.number
        checked += 1
    assert checked > 80


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, T_DAYS), agent_only=st.booleans())
def test_random_grammar_expressions_on_the_first_rows_equal_the_full_result(panel, seed, rows, agent_only):
    """Any well-typed expression of the codebook (every operator the grammar offers, dialects' included
    when ``agent_only`` is off) gives on its first ``rows`` dates the full result's first rows, or fails
    with the same error either way."""
    expr = random_expression(Codebook.default(), 16, np.random.default_rng(seed), agent_only=agent_only)
    try:
        full = Evaluator(panel, cache_bytes=0).evaluate(expr)
    except ExpressionError as exc:
        with pytest.raises(ExpressionError) as again:
            Evaluator(panel, cache_bytes=0).evaluate(expr, rows=rows)
        assert str(again.value) == str(exc)
        return
    assert _same(Evaluator(panel, cache_bytes=0).evaluate(expr, rows=rows), full[:rows])


def test_the_cache_serves_fewer_rows_and_recomputes_more(panel):
    ev = Evaluator(panel)
    expr = "rank(ts_argmax(close, 5)) - rank(volume)"
    full = ev.evaluate(expr)
    hits = ev.cache_stats().hits
    part = ev.evaluate(expr, rows=100)
    assert ev.cache_stats().hits == hits + 1 and _same(part, full[:100]) and not part.flags.writeable
    ev.clear_cache()
    ev.evaluate(expr, rows=100)
    misses = ev.cache_stats().misses
    again = ev.evaluate(expr)  # the cached 100 rows are too few: computed again, then kept
    assert ev.cache_stats().misses > misses and _same(again, full)
    assert ev.evaluate(expr, rows=200).base is not None  # a view of the kept full result
    assert _same(ev.evaluate("close", rows=3), panel.field("close")[:3])


def test_rows_are_checked_and_windows_are_judged_on_the_whole_panel(panel):
    ev = Evaluator(panel)
    for bad in (0, T_DAYS + 1, 2.5, True, "10"):
        with pytest.raises(SettingsError, match="rows must be an integer"):
            ev.evaluate("rank(close)", rows=bad)
    assert ev.evaluate("ts_mean(close, 200)", rows=50).shape == (50, N_STOCKS)  # all NaN, as in full
    with pytest.raises(ExpressionError, match="longer than the data"):
        ev.evaluate(f"ts_mean(close, {T_DAYS + 1})", rows=10)


def _random_texts(panel, n: int, seed: int) -> list[str]:
    env = gym.make(E.ALPHA_STACK_ID, data=panel)
    agent = E.MaskedRandomAgent(seed)
    texts = []
    for ep in range(n):
        _, _, info = E.play_episode(env, agent, seed=seed * 1000 + ep)
        texts.append(info["expression"])
    env.close()
    return texts


def test_score_on_the_window_rows_equals_the_full_score(panel):
    ace = ACE(panel)
    rows = ace.window_rows("train")
    assert rows == panel.splits["train"].stop + 1
    texts = [a.text for a in alpha101() if lookback(a.expr) < T_DAYS][:40] + _random_texts(panel, 60, 1)
    texts = [t for t in texts if "cap" not in t]
    usable = 0
    for text in texts:
        try:
            full = ACE(panel).score(text, "train")
        except ExpressionError:
            continue
        part = ace.score(text, "train", rows=rows)
        assert part.rows == rows and full.rows == T_DAYS
        assert set(part.metrics) == set(full.metrics)
        for key, value in full.metrics.items():
            assert value == part.metrics[key] or (math.isnan(value) and math.isnan(part.metrics[key])), key
        assert _same(part.pnl, full.pnl[:rows])
        usable += full.degenerate_reason is None
    assert usable > 30


def test_a_partial_score_completes_to_the_full_simulation(panel):
    ace = ACE(panel)
    text = "rank(-delta(close, 5)) * rank(volume)"
    part = ace.score(text, "train", rows=ace.window_rows("train"))
    done = ace.complete(part)
    ref = ACE(panel).simulate(text, save=False)
    assert done.pnl.shape == (T_DAYS,) and _same(done.pnl, ref.pnl)
    assert done.metrics == ref.metrics and done.alpha_id == ref.alpha_id


def test_score_rows_must_cover_the_window(panel):
    ace = ACE(panel)
    need = ace.window_rows("train")
    with pytest.raises(SettingsError, match=f">= {need}"):
        ace.score("rank(close)", "train", rows=need - 1)
    assert ace.window_rows(None) == T_DAYS and ace.window_rows("test") == T_DAYS
    assert ace.score("rank(close)", "train", rows=10**6).rows == T_DAYS


@pytest.mark.parametrize("settings", [PoolSettings(capacity=4), PoolSettings(capacity=3, rule="alphagen"),
                                      PoolSettings(capacity=4, objective="sharpe")],
                         ids=["lstsq", "alphagen", "sharpe"])
def test_a_pool_offered_partial_signals_is_the_pool_offered_full_ones(settings, panel):
    ace = ACE(panel)
    texts = [t for t in _random_texts(panel, 80, 2) if ace.score(t, None).degenerate_reason is None]
    texts += ["rank(-delta(close, 5))", "rank(volume) - rank(close)", "-1 * ts_rank(high, 10)"]
    full_pool, part_pool = new_pool(ace, settings), new_pool(ace, settings)
    rows = part_pool.signal_rows
    assert rows == panel.splits["train"].stop
    asked = 0
    for text in texts:
        signal = ace.evaluator.evaluate(text)

        def whole(s=signal):
            nonlocal asked
            asked += 1
            return s

        a = full_pool.offer(text, signal)
        b = part_pool.offer(text, signal[:rows], full=whole)
        assert (a.accepted, a.replaced, a.reason, a.gain) == (b.accepted, b.replaced, b.reason, b.gain)
    assert 0 < asked < len(texts)
    assert [m.expr for m in full_pool.members] == [m.expr for m in part_pool.members]
    assert np.array_equal(full_pool.weights, part_pool.weights)
    assert _same(full_pool.combined(), part_pool.combined())


def test_a_partial_offer_needs_its_whole_signal(panel):
    ace = ACE(panel)
    pool = new_pool(ace, PoolSettings(capacity=3))
    rows = pool.signal_rows
    signal = ace.evaluator.evaluate("rank(-delta(close, 5))")
    with pytest.raises(DataError, match="pass full="):
        pool.offer("a", signal[:rows])
    with pytest.raises(DataError, match="shape"):
        pool.offer("a", signal[: rows - 1], full=lambda: signal)
    with pytest.raises(DataError, match="differ"):
        pool.offer("a", signal[:rows], full=lambda: signal + 1.0)
    assert len(pool) == 0 and pool.objective == 0.0
    rolling = new_pool(ace, PoolSettings(capacity=3, model="rolling"))
    assert rolling.signal_rows == T_DAYS


@pytest.mark.parametrize("options", [{}, {"reward": "pool"}, {"repeat_penalty": -0.5}, {"reward": "ic"}],
                         ids=["sharpe", "pool", "repeat", "ic"])
def test_the_env_pays_the_same_rewards_on_the_window_rows(options, panel):
    """The env scores the first rows; forced onto the full panel it pays the same rewards and infos."""
    fast = gym.make(E.ALPHA_STACK_ID, data=panel, **options)
    slow = gym.make(E.ALPHA_STACK_ID, data=panel, **options)
    slow.unwrapped._score_rows = lambda window, text: None
    used: list[int | None] = []
    rows_of = fast.unwrapped._score_rows
    fast.unwrapped._score_rows = lambda window, text: used.append(rows_of(window, text)) or used[-1]
    a_agent, b_agent = E.MaskedRandomAgent(5), E.MaskedRandomAgent(5)
    for ep in range(60):
        ra, _, ia = E.play_episode(fast, a_agent, seed=ep)
        rb, _, ib = E.play_episode(slow, b_agent, seed=ep)
        assert ra == rb and ia["expression"] == ib["expression"] and ia["reason"] == ib["reason"]
        assert ia.get("pool") == ib.get("pool")
    assert used and all(r is not None and r < T_DAYS for r in used)
    if options.get("reward") == "pool":
        pa, pb = fast.unwrapped.pool, slow.unwrapped.pool
        assert len(pa) > 0 and [m.expr for m in pa.members] == [m.expr for m in pb.members]
        assert _same(pa.combined(), pb.combined())


def test_the_env_with_a_store_scores_a_stored_alpha_on_the_window_rows_only(panel, tmp_path):
    """A new alpha is evaluated in full (its simulation is stored); one the store holds already is
    scored on the window's rows; the rewards and the store's contents are those of the full panel."""
    from alpha_env.ace import AlphaStore

    envs, used = [], []
    for name in ("fast", "slow"):
        env = gym.make(E.ALPHA_STACK_ID, data=panel, store=str(tmp_path / f"{name}.db"))
        envs.append(env)
    envs[1].unwrapped._score_rows = lambda window, expr: None
    rows_of = envs[0].unwrapped._score_rows
    envs[0].unwrapped._score_rows = lambda window, expr: used.append(rows_of(window, expr)) or used[-1]
    for _ in range(2):  # the second pass repeats the first one's episodes
        agents = [E.MaskedRandomAgent(9), E.MaskedRandomAgent(9)]
        for ep in range(30):
            ra, _, ia = E.play_episode(envs[0], agents[0], seed=ep)
            rb, _, ib = E.play_episode(envs[1], agents[1], seed=ep)
            assert ra == rb and ia["expression"] == ib["expression"]
    for env in envs:
        env.close()
    assert None in used and any(r is not None for r in used)
    a, b = AlphaStore(str(tmp_path / "fast.db")), AlphaStore(str(tmp_path / "slow.db"))
    ids = sorted(r["alpha_id"] for r in a.top(split="train", n=None))
    assert ids and ids == sorted(r["alpha_id"] for r in b.top(split="train", n=None))
    for aid in ids:
        assert a.get(aid).metrics == b.get(aid).metrics
