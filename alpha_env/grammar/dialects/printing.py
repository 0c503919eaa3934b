"""Print an expression tree back in a dialect: ``to_dialect(expr, "qlib" | "brain" | "alpha101")``.

Every compound operand of an infix operator is parenthesised (the dialects' precedences differ; the text
stays unambiguous in each). The rewrites the front ends make are recognised and printed back as the
dialect's own name (``ts_rank(x, d) * (100 / d)`` is Qlib's ``Rank(x, d)``, ``d - ts_argmax(x, d)`` is
BRAIN's ``ts_arg_max(x, d)``), so a dialect text read and printed back reads into the same tree. An
operator with no spelling in the dialect is an :class:`ExpressionError` naming it.
"""

from __future__ import annotations

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Call, Const, Expr, Field, Group, Window, format_number
from alpha_env.grammar.printer import canonical

__all__ = ["to_dialect"]

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
          "eq": "==", "ne": "!="}

_QLIB_NAMES = {
    "delay": "Ref", "delta": "Delta", "sum": "Sum", "ts_mean": "Mean", "stddev": "Std",
    "ts_skewness": "Skew", "ts_kurtosis": "Kurt", "ts_max": "Max", "ts_min": "Min", "ts_argmax": "IdxMax",
    "ts_argmin": "IdxMin",
    "ts_quantile": "Quantile", "ts_mad": "Mad", "ts_slope": "Slope", "ts_rsquare": "Rsquare",
    "ts_resi": "Resi",
    "correlation": "Corr", "covariance": "Cov", "max": "Greater", "min": "Less", "abs": "Abs", "sign": "Sign",
    "log": "Log", "pow": "Power", "and": "And", "or": "Or", "not": "Not", "if_else": "If",
    "ts_ema": "EMA",
}

_BRAIN_NAMES = {
    "delay": "ts_delay", "delta": "ts_delta", "sum": "ts_sum", "product": "ts_product",
    "stddev": "ts_std_dev",
    "decay_linear": "ts_decay_linear", "correlation": "ts_corr", "covariance": "ts_covariance",
    "indneutralize": "group_neutralize", "signedpower": "signed_power", "pow": "power", "and": "and",
    "or": "or", "not": "not", "if_else": "if_else", "rank01": "rank", "group_rank01": "group_rank",
}

#: Operators of the table with no spelling in a dialect.
_NOT_IN = {
    "qlib": frozenset({"rank", "zscore", "scale", "indneutralize", "group_rank", "group_mean", "group_zscore",
                       "product", "vec_avg", "ts_backfill", "trade_when", "bucket", "rank01",
                       "group_rank01"}),
    # BRAIN's rank and group_rank are (r - 1) / (n - 1) (rank01, group_rank01): alpha-env's r / n has no
    # BRAIN spelling; BRAIN has no all-history exponential mean
    "brain": frozenset({"ts_quantile", "rank", "group_rank", "ts_ema"}),
}


def _const(expr: Expr) -> float | None:
    return expr.value if isinstance(expr, Const) else None


