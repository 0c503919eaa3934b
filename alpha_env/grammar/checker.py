"""Type rules: the abstract value of a call from the values of its arguments.

One function, :func:`apply_operator`, decides whether an operator accepts argument values and what it
returns; the parser, :func:`check`, the postfix/level-order decoders and the grammar masks all use it.

Rules (``S`` series, ``B`` bool, ``C`` constant, ``W`` window, ``G`` group):

* a series slot accepts ``S``, ``B`` (as 1/0) and ``C``; a bool slot only ``B``; window, constant and
  group slots only their own kind;
* at least one argument must be a non-constant series or bool (no operator on constants alone);
* ``no_const_slots`` refuse a constant (element-wise ``max(x, 5)`` is spelt ``max(5, x)``, since
  ``max(x, 5)`` means ``ts_max``).

Optional unit checks (``units=True``): series carry a :class:`Unit`; constants fit any unit; booleans are
dimensionless. ``+ - max min`` and comparisons need compatible units (equal, or one ``MIXED``), as do the
two branches of ``?:``; the exponent of ``^``/``signedpower`` must be dimensionless; ``*``/``/`` combine
units (dimensionless factors keep the other unit, ``x / y`` of one unit is dimensionless, anything else is
``MIXED``); ranks, correlations, ``sign``, ``log`` and z-scores are dimensionless.
"""

from __future__ import annotations

import re

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Call, Const, Expr, Field, Group, Window
from alpha_env.grammar.kinds import Kind, Unit, Value
from alpha_env.grammar.operators import OPERATORS, OperatorSpec
from alpha_env.grammar.printer import canonical

__all__ = [
    "BASE_FIELDS",
    "FIELD_UNITS",
    "GROUPS",
    "ADV_PATTERN",
    "TypeRuleError",
    "field_unit",
    "leaf_value",
    "apply_operator",
    "check",
    "checked_canonical",
]

#: Unit of each base data field.
FIELD_UNITS: dict[str, Unit] = {
    "open": Unit.PRICE,
    "high": Unit.PRICE,
    "low": Unit.PRICE,
    "close": Unit.PRICE,
    "volume": Unit.VOLUME,
    "vwap": Unit.PRICE,
    "returns": Unit.DIMLESS,
    "cap": Unit.MIXED,
}
#: The base data fields, in codebook order.
BASE_FIELDS: tuple[str, ...] = tuple(FIELD_UNITS)
#: The standard groups, in codebook order (``market`` puts every stock in one group).
GROUPS: tuple[str, ...] = ("market", "sector", "industry", "subindustry")
#: ``adv{d}``: average daily volume over ``d`` days (any positive integer ``d``).
ADV_PATTERN = re.compile(r"adv([1-9][0-9]*)\Z")

_S, _B, _C, _W, _G = Kind.SERIES, Kind.BOOL, Kind.CONST, Kind.WINDOW, Kind.GROUP


class TypeRuleError(Exception):
    """Internal: an argument does not fit. ``slot`` is the 0-based argument index (``None``: the call)."""

    def __init__(self, message: str, slot: int | None = None):
        super().__init__(message)
        self.message = message
        self.slot = slot


def field_unit(name: str) -> Unit:
    """Unit of a field: base fields from :data:`FIELD_UNITS`, ``adv{d}`` volume, custom fields MIXED."""
    if name in FIELD_UNITS:
        return FIELD_UNITS[name]
    if ADV_PATTERN.match(name):
        return Unit.VOLUME
    return Unit.MIXED


def leaf_value(leaf: Field | Const | Window | Group, *, units: bool = False) -> Value:
    """Abstract value of a leaf."""
    if isinstance(leaf, Field):
        return Value(_S, field_unit(leaf.name) if units else None)
    if isinstance(leaf, Const):
        return Value(_C)
    if isinstance(leaf, Window):
        return Value(_W)
    if isinstance(leaf, Group):
        return Value(_G)
    raise TypeError(f"not a leaf: {leaf!r}")


_ARTICLE = {_S: "a series", _B: "a boolean", _C: "a constant", _W: "a window (number of days)",
            _G: "a group"}


def _describe(kind: Kind) -> str:
    return _ARTICLE[kind]


def _accepts(slot: Kind, kind: Kind) -> bool:
    if slot is _S:
        return kind in (_S, _B, _C)
    return slot is kind


def _unit(value: Value) -> Unit | None:
    """Unit of a series-slot argument (None for constants: they fit any unit)."""
    if value.kind is _C:
        return None
    if value.kind is _B:
        return Unit.DIMLESS
    return value.unit


def _compatible(a: Unit | None, b: Unit | None) -> bool:
    return a is None or b is None or a is b or Unit.MIXED in (a, b)


def _common(units: list[Unit | None], spec: OperatorSpec, slots: list[int]) -> Unit:
    known = [(u, s) for u, s in zip(units, slots) if u is not None]
    for i in range(len(known)):
        for j in range(i + 1, len(known)):
            if not _compatible(known[i][0], known[j][0]):
                raise TypeRuleError(
                    f"{spec.name}: units do not match ({known[i][0].value} vs {known[j][0].value})",
                    known[j][1])
    distinct = {u for u, _ in known}
    return distinct.pop() if len(distinct) == 1 else Unit.MIXED


