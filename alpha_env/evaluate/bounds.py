"""Bounds of an expression's values from its fields' ranges, without computing it.

A random or early-training agent writes many alphas whose value is decided by scales alone:
``vwap > adv10`` (a price never exceeds a 10-day average dollar... share volume in the millions),
``2 == adv15``, ``-0.5 < (open >= 2)`` (a boolean is never below 0), ``sign(adv20)`` (volumes are
positive). Each is the same number for every stock on every day, so the alpha is degenerate; round 1
learnt that only by computing it (and everything above it) and then neutralizing the result.

:func:`expression_bound` walks the tree once over :class:`Bound` values: an interval that holds every
finite value of a node (on the rows the fields' ranges were read from) and whether the node is *flat*
(one number for every stock on each day, wherever it is a number). A field's bound is its own range;
a number is a flat point; each operator maps its arguments' bounds to a bound of its result, soundly:

* the four arithmetic operations are IEEE-rounded monotone functions, so the same operations on the
  bounds bound the kernel's results exactly; library functions (``log``, ``pow``) and window statistics
  (running sums) are widened by a relative ``1e-6``; a value beyond the float range is NaN in every
  kernel, so a bound wholly beyond it is empty (all NaN);
* a comparison of sides whose bounds are apart by more than ``1e-8`` of their size (far more than the
  10-significant-digit tie rule's reach) is a flat point (0 or 1);
* a window statistic of a flat series is flat (a strict window holds the same days' numbers for every
  stock, or NaN); ``rank`` of a flat day is flat, its ``zscore`` all NaN; group ranks, the history-state
  operators (``ts_ema``, ``ts_backfill``, ``trade_when``) and ``ts_count_nans`` are never flat;
* an operator without a rule gets the whole line and is not flat (always sound).

A root whose bound is empty or flat is degenerate whatever the values inside the bounds: its reward is
the degenerate penalty, known without evaluating it (:meth:`Evaluator.bound`; the RL environment asks
first). ``tests/test_evaluate_bounds.py`` checks soundness on random grammar expressions against the
evaluated values: every finite value lies inside its bound, every flat claim holds.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from alpha_env.grammar import Call, Const, Expr, Field, Group, Window
from alpha_env.ops import NAN_STRICT

__all__ = ["Bound", "ANY", "EMPTY", "expression_bound"]

_MAX = sys.float_info.max
_INF = math.inf
_WIDEN = 1e-6  # relative widening of bounds computed with library functions or running sums
_APART = 1e-8  # relative gap beyond which two sides never tie at 10 significant digits
#: Operators whose kernels keep an infinite value (from a field holding one) rather than turn it into NaN.
_KEEPS_INF = frozenset({"neg", "abs", "if_else", "min", "max", "delay", "ts_min", "ts_max", "decay_linear",
                        "ts_quantile", "ts_backfill", "ts_ema", "vec_avg", "trade_when"})


@dataclass(frozen=True, slots=True)
class Bound:
    """Every value of a node that is not NaN lies in ``[lo, hi]`` (infinities too, where a field holds
    them: comparisons and extremes read them as values); ``lo > hi``: it has none, all NaN. ``flat``: on
    each day, every stock's value that is not NaN is the same number."""

    lo: float
    hi: float
    flat: bool = False

    def __post_init__(self) -> None:
        if self.lo >= self.hi:  # one number (or none): flat
            object.__setattr__(self, "flat", True)

    @property
    def empty(self) -> bool:
        """No finite value anywhere (all NaN)."""
        return self.lo > self.hi

    @property
    def point(self) -> bool:
        """One number everywhere it is finite (then also :attr:`flat`)."""
        return self.lo == self.hi

    @property
    def degenerate(self) -> bool:
        """All NaN, or one number for every stock on each day: nothing survives a neutralization (a
        backtest without one, or with a decay that mixes days, may still trade a flat signal)."""
        return self.empty or self.flat

    def reason(self) -> str:
        """Why :attr:`degenerate`, worded as the backtest's verdicts (for ``degenerate_reason``)."""
        known = "whatever the values within the fields' ranges (known without evaluating it)"
        if self.empty:
            return f"all NaN: no value {known}"
        if self.point:
            return f"constant across stocks: {self.lo:.6g} for every stock on every day {known}"
        return f"constant across stocks: one number for every stock on each day {known}"


ANY = Bound(-_INF, _INF)
EMPTY = Bound(_INF, -_INF, True)
_BOOL = Bound(0.0, 1.0)


