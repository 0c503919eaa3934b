"""The manual is right: each convention the operator table states is what the kernel does.

The conventions are structured fields of :data:`alpha_env.grammar.OPERATORS` (``ddof``, ``origin``,
``lookback`` for the window span and NaN rule) and :attr:`OperatorSpec.description` writes the sentence
from them, so checking the fields against the kernels checks the text of ``docs/grammar.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alpha_env.grammar import OPERATORS, Kind
from alpha_env.ops import KERNELS

T, N, D = 40, 6, 5
GROUPS = np.array([0, 0, 0, 1, 1, 1], dtype=np.int64)
RTOL = 1e-9


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N)), rng.standard_normal((T, N))


def _windows(x: np.ndarray, d: int) -> list[tuple[int, np.ndarray]]:
    """``(t, x[t-d+1 .. t])`` for every day with a full window."""
    return [(t, x[t - d + 1:t + 1]) for t in range(d - 1, x.shape[0])]


def _rolling(x: np.ndarray, d: int, stat: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t, w in _windows(x, d):
        out[t] = stat(w)
    return out


# reference of each operator that states a ddof, as a function of that ddof
def _ref_stddev(x, y, ddof):
    return _rolling(x, D, lambda w: np.std(w, axis=0, ddof=ddof))


def _ref_ts_zscore(x, y, ddof):
    return _rolling(x, D, lambda w: (w[-1] - w.mean(axis=0)) / np.std(w, axis=0, ddof=ddof))


def _ref_covariance(x, y, ddof):
    out = np.full(x.shape, np.nan)
    for t in range(D - 1, T):
        wx, wy = x[t - D + 1:t + 1], y[t - D + 1:t + 1]
        out[t] = ((wx - wx.mean(axis=0)) * (wy - wy.mean(axis=0))).sum(axis=0) / (D - ddof)
    return out


def _ref_zscore(x, y, ddof):
    return (x - x.mean(axis=1, keepdims=True)) / np.std(x, axis=1, ddof=ddof, keepdims=True)


def _ref_group_zscore(x, y, ddof):
    out = np.empty_like(x)
    for g in np.unique(GROUPS):
        cols = GROUPS == g
        part = x[:, cols]
        out[:, cols] = (part - part.mean(axis=1, keepdims=True)) / np.std(part, axis=1, ddof=ddof,
                                                                         keepdims=True)
    return out


DDOF_REFERENCES = {
    "stddev": _ref_stddev,
    "ts_zscore": _ref_ts_zscore,
    "covariance": _ref_covariance,
    "zscore": _ref_zscore,
    "group_zscore": _ref_group_zscore,
}
ORIGIN_REFERENCES = {"ts_argmax": np.argmax, "ts_argmin": np.argmin}


def _call(name: str, x: np.ndarray, y: np.ndarray, d: int = D) -> np.ndarray:
    spec = OPERATORS[name]
    if spec.category == "group":
        return KERNELS[name](x, GROUPS)
    if spec.category == "cross_section":
        return KERNELS[name](x)
    if spec.arg_kinds[1:] == (Kind.WINDOW, Kind.CONST):  # ts_quantile(x, d, q): the median
        return KERNELS[name](x, d, 0.5)
    if spec.arity == 3:
        return KERNELS[name](x, y, d)
    return KERNELS[name](x, d)


# the window rule; operators that read NaN deliberately or carry a state (window_rule) are checked against
# their own references in tests/test_dialect_ops.py
WINDOWED = [name for name, spec in OPERATORS.items()
            if spec.lookback is not None and spec.window_rule == "strict"]
WITH_DDOF = [name for name, spec in OPERATORS.items() if spec.ddof is not None]
WITH_ORIGIN = [name for name, spec in OPERATORS.items() if spec.origin is not None]


def test_the_conventions_are_fields_not_free_text():
    # a convention written in the free text would escape this file's checks: it must be a field
    for name, spec in OPERATORS.items():
        assert "ddof" not in spec.doc and "= today" not in spec.doc, name
        assert ("ddof" in spec.description) == (spec.ddof is not None), name
        assert ("= today" in spec.description) == (spec.origin is not None), name
        windowed = spec.lookback == -1 and spec.window_rule != "history"
        assert ("window t-d+1..t" in spec.description) == windowed, name
    assert set(WITH_DDOF) == set(DDOF_REFERENCES), "every stated ddof needs a reference here"
    assert set(WITH_ORIGIN) == set(ORIGIN_REFERENCES), "every stated origin needs a reference here"
    assert {"stddev", "covariance", "ts_zscore"} <= set(WITH_DDOF)
    assert OPERATORS["stddev"].ddof == 1 and OPERATORS["covariance"].ddof == 1
    assert OPERATORS["ts_argmax"].origin == 1


@pytest.mark.parametrize("name", WITH_DDOF)
def test_stated_ddof_matches_the_kernel(name):
    x, y = _data()
    ddof = OPERATORS[name].ddof
    got = _call(name, x, y)
    reference = DDOF_REFERENCES[name]
    np.testing.assert_allclose(got, reference(x, y, ddof), rtol=RTOL, atol=1e-12, equal_nan=True)
    other = reference(x, y, 0 if ddof else 1)
    valid = np.isfinite(got)
    assert valid.any() and not np.allclose(got[valid], other[valid], rtol=1e-6), "the check must discriminate"


@pytest.mark.parametrize("name", WITH_ORIGIN)
def test_stated_origin_and_ties_match_the_kernel(name):
    origin = OPERATORS[name].origin
    find = ORIGIN_REFERENCES[name]
    rng = np.random.default_rng(1)
    for x in (rng.standard_normal((T, N)), rng.integers(0, 3, (T, N)).astype(float)):  # the second has ties
        got = _call(name, x, x)
        expected = _rolling(x, D, lambda w: find(w, axis=0) + origin)  # argmax/argmin: first = oldest day
        np.testing.assert_array_equal(got, expected)
    ramp = np.tile(np.arange(T, dtype=float)[:, None], (1, N))  # today is always the maximum
    today = _call(name, ramp if name == "ts_argmax" else -ramp, ramp)
    assert np.all(today[D - 1:] == D - 1 + origin)


@pytest.mark.parametrize("name", WINDOWED)
def test_stated_window_span_and_nan_rule_match_the_kernel(name):
    spec = OPERATORS[name]
    x, y = _data(2)
    x = x + 3.0  # positive, away from 0: every operator of the table is defined on it
    before = spec.lookback_days(D)  # days read before today: d - 1 for a window, d for delay/delta
    base = _call(name, x, y)
    assert np.isnan(base[:before]).all(), "the first rows are NaN"
    assert np.isfinite(base[before:]).all()

    t = 25
    oldest = t - before

    def moved(row: int) -> list[np.ndarray]:
        outs = []
        for value in (100.0, -100.0):
            z = x.copy()
            z[row] = value
            outs.append(_call(name, z, y)[t])
        return outs

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=RTOL, atol=1e-12, equal_nan=True))

    # the oldest day read changes day t; the day before it and tomorrow do not
    assert any(not same(o, base[t]) for o in moved(oldest)), "the window reaches its oldest day"
    assert all(same(o, base[t]) for o in moved(oldest - 1)), "the window reads no older day"
    assert all(same(o, base[t]) for o in moved(t + 1)), "no look-ahead"

    if spec.lookback == -1:  # NaN rule of a window: one NaN in it makes the window NaN
        z = x.copy()
        z[t, 0] = np.nan
        out = _call(name, z, y)[:, 0]
        assert np.isnan(out[t:t + D]).all()
        assert np.isfinite(out[t - 1]) and np.isfinite(out[t + D])
