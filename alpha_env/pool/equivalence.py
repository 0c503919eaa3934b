"""Equivalence keys of alphas: exact algebraic simplification, and a fingerprint of the signal.

Two keys, for two questions:

* :func:`expression_key` — the canonical text of :func:`simplify` of the tree. It only applies rewrites
  that give the same value in every cell (IEEE arithmetic, NaN included):

  ======================================  ==========
  rewrite                                 why exact
  ======================================  ==========
  ``-(-x)`` → ``x``                       sign flips are exact
  ``-1 * x``, ``x * -1``, ``x / -1`` → ``-x``    multiplying by -1 flips the sign exactly
  ``1 * x``, ``x * 1``, ``x / 1`` → ``x``        exact; NaN stays NaN
  ``x + 0``, ``0 + x``, ``x - 0`` → ``x``        exact up to the sign of a zero (``-0.0`` = ``0.0``)
  ``0 - x`` → ``-x``                       same, up to the sign of a zero
  ======================================  ==========

  so ``-1 * (-1 * x)`` and ``x`` share a key. ``rank(-x)`` and ``-rank(x)`` do *not* (ranks are in
  ``(0, 1]``); rewrites are not applied to boolean operands (comparisons, logic), keeping the tree
  well-typed.
* :func:`signal_fingerprint` — a SHA-256 of the per-day percentile ranks of the signal on some rows
  (the train split), rounded, NaN-aware: two signals with the same per-day ordering, ties and missing
  cells share it, whatever their expressions (``rank(x)``, ``x`` and ``2 * x + 1`` are one alpha for
  the cross-sectional ranking).
"""

from __future__ import annotations

import hashlib

import numpy as np

from alpha_env.errors import DataError
from alpha_env.grammar.ast import Call, Const, Expr
from alpha_env.grammar.operators import OPERATORS
from alpha_env.grammar.parser import parse
from alpha_env.grammar.printer import canonical
from alpha_env.ops.crosssection import rank

__all__ = ["simplify", "expression_key", "signal_fingerprint"]

_BOOLEAN = frozenset({"comparison", "logic"})


def _const(e: Expr, value: float) -> bool:
    return isinstance(e, Const) and e.value == value


def _boolean(e: Expr) -> bool:
    return isinstance(e, Call) and OPERATORS[e.op].category in _BOOLEAN


def _neg(x: Expr) -> Expr:
    if isinstance(x, Call) and x.op == "neg":
        return x.args[0]
    if isinstance(x, Const):
        return Const(-x.value)
    return Call("neg", (x,))


def _rewrite(e: Call) -> Expr:
    """One node whose children are already simplified."""
    op, args = e.op, e.args
    if op == "neg" and not _boolean(args[0]):
        return _neg(args[0])
    if len(args) != 2:
        return e
    a, b = args
    if op == "mul":
        for k, x in ((a, b), (b, a)):
            if _const(k, 1.0) and not _boolean(x):
                return x
            if _const(k, -1.0) and not _boolean(x):
                return _neg(x)
    elif op == "div":
        if _const(b, 1.0) and not _boolean(a):
            return a
        if _const(b, -1.0) and not _boolean(a):
            return _neg(a)
    elif op == "add":
        for k, x in ((a, b), (b, a)):
            if _const(k, 0.0) and not _boolean(x):
                return x
    elif op == "sub":
        if _const(b, 0.0) and not _boolean(a):
            return a
        if _const(a, 0.0) and not _boolean(b):
            return _neg(b)
    return e


def simplify(expr: Expr | str) -> Expr:
    """The tree with every exact rewrite of the module table applied, bottom up, to a fixed point."""
    tree = parse(expr) if isinstance(expr, str) else expr
    if not isinstance(tree, Call):
        return tree
    node = Call(tree.op, tuple(simplify(a) for a in tree.args))
    out = _rewrite(node)
    while isinstance(out, Call) and out != node:  # a rewrite may expose another one at this node
        node, out = out, _rewrite(out)
    return out


def expression_key(expr: Expr | str) -> str:
    """Canonical text of :func:`simplify` of ``expr``: equal keys give equal signals on any panel."""
    return canonical(simplify(expr))


def signal_fingerprint(signal: np.ndarray, rows: slice = slice(None), *, decimals: int = 9) -> str:
    """Hex SHA-256 of the per-day percentile ranks of ``signal[rows]`` rounded to ``decimals``.

    Args:
        signal: ``(T, N)`` alpha values (NaN and ±inf count as missing).
        rows: the rows that define the alpha (the train split).
        decimals: rounding of the ranks in ``(0, 1]``, so that a few ulps do not split a key.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"signal must be a (dates x stocks) array, got shape {x.shape}")
    x = x[rows]
    r = rank(np.ascontiguousarray(np.where(np.isfinite(x), x, np.nan)))
    r = np.where(np.isnan(r), -1.0, np.round(r, decimals) + 0.0)
    h = hashlib.sha256()
    h.update(np.asarray(r.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(r).tobytes())
    return h.hexdigest()
