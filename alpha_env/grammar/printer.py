"""Canonical printer: one text per expression tree.

Precedence-minimal infix with single spaces around binary operators, lower-case canonical operator
names in call syntax for the others, ``format_number`` for constants (exact round trip), plain integers
for windows. ``canonical(parse(canonical(e))) == canonical(e)`` and ``parse(canonical(e)) == e`` for every
well-typed tree ``e`` (trees from ``parse`` have folded constant arithmetic).
"""

from __future__ import annotations

from collections.abc import Sequence

from alpha_env.grammar.ast import Call, Const, Expr, Field, Group, Window, format_number
from alpha_env.grammar.operators import ATOM_PRECEDENCE, OPERATORS, POWER_PRECEDENCE, UNARY_PRECEDENCE

__all__ = ["canonical", "compose", "precedence"]


def precedence(expr: Expr) -> int:
    """Binding strength of the printed form of ``expr`` (atoms and calls bind tightest)."""
    if isinstance(expr, Call):
        spec = OPERATORS[expr.op]
        if spec.infix is not None and spec.precedence is not None:
            return spec.precedence
    return ATOM_PRECEDENCE


def _wrap(text: str, needed: bool) -> str:
    return f"({text})" if needed else text


def _print(expr: Expr) -> str:
    if isinstance(expr, Call):
        return compose(expr, [_print(a) for a in expr.args])
    if isinstance(expr, Field | Group):
        return expr.name
    if isinstance(expr, Const):
        return format_number(expr.value)
    if isinstance(expr, Window):
        return str(expr.days)
    raise TypeError(f"not an expression: {expr!r}")


def compose(call: Call, texts: Sequence[str]) -> str:
    """The canonical text of ``call`` from the canonical texts of its arguments (``texts[i]`` is
    ``canonical(call.args[i])``): a tree's keys built bottom-up, each argument printed once (linear, where
    printing each sub-expression anew is quadratic in the depth)."""
    spec = OPERATORS[call.op]
    args = call.args
    if spec.infix is None or spec.precedence is None or len(args) != spec.arity:
        return f"{spec.name}({', '.join(texts)})"
    prec = spec.precedence
    if spec.name == "if_else":
        cond, yes, _ = args
        head = _wrap(texts[0], precedence(cond) <= prec)
        return f"{head} ? {_wrap(texts[1], precedence(yes) <= prec)} : {texts[2]}"
    if spec.arity == 1:
        return f"{spec.infix}{_wrap(texts[0], precedence(args[0]) < UNARY_PRECEDENCE)}"
    left, right = args
    if spec.name == "pow":
        neg_const = isinstance(left, Const) and (left.value < 0)
        lwrap = precedence(left) <= POWER_PRECEDENCE or neg_const
        rwrap = precedence(right) < UNARY_PRECEDENCE
    else:
        lwrap = precedence(left) < prec
        rwrap = precedence(right) <= prec
    return f"{_wrap(texts[0], lwrap)} {spec.infix} {_wrap(texts[1], rwrap)}"


def canonical(expr: Expr) -> str:
    """The canonical text of ``expr`` (the key of alpha ids and caches).

    The printer prints and does not type-check: trees from the parser, the stack decoders and the grammar
    masks are checked already; :func:`alpha_env.grammar.checker.checked_canonical` checks a hand-built
    tree first.
    """
    return _print(expr)
