"""The one dispatch table of the operator library: canonical operator name -> Python callable.

Keys are the canonical names of ``alpha_env.grammar`` (``docs/interfaces.md``). Every callable takes
``(T, N)`` float64 arrays for series (element-wise operators also accept Python floats), ``int`` for
windows, ``float`` for constants and ``(N,)`` int64 codes for groups, and returns a new ``(T, N)`` float64
array. Argument checks happen in the callables; the Numba kernels behind them never see bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from alpha_env.grammar.degenerate import DEGENERATE_CALLS
from alpha_env.ops import crosssection as cs
from alpha_env.ops import dialectops as dia
from alpha_env.ops import elementwise as ew
from alpha_env.ops import group as gr
from alpha_env.ops import timeseries as ts
from alpha_env.ops import windowstats as wst

__all__ = ["ALWAYS_NAN", "AlwaysNan", "KERNELS", "NAN_STRICT", "OPERATOR_CLASS"]

KERNELS: MappingProxyType[str, Callable[..., np.ndarray]] = MappingProxyType({
    # arithmetic
    "add": ew.add,
    "sub": ew.sub,
    "mul": ew.mul,
    "div": ew.div,
    "pow": ew.pow,
    "neg": ew.neg,
    # comparisons and logic
    "lt": ew.lt,
    "le": ew.le,
    "gt": ew.gt,
    "ge": ew.ge,
    "eq": ew.eq,
    "ne": ew.ne,
    "or": ew.or_,
    "and": ew.and_,
    "not": ew.not_,
    "if_else": ew.if_else,
    # time series (S, W) -> S
    "delay": ts.delay,
    "delta": ts.delta,
    "sum": ts.ts_sum,
    "product": ts.product,
    "stddev": ts.stddev,
    "ts_min": ts.ts_min,
    "ts_max": ts.ts_max,
    "ts_argmin": ts.ts_argmin,
    "ts_argmax": ts.ts_argmax,
    "ts_rank": ts.ts_rank,
    "decay_linear": ts.decay_linear,
    "ts_skewness": ts.ts_skewness,
    "ts_kurtosis": ts.ts_kurtosis,
    "ts_mean": ts.ts_mean,
    "ts_zscore": ts.ts_zscore,
    # time series (S, S, W) -> S
    "correlation": ts.correlation,
    "covariance": ts.covariance,
    # window statistics (Qlib dialect)
    "ts_quantile": wst.ts_quantile,
    "ts_mad": wst.ts_mad,
    "ts_slope": wst.ts_slope,
    "ts_rsquare": wst.ts_rsquare,
    "ts_resi": wst.ts_resi,
    # dialect operators that read NaN deliberately or carry a state
    "ts_count_nans": dia.ts_count_nans,
    "ts_backfill": dia.ts_backfill,
    "ts_ema": dia.ts_ema,
    "trade_when": dia.trade_when,
    "bucket": dia.bucket,
    "rank01": dia.rank01,
    "group_rank01": dia.group_rank01,
    # cross-section
    "rank": cs.rank,
    "zscore": cs.zscore,
    "scale": cs.scale,
    # group (S, G) -> S
    "indneutralize": gr.indneutralize,
    "group_rank": gr.group_rank,
    "group_mean": gr.group_mean,
    "group_zscore": gr.group_zscore,
    # element-wise functions
    "abs": ew.abs_,
    "log": ew.log,
    "sign": ew.sign,
    "sqrt": ew.sqrt,
    "vec_avg": ew.vec_avg,
    "signedpower": ew.signedpower,
    "max": ew.max_,
    "min": ew.min_,
})
"""Canonical operator name -> callable returning a new ``(T, N)`` float64 array."""

OPERATOR_CLASS: MappingProxyType[str, str] = MappingProxyType({
    **{k: "elementwise" for k in (
        "add sub mul div pow neg lt le gt ge eq ne or and not if_else abs log sign sqrt vec_avg "
        "signedpower max min").split()},
    **{k: "timeseries" for k in (
        "delay delta sum product stddev ts_min ts_max ts_argmin ts_argmax ts_rank decay_linear "
        "ts_skewness ts_kurtosis ts_mean ts_zscore correlation covariance ts_quantile ts_mad ts_slope "
        "ts_rsquare ts_resi").split()},
    **{k: "crosssection" for k in ("rank", "zscore", "scale")},
    **{k: "group" for k in ("indneutralize", "group_rank", "group_mean", "group_zscore")},
    # operators of the dialects (alpha_env.ops.dialectops)
    **{k: "timeseries" for k in ("ts_count_nans", "ts_backfill", "ts_ema")},
    "trade_when": "stateful",
    "bucket": "elementwise",
    "rank01": "crosssection",
    "group_rank01": "group",
})
"""Canonical operator name -> family (``elementwise``, ``timeseries``, ``crosssection``, ``group``;
``stateful`` for ``trade_when``: a constant in one of its series slots is broadcast to a panel, as for the
time-series family)."""


NAN_STRICT: MappingProxyType[str, tuple[int, ...]] = MappingProxyType({
    **{k: (0, 1) for k in "add sub mul div lt le gt ge eq ne or and max min correlation covariance".split()},
    **{k: (0,) for k in (
        "neg not abs log sign sqrt vec_avg bucket delay delta sum product stddev ts_min ts_max ts_argmin "
        "ts_argmax ts_rank decay_linear ts_skewness ts_kurtosis ts_mean ts_zscore ts_quantile ts_mad "
        "ts_slope ts_rsquare ts_resi ts_backfill ts_ema rank zscore scale rank01 indneutralize group_rank "
        "group_rank01 group_mean group_zscore").split()},
    "pow": (0,),  # 1 ** NaN is 1: a NaN exponent does not make the result NaN
    "signedpower": (0,),
    "if_else": (0,),  # a NaN condition gives NaN; a NaN branch is only read where it is chosen
    # a NaN trigger never trades and a NaN alpha is what it would trade; a NaN exit never exits
    "trade_when": (0, 1),
    "ts_count_nans": (),  # counts the NaN values
})
"""Canonical operator name -> the argument positions (0-based) where an argument that is NaN on every
row given makes the result NaN on every row, whatever the other arguments (every operator is causal, so
this holds for the first ``R`` rows alone too). The evaluator does not compute the calls such an all-NaN
value makes all NaN (docs/ops.md); ``tests/test_evaluate_nan_stop.py`` checks every entry, and that every
operator has one."""


class AlwaysNan(NamedTuple):
    """The arguments that make one operator's result NaN on every row whatever the data (see
    :data:`ALWAYS_NAN`)."""

    min_window: int = 1
    """The shortest window (days) with which the operator can give a number: a shorter one gives NaN."""
    constant_at: tuple[int, ...] = ()
    """Series positions (0-based) where a number (a constant, flat on every day) gives NaN."""


ALWAYS_NAN: MappingProxyType[str, AlwaysNan] = MappingProxyType({
    op: AlwaysNan(min_window=rule.nan_below, constant_at=rule.nan_constant_at)
    for op, rule in DEGENERATE_CALLS.items() if rule.nan_below > 1 or rule.nan_constant_at
})
"""Canonical operator name -> when a call is NaN on every row for any data: the NaN half of the grammar's
:data:`~alpha_env.grammar.degenerate.DEGENERATE_CALLS` (the operators' documented NaN semantics,
docs/ops.md; the other half makes calls the same number for every stock): a window shorter than
``min_window``, or a number at a position in ``constant_at``. The evaluator knows such calls are all NaN
before it computes anything, so their NaN-strict consumers and the operands only those read run on the
first date alone (module doc of :mod:`alpha_env.evaluate.evaluator`); ``tests/test_evaluate_nan_stop.py``
checks every entry against the kernels on random data and that each bound is tight. Operators not listed
have no such arguments."""
