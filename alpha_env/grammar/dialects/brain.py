"""WorldQuant BRAIN FASTEXPR (``ts_std_dev(close, 20)``, ``winsorize(x, std=4)``) read into the one AST.

Notation: C-like, as the 101 language (``? :``, ``||``, ``&&``, comparisons, ``+ -``, ``* /``, prefix
``- !``, ``^``), plus keyword arguments (``name=value``, ``true``/``false``, quoted strings for options)
and ``name = expr;`` assignments before the final expression. Bare names are fields or groups.

Names: the BRAIN-specific names of :data:`RULES` map onto operators of the one table, possibly with
argument rewriting; ``add``/``subtract``-style variadic functions and ``max``/``min`` (element-wise in
BRAIN, any number of inputs) are folded pairwise; any other name is read as the 101 language's operator
of that spelling (BRAIN shares ``ts_delta``, ``ts_corr``, ``rank``, ``group_neutralize``, ...), with
alpha-env's semantics (``docs/grammar.md``, "Dialects", lists what differs).
"""

from __future__ import annotations

from typing import Any

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Group
from alpha_env.grammar.dialects.base import Builder, Converter, Param, Rule, const_of, window_of
from alpha_env.grammar.dialects.surface import SCall, Syntax, parse_surface
from alpha_env.grammar.operators import OPERATORS

__all__ = ["SYNTAX", "RULES", "VARIADIC", "UNSUPPORTED", "build", "names"]

SYNTAX = Syntax(
    name="brain",
    binary={"||": (2, "or"), "&&": (3, "and"),
            "==": (4, "eq"), "!=": (4, "ne"), "<": (4, "lt"), "<=": (4, "le"), ">": (4, "gt"),
            ">=": (4, "ge"),
            "+": (5, "add"), "-": (5, "sub"), "*": (6, "mul"), "/": (6, "div"), "^": (8, "pow")},
    right_assoc=frozenset({"^"}),
    prefix={"-": (7, "neg"), "!": (7, "not")},
    ternary=True,
    keywords=True,
    strings=True,
    statements=True,
)

_X = (Param("x"),)
_XD = (Param("x"), Param("d"))


def _flag(b: Builder, node: Any, name: str, op: str) -> bool:
    value = const_of(node)
    if value is None:
        raise ExpressionError(f"{op}: {name} must be true or false", node.pos, b.text)
    return value != 0.0


def _number(b: Builder, node: Any, name: str, op: str) -> float:
    value = const_of(node)
    if value is None:
        raise ExpressionError(f"{op}: {name} must be a number", getattr(node, "pos", None), b.text)
    return value


def _av_diff(b: Builder, a: list[Any], pos: int) -> Any:
    return b.apply("sub", [a[0], b.apply("ts_mean", [a[0], a[1]], pos)], pos)


def _arg_extreme(op: str) -> Rule:
    # BRAIN: 0 = today, 1 = yesterday, ...; alpha-env's ts_argmax: 1 = oldest day .. d = today
    def rule(b: Builder, a: list[Any], pos: int) -> Any:
        d = window_of(a[1], f"ts_arg_{op[6:]}", b.text)
        return b.apply("sub", [b.number(float(d), pos), b.apply(op, [a[0], a[1]], pos)], pos)
    return rule


def _ts_scale(b: Builder, a: list[Any], pos: int) -> Any:
    x, d, constant = a
    low = b.apply("ts_min", [x, d], pos)
    scaled = b.apply("div", [b.apply("sub", [x, low], pos),
                             b.apply("sub", [b.apply("ts_max", [x, d], pos), low], pos)], pos)
    if const_of(constant) == 0.0:
        return scaled
    return b.apply("add", [scaled, constant], pos)