class _Printer:
    def __init__(self, dialect: str):
        self.dialect = dialect
        self.names = _QLIB_NAMES if dialect == "qlib" else _BRAIN_NAMES

    def refuse(self, op: str) -> ExpressionError:
        return ExpressionError(f"operator {op!r} is not expressible in the {self.dialect} dialect", None, op)

    def operand(self, expr: Expr) -> str:
        text = self(expr)
        return f"({text})" if isinstance(expr, Call) and (expr.op in _INFIX or expr.op == "neg") else text

    def call(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def __call__(self, expr: Expr) -> str:
        if isinstance(expr, Field):
            return f"${expr.name}" if self.dialect == "qlib" else expr.name
        if isinstance(expr, Group):
            if self.dialect == "qlib":
                raise ExpressionError(f"group {expr.name!r} is not expressible in the qlib dialect", None,
                                      expr.name)
            return expr.name
        if isinstance(expr, Const):
            return format_number(expr.value)
        if isinstance(expr, Window):
            return str(expr.days)
        special = (self.qlib_pattern if self.dialect == "qlib" else self.brain_pattern)(expr)
        if special is not None:
            return special
        op, args = expr.op, expr.args
        if op in _NOT_IN[self.dialect]:
            raise self.refuse(op)
        if op in _INFIX:
            return f"{self.operand(args[0])} {_INFIX[op]} {self.operand(args[1])}"
        if op == "neg":
            return f"-{self.operand(args[0])}"
        name = self.names.get(op, op)
        return self.call(name, [self(a) for a in args])

    # ---------------------------------------------------------------- the front ends' rewrites, reversed
    def qlib_pattern(self, expr: Call) -> str | None:
        op, a = expr.op, expr.args
        if op == "mul" and isinstance(a[0], Call) and a[0].op == "ts_rank":
            d = a[0].args[1].days  # type: ignore[union-attr]
            if _const(a[1]) == 100.0 / d:
                return self.call("Rank", [self(a[0].args[0]), str(d)])
        if op == "div" and isinstance(a[0], Call) and a[0].op == "decay_linear":
            d = a[0].args[1].days  # type: ignore[union-attr]
            if _const(a[1]) == float(d + 1):
                return self.call("WMA", [self(a[0].args[0]), str(d + 1)])
        if op == "ts_quantile" and _const(a[2]) == 0.5:
            return self.call("Med", [self(a[0]), self(a[1])])
        if op == "pow" and _const(a[1]) == 2.0 and isinstance(a[0], Call) and a[0].op == "stddev":
            return self.call("Var", [self(a[0].args[0]), self(a[0].args[1])])
        if op == "sub" and isinstance(a[1], Call) and a[1].op == "ts_count_nans" and \
                _const(a[0]) == float(a[1].args[1].days):  # type: ignore[union-attr]
            return self.call("Count", [self(a[1].args[0]), self(a[1].args[1])])
        if op == "ts_count_nans":  # equivalent text (reads back as d - (d - ts_count_nans))
            d = a[1].days  # type: ignore[union-attr]
            return f"{d} - Count({self(a[0])}, {d})"
        if op == "ts_rank":  # equivalent text (reads back as Rank(...) * d / 100)
            d = a[1].days  # type: ignore[union-attr]
            return f"Rank({self(a[0])}, {d}) * {format_number(d / 100.0)}"
        if op == "decay_linear":
            d = a[1].days + 1  # type: ignore[union-attr]
            return f"WMA({self(a[0])}, {d}) * {d}"
        if op == "sqrt":
            return self.call("Power", [self(a[0]), "0.5"])
        if op == "signedpower":
            return f"Sign({self(a[0])}) * Power(Abs({self(a[0])}), {self(a[1])})"
        if op == "ts_zscore":
            x, d = self(a[0]), self(a[1])
            return f"({x} - Mean({x}, {d})) / Std({x}, {d})"
        return None

    def brain_pattern(self, expr: Call) -> str | None:
        op, a = expr.op, expr.args
        if op == "sub" and isinstance(a[1], Call) and a[1].op in ("ts_argmax", "ts_argmin") and \
                _const(a[0]) == float(a[1].args[1].days):  # type: ignore[union-attr]
            return self.call("ts_arg_" + a[1].op[6:], [self(a[1].args[0]), self(a[1].args[1])])
        if op == "sub" and isinstance(a[1], Call) and a[1].op == "ts_mean" and a[1].args[0] == a[0]:
            return self.call("ts_av_diff", [self(a[0]), self(a[1].args[1])])
        if op == "group_mean":
            return self.call("group_mean", [self(a[0]), "1", self(a[1])])
        if op == "bucket":
            x, start = a[0], 0.0
            if isinstance(x, Call) and x.op == "sub" and _const(x.args[1]) is not None:
                x, start = x.args[0], _const(x.args[1]) or 0.0
            end, step = (_const(v) or 0.0 for v in a[1:])
            bounds = ", ".join(format_number(v) for v in (start, end + start, step))
            return f'bucket({self(x)}, range="{bounds}")'
        if op == "ts_backfill":
            return self.call("ts_backfill", [self(a[0]), self(a[1])])
        if op in ("max", "min") and _const(a[0]) is not None:
            return self.call(op, [self(a[1]), self(a[0])])  # BRAIN's max is element-wise: any order
        return None


def to_dialect(expr: Expr, dialect: str) -> str:
    """The text of ``expr`` in ``dialect`` (``alpha101``: the canonical text).

    Raises:
        ExpressionError: an operator (or a group, in Qlib) with no spelling in the dialect, named.
    """
    if dialect == "alpha101":
        return canonical(expr)
    if dialect not in ("qlib", "brain"):
        raise ExpressionError(f"unknown dialect {dialect!r}; choose one of alpha101, qlib, brain")
    return _Printer(dialect)(expr)
