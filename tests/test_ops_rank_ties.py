"""``rank`` on rows of heavy exact ties (the ranks of ``ts_argmax``, comparisons, ``sign``): the tie groups
skip the rounding of every member but give the average ranks of the definition; days of small integers
are ranked by counting, with the sort path's bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alpha_env.ops.crosssection as C
from alpha_env.ops.crosssection import rank
from alpha_env.ops.threads import read_only


def _reference(x: np.ndarray) -> np.ndarray:
    return pd.DataFrame(x).rank(axis=1, method="average", pct=True).to_numpy()


@pytest.mark.parametrize("case", ["argmax", "binary_nan", "signed_zero", "mixed"])
def test_rank_of_heavy_ties(case):
    rng = np.random.default_rng(3)
    shape = (40, 300)
    if case == "argmax":
        x = rng.integers(1, 6, shape).astype(float)
    elif case == "binary_nan":
        x = np.where(rng.random(shape) < 0.2, np.nan, rng.integers(0, 2, shape).astype(float))
    elif case == "signed_zero":
        x = rng.choice([-0.0, 0.0, 1.0, -1.0, 2.5], shape)
    else:  # ties next to values that tie only once rounded to 10 significant digits
        x = rng.integers(1, 5, shape).astype(float)
        x[:, ::7] = np.nan
    expected = _reference(x)
    if case == "mixed":
        x = x * rng.choice([1.0, 1.0 + 1e-13], shape)
    np.testing.assert_allclose(rank(x), expected, rtol=1e-15, atol=0.0)
    assert np.array_equal(np.isnan(rank(x)), np.isnan(x))


# ---- the counting path: days of small integers are ranked by a histogram, with the sort path's bits


def _sorted_path(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape)
    C._rank_sorted(np.ascontiguousarray(x), out)
    return out


def _counted(x: np.ndarray, parallel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    out = np.full(x.shape, -7.0)
    done = np.zeros(x.shape[0], dtype=bool)
    max_span = C.COUNT_SPAN_PER_STOCK * x.shape[1] + 64
    x = read_only(np.ascontiguousarray(x))  # the kernels' input type (alpha_env.ops.threads)
    if parallel:
        C._count_rank(x, max_span, out, done, min(4, x.shape[0]))
    else:
        C._count_rank_serial(x, max_span, out, done, 1)
    return out, done


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 60), st.sampled_from([0.0, 0.1, 0.6]),
       st.sampled_from(["small", "wide", "huge"]), st.integers(0, 3))
def test_counted_ranks_are_the_sorted_paths_bits(seed, T, N, nan_share, scale, n_odd):
    """Integer days take the histogram; days with another value (a fraction, inf, a value of magnitude
    1e9 or more, a span past the limit) take the sort: every day gets the sort path's bits."""
    rng = np.random.default_rng(seed)
    wide = C.COUNT_SPAN_PER_STOCK * N + 70  # some days past the counting limit
    low, high = {"small": (-3, 4), "wide": (-wide, 70), "huge": (-10**6, 10**6)}[scale]
    x = rng.integers(low, high, (T, N)).astype(float)
    x[rng.random((T, N)) < 0.2] *= -1.0  # -0.0 among the zeros
    x[rng.random((T, N)) < nan_share] = np.nan
    odd = rng.choice(T, min(n_odd, T), replace=False)
    for t, kind in zip(odd, rng.integers(0, 5, odd.size), strict=True):
        j = int(rng.integers(N))
        x[t, j] = [0.5, np.inf, -np.inf, 1e9, 1e300][kind]
    got = C.rank(x)
    assert np.array_equal(got, _sorted_path(x), equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(_sorted_path(x)))
    np.testing.assert_allclose(got, _reference(x), rtol=1e-15, atol=0.0)


def test_which_days_are_counted():
    N = 10
    limit = C.COUNT_SPAN_PER_STOCK * N + 64
    x = np.array([
        [0, 1, 1, 2, 2, 2, np.nan, 5, -3, -0.0],           # small integers: counted
        [np.nan] * N,                                      # no valid value: counted (all NaN)
        [0.5, 1, 1, 2, 2, 2, 3, 5, -3, 0],                 # a fraction: sorted
        [0, limit, 1, 1, 1, 1, 1, 1, 1, 1],                # within the span limit of the first value
        [0, limit + 1, 1, 1, 1, 1, 1, 1, 1, 1],            # past it
        [1e9 - 1, 1e9 - 2, 1e9 - 1, *[np.nan] * 7],        # below 1e9 in magnitude
        [1e9, 1e9, 1e9 - 1, *[np.nan] * 7],                # 1e9 is not counted
        [np.inf, 1, 2, *[np.nan] * 7],                     # inf is not
    ])
    for parallel in (False, True):
        out, done = _counted(x, parallel)
        assert done.tolist() == [True, True, False, True, False, True, False, False]
        ref = _sorted_path(x)
        assert np.array_equal(out[done], ref[done], equal_nan=True)
        assert (out[~done] == -7.0).all()  # a day it gave up on is left to the sort, unwritten
    # 9 values: -3 | -0.0, 0 | 1, 1 | 2, 2, 2 | 5 take the average ranks 1 | 2.5 | 4.5 | 7 | 9, over 9
    np.testing.assert_allclose(C.rank(x[:1])[0], np.array([2.5, 4.5, 4.5, 7, 7, 7, np.nan, 9, 1, 2.5]) / 9,
                               rtol=1e-15)