def _result_unit(spec: OperatorSpec, args: tuple[Value, ...]) -> Unit | None:
    rule = spec.unit_rule
    units = [_unit(a) if k is _S else None for a, k in zip(args, spec.arg_kinds)]
    if rule == "bool":
        return None
    if rule == "dimless":
        return Unit.DIMLESS
    if rule == "keep":
        return units[0] or Unit.MIXED
    if rule in ("same", "compare"):
        return _common(units, spec, [0, 1])
    if rule == "branches":
        return _common(units[1:], spec, [1, 2])
    if rule == "mul":
        a, b = (u or Unit.DIMLESS for u in units)
        return b if a is Unit.DIMLESS else a if b is Unit.DIMLESS else Unit.MIXED
    if rule == "div":
        a, b = (u or Unit.DIMLESS for u in units)
        if b is Unit.DIMLESS:
            return a
        return Unit.DIMLESS if a is b and a is not Unit.MIXED else Unit.MIXED
    if rule == "power":
        if units[1] not in (None, Unit.DIMLESS, Unit.MIXED):
            raise TypeRuleError(f"{spec.name}: the exponent must be dimensionless, got {units[1].value}", 1)
        return Unit.DIMLESS if units[0] in (None, Unit.DIMLESS) else Unit.MIXED
    if rule == "power_keep":
        return Unit.DIMLESS if units[0] is Unit.DIMLESS else Unit.MIXED
    if rule == "covariance":
        return Unit.DIMLESS if units[0] is Unit.DIMLESS and units[1] is Unit.DIMLESS else Unit.MIXED
    raise AssertionError(f"unknown unit rule {rule!r}")


def apply_operator(spec: OperatorSpec, args: tuple[Value, ...], *, units: bool = False) -> Value:
    """Value of ``spec`` applied to argument values; raises :class:`TypeRuleError` when ill-typed."""
    if len(args) != spec.arity:
        raise TypeRuleError(f"{spec.name} takes {spec.arity} argument{'s' * (spec.arity != 1)} "
                            f"({', '.join(k.value for k in spec.arg_kinds)}), got {len(args)}")
    non_const = False
    for i, (slot, value) in enumerate(zip(spec.arg_kinds, args)):
        if not _accepts(slot, value.kind):
            raise TypeRuleError(f"{spec.name}: argument {i + 1} must be {_describe(slot)}, "
                                f"got {_describe(value.kind)}", i)
        if value.kind is _C and i in spec.no_const_slots:
            raise TypeRuleError(f"{spec.name}: argument {i + 1} cannot be a constant (a number there means "
                                f"a window: write ts_{spec.name}(x, d), or put the constant first)", i)
        non_const = non_const or value.kind in (_S, _B)
    if not non_const:
        raise TypeRuleError(f"{spec.name} is applied to constants only")
    unit = _result_unit(spec, args) if units else None
    if spec.result_kind is _B:
        unit = None
    return Value(spec.result_kind, unit)


def check(expr: Expr, *, units: bool = False, fields: frozenset[str] | None = None) -> Value:
    """Type-check an expression tree and return its value.

    Raises:
        ExpressionError: naming the offending sub-expression (``position`` is ``None``: trees carry no
            columns), for an unknown operator, an unknown field (when ``fields`` is given), a bad
            argument kind or a unit mismatch.
    """
    def visit(node: Expr) -> Value:
        if isinstance(node, Call):
            spec = OPERATORS.get(node.op)
            if spec is None or spec.name != node.op:
                raise ExpressionError(f"unknown operator {node.op!r} in tree (canonical names only)",
                                      None, node.op)
            values = tuple(visit(a) for a in node.args)
            try:
                return apply_operator(spec, values, units=units)
            except TypeRuleError as exc:
                raise ExpressionError(f"{exc.message} in {canonical(node)}", None,
                                      canonical(node)) from None
        if isinstance(node, Field):
            if node.name in GROUPS:
                raise ExpressionError(f"{node.name!r} is a group, not a field", None, node.name)
            if fields is not None and node.name not in fields and node.name not in FIELD_UNITS \
                    and not ADV_PATTERN.match(node.name):
                raise ExpressionError(f"unknown field {node.name!r}", None, node.name)
            return leaf_value(node, units=units)
        if isinstance(node, Group):
            if node.name not in GROUPS:
                raise ExpressionError(f"unknown group {node.name!r}", None, node.name)
            return leaf_value(node, units=units)
        if isinstance(node, Const | Window):
            return leaf_value(node, units=units)
        raise ExpressionError(f"not an expression node: {node!r}")

    return visit(expr)


def checked_canonical(expr: Expr, *, units: bool = False) -> str:
    """The canonical text of a hand-built tree after type-checking it (:func:`check`, then
    :func:`~alpha_env.grammar.printer.canonical`).

    Raises:
        ExpressionError: as :func:`check`.
    """
    check(expr, units=units)
    return canonical(expr)
