"""Recursive-descent parser of the infix language (the notation of "101 Formulaic Alphas").

Grammar (precedence climbing for the binary levels; see :mod:`alpha_env.grammar.operators`)::

    expr     := binary(2) [ '?' expr ':' expr ]
    binary(p):= unary { op binary(p+1) }          for infix levels 2 (||) .. 6 (* /), left-assoc
    unary    := ('-' | '!') unary | power
    power    := primary [ '^' unary ]              right-assoc through unary -> power
    primary  := NUMBER | NAME | NAME '(' [expr {',' expr}] ')' | '(' expr ')'

Semantics fixed here (documented in ``docs/grammar.md``):

* names are case-insensitive (``Ts_Rank``, ``IndClass.sector``) and canonicalised to lower case;
* a numeric argument in a window slot is floored to whole days (``9.91 -> 9``, must be >= 1);
  ``min``/``max`` whose second argument is a number mean ``ts_min``/``ts_max``;
  ``adv(20)`` is ``adv20``; ``scale(x)`` is ``scale(x, 1)``;
* arithmetic on literals only is folded into one literal (``-1 * 1 -> -1``, ``1 - 0.25 -> 0.75``), so a
  prefix minus on a number is a negative literal; any other operator on constants only is an error;
* with ``fields=None`` any identifier that is not an operator or group is a field (the data layer checks
  that the panel has it); with ``fields`` given, only base fields, ``adv{d}`` and those names are.

Limits (each an :class:`ExpressionError` naming the limit): at most :data:`MAX_CHARS` (32,000) characters,
checked before tokenizing; nesting at most :data:`MAX_DEPTH` (100) levels, counting parentheses, calls,
prefix operators and ``^``; at most :data:`MAX_NODES` (1,000) tree nodes; windows and ``adv{d}`` at most
:data:`MAX_DAYS` (10,000) days (the evaluator further requires them to fit the panel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import NAME_PATTERN, Call, Const, Expr, Field, Group, Window
from alpha_env.grammar.checker import (
    ADV_PATTERN,
    FIELD_UNITS,
    GROUPS,
    TypeRuleError,
    apply_operator,
    leaf_value,
)
from alpha_env.grammar.dialects import brain as brain_dialect
from alpha_env.grammar.dialects import qlib as qlib_dialect
from alpha_env.grammar.kinds import SERIES_LIKE, Kind, Value
from alpha_env.grammar.lexer import MAX_CHARS, Lexeme, tokenize
from alpha_env.grammar.operators import OPERATORS, OperatorSpec
from alpha_env.grammar.printer import canonical

__all__ = ["parse", "parse_with_value", "expression_error", "DIALECTS", "DIALECT_CHOICES", "MAX_DEPTH",
           "MAX_NODES", "MAX_DAYS", "MAX_CHARS"]

#: The notations: the 101-Alphas language (default), Qlib expressions, BRAIN FASTEXPR.
DIALECTS: tuple[str, ...] = ("alpha101", "qlib", "brain")
#: Accepted values of ``dialect``: a notation, or ``auto`` (the one notation that reads the text, or the
#: several that read it into the same tree; different readings are an error naming them).
DIALECT_CHOICES: tuple[str, ...] = ("auto", *DIALECTS)

_BINARY_LEVELS: dict[str, tuple[int, str]] = {
    "||": (2, "or"), "&&": (3, "and"),
    "==": (4, "eq"), "!=": (4, "ne"), "<": (4, "lt"), "<=": (4, "le"), ">": (4, "gt"), ">=": (4, "ge"),
    "+": (5, "add"), "-": (5, "sub"), "*": (6, "mul"), "/": (6, "div"),
}


def expression_error(message: str, position: int | None, text: str | None, hint: str | None = None
                     ) -> ExpressionError:
    """An :class:`ExpressionError` whose text reads ``message at column N; hint``."""
    if hint is None:
        return ExpressionError(message, position, text)
    where = f" at column {position}" if position is not None else ""
    exc = ExpressionError(f"{message}{where}; {hint}", position, text)
    exc.message = f"{message}; {hint}"
    return exc


#: Deepest accepted nesting (tree height); deeper texts get an ExpressionError, not a RecursionError.
MAX_DEPTH = 100
#: Most nodes (postfix tokens: operators, fields, constants, windows, groups) in one expression tree.
MAX_NODES = 1_000
#: Longest window or ``adv{d}`` look-back the language accepts, in trading days (about 40 years); the
#: evaluator further requires it to fit the panel.
MAX_DAYS = 10_000


@dataclass(frozen=True, slots=True)
class _Node:
    expr: Expr
    pos: int
    value: Value
    height: int = 1
    size: int = 1


class _Parser:
    def __init__(self, text: str, fields: frozenset[str] | None, units: bool, scan: bool = True):
        self.text = text
        self.fields = fields
        self.units = units
        self.lexemes = tokenize(text) if scan else [Lexeme("eof", "", len(text))]
        self.i = 0
        self.nesting = 0

    # ---------------------------------------------------------------- builder (dialect front ends)
    def number(self, value: float, pos: int) -> _Node:
        """A literal node (the dialect front ends' :class:`~alpha_env.grammar.dialects.base.Builder`)."""
        return _Node(Const(value), pos, Value(Kind.CONST))

    def leaf(self, name: str, pos: int) -> _Node:
        """A field or group node for ``name``, checked as a bare name of the 101 language."""
        return self.name(Lexeme("name", name, pos))

    def apply(self, op: str, args: list[_Node], pos: int) -> _Node:
        """Operator ``op`` (canonical name of the one table) on built ``args``, typed and folded."""
        return self.make_call(OPERATORS[op], list(args), args[0].pos if args else pos, pos)

    # ---------------------------------------------------------------- helpers
    def error(self, message: str, pos: int | None, hint: str | None = None) -> ExpressionError:
        return expression_error(message, pos, self.text, hint)

    @property
    def cur(self) -> Lexeme:
        return self.lexemes[self.i]

    def advance(self) -> Lexeme:
        lex = self.lexemes[self.i]
        self.i += 1
        return lex

    def at(self, symbol: str) -> bool:
        return self.cur.kind == "symbol" and self.cur.text == symbol

    def describe(self, lex: Lexeme) -> str:
        return "end of expression" if lex.kind == "eof" else repr(lex.text)

    # ---------------------------------------------------------------- grammar
    def parse(self) -> _Node:
        if self.cur.kind == "eof":
            raise self.error("empty expression", 0)
        node = self.expr()
        if self.cur.kind != "eof":
            if self.at(")"):
                raise self.error("unbalanced parentheses: ')' without a matching '('", self.cur.pos)
            raise self.error(f"unexpected {self.describe(self.cur)} after a complete expression",
                             self.cur.pos)
        return node

    def expr(self) -> _Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", self.cur.pos)
        try:
            return self._expr()
        finally:
            self.nesting -= 1

    def _expr(self) -> _Node:
        cond = self.binary(2)
        if not self.at("?"):
            return cond
        qpos = self.advance().pos
        yes = self.expr()
        if not self.at(":"):
            raise self.error(f"expected ':' of the '?' at column {qpos}, found {self.describe(self.cur)}",
                             self.cur.pos)
        self.advance()
        no = self.expr()
        return self.make_call(OPERATORS["if_else"], [cond, yes, no], cond.pos, qpos)

    def binary(self, level: int) -> _Node:
        left = self.unary()
        while True:
            lex = self.cur
            entry = _BINARY_LEVELS.get(lex.text) if lex.kind == "symbol" else None
            if entry is None or entry[0] < level:
                return left
            prec, name = entry
            self.advance()
            right = self.binary(prec + 1)
            left = self.make_call(OPERATORS[name], [left, right], left.pos, lex.pos)

    def unary(self) -> _Node:
        if self.at("-") or self.at("!"):
            lex = self.advance()
            self.nesting += 1
            if self.nesting > MAX_DEPTH:
                raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", lex.pos)
            try:
                operand = self.unary()
            finally:
                self.nesting -= 1
            spec = OPERATORS["neg" if lex.text == "-" else "not"]
            return self.make_call(spec, [operand], lex.pos, lex.pos)
        return self.power()

    def power(self) -> _Node:
        base = self.primary()
        if self.at("^"):
            lex = self.advance()
            self.nesting += 1
            if self.nesting > MAX_DEPTH:
                raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", lex.pos)
            try:
                exponent = self.unary()
            finally:
                self.nesting -= 1
            return self.make_call(OPERATORS["pow"], [base, exponent], base.pos, lex.pos)
        return base

    def primary(self) -> _Node:
        lex = self.cur
        if lex.kind == "number":
            self.advance()
            assert lex.number is not None
            return _Node(Const(lex.number), lex.pos, Value(Kind.CONST))
        if lex.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(lex)
            return self.name(lex)
        if self.at("("):
            self.advance()
            if self.at(")"):
                raise self.error("empty parentheses", self.cur.pos)
            inner = self.expr()
            if not self.at(")"):
                raise self.error(f"unbalanced parentheses: '(' at column {lex.pos} is not closed "
                                 f"(found {self.describe(self.cur)})", self.cur.pos)
            self.advance()
            return _Node(inner.expr, lex.pos, inner.value, inner.height, inner.size)
        if lex.kind == "eof":
            raise self.error("unexpected end of expression (an operand is missing)", lex.pos)
        if self.at(")"):
            raise self.error("unexpected ')' (an operand is missing)", lex.pos)
        raise self.error(f"unexpected {self.describe(lex)} (an operand is expected)", lex.pos)

    def arguments(self) -> list[_Node]:
        open_pos = self.advance().pos  # '('
        args: list[_Node] = []
        if self.at(")"):
            self.advance()
            return args
        while True:
            args.append(self.expr())
            if self.at(","):
                self.advance()
                continue
            if self.at(")"):
                self.advance()
                return args
            raise self.error(f"unbalanced parentheses: '(' at column {open_pos} is not closed "
                             f"(expected ',' or ')', found {self.describe(self.cur)})", self.cur.pos)

    # ---------------------------------------------------------------- names
    def name(self, lex: Lexeme) -> _Node:
        raw = lex.text
        name = raw.lower()
        if "." in name:
            head, _, tail = name.partition(".")
            if head == "indclass" and tail in GROUPS:
                return _Node(Group(tail), lex.pos, Value(Kind.GROUP))
            if head == "indclass":
                hint = self.did_you_mean(tail, GROUPS, "IndClass.")
                raise self.error(f"unknown group {raw!r}", lex.pos, hint)
            raise self.error(f"unknown name {raw!r}", lex.pos)
        if name in GROUPS:
            return _Node(Group(name), lex.pos, Value(Kind.GROUP))
        if OPERATORS.get(name) is not None or name == "adv":
            what = "adv20 or adv(20)" if name == "adv" else f"{name}(...)"
            raise self.error(f"operator {raw!r} needs arguments: {what}", lex.pos)
        if not NAME_PATTERN.match(name):
            raise self.error(f"invalid name {raw!r}", lex.pos)
        adv = ADV_PATTERN.match(name)
        if adv is not None:
            self.check_days(adv.group(1), "adv", lex.pos)
        known = name in FIELD_UNITS or adv is not None
        if not known and self.fields is not None and name not in self.fields:
            choices = [*FIELD_UNITS, *sorted(self.fields)]
            raise self.error(f"unknown field {raw!r}", lex.pos, self.did_you_mean(name, choices))
        field = Field(name)
        return _Node(field, lex.pos, leaf_value(field, units=self.units))

    def check_days(self, days: str | float, what: str, pos: int) -> None:
        """Reject a window or ``adv`` look-back above :data:`MAX_DAYS` (``days`` as digits or a number)."""
        if isinstance(days, str):
            too_long = len(days) > len(str(MAX_DAYS)) or int(days) > MAX_DAYS
            shown = days if len(days) <= 12 else f"a {len(days):,}-digit number of"
        else:
            too_long = days > MAX_DAYS
            shown = f"{days:g}"
        if too_long:
            raise self.error(f"{what}: a look-back of {shown} days is longer than the limit of "
                             f"{MAX_DAYS:,} days", pos)

    @staticmethod
    def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str | None:
        import difflib

        match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
        return f"did you mean '{prefix}{match[0]}'?" if match else None

    def call(self, lex: Lexeme) -> _Node:
        name = lex.text.lower()
        args = self.arguments()
        if name == "adv":
            if len(args) != 1 or not isinstance(args[0].expr, Const) or args[0].expr.value < 1:
                raise self.error("adv takes one positive number of days: adv(20)", lex.pos)
            self.check_days(args[0].expr.value, "adv", args[0].pos)
            field = Field(f"adv{math.floor(args[0].expr.value)}")
            return _Node(field, lex.pos, leaf_value(field, units=self.units))
        spec = OPERATORS.get(name)
        if spec is None:
            hint = OPERATORS.suggest(name)
            raise self.error(f"unknown operator {lex.text!r}", lex.pos,
                             f"did you mean '{hint}'?" if hint else None)
        if spec.name in ("min", "max") and len(args) == 2 and isinstance(args[1].expr, Const):
            days = args[1].expr.value
            if days < 1:
                raise self.error(f"{spec.name}(x, {args[1].expr.value:g}): a number as second argument is a "
                                 f"look-back window (ts_{spec.name}) and must be at least 1 day; write "
                                 f"{spec.name}({args[1].expr.value:g}, x) for the element-wise "
                                 f"{spec.name}imum",
                                 args[1].pos)
            spec = OPERATORS[f"ts_{spec.name}"]
        if spec.name == "scale" and len(args) == 1:
            args.append(_Node(Const(1.0), lex.pos, Value(Kind.CONST)))
        return self.make_call(spec, args, lex.pos, lex.pos)

    # ---------------------------------------------------------------- typing
    def make_call(self, spec: OperatorSpec, args: list[_Node], start: int, op_pos: int) -> _Node:
        if len(args) != spec.arity:
            raise self.error(f"{spec.name} takes {spec.arity} argument{'s' * (spec.arity != 1)} "
                             f"({', '.join(k.value for k in spec.arg_kinds)}), got {len(args)}", op_pos)
        converted: list[_Node] = []
        for i, (slot, arg) in enumerate(zip(spec.arg_kinds, args)):
            if slot is Kind.WINDOW and isinstance(arg.expr, Const):
                days = math.floor(arg.expr.value)
                if days < 1:
                    raise self.error(f"{spec.name}: window must be at least 1 day, got "
                                     f"{arg.expr.value:g}", arg.pos)
                self.check_days(days, spec.name, arg.pos)
                arg = _Node(Window(days), arg.pos, Value(Kind.WINDOW))
            elif arg.value.kind is Kind.GROUP and slot is not Kind.GROUP:
                raise self.error(f"{spec.name}: argument {i + 1} must be {_slot_text(slot)}, got the group "
                                 f"{arg.expr.name!r}", arg.pos)  # type: ignore[union-attr]
            converted.append(arg)
        if spec.fold is not None and all(isinstance(a.expr, Const) for a in converted):
            try:
                value = float(spec.fold(*(a.expr.value for a in converted)))  # type: ignore[union-attr]
            except (ArithmeticError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise self.error(f"{spec.name} of constants is not a finite number", op_pos)
            return _Node(Const(value), start, Value(Kind.CONST))
        height = 1 + max((a.height for a in converted), default=0)
        if height > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", op_pos)
        size = 1 + sum(a.size for a in converted)
        if size > MAX_NODES:
            raise self.error(f"expression has more than {MAX_NODES:,} nodes (operators, fields, constants "
                             "and windows)", op_pos)
        try:
            value = apply_operator(spec, tuple(a.value for a in converted), units=self.units)
        except TypeRuleError as exc:
            pos = converted[exc.slot].pos if exc.slot is not None else op_pos
            raise self.error(exc.message, pos) from None
        return _Node(Call(spec.name, tuple(a.expr for a in converted)), start, value, height, size)


def _slot_text(kind: Kind) -> str:
    return {Kind.SERIES: "a series", Kind.BOOL: "a boolean", Kind.WINDOW: "a window (number of days)",
            Kind.CONST: "a constant", Kind.GROUP: "a group"}[kind]


def _field_set(fields: Iterable[str] | None) -> frozenset[str] | None:
    if fields is None:
        return None
    if isinstance(fields, str):
        raise TypeError("fields must be an iterable of names, not a string")
    return frozenset(f.lower() for f in fields)


def parse_with_value(text: str, *, fields: Iterable[str] | None = None, units: bool = False,
                     dialect: str = "alpha101") -> tuple[Expr, Value]:
    """Like :func:`parse`, also returning the expression's abstract value (kind and unit)."""
    if dialect == "auto":
        return _auto(text, fields, units)
    if dialect not in DIALECTS:
        raise ExpressionError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECT_CHOICES)}")
    try:
        if dialect == "alpha101":
            node = _Parser(text, _field_set(fields), units).parse()
        else:
            front = qlib_dialect if dialect == "qlib" else brain_dialect
            node = front.build(text, _Parser(text, _field_set(fields), units, scan=False))
    except RecursionError:  # a safety net: MAX_DEPTH is meant to stop every deep input first
        raise expression_error(f"expression nested deeper than {MAX_DEPTH} levels", None, text) from None
    if node.value.kind not in SERIES_LIKE:
        raise expression_error(f"an alpha must be a series, got {_slot_text(node.value.kind)}", node.pos,
                               text)
    return node.expr, node.value