def _regression(b: Builder, a: list[Any], pos: int) -> Any:
    y, x, d, lag, rettype = a
    lag_days = _number(b, lag, "lag", "ts_regression")
    kind = _number(b, rettype, "rettype", "ts_regression")
    if lag_days < 0:
        raise ExpressionError("look-ahead: ts_regression with a negative lag reads the future", lag.pos,
                              b.text)
    if lag_days > 0:
        x = b.apply("delay", [x, lag], pos)
    if kind == 6:
        return b.apply("pow", [b.apply("correlation", [y, x, d], pos), b.number(2.0, pos)], pos)
    if kind not in (0, 1, 2, 3):
        raise ExpressionError(f"ts_regression: rettype {kind:g} is not supported (supported: 0 residual, 1 "
                              "intercept, 2 slope, 3 fitted value, 6 R-squared)", rettype.pos, b.text)
    beta = b.apply("div", [b.apply("covariance", [y, x, d], pos),
                           b.apply("pow", [b.apply("stddev", [x, d], pos), b.number(2.0, pos)], pos)], pos)
    if kind == 2:
        return beta
    alpha = b.apply("sub", [b.apply("ts_mean", [y, d], pos),
                            b.apply("mul", [beta, b.apply("ts_mean", [x, d], pos)], pos)], pos)
    if kind == 1:
        return alpha
    fitted = b.apply("add", [alpha, b.apply("mul", [beta, x], pos)], pos)
    return fitted if kind == 3 else b.apply("sub", [y, fitted], pos)


def _clip(b: Builder, x: Any, limit: float, pos: int) -> Any:
    return b.apply("max", [b.number(-limit, pos), b.apply("min", [b.number(limit, pos), x], pos)], pos)


def _normalize(b: Builder, a: list[Any], pos: int) -> Any:
    x, use_std, limit = a
    if _flag(b, use_std, "useStd", "normalize"):
        out = b.apply("zscore", [x], pos)
    else:
        out = b.apply("indneutralize", [x, b.leaf("market", pos)], pos)
    bound = _number(b, limit, "limit", "normalize")
    return out if bound == 0.0 else _clip(b, out, abs(bound), pos)


def _winsorize(b: Builder, a: list[Any], pos: int) -> Any:
    # clip to mean +- std * sd across the day's stocks: mean + sign(z) * std * sd where |z| > std, with
    # sd = (x - mean) / z (z != 0 there) and z the cross-sectional z-score (ddof 1)
    x, std = a
    k = _number(b, std, "std", "winsorize")
    if k <= 0:
        raise ExpressionError(f"winsorize: std must be positive, got {k:g}", std.pos, b.text)
    mean = b.apply("group_mean", [x, b.leaf("market", pos)], pos)
    z = b.apply("zscore", [x], pos)
    sd = b.apply("div", [b.apply("sub", [x, mean], pos), z], pos)
    edge = b.apply("add", [mean, b.apply("mul", [b.apply("mul", [b.number(k, pos), b.apply("sign", [z], pos)],
                                                         pos), sd], pos)], pos)
    outside = b.apply("gt", [b.apply("abs", [z], pos), b.number(k, pos)], pos)
    return b.apply("if_else", [outside, edge, x], pos)


def _group_mean(b: Builder, a: list[Any], pos: int) -> Any:
    x, weight, group = a
    if const_of(weight) is None:
        raise ExpressionError("group_mean: only a constant weight is supported (an equal-weight mean)",
                              weight.pos, b.text)
    return b.apply("group_mean", [x, group], pos)


def _densify(b: Builder, a: list[Any], pos: int) -> Any:
    if not isinstance(a[0].expr, Group):
        raise ExpressionError("densify: alpha-env reads it on a group only (groups are dense codes already)",
                              a[0].pos, b.text)
    return a[0]


def _rank(b: Builder, a: list[Any], pos: int) -> Any:
    # BRAIN: (r - 1) / (n - 1) in [0, 1] (its example: (4, 3, 6, 10, 2) -> (0.5, 0.25, 0.75, 1, 0)), not
    # alpha-env's r / n; rate only tunes BRAIN's sorting precision
    return b.apply("rank01", [a[0]], pos)


def _backfill(b: Builder, a: list[Any], pos: int) -> Any:
    x, d, k, ignore = a
    if _number(b, k, "k", "ts_backfill") != 1.0:
        raise ExpressionError("ts_backfill: only k=1 (the most recent valid value) is supported", k.pos,
                              b.text)
    if not isinstance(ignore, str) or ignore.strip().upper() != "NAN":
        raise ExpressionError(f"ts_backfill: only ignore=\"NAN\" is supported (filling over zeros would turn "
                              f"a value into another), got {ignore!r}", pos, b.text)
    return b.apply("ts_backfill", [x, d], pos)


def _numbers(b: Builder, text: Any, name: str, pos: int) -> list[float]:
    if not isinstance(text, str):
        raise ExpressionError(f"bucket: {name} must be a quoted list of numbers", pos, b.text)
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ExpressionError(f"bucket: {name}={text!r} is not a comma-separated list of numbers", pos,
                              b.text) from None


