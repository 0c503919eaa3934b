"""Bounds from the fields' ranges (``Evaluator.bound``): sound against evaluated values on adversarial and
real panels, and the environment's verdicts the same with and without asking them first."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import alpha_env.env as E
from alpha_env.ace import ACE
from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError
from alpha_env.evaluate import Evaluator
from alpha_env.evaluate.bounds import _KEEPS_INF, ANY, EMPTY, Bound, expression_bound
from alpha_env.grammar import OPERATORS, Call, Codebook, GrammarState, Kind, canonical, parse
from alpha_env.ops import KERNELS
from tests.fuzz_support import load_fuzz
from tests.kernel_support import random_arguments

BOOK = Codebook.default()


def _calls(expr):
    if isinstance(expr, Call):
        for a in expr.args:
            yield from _calls(a)
        yield expr


def _random_expressions(seed: int, n: int, max_len: int = 16) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        state = GrammarState(BOOK, max_len, refuse_degenerate=bool(k % 2))
        while not state.done:
            state.push(int(rng.choice(np.flatnonzero(state.mask()))))
        out.append(state.expression())
    return out


def _assert_sound(ev: Evaluator, expr, rows: int) -> tuple[int, int]:
    """Every call of ``expr``: its finite values lie in its bound, an empty bound has none, a flat one is
    one number per day (to the backtest's flatness tolerance). Returns (calls checked, flat claims)."""
    checked = flats = 0
    for node in dict.fromkeys(_calls(expr)):
        try:
            x = np.asarray(ev.evaluate(node, rows=rows))
        except ExpressionError:
            continue
        b = ev.bound(node, rows=rows)
        known = ~np.isnan(x)  # infinities are values to comparisons and extremes: bounds hold them too
        text = canonical(node)
        if b.empty:
            assert not known.any(), (text, b)
        elif known.any():
            low, high = x[known].min(), x[known].max()
            assert low >= b.lo and high <= b.hi, (text, b, low, high)
        if b.flat and known.any():
            flats += 1
            for day in np.flatnonzero(known.any(axis=1)):
                values = x[day][known[day]]
                if np.isinf(values).any():
                    assert (values == values[0]).all(), (text, b, day)
                else:
                    assert np.ptp(values) <= 1e-12 * np.abs(values).max(), (text, b, day)
        checked += 1
    return checked, flats


@pytest.mark.parametrize("seed", range(12))
def test_bounds_hold_on_adversarial_panels(seed):
    """NaN runs, huge and subnormal values, zeros and constant stocks: every bound holds."""
    fuzz = load_fuzz()
    panel = fuzz.adversarial_panel(np.random.default_rng(seed), n_stocks=15, n_days=120)
    ev = Evaluator(panel)
    checked = flats = 0
    for expr in _random_expressions(seed, 60):
        for rows in (120, 70):
            c, f = _assert_sound(ev, expr, rows)
            checked, flats = checked + c, flats + f
    assert checked > 500 and flats > 20


def test_bounds_hold_on_a_synthetic_market_and_prove_scale_verdicts():
    panel = synthetic_market(seed=3, n_stocks=40, n_days=300, news=False)
    ev = Evaluator(panel)
    for expr in _random_expressions(100, 150):
        _assert_sound(ev, expr, 300)
    for text, expected in [("close > -1", Bound(1.0, 1.0)), ("sign(volume + 1)", Bound(1.0, 1.0)),
                           ("-0.5 < (open >= 2)", Bound(1.0, 1.0)), ("rank(close) > 1", Bound(0.0, 0.0)),
                           ("close ^ 0", Bound(1.0, 1.0)), ("close / (close < -1)", EMPTY),
                           ("0.5 ^ (volume + 1e6)", Bound(0.0, 0.0)), ("product(volume + 1e6, 250)", EMPTY)]:
        b = ev.bound(text)
        assert b == expected and b.degenerate, (text, b)
    for text in ("rank(close)", "close - open", "ts_argmax(close, 5)",
                 "group_rank(sign(volume + 1), sector)"):
        assert not ev.bound(text).degenerate, text
    # flat stays flat through window statistics and ranks, not through group ranks
    assert ev.bound("ts_mean(rank(close > -1), 5) + 1").flat
    assert ev.bound("zscore(ts_mean(close > -1, 5))").empty


def test_rules_on_hand_made_bounds():
    fields = {"a": Bound(2.0, 3.0), "b": Bound(-1.0, 1.0), "big": Bound(1e200, 1e300), "nan": EMPTY}
    bound = lambda text: expression_bound(parse(text), fields.__getitem__, 10)  # noqa: E731
    assert bound("big * big") == EMPTY  # beyond the float range: NaN in the kernels
    assert bound("a * big") == Bound(2e200, 3e300)
    assert bound("a * b") == Bound(-3.0, 3.0)
    assert bound("b / a") == Bound(-0.5, 0.5)
    assert bound("a / b") == ANY
    assert bound("a + nan") == EMPTY and bound("(a > 0) ? a : nan") == Bound(2.0, 3.0)
    assert bound("a ^ nan") == EMPTY and bound("(b > 5) ^ nan") == EMPTY
    assert bound("rank(b)") == Bound(0.1, 1.0)
    assert bound("a == b + 1.5").point is False and bound("a == b + 5") == Bound(0.0, 0.0)
    # the tie rule's reach: sides closer than 1e-8 of their size are not called apart
    assert not bound("a < (b + 3.0000000001)").flat
    assert bound("sqrt(b - 2)") == EMPTY and bound("log(b - 1)") == EMPTY
    assert bound("indneutralize(a > 0, sector)") == Bound(0.0, 0.0)
    # a field holding inf: a running mean's rounding is no longer bounded by a finite scale
    fields["inf"] = Bound(1.0, math.inf)
    assert bound("ts_mean(inf, 5)").lo < 0.0 and not bound("ts_mean(inf, 5) >= 1").flat
    assert bound("ts_max(inf, 5) >= 1") == Bound(1.0, 1.0)  # the values themselves: exact
    # decay_linear keeps an inf its weighted sums overflow to: near the float range, no bound
    fields["huge"] = Bound(1e305, 1e306)
    assert bound("decay_linear(huge, 37)") == Bound(-math.inf, math.inf)
    assert bound("decay_linear(a, 37)").lo > 1.9


def _episodes(env, n: int, seed: int) -> list[tuple[float, str, str | None]]:
    agent = E.MaskedRandomAgent(seed)
    out = []
    for ep in range(n):
        reward, _, info = E.play_episode(env, agent, seed=ep)
        out.append((reward, info["reason"], info.get("expression")))
    return out


def test_the_env_pays_the_same_rewards_with_and_without_asking_the_bounds_first():
    panel = synthetic_market(seed=8, n_stocks=30, n_days=260, news=False)
    fast = E.AlphaStackEnv(panel, max_len=12)
    slow = E.AlphaStackEnv(panel, max_len=12)
    slow._bounds_first = False
    a, b = _episodes(fast, 300, 4), _episodes(slow, 300, 4)
    assert a == b
    assert sum(r == "degenerate" for _, r, _ in a) > 30
    # the degenerate reason says when the bounds gave the verdict
    fast.reset(seed=0)
    for action in [*BOOK.encode(parse("close > -1")), BOOK.END]:
        _, reward, term, _, info = fast.step(action)
    assert term and info["reason"] == "degenerate"
    assert "known without evaluating it" in info["degenerate_reason"]
    assert info["alpha_id"] == ACE(panel).alpha_id("close > -1")


def test_a_flat_signal_is_not_called_degenerate_without_a_neutralization():
    from alpha_env.ace import SimulationSettings
    from alpha_env.backtest import BacktestSettings

    panel = synthetic_market(seed=8, n_stocks=30, n_days=260, news=False)
    settings = SimulationSettings(backtest=BacktestSettings(neutralization="none"))
    env = E.AlphaStackEnv(panel, max_len=12, settings=settings)
    env.reset(seed=0)
    for action in [*BOOK.encode(parse("close > -1")), BOOK.END]:
        _, reward, term, _, info = env.step(action)
    assert term and "known without evaluating it" not in str(info["degenerate_reason"])


@pytest.mark.real_data
def test_bounds_hold_on_sp500_for_random_agents_expressions():
    from pathlib import Path

    from alpha_env.data import load_panel

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_2013_2018"
    if not path.exists():
        pytest.skip("../shared/data/sp500_2013_2018 is absent")
    ev = Evaluator(load_panel(path))
    flats = 0
    for expr in _random_expressions(7, 120, max_len=14):
        flats += _assert_sound(ev, expr, 755)[1]
    assert flats > 50


def test_the_aces_verdict_calls_flat_signals_degenerate_only_under_a_demeaning_backtest():
    from alpha_env.ace import SimulationSettings
    from alpha_env.backtest import BacktestSettings

    panel = synthetic_market(seed=8, n_stocks=30, n_days=260, news=False)
    flat, empty = "close > -1", "close / (close < -1)"
    assert "constant across stocks" in ACE(panel).bound_reason(flat)
    for backtest in (BacktestSettings(neutralization="none"), BacktestSettings(decay=5)):
        ace = ACE(panel, SimulationSettings(backtest=backtest))
        assert ace.bound_reason(flat) is None  # a book may still be held
        assert ace.bound_reason(empty).startswith("all NaN")
        assert ace.simulate(empty, save=False).degenerate_reason.startswith("all NaN")
    assert ACE(panel).bound_reason("rank(close)") is None
    with pytest.raises(ExpressionError, match="unknown field"):
        ACE(panel).bound_reason("rank(clsoe)")


@pytest.mark.parametrize("op", sorted(op for op in KERNELS if any(
    k in (Kind.SERIES, Kind.BOOL) for k in OPERATORS[op].arg_kinds)))
def test_the_operators_said_to_keep_inf_are_exactly_those_whose_kernels_do(op):
    """``_KEEPS_INF`` decides which bounds may stop at the largest float: checked against every kernel
    on random data holding +inf and -inf (an operator outside it turns every inf into NaN)."""
    rng = np.random.default_rng(zlib.crc32(f"inf {op}".encode()))
    kept = False
    for _ in range(4):
        args = random_arguments(op, rng, 2, (40, 8))
        for k, arg in enumerate(args):
            if isinstance(arg, np.ndarray) and arg.ndim == 2:
                arg[rng.random(arg.shape) < 0.05] = np.inf
                arg[rng.random(arg.shape) < 0.05] = -np.inf
                if OPERATORS[op].arg_kinds[k] is Kind.BOOL:
                    arg[:] = np.where(np.isnan(arg), arg, arg > 0)
        try:
            kept |= bool(np.isinf(KERNELS[op](*args)).any())
        except ExpressionError:
            continue
    assert kept == (op in _KEEPS_INF), op
