"""Argument validation shared by the operator wrappers.

The Numba kernels trust their inputs (float64, C-contiguous, positive windows); everything a caller can
get wrong is checked here, in Python, and reported as an :class:`~alpha_env.errors.ExpressionError` that
names the operator and the argument.
"""

from __future__ import annotations

import numbers

import numpy as np

from alpha_env.errors import ExpressionError
from alpha_env.ops.threads import read_only

__all__ = ["as_panel", "as_operand", "check_window", "check_groups", "check_same_shape", "panel_shape"]


def as_panel(op: str, x: object, arg: int = 1) -> np.ndarray:
    """Return ``x`` as a read-only C-contiguous float64 ``(T, N)`` array (copying only if it is not
    contiguous; read-only: :func:`~alpha_env.ops.threads.read_only`).

    Raises:
        ExpressionError: ``x`` is not a 2-D float64 array (names ``op`` and the argument number).
    """
    if not isinstance(x, np.ndarray):
        raise ExpressionError(
            f"{op}: argument {arg} must be a (T, N) float64 array, got {type(x).__name__}", expression=op
        )
    if x.ndim != 2:
        raise ExpressionError(
            f"{op}: argument {arg} must be a 2-D (T, N) array, got {x.ndim} dimension(s)", expression=op
        )
    if x.dtype != np.float64:
        raise ExpressionError(f"{op}: argument {arg} must be float64, got {x.dtype}", expression=op)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return read_only(x)


def as_operand(op: str, x: object, arg: int = 1) -> np.ndarray | float:
    """Validate an element-wise operand: a ``(T, N)`` float64 array or a real Python/NumPy scalar."""
    if isinstance(x, bool) or isinstance(x, np.bool_):
        return float(x)
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return float(x)
    return as_panel(op, x, arg)


def panel_shape(op: str, *operands: np.ndarray | float) -> tuple[int, int]:
    """The common ``(T, N)`` shape of the array operands; error when there is none or they differ."""
    shape: tuple[int, int] | None = None
    for i, x in enumerate(operands, start=1):
        if isinstance(x, np.ndarray):
            if shape is None:
                shape = x.shape  # type: ignore[assignment]
            elif x.shape != shape:
                raise ExpressionError(
                    f"{op}: argument {i} has shape {x.shape}, expected {shape} like argument 1",
                    expression=op,
                )
    if shape is None:
        raise ExpressionError(f"{op}: at least one argument must be a (T, N) series, not all constants",
                              expression=op)
    return shape


def check_same_shape(op: str, x: np.ndarray, y: np.ndarray) -> None:
    """Raise when two series arguments do not have the same shape."""
    if x.shape != y.shape:
        raise ExpressionError(f"{op}: arguments have shapes {x.shape} and {y.shape}, expected equal",
                              expression=op)


def check_window(op: str, d: object) -> int:
    """Return the window as ``int``; it must be an integer >= 1 (the parser floors ``9.91`` to ``9``)."""
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        raise ExpressionError(f"{op}: window must be an integer number of days, got {d!r}", expression=op)
    d = int(d)
    if d < 1:
        raise ExpressionError(f"{op}: window must be >= 1 day, got {d}", expression=op)
    return d


def check_groups(op: str, groups: object, n: int) -> np.ndarray:
    """Return group codes as a read-only contiguous ``(N,)`` int64 array; ``-1`` marks an unknown group."""
    if not isinstance(groups, np.ndarray) or groups.ndim != 1:
        raise ExpressionError(f"{op}: groups must be an (N,) int64 array of codes", expression=op)
    if groups.shape[0] != n:
        raise ExpressionError(f"{op}: groups has {groups.shape[0]} codes but the series has {n} stocks",
                              expression=op)
    if not np.issubdtype(groups.dtype, np.integer):
        raise ExpressionError(f"{op}: group codes must be integers, got {groups.dtype}", expression=op)
    g = np.ascontiguousarray(groups, dtype=np.int64)
    if g.size and g.min() < -1:
        raise ExpressionError(f"{op}: group codes must be >= -1 (-1 = unknown), got {int(g.min())}",
                              expression=op)
    return read_only(g)