def _bucket(b: Builder, a: list[Any], pos: int) -> Any:
    x, span, edges, skip_begin, skip_end, skip_both, nan_group = a
    for node, name in ((skip_begin, "skipBegin"), (skip_end, "skipEnd"), (skip_both, "skipBoth")):
        if _flag(b, node, name, "bucket"):
            raise ExpressionError(f"bucket: {name}=true is not supported (BRAIN does not document how the "
                                  "indices are numbered then)", node.pos, b.text)
    if _flag(b, nan_group, "NANGroup", "bucket"):
        raise ExpressionError("bucket: NANGroup=true is not supported (a NaN never becomes a value)",
                              nan_group.pos, b.text)
    if (span == "") == (edges == ""):
        raise ExpressionError('bucket needs exactly one of range="start, end, step" and '
                              'buckets="b1, b2, ..."', pos, b.text)
    if span != "":
        values = _numbers(b, span, "range", pos)
        if len(values) != 3:
            raise ExpressionError(f'bucket: range="start, end, step" needs three numbers, got {span!r}', pos,
                                  b.text)
        start, end, step = values
        if not (end > start and step > 0):
            raise ExpressionError(f"bucket: range {span!r} needs start < end and step > 0", pos, b.text)
        if start != 0.0:  # alpha-env's bucket starts at 0: shift x instead
            x = b.apply("sub", [x, b.number(start, pos)], pos)
        return b.apply("bucket", [x, b.number(end - start, pos), b.number(step, pos)], pos)
    bounds = _numbers(b, edges, "buckets", pos)
    if len(bounds) < 2 or any(q <= p for p, q in zip(bounds, bounds[1:])):
        raise ExpressionError(f"bucket: buckets={edges!r} needs at least two increasing numbers", pos, b.text)
    # index = the number of boundaries below x (buckets right-closed, hidden ones at both ends)
    out = None
    for edge in bounds:
        above = b.apply("gt", [x, b.number(edge, pos)], pos)
        out = above if out is None else b.apply("add", [out, above], pos)
    return out


def _ts_rank(b: Builder, a: list[Any], pos: int) -> Any:
    out = b.apply("ts_rank", [a[0], a[1]], pos)
    return out if const_of(a[2]) == 0.0 else b.apply("add", [out, a[2]], pos)


def _decay(b: Builder, a: list[Any], pos: int) -> Any:
    if _flag(b, a[2], "dense", "ts_decay_linear"):
        raise ExpressionError("ts_decay_linear: dense=true (NaN skipping) is not supported", a[2].pos, b.text)
    return b.apply("decay_linear", [a[0], a[1]], pos)


def _same(op: str, params: tuple[Param, ...]) -> tuple[tuple[Param, ...], Rule]:
    return params, lambda b, a, pos: b.apply(op, list(a), pos)


#: BRAIN name (lower case) -> (parameters with their documented defaults, rule onto the one table).
RULES: dict[str, tuple[tuple[Param, ...], Rule]] = {
    "ts_std_dev": _same("stddev", _XD),
    "ts_av_diff": (_XD, _av_diff),
    "ts_regression": ((Param("y"), Param("x"), Param("d"), Param("lag", 0.0), Param("rettype", 0.0)),
                      _regression),
    "ts_scale": ((Param("x"), Param("d"), Param("constant", 0.0)), _ts_scale),
    "ts_arg_max": (_XD, _arg_extreme("ts_argmax")),
    "ts_arg_min": (_XD, _arg_extreme("ts_argmin")),
    "ts_rank": ((Param("x"), Param("d"), Param("constant", 0.0)), _ts_rank),
    "ts_decay_linear": ((Param("x"), Param("d"), Param("dense", False)), _decay),
    "reverse": _same("neg", _X),
    "inverse": (_X, lambda b, a, pos: b.apply("div", [b.number(1.0, pos), a[0]], pos)),
    "normalize": ((Param("x"), Param("useStd", False), Param("limit", 0.0)), _normalize),
    "winsorize": ((Param("x"), Param("std", 4.0)), _winsorize),
    "group_mean": ((Param("x"), Param("weight"), Param("group")), _group_mean),
    "densify": (_X, _densify),
    "rank": ((Param("x"), Param("rate", 2.0)), _rank),
    "group_rank": _same("group_rank01", (Param("x"), Param("group"))),
    "ts_backfill": ((Param("x"), Param("lookback"), Param("k", 1.0), Param("ignore", "NAN")), _backfill),
    "ts_count_nans": _same("ts_count_nans", _XD),
    "is_nan": (_X, lambda b, a, pos: b.apply("ts_count_nans", [a[0], b.number(1.0, pos)], pos)),
    "trade_when": _same("trade_when", (Param("x"), Param("y"), Param("z"))),
    "bucket": ((Param("x"), Param("range", ""), Param("buckets", ""), Param("skipBegin", False),
                Param("skipEnd", False), Param("skipBoth", False), Param("NANGroup", False)), _bucket),
    "signed_power": _same("signedpower", (Param("x"), Param("y"))),
    "power": _same("pow", (Param("x"), Param("y"))),
    "if_else": _same("if_else", (Param("input1"), Param("input2"), Param("input3"))),
    "vec_sum": _same("vec_avg", _X),
    "vec_avg": _same("vec_avg", _X),
}

