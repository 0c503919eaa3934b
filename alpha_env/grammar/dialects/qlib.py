"""Qlib expressions (``Mean($close, 5) / $close``) read into the one AST.

Notation: Qlib evaluates its expressions as Python, so the precedence is Python's: ``**`` (right) >
prefix ``-`` > ``* /`` > ``+ -`` > ``&`` (And) > ``|`` (Or) > comparisons, which do not chain here
(``a < b < c`` is an error; Qlib would silently apply Python's ``and``). Fields are ``$name``; a bare
name is an error. Operator names are Qlib's class names (matched case-insensitively).

Every name maps onto operators of :data:`alpha_env.grammar.operators.OPERATORS` (see the "Dialects"
section of ``docs/grammar.md`` for the table and the differences). The one difference common to all
rolling operators: Qlib rolls with ``min_periods=1`` (partial windows at the start, NaNs skipped inside a
window), alpha-env's windows need all ``d`` days valid; the values agree wherever the window is full and
NaN-free.
"""

from __future__ import annotations

from typing import Any

from alpha_env.errors import ExpressionError
from alpha_env.grammar.dialects.base import Builder, Converter, Param, Rule, const_of
from alpha_env.grammar.dialects.surface import Syntax, parse_surface

__all__ = ["SYNTAX", "RULES", "UNSUPPORTED", "build", "names"]

SYNTAX = Syntax(
    name="qlib",
    binary={"<": (2, "lt"), "<=": (2, "le"), ">": (2, "gt"), ">=": (2, "ge"), "==": (2, "eq"),
            "!=": (2, "ne"), "|": (3, "or"), "&": (4, "and"), "+": (5, "add"), "-": (5, "sub"),
            "*": (6, "mul"), "/": (6, "div"), "**": (8, "pow")},
    right_assoc=frozenset({"**"}),
    non_assoc=frozenset({"<", "<=", ">", ">=", "==", "!="}),
    prefix={"-": (7, "neg")},
    field_prefix="$",
    strings=True,
)

_X = (Param("feature"), Param("N"))
_PAIR = (Param("feature_left"), Param("feature_right"))
_PAIR_N = (Param("feature_left"), Param("feature_right"), Param("N"))
_ONE = (Param("feature"),)


def _days(b: Builder, node: Any, name: str, minimum: int = 1) -> int:
    """Qlib's ``N`` as whole days; refuses the expanding (``N = 0``) and EWM-alpha (``0 < N < 1``) forms."""
    value = const_of(node)
    if value is None:
        raise ExpressionError(f"{name}: N must be a number of days (qlib dialect)", node.pos, b.text)
    if value == 0:
        raise ExpressionError(f"{name}(x, 0) is Qlib's expanding window (all history), which alpha-env does "
                              "not support: windows have a fixed number of days", node.pos, b.text)
    if not float(value).is_integer():
        raise ExpressionError(f"{name}: N must be a whole number of days, got {value:g}", node.pos, b.text)
    if value < minimum:
        raise ExpressionError(f"{name}: N must be at least {minimum} (Qlib's rule), got {value:g}", node.pos,
                              b.text)
    return int(value)


def _rolling(op: str, qname: str, minimum: int = 1) -> tuple[tuple[Param, ...], Rule]:
    def rule(b: Builder, a: list[Any], pos: int) -> Any:
        _days(b, a[1], qname, minimum)
        return b.apply(op, [a[0], a[1]], pos)
    return _X, rule


def _plain(op: str, params: tuple[Param, ...]) -> tuple[tuple[Param, ...], Rule]:
    return params, lambda b, a, pos: b.apply(op, list(a), pos)


def _ref(b: Builder, a: list[Any], pos: int) -> Any:
    value = const_of(a[1])
    if value is not None and value < 0:
        raise ExpressionError(f"look-ahead: Ref with a negative offset reads the future (Ref(x, {value:g}))",
                              a[1].pos, b.text)
    if value == 0:
        raise ExpressionError("Ref(x, 0) is Qlib's first value of the whole series, which reads the future "
                              "of earlier days; write the field itself for today's value", a[1].pos, b.text)
    _days(b, a[1], "Ref")
    return b.apply("delay", [a[0], a[1]], pos)


def _var(b: Builder, a: list[Any], pos: int) -> Any:
    _days(b, a[1], "Var")
    return b.apply("pow", [b.apply("stddev", [a[0], a[1]], pos), b.number(2.0, pos)], pos)


def _rank(b: Builder, a: list[Any], pos: int) -> Any:
    # Qlib: percentileofscore(window, today) / len(window) = 100 * (average rank / d) / d
    d = _days(b, a[1], "Rank")
    return b.apply("mul", [b.apply("ts_rank", [a[0], a[1]], pos), b.number(100.0 / d, pos)], pos)


def _med(b: Builder, a: list[Any], pos: int) -> Any:
    _days(b, a[1], "Med")
    return b.apply("ts_quantile", [a[0], a[1], b.number(0.5, pos)], pos)


def _quantile(b: Builder, a: list[Any], pos: int) -> Any:
    _days(b, a[1], "Quantile")
    q = const_of(a[2])
    if q is None or not 0.0 <= q <= 1.0:
        raise ExpressionError("Quantile: qscore must be a number in [0, 1]", a[2].pos, b.text)
    return b.apply("ts_quantile", [a[0], a[1], a[2]], pos)