def _make(lo: float, hi: float, flat: bool, clamp: bool = True) -> Bound:
    """The bound ``[lo, hi]`` (``nan`` ends, from ``inf - inf`` or ``0 * inf``, mean the whole line).
    ``clamp``: the operator's kernel turns a result beyond the float range into NaN (every operator but
    those of :data:`_KEEPS_INF`), so its bound stops at the largest float, and one wholly beyond it is
    empty."""
    if math.isnan(lo):
        lo = -_INF
    if math.isnan(hi):
        hi = _INF
    if not clamp:
        return Bound(lo, hi, flat)
    if lo > _MAX or hi < -_MAX:
        return EMPTY
    return Bound(max(lo, -_MAX), min(hi, _MAX), flat)


def _widen(lo: float, hi: float, flat: bool) -> Bound:
    """:func:`_make` of ``[lo, hi]``, each end widened by ``_WIDEN`` of itself (library functions such as
    ``log`` and ``pow`` are accurate to a few units in the last place of their result)."""
    if lo > hi:
        return EMPTY
    if math.isfinite(lo):
        lo -= _WIDEN * abs(lo) + 1e-300
    if math.isfinite(hi):
        hi += _WIDEN * abs(hi) + 1e-300
    return _make(lo, hi, flat)


def _widen_sums(lo: float, hi: float, flat: bool, scale: float, clamp: bool = True) -> Bound:
    """:func:`_make` of ``[lo, hi]`` widened by ``_WIDEN`` of ``scale``, the largest magnitude the
    statistic's running sums add and subtract (their rounding is relative to it, not to the result)."""
    if lo > hi:
        return EMPTY
    pad = _WIDEN * scale + 1e-300  # an infinite scale (a field holding inf) leaves the whole line
    return _make(lo - pad, hi + pad, flat, clamp)


def _corners(op: Callable[[float, float], float], a: Bound, b: Bound) -> tuple[float, float]:
    values = []
    for x in (a.lo, a.hi):
        for y in (b.lo, b.hi):
            try:
                values.append(op(x, y))
            except (OverflowError, ZeroDivisionError, ValueError):
                return -_INF, _INF
    if any(math.isnan(v) for v in values):
        return -_INF, _INF
    return min(values), max(values)


def _mul(x: float, y: float) -> float:
    return x * y


def _div(x: float, y: float) -> float:
    return x / y


def _pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        return _INF


def _apart(a: Bound, b: Bound) -> int:
    """``-1`` if every finite value of ``a`` is below every one of ``b`` by more than the tie rule's reach,
    ``1`` if above, ``0`` if they may meet."""
    if a.hi < b.lo and b.lo - a.hi > _APART * max(abs(a.hi), abs(b.lo)):
        return -1
    if b.hi < a.lo and a.lo - b.hi > _APART * max(abs(b.hi), abs(a.lo)):
        return 1
    return 0


_COMPARE = {"lt": (1.0, 0.0), "le": (1.0, 0.0), "gt": (0.0, 1.0), "ge": (0.0, 1.0), "eq": (0.0, 0.0),
            "ne": (1.0, 1.0)}  # value when a is below b, when a is above b


def _compare(op: str, a: Bound, b: Bound) -> Bound:
    side = _apart(a, b)
    if side:
        value = _COMPARE[op][0 if side < 0 else 1]
        return Bound(value, value, True)
    # touching sides (a <= b everywhere): a > b never holds, a <= b always does (a near tie is equal)
    if a.hi <= b.lo and op in ("gt", "le") or b.hi <= a.lo and op in ("lt", "ge"):
        value = 1.0 if op in ("le", "ge") else 0.0
        return Bound(value, value, True)
    return Bound(0.0, 1.0, a.flat and b.flat)


def _power(a: Bound, b: Bound, signed: bool) -> Bound:
    flat = a.flat and b.flat
    if b.empty:  # x ^ NaN is NaN but for |x| = 1: 1 (with x's sign for signedpower)
        if not signed or a.lo > 0:
            return Bound(1.0, 1.0, True) if a.lo <= 1.0 <= a.hi else EMPTY
        if a.hi < 0:
            return Bound(-1.0, -1.0, True) if a.lo <= -1.0 <= a.hi else EMPTY
        return Bound(-1.0, 1.0, a.flat)
    if b.point and b.lo == 0.0 and not signed:
        return Bound(1.0, 1.0, True)  # x ^ 0 is 1 wherever x is a number
    if a.point and a.lo == 1.0:
        return Bound(1.0, 1.0, True)  # 1 ^ y is 1 wherever y is a number
    if not (math.isfinite(b.lo) and math.isfinite(b.hi)):
        return Bound(-_INF, _INF, flat)
    if a.lo > 0.0:
        return _positive_power(a, b, flat)
    if signed and a.hi < 0.0:
        p = _positive_power(Bound(-a.hi, -a.lo), b, flat)
        return p if p.empty else Bound(-p.hi, -p.lo, p.flat)
    return Bound(-_INF, _INF, flat)


