"""Equivalence keys: exact algebraic simplification and signal fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.data import synthetic_market
from alpha_env.evaluate import evaluate
from alpha_env.grammar import parse
from alpha_env.pool import expression_key, signal_fingerprint, simplify


@pytest.mark.parametrize(("text", "key"), [
    ("-1 * (-1 * close)", "close"),
    ("-(-close)", "close"),
    ("close * 1", "close"),
    ("1 * rank(close)", "rank(close)"),
    ("close / 1", "close"),
    ("close / -1", "-close"),
    ("rank(-1 * ts_rank(high, 10))", "rank(-ts_rank(high, 10))"),
    ("-1 * (-1 * (-1 * delta(close, 5)))", "-delta(close, 5)"),
    ("(close + 0) - 0", "close"),
    ("0 - close", "-close"),
])
def test_exact_rewrites(text, key):
    assert expression_key(text) == key
    assert expression_key(parse(text)) == key


def test_inexact_or_ill_typed_rewrites_are_not_applied():
    assert expression_key("rank(-close)") != expression_key("-rank(close)")
    assert expression_key("1 * (close > open)") == "1 * (close > open)"
    assert expression_key("close * 2") == "close * 2"
    assert simplify(parse("close")) == parse("close")


def test_simplified_expressions_give_the_same_signal():
    panel = synthetic_market(seed=0, n_stocks=20, n_days=60, news=False)
    for text in ("-1 * (-1 * ts_rank(high, 10))", "rank(-1 * delta(close, 3)) / 1", "0 - (volume + 0)"):
        a = evaluate(text, panel)
        b = evaluate(expression_key(text), panel)
        np.testing.assert_array_equal(a, b)


def test_signal_fingerprint_is_rank_based_and_nan_aware():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 12))
    x[rng.random(x.shape) < 0.1] = np.nan
    fp = signal_fingerprint(x)
    assert fp == signal_fingerprint(3 * x + 1)  # same ordering each day
    assert fp == signal_fingerprint(x * (1 + 1e-15))
    assert fp != signal_fingerprint(-x)
    y = x.copy()
    y[0, np.flatnonzero(np.isfinite(y[0]))[0]] = np.nan
    assert fp != signal_fingerprint(y)
    z = x.copy()
    z[20:] = 0.0  # rows outside the fingerprinted rows do not matter
    assert signal_fingerprint(x, slice(0, 20)) == signal_fingerprint(z, slice(0, 20))
    w = x.copy()
    w[1, 1] = np.inf
    v = x.copy()
    v[1, 1] = np.nan
    assert signal_fingerprint(w) == signal_fingerprint(v)