def _wma(b: Builder, a: list[Any], pos: int) -> Any:
    # Qlib: weights 0, 1, ..., d-1 (oldest 0) normalised to sum 1, then nanmean (a further / d):
    # decay_linear over the last d-1 days (weights d-1 .. 1, today heaviest) divided by d.
    d = _days(b, a[1], "WMA", minimum=2)
    return b.apply("div", [b.apply("decay_linear", [a[0], b.number(float(d - 1), pos)], pos),
                           b.number(float(d), pos)], pos)


def _count(b: Builder, a: list[Any], pos: int) -> Any:
    # Qlib: rolling(N).count(), the window's valid values: N - the window's NaN count
    d = _days(b, a[1], "Count")
    return b.apply("sub", [b.number(float(d), pos), b.apply("ts_count_nans", [a[0], a[1]], pos)], pos)


def _ema(b: Builder, a: list[Any], pos: int) -> Any:
    # Qlib: ewm(span=N).mean() for N >= 1; 0 < N < 1 is ewm(alpha=N), N = 0 an expanding weighting
    value = const_of(a[1])
    if value is not None and 0.0 < value < 1.0:
        raise ExpressionError(f"EMA(x, {value:g}) is Qlib's ewm with alpha={value:g}; alpha-env's ts_ema "
                              "takes a span of whole days (span = 2 / alpha - 1)", a[1].pos, b.text)
    _days(b, a[1], "EMA")
    return b.apply("ts_ema", [a[0], a[1]], pos)


def _extreme(op: str) -> Rule:
    # Greater/Less are numpy maximum/minimum; alpha-env's max/min take a constant first, never second.
    def rule(b: Builder, a: list[Any], pos: int) -> Any:
        left, right = a
        if const_of(right) is not None and const_of(left) is None:
            left, right = right, left
        return b.apply(op, [left, right], pos)
    return rule


def _power(b: Builder, a: list[Any], pos: int) -> Any:
    return b.apply("pow", [a[0], a[1]], pos)


#: Qlib name (lower case) -> (parameters, rule onto operators of the one table).
RULES: dict[str, tuple[tuple[Param, ...], Rule]] = {
    "ref": (_X, _ref),
    "mean": _rolling("ts_mean", "Mean"),
    "sum": _rolling("sum", "Sum"),
    "std": _rolling("stddev", "Std"),
    "var": (_X, _var),
    "skew": _rolling("ts_skewness", "Skew", minimum=3),
    "kurt": _rolling("ts_kurtosis", "Kurt", minimum=4),
    "max": _rolling("ts_max", "Max"),
    "min": _rolling("ts_min", "Min"),
    "idxmax": _rolling("ts_argmax", "IdxMax"),
    "idxmin": _rolling("ts_argmin", "IdxMin"),
    "quantile": ((Param("feature"), Param("N"), Param("qscore")), _quantile),
    "med": (_X, _med),
    "mad": _rolling("ts_mad", "Mad"),
    "rank": (_X, _rank),
    "delta": _rolling("delta", "Delta"),
    "slope": _rolling("ts_slope", "Slope", minimum=2),
    "rsquare": _rolling("ts_rsquare", "Rsquare", minimum=2),
    "resi": _rolling("ts_resi", "Resi", minimum=2),
    "wma": (_X, _wma),
    "corr": (_PAIR_N, lambda b, a, pos: (_days(b, a[2], "Corr"), b.apply("correlation", a, pos))[1]),
    "cov": (_PAIR_N, lambda b, a, pos: (_days(b, a[2], "Cov"), b.apply("covariance", a, pos))[1]),
    "greater": (_PAIR, _extreme("max")),
    "less": (_PAIR, _extreme("min")),
    "if": _plain("if_else", (Param("condition"), Param("feature_left"), Param("feature_right"))),
    "eq": _plain("eq", _PAIR), "ne": _plain("ne", _PAIR), "gt": _plain("gt", _PAIR),
    "ge": _plain("ge", _PAIR), "lt": _plain("lt", _PAIR), "le": _plain("le", _PAIR),
    "and": _plain("and", _PAIR), "or": _plain("or", _PAIR), "not": _plain("not", _ONE),
    "add": _plain("add", _PAIR), "sub": _plain("sub", _PAIR), "mul": _plain("mul", _PAIR),
    "div": _plain("div", _PAIR),
    "abs": _plain("abs", _ONE), "sign": _plain("sign", _ONE), "log": _plain("log", _ONE),
    "power": ((Param("feature"), Param("exponent")), _power),
    "count": (_X, _count),
    "ema": (_X, _ema),
}

#: Qlib names that are recognised but refused, with the reason.
UNSUPPORTED: dict[str, str] = {
    "mask": "Mask(feature, instrument) evaluates the feature on another, named instrument (Qlib reads that "
            "instrument's series, usually a benchmark index, in place of the current one); an alpha-env "
            "expression has no instrument literal and its panels hold only the universe's stocks, so the "
            "value would have to come from outside the panel",
}


def names() -> tuple[str, ...]:
    """Every Qlib operator name this front end reads (lower case)."""
    return tuple(RULES)


def build(text: str, builder: Builder) -> Any:
    """The built (typed) root node of the Qlib expression ``text``.

    Raises:
        ExpressionError: a syntax error, an unknown or unsupported name (named with the dialect), a
            look-ahead ``Ref``, or any type/window error of the 101 language.
    """
    root, _ = parse_surface(text, SYNTAX)
    return Converter("qlib", builder, RULES, unsupported=UNSUPPORTED, bare_names=False)(root)

