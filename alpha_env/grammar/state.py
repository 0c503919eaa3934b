"""GrammarState: build an AlphaStack one token id at a time, with exact action masks.

``mask()`` allows exactly the ids whose push keeps the postfix stack well typed AND leaves it completable
into ONE series (or boolean) within ``max_len`` tokens; ``END`` only when the stack is exactly one series
or boolean. ``max_len`` counts expression tokens, not ``BOS``/``END``.

How exactness is computed. A completion of a stack ``x1 .. xk`` (bottom to top) only applies operators
after ``xk``, so in the final tree the operators above ``xk`` form a *path* from ``xk`` to the root; the
older items ``x(k-1), x(k-2), ...`` are left arguments of path operators, in order, and every argument to
the right of the path is a freshly built sub-tree. With ``fresh[v]`` the fewest tokens that build a value
``v`` from nothing (a tree dynamic programme over the operator table), the fewest tokens that finish
``x1 .. xr`` plus a top value ``c`` obey::

    G[r][c] = min over (operator o, path slot p, right values R) of
              1 + sum(fresh[R]) + G[r - p][o(x(r-p+1) .. xr, c, R)]
    G[0][c] = 0  if c is a series or boolean

Each row depends on two items and the two rows below, so it is computed once per push (``O(|ops|)``)
and kept on a stack of rows; ``mask()`` then only looks up ``G`` for each leaf value and each operator
class, and expands per-class answers to ids with one numpy take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Call, Expr, Group, OpToken, Window
from alpha_env.grammar.checker import TypeRuleError, apply_operator, leaf_value
from alpha_env.grammar.codebook import Codebook, Special
from alpha_env.grammar.degenerate import DEGENERATE_CALLS, WINDOW_BOUNDS, call_reason, degenerate_reason
from alpha_env.grammar.kinds import SERIES_LIKE, Kind, Unit, Value
from alpha_env.grammar.operators import OPERATORS, OperatorSpec

__all__ = ["GrammarState", "GrammarTables", "MEMO_ENTRIES"]

INF = math.inf

#: Most stack states whose rows (and, separately, masks) a :class:`GrammarTables` remembers; past it the
#: memo starts again empty (a bounded cache of pure results: states differ only in the values they hold).
MEMO_ENTRIES = 1 << 16

#: Groups with which some call is degenerate (``market``): told apart from the others when refining.
_FLAT_GROUPS: tuple[str, ...] = tuple(sorted({g for rule in DEGENERATE_CALLS.values()
                                              for g in rule.flat_groups}))


class GrammarTables:
    """Per-codebook tables behind :class:`GrammarState` (built once per codebook and option set).

    Args:
        codebook: the token ids.
        units: enforce unit checks.
        allowed: ``(len(codebook),)`` bool array of the ids that may ever be written (``None``: all); the
            other ids are never allowed, and completability is computed with the allowed ids only.
        memo: remember stack rows and masks (below); ``False`` computes both at every step (the
            reference the tests and ``benchmarks/bench_grammar.py`` compare the memo with).
        refuse_degenerate: never allow a call that its own arguments make degenerate whatever the data
            (:data:`~alpha_env.grammar.degenerate.DEGENERATE_CALLS`: ``correlation(x, 0.5, d)``,
            ``stddev(x, 1)``, ``group_mean(x, market)``); the abstract values then tell windows of
            ``1, 2, 3, >= 4`` days and the ``market`` group apart, so completability stays exact.

    Attributes:
        values: the abstract values (kind, unit) the tables index (a window or group value appears once
            per ``details`` entry when ``refuse_degenerate`` is on).
        details: per index, the shortest window of its window class (``1 2 3 4``: ``4`` means ``>= 4``
            days), the group name of a group that makes some call degenerate (``market``), else ``None``.
        fresh: fewest tokens that build each value from an empty stack (``inf``: impossible).
        allowed: the ``allowed`` mask (read-only; all ``True`` when none was given).

    A stack's row ``G[k]`` and its mask depend only on the abstract values it holds (and, for the mask,
    the token budget left), so :meth:`stack_row` and :meth:`memo_mask` remember them per value tuple
    (at most :data:`MEMO_ENTRIES` each): an agent's episodes revisit the same few thousand states.
    """

    def __init__(self, codebook: Codebook, *, units: bool = False, allowed: np.ndarray | None = None,
                 memo: bool = True, refuse_degenerate: bool = False):
        self.codebook = codebook
        self.units = units
        self.memo = bool(memo)
        self.refuse_degenerate = bool(refuse_degenerate)
        self.allowed = _allowed_mask(codebook, allowed)
        kinds_s = [Value(Kind.SERIES, u) for u in Unit] if units else [Value(Kind.SERIES)]
        entries: list[tuple[Value, object]] = [(v, None) for v in (*kinds_s, Value(Kind.BOOL),
                                                                  Value(Kind.CONST))]
        if self.refuse_degenerate:
            entries += [(Value(Kind.WINDOW), lo) for lo in (1, *WINDOW_BOUNDS)]
            entries += [(Value(Kind.GROUP), name) for name in (*_FLAT_GROUPS, None)]
        else:
            entries += [(Value(Kind.WINDOW), None), (Value(Kind.GROUP), None)]
        self.values: tuple[Value, ...] = tuple(v for v, _ in entries)
        self.details: tuple[object, ...] = tuple(d for _, d in entries)
        self.index = {e: i for i, e in enumerate(entries)}
        nv = len(self.values)
        self.series_like = np.array([v.kind in SERIES_LIKE for v in self.values])

        # -------- token groups: 0 never, 1 end, then one per leaf value, then one per operator class
        n = len(codebook)
        group_of_id = np.zeros(n, dtype=np.int64)
        group_of_id[Codebook.END] = 1
        self.leaf_group_values: list[int] = []  # value index of leaf group g = 2 + j
        leaf_value_ids: dict[int, int] = {}
        classes: dict[tuple, int] = {}
        self.class_specs: list[OperatorSpec] = []
        self.token_value: dict[int, int] = {}
        self.token_class: dict[int, int] = {}
        op_ids: list[tuple[int, int]] = []
        for i, token in enumerate(codebook.tokens):
            if isinstance(token, Special) or not self.allowed[i]:
                continue
            if isinstance(token, OpToken):
                spec = OPERATORS[token.name]
                rule = spec.unit_rule if units else None
                degenerate = DEGENERATE_CALLS.get(spec.name) if self.refuse_degenerate else None
                key = (spec.arg_kinds, spec.result_kind, spec.no_const_slots, rule, degenerate)
                cls = classes.setdefault(key, len(classes))
                if cls == len(self.class_specs):
                    self.class_specs.append(spec)
                self.token_class[i] = cls
                op_ids.append((i, cls))
                continue
            v = self._leaf_index(token)
            self.token_value[i] = v
            if v not in leaf_value_ids:
                leaf_value_ids[v] = len(self.leaf_group_values)
                self.leaf_group_values.append(v)
            group_of_id[i] = 2 + leaf_value_ids[v]
        self.first_class_group = 2 + len(self.leaf_group_values)
        for i, cls in op_ids:
            group_of_id[i] = self.first_class_group + cls
        self.group_of_id = group_of_id
        self.n_groups = self.first_class_group + len(self.class_specs)
        self.leaf_values_arr = np.array(self.leaf_group_values, dtype=np.int64)
        self.class_arity = [s.arity for s in self.class_specs]

        # -------- apply tables: class -> {arg value tuple: result value}
        self.apply: list[dict[tuple[int, ...], int]] = []
        for spec in self.class_specs:
            table: dict[tuple[int, ...], int] = {}
            for combo in itertools.product(range(nv), repeat=spec.arity):
                try:
                    res = apply_operator(spec, tuple(self.values[c] for c in combo), units=units)
                except TypeRuleError:
                    continue
                if self.refuse_degenerate and self._degenerate(spec, combo):
                    continue
                table[combo] = self.index[(res, None)]
            self.apply.append(table)

        # -------- fresh costs (Bellman-Ford over the tree grammar)
        fresh = [INF] * nv
        for v in self.leaf_group_values:
            fresh[v] = 1.0
        changed = True
        while changed:
            changed = False
            for table in self.apply:
                for combo, res in table.items():
                    cost = 1.0 + sum(fresh[c] for c in combo)
                    if cost < fresh[res]:
                        fresh[res] = cost
                        changed = True
        self.fresh = fresh

        # -------- path transitions by number of left (older stack) arguments p
        trans: list[dict[tuple[int, ...], dict[tuple[int, int], float]]] = [{}, {}, {}]
        for table in self.apply:
            for combo, res in table.items():
                for p in range(len(combo)):
                    extra = sum(fresh[c] for c in combo[p + 1:])
                    if extra == INF:
                        continue
                    left, c = combo[:p], combo[p]
                    bucket = trans[p].setdefault(left, {})
                    if extra < bucket.get((c, res), INF):
                        bucket[(c, res)] = extra
        # p = 0: closure D0[c][v] = fewest tokens turning a path value c into v with fresh right arguments.
        d0 = np.full((nv, nv), INF)
        np.fill_diagonal(d0, 0.0)
        for (c, res), extra in trans[0].get((), {}).items():
            d0[c, res] = min(d0[c, res], 1.0 + extra)
        for k in range(nv):
            d0 = np.minimum(d0, d0[:, k:k + 1] + d0[k:k + 1, :])
        self.d0 = d0
        self.trans1 = {left[0]: [(c, res, 1.0 + e) for (c, res), e in b.items()]
                       for left, b in trans[1].items()}
        self.trans2 = {left: [(c, res, 1.0 + e) for (c, res), e in b.items()] for left, b in trans[2].items()}
        self.row0 = self.row((), ())
        self.row0.setflags(write=False)
        self._row_memo: dict[tuple[int, ...], np.ndarray] = {(): self.row0}
        self._mask_memo: dict[tuple[tuple[int, ...], int, bool], np.ndarray] = {}

    def _leaf_index(self, token: object) -> int:
        """Index of a leaf token's abstract value (its window class or flat group, when refined)."""
        detail: object = None
        if self.refuse_degenerate:
            if isinstance(token, Window):
                detail = max(lo for lo in (1, *WINDOW_BOUNDS) if lo <= token.days)
            elif isinstance(token, Group) and token.name in _FLAT_GROUPS:
                detail = token.name
        return self.index[(leaf_value(token, units=self.units), detail)]  # type: ignore[arg-type]

    def _degenerate(self, spec: OperatorSpec, combo: tuple[int, ...]) -> bool:
        """Whether ``spec`` applied to the abstract values ``combo`` is degenerate whatever the data."""
        constant_at = tuple(p for p, c in enumerate(combo)
                            if spec.arg_kinds[p] is Kind.SERIES and self.values[c].kind is Kind.CONST)
        window = next((self.details[c] for c in combo if self.values[c].kind is Kind.WINDOW), None)
        group = next((self.details[c] for c in combo if self.values[c].kind is Kind.GROUP), None)
        return degenerate_reason(spec.name, constant_at, window, group) is not None  # type: ignore[arg-type]

    def __getstate__(self) -> dict:
        """Pickled without the memo (a codebook carries its tables to workers and into saved models)."""
        state = dict(self.__dict__)
        state["_row_memo"] = {(): self.row0}
        state["_mask_memo"] = {}
        return state

    def stack_row(self, values: tuple[int, ...], rows: list[np.ndarray]) -> np.ndarray:
        """``G[k]`` of a stack holding ``values`` (bottom first, ``k = len(values)``) whose rows below the
        top are ``rows`` (``G[0] .. G[k-1]``, at least); read-only, remembered per ``values``."""
        row = self._row_memo.get(values)
        if row is None:
            k = len(values)
            row = self.row(values[max(0, k - 2):], tuple(rows[max(0, k - 2):k]))
            row.setflags(write=False)
            if not self.memo:
                return row
            if len(self._row_memo) >= MEMO_ENTRIES:
                self._row_memo = {(): self.row0}
            self._row_memo[values] = row
        return row

    def memo_mask(self, key: tuple[tuple[int, ...], int, bool]) -> np.ndarray | None:
        """The mask remembered for ``(values, budget, done)``, or ``None``."""
        return self._mask_memo.get(key)

    def remember_mask(self, key: tuple[tuple[int, ...], int, bool], mask: np.ndarray) -> None:
        """Remember a (read-only) mask for ``(values, budget, done)`` (nothing when ``memo`` is off)."""
        if not self.memo:
            return
        if len(self._mask_memo) >= MEMO_ENTRIES:
            self._mask_memo = {}
        self._mask_memo[key] = mask

    def row(self, items: tuple[int, ...], below: tuple[np.ndarray, ...]) -> np.ndarray:
        """``G[r]`` for a stack whose last (at most two) items below the top are ``items`` and whose
        rows ``G[r-1], G[r-2]`` are ``below`` (same order: nearest last)."""
        nv = len(self.values)
        h = np.where(self.series_like, 0.0, INF) if not items else np.full(nv, INF)
        if items:
            prev = below[-1]
            for c, res, cost in self.trans1.get(items[-1], ()):
                cand = cost + prev[res]
                if cand < h[c]:
                    h[c] = cand
            if len(items) >= 2:
                prev2 = below[-2]
                for c, res, cost in self.trans2.get((items[-2], items[-1]), ()):
                    cand = cost + prev2[res]
                    if cand < h[c]:
                        h[c] = cand
        return (self.d0 + h[None, :]).min(axis=1)

    @classmethod
    def for_codebook(cls, codebook: Codebook, *, units: bool = False, allowed: np.ndarray | None = None,
                     refuse_degenerate: bool = False) -> GrammarTables:
        """The tables of ``codebook``, the ``allowed`` ids and the options (built on first use and kept on
        the codebook, one set per distinct mask and option set)."""
        mask = _allowed_mask(codebook, allowed)
        key = ("grammar_tables", units, None if mask.all() else np.packbits(mask).tobytes(),
               bool(refuse_degenerate))
        tables = codebook._cache.get(key)
        if tables is None:
            tables = codebook._cache[key] = cls(codebook, units=units, allowed=mask,
                                                refuse_degenerate=refuse_degenerate)
        return tables


