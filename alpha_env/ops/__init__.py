"""Numba operator library of the alpha language.

Every operator of the grammar's table as a kernel over ``(T, N)`` float64 panels (dates x stocks,
C-contiguous). :data:`KERNELS` maps canonical operator names to their callables; the per-family modules
hold the implementations and their documented NaN semantics (also tabulated in ``docs/ops.md``).

Example:
    >>> import numpy as np
    >>> from alpha_env.ops import KERNELS
    >>> close = np.cumsum(np.ones((6, 3)), axis=0)
    >>> KERNELS["delta"](close, 2)[2:, 0].tolist()
    [2.0, 2.0, 2.0, 2.0]
"""

from __future__ import annotations

from alpha_env.ops.crosssection import rank, scale, zscore
from alpha_env.ops.group import group_mean, group_rank, group_zscore, indneutralize
from alpha_env.ops.registry import ALWAYS_NAN, KERNELS, NAN_STRICT, OPERATOR_CLASS, AlwaysNan
from alpha_env.ops.timeseries import (
    correlation,
    covariance,
    decay_linear,
    delay,
    delta,
    product,
    stddev,
    ts_argmax,
    ts_argmin,
    ts_kurtosis,
    ts_max,
    ts_mean,
    ts_min,
    ts_rank,
    ts_skewness,
    ts_sum,
    ts_zscore,
)
from alpha_env.ops.windowstats import ts_mad, ts_quantile, ts_resi, ts_rsquare, ts_slope

__all__ = [
    "ALWAYS_NAN",
    "AlwaysNan",
    "KERNELS",
    "NAN_STRICT",
    "OPERATOR_CLASS",
    "correlation",
    "covariance",
    "decay_linear",
    "delay",
    "delta",
    "group_mean",
    "group_rank",
    "group_zscore",
    "indneutralize",
    "product",
    "rank",
    "scale",
    "stddev",
    "ts_argmax",
    "ts_argmin",
    "ts_kurtosis",
    "ts_mad",
    "ts_max",
    "ts_mean",
    "ts_min",
    "ts_quantile",
    "ts_rank",
    "ts_resi",
    "ts_rsquare",
    "ts_skewness",
    "ts_slope",
    "ts_sum",
    "ts_zscore",
    "zscore",
]
