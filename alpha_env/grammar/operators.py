"""The one operator table of the expression language.

Every operator is an :class:`OperatorSpec`; :data:`OPERATORS` is the single registry that the parser, the
printer, the type checker, the grammar masks, the evaluator (by canonical name) and the docs read.

Look-back: an operator with a window argument needs ``days + lookback`` past days on top of what its
arguments need (``delay``/``delta``: ``lookback = 0``, so ``delay(x, 5)`` reads 5 days back; windowed
statistics over ``d`` days including today: ``lookback = -1``). ``lookback is None`` means no window.

Conventions are table data, not prose: ``ddof`` (the variance denominator is ``n - ddof``), ``origin`` (the
number ``ts_argmax``/``ts_argmin`` give the oldest day of the window) and the window span (from
``lookback``) are fields of each row, and :attr:`OperatorSpec.description` writes the sentence from them;
``tests/test_grammar_conventions.py`` checks each stated convention against the kernels.

Infix syntax (C-like; a higher precedence binds tighter)::

    1  c ? a : b           right-associative
    2  ||
    3  &&
    4  == != < <= > >=     left-associative
    5  + -                 left-associative
    6  * /                 left-associative
    7  -x  !x              prefix
    8  ^                   right-associative; binds tighter than a prefix minus on its left
                           (-x ^ 2 is -(x ^ 2)); its right operand may carry a prefix (x ^ -1)
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from alpha_env.grammar.kinds import Kind

__all__ = [
    "OperatorSpec",
    "OperatorTable",
    "OPERATORS",
    "UNARY_PRECEDENCE",
    "POWER_PRECEDENCE",
    "ATOM_PRECEDENCE",
    "markdown_table",
]

S, B, W, C, G = Kind.SERIES, Kind.BOOL, Kind.WINDOW, Kind.CONST, Kind.GROUP

#: Precedence of the prefix operators ``-`` and ``!``.
UNARY_PRECEDENCE = 7
#: Precedence of ``^``.
POWER_PRECEDENCE = 8
#: Precedence of calls, names, literals and parenthesised expressions.
ATOM_PRECEDENCE = 9


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """Signature and syntax of one operator.

    Attributes:
        name: canonical lower-case name (the key everything else uses).
        aliases: other accepted spellings (matched case-insensitively).
        arg_kinds: kind of each argument slot. A ``SERIES`` slot also accepts a ``BOOL`` and, as long as
            the call has at least one non-constant series/boolean argument, a ``CONST``.
        result_kind: kind of the result.
        infix: infix symbol (``"+"``, ``"?:"``, prefix ``"-"``) or ``None`` for call syntax only.
        lookback: extra days over the window argument (see module doc), ``None`` without a window.
        doc: one-line meaning without the conventions below (:attr:`description` adds them).
        category: ``arithmetic``, ``comparison``, ``logic``, ``conditional``, ``time_series``,
            ``cross_section``, ``group`` or ``element_wise``.
        precedence: infix precedence (``None`` for call-only operators).
        right_assoc: whether the infix operator is right-associative.
        no_const_slots: argument slots where a bare constant is refused (the second argument of
            element-wise ``max``/``min``, because ``max(x, 5)`` is written for ``ts_max``).
        unit_rule: how the optional unit checks treat it (see :mod:`alpha_env.grammar.checker`).
        fold: pure-Python function used to fold a call on literals only (``-1 * 1``) into one literal;
            ``None`` when such a call is an error.
        ddof: delta degrees of freedom of a variance the operator uses (denominator ``n - ddof``, ``n``
            the window's days or the day's valid stocks), ``None`` when it uses none.
        origin: for a position-valued operator, the number it gives the oldest day of the window (the
            window's days are numbered ``origin .. origin + d - 1``, today last), else ``None``.
        window_rule: how it reads past days and NaN. ``"strict"`` (the rule of every window statistic):
            the window ``t-d+1 .. t`` needs all ``d`` values valid, one NaN makes the value NaN.
            ``"reads_nan"``: the same window, but NaN values are read deliberately (counted or filled
            over, as ``doc`` says); NaN only while the window starts before the first day.
            ``"history"``: a state carried over every day since the panel's first (values depend on where
            the panel starts); ``lookback`` then gives only the first rows that are NaN.
    """

    name: str
    aliases: tuple[str, ...]
    arg_kinds: tuple[Kind, ...]
    result_kind: Kind
    infix: str | None
    lookback: int | None
    doc: str
    category: str = "element_wise"
    precedence: int | None = None
    right_assoc: bool = False
    no_const_slots: frozenset[int] = field(default_factory=frozenset)
    unit_rule: str = "keep"
    fold: Callable[..., float] | None = None
    ddof: int | None = None
    origin: int | None = None
    window_rule: str = "strict"

    @property
    def arity(self) -> int:
        """Number of arguments."""
        return len(self.arg_kinds)

    def window_slot(self) -> int | None:
        """Index of the window argument, or ``None``."""
        return self.arg_kinds.index(W) if W in self.arg_kinds else None

    def lookback_days(self, days: int) -> int:
        """Extra past days this operator reads for a window of ``days`` (0 without a window)."""
        return 0 if self.lookback is None else max(0, days + self.lookback)

    @property
    def description(self) -> str:
        """The one-line meaning with its conventions (shown in the docs and ``alpha-env parse``), written
        from the table's fields: window span and NaN rule (``lookback``), ``ddof`` and ``origin``."""
        parts = [self.doc]
        if self.ddof is not None:
            parts.append(f"ddof {self.ddof} (denominator n - {self.ddof})" if self.ddof else
                         "ddof 0 (denominator n)")
        if self.origin is not None:
            last = "d" if self.origin == 1 else f"d{self.origin - 1:+d}"
            parts.append(f"{self.origin} = the window's oldest day t-d+1, {last} = today; "
                         "ties (equal at 10 significant digits): the oldest day")
        if self.window_rule == "history":
            first = "" if self.lookback is None else \
                f"; first {'d' if self.lookback == 0 else f'd{self.lookback:+d}'} rows NaN"
            parts.append("a state over every day since the panel's first (values depend on where the panel "
                         f"starts){first}")
        elif self.lookback is not None:
            rows = "d" if self.lookback == 0 else f"d{self.lookback:+d}"  # days read before today
            start = "t-d" if self.lookback == 0 else f"t-d{-self.lookback:+d}"  # oldest day read
            if self.lookback < 0 and self.window_rule == "reads_nan":
                parts.append(f"window {start}..t (today included), NaN values read deliberately; NaN only if "
                             f"it starts before the first day (first {rows} rows)")
            elif self.lookback < 0:
                parts.append(f"window {start}..t (today included); NaN if it holds a NaN or starts "
                             f"before the first day (first {rows} rows)")
            else:
                parts.append(f"looks back to day {start} (first {rows} rows NaN)")
        return "; ".join(parts)

    def signature(self) -> str:
        """Human-readable signature, e.g. ``ts_rank(series, window) -> series``."""
        args = ", ".join(k.value for k in self.arg_kinds)
        return f"{self.name}({args}) -> {self.result_kind.value}"