def _positive_power(a: Bound, b: Bound, flat: bool) -> Bound:
    """``a ^ b`` for ``a > 0``: ``exp(b * ln a)`` is monotone in each argument, so its extremes are at the
    corners; an exponent of every value below ``-800`` is 0 (under the smallest float), above ``800``
    beyond the float range (NaN in the kernels)."""
    logs = [y * math.log(x) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    if any(math.isnan(v) for v in logs):
        return Bound(-_INF, _INF, flat)
    if max(logs) < -800.0:
        return Bound(0.0, 0.0, True)
    if min(logs) > 800.0:
        return EMPTY
    lo, hi = _corners(_pow, a, b)
    return _widen(lo, hi, flat)


def _unary(op: str, a: Bound) -> Bound:
    if op == "neg":
        return Bound(-a.hi, -a.lo, a.flat)
    if op == "abs":
        if a.lo >= 0:
            return Bound(a.lo, a.hi, a.flat)
        if a.hi <= 0:
            return Bound(-a.hi, -a.lo, a.flat)
        return Bound(0.0, max(-a.lo, a.hi), a.flat)
    if op == "sign":
        if a.lo > 0:
            return Bound(1.0, 1.0, True)
        if a.hi < 0:
            return Bound(-1.0, -1.0, True)
        return Bound(-1.0 if a.lo < 0 else 0.0, 1.0 if a.hi > 0 else 0.0, a.flat)
    if op == "sqrt":  # correctly rounded: exact bounds; NaN below 0
        if a.hi < 0:
            return EMPTY
        return Bound(math.sqrt(max(a.lo, 0.0)), math.sqrt(a.hi), a.flat)
    if op == "log":  # NaN at and below 0
        if a.hi <= 0:
            return EMPTY
        return _widen(math.log(a.lo) if a.lo > 0 else -_INF, math.log(a.hi), a.flat)
    if op == "not":
        if a.point:
            return Bound(1.0 - a.lo, 1.0 - a.lo, True) if a.lo in (0.0, 1.0) else _BOOL
        return Bound(0.0, 1.0, a.flat)
    if op == "vec_avg":  # the identity on a panel of one value per stock and day
        return a
    return Bound(-_INF, _INF, False)


# window statistics: (bound of the result from the argument's and the window's, keeps flatness)
def _window(op: str, a: Bound, d: int) -> Bound:
    span = a.hi - a.lo
    if op in ("delay", "ts_min", "ts_max"):
        return Bound(a.lo, a.hi, a.flat)  # values of the window themselves
    size = max(abs(a.lo), abs(a.hi))
    if op in _KEEPS_INF and op not in ("delay", "ts_min", "ts_max", "ts_backfill") \
            and size * (d + 1.0) ** 2 >= _MAX:
        return Bound(-_INF, _INF, a.flat)  # its weighted sums may overflow to an inf it keeps
    if op in ("ts_mean", "decay_linear", "ts_quantile"):  # weighted means of the window's values
        return _widen_sums(a.lo, a.hi, a.flat, size, clamp=op not in _KEEPS_INF)
    if op == "delta":
        return _make(a.lo - a.hi, a.hi - a.lo, a.flat)  # one IEEE subtraction: exact bounds
    if op == "sum":
        return _widen_sums(d * a.lo, d * a.hi, a.flat, d * size)
    if op == "product":
        if a.lo >= 0:
            return _widen(_pow(a.lo, d), _pow(a.hi, d), a.flat)
        m = _pow(max(-a.lo, a.hi), d)
        return _widen(-m, m, a.flat)
    if op in ("stddev", "ts_mad"):  # below the range for any sample; running sums cancel up to ~1e-7
        return _make(0.0, span + 1e-5 * size, a.flat)
    if op == "ts_zscore":  # |z| <= (d - 1) / sqrt(d) in exact arithmetic, but a nearly flat window's
        return Bound(-_INF, _INF, a.flat)  # computed spread may be far below its true one: no bound
    if op == "ts_rank":
        return Bound(1.0 / d, 1.0, a.flat)
    if op in ("ts_argmax", "ts_argmin"):
        return Bound(1.0, float(d), a.flat)
    if op in ("ts_skewness", "ts_kurtosis", "ts_slope", "ts_resi", "ts_rsquare"):
        return Bound(-_INF, _INF, a.flat)
    if op == "ts_count_nans":
        return Bound(0.0, float(d), False)
    if op in ("ts_backfill", "ts_ema"):  # per-stock NaN history: never flat
        return _widen_sums(a.lo, a.hi, False, size, clamp=False)
    return Bound(-_INF, _INF, False)


def _call(op: str, args: list[Bound | int | str], n_stocks: int) -> Bound:
    if any(isinstance(args[p], Bound) and args[p].empty for p in NAN_STRICT.get(op, ())):
        return EMPTY  # an all-NaN argument where the operator is NaN-strict
    bounds = [a for a in args if isinstance(a, Bound)]
    if op in _COMPARE:
        return _compare(op, *bounds)
    flat = all(b.flat for b in bounds)
    if op == "add":
        a, b = bounds
        return _make(a.lo + b.lo, a.hi + b.hi, flat)
    if op == "sub":
        a, b = bounds
        return _make(a.lo - b.hi, a.hi - b.lo, flat)
    if op == "mul":
        if any(b.point and b.lo == 0.0 for b in bounds):
            return Bound(0.0, 0.0, True)  # 0 times a number (a product beyond the float range is NaN)
        return _make(*_corners(_mul, *bounds), flat)
    if op == "div":
        a, b = bounds
        if b.point and b.lo == 0.0:
            return EMPTY  # x / 0 is NaN
        if a.point and a.lo == 0.0:
            return Bound(0.0, 0.0, True)
        if b.lo > 0 or b.hi < 0:
            return _make(*_corners(_div, a, b), flat)
        return Bound(-_INF, _INF, flat)
    if op in ("pow", "signedpower"):
        return _power(bounds[0], bounds[1], op == "signedpower")
    if op in ("min", "max"):
        a, b = bounds
        if op == "min" and a.hi <= b.lo or op == "max" and a.lo >= b.hi:
            return a
        if op == "min" and b.hi <= a.lo or op == "max" and b.lo >= a.hi:
            return b
        pick = min if op == "min" else max
        return Bound(pick(a.lo, b.lo), pick(a.hi, b.hi), flat)
    if op in ("and", "or"):
        return Bound(0.0, 1.0, flat)
    if op == "if_else":
        c, a, b = bounds
        if c.point and c.lo > 0:
            return Bound(a.lo, a.hi, a.flat)  # the condition always holds where it is a number
        if c.point and c.lo == 0:
            return Bound(b.lo, b.hi, b.flat)
        if a.empty and b.empty:
            return EMPTY
        return Bound(min(a.lo, b.lo), max(a.hi, b.hi), flat)
    if op in ("correlation", "covariance"):
        if op == "correlation":
            return Bound(-1.0, 1.0, flat)  # the kernel clips to [-1, 1]
        return Bound(-_INF, _INF, flat)
    if op == "rank":  # rank / n of n <= N valid stocks: at least 1 / N
        return Bound(1.0 / n_stocks, 1.0, bounds[0].flat)
    if op == "rank01":
        return Bound(0.0, 1.0, bounds[0].flat)
    if op in ("zscore", "group_zscore"):
        return EMPTY if bounds[0].flat else Bound(-_INF, _INF, False)  # a flat day or group: NaN
    if op == "scale":
        return Bound(-_INF, _INF, bounds[0].flat)
    if op == "group_mean":
        a = bounds[0]
        return _widen_sums(a.lo, a.hi, a.flat, max(abs(a.lo), abs(a.hi)))
    if op == "indneutralize":  # a flat day is equal in every group: 0 (the tie rule), else no bound
        return Bound(0.0, 0.0, True) if bounds[0].flat else ANY
    if op == "group_rank":
        return Bound(1.0 / n_stocks, 1.0, False)
    if op == "group_rank01":
        return Bound(0.0, 1.0, False)
    windows = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    if len(bounds) == 1 and len(windows) == 1:
        return _window(op, bounds[0], windows[0])
    if len(bounds) == 1 and len(args) == 1:
        return _unary(op, bounds[0])
    return Bound(-_INF, _INF, False)


def expression_bound(expr: Expr, field_bound: Callable[[str], Bound], n_stocks: int) -> Bound:
    """The :class:`Bound` of ``expr`` given each field's (``field_bound(name)``: every finite value of the
    field on the rows of interest) on a panel of ``n_stocks`` stocks. Shared sub-trees are bounded once."""
    memo: dict[Expr, Bound] = {}

    def visit(node: Expr) -> Bound | int | float | str:
        if isinstance(node, Const):
            return Bound(node.value, node.value, True)
        if isinstance(node, Window):
            return node.days
        if isinstance(node, Group):
            return node.name
        if isinstance(node, Field):
            return field_bound(node.name)
        known = memo.get(node)
        if known is None:
            assert isinstance(node, Call)
            known = memo[node] = _call(node.op, [visit(a) for a in node.args], n_stocks)
        return known

    out = visit(expr)
    return out if isinstance(out, Bound) else ANY
