"""Exact conversions between the expression tree and its token-list forms, plus tree measures.

* AlphaStack: postfix token list, operands first (``close 5d delta rank``), the order an agent writes.
* AlphaTree: level-order (breadth-first) node list (``rank delta close 5d``); operator arities are fixed,
  so the list determines the tree.

Both decoders type-check what they build and raise :class:`~alpha_env.errors.ExpressionError` whose
``position`` is the index of the offending token.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import partial

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Call, Const, Expr, Field, Group, OpToken, Token, Window, token_text
from alpha_env.grammar.checker import ADV_PATTERN, TypeRuleError, apply_operator, leaf_value
from alpha_env.grammar.kinds import SERIES_LIKE, Value
from alpha_env.grammar.operators import OPERATORS

_token_error = partial(ExpressionError, unit="token")

__all__ = ["to_stack", "from_stack", "to_tree", "from_tree", "depth", "length", "lookback", "stack_text"]


def to_stack(expr: Expr) -> list[Token]:
    """Postfix token list of ``expr`` (operands first, then the operator)."""
    out: list[Token] = []

    def visit(node: Expr) -> None:
        if isinstance(node, Call):
            for arg in node.args:
                visit(arg)
            out.append(OpToken(node.op))
        else:
            out.append(node)

    visit(expr)
    return out


def _spec_of(token: OpToken, position: int):
    spec = OPERATORS.get(token.name)
    if spec is None or spec.name != token.name:
        raise _token_error(f"unknown operator token {token.name!r}", position)
    return spec


def _check_leaf(token: Token, position: int) -> None:
    if not isinstance(token, Field | Const | Window | Group):
        raise _token_error(f"not a token: {token!r}", position)


def from_stack(tokens: Sequence[Token], *, units: bool = False) -> Expr:
    """Rebuild the tree from a postfix token list; the result must be one series (or boolean) value.

    Raises:
        ExpressionError: ``position`` is the index of the first token that cannot be applied, or the
            length of the list when it does not reduce to exactly one series.
    """
    stack: list[tuple[Expr, Value]] = []
    for i, token in enumerate(tokens):
        if isinstance(token, OpToken):
            spec = _spec_of(token, i)
            if len(stack) < spec.arity:
                raise _token_error(f"{spec.name} needs {spec.arity} operands, the stack has {len(stack)}",
                                      i)
            args = stack[len(stack) - spec.arity:]
            del stack[len(stack) - spec.arity:]
            try:
                value = apply_operator(spec, tuple(v for _, v in args), units=units)
            except TypeRuleError as exc:
                raise _token_error(exc.message, i) from None
            stack.append((Call(spec.name, tuple(e for e, _ in args)), value))
        else:
            _check_leaf(token, i)
            stack.append((token, leaf_value(token, units=units)))  # type: ignore[arg-type]
    if len(stack) != 1:
        raise _token_error(f"the stack holds {len(stack)} values at the end, expected exactly one",
                              len(tokens))
    expr, value = stack[0]
    if value.kind not in SERIES_LIKE:
        raise _token_error(f"the expression is a {value.kind.value}, not a series", len(tokens))
    return expr


def to_tree(expr: Expr) -> list[Token]:
    """Level-order (breadth-first, left to right) node list of ``expr``."""
    out: list[Token] = []
    queue: deque[Expr] = deque([expr])
    while queue:
        node = queue.popleft()
        if isinstance(node, Call):
            out.append(OpToken(node.op))
            queue.extend(node.args)
        else:
            out.append(node)
    return out


def from_tree(nodes: Sequence[Token], *, units: bool = False) -> Expr:
    """Rebuild the tree from its level-order node list (the inverse of :func:`to_tree`).

    Raises:
        ExpressionError: ``position`` is the index of the offending node (missing children, extra nodes,
            ill-typed operator).
    """
    if not nodes:
        raise _token_error("empty node list", 0)
    # children[i] = indices of node i's children, assigned breadth-first.
    children: list[list[int]] = [[] for _ in nodes]
    nxt = 1
    for i, node in enumerate(nodes):
        if i >= nxt:
            raise _token_error("node is not reachable from the root (too many nodes)", i)
        if isinstance(node, OpToken):
            spec = _spec_of(node, i)
            if nxt + spec.arity > len(nodes):
                raise _token_error(f"{spec.name} needs {spec.arity} children, the list ends first", i)
            children[i] = list(range(nxt, nxt + spec.arity))
            nxt += spec.arity
        else:
            _check_leaf(node, i)
    if nxt != len(nodes):
        raise _token_error("extra nodes after the tree is complete", nxt)
    built: list[tuple[Expr, Value] | None] = [None] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):  # children always come after their parent
        node = nodes[i]
        if isinstance(node, OpToken):
            spec = OPERATORS[node.name]
            args = [built[c] for c in children[i]]
            try:
                value = apply_operator(spec, tuple(a[1] for a in args), units=units)  # type: ignore[index]
            except TypeRuleError as exc:
                pos = children[i][exc.slot] if exc.slot is not None else i
                raise _token_error(exc.message, pos) from None
            built[i] = (Call(spec.name, tuple(a[0] for a in args)), value)  # type: ignore[index]
        else:
            built[i] = (node, leaf_value(node, units=units))  # type: ignore[arg-type]
    expr, value = built[0]  # type: ignore[misc]
    if value.kind not in SERIES_LIKE:
        raise _token_error(f"the expression is a {value.kind.value}, not a series", 0)
    return expr


def depth(expr: Expr) -> int:
    """Height of the tree: 1 for a leaf."""
    if isinstance(expr, Call):
        return 1 + max(depth(a) for a in expr.args)
    return 1


def length(expr: Expr) -> int:
    """Number of tokens of the AlphaStack (leaves plus operators)."""
    if isinstance(expr, Call):
        return 1 + sum(length(a) for a in expr.args)
    return 1


def lookback(expr: Expr) -> int:
    """Past trading days the expression reads besides today.

    ``adv{d}`` reads ``d - 1`` past days and ``returns`` one; an operator with a window adds
    ``days + spec.lookback`` to the most its arguments read (``delay(x, 5)``: 5, ``ts_mean(x, 5)``: 4).
    """
    if isinstance(expr, Field):
        m = ADV_PATTERN.match(expr.name)
        if m:
            return int(m.group(1)) - 1
        return 1 if expr.name == "returns" else 0
    if not isinstance(expr, Call):
        return 0
    spec = OPERATORS[expr.op]
    own = 0
    slot = spec.window_slot()
    if slot is not None:
        window = expr.args[slot]
        own = spec.lookback_days(window.days) if isinstance(window, Window) else 0
    return own + max(lookback(a) for a in expr.args)


def stack_text(tokens: Sequence[Token]) -> str:
    """Space-separated token texts of a stack or tree list (``close 5d delta rank``)."""
    return " ".join(token_text(t) for t in tokens)
