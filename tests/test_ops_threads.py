"""The parallel and one-thread versions of every kernel give bit-identical results, and the thread
policy picks the one-thread version for small panels."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.ops import KERNELS, OPERATOR_CLASS, crosssection, group, sortkeys, timeseries, windowstats
from alpha_env.ops.threads import PARALLEL_MIN_CELLS, block_width, twin, use_parallel

MODULES = (timeseries, crosssection, group, sortkeys, windowstats)


def _panel(rng: np.random.Generator, T: int = 60, N: int = 300) -> np.ndarray:
    x = rng.standard_normal((T, N)).cumsum(axis=0) + 50.0
    x[rng.random((T, N)) < 0.03] = np.nan
    x[:, 7] = 3.0  # a constant column
    x[10:30, 11] = np.round(x[10:30, 11])  # ties
    return x


def _call(op: str, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    fam = OPERATOR_CLASS[op]
    fn = KERNELS[op]
    if op in ("correlation", "covariance"):
        return fn(x, y, 6)
    if op == "ts_quantile":
        return fn(x, 6, 0.3)
    if fam == "timeseries":
        return fn(x, 6)
    if fam == "group":
        return fn(x, g)
    if op == "scale":
        return fn(x, 1.0)
    return fn(x)


THREADED = [op for op, fam in OPERATOR_CLASS.items()
            if fam in ("timeseries", "crosssection", "group") and op not in ("delay", "delta")]


@pytest.mark.parametrize("op", THREADED)
def test_parallel_and_one_thread_kernels_agree_bit_for_bit(op, monkeypatch):
    rng = np.random.default_rng(7)
    x, y = _panel(rng), _panel(rng)
    g = rng.integers(-1, 6, x.shape[1])
    results = []
    for forced in (True, False):
        for module in MODULES:
            if hasattr(module, "use_parallel"):
                monkeypatch.setattr(module, "use_parallel", lambda cells, f=forced: f)
        results.append(_call(op, x, y, g))
    par, one = results
    assert np.array_equal(par, one, equal_nan=True), op


def test_small_panels_run_on_one_thread():
    assert not use_parallel(PARALLEL_MIN_CELLS - 1)
    assert block_width(100, parallel=False) == 100
    assert block_width(1, parallel=True) >= 128


def test_twin_gives_two_distinct_cached_dispatchers():
    def body(x, out):  # pragma: no cover - compiled
        for i in range(x.shape[0]):
            out[i] = 2.0 * x[i]

    par, one = twin(body)
    assert par.py_func.__qualname__ != one.py_func.__qualname__
    assert par.targetoptions.get("parallel") and not one.targetoptions.get("parallel")


def test_rank_by_counting_parallel_and_one_thread_agree(monkeypatch):
    """Days of small integers (counted) beside days with fractions (sorted alone), both thread policies."""
    rng = np.random.default_rng(8)
    x = rng.integers(-2, 6, (60, 300)).astype(float)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[[3, 31, 59], 5] = 0.5
    results = []
    for forced in (True, False):
        monkeypatch.setattr(crosssection, "use_parallel", lambda cells, f=forced: f)
        monkeypatch.setattr(sortkeys, "use_parallel", lambda cells, f=forced: f)
        results.append(crosssection.rank(x))
    assert np.array_equal(results[0], results[1], equal_nan=True)
    np.testing.assert_allclose(results[0][:3], crosssection.rank(x[:3]), rtol=0, atol=0)