#: Variadic BRAIN functions (two or more inputs, an optional ``filter=false``) -> pairwise operator.
VARIADIC: dict[str, str] = {"add": "add", "multiply": "mul", "max": "max", "min": "min", "subtract": "sub"}

#: BRAIN names that are recognised but refused, with the reason.
UNSUPPORTED: dict[str, str] = {
    "ts_quantile": "BRAIN's ts_quantile is an inverse distribution function of ts_rank, not an operator "
                   "here",
    "quantile": "BRAIN's quantile is an inverse distribution function of rank, not an operator here",
    "ts_step": "a day counter is not a field of alpha-env",
    "step": "a day counter is not a field of alpha-env",
}


def _variadic(conv: Converter, node: SCall) -> Any:
    b = conv.b
    op = VARIADIC[node.name.lower()]
    for key, value, kpos in node.kwargs:
        if key != "filter":
            raise ExpressionError(f"{node.name} has no keyword argument {key!r} in the brain dialect", kpos,
                                  b.text)
        if _flag(b, conv(value), "filter", node.name):
            raise ExpressionError(f"{node.name}: filter=true (NaN read as a number) is not supported: a NaN "
                                  "never becomes a value in alpha-env", kpos, b.text)
    if len(node.args) < 2 or (op == "sub" and len(node.args) != 2):
        raise ExpressionError(f"{node.name} needs {'two' if op == 'sub' else 'at least two'} inputs (brain "
                              "dialect)", node.pos, b.text)
    args = [conv(a) for a in node.args]
    out = args[0]
    for nxt in args[1:]:
        pair = [out, nxt]
        if op in ("max", "min") and const_of(nxt) is not None and const_of(out) is None:
            pair = [nxt, out]  # alpha-env spells the element-wise max with a constant first
        out = b.apply(op, pair, node.pos)
    return out


class _BrainConverter(Converter):
    def call(self, node: SCall) -> Any:
        if node.name.lower() in VARIADIC:
            return _variadic(self, node)
        if node.name.lower().startswith("group_"):
            for arg in node.args[1:]:
                if isinstance(arg, SCall) and arg.name.lower() == "bucket":
                    raise ExpressionError(f"{node.name}: a bucket(...) as the group is not supported: "
                                          "alpha-env's groups are fixed classifications (market, sector, "
                                          "industry, subindustry), while bucket gives a per-day series of "
                                          "indices",
                                          arg.pos, self.text)
        return super().call(node)


def _fallback(name: str) -> str | None:
    spec = OPERATORS.get(name)
    return spec.name if spec is not None else None


def names() -> tuple[str, ...]:
    """Every BRAIN-specific name this front end maps (lower case), variadic ones included."""
    return (*RULES, *VARIADIC)


def build(text: str, builder: Builder) -> Any:
    """The built (typed) root node of the BRAIN expression ``text``.

    Raises:
        ExpressionError: a syntax error, an unknown or unsupported name (named with the dialect), a bad
            keyword argument, or any type/window error of the 101 language.
    """
    root, env = parse_surface(text, SYNTAX)
    convert = _BrainConverter("brain", builder, RULES, fallback=_fallback, env=env, unsupported=UNSUPPORTED)
    return convert(root)
