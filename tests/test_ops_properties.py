"""Invariants of the operator library (rank in (0, 1], scale sums, group means 0, no look-ahead) and
its argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alpha_env.errors import ExpressionError
from alpha_env.ops import KERNELS, OPERATOR_CLASS

WINDOWED = [op for op, fam in OPERATOR_CLASS.items() if fam == "timeseries"]

panels = arrays(
    np.float64,
    st.tuples(st.integers(1, 25), st.integers(1, 9)),
    elements=st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan),
                       st.sampled_from([0.0, 1.0, -2.5])),
)


@settings(max_examples=60, deadline=None)
@given(panels)
def test_rank_is_in_unit_interval_and_keeps_nan(x):
    r = KERNELS["rank"](x)
    assert np.array_equal(np.isnan(r), np.isnan(x))
    valid = r[~np.isnan(r)]
    assert np.all((valid > 0) & (valid <= 1))
    for t in range(x.shape[0]):  # a unique largest value of the day gets exactly 1
        row = x[t]
        if np.isfinite(row).any():
            top = row == np.nanmax(row)
            if top.sum() == 1:
                assert r[t][top][0] == 1.0
            # ranks of a day sum to (n + 1) / 2 whatever the ties
            n = np.isfinite(row).sum()
            assert np.isclose(np.nansum(r[t]), (n + 1) / 2)


@settings(max_examples=60, deadline=None)
@given(panels, st.floats(0.1, 10.0))
def test_scale_sums_to_a(x, a):
    s = KERNELS["scale"](x, a)
    for t in range(x.shape[0]):
        total = np.nansum(np.abs(x[t]))
        if total > 0:
            assert np.isclose(np.nansum(np.abs(s[t])), a, rtol=1e-12)
        else:
            assert np.isnan(s[t]).all()


@settings(max_examples=60, deadline=None)
@given(panels, st.integers(0, 2**32 - 1))
def test_indneutralize_group_means_are_zero(x, seed):
    g = np.random.default_rng(seed).integers(-1, 3, x.shape[1]).astype(np.int64)
    out = KERNELS["indneutralize"](x, g)
    assert np.isnan(out[:, g == -1]).all()
    for code in range(3):
        cols = out[:, g == code]
        for t in range(x.shape[0]):
            vals = cols[t][~np.isnan(cols[t])]
            if vals.size:
                scale = max(1.0, np.abs(x[t][g == code][~np.isnan(x[t][g == code])]).max())
                assert abs(vals.mean()) <= 1e-9 * scale


@settings(max_examples=40, deadline=None)
@given(panels, st.integers(0, 2**32 - 1))
def test_group_rank_in_unit_interval(x, seed):
    g = np.random.default_rng(seed).integers(-1, 3, x.shape[1]).astype(np.int64)
    r = KERNELS["group_rank"](x, g)
    valid = r[~np.isnan(r)]
    assert np.all((valid > 0) & (valid <= 1))
    assert np.array_equal(np.isnan(r), np.isnan(x) | (g == -1)[None, :])


def test_rank_ties_values_equal_to_10_digits_and_orders_the_10th():
    """Issue 19: values that differ only in their last bits tie (they were ordered bit by bit before);
    values one unit of the 10th significant digit apart, keys 4.5 million ulps apart, are still ordered."""
    rng = np.random.default_rng(0)
    n = 300
    x = (1.0 + np.arange(n) * np.finfo(float).eps)[rng.permutation(n)][None, :].copy()
    np.testing.assert_array_equal(KERNELS["rank"](x)[0], (n + 1) / 2 / n)
    x = (1.0 + np.arange(n) * 1e-9)[rng.permutation(n)][None, :].copy()
    r = KERNELS["rank"](x)
    np.testing.assert_allclose(r[0], (np.argsort(np.argsort(x[0])) + 1) / n)
    y = np.array([[-0.0, 0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]])
    np.testing.assert_allclose(KERNELS["rank"](y), [[3.5 / 6, 3.5 / 6, 5 / 6, 2 / 6, 1.0, 1 / 6, np.nan]])


@pytest.mark.parametrize("op", WINDOWED)
def test_no_look_ahead_and_warm_up(op):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 5))
    y = rng.standard_normal((40, 5))
    d = 6
    args = (x, y, d) if op in ("correlation", "covariance") else (x, d, 0.3) if op == "ts_quantile" \
        else (x, d)
    base = KERNELS[op](*args)
    warm = d if op in ("delay", "delta") else d - 1
    assert np.isnan(base[:warm]).all()
    assert not np.isnan(base[warm:]).any()
    x2 = x.copy()
    x2[25:] = rng.standard_normal((15, 5)) * 100  # change the future only
    args2 = (x2, y, d) if op in ("correlation", "covariance") else (x2, d, 0.3) if op == "ts_quantile" \
        else (x2, d)
    np.testing.assert_array_equal(KERNELS[op](*args2)[:25], base[:25])


def test_constant_window_correlation_is_nan_and_covariance_is_zero():
    x = np.ones((10, 2))
    x[:, 1] = np.arange(10.0)
    y = np.arange(20.0).reshape(10, 2)
    assert np.isnan(KERNELS["correlation"](x, y, 3)[2:, 0]).all()
    np.testing.assert_allclose(KERNELS["correlation"](x, y, 3)[2:, 1], 1.0)
    np.testing.assert_array_equal(KERNELS["covariance"](x, y, 3)[2:, 0], 0.0)  # issue 19: 0, as the paper
    np.testing.assert_array_equal(KERNELS["covariance"](y, x, 3)[2:, 0], 0.0)
    assert np.isnan(KERNELS["covariance"](x, y, 1)).all()
    np.testing.assert_array_equal(KERNELS["stddev"](x, 3)[2:, 0], 0.0)
    assert np.isnan(KERNELS["ts_zscore"](x, 3)[2:, 0]).all()

@pytest.mark.parametrize("op", ["correlation", "covariance"])
def test_pair_constant_window_boundaries(op):
    """A change on the window's first day does not make it non-constant; NaN pairs outside it do not count."""
    nan = np.nan
    x = np.array([1.0, 5.0, 5.0, 5.0, 6.0, nan, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    y = np.array([3.0, 1.0, 2.0, 4.0, 3.0, 7.0, 8.0, 1.0, 2.0, 9.0, 5.0, 6.0])
    out = KERNELS[op](np.stack([x, y], 1), np.stack([y, x], 1), 3)
    # windows of 3 ending at rows 2..11; x: [1,5,5] [5,5,5] [5,5,6] .. [4,4,4] [4,4,4]
    constant = [False, True, False, False, False, False, False, False, True, True]
    holds_nan = [False, False, False, True, True, True, False, False, False, False]
    for col in (0, 1):  # x as the first argument, then as the second
        if op == "correlation":  # a constant window is NaN (0/0)
            np.testing.assert_array_equal(np.isnan(out[2:, col]), np.logical_or(constant, holds_nan))
        else:  # a constant window covaries with nothing: 0
            np.testing.assert_array_equal(np.isnan(out[2:, col]), holds_nan)
            np.testing.assert_array_equal(out[2:, col][np.array(constant)], 0.0)


def test_ts_argmax_convention_and_ties():
    x = np.array([[1.0], [3.0], [2.0], [3.0], [0.0]])
    # windows of 3 ending at rows 2, 3, 4: [1,3,2] max at position 2; [3,2,3] tie -> oldest (1); [2,3,0] -> 2
    np.testing.assert_array_equal(KERNELS["ts_argmax"](x, 3)[2:, 0], [2.0, 1.0, 2.0])
    np.testing.assert_array_equal(KERNELS["ts_argmin"](x, 3)[2:, 0], [1.0, 2.0, 3.0])


def test_ts_rank_scale_and_decay_weights():
    x = np.array([[1.0], [2.0], [3.0], [3.0]])
    np.testing.assert_allclose(KERNELS["ts_rank"](x, 3)[2:, 0], [1.0, 2.5 / 3])
    np.testing.assert_allclose(KERNELS["decay_linear"](x, 2)[1:, 0], [(2 * 2 + 1) / 3, (3 * 2 + 2) / 3, 3.0])


def test_elementwise_nan_rules():
    a = np.array([[1.0, 0.0, -1.0, np.nan]])
    assert np.isnan(KERNELS["div"](a, 0.0)).all()
    np.testing.assert_array_equal(np.isnan(KERNELS["log"](a)), [[False, True, True, True]])
    np.testing.assert_array_equal(KERNELS["signedpower"](a, 2.0)[0, :3], [1.0, 0.0, -1.0])
    assert np.isnan(KERNELS["pow"](np.array([[1e300]]), 3.0)).all()
    assert np.isnan(KERNELS["lt"](a, 0.5)[0, 3])
    np.testing.assert_array_equal(KERNELS["if_else"](KERNELS["gt"](a, 0.0), 7.0, a)[0, :3], [7.0, 0.0, -1.0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: KERNELS["ts_mean"](x, 0), "window must be >= 1"),
        (lambda x: KERNELS["ts_mean"](x, 2.5), "integer number of days"),
        (lambda x: KERNELS["ts_mean"](x.astype(np.float32), 3), "float64"),
        (lambda x: KERNELS["rank"](x[0]), "2-D"),
        (lambda x: KERNELS["correlation"](x, x[:, :2], 3), "shapes"),
        (lambda x: KERNELS["add"](1.0, 2.0), "not all constants"),
        (lambda x: KERNELS["add"](x, x[:3]), "shape"),
        (lambda x: KERNELS["indneutralize"](x, np.zeros(2, np.int64)), "codes but the series has"),
        (lambda x: KERNELS["indneutralize"](x, np.full(4, -3)), ">= -1"),
        (lambda x: KERNELS["scale"](x, np.inf), "finite"),
        (lambda x: KERNELS["delay"]("close", 3), "array"),
    ],
)
def test_bad_arguments_raise_expression_error(call, message):
    x = np.ones((8, 4))
    with pytest.raises(ExpressionError, match=message):
        call(x)


def test_non_contiguous_input_is_accepted():
    x = np.random.default_rng(2).standard_normal((30, 8))
    np.testing.assert_array_equal(KERNELS["ts_mean"](np.asfortranarray(x), 4), KERNELS["ts_mean"](x, 4))


@pytest.mark.parametrize("scale", [1e-140, 1e-100, 1e100, 1e140])
def test_correlation_is_scale_free_where_var_x_times_var_y_under_or_overflows(scale):
    """var_x * var_y leaves the float range at these scales; the kernel redoes those pairs dividing by
    each square root, so the correlation is the unscaled one (not NaN, not 0)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 20))
    y = 0.5 * x + rng.standard_normal((40, 20))
    base = KERNELS["correlation"](x, y, 10)
    got = KERNELS["correlation"](x * scale, y * scale, 10)
    assert np.array_equal(np.isnan(got), np.isnan(base))
    np.testing.assert_allclose(got, base, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("op", ["delta", "sum", "ts_mean", "indneutralize", "group_mean"])
def test_overflow_gives_nan_never_inf(op):
    x = np.full((12, 4), 1.5e308)
    x[::2] *= -1
    g = np.zeros(4, dtype=np.int64)
    fn = KERNELS[op]
    out = fn(x, g) if op in ("indneutralize", "group_mean") else fn(x if op == "delta" else np.abs(x), 3)
    assert not np.isinf(out).any()
