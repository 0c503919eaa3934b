"""Element-wise operators: one value per (day, stock), no look-back.

Operands are ``(T, N)`` float64 arrays or Python floats (at least one must be an array); the result is a
new ``(T, N)`` float64 array. NaN rules (see ``docs/ops.md``):

- Any NaN operand gives NaN (comparisons and logic included: ``NaN < 1`` is NaN, not 0), except IEEE's
  ``1 ** NaN = 1`` in ``pow`` (and ``signedpower(±1, NaN) = ±1``): the result does not depend on the
  exponent. ``NaN ** 0`` stays NaN.
- Results that would be ±inf or undefined are NaN: division by zero, ``log`` of a value <= 0, ``sqrt`` of
  a negative value, ``pow``/``signedpower`` overflow or a negative base with a fractional exponent.
- Booleans are 1.0 (true) / 0.0 (false); logic operators read any non-zero value as true.
- Comparisons follow ``rank``'s tie rule: values equal at 10 significant digits are equal
  (:func:`~alpha_env.ops.sortkeys.equal_at_sig`), so ``(close * 3) / 3 < close`` is 0 and ``==`` is 1
  wherever rounding alone separates the two sides.
- ``if_else(c, a, b)`` is ``a`` where ``c`` is true, ``b`` where false, NaN where ``c`` is NaN.
- ``vec_avg(x)`` is the identity (a copy) on a scalar field panel: every field of a ``MarketPanel`` is
  one value per stock and day, so the mean of the one-element vector is the value itself.

The scalar rules (``_add_rule``, ``_pow_rule``, ...) are compiled functions wrapped in Numba ``vectorize``
ufuncs (each built on its first call, so importing the module compiles nothing), so a Python float
broadcasts without building an array; the evaluator's fused chains
(:mod:`alpha_env.ops.fused`) run the same rules, hence the same bits. ``log`` and ``sqrt`` use NumPy's SIMD
ufuncs followed by one pass mapping ±inf to NaN (``_sqrt_rule`` is the fused form of ``sqrt``: IEEE's
square root is correctly rounded everywhere).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit, vectorize

from alpha_env.ops._checks import as_operand, panel_shape
from alpha_env.ops.sortkeys import equal_at_sig, near_pair
from alpha_env.ops.threads import read_only

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg",
    "lt", "le", "gt", "ge", "eq", "ne", "or_", "and_", "not_", "if_else",
    "abs_", "log", "sign", "sqrt", "signedpower", "max_", "min_", "vec_avg", "build_ufuncs",
]

_F2 = ["float64(float64, float64)"]
_F1 = ["float64(float64)"]


class _LazyUfunc:
    """A Numba ``vectorize`` ufunc of a module-level scalar function, built (or loaded from Numba's on-disk
    cache) on its first call instead of at import: building the module's 15 ufuncs took about 0.6 s of
    every process that imports the ACE, whether or not it calls them (``python -X importtime``)."""

    def __init__(self, py_func: Callable[..., float], signatures: list[str]):
        self.__wrapped__ = py_func
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__
        self._signatures = signatures
        self._ufunc = None

    def build(self) -> Callable[..., np.ndarray]:
        """The ufunc, built (or loaded from Numba's cache) now if not yet."""
        if self._ufunc is None:
            self._ufunc = vectorize(self._signatures, cache=True)(self.__wrapped__)
        return self._ufunc

    def __call__(self, *args: object, **kwargs: object) -> np.ndarray:
        return self.build()(*args, **kwargs)


def _lazy_vectorize(signatures: list[str]) -> Callable[[Callable[..., float]], _LazyUfunc]:
    """``@vectorize(signatures, cache=True)``, built on first call (:class:`_LazyUfunc`)."""
    return lambda py_func: _LazyUfunc(py_func, signatures)


def build_ufuncs() -> int:
    """Build (or load from Numba's cache) every element-wise ufunc now; returns how many. The install's
    warmup (:mod:`alpha_env.warmup`) calls it: the evaluator runs most element-wise calls as fused chains,
    so its operator calls alone leave some ufuncs unbuilt, and the first direct call would compile them."""
    lazy = [value for value in globals().values() if isinstance(value, _LazyUfunc)]
    for ufunc in lazy:
        ufunc.build()
    return len(lazy)


@njit(cache=True, error_model="numpy", inline="always")
def _add_rule(a, b):  # pragma: no cover - compiled
    r = a + b
    return r if math.isfinite(r) else math.nan


@_lazy_vectorize(_F2)
def _add(a, b):  # pragma: no cover - compiled
    return _add_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _sub_rule(a, b):  # pragma: no cover - compiled
    r = a - b
    return r if math.isfinite(r) else math.nan


@_lazy_vectorize(_F2)
def _sub(a, b):  # pragma: no cover - compiled
    return _sub_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _mul_rule(a, b):  # pragma: no cover - compiled
    r = a * b
    return r if math.isfinite(r) else math.nan


@_lazy_vectorize(_F2)
def _mul(a, b):  # pragma: no cover - compiled
    return _mul_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _div_rule(a, b):  # pragma: no cover - compiled
    if b == 0.0:
        return math.nan
    r = a / b
    return r if math.isfinite(r) else math.nan


@_lazy_vectorize(_F2)
def _div(a, b):  # pragma: no cover - compiled
    return _div_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _power(a, b):  # pragma: no cover - compiled
    """``a ** b`` with multiplications for the common exponents 1, 2, 3, 4, 5, 0.5."""
    if b == 2.0:
        return a * a
    if b == 1.0:
        return a
    if b == 0.5:
        return math.sqrt(a)
    if b == 3.0:
        return a * a * a
    if b == 4.0:
        a2 = a * a
        return a2 * a2
    if b == 5.0:
        a2 = a * a
        return a2 * a2 * a
    return a**b


@njit(cache=True, error_model="numpy")
def _pow_rule(a, b):  # pragma: no cover - compiled
    """The scalar rule of ``pow`` (module doc), shared by the ufunc and the one-exponent loop."""
    if a == 1.0:  # IEEE: 1 ** y is 1 for every y, NaN included
        return 1.0
    if a != a or b != b:
        return math.nan
    if a < 0.0 and b != math.floor(b):
        return math.nan
    if a == 0.0 and b < 0.0:
        return math.nan
    r = _power(a, b)
    return r if math.isfinite(r) else math.nan


@njit(cache=True, error_model="numpy")
def _signedpower_rule(a, b):  # pragma: no cover - compiled
    """The scalar rule of ``signedpower`` (module doc), shared by the ufunc and the one-exponent loop."""
    m = abs(a)
    if m == 1.0:  # sign(a) * 1 ** b: IEEE's 1 ** NaN = 1
        return a
    if a != a or b != b:
        return math.nan
    if m == 0.0:
        return 0.0 if b > 0.0 else math.nan
    r = _power(m, b)
    if not math.isfinite(r):
        return math.nan
    return r if a > 0.0 else -r


@_lazy_vectorize(_F2)
def _pow(a, b):  # pragma: no cover - compiled
    return _pow_rule(a, b)


@_lazy_vectorize(_F2)
def _signedpower(a, b):  # pragma: no cover - compiled
    return _signedpower_rule(a, b)


@njit(cache=True, error_model="numpy")
def _pow_one_exponent(x, b, signed, out):  # pragma: no cover - compiled
    """``pow`` (``signed``: ``signedpower``) of a flat array ``x`` and one exponent ``b`` into ``out``.

    The exponent's cases are decided once per call, not per element, so the common exponents run as
    plain multiplications in a vectorized loop; the rule (and the bits) are the ufuncs'.
    """
    n = x.size
    if b == 2.0:
        for i in range(n):
            out[i] = _signedpower_rule(x[i], 2.0) if signed else _pow_rule(x[i], 2.0)
    elif b == 3.0:
        for i in range(n):
            out[i] = _signedpower_rule(x[i], 3.0) if signed else _pow_rule(x[i], 3.0)
    elif b == 0.5:
        for i in range(n):
            out[i] = _signedpower_rule(x[i], 0.5) if signed else _pow_rule(x[i], 0.5)
    elif signed:
        for i in range(n):
            out[i] = _signedpower_rule(x[i], b)
    else:
        for i in range(n):
            out[i] = _pow_rule(x[i], b)


@njit(cache=True, error_model="numpy", inline="always")
def _sqrt_rule(a):  # pragma: no cover - compiled
    """The scalar rule of ``sqrt`` (IEEE's correctly rounded root, as NumPy's ufunc, then ±inf → NaN) for
    :mod:`alpha_env.ops.fused`."""
    r = math.sqrt(a)
    return r if (r - r) == 0.0 else math.nan


@njit(cache=True, error_model="numpy")
def _nonfinite_to_nan(out):  # pragma: no cover - compiled
    flat = out.ravel()
    for i in range(flat.size):
        v = flat[i]
        flat[i] = v if (v - v) == 0.0 else math.nan  # v - v is NaN for ±inf and NaN


@njit(cache=True, error_model="numpy", inline="always")
def _neg_rule(a):  # pragma: no cover - compiled
    return -a


@_lazy_vectorize(_F1)
def _neg(a):  # pragma: no cover - compiled
    return _neg_rule(a)


@njit(cache=True, error_model="numpy", inline="always")
def _or_rule(a, b):  # pragma: no cover - compiled
    if a != a or b != b:
        return math.nan
    return 1.0 if (a != 0.0 or b != 0.0) else 0.0


@_lazy_vectorize(_F2)
def _or(a, b):  # pragma: no cover - compiled
    return _or_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _and_rule(a, b):  # pragma: no cover - compiled
    if a != a or b != b:
        return math.nan
    return 1.0 if (a != 0.0 and b != 0.0) else 0.0


@_lazy_vectorize(_F2)
def _and(a, b):  # pragma: no cover - compiled
    return _and_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _not_rule(a):  # pragma: no cover - compiled
    if a != a:
        return math.nan
    return 1.0 if a == 0.0 else 0.0


@_lazy_vectorize(_F1)
def _not(a):  # pragma: no cover - compiled
    return _not_rule(a)


@njit(cache=True, error_model="numpy", inline="always")
def _if_else_rule(c, a, b):  # pragma: no cover - compiled
    chosen = a if c != 0.0 else b  # both read: selects, no branch (a NaN condition picks a, then NaN)
    return chosen if c == c else math.nan


@_lazy_vectorize(["float64(float64, float64, float64)"])
def _if_else(c, a, b):  # pragma: no cover - compiled
    return _if_else_rule(c, a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _abs_rule(a):  # pragma: no cover - compiled
    return abs(a)


@_lazy_vectorize(_F1)
def _abs(a):  # pragma: no cover - compiled
    return _abs_rule(a)


@njit(cache=True, error_model="numpy", inline="always")
def _sign_rule(a):  # pragma: no cover - compiled
    if a > 0.0:
        return 1.0
    if a < 0.0:
        return -1.0
    return a  # 0.0 (keeps -0.0 as 0) or NaN


@_lazy_vectorize(_F1)
def _sign(a):  # pragma: no cover - compiled
    return _sign_rule(a)


@njit(cache=True, error_model="numpy", inline="always")
def _max_rule(a, b):  # pragma: no cover - compiled
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


@_lazy_vectorize(_F2)
def _max(a, b):  # pragma: no cover - compiled
    return _max_rule(a, b)


@njit(cache=True, error_model="numpy", inline="always")
def _min_rule(a, b):  # pragma: no cover - compiled
    if a != a or b != b:
        return math.nan
    return a if a <= b else b


@_lazy_vectorize(_F2)
def _min(a, b):  # pragma: no cover - compiled
    return _min_rule(a, b)


#: Comparison codes of :func:`_compare_body`, the code of each with its operands swapped, and the value
#: of each where the two sides are equal at 10 significant digits.
_LT, _LE, _GT, _GE, _EQ, _NE = 0, 1, 2, 3, 4, 5
_MIRROR = (_GT, _GE, _LT, _LE, _EQ, _NE)
_TIE_VALUE = (0.0, 1.0, 0.0, 1.0, 1.0, 0.0)


@njit(cache=True, error_model="numpy", inline="always")
def _compare_cell(u, v, op):  # pragma: no cover - compiled
    """``(result, near)``: the exact comparison as 1.0/0.0 (NaN if either side is NaN), and whether the
    sides differ by at most ``NEAR_REL`` without being equal (rounding may tie them)."""
    if op == _LT:
        r = u < v
    elif op == _LE:
        r = u <= v
    elif op == _GT:
        r = u > v
    elif op == _GE:
        r = u >= v
    elif op == _EQ:
        r = u == v
    else:
        r = u != v
    bad = (u != u) | (v != v)
    return (math.nan if bad else (1.0 if r else 0.0)), near_pair(u, v)[1]


@njit(cache=True, error_model="numpy")
def _compare_body(a, b, op, tie, out):  # pragma: no cover - compiled
    """``out = a <op> b`` on flat arrays (``b`` of ``a``'s length, or of length 1: a number), values equal at
    10 significant digits comparing equal: one exact pass that vectorizes, then the near cells (rare but
    for rounding noise) rounded, only when there are some."""
    n = a.size
    near = 0
    if b.size == n:
        for k in range(n):
            out[k], close = _compare_cell(a[k], b[k], op)
            near += 1 if close else 0
    else:
        v = b[0]
        for k in range(n):
            out[k], close = _compare_cell(a[k], v, op)
            near += 1 if close else 0
    if near > 0:
        step = 1 if b.size == n else 0
        for k in range(n):
            u = a[k]
            v = b[k * step]
            if near_pair(u, v)[1] and equal_at_sig(u, v):
                out[k] = tie


def _compare(op: str, code: int, a, b) -> np.ndarray:
    """A comparison with ``rank``'s tie rule (see the module docstring)."""
    x = as_operand(op, a, 1)
    y = as_operand(op, b, 2)
    shape = panel_shape(op, x, y)
    if not isinstance(x, np.ndarray):  # a number on the left: the mirrored comparison, operands swapped
        x, y, code = y, x, _MIRROR[code]
    out = np.empty(shape)
    right = np.ascontiguousarray(y).ravel() if isinstance(y, np.ndarray) else read_only(np.full(1, y))
    _compare_body(np.ascontiguousarray(x).ravel(), right, code, _TIE_VALUE[code], out.ravel())
    return out


def _apply(op: str, ufunc, *args: object) -> np.ndarray:
    operands = [as_operand(op, a, i) for i, a in enumerate(args, start=1)]
    shape = panel_shape(op, *operands)
    out = np.empty(shape)
    with np.errstate(all="ignore"):  # NaN comparisons raise the FP 'invalid' flag; NaN is the answer
        ufunc(*operands, out=out)
    return out


def _power_op(op: str, ufunc, a, b, signed: bool) -> np.ndarray:
    """``pow``/``signedpower``: a series to the power of one number runs :func:`_pow_one_exponent`
    (exponents of magnitude ``2**53`` and over, inf and NaN keep the ufunc: ``math.floor`` of those is
    no integer, and the ufunc's answer stays as it was)."""
    base = as_operand(op, a, 1)
    exponent = as_operand(op, b, 2)
    if not (isinstance(base, np.ndarray) and isinstance(exponent, float) and abs(exponent) < 2.0**53):
        return _apply(op, ufunc, base, exponent)
    panel_shape(op, base)
    out = np.empty(base.shape)
    _pow_one_exponent(np.ascontiguousarray(base).ravel(), exponent, signed, out.ravel())
    return out


def add(a, b) -> np.ndarray:
    """``a + b``."""
    return _apply("add", _add, a, b)


def sub(a, b) -> np.ndarray:
    """``a - b``."""
    return _apply("sub", _sub, a, b)


def mul(a, b) -> np.ndarray:
    """``a * b``."""
    return _apply("mul", _mul, a, b)


def div(a, b) -> np.ndarray:
    """``a / b``; NaN where ``b == 0``."""
    return _apply("div", _div, a, b)


def pow(a, b) -> np.ndarray:  # noqa: A001 - the operator's canonical name
    """``a ** b``; NaN on overflow, ``0 ** negative`` or a negative base with a fractional exponent;
    ``1 ** b`` is 1 for every ``b``, NaN included (IEEE)."""
    return _power_op("pow", _pow, a, b, False)


def neg(a) -> np.ndarray:
    """``-a``."""
    return _apply("neg", _neg, a)


def lt(a, b) -> np.ndarray:
    """``a < b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("lt", _LT, a, b)


def le(a, b) -> np.ndarray:
    """``a <= b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("le", _LE, a, b)


def gt(a, b) -> np.ndarray:
    """``a > b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("gt", _GT, a, b)


def ge(a, b) -> np.ndarray:
    """``a >= b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("ge", _GE, a, b)


def eq(a, b) -> np.ndarray:
    """``a == b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("eq", _EQ, a, b)


def ne(a, b) -> np.ndarray:
    """``a != b`` as 1.0/0.0 (values equal at 10 significant digits are equal), NaN if either is NaN."""
    return _compare("ne", _NE, a, b)


def or_(a, b) -> np.ndarray:
    """``a || b`` (non-zero is true) as 1.0/0.0, NaN if either is NaN."""
    return _apply("or", _or, a, b)


def and_(a, b) -> np.ndarray:
    """``a && b`` (non-zero is true) as 1.0/0.0, NaN if either is NaN."""
    return _apply("and", _and, a, b)


def not_(a) -> np.ndarray:
    """``!a``: 1.0 where ``a == 0``, 0.0 elsewhere, NaN where NaN."""
    return _apply("not", _not, a)


def if_else(c, a, b) -> np.ndarray:
    """``c ? a : b`` element-wise; NaN where ``c`` is NaN."""
    return _apply("if_else", _if_else, c, a, b)


def abs_(a) -> np.ndarray:
    """``|a|``."""
    return _apply("abs", _abs, a)


def log(a) -> np.ndarray:
    """Natural logarithm; NaN for ``a <= 0`` (NumPy's SIMD ``log``, then ±inf → NaN)."""
    out = _apply("log", np.log, a)
    _nonfinite_to_nan(out)
    return out


def sign(a) -> np.ndarray:
    """-1.0, 0.0 or 1.0 (NaN stays NaN)."""
    return _apply("sign", _sign, a)


def sqrt(a) -> np.ndarray:
    """Square root; NaN for ``a < 0`` (NumPy's SIMD ``sqrt``; +inf → NaN)."""
    out = _apply("sqrt", np.sqrt, a)
    _nonfinite_to_nan(out)
    return out


def signedpower(a, b) -> np.ndarray:
    """``sign(a) * |a| ** b``; NaN on overflow or ``0 ** non-positive``; ``±1`` for ``a = ±1`` whatever
    ``b`` (NaN included, as IEEE's ``1 ** NaN = 1``)."""
    return _power_op("signedpower", _signedpower, a, b, True)


def max_(a, b) -> np.ndarray:
    """Element-wise maximum (NaN if either is NaN)."""
    return _apply("max", _max, a, b)


def min_(a, b) -> np.ndarray:
    """Element-wise minimum (NaN if either is NaN)."""
    return _apply("min", _min, a, b)


def vec_avg(a) -> np.ndarray:
    """Mean of a vector field; on a scalar field panel (one value per stock and day) the identity."""
    operand = as_operand("vec_avg", a)
    panel_shape("vec_avg", operand)
    return np.array(operand, dtype=np.float64, copy=True)
