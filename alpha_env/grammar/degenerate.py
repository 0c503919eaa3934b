"""Calls whose own arguments make them degenerate whatever the data.

A call is *degenerate* when its value is NaN on every row, or the same number for every stock on every day
wherever it is a number (nothing left after market neutralization). Some calls are so by construction:
``correlation(x, 0.5, 10)`` (a number has no correlation), ``covariance(x, 0.5, 10)`` (it co-moves by 0),
``stddev(x, 1)`` (one day has no sample spread), ``ts_argmax(x, 1)`` (a one-day window's position is always
1), ``group_mean(x, market)`` (one group: the market's mean for every stock). :data:`DEGENERATE_CALLS`
states them per operator, from the operators' documented semantics; ``tests/test_grammar_degenerate.py``
checks every entry against the kernels both ways (where it says degenerate, every random draw is; where
it does not, some draw is not).

Two readers:

* :class:`~alpha_env.grammar.state.GrammarState` with ``refuse_degenerate=True`` (the RL environment's
  default) never lets an agent write such a call: its masks stay exact (every allowed id still leads to a
  complete expression) over abstract values that tell windows ``1, 2, 3, >= 4`` days and the ``market``
  group apart;
* :data:`alpha_env.ops.ALWAYS_NAN` (the evaluator's all-NaN stop) is the NaN half of this table.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

from alpha_env.grammar.ast import Call, Const, Expr, Group, Window
from alpha_env.grammar.kinds import Kind
from alpha_env.grammar.operators import OPERATORS

__all__ = ["Degenerate", "DEGENERATE_CALLS", "WINDOW_BOUNDS", "degenerate_reason", "call_reason"]


class Degenerate(NamedTuple):
    """The arguments that make one operator's result degenerate whatever the data."""

    nan_below: int = 1
    """A window shorter than this many days gives NaN on every row."""
    flat_below: int = 1
    """A window shorter than this (and not NaN by ``nan_below``) gives one number for every stock."""
    nan_constant_at: tuple[int, ...] = ()
    """Series positions (0-based) where a number (flat on every day) gives NaN on every row."""
    flat_constant_at: tuple[int, ...] = ()
    """Series positions where a number gives one number for every stock (where finite)."""
    flat_groups: frozenset[str] = frozenset()
    """Groups with which the result is one number for every stock (one group holds them all)."""


DEGENERATE_CALLS: MappingProxyType[str, Degenerate] = MappingProxyType({
    # a flat window has no correlation, z-score, skew, kurtosis or R^2 (0/0), a single day no co-movement
    "correlation": Degenerate(nan_below=2, nan_constant_at=(0, 1)),
    "covariance": Degenerate(nan_below=2, flat_constant_at=(0, 1)),  # a number co-moves by exactly 0
    "stddev": Degenerate(nan_below=2),  # sample statistics with a d - 1 denominator; a flat window: 0
    "ts_zscore": Degenerate(nan_below=2, nan_constant_at=(0,)),
    "ts_skewness": Degenerate(nan_below=3, nan_constant_at=(0,)),  # pandas' bias-corrected estimators
    "ts_kurtosis": Degenerate(nan_below=4, nan_constant_at=(0,)),
    "ts_slope": Degenerate(nan_below=2),  # a line through one day
    # a line through two days fits them exactly: R^2 1 (NaN if flat), residual 0
    "ts_rsquare": Degenerate(nan_below=2, flat_below=3, nan_constant_at=(0,)),
    "ts_resi": Degenerate(nan_below=2, flat_below=3),
    "zscore": Degenerate(nan_constant_at=(0,)),  # a flat day has no spread
    "group_zscore": Degenerate(nan_constant_at=(0,)),  # nor a flat group
    # one day's window: its position and its rank are 1, its mean absolute deviation 0
    "ts_argmax": Degenerate(flat_below=2),
    "ts_argmin": Degenerate(flat_below=2),
    "ts_rank": Degenerate(flat_below=2),
    "ts_mad": Degenerate(flat_below=2),
    "group_mean": Degenerate(flat_groups=frozenset({"market"})),  # the market is one group
    "trade_when": Degenerate(flat_constant_at=(1,)),  # holds a number: that number, or yesterday's
})
"""Canonical operator name -> the arguments that make a call degenerate whatever the data. Operators not
listed have no such arguments (a number in a series slot of a call on constants only is a type error
anyway: ``rank(5)``)."""

#: The window lengths at which some verdict of :data:`DEGENERATE_CALLS` changes (``2 3 4``): windows of
#: ``1``, ``2``, ``3`` and ``>= 4`` days are told apart by the grammar's masks, and no longer ones need be.
WINDOW_BOUNDS: tuple[int, ...] = tuple(sorted({b for rule in DEGENERATE_CALLS.values()
                                                for b in (rule.nan_below, rule.flat_below) if b > 1}))


def degenerate_reason(op: str, constant_at: tuple[int, ...] = (), window: int | None = None,
                      group: str | None = None) -> str | None:
    """Why a call of ``op`` is degenerate whatever the data, or ``None`` when it is not.

    Args:
        op: canonical operator name.
        constant_at: series positions (0-based) that hold a number.
        window: the call's window in days (``None``: it has none).
        group: the call's group name (``None``: it has none).
    """
    rule = DEGENERATE_CALLS.get(op)
    if rule is None:
        return None
    if window is not None and window < rule.nan_below:
        return f"{op} over a {window}-day window is NaN whatever the data (it needs {rule.nan_below} days)"
    if window is not None and window < rule.flat_below:
        return f"{op} over a {window}-day window is the same number for every stock"
    for p in constant_at:
        if p in rule.nan_constant_at:
            return f"{op} of a constant (argument {p + 1}) is NaN whatever the data"
        if p in rule.flat_constant_at:
            return f"{op} of a constant (argument {p + 1}) is the same number for every stock"
    if group is not None and group in rule.flat_groups:
        return f"{op} over the {group} group is the same number for every stock"
    return None


def call_reason(call: Call | Expr) -> str | None:
    """:func:`degenerate_reason` of one call node (``None`` for a leaf or a call that is not degenerate by
    its own arguments; its operands are not looked into)."""
    if not isinstance(call, Call):
        return None
    spec = OPERATORS[call.op]
    constant_at = tuple(p for p, (kind, arg) in enumerate(zip(spec.arg_kinds, call.args))
                        if kind is Kind.SERIES and isinstance(arg, Const))
    window = next((a.days for a in call.args if isinstance(a, Window)), None)
    group = next((a.name for a in call.args if isinstance(a, Group)), None)
    return degenerate_reason(call.op, constant_at, window, group)
