"""Evaluate alpha expressions on a :class:`~alpha_env.data.MarketPanel`, with a shared sub-expression cache.

The evaluator walks the AlphaStack (postfix token list) once to name every sub-expression by its
canonical text, then computes the root, descending only into sub-expressions that are neither in the
LRU cache nor already computed in this call. Every computed sub-expression result is stored in the cache
(read-only) within the byte budget, so RL episodes that share sub-expressions do not recompute them.
Within one call, an intermediate array is released as soon as the last operator that reads it has run
(reference counts over the postfix walk), so a wide expression evaluated without a cache holds a few
arrays at a time, not one per sub-expression.

An operator whose result is NaN on every row whenever one of its arguments is (``NAN_STRICT`` in
:mod:`alpha_env.ops.registry`: ``rank``, ``correlation``, the arithmetic, ... but not ``if_else``'s branches,
``pow``'s exponent or ``ts_count_nans``) is not run on such an argument: its result is the all-NaN
array, and operands that only such operators read run on the first date alone (for their argument
errors), so an expression whose part ends all NaN (``correlation(close, open > high, 10)``) costs little
more than that part. A call that its own arguments make all NaN whatever the data (``ALWAYS_NAN``: the
correlation of a series with a number, ``stddev(x, 1)``) is known so before anything is computed, so
``rank(close) * correlation(volume, 0.5, 10)`` computes neither operand in full. Results are the same
bits either way (``tests/test_evaluate_nan_stop.py``).

A chain of element-wise operators (``(close - open) / ((high - low) + .001)``) is computed in one pass over
cache-sized tiles (:mod:`alpha_env.ops.fused`): an element-wise call whose only consumer is a fusable
element-wise call is deferred, and the consumer computes both, reading the chain's inputs once and writing
only its result, with each operator's own scalar rule (the same values bit for bit,
``tests/test_ops_fused.py``; NaN where NaN, but a NaN's sign bit may differ: a chain the all-NaN stop
would have cut short is computed, and ``neg`` of NaN is ``-NaN`` where the stop's block holds ``+NaN``). A
deferred result is neither cached nor scanned by the all-NaN stop; a chain keeps at most
:data:`HELD_BY_A_CHAIN` other calls' results alive, so memory stays a few arrays per call.

``evaluate(expr, rows=R)`` computes the first ``R`` dates only. Every operator is causal (the value of day
``t`` reads days ``<= t``; the look-ahead tests prove it), so those rows equal the first ``R`` rows of the
full result bit for bit, at about ``R / T`` of the cost: a reward on the train split needs no valid or
test rows. Windows are still checked against the whole panel, so an expression fails (or not) the same
way whatever ``R``. A cached result with at least ``R`` rows serves a request for ``R`` rows (a view of its
first rows); one with fewer is recomputed and replaced.

Example:
    >>> from alpha_env.data import synthetic_market
    >>> from alpha_env.evaluate import Evaluator
    >>> ev = Evaluator(synthetic_market(seed=0, n_stocks=20, n_days=60, news=False))
    >>> ev.evaluate("rank(-delta(close, 5))").shape
    (60, 20)
    >>> ev.evaluate("rank(-delta(close, 5)) * 2") is not None and ev.cache_stats().hits
    1
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from alpha_env.data.panel import BASE_FIELDS
from alpha_env.errors import AlphaEnvError, DataError, ExpressionError, SettingsError
from alpha_env.evaluate.bounds import EMPTY, Bound, expression_bound
from alpha_env.evaluate.cache import ArrayCache, CacheStats
from alpha_env.grammar import (
    OPERATORS,
    Call,
    Const,
    Expr,
    Field,
    Group,
    Kind,
    OpToken,
    Token,
    Window,
    canonical,
    check,
    compose,
    from_stack,
    parse,
    to_stack,
    token_text,
)
from alpha_env.ops import ALWAYS_NAN, KERNELS, NAN_STRICT, OPERATOR_CLASS
from alpha_env.ops.fused import FUSABLE, FusedProgram, ProgramFull
from alpha_env.ops.threads import read_only

if TYPE_CHECKING:
    from alpha_env.data import MarketPanel

__all__ = ["Evaluator", "evaluate", "DEFAULT_CACHE_BYTES", "DERIVED_FIELD_BYTES", "HELD_BY_A_CHAIN"]

DEFAULT_CACHE_BYTES = 512 * 2**20
"""Default cache budget: 512 MiB, about 100 results of a 1,260 x 500 panel."""

DERIVED_FIELD_BYTES = 128 * 2**20
"""Budget of the evaluator's own LRU of derived fields (``returns``, ``cap``, ``adv{d}``), on top of the
cache budget and never more than it: 26 fields of a 1,260 x 500 panel. The panel memoises only a few
derived fields, and the RL codebook reads 14 (12 ``adv{d}``): without this LRU every episode recomputed
some (35% of the env's time on ``sp500_2013_2018``)."""

_EXPR_TYPES = (Field, Const, Window, Group, Call)

HELD_BY_A_CHAIN = 2
"""Computed results (other calls' arrays) a deferred element-wise chain may keep alive until its last call
runs; a call that would make its chain keep more runs at once (fused with what it reads), so fusing never
holds more than a few intermediates (``tests/test_evaluate_evaluator.py``'s wide sum)."""


@njit(cache=True)
def _all_nan(flat: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether every value of the 1-D float64 array ``flat`` is NaN. Scans from the end and stops at the
    first value that is not: a result's last dates are past every look-back, so a usable signal is
    answered in a few cells, and only an all-NaN one is read whole."""
    for i in range(flat.size - 1, -1, -1):
        if flat[i] == flat[i]:
            return False
    return True


def _is_all_nan(value: object) -> bool:
    """Whether ``value`` is a float64 array that is NaN everywhere (numbers and other arrays: ``False``)."""
    return (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.size > 0
            and _all_nan(read_only(np.ascontiguousarray(value).reshape(-1))))


@dataclass(frozen=True, slots=True)
class _Deferred:
    """The argument of a call that its consumer computes fused (the key of that deferred call)."""

    key: str


@dataclass(slots=True)
class _Node:
    """One sub-expression of the walked stack: its tree, canonical text and children (node indices)."""

    expr: Expr
    key: str
    children: tuple[int, ...]


def _always_nan(node: _Node) -> bool:
    """Whether the call ``node`` is NaN on every row whatever the data (``ALWAYS_NAN``): a window shorter
    than its operator's shortest, or a number where its operator needs a series that moves."""
    rule = ALWAYS_NAN.get(node.expr.op)
    if rule is None:
        return False
    return any(isinstance(arg, Window) and arg.days < rule.min_window
               or isinstance(arg, Const) and pos in rule.constant_at
               for pos, arg in enumerate(node.expr.args))


class _NanStop:
    """The all-NaN stop of one ``evaluate`` call (module doc).

    A call is *doomed* when one of its arguments at a NaN-strict position (``NAN_STRICT``) is NaN on every
    row, or its own arguments make it NaN whatever the data (``ALWAYS_NAN``: ``correlation(x, 0.5, 10)``,
    ``stddev(x, 1)``; known before the walk starts): its result is all NaN without computing it. A call is
    needed *in full* when it is the root or some consumer that is not doomed needs it in full; the others
    (sub-expressions read only by doomed calls, e.g. the right operand of ``log(-x) * rank(y)``) run on the
    first date only. A doomed call dooms its own consumers that read it at a NaN-strict position, at once.
    Both sets only grow (doomed) or shrink (in full) as the postfix walk goes on, so a call decided at its
    turn stays right.
    """

    def __init__(self, nodes: list[_Node], order: list[int], root: str, rows: int,
                 cached: dict[str, np.ndarray]):
        self._nodes = nodes
        self._root = root
        self._rows = rows
        self._parents: dict[str, list[tuple[str, bool]]] = {}  # key -> (consumer key, at a strict position)
        for j in order:
            call = nodes[j]
            for pos, c in enumerate(call.children):
                if isinstance(nodes[c].expr, Call):
                    strict = pos in NAN_STRICT[call.expr.op]
                    self._parents.setdefault(nodes[c].key, []).append((call.key, strict))
        self._all_nan: dict[str, bool] = {}  # key -> whether that result (every row) is NaN everywhere
        self._doomed: set[str] = set()
        self._full: dict[str, bool] = {}  # key -> full(key), valid until the next call is doomed
        for key, value in cached.items():  # results found in the cache: their consumers' fate is known now
            self.computed(key, value)
        for j in order:  # calls that are all NaN whatever the data (a flat operand, a too-short window)
            if nodes[j].key not in self._doomed and _always_nan(nodes[j]):
                self._doom(nodes[j].key)

    def full(self, key: str) -> bool:
        """Whether the result named ``key`` is needed on every row (each answer is remembered until a call
        is doomed, so a walk asks each ancestor once)."""
        known = self._full.get(key)
        if known is None:
            known = self._full[key] = key == self._root or any(
                parent not in self._doomed and self.full(parent) for parent, _ in self._parents.get(key, ()))
        return known

    def doomed(self, node: _Node, args: list) -> bool:
        """Whether ``node`` is doomed: known so, or an argument at a NaN-strict position (a cached one, or a
        call computed on every row) is all NaN. Each result is scanned once per call."""
        if node.key not in self._doomed:
            for pos in NAN_STRICT[node.expr.op]:
                child = self._nodes[node.children[pos]]
                if not isinstance(child.expr, Call):
                    continue  # a field, constant, window or group: not an all-NaN result
                known = self._all_nan.get(child.key)
                if known is None and isinstance(args[pos], np.ndarray) and args[pos].shape[0] == self._rows:
                    known = self._all_nan[child.key] = _is_all_nan(args[pos])
                if known:
                    break
            else:
                return False
            self._doom(node.key)
        return True

    def _doom(self, key: str) -> None:
        """``key`` is all NaN: so is every consumer that reads it at a NaN-strict position, and so on up."""
        self._doomed.add(key)
        self._full.clear()  # a doomed consumer no longer needs its operands in full
        self._all_nan[key] = True  # its consumers need not scan its NaN block
        for parent, at_strict in self._parents.get(key, ()):
            if at_strict and parent not in self._doomed:
                self._doom(parent)

    def computed(self, key: str, out: np.ndarray) -> None:
        """After a call computed on every row (or found in the cache): if it is all NaN, its consumers that
        read it at a NaN-strict position are doomed (decided now, before the walk reaches their other
        operands)."""
        if any(at_strict and parent not in self._doomed for parent, at_strict in self._parents.get(key, ())):
            self._all_nan[key] = _is_all_nan(out)
            if self._all_nan[key]:
                for parent, at_strict in self._parents[key]:
                    if at_strict and parent not in self._doomed:
                        self._doom(parent)


class Evaluator:
    """Turn expressions into ``(T, N)`` float64 signals on one panel, caching every sub-expression.

    Args:
        panel: the market panel whose fields and groups the expressions read.
        cache_bytes: byte budget of the LRU cache of sub-expression results (0 disables it; results
            computed within one call are still shared by that call).
        nan_stop: skip the operators whose result an all-NaN argument makes all NaN (module doc); ``False``
            computes every operator (the same results, slower; for benchmarks and tests).
        fuse: compute chains of element-wise operators in one tiled pass (module doc); ``False`` computes
            each operator on its own (the same values, slower; for benchmarks and tests).

    Raises:
        SettingsError: ``cache_bytes`` is not an integer >= 0.
    """

    def __init__(self, panel: MarketPanel, cache_bytes: int = DEFAULT_CACHE_BYTES, *, nan_stop: bool = True,
                 fuse: bool = True):
        self._panel = panel
        self._nan_stop = bool(nan_stop)
        self._fuse = bool(fuse)
        self._cache = ArrayCache(cache_bytes)
        self._derived = ArrayCache(min(int(cache_bytes), DERIVED_FIELD_BYTES))
        self._stored = frozenset((*BASE_FIELDS, "vwap", *panel.custom_field_names))
        self._shape = tuple(panel.shape)
        self._field_bounds: dict[tuple[str, int], Bound] = {}

    @property
    def panel(self) -> MarketPanel:
        """The panel expressions are evaluated on."""
        return self._panel

    # -- public API --------------------------------------------------------------------------------
    def evaluate(self, expr: str | Expr | Sequence[Token], *, rows: int | None = None) -> np.ndarray:
        """The ``(T, N)`` float64 signal of ``expr`` (read-only: it may live in the cache).

        Args:
            expr: infix text (the paper's language), an expression tree, or an AlphaStack (postfix list
                of leaves and :class:`~alpha_env.grammar.OpToken`).
            rows: compute the first ``rows`` dates only (``1 <= rows <= T``): the result is ``(rows, N)``
                and equals the first rows of the full signal bit for bit (every operator is causal).
                ``None``: every date.

        Raises:
            ExpressionError: a malformed expression, or a part this panel cannot evaluate (unknown
                field or group, window longer than the data); ``expression`` names that part.
            SettingsError: ``rows`` is not an integer in ``1 .. T``.
        """
        rows = self._rows(rows)
        tokens = self._tokens(expr)
        nodes = self._walk(tokens)
        memo: dict[str, np.ndarray | float | int] = {}
        value = self._value(nodes, len(nodes) - 1, memo, rows)
        if not isinstance(value, np.ndarray):
            raise ExpressionError(f"'{nodes[-1].key}' is a constant, not a series", expression=nodes[-1].key)
        return value

    def bound(self, expr: str | Expr | Sequence[Token], *, rows: int | None = None) -> Bound:
        """A :class:`~alpha_env.evaluate.bounds.Bound` of ``expr``'s values on the first ``rows`` dates
        from its fields' ranges there, without computing it: every value that is not NaN lies within it, and
        ``.degenerate`` means the signal is all NaN or one number for every stock on each day
        (:mod:`alpha_env.evaluate.bounds`). A field's range is read once per ``rows`` and kept.

        Raises:
            ExpressionError: a malformed expression or an unknown field (as :meth:`evaluate`).
            SettingsError: ``rows`` is not an integer in ``1 .. T``.
        """
        rows = self._rows(rows)
        if isinstance(expr, _EXPR_TYPES):
            check(expr)
            tree = expr
        else:
            tree = from_stack(self._tokens(expr))
        return expression_bound(tree, lambda name: self._field_bound(name, rows), self._shape[1])

    def _field_bound(self, name: str, rows: int) -> Bound:
        """The range of field ``name``'s values (NaN aside, infinities kept) on the first ``rows`` dates
        (kept per field)."""
        key = (name, rows)
        known = self._field_bounds.get(key)
        if known is None:
            values = self._leaf(Field(name), rows)
            lo, hi = float(np.fmin.reduce(values, axis=None)), float(np.fmax.reduce(values, axis=None))
            known = EMPTY if math.isnan(lo) else Bound(lo, hi)
            self._field_bounds[key] = known
        return known

    def _rows(self, rows: int | None) -> int:
        T = self._shape[0]
        if rows is None:
            return T
        if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or not 1 <= int(rows) <= T:
            raise SettingsError(f"rows must be an integer in 1 .. {T} (the panel's dates), got {rows!r}")
        return int(rows)

    def cache_stats(self) -> CacheStats:
        """Hits, misses, bytes, entries, evictions and capacity of the sub-expression cache."""
        return self._cache.stats()

    def clear_cache(self) -> None:
        """Drop every cached result (and the derived fields the evaluator keeps)."""
        self._cache.clear()
        self._derived.clear()

    # -- input forms -------------------------------------------------------------------------------
    @staticmethod
    def _tokens(expr: str | Expr | Sequence[Token]) -> list[Token]:
        if isinstance(expr, str):
            return to_stack(parse(expr))
        if isinstance(expr, _EXPR_TYPES):
            check(expr)
            return to_stack(expr)
        if isinstance(expr, Sequence):
            tokens = list(expr)
            from_stack(tokens)  # type-checks the stack; errors carry the token index
            return tokens
        raise ExpressionError(f"cannot evaluate a {type(expr).__name__}: expected text, an expression tree "
                              "or a postfix token list")

    @staticmethod
    def _walk(tokens: list[Token]) -> list[_Node]:
        """One postfix pass: the node list (operands before their operator) with canonical keys."""
        nodes: list[_Node] = []
        stack: list[int] = []
        for token in tokens:
            if isinstance(token, OpToken):
                arity = OPERATORS[token.name].arity
                children = tuple(stack[len(stack) - arity:])
                del stack[len(stack) - arity:]
                call = Call(token.name, tuple(nodes[c].expr for c in children))
                texts = [nodes[c].key if isinstance(nodes[c].expr, Call) else canonical(nodes[c].expr)
                         for c in children]  # a leaf's key is its token text (a window: "5d")
                nodes.append(_Node(call, compose(call, texts), children))
            else:
                nodes.append(_Node(token, token_text(token), ()))
            stack.append(len(nodes) - 1)
        return nodes

    # -- evaluation --------------------------------------------------------------------------------
    def _plan(self, nodes: list[_Node], memo: dict, rows: int) -> tuple[list[int], dict[str, int]]:
        """Which calls to compute, in postfix order, and how many computed consumers each result has.

        A pre-order walk from the root looks each distinct sub-expression up in the cache once (the
        counters of hits and misses count it once) and descends only into those it misses; cached
        results go into ``memo``. Returns ``(order, consumers)``: ``order`` lists the node indices to
        compute, operands before operators; ``consumers[key]`` counts the computed calls (and, for the
        root, the caller) that read the result named ``key``.
        """
        root = len(nodes) - 1
        order: list[int] = []
        consumers: dict[str, int] = {nodes[root].key: 1}
        seen: set[str] = set()
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            i, expanded = stack.pop()
            node = nodes[i]
            if expanded:
                order.append(i)
                continue
            if not isinstance(node.expr, Call) or node.key in seen:
                continue
            seen.add(node.key)
            found = self._cache.get(node.key, rows)  # one with fewer rows is computed again and replaced
            if found is not None:
                memo[node.key] = found if found.shape[0] == rows else found[:rows]
                continue
            for c in node.children:
                if isinstance(nodes[c].expr, Call):
                    consumers[nodes[c].key] = consumers.get(nodes[c].key, 0) + 1
            stack.append((i, True))
            stack.extend((c, False) for c in reversed(node.children))
        return order, consumers

    def _value(self, nodes: list[_Node], i: int, memo: dict, rows: int) -> np.ndarray | float | int:
        """The first ``rows`` dates of node ``i``: computed calls in postfix order, each intermediate array
        dropped from ``memo`` as soon as its last consumer has run (the LRU cache may still hold it).

        With fusion on, an element-wise call whose only consumer is a fusable element-wise call is
        *deferred*: its arguments wait in ``deferred`` and the consumer computes the whole chain in one
        tiled pass (:class:`~alpha_env.ops.fused.FusedProgram`); a deferred result is neither cached nor
        scanned by the all-NaN stop, and is never computed when its consumer is doomed.
        """
        node = nodes[i]
        if not isinstance(node.expr, Call):
            return self._leaf(node.expr, rows)
        order, consumers = self._plan(nodes, memo, rows)
        stop = _NanStop(nodes, order, node.key, rows, memo) if self._nan_stop else None
        fusing = self._fusing(nodes, order, consumers, node.key) if self._fuse else set()
        deferred: dict[str, list] = {}  # key of a deferred call -> its arguments (until computed)
        was_deferred: set[str] = set()
        held: dict[str, int] = {}  # key of a deferred call -> computed results its chain keeps alive
        nan_block: np.ndarray | None = None  # the one all-NaN (rows, N) result of this call
        for j in order:
            current = nodes[j]
            if current.key in memo:  # a repeated sub-expression, computed at its first occurrence
                continue
            expr = current.expr
            assert isinstance(expr, Call)
            spec = OPERATORS[expr.op]
            args = [self._arg(nodes[c], memo, deferred, rows) for c in current.children]
            doomed = stop is not None and stop.doomed(current, args)
            if not doomed and current.key in fusing:
                holds = sum(held[a.key] if isinstance(a, _Deferred) else
                            isinstance(a, np.ndarray) and isinstance(nodes[c].expr, Call)
                            for c, a in zip(current.children, args))
                if holds <= HELD_BY_A_CHAIN:
                    held[current.key] = holds
                    was_deferred.add(current.key)
                    deferred[current.key] = self._prepare_args(expr, current.key, spec.arg_kinds, args, rows)
                    continue  # its consumer computes it, fused
            # a doomed call, and one whose every consumer is doomed, runs on the first date only: its
            # argument errors (a bad window or constant) are raised as they would be in full
            n = rows if stop is None or not doomed and stop.full(current.key) else 1
            if n < rows:
                args = [a[:1] if isinstance(a, np.ndarray) and a.ndim == 2 else a for a in args]
            args = self._prepare_args(expr, current.key, spec.arg_kinds, args, n)
            released = [j]
            try:
                if any(isinstance(a, _Deferred) for a in args):
                    out, computed = self._fused(nodes, j, args, deferred, n)
                    released += computed
                else:
                    out = KERNELS[expr.op](*args)
            except AlphaEnvError as exc:
                message = getattr(exc, "message", str(exc))
                raise ExpressionError(f"cannot evaluate '{current.key}': {message}",
                                      expression=current.key) from None
            del args
            if doomed:  # its result is NaN everywhere: one read-only block per call, not cached
                if nan_block is None:
                    nan_block = np.full((rows, self._shape[1]), np.nan)
                    nan_block.setflags(write=False)
                out = nan_block
            elif n == rows:
                out.setflags(write=False)
                self._cache.put(current.key, out)
                if stop is not None:
                    stop.computed(current.key, out)
            memo[current.key] = out
            del out
            for r in released:  # this call and the deferred calls it computed: release their operands
                for c in nodes[r].children:
                    key = nodes[c].key
                    if isinstance(nodes[c].expr, Call) and key not in was_deferred:
                        consumers[key] -= 1
                        if consumers[key] == 0:
                            del memo[key]
        return memo[node.key]

    @staticmethod
    def _fusing(nodes: list[_Node], order: list[int], consumers: dict[str, int], root: str) -> set[str]:
        """Keys of the calls to defer: fusable element-wise calls (not the root) read by exactly one
        computed call, itself fusable."""
        fusable = {nodes[j].key for j in order if nodes[j].expr.op in FUSABLE}
        if len(fusable) < 2:
            return set()
        return {nodes[c].key for j in order if nodes[j].key in fusable for c in nodes[j].children
                if nodes[c].key in fusable and nodes[c].key != root and consumers.get(nodes[c].key) == 1}

    def _arg(self, child: _Node, memo: dict, deferred: dict[str, list], rows: int) -> object:
        """An argument of a call: a computed or cached result, a deferred call, or a leaf's value."""
        if not isinstance(child.expr, Call):
            return self._leaf(child.expr, rows)
        found = memo.get(child.key)
        if found is not None:
            return found
        return _Deferred(child.key) if child.key in deferred else memo[child.key]

    def _fused(self, nodes: list[_Node], j: int, args: list, deferred: dict[str, list],
               n: int) -> tuple[np.ndarray, list[int]]:
        """Node ``j``'s first ``n`` dates, computed with the deferred calls it reads in one fused pass, and
        the node indices of those calls. A chain reading more arrays than a program takes is cut: the
        deferred operand reading the most is computed first, on its own."""
        done: list[int] = []
        while True:
            program = FusedProgram(n, self._shape[1])
            emitted: list[int] = []
            try:
                register = self._emit(program, nodes, j, args, deferred, n, emitted)
            except ProgramFull:
                widest = max((c for c, a in zip(nodes[j].children, args) if isinstance(a, _Deferred)),
                             key=lambda c: self._width(nodes, c, deferred))
                value, under = self._fused(nodes, widest, deferred.pop(nodes[widest].key), deferred, n)
                args[nodes[j].children.index(widest)] = value
                done += [widest, *under]
                continue
            out = program.run(register)
            for c in emitted:  # computed: their arguments are no longer kept
                del deferred[nodes[c].key]
            return out, done + emitted

    def _emit(self, program: FusedProgram, nodes: list[_Node], j: int, args: list, deferred: dict[str, list],
              n: int, emitted: list[int]) -> int:
        """Add node ``j`` (arguments ``args``) and the deferred calls under it to ``program`` (their node
        indices to ``emitted``); returns ``j``'s register."""
        registers = []
        for c, arg in zip(nodes[j].children, args):
            if isinstance(arg, _Deferred):
                emitted.append(c)
                registers.append(self._emit(program, nodes, c, deferred[arg.key], deferred, n, emitted))
                continue
            if isinstance(arg, np.ndarray) and arg.ndim == 2 and arg.shape[0] > n:
                arg = arg[:n]
            registers.append(program.leaf(arg))
        return program.call(nodes[j].expr.op, registers)

    def _width(self, nodes: list[_Node], j: int, deferred: dict[str, list]) -> int:
        """How many array leaves the deferred call ``j`` reads, its deferred operands included."""
        return sum(self._width(nodes, c, deferred) if isinstance(a, _Deferred) else isinstance(a, np.ndarray)
                   for c, a in zip(nodes[j].children, deferred[nodes[j].key]))

    def _leaf(self, leaf: Expr, rows: int) -> np.ndarray | float | int:
        """A leaf's value: a number, a window, ``(N,)`` group codes, or the first ``rows`` dates of a field
        (a view; derived fields are computed on the whole panel once and kept)."""
        value = self._leaf_value(leaf)
        if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[0] > rows:
            return value[:rows]
        return value

    def _leaf_value(self, leaf: Expr) -> np.ndarray | float | int:
        panel = self._panel
        if isinstance(leaf, Const):
            return leaf.value
        if isinstance(leaf, Window):
            return leaf.days
        if isinstance(leaf, Field):
            if not panel.has_field(leaf.name):
                names = list(panel.field_names)
                close = difflib.get_close_matches(leaf.name, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ExpressionError(
                    f"unknown field '{leaf.name}' for this panel{hint}; available: {', '.join(names)} "
                    "(and adv{d} for any d)", expression=leaf.name)
            if leaf.name in self._stored:
                return panel.field(leaf.name)
            kept = self._derived.get(leaf.name)
            if kept is not None:
                return kept
            try:
                arr = panel.field(leaf.name)
            except DataError as exc:
                raise ExpressionError(str(exc), expression=leaf.name) from None
            self._derived.put(leaf.name, arr)
            return arr
        if isinstance(leaf, Group):
            if leaf.name not in panel.group_names:
                raise ExpressionError(
                    f"unknown group '{leaf.name}' for this panel; available: {', '.join(panel.group_names)}",
                    expression=leaf.name)
            return panel.group(leaf.name)
        raise ExpressionError(f"not an expression node: {leaf!r}")

    def _prepare_args(self, call: Call, key: str, kinds: tuple[Kind, ...], args: list, rows: int) -> list:
        """Check windows against the data length (the whole panel's, whatever ``rows``); broadcast
        constants to ``(rows, N)`` where a kernel needs a series."""
        T = self._shape[0]
        spec = OPERATORS[call.op]
        elementwise = OPERATOR_CLASS[call.op] == "elementwise"
        all_scalar = all(not isinstance(a, (np.ndarray, _Deferred)) for a, k in zip(args, kinds)
                         if k != Kind.WINDOW)
        for pos, (arg, kind) in enumerate(zip(args, kinds)):
            if kind == Kind.WINDOW:
                if spec.lookback_days(int(arg)) >= T:
                    raise ExpressionError(
                        f"window of {arg} days in '{key}' is longer than the data ({T} days): "
                        "no date would have a value", expression=key)
            elif kind in (Kind.SERIES, Kind.BOOL) and not isinstance(arg, (np.ndarray, _Deferred)):
                if not elementwise or (all_scalar and pos == 0):
                    args[pos] = np.full((rows, self._shape[1]), float(arg))
        return args


def evaluate(expr: str | Expr | Sequence[Token], panel: MarketPanel) -> np.ndarray:
    """Evaluate one expression on ``panel`` without a shared cache (see :class:`Evaluator`)."""
    return Evaluator(panel, cache_bytes=0).evaluate(expr)