def _allowed_mask(codebook: Codebook, allowed: np.ndarray | None) -> np.ndarray:
    """``allowed`` checked as a ``(len(codebook),)`` bool array (all ``True`` for ``None``), read-only."""
    n = len(codebook)
    if allowed is None:
        mask = np.ones(n, dtype=bool)
    else:
        mask = np.asarray(allowed)
        if mask.dtype != np.bool_ or mask.shape != (n,):
            raise ExpressionError(f"allowed must be a ({n},) bool mask over the codebook, got "
                                  f"{mask.dtype} {mask.shape}")
        mask = mask.copy()
    mask[Codebook.END] = True
    mask.setflags(write=False)
    return mask


class GrammarState:
    """An AlphaStack under construction.

    Args:
        codebook: the token ids.
        max_len: most expression tokens (``BOS``/``END`` not counted); at least 1.
        units: enforce unit checks (price / volume / dimensionless) in the masks.
        allowed: ``(len(codebook),)`` bool array of the ids an agent may use (``None``: every id); the
            masks never allow another id, and completability counts only the allowed ones.
        refuse_degenerate: the masks never allow a call that its own arguments make degenerate whatever
            the data (:data:`~alpha_env.grammar.degenerate.DEGENERATE_CALLS`); they stay exact.

    Attributes (read-only properties): ``ids`` (every pushed id, ``END`` included once pushed),
    ``length`` (expression tokens pushed), ``depth`` (values on the stack), ``complete`` (exactly one
    series or boolean on the stack), ``done`` (``END`` pushed), ``min_to_complete`` (fewest further
    tokens that finish an expression).
    """

    __slots__ = ("codebook", "max_len", "units", "_t", "_values", "_exprs", "_rows", "_ids", "_done", "_mask")

    def __init__(self, codebook: Codebook, max_len: int, *, units: bool = False,
                 allowed: np.ndarray | None = None, refuse_degenerate: bool = False):
        if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
            raise ExpressionError(f"max_len must be a positive integer, got {max_len!r}")
        self.codebook = codebook
        self.max_len = int(max_len)
        self.units = units
        self._t = GrammarTables.for_codebook(codebook, units=units, allowed=allowed,
                                             refuse_degenerate=refuse_degenerate)
        self._values: list[int] = []
        self._exprs: list[Expr] = []
        self._rows: list[np.ndarray] = [self._t.row0]
        self._ids: list[int] = []
        self._done = False
        self._mask: np.ndarray | None = None
        if self.min_to_complete > self.max_len:
            raise ExpressionError(f"codebook {codebook.version} cannot build an expression of at most "
                                  f"{self.max_len} tokens")

    # ------------------------------------------------------------------ properties
    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(self._ids)

    @property
    def length(self) -> int:
        return len(self._ids) - (1 if self._done else 0)

    @property
    def depth(self) -> int:
        return len(self._values)

    @property
    def complete(self) -> bool:
        return len(self._values) == 1 and bool(self._t.series_like[self._values[0]])

    @property
    def done(self) -> bool:
        return self._done

    @property
    def min_to_complete(self) -> int:
        k = len(self._values)
        if k == 0:
            t = self._t
            best = min((1 + self._rows[0][v] for v in t.leaf_group_values), default=INF)
            return int(best) if best < INF else 10**9
        cost = self._rows[k - 1][self._values[-1]]
        return int(cost) if cost < INF else 10**9

    def stack_values(self) -> tuple[Value, ...]:
        """Abstract values on the stack, bottom first."""
        return tuple(self._t.values[v] for v in self._values)

    # ------------------------------------------------------------------ masks
    def mask(self) -> np.ndarray:
        """``(len(codebook),)`` bool array of the ids that may be pushed next (read-only)."""
        if self._mask is not None:
            return self._mask
        t = self._t
        k = len(self._values)
        budget = self.max_len - len(self._ids) - 1
        key = (tuple(self._values), budget, self._done)
        mask = t.memo_mask(key)
        if mask is not None:
            self._mask = mask
            return mask
        ok = np.zeros(t.n_groups, dtype=bool)
        if not self._done and budget >= 0:
            row = self._rows[k]
            ok[2:t.first_class_group] = row[t.leaf_values_arr] <= budget
            values = self._values
            for cls, table in enumerate(t.apply):
                a = t.class_arity[cls]
                if a > k:
                    continue
                res = table.get(tuple(values[k - a:]))
                if res is not None and self._rows[k - a][res] <= budget:
                    ok[t.first_class_group + cls] = True
        ok[1] = not self._done and self.complete
        mask = ok[t.group_of_id]
        mask.setflags(write=False)
        t.remember_mask(key, mask)
        self._mask = mask
        return mask

    def why_not(self, token_id: int) -> str | None:
        """``None`` if ``token_id`` may be pushed, else the reason."""
        if not 0 <= token_id < len(self.codebook):
            return f"id {token_id} is outside the codebook"
        if self.mask()[token_id]:
            return None
        token = self.codebook.token(token_id)
        if self._done:
            return "the expression is finished (END was pushed)"
        if not self._t.allowed[token_id]:
            return f"token {self.codebook.texts[token_id]!r} is not in the allowed vocabulary"
        if isinstance(token, Special):
            if token_id == Codebook.END:
                return f"END needs exactly one series on the stack, it holds {len(self._values)} values"
            return f"<{token.name}> is never written inside an expression"
        if isinstance(token, OpToken):
            spec = OPERATORS[token.name]
            if spec.arity > len(self._values):
                return f"{spec.name} needs {spec.arity} operands, the stack has {len(self._values)}"
            try:
                apply_operator(spec, tuple(self.stack_values()[-spec.arity:]), units=self.units)
            except TypeRuleError as exc:
                return exc.message
            if self._t.refuse_degenerate:
                reason = call_reason(Call(spec.name, tuple(self._exprs[-spec.arity:])))
                if reason is not None:
                    return reason
        elif self._values and self._t.values[self._values[-1]].kind in (Kind.WINDOW, Kind.GROUP):
            top = self._t.values[self._values[-1]].kind.value
            return f"a {top} on top of the stack must be consumed by the next operator"
        if self._t.refuse_degenerate:
            return (f"no single series can be finished within max_len={self.max_len} without a call that is "
                    "degenerate whatever the data")
        return f"no single series can be finished within max_len={self.max_len}"

    # ------------------------------------------------------------------ pushing
    def push(self, token_id: int) -> None:
        """Push one id; raises :class:`ExpressionError` (``position``: token index) if the mask forbids it."""
        token_id = int(token_id)
        reason = self.why_not(token_id)
        if reason is not None:
            text = self.codebook.texts[token_id] if 0 <= token_id < len(self.codebook) else str(token_id)
            raise ExpressionError(f"token {text!r} (id {token_id}) is not allowed here: {reason}",
                                  len(self._ids))
        self._mask = None
        self._ids.append(token_id)
        if token_id == Codebook.END:
            self._done = True
            return
        t = self._t
        if token_id in t.token_value:
            self._values.append(t.token_value[token_id])
            self._exprs.append(self.codebook.tokens[token_id])  # type: ignore[arg-type]
        else:
            cls = t.token_class[token_id]
            spec = OPERATORS[self.codebook.tokens[token_id].name]  # type: ignore[union-attr]
            a = spec.arity
            k = len(self._values)
            res = t.apply[cls][tuple(self._values[k - a:])]
            args = tuple(self._exprs[k - a:])
            del self._values[k - a:], self._exprs[k - a:], self._rows[k - a + 1:]
            self._values.append(res)
            self._exprs.append(Call(spec.name, args))
        self._rows.append(t.stack_row(tuple(self._values), self._rows))

    def extend(self, token_ids: Iterable[int]) -> GrammarState:
        """Push several ids; returns ``self``."""
        for i in token_ids:
            self.push(i)
        return self

    def copy(self) -> GrammarState:
        """An independent copy (the tables are shared)."""
        other = object.__new__(GrammarState)
        other.codebook, other.max_len, other.units = self.codebook, self.max_len, self.units
        other._t = self._t
        other._values, other._exprs, other._rows = list(self._values), list(self._exprs), list(self._rows)
        other._ids, other._done, other._mask = list(self._ids), self._done, self._mask
        return other

    def expression(self) -> Expr:
        """The finished expression; raises :class:`ExpressionError` unless :attr:`complete`."""
        if not self.complete:
            raise ExpressionError(f"the expression is not complete: the stack holds {len(self._values)} "
                                  "values",
                                  len(self._ids))
        return self._exprs[0]
