"""One comparison table: every operator of ``alpha_env.ops.KERNELS`` against a plain pandas/numpy
reference, on random data with NaN holes, ties, constant runs and a large level offset.

``REFERENCE`` is also the operator table of the pandas mini-evaluator in ``test_evaluate_reference.py``
and of ``benchmarks/bench_ops.py``; it is written from the documented semantics (``docs/ops.md``), not
from the kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from alpha_env.ops import KERNELS

# ----------------------------------------------------------------------------------------------
# pandas / numpy references
# ----------------------------------------------------------------------------------------------


def _df(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x)


def _nan_inf(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).copy()
    a[~np.isfinite(a)] = np.nan
    return a


def _roll(x: np.ndarray, d: int, name: str) -> np.ndarray:
    return getattr(_df(x).rolling(d), name)().to_numpy().copy()


def _apply(x: np.ndarray, d: int, fn: Callable[[np.ndarray], float]) -> np.ndarray:
    return _df(x).rolling(d).apply(fn, raw=True).to_numpy().copy()


def _pairs(x: np.ndarray, y: np.ndarray, d: int, fn: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for j in range(N):
        for t in range(d - 1, T):
            a = x[t - d + 1 : t + 1, j]
            b = y[t - d + 1 : t + 1, j]
            if np.isnan(a).any() or np.isnan(b).any():
                continue
            out[t, j] = fn(a, b)
    return out


def _cov(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2:
        return np.nan
    if np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0  # issue 19: a constant window covaries with nothing (the paper, mathematics)
    return float(np.cov(a, b, ddof=1)[0, 1])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


def _skew(w: np.ndarray) -> float:
    n = len(w)
    if n < 3 or np.all(w == w[0]):
        return np.nan
    c = w - w.mean()
    m2, m3 = np.mean(c**2), np.mean(c**3)
    return float(np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5)


def _kurt(w: np.ndarray) -> float:
    n = len(w)
    if n < 4 or np.all(w == w[0]):
        return np.nan
    c = w - w.mean()
    m2, m4 = np.mean(c**2), np.mean(c**4)
    return float(((n * n - 1) * m4 / m2**2 - 3 * (n - 1) ** 2) / ((n - 2) * (n - 3)))


def _decay(w: np.ndarray) -> float:
    weights = np.arange(1, len(w) + 1, dtype=np.float64)  # oldest 1 .. today d
    return float(w @ weights / weights.sum())


def _std(w: np.ndarray) -> float:
    if len(w) < 2:
        return np.nan
    return 0.0 if np.all(w == w[0]) else float(np.std(w, ddof=1))


def _zscore(w: np.ndarray) -> float:
    sd = _std(w)
    return float((w[-1] - w.mean()) / sd) if sd > 0 else np.nan


def ref_stddev(x: np.ndarray, d: int) -> np.ndarray:
    return _apply(x, d, _std)


def ref_ts_zscore(x: np.ndarray, d: int) -> np.ndarray:
    return _apply(x, d, _zscore)


def ref_delay(x: np.ndarray, d: int) -> np.ndarray:
    return _df(x).shift(d).to_numpy()


def ref_delta(x: np.ndarray, d: int) -> np.ndarray:
    return (_df(x) - _df(x).shift(d)).to_numpy()


def _line(w: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line of ``w`` against the day numbers 1..d (polyfit): slope, R², today's residual."""
    if len(w) < 2:
        return np.nan, np.nan, np.nan
    days = np.arange(1, len(w) + 1, dtype=np.float64)
    slope, intercept = np.polyfit(days, w, 1)
    fitted = intercept + slope * days
    total = float(((w - w.mean()) ** 2).sum())
    r2 = 1.0 - float(((w - fitted) ** 2).sum()) / total if total > 0 else np.nan
    return float(slope), r2, float(w[-1] - fitted[-1])


def round10(x: np.ndarray) -> np.ndarray:
    """Values rounded to 10 significant digits through their decimal text (the ranking convention)."""
    flat = [v if not np.isfinite(v) or v == 0 or not 1e-290 <= abs(v) <= 1e290 else float(f"{v:.9e}")
            for v in np.asarray(x, dtype=np.float64).ravel()]
    return np.array(flat).reshape(np.shape(x))


