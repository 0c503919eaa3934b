"""What every dialect front end shares: the builder it writes the AST with, and argument binding.

A front end never builds :mod:`alpha_env.grammar.ast` nodes by hand: it asks a :class:`Builder` (the
101 parser's typing core) for literals, fields and calls of operators *of the one table*
(:data:`alpha_env.grammar.operators.OPERATORS`), so that types, windows, folding and limits are checked
exactly as for the 101 language. A dialect therefore never adds a second operator table; its name table
maps each of its names onto such calls, possibly rewriting the arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Const, Expr
from alpha_env.grammar.dialects.surface import SCall, SName, SNode, SNum, SOp, SStr

__all__ = ["Built", "Builder", "Param", "Rule", "bind", "const_of", "window_of", "Converter"]


class Built(Protocol):
    """A typed node made by a :class:`Builder` (its tree and the column of its text)."""

    @property
    def expr(self) -> Expr: ...

    @property
    def pos(self) -> int: ...


class Builder(Protocol):
    """The typing core of the 101 parser, as the dialect front ends see it."""

    text: str

    def number(self, value: float, pos: int) -> Any:
        """A literal."""

    def leaf(self, name: str, pos: int) -> Any:
        """A field or group named ``name`` (checked against the allowed fields)."""

    def apply(self, op: str, args: list[Any], pos: int) -> Any:
        """Operator ``op`` of the one table on ``args`` (type-checked, constants folded)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a dialect function: its keyword name and default (``None``: required)."""

    name: str
    default: float | bool | str | None = None


#: A name-table rule: ``(builder, bound arguments, column of the name) -> built node``. Bound arguments
#: are built nodes (a numeric or boolean default becomes a literal node), or ``str`` for a string.
Rule = Callable[[Builder, list[Any], int], Any]


def bind(dialect: str, call: SCall, params: tuple[Param, ...], text: str) -> list[Any]:
    """Positional and keyword arguments of ``call`` matched to ``params`` (defaults filled in).

    Raises:
        ExpressionError: too many arguments, an unknown or repeated keyword, a missing argument.
    """
    name = call.name
    if len(call.args) > len(params):
        names = ", ".join(p.name for p in params)
        raise ExpressionError(f"{name} takes at most {len(params)} argument{'s' * (len(params) != 1)} in the "
                              f"{dialect} dialect ({names}), got {len(call.args)}", call.pos, text)
    out: list[Any] = list(call.args) + [None] * (len(params) - len(call.args))
    index = {p.name.lower(): i for i, p in enumerate(params)}
    for key, value, pos in call.kwargs:
        i = index.get(key)
        if i is None:
            raise ExpressionError(f"{name} has no keyword argument {key!r} in the {dialect} dialect "
                                  f"(it takes {', '.join(p.name for p in params)})", pos, text)
        if out[i] is not None:
            raise ExpressionError(f"{name}: argument {key!r} given twice", pos, text)
        out[i] = value
    for i, (param, value) in enumerate(zip(params, out)):
        if value is None:
            if param.default is None:
                raise ExpressionError(f"{name} needs its argument {param.name!r} ({dialect} dialect)",
                                      call.pos, text)
            out[i] = param.default
    return out


def const_of(node: Any) -> float | None:
    """The value of a built literal node, else ``None``."""
    expr = getattr(node, "expr", None)
    return expr.value if isinstance(expr, Const) else None


def window_of(node: Any, what: str, text: str) -> int:
    """The whole number of days of a built literal window argument.

    Raises:
        ExpressionError: the argument is not a number.
    """
    value = const_of(node)
    if value is None:
        raise ExpressionError(f"{what}: the window must be a number of days", node.pos, text)
    return math.floor(value)


class Converter:
    """Turns a surface tree into built nodes with a dialect's name table.

    Args:
        dialect: name shown in errors.
        builder: the typing core.
        rules: lower-case dialect name -> ``(parameters, rule)``.
        fallback: whether a name missing from ``rules`` may be an operator of the one table (BRAIN
            shares most spellings with the 101 language); otherwise it is an error naming the dialect.
        env: ``name = expr;`` assignments of the text (BRAIN).
        unsupported: lower-case names known to the dialect but not offered, with the reason.
    """

    def __init__(self, dialect: str, builder: Builder, rules: Mapping[str, tuple[tuple[Param, ...], Rule]],
                 *, fallback: Callable[[str], str | None] | None = None,
                 env: Mapping[str, SNode] | None = None, unsupported: Mapping[str, str] | None = None,
                 bare_names: bool = True):
        self.dialect = dialect
        self.b = builder
        self.text = builder.text
        self.rules = rules
        self.fallback = fallback
        self.env = dict(env or {})
        self.unsupported = unsupported or {}
        self.bare_names = bare_names
        self.expanding: set[str] = set()

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, pos, self.text)

    def __call__(self, node: Any) -> Any:
        """Built node of a surface node."""
        if isinstance(node, SNum):
            return self.b.number(node.value, node.pos)
        if isinstance(node, SStr):
            raise self.error(f"a string ({node.text!r}) is only accepted as an option of an operator",
                             node.pos)
        if isinstance(node, SName):
            return self.name(node)
        if isinstance(node, SOp):
            return self.b.apply(node.op, [self(a) for a in node.args], node.pos)
        if isinstance(node, SCall):
            return self.call(node)
        raise TypeError(f"not a surface node: {node!r}")

    def name(self, node: SName) -> Any:
        key = node.name.lower()
        if not node.marked:
            if key in self.env:
                if key in self.expanding:
                    raise self.error(f"variable {node.name!r} refers to itself", node.pos)
                self.expanding.add(key)
                try:
                    return self(self.env[key])
                finally:
                    self.expanding.discard(key)
            if key in ("true", "false"):
                return self.b.number(1.0 if key == "true" else 0.0, node.pos)
            if not self.bare_names:
                raise self.error(f"unknown name {node.name!r} in the {self.dialect} dialect (fields are "
                                 f"written ${node.name})", node.pos)
        return self.b.leaf(key, node.pos)

    def call(self, node: SCall) -> Any:
        key = node.name.lower()
        entry = self.rules.get(key)
        if entry is not None:
            params, rule = entry
            args = [a.text if isinstance(a, SStr) else a if isinstance(a, str)
                    else self.b.number(float(a), node.pos) if isinstance(a, bool | int | float) else self(a)
                    for a in bind(self.dialect, node, params, self.text)]
            return rule(self.b, args, node.pos)
        if key in self.unsupported:
            raise self.error(f"{node.name} is not supported in the {self.dialect} dialect: "
                             f"{self.unsupported[key]}", node.pos)
        canonical = self.fallback(key) if self.fallback is not None else None
        if canonical is None:
            raise self.error(f"unknown operator {node.name!r} in the {self.dialect} dialect", node.pos)
        if node.kwargs:
            raise self.error(f"{node.name} takes no keyword arguments in the {self.dialect} dialect",
                             node.kwargs[0][2])
        return self.b.apply(canonical, [self(a) for a in node.args], node.pos)