def test_parallel_counting_equals_one_thread():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, (200, 120)).astype(float)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[17, 3] = 0.25
    a, da = _counted(x, False)
    b, db = _counted(x, True)
    assert np.array_equal(da, db) and np.array_equal(a[da], b[db], equal_nan=True)


# ---- the tie rule across every decade: round_sig's decimal exponent (from the binary one) is exact

_P10 = {k: float(f"1e{k}") for k in range(-300, 301)}  # correctly rounded 10**k, as round_sig's table


def _round10(v: float) -> float:
    """round_sig's definition with the decimal exponent taken exactly (``Decimal.adjusted``): ``rint`` of
    ``|v| * 10**k`` with ``k = 9 - floor(log10 |v|)``, one canonical form at the next power of ten."""
    from decimal import Decimal

    a = abs(v)
    if not (1e-290 <= a <= 1e290):
        return v
    k = 9 - Decimal(a).adjusted()
    r = float(np.rint(a * _P10[k]))
    if r >= 1e10:
        r, k = 1e9, k - 1
    q = r / _P10[k] if k >= 0 else r * _P10[-k]
    return q if v > 0 else -q


def test_rank_ties_at_ten_digits_in_every_decade():
    """Rows whose values tie at 10 significant digits but not at 11, differ in the 10th, or sit an ulp
    either side of a power of ten, in every decade of [1e-289, 1e289], both signs: ``rank``'s ties are
    those of the exact definition (a decimal exponent off by one anywhere would tie or split them)."""
    values = []
    for e in range(-289, 290):
        p = _P10[e]
        base = 1.23456789 * p
        values += [base, base * (1.0 + 1e-11), base * (1.0 + 1e-9), p, np.nextafter(p, 0.0),
                   np.nextafter(p, np.inf), 9.9999999996 * p, 9.99999999949 * p]
    values = np.array(values)
    values[1::3] *= -1.0
    row_len = 464  # 58 decades a row
    x = np.resize(values, (values.size + row_len - 1) // row_len * row_len).reshape(-1, row_len)
    expected = _reference(np.vectorize(_round10)(x))
    assert (pd.DataFrame(x).rank(axis=1).to_numpy() != pd.DataFrame(np.vectorize(_round10)(x)).rank(
        axis=1).to_numpy()).any()  # the rounding decides ties here
    assert rank(x).tobytes() == expected.tobytes()


@pytest.mark.parametrize("d", [5, 30])
def test_ts_rank_compares_near_values_rounded(d):
    """``ts_rank`` on windows mixing exact ties, values a few ulps apart (tie once rounded), values 2e-10
    apart (near, but do not tie), ``-0.0`` beside ``0.0``, far values and NaN: every cell is the definition's
    bits, ``(1/2 + sum of 1, 1/2, 0 over the window's rounded values) * (1 / d)``."""
    from alpha_env.ops.timeseries import ts_rank

    rng = np.random.default_rng(d)
    T, N = 90, 12
    base = np.round(rng.standard_normal((T, N)), 1) * 10.0 ** rng.integers(-3, 4, (1, N))
    x = base * rng.choice([1.0, 1.0 + 2.0**-50, 1.0 - 2.0**-49, 1.0 + 2e-10, 1.0 - 3e-10], (T, N))
    x[rng.random((T, N)) < 0.01] = np.nan
    x[::7, 0] = -0.0
    x[3::7, 0] = 0.0
    got = ts_rank(x, d)
    r = np.vectorize(_round10)(x)
    for t in range(T):
        for j in range(N):
            w = r[max(0, t - d + 1): t + 1, j]
            if t < d - 1 or np.isnan(x[max(0, t - d + 1): t + 1, j]).any():
                assert np.isnan(got[t, j])
                continue
            v = w[-1]
            sc = 0.5 + sum(1.0 if u < v else (0.5 if u == v else 0.0) for u in w)
            assert got[t, j].tobytes() == np.float64(sc * (1.0 / d)).tobytes(), (t, j)
    assert (np.vectorize(_round10)(x) != x).any()  # rounding decides some cells