def ref_rank(x: np.ndarray) -> np.ndarray:
    return _df(round10(x)).rank(axis=1, pct=True).to_numpy()


def ref_zscore(x: np.ndarray) -> np.ndarray:
    df = _df(x)
    sd = df.std(axis=1)
    z = df.sub(df.mean(axis=1), axis=0).div(sd.where(sd > 0), axis=0)
    return z.to_numpy()


def ref_scale(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    df = _df(x)
    s = df.abs().sum(axis=1)
    return df.mul(a).div(s.where(s > 0), axis=0).to_numpy()


def _by_group(x: np.ndarray, g: np.ndarray, how: str) -> np.ndarray:
    df = _df(x).T
    gb = df.groupby(g)
    if how == "rank":
        res = gb.rank(pct=True)
    else:
        mean = gb.transform("mean")
        if how == "demean":
            res = df - mean
        elif how == "mean":
            res = mean.where(df.notna())
        else:
            sd = gb.transform("std")
            res = (df - mean) / sd.where(sd > 0)
    out = res.T.to_numpy().copy()
    out[:, g < 0] = np.nan
    return out


def _ew(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def run(*args: np.ndarray | float) -> np.ndarray:
        with np.errstate(all="ignore"):
            return _nan_inf(fn(*args))

    return run


def _cmp(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    """A comparison of the operands rounded to 10 significant digits (``rank``'s tie rule: values equal
    at 10 digits compare equal)."""
    def run(a, b):
        r = fn(round10(a), round10(b)).astype(np.float64)
        r[np.isnan(a + b * 0) | np.isnan(b + a * 0)] = np.nan
        return r

    return run


def _truth(a):
    return np.asarray(a) != 0


def _logic(fn):
    def run(a, b):
        r = fn(_truth(a), _truth(b)).astype(np.float64)
        r[np.isnan(a + b * 0) | np.isnan(b + a * 0)] = np.nan
        return r

    return run


def _pow(a, b):
    r = np.power(a, b)
    bad = ((np.asarray(a) < 0) & (np.floor(b) != b)) | ((np.asarray(a) == 0) & (np.asarray(b) < 0))
    undefined = np.isnan(a + b) & (np.asarray(a) != 1.0)  # NaN ** 0 is NaN here, not 1; 1 ** NaN is 1 (IEEE)
    return np.where(bad | undefined, np.nan, r)


def _signedpower(a, b):
    m = np.abs(a)
    r = np.sign(a) * np.power(m, b)
    undefined = np.isnan(a + b) & (m != 1.0)  # sign(a) * 1 ** NaN = sign(a) (IEEE)
    return np.where(((m == 0) & (np.asarray(b) <= 0)) | undefined, np.nan, r)


def _not(a):
    r = (np.asarray(a) == 0).astype(np.float64)
    r[np.isnan(a)] = np.nan
    return r


def _if_else(c, a, b):
    r = np.where(np.asarray(c) != 0, a, b).astype(np.float64)
    r[np.isnan(c)] = np.nan
    return r


REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "delay": ref_delay,
    "delta": ref_delta,
    "sum": lambda x, d: _roll(x, d, "sum"),
    "ts_mean": lambda x, d: _roll(x, d, "mean"),
    "stddev": ref_stddev,
    "ts_zscore": ref_ts_zscore,
    "ts_skewness": lambda x, d: _apply(x, d, _skew),
    "ts_kurtosis": lambda x, d: _apply(x, d, _kurt),
    "ts_min": lambda x, d: _roll(x, d, "min"),
    "ts_max": lambda x, d: _roll(x, d, "max"),
    # positions of the extreme, values equal at 10 significant digits tying (to the oldest day)
    "ts_argmax": lambda x, d: _apply(round10(x), d, lambda w: float(np.argmax(w) + 1)),
    "ts_argmin": lambda x, d: _apply(round10(x), d, lambda w: float(np.argmin(w) + 1)),
    "product": lambda x, d: _nan_inf(_apply(x, d, np.prod)),
    "decay_linear": lambda x, d: _apply(x, d, _decay),
    "ts_rank": lambda x, d: _df(round10(x)).rolling(d).rank(pct=True).to_numpy(),
    "ts_quantile": lambda x, d, q: _df(x).rolling(d).quantile(q).to_numpy().copy(),
    "ts_mad": lambda x, d: _apply(x, d, lambda w: float(np.mean(np.abs(w - w.mean())))),
    "ts_slope": lambda x, d: _apply(x, d, lambda w: _line(w)[0]),
    "ts_rsquare": lambda x, d: _apply(x, d, lambda w: _line(w)[1]),
    "ts_resi": lambda x, d: _apply(x, d, lambda w: _line(w)[2]),
    "covariance": lambda x, y, d: _pairs(x, y, d, _cov),
    "correlation": lambda x, y, d: _pairs(x, y, d, _corr),
    "rank": ref_rank,
    "zscore": ref_zscore,
    "scale": ref_scale,
    "indneutralize": lambda x, g: _by_group(x, g, "demean"),
    "group_mean": lambda x, g: _by_group(x, g, "mean"),
    "group_zscore": lambda x, g: _by_group(x, g, "zscore"),
    "group_rank": lambda x, g: _by_group(x, g, "rank"),
    "add": _ew(np.add),
    "sub": _ew(np.subtract),
    "mul": _ew(np.multiply),
    "div": _ew(lambda a, b: np.where(np.asarray(b) == 0, np.nan, np.divide(a, b))),
    "pow": _ew(_pow),
    "neg": _ew(np.negative),
    "lt": _cmp(np.less),
    "le": _cmp(np.less_equal),
    "gt": _cmp(np.greater),
    "ge": _cmp(np.greater_equal),
    "eq": _cmp(np.equal),
    "ne": _cmp(np.not_equal),
    "or": _logic(np.logical_or),
    "and": _logic(np.logical_and),
    "not": _not,
    "if_else": _if_else,
    "abs": _ew(np.abs),
    "log": _ew(lambda a: np.where(np.asarray(a) > 0, np.log(a), np.nan)),
    "sign": _ew(np.sign),
    "sqrt": _ew(lambda a: np.where(np.asarray(a) >= 0, np.sqrt(a), np.nan)),
    "signedpower": _ew(_signedpower),
    "max": _ew(lambda a, b: np.maximum(a, b)),
    "min": _ew(lambda a, b: np.minimum(a, b)),
    "vec_avg": lambda a: np.array(a, dtype=np.float64),
}
"""Canonical operator name -> straightforward pandas/numpy reference with the same signature."""

from test_dialect_ops import DIALECT_REFERENCE  # noqa: E402  (the dialects' NaN-reading/stateful operators)

REFERENCE.update(DIALECT_REFERENCE)

TS_OPS = ["delay", "delta", "sum", "ts_mean", "stddev", "ts_zscore", "ts_skewness", "ts_kurtosis", "ts_min",
          "ts_max", "ts_argmax", "ts_argmin", "product", "decay_linear", "ts_rank", "ts_mad", "ts_slope",
          "ts_rsquare", "ts_resi"]
PAIR_OPS = ["covariance", "correlation"]
CS_OPS = ["rank", "zscore"]
GROUP_OPS = ["indneutralize", "group_mean", "group_zscore", "group_rank"]
EW2 = ["add", "sub", "mul", "div", "pow", "lt", "le", "gt", "ge", "eq", "ne", "or", "and", "signedpower",
       "max", "min"]
EW1 = ["neg", "not", "abs", "log", "sign", "sqrt", "vec_avg"]
WINDOWS = [1, 2, 3, 5, 10]
NAN_DENSITY = [0.0, 0.05, 0.2]


def make_panel(seed: int, nan_density: float, shape: tuple[int, int] = (60, 7)) -> np.ndarray:
    """Random ``(T, N)`` panel with ties (rounded values), a constant run, a level offset and NaN holes."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    ties = rng.random(shape) < 0.4
    x[ties] = np.round(x[ties] * 2) / 2  # many exactly equal values
    x[10:30, 0] = 1.5  # a constant run: constant windows
    x[:, 1] = 1000.0 + rng.standard_normal(shape[0]) * 0.01  # large level, small variance
    x[rng.random(shape) < nan_density] = np.nan
    return x


def assert_same(ours: np.ndarray, ref: np.ndarray, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    assert ours.shape == ref.shape and ours.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol)


def test_table_covers_every_kernel():
    assert set(REFERENCE) == set(KERNELS)
    assert set(TS_OPS + PAIR_OPS + CS_OPS + GROUP_OPS + EW2 + EW1 + ["scale", "if_else", "ts_quantile"]
               + list(DIALECT_REFERENCE)) == set(KERNELS)


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("d", WINDOWS)
@pytest.mark.parametrize("op", TS_OPS)
def test_time_series(op, d, density):
    x = make_panel(d * 10 + int(density * 100), density)
    ours = KERNELS[op](x, d)
    ref = REFERENCE[op](x, d)
    tol = 1e-9
    assert_same(ours, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("q", [0.0, 0.2, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("d", WINDOWS)
def test_ts_quantile(q, d, density):
    x = make_panel(d * 10 + int(density * 100) + 7, density)
    assert_same(KERNELS["ts_quantile"](x, d, q), REFERENCE["ts_quantile"](x, d, q))


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_ts_quantile_refuses_q_outside_0_1(q):
    from alpha_env.errors import ExpressionError

    with pytest.raises(ExpressionError, match="q must be a number in"):
        KERNELS["ts_quantile"](make_panel(0, 0.0), 5, q)


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("d", WINDOWS)
@pytest.mark.parametrize("op", PAIR_OPS)
def test_pairwise(op, d, density):
    x = make_panel(d, density)
    y = make_panel(d + 100, density)
    y[:, 2] = x[:, 2] * 3.0 - 1.0  # perfectly correlated column
    assert_same(KERNELS[op](x, y, d), REFERENCE[op](x, y, d), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("op", CS_OPS)
def test_cross_section(op, density):
    x = make_panel(3, density, (40, 23))
    x[5] = np.nan  # an all-NaN day
    x[6, 1:] = np.nan  # a day with one valid stock
    assert_same(KERNELS[op](x), REFERENCE[op](x))


@pytest.mark.parametrize("a", [1.0, 2.5])
@pytest.mark.parametrize("density", NAN_DENSITY)
def test_scale(a, density):
    x = make_panel(4, density, (40, 23))
    x[5] = np.nan
    x[7] = 0.0
    assert_same(KERNELS["scale"](x, a), REFERENCE["scale"](x, a))


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("op", GROUP_OPS)
def test_group(op, density):
    x = make_panel(5, density, (40, 23))
    g = np.random.default_rng(1).integers(-1, 5, 23).astype(np.int64)
    g[0] = 7  # a group of one stock (codes need not be dense)
    assert_same(KERNELS[op](x, g), REFERENCE[op](x, g))


def _operands(density: float) -> tuple[np.ndarray, np.ndarray]:
    a = make_panel(6, density)
    b = make_panel(7, density)
    b[::5] = 0.0
    b[1::5] = a[1::5]  # equal values
    a[2::9] = -0.0
    return a, b


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("op", EW2)
def test_elementwise_binary(op, density):
    a, b = _operands(density)
    if op == "pow":
        a = np.where(np.arange(a.shape[1]) % 2 == 0, a, np.abs(a) * 300.0)  # overflows to inf
    assert_same(KERNELS[op](a, b), REFERENCE[op](a, b))
    assert_same(KERNELS[op](a, 0.5), REFERENCE[op](a, 0.5))
    assert_same(KERNELS[op](2.0, b), REFERENCE[op](2.0, b))


@pytest.mark.parametrize("density", NAN_DENSITY)
@pytest.mark.parametrize("op", EW1)
def test_elementwise_unary(op, density):
    a, b = _operands(density)
    assert_same(KERNELS[op](a), REFERENCE[op](a))
    assert_same(KERNELS[op](b), REFERENCE[op](b))


@pytest.mark.parametrize("density", NAN_DENSITY)
def test_if_else(density):
    a, b = _operands(density)
    c = KERNELS["gt"](a, b)
    assert_same(KERNELS["if_else"](c, a, b), REFERENCE["if_else"](c, a, b))
    assert_same(KERNELS["if_else"](c, a, -1.0), REFERENCE["if_else"](c, a, -1.0))