def _auto(text: str, fields: Iterable[str] | None, units: bool) -> tuple[Expr, Value]:
    """Read ``text`` in every notation; one tree wins, or several identical ones (see DIALECT_CHOICES)."""
    readings: dict[str, tuple[Expr, Value]] = {}
    errors: dict[str, ExpressionError] = {}
    for name in DIALECTS:
        try:
            readings[name] = parse_with_value(text, fields=fields, units=units, dialect=name)
        except ExpressionError as exc:
            errors[name] = exc
    trees = {expr for expr, _ in readings.values()}
    if len(trees) == 1:
        return next(iter(readings.values()))
    if not readings:  # the error of the notation the text looks most like
        raise errors["qlib" if "$" in text else "alpha101"]
    shown = "; ".join(f"{name}: {canonical(expr)}" for name, (expr, _) in readings.items())
    raise ExpressionError(f"ambiguous expression: the dialects {', '.join(readings)} read it differently "
                          f"({shown}); choose one with dialect=", None, text)


def parse(text: str, *, fields: Iterable[str] | None = None, units: bool = False,
          dialect: str = "alpha101") -> Expr:
    """Parse infix ``text`` into an expression tree.

    Args:
        text: the expression, e.g. ``"rank(-delta(close, 5))"``.
        fields: allowed custom field names besides the base fields and ``adv{d}``; ``None`` accepts any
            identifier that is not an operator or group as a field.
        units: also check units (price / volume / dimensionless).
        dialect: ``alpha101`` (the language of ``docs/grammar.md``), ``qlib`` (Qlib expressions:
            ``Mean($close, 5)``), ``brain`` (WorldQuant BRAIN FASTEXPR: ``ts_std_dev(close, 20)``) or
            ``auto`` (see :data:`DIALECT_CHOICES`); every dialect gives the same kind of tree, whose
            canonical text is the 101 language's (the "Dialects" section of ``docs/grammar.md``).

    Returns:
        The tree; its value is a series or a boolean series.

    Raises:
        ExpressionError: with ``position`` the 0-based column of the problem.
    """
    return parse_with_value(text, fields=fields, units=units, dialect=dialect)[0]
