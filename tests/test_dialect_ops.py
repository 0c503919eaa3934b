"""The dialects' NaN-reading and stateful operators (``alpha_env.ops.dialectops``) against pandas/numpy
references written from the dialects' documented definitions, NaN patterns included; no look-ahead;
dialect text -> AST -> dialect round trips; the window rule they state (``window_rule``).

Sources of the definitions: Qlib ``qlib/data/ops.py`` (``Count``: ``rolling(N).count()``; ``EMA``:
``ewm(span=N).mean()``); BRAIN's operator reference (``ts_backfill``, ``ts_count_nans``, ``trade_when``,
``bucket`` with its worked example ``range="0.1, 1, 0.1"``: ``0.05, 0.5, 0.9 -> 0, 4, 8`` and
``buckets="2, 5, 6, 7, 10"``: ``-1, 3, 6, 8, 12 -> 0, 1, 2, 4, 5``, and ``rank``: ``(4, 3, 6, 10, 2) ->
(0.5, 0.25, 0.75, 1, 0)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError
from alpha_env.evaluate.evaluator import Evaluator
from alpha_env.grammar import OPERATORS
from alpha_env.grammar.dialects.printing import to_dialect
from alpha_env.grammar.parser import parse
from alpha_env.ops import KERNELS

T, N = 60, 7
NAN_DENSITY = [0.0, 0.1, 0.4]
WINDOWS = [1, 2, 5, 10]


def _panel(seed: int, density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N))
    x[:, 2] = np.round(x[:, 2])  # ties
    x[rng.random((T, N)) < density] = np.nan
    x[20:35, 3] = np.nan  # a long NaN run
    return x


def _first_rows_nan(a: np.ndarray, d: int) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a[:d - 1] = np.nan
    return a


def ref_count_nans(x, d):
    return _first_rows_nan(pd.DataFrame(np.isnan(x).astype(float)).rolling(d).sum().to_numpy(), d)


def ref_qlib_count(x, d):  # Qlib: rolling(N, min_periods=1).count(), on full windows
    return _first_rows_nan(pd.DataFrame(x).rolling(d, min_periods=1).count().to_numpy(), d)


def ref_backfill(x, d):  # BRAIN: NaN replaced by the most recent valid value of the last d days
    filled = pd.DataFrame(x).ffill(limit=d - 1).to_numpy() if d > 1 else x
    return _first_rows_nan(filled, d)


def ref_ema(x, d):  # Qlib: ewm(span=N).mean() (adjust=True); alpha-env: NaN on a NaN day, first d-1 rows
    out = _first_rows_nan(pd.DataFrame(x).ewm(span=d, ignore_na=False).mean().to_numpy(), d)
    out[np.isnan(x)] = np.nan
    return out


def ref_trade_when(trigger, alpha, exit_):
    out = np.full(alpha.shape, np.nan)
    for j in range(alpha.shape[1]):
        prev = np.nan
        for t in range(alpha.shape[0]):
            if exit_[t, j] > 0:  # NaN > 0 is False, as in BRAIN
                prev = np.nan
            elif trigger[t, j] > 0:
                prev = alpha[t, j]
            out[t, j] = prev
    return out


def ref_bucket(x, end, step):  # BRAIN's range="0, end, step": edges 0, step, ..., end, right-closed
    edges = [k * step for k in range(int(round(end / step)))] + [end]
    return np.where(np.isnan(x), np.nan, (x[..., None] > np.array(edges)).sum(axis=-1).astype(float))


def ref_group_rank01(x, g):
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        for code in set(g.tolist()) - {-1}:
            cols = (g == code) & ~np.isnan(x[t])
            n = cols.sum()
            if n >= 2:
                out[t, cols] = (pd.Series(x[t, cols]).rank(method="average").to_numpy() - 1) / (n - 1)
    return out


DIALECT_REFERENCE = {
    "ts_count_nans": ref_count_nans,
    "ts_backfill": ref_backfill,
    "ts_ema": ref_ema,
    "trade_when": ref_trade_when,
    "bucket": ref_bucket,
    "rank01": lambda x: ref_group_rank01(x, np.zeros(x.shape[1], dtype=np.int64)),
    "group_rank01": ref_group_rank01,
}
"""Canonical name -> reference, same signature as the kernel (joins ``test_ops_reference.REFERENCE``)."""


def _same(ours, ref):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("d", WINDOWS)
@pytest.mark.parametrize("op", ["ts_count_nans", "ts_backfill", "ts_ema"])
def test_windowed_against_references(op, d, density):
    x = _panel(d + int(density * 100), density)
    _same(KERNELS[op](x, d), DIALECT_REFERENCE[op](x, d))


@pytest.mark.parametrize("density", NAN_DENSITY)
def test_trade_when_against_reference(density):
    rng = np.random.default_rng(5)
    trig, alpha, ex = (_panel(s, density) for s in (1, 2, 3))
    ex = np.where(rng.random(ex.shape) < 0.9, -1.0, ex)  # exits are rare
    _same(KERNELS["trade_when"](trig, alpha, ex), ref_trade_when(trig, alpha, ex))
    hold = KERNELS["trade_when"](np.where(np.arange(T)[:, None] == 3, 1.0, 0.0) + 0 * alpha, alpha,
                                 np.full(alpha.shape, -1.0))
    assert np.isnan(hold[:3]).all() and np.array_equal(hold[3:], np.repeat(alpha[3:4], T - 3, axis=0),
                                                       equal_nan=True)


def test_bucket_and_rank01_follow_brains_worked_examples():
    x = np.array([[0.05, 0.5, 0.9, np.nan]])
    np.testing.assert_array_equal(KERNELS["bucket"](x - 0.1, 0.9, 0.1), [[0, 4, 8, np.nan]])  # 0.1, 1, 0.1
    np.testing.assert_array_equal(KERNELS["rank01"](np.array([[4.0, 3, 6, 10, 2]])),
                                  [[0.5, 0.25, 0.75, 1, 0]])
    np.testing.assert_array_equal(KERNELS["group_rank01"](np.array([[100.0, 0, 50, 7]]),
                                                          np.array([0, 0, 0, 1])), [[1, 0, 0.5, np.nan]])
    ev = Evaluator(synthetic_market(seed=1, n_stocks=10, n_days=30))
    expr = parse('bucket(close - close + ts_delta(close, 1) * 0 + 3, buckets="2, 5, 6, 7, 10")',
                 dialect="brain")
    assert np.all(ev.evaluate(expr)[1:] == 1.0)  # 3 is in (2, 5]: index 1
    got = ev.evaluate(parse('bucket(rank(close), range="0.1, 1, 0.1")', dialect="brain"))
    ranks = ev.evaluate(parse("rank(close)", dialect="brain"))
    _same(got, ref_bucket(ranks - 0.1, 0.9, 0.1))  # (-inf, 0.1] -> 0, (0.1, 0.2] -> 1, ..., (0.9, 1] -> 9
    assert np.nanmin(got) == 0 and np.nanmax(got) == 9


@pytest.mark.parametrize("density", NAN_DENSITY)
def test_bucket_and_ranks_against_references(density):
    x = _panel(11, density)
    _same(KERNELS["bucket"](x, 1.0, 0.25), ref_bucket(x, 1.0, 0.25))
    _same(KERNELS["rank01"](x), DIALECT_REFERENCE["rank01"](x))
    g = np.array([0, 0, 1, 1, 1, -1, 2])
    _same(KERNELS["group_rank01"](x, g), ref_group_rank01(x, g))


@pytest.mark.parametrize("args", [(-1.0, 0.1), (1.0, 0.0), (1.0, 1e-9), (float("nan"), 0.1)])
def test_bucket_refuses_bad_ranges(args):
    with pytest.raises(ExpressionError, match="bucket"):
        KERNELS["bucket"](np.zeros((2, 2)), *args)


@pytest.mark.parametrize("op", ["ts_count_nans", "ts_backfill", "ts_ema", "trade_when"])
def test_no_look_ahead(op):
    x = _panel(3, 0.1)
    y, z = _panel(4, 0.1), -np.abs(_panel(5, 0.0))
    call = (lambda a: KERNELS[op](a, y, z)) if op == "trade_when" else (lambda a: KERNELS[op](a, 5))
    base = call(x)
    for t in (10, 30, 50):
        moved = x.copy()
        moved[t + 1:] = np.random.default_rng(t).standard_normal((T - t - 1, N)) * 100
        np.testing.assert_array_equal(call(moved)[:t + 1], base[:t + 1])


def test_stated_window_rules():
    assert {op for op, s in OPERATORS.items() if s.window_rule == "reads_nan"} == {"ts_count_nans",
                                                                                   "ts_backfill"}
    assert {op for op, s in OPERATORS.items() if s.window_rule == "history"} == {"ts_ema", "trade_when"}
    d, x = 5, np.random.default_rng(7).standard_normal((T, N))
    z = x.copy()
    z[:, 0] = np.nan
    z[20, 0] = 1.0  # one valid day in a NaN column: it is read on days 20..24 only (window t-d+1..t)
    counts, filled = KERNELS["ts_count_nans"](z, d)[:, 0], KERNELS["ts_backfill"](z, d)[:, 0]
    assert counts[19] == d and counts[20] == d - 1 and counts[24] == d - 1 and counts[25] == d
    assert np.isnan(filled[19]) and np.all(filled[20:25] == 1.0) and np.isnan(filled[25])
    for op in ("ts_count_nans", "ts_backfill"):
        assert np.isnan(KERNELS[op](x, d)[:d - 1]).all() and np.isfinite(KERNELS[op](x, d)[d - 1:]).all()
    moved = x.copy()
    moved[0] += 10.0  # the first day ages but stays in every later EMA value
    assert not np.allclose(KERNELS["ts_ema"](moved, d)[40:], KERNELS["ts_ema"](x, d)[40:])
    assert "depend on where the panel starts" in OPERATORS["ts_ema"].description


QLIB_ROUND_TRIPS = ["Count($close, 10)", "EMA($close, 10)", "Count($volume, 5) / 5 + EMA($close, 3)"]
BRAIN_ROUND_TRIPS = ["ts_backfill(close, 5)", "ts_count_nans(close, 20)",
                     "trade_when(volume >= ts_sum(volume, 5) / 5, rank(-returns), abs(returns) > 0.1)",
                     'group_neutralize(close, sector) * bucket(rank(volume), range="0, 1, 0.1")',
                     "group_rank(close, industry) - rank(close)"]


@pytest.mark.parametrize("dialect,text", [("qlib", t) for t in QLIB_ROUND_TRIPS] +
                         [("brain", t) for t in BRAIN_ROUND_TRIPS])
def test_dialect_ast_dialect_round_trips(dialect, text):
    expr = parse(text, dialect=dialect)
    assert parse(to_dialect(expr, dialect), dialect=dialect) == expr
    assert parse(to_dialect(expr, "alpha101")) == expr


def test_dialect_values_match_the_definitions_on_a_market():
    panel = synthetic_market(seed=2, n_stocks=10, n_days=80)
    ev = Evaluator(panel)
    close = panel.field("close")
    got = ev.evaluate(parse("Count($close, 10)", dialect="qlib"))
    _same(got, ref_qlib_count(close, 10))
    _same(ev.evaluate(parse("EMA($close, 10)", dialect="qlib")), ref_ema(close, 10))
    r = ev.evaluate(parse("rank(close)", dialect="brain"))
    _same(r, DIALECT_REFERENCE["rank01"](close))
    assert np.nanmin(r, axis=1).max() == 0.0 and np.nanmax(r, axis=1).min() == 1.0


def test_refusals_say_why():
    for text, message in [
        ("EMA($close, 0.5)", "ewm with alpha=0.5"),
        ("Mask($close, 'sh000300')", "another, named instrument"),
    ]:
        with pytest.raises(ExpressionError, match=message):
            parse(text, dialect="qlib")
    for text, message in [
        ("ts_backfill(close, 5, k=2)", "only k=1"),
        ('bucket(rank(close), range="0, 1, 0.1", skipBoth=true)', "skipBoth=true is not supported"),
        ('bucket(rank(close), range="0, 1, 0.1", NANGroup=true)', "a NaN never becomes a value"),
        ("bucket(rank(close))", "exactly one of range"),
        ('bucket(rank(close), range="1, 0, 0.1")', "start < end"),
        ('group_neutralize(close, bucket(rank(volume), range="0, 1, 0.1"))', "fixed classifications"),
    ]:
        with pytest.raises(ExpressionError, match=message):
            parse(text, dialect="brain")
    with pytest.raises(ExpressionError, match="operator 'ts_ema' is not expressible in the brain dialect"):
        to_dialect(parse("ts_ema(close, 5)"), "brain")
    with pytest.raises(ExpressionError, match="operator 'trade_when' is not expressible in the qlib dialect"):
        to_dialect(parse("trade_when(close > open, close, -1)"), "qlib")


# ------------------------------------------------------------------ agents: vocabulary v2 and the masks
def test_vocabulary_v2_appends_the_dialect_operators_and_the_masks_reach_them():
    from alpha_env.grammar import Codebook, OpToken
    from alpha_env.grammar.ast import Call
    from alpha_env.grammar.corpus import random_expression

    v1, v2 = Codebook.default(), Codebook.versioned(2)
    assert Codebook.versioned(1) is v1 and v2.texts[:len(v1)] == v1.texts  # every v1 id keeps its meaning
    new = {t.name for t in v2.tokens[len(v1):] if isinstance(t, OpToken)}
    assert new == {"ts_quantile", "ts_mad", "ts_slope", "ts_rsquare", "ts_resi", "ts_count_nans",
                   "ts_backfill", "ts_ema", "trade_when", "bucket", "rank01", "group_rank01"}
    assert all(v2.agent_vocabulary[v2.id(OpToken(name))] for name in new)

    def ops(e):
        if isinstance(e, Call):
            yield e.op
            for a in e.args:
                yield from ops(a)

    rng, seen = np.random.default_rng(0), set()
    for _ in range(1500):
        expr = random_expression(v2, 12, rng)
        assert v2.decode(v2.encode(expr)) == expr
        seen.update(ops(expr))
    assert new <= seen
    with pytest.raises(ExpressionError, match="no packaged vocabulary version 9"):
        Codebook.versioned(9)


def test_an_agent_writes_a_dialect_operator_in_the_env_with_vocabulary_v2():
    from alpha_env.env.alpha_stack_env import AlphaStackEnv
    from alpha_env.grammar import Codebook

    book = Codebook.versioned(2)
    env = AlphaStackEnv(synthetic_market(seed=0, n_stocks=20, n_days=120), codebook=book)
    env.reset(seed=0)
    for text in ["close", "open", "gt", "close", "rank01", "-1", "trade_when", "<end>"]:
        assert env.action_masks()[book.id(text)], text
        *_, info = env.step(book.id(text))
    assert info["expression"] == "trade_when(close > open, rank01(close), -1)"
    assert np.isfinite(info["metrics"]["sharpe"])