def _div(a: float, b: float) -> float:
    return a / b


def _pow(a: float, b: float) -> float:
    return float(a**b) if not (a < 0 and not float(b).is_integer()) else math.nan


#: How the comparisons treat rounding (their docs end with it).
_TIES = " (sides equal at 10 significant digits are equal)"


def _spec(name: str, args: tuple[Kind, ...], result: Kind, doc: str, **kw) -> OperatorSpec:
    aliases = kw.pop("aliases", ())
    return OperatorSpec(name, tuple(aliases), args, result, kw.pop("infix", None), kw.pop("lookback", None),
                        doc, **kw)


def _ts(name: str, doc: str, *, lookback: int = -1, unit: str = "keep", aliases: tuple[str, ...] = (),
        **kw):
    return _spec(name, (S, W), S, doc, lookback=lookback, category="time_series", unit_rule=unit,
                 aliases=aliases, **kw)


def _cmp(name: str, infix: str, alias: str) -> OperatorSpec:
    """A comparison: (series, series) -> bool, precedence 4, with the tie rule in its doc."""
    return _spec(name, (S, S), B, f"a {infix} b" + _TIES, infix=infix, precedence=4, category="comparison",
                 unit_rule="compare", aliases=(alias,))


_SPECS: tuple[OperatorSpec, ...] = (
    # arithmetic
    _spec("add", (S, S), S, "a + b", infix="+", precedence=5, category="arithmetic", unit_rule="same",
          fold=operator.add, aliases=("plus",)),
    _spec("sub", (S, S), S, "a - b", infix="-", precedence=5, category="arithmetic", unit_rule="same",
          fold=operator.sub, aliases=("subtract", "minus")),
    _spec("mul", (S, S), S, "a * b", infix="*", precedence=6, category="arithmetic", unit_rule="mul",
          fold=operator.mul, aliases=("multiply", "times")),
    _spec("div", (S, S), S, "a / b (x / 0 is NaN)", infix="/", precedence=6, category="arithmetic",
          unit_rule="div", fold=_div, aliases=("divide",)),
    _spec("pow", (S, S), S, "a ^ b (NaN where undefined)", infix="^", precedence=POWER_PRECEDENCE,
          right_assoc=True, category="arithmetic", unit_rule="power", fold=_pow, aliases=("power",)),
    _spec("neg", (S,), S, "-a", infix="-", precedence=UNARY_PRECEDENCE, category="arithmetic",
          fold=operator.neg, aliases=("negate",)),
    # comparisons and logic (rank's tie rule: alpha_env.ops.elementwise)
    _cmp("lt", "<", "less"),
    _cmp("le", "<=", "less_equal"),
    _cmp("gt", ">", "greater"),
    _cmp("ge", ">=", "greater_equal"),
    _cmp("eq", "==", "equal"),
    _cmp("ne", "!=", "not_equal"),
    _spec("or", (B, B), B, "a || b", infix="||", precedence=2, category="logic", unit_rule="bool"),
    _spec("and", (B, B), B, "a && b", infix="&&", precedence=3, category="logic", unit_rule="bool"),
    _spec("not", (B,), B, "!a", infix="!", precedence=UNARY_PRECEDENCE, category="logic", unit_rule="bool"),
    _spec("if_else", (B, S, S), S, "c ? a : b (NaN where c is NaN)", infix="?:", precedence=1,
          right_assoc=True, category="conditional", unit_rule="branches",
          aliases=("if", "iif", "where")),
    # time series: (series, window) -> series
    _ts("delay", "value d days ago, x[t-d]", lookback=0, aliases=("ts_delay", "ref")),
    _ts("delta", "x[t] - x[t-d]", lookback=0, aliases=("ts_delta",)),
    _ts("sum", "sum over the window", aliases=("ts_sum",)),
    _ts("product", "product over the window (NaN on overflow)", unit="power_keep",
        aliases=("ts_product", "prod")),
    _ts("stddev", "sample standard deviation over the window (0 on a constant window: values equal at 10 "
        "significant digits; NaN for d = 1)",
        ddof=1, aliases=("ts_std", "ts_stddev", "std")),
    _ts("ts_min", "minimum over the window", aliases=("ts_minimum",)),
    _ts("ts_max", "maximum over the window", aliases=("ts_maximum",)),
    _ts("ts_argmin", "position of the window's minimum", unit="dimless", origin=1),
    _ts("ts_argmax", "position of the window's maximum", unit="dimless", origin=1),
    _ts("ts_rank", "rank of today's value among the window's d values / d, in [1/d, 1] (ties averaged)",
        unit="dimless"),
    _ts("decay_linear", "weighted mean over the window, weights d, d-1, ..., 1 (today heaviest)",
        aliases=("ts_decay_linear", "wma")),
    _ts("ts_skewness", "bias-corrected skewness over the window (pandas; NaN for d < 3 or a constant "
        "window)", unit="dimless", aliases=("ts_skew",)),
    _ts("ts_kurtosis", "bias-corrected excess kurtosis over the window (pandas; NaN for d < 4 or a "
        "constant window)", unit="dimless", aliases=("ts_kurt",)),
    _ts("ts_mean", "mean over the window", aliases=("ts_avg", "mean", "sma")),
    _ts("ts_zscore", "(x - mean) / stddev over the window (NaN on a constant window or d = 1)",
        unit="dimless", ddof=1),
    _spec("correlation", (S, S, W), S, "Pearson correlation of a and b over the window (NaN when either "
          "is constant)", lookback=-1, category="time_series", unit_rule="dimless",
          aliases=("ts_corr", "corr")),
    _spec("covariance", (S, S, W), S, "sample covariance of a and b over the window (NaN when either is "
          "constant or d = 1)", lookback=-1, category="time_series", unit_rule="covariance", ddof=1,
          aliases=("ts_covariance", "cov")),
    # window statistics of the Qlib dialect (parse-only until a new vocabulary version, see codebook)
    _spec("ts_quantile", (S, W, C), S, "q-quantile of the window (0 <= q <= 1), linear interpolation between "
          "order statistics (pandas rolling quantile)", lookback=-1, category="time_series"),
    _ts("ts_mad", "mean absolute deviation around the window's mean"),
    _ts("ts_slope", "least-squares slope of the window against the day number 1..d (per day; NaN for d = 1)"),
    _ts("ts_rsquare", "R^2 of the window's least-squares line against the day number (NaN on a constant "
        "window or d = 1)", unit="dimless"),
    _ts("ts_resi", "today's residual from the window's least-squares line against the day number (NaN for "
        "d = 1)"),
    # operators of the dialects that read NaN deliberately or carry a state (see window_rule)
    _ts("ts_count_nans", "number of NaN values in the window", unit="dimless", window_rule="reads_nan"),
    _ts("ts_backfill", "today's value, else the window's most recent valid value (NaN if it has none)",
        window_rule="reads_nan"),
    _ts("ts_ema", "exponentially weighted mean, span d (weights (1 - 2 / (d + 1)) ^ age, normalised; a NaN "
        "day ages the weights, its own value is NaN)", window_rule="history"),
    _spec("trade_when", (S, S, S), S, "NaN where exit > 0, else alpha where trigger > 0, else yesterday's "
          "value (NaN trigger or exit: not > 0)", category="time_series",
          unit_rule="covariance",  # dimensionless when trigger and alpha are, else mixed (never wrong)
          window_rule="history"),
    _spec("bucket", (S, C, C), S, "index of x's bucket for the edges 0, step, 2 * step, ..., end: the number "
          "of edges below x (0 for x <= 0, buckets right-closed)", unit_rule="dimless"),
    # cross-section
    _spec("rank", (S,), S, "cross-sectional rank / n scaled to (0, 1] (average ties, NaN ignored)",
          category="cross_section", unit_rule="dimless"),
    _spec("zscore", (S,), S, "cross-sectional (x - mean) / std over the day's valid stocks (NaN ignored)",
          category="cross_section", unit_rule="dimless", ddof=1, aliases=("cs_zscore",)),
    _spec("rank01", (S,), S, "cross-sectional (rank - 1) / (n - 1) in [0, 1], smallest 0, largest 1 (exact "
          "ties averaged, NaN ignored, NaN if n < 2)", category="cross_section", unit_rule="dimless"),
    _spec("scale", (S, C), S, "rescale so that sum(abs(x)) = a across stocks (scale(x) = scale(x, 1))",
          category="cross_section", unit_rule="dimless"),
    # group
    _spec("indneutralize", (S, G), S, "x minus its group mean, per day", category="group",
          aliases=("group_neutralize", "neutralize")),
    _spec("group_rank", (S, G), S, "rank within each group, in (0, 1]", category="group",
          unit_rule="dimless"),
    _spec("group_rank01", (S, G), S, "(rank - 1) / (n - 1) within each group, in [0, 1] (exact ties "
          "averaged, NaN if the group has n < 2 valid values)", category="group", unit_rule="dimless"),
    _spec("group_mean", (S, G), S, "group mean broadcast to members", category="group"),
    _spec("group_zscore", (S, G), S, "z-score within each group (NaN for a group of < 2 or equal values)",
          category="group", unit_rule="dimless", ddof=1),
    # element-wise
    _spec("abs", (S,), S, "absolute value", aliases=("fabs",)),
    _spec("log", (S,), S, "natural logarithm (NaN for x <= 0)", unit_rule="dimless", aliases=("ln",)),
    _spec("sign", (S,), S, "-1, 0 or 1", unit_rule="dimless", aliases=("signum",)),
    _spec("sqrt", (S,), S, "square root (NaN for x < 0)", unit_rule="power_keep"),
    _spec("signedpower", (S, S), S, "sign(x) * abs(x) ^ a", unit_rule="power",
          aliases=("signed_power",)),
    _spec("vec_avg", (S,), S, "mean of a vector field (identity on scalar fields)", aliases=("vec_mean",)),
    _spec("max", (S, S), S, "element-wise maximum (max(x, d) with a number d is ts_max)",
          unit_rule="same", no_const_slots=frozenset({1}), aliases=("maximum",)),
    _spec("min", (S, S), S, "element-wise minimum (min(x, d) with a number d is ts_min)",
          unit_rule="same", no_const_slots=frozenset({1}), aliases=("minimum",)),
)


class OperatorTable(Mapping[str, OperatorSpec]):
    """Immutable registry of operators keyed by canonical name; :meth:`get` also resolves aliases.

    Iteration order is the table order (the order of operator tokens in the codebook).
    """

    __slots__ = ("_specs", "_lookup")

    def __init__(self, specs: tuple[OperatorSpec, ...]):
        self._specs: dict[str, OperatorSpec] = {}
        self._lookup: dict[str, OperatorSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"duplicate operator {spec.name!r}")
            self._specs[spec.name] = spec
        for spec in specs:
            for key in (spec.name, *spec.aliases):
                key = key.lower()
                if key in self._lookup and self._lookup[key] is not spec:
                    raise ValueError(f"operator name {key!r} is ambiguous")
                self._lookup[key] = spec

    def __getitem__(self, name: str) -> OperatorSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str, default: OperatorSpec | None = None) -> OperatorSpec | None:  # type: ignore[override]
        """Spec for a canonical name or alias, case-insensitively; ``default`` when unknown."""
        return self._lookup.get(name.lower(), default)

    def spellings(self) -> tuple[str, ...]:
        """Every accepted lower-case spelling (names and aliases)."""
        return tuple(self._lookup)

    def suggest(self, name: str) -> str | None:
        """Closest canonical name to a misspelt operator (difflib), or ``None``."""
        match = difflib.get_close_matches(name.lower(), list(self._lookup), n=1, cutoff=0.6)
        return self._lookup[match[0]].name if match else None

    def infix(self, symbol: str, arity: int) -> OperatorSpec:
        """Spec of the infix/prefix operator ``symbol`` with ``arity`` operands."""
        for spec in self._specs.values():
            if spec.infix == symbol and spec.arity == arity:
                return spec
        raise KeyError(symbol)


#: The registry of every operator of the language.
OPERATORS = OperatorTable(_SPECS)


def markdown_table(table: OperatorTable = OPERATORS) -> str:
    """The operator reference of ``docs/grammar.md``, generated from the table (a test keeps them equal)."""
    lines = ["| operator | signature | infix | look-back | aliases | meaning |",
             "|---|---|---|---|---|---|"]
    for spec in table.values():
        args = ", ".join(k.value for k in spec.arg_kinds)
        look = "-" if spec.lookback is None else ("d" if spec.lookback == 0 else f"d{spec.lookback:+d}")
        infix = f"`{spec.infix}`".replace("|", "\\|") if spec.infix else ""
        aliases = ", ".join(spec.aliases)
        doc = spec.description.replace("|", "\\|")
        sig = f"({args}) → {spec.result_kind.value}"
        lines.append(f"| `{spec.name}` | {sig} | {infix} | {look} | {aliases} | {doc} |")
    return "\n".join(lines)
