"""Genetic programming over the alpha language: a typed baseline on the same evaluator and budget.

Individuals are expression trees (:class:`~alpha_env.grammar.Call` etc.). Every operator, random tree and
variation is typed with the one operator table (:data:`~alpha_env.grammar.OPERATORS`), and every
candidate is checked with :func:`~alpha_env.grammar.check` plus the length / depth limits before it is
evaluated, so every individual ever evaluated is a valid alpha.

Variation operators:

| operator  | what it does                                                                               |
|-----------|--------------------------------------------------------------------------------------------|
| crossover | swap: a sub-tree of parent A is replaced by a sub-tree of parent B of a kind A's slot takes |
| subtree   | a series/boolean sub-tree is replaced by a fresh random tree of the same kind               |
| point     | one node changes: field ↔ field, group ↔ group, constant perturbed, operator ↔ operator of   |
|           | the same signature                                                                          |
| hoist     | a series/boolean sub-tree becomes the whole individual (fights bloat)                       |
| window    | a window is an evolved integer: ``d' = round(d · exp(N(0, σ)))`` clipped to                 |
|           | ``[1, max_window]`` (not limited to the codebook's windows)                                 |

Selection is by tournament (higher fitness wins, then the shorter expression), with elitism.

**Budget rule.** The budget counts *distinct* expressions handed to the fitness function, i.e. ACE
simulations: an expression is keyed by its canonical text, evaluated once, and every later occurrence
(a duplicate child, an elite carried over) reads the cached fitness and does not count again. The
search stops as soon as the budget is spent (the last generation may be partial). A generation that
produces no new expression gets random immigrants, so the search always spends its budget.

Fitness is whatever ``fitness`` returns; :func:`ace_fitness` gives the standard one, the train-split
Sharpe of :meth:`alpha_env.ace.ACE.simulate` (never the valid or test split). Degenerate alphas and
evaluation errors get ``-inf``.

Example::

    import numpy as np
    from alpha_env.ace import ACE
    from alpha_env.data import synthetic_market
    from alpha_env.search.genetic import GPSettings, Primitives, ace_fitness, genetic_search

    panel = synthetic_market(seed=0)
    result = genetic_search(ace_fitness(ACE(panel)), Primitives.for_panel(panel),
                            GPSettings(population_size=40, budget=400), np.random.default_rng(0))
    result.best()          # ('rank(...)', 2.7)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from alpha_env.errors import AlphaEnvError, ExpressionError, SettingsError
from alpha_env.grammar import (
    OPERATORS,
    Call,
    Codebook,
    Const,
    Expr,
    Field,
    Group,
    Kind,
    OpToken,
    Window,
    canonical,
    check,
    depth,
    length,
)
from alpha_env.search.random_search import SearchHistory

if TYPE_CHECKING:
    from alpha_env.ace import ACE, SimulationResult
    from alpha_env.data import MarketPanel

__all__ = [
    "Primitives",
    "GPSettings",
    "GenerationStats",
    "GPResult",
    "TypedTreeFactory",
    "Variation",
    "genetic_search",
    "ace_fitness",
    "pool_fitness",
    "DEFAULT_EXCLUDED_OPERATORS",
]

S, B, W, C, G = Kind.SERIES, Kind.BOOL, Kind.WINDOW, Kind.CONST, Kind.GROUP

#: Operators left out of the default GP vocabulary: ``vec_avg`` is the identity on scalar fields.
DEFAULT_EXCLUDED_OPERATORS: frozenset[str] = frozenset({"vec_avg"})

Path = tuple[int, ...]


# --------------------------------------------------------------------------------------------- primitives
@dataclass(frozen=True)
class Primitives:
    """The terminals and operators the GP may use.

    Attributes:
        fields: field names (must exist on the panel the fitness is computed on).
        groups: group names for group operators (``market`` always works).
        windows: windows (days) used when a random tree needs a window; mutation may leave this set.
        constants: constants for series slots of arithmetic operators and ``scale``.
        operators: canonical operator names.
        max_window: longest window (days) a window mutation may produce.
    """

    fields: tuple[str, ...]
    groups: tuple[str, ...]
    windows: tuple[int, ...]
    constants: tuple[float, ...]
    operators: tuple[str, ...]
    max_window: int

    def __post_init__(self) -> None:
        if not self.fields:
            raise SettingsError("Primitives need at least one field")
        if not self.windows or min(self.windows) < 1:
            raise SettingsError(f"Primitives need positive windows, got {self.windows}")
        if self.max_window < max(self.windows):
            raise SettingsError(
                f"max_window={self.max_window} is below the largest window {max(self.windows)}")
        unknown = [op for op in self.operators if op not in OPERATORS]
        if unknown:
            raise SettingsError(f"unknown operator(s) {unknown}; canonical names only")
        if not any(OPERATORS[op].result_kind is S for op in self.operators):
            raise SettingsError("Primitives need at least one operator returning a series")
        needs_group = any(G in OPERATORS[op].arg_kinds for op in self.operators)
        if needs_group and not self.groups:
            raise SettingsError("group operators need at least one group")
        needs_const = any(C in OPERATORS[op].arg_kinds for op in self.operators)
        if needs_const and not self.constants:
            raise SettingsError("operators with a constant argument (scale) need at least one constant")

    @classmethod
    def for_panel(
        cls,
        panel: MarketPanel,
        *,
        codebook: Codebook | None = None,
        operators: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        max_window: int | None = None,
    ) -> Primitives:
        """Primitives for ``panel``: its fields and groups, the codebook's agent windows and constants.

        Args:
            panel: the market panel.
            codebook: source of the windows and constants (agent vocabulary; default codebook).
            operators: canonical names (default: every operator of the codebook's agent vocabulary but
                :data:`DEFAULT_EXCLUDED_OPERATORS`; operators newer than the vocabulary are parse-only).
            fields: field names (default: every field of the panel, i.e. ``panel.field_names``).
            max_window: longest window (default: a quarter of the train split, at most 250 days).
        """
        book = codebook if codebook is not None else Codebook.default()
        agent = [t for t, ok in zip(book.tokens, book.agent_vocabulary) if ok]
        train = panel.splits.get("train", slice(None))
        train_len = len(range(*train.indices(panel.n_dates)))
        limit = int(max_window) if max_window is not None else max(2, min(250, train_len // 4))
        windows = sorted({t.days for t in agent if isinstance(t, Window) and t.days <= limit})
        if not windows:
            raise SettingsError(f"no codebook window fits max_window={limit} days")
        names = tuple(fields) if fields is not None else tuple(panel.field_names)
        missing = [f for f in names if not panel.has_field(f)]
        if missing:
            raise SettingsError(f"field(s) {missing} are not on the panel; it has {list(panel.field_names)}")
        agent_ops = {t.name for t in agent if isinstance(t, OpToken)}
        ops = tuple(operators) if operators is not None else tuple(
            op for op in OPERATORS if op not in DEFAULT_EXCLUDED_OPERATORS and op in agent_ops
        )
        return cls(
            fields=names,
            groups=tuple(panel.group_names),
            windows=tuple(windows),
            constants=tuple(sorted({t.value for t in agent if isinstance(t, Const)})),
            operators=ops,
            max_window=limit,
        )


# ----------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class GPSettings:
    """Hyper-parameters of :func:`genetic_search`.

    Attributes:
        budget: distinct expressions evaluated (ACE simulations; see the module's budget rule).
        population_size: individuals per generation.
        tournament_size: contestants per tournament.
        elitism: best distinct individuals copied unchanged into the next generation.
        p_crossover, p_subtree, p_point, p_hoist, p_window: shares of the variation operators (normalised;
            a child that is none of them is a copy of its parent).
        init_depth: (min, max) tree height of the ramped half-and-half initial population.
        max_depth: largest tree height (leaf = 1).
        max_len: largest AlphaStack length (tokens).
        p_const: chance that a series argument of an arithmetic operator is a constant.
        window_sigma: σ of the log-normal window step.
        max_tries: attempts to produce a valid new child before copying the parent.
    """

    budget: int = 500
    population_size: int = 50
    tournament_size: int = 3
    elitism: int = 2
    p_crossover: float = 0.5
    p_subtree: float = 0.2
    p_point: float = 0.1
    p_hoist: float = 0.05
    p_window: float = 0.15
    init_depth: tuple[int, int] = (2, 4)
    max_depth: int = 6
    max_len: int = 30
    p_const: float = 0.15
    window_sigma: float = 0.4
    max_tries: int = 20

    def __post_init__(self) -> None:
        for name in ("budget", "population_size", "tournament_size", "max_depth", "max_len", "max_tries"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise SettingsError(f"GPSettings.{name} must be an integer >= 1, got {value!r}")
        if not 0 <= self.elitism < self.population_size:
            raise SettingsError(f"elitism must be in [0, population_size), got {self.elitism}")
        if self.population_size < 2:
            raise SettingsError("population_size must be >= 2")
        probs = self.probabilities()
        if any(p < 0 or not math.isfinite(p) for p in probs) or sum(probs) <= 0:
            raise SettingsError(f"variation probabilities must be finite, >= 0 and not all 0, got {probs}")
        lo, hi = self.init_depth
        if not 2 <= lo <= hi <= self.max_depth:
            raise SettingsError(
                f"init_depth must satisfy 2 <= min <= max <= max_depth, got {self.init_depth}")
        if not 0 <= self.p_const <= 1:
            raise SettingsError(f"p_const must be in [0, 1], got {self.p_const}")
        if not self.window_sigma > 0:
            raise SettingsError(f"window_sigma must be > 0, got {self.window_sigma}")

    def probabilities(self) -> tuple[float, ...]:
        """(crossover, subtree, point, hoist, window) shares as given."""
        return (self.p_crossover, self.p_subtree, self.p_point, self.p_hoist, self.p_window)


# ------------------------------------------------------------------------------------------ tree helpers
def _nodes(expr: Expr, path: Path = ()) -> list[tuple[Path, Expr]]:
    """Every node with its path (argument indices from the root), pre-order."""
    out = [(path, expr)]
    if isinstance(expr, Call):
        for i, arg in enumerate(expr.args):
            out.extend(_nodes(arg, (*path, i)))
    return out


def _replace(expr: Expr, path: Path, new: Expr) -> Expr:
    if not path:
        return new
    assert isinstance(expr, Call)
    args = list(expr.args)
    args[path[0]] = _replace(args[path[0]], path[1:], new)
    return Call(expr.op, tuple(args))


def _kind(expr: Expr) -> Kind:
    """Kind of a (well-typed) sub-tree."""
    if isinstance(expr, Call):
        return OPERATORS[expr.op].result_kind
    if isinstance(expr, Field):
        return S
    if isinstance(expr, Window):
        return W
    if isinstance(expr, Group):
        return G
    return C


def _slot_kind(root: Expr, path: Path) -> Kind:
    """Kind the parent expects at ``path`` (the root is a series slot)."""
    if not path:
        return S
    node = root
    for i in path[:-1]:
        assert isinstance(node, Call)
        node = node.args[i]
    assert isinstance(node, Call)
    return OPERATORS[node.op].arg_kinds[path[-1]]


def _fits(slot: Kind, kind: Kind) -> bool:
    """Whether a non-constant sub-tree of ``kind`` may fill ``slot`` (a constant only by explicit choice)."""
    return kind in (S, B) if slot is S else kind is slot


# --------------------------------------------------------------------------------------- random trees
class TypedTreeFactory:
    """Random typed trees (grow / full) from :class:`Primitives`, and the validity check of candidates."""

    _ARITHMETIC = frozenset({"add", "sub", "mul", "div", "pow", "signedpower", "max", "min"})

    def __init__(self, primitives: Primitives, settings: GPSettings):
        self.p = primitives
        self.s = settings
        self._fields = frozenset(primitives.fields)
        self.by_result: dict[Kind, list[str]] = {S: [], B: []}
        for op in primitives.operators:
            kind = OPERATORS[op].result_kind
            if kind in self.by_result:
                self.by_result[kind].append(op)
        self._min_depth = {op: self._op_min_depth(op, set()) for op in primitives.operators}

    def _kind_min_depth(self, kind: Kind, seen: set[str]) -> float:
        if kind in (W, G, C):
            return 1
        if kind is S:
            return 1  # a field
        options = [self._op_min_depth(op, seen) for op in self.by_result[B] if op not in seen]
        return min(options, default=math.inf)

    def _op_min_depth(self, op: str, seen: set[str]) -> float:
        spec = OPERATORS[op]
        seen = seen | {op}
        return 1 + max(self._kind_min_depth(k, seen) for k in spec.arg_kinds)

    def min_depth(self, kind: Kind) -> float:
        """Smallest height of a tree of ``kind`` with these primitives."""
        if kind is B:
            return min((self._min_depth[op] for op in self.by_result[B]), default=math.inf)
        return 1

    def leaf(self, kind: Kind, rng: np.random.Generator) -> Expr:
        """A random terminal of ``kind`` (a field for a series)."""
        if kind is W:
            return Window(int(self.p.windows[int(rng.integers(len(self.p.windows)))]))
        if kind is G:
            return Group(self.p.groups[int(rng.integers(len(self.p.groups)))])
        if kind is C:
            return Const(float(self.p.constants[int(rng.integers(len(self.p.constants)))]))
        if kind is S:
            return Field(self.p.fields[int(rng.integers(len(self.p.fields)))])
        raise SettingsError(f"no terminal of kind {kind.value}")

    def tree(self, kind: Kind, max_depth: int, rng: np.random.Generator, *, full: bool = False) -> Expr:
        """A random tree of ``kind`` of height at most ``max_depth`` (``full``: no early series leaves)."""
        if kind in (W, G, C):
            return self.leaf(kind, rng)
        if kind is S and (max_depth <= 1 or (not full and rng.random() < 0.3)):
            return self.leaf(S, rng)
        if kind is S:
            pool = [op for op in self.by_result[S] if self._min_depth[op] <= max_depth]
            bools = [op for op in self.by_result[B] if self._min_depth[op] <= max_depth]
            if bools and (not pool or rng.random() < 0.15):  # booleans as series are allowed but rarer
                pool = bools
        else:
            pool = [op for op in self.by_result[B] if self._min_depth[op] <= max_depth]
        if not pool:
            if kind is S:
                return self.leaf(S, rng)
            raise SettingsError(f"cannot build a {kind.value} of height <= {max_depth} with these operators")
        op = pool[int(rng.integers(len(pool)))]
        spec = OPERATORS[op]
        args: list[Expr] = []
        for i, slot in enumerate(spec.arg_kinds):
            if slot is S and i > 0 and op in self._ARITHMETIC and i not in spec.no_const_slots \
                    and self.p.constants and rng.random() < self.s.p_const:
                args.append(self.leaf(C, rng))
            else:
                args.append(self.tree(slot, max_depth - 1, rng, full=full))
        return Call(op, tuple(args))

    def valid(self, expr: Expr) -> bool:
        """Well typed (a series or boolean alpha, known fields/groups) and within the length/depth limits."""
        if length(expr) > self.s.max_len or depth(expr) > self.s.max_depth:
            return False
        try:
            value = check(expr, fields=self._fields)
        except ExpressionError:
            return False
        if value.kind not in (S, B):
            return False
        for _, node in _nodes(expr):
            if isinstance(node, Field) and node.name not in self._fields:
                return False
            if isinstance(node, Group) and node.name not in self.p.groups:
                return False
            if isinstance(node, Call) and node.op not in self.p.operators:
                return False
            if isinstance(node, Window) and node.days > self.p.max_window:
                return False
        return True

    def random_individual(self, rng: np.random.Generator, height: int, *, full: bool) -> Expr:
        """A valid random alpha (a series-valued operator at the root) of height at most ``height``."""
        for _ in range(100):
            e = self.tree(S, height, rng, full=full)
            if isinstance(e, Call) and self.valid(e):
                return e
        raise SettingsError("could not draw a valid random alpha; loosen max_len / max_depth")


# -------------------------------------------------------------------------------------------- variation
class Variation:
    """The variation operators of the module table; each returns a candidate (checked by the caller)."""

    NAMES: tuple[str, ...] = ("crossover", "subtree", "point", "hoist", "window")

    def __init__(self, factory: TypedTreeFactory, settings: GPSettings):
        self.f = factory
        self.s = settings

    def crossover(self, a: Expr, b: Expr, rng: np.random.Generator) -> Expr:
        """Replace a random sub-tree of ``a`` by a sub-tree of ``b`` whose kind ``a``'s slot accepts."""
        targets = [p for p, n in _nodes(a) if _kind(n) in (S, B, W)]
        path = targets[int(rng.integers(len(targets)))]
        slot = _slot_kind(a, path)
        donors = [n for _, n in _nodes(b) if _fits(slot, _kind(n))]
        if not donors:
            return a
        return _replace(a, path, donors[int(rng.integers(len(donors)))])

    def subtree(self, a: Expr, rng: np.random.Generator) -> Expr:
        """Replace a random series/boolean sub-tree by a fresh random tree of the same kind."""
        targets = [(p, n) for p, n in _nodes(a) if _kind(n) in (S, B)]
        path, node = targets[int(rng.integers(len(targets)))]
        kind = _kind(node) if _slot_kind(a, path) is B else S
        room = self.s.max_depth - len(path)
        if room < self.f.min_depth(kind):
            return a
        return _replace(a, path, self.f.tree(kind, min(room, 4), rng, full=False))

    def point(self, a: Expr, rng: np.random.Generator) -> Expr:
        """Change one node: another field/group, a perturbed constant, another window, or another operator
        of the same signature."""
        path, node = _nodes(a)[int(rng.integers(len(_nodes(a))))]
        if isinstance(node, Field):
            new: Expr = self.f.leaf(S, rng)
        elif isinstance(node, Group):
            new = self.f.leaf(G, rng)
        elif isinstance(node, Const):
            new = Const(float(np.round(node.value * math.exp(rng.normal(0.0, 0.5)), 4))) \
                if node.value != 0 and rng.random() < 0.5 else self.f.leaf(C, rng)
        elif isinstance(node, Window):
            new = Window(self._step_window(node.days, rng))
        else:
            assert isinstance(node, Call)
            spec = OPERATORS[node.op]
            same = [op for op in self.f.p.operators
                    if OPERATORS[op].arg_kinds == spec.arg_kinds
                    and OPERATORS[op].result_kind is spec.result_kind and op != node.op]
            if not same:
                return a
            new = Call(same[int(rng.integers(len(same)))], node.args)
        return _replace(a, path, new)

    def hoist(self, a: Expr, rng: np.random.Generator) -> Expr:
        """Make a random proper series/boolean operator sub-tree the whole individual."""
        inner = [n for p, n in _nodes(a) if p and isinstance(n, Call) and _kind(n) in (S, B)]
        if not inner:
            return a
        return inner[int(rng.integers(len(inner)))]

    def window(self, a: Expr, rng: np.random.Generator) -> Expr:
        """Move one window by a log-normal step (an evolved integer argument)."""
        targets = [(p, n) for p, n in _nodes(a) if isinstance(n, Window)]
        if not targets:
            return self.point(a, rng)
        path, node = targets[int(rng.integers(len(targets)))]
        assert isinstance(node, Window)
        return _replace(a, path, Window(self._step_window(node.days, rng)))

    def _step_window(self, days: int, rng: np.random.Generator) -> int:
        new = int(round(days * math.exp(rng.normal(0.0, self.s.window_sigma))))
        if new == days:
            new = days + (1 if rng.random() < 0.5 else -1)
        return int(min(max(new, 1), self.f.p.max_window))


# -------------------------------------------------------------------------------------------- the search
@dataclass(frozen=True)
class GenerationStats:
    """One generation: fitness summary (finite values), new evaluations, evaluations spent so far."""

    generation: int
    best: float
    mean: float
    median: float
    n_new: int
    n_unique: int
    evaluations: int

    def to_dict(self) -> dict[str, float]:
        """Plain dict."""
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass
class GPResult:
    """Outcome of :func:`genetic_search`.

    Attributes:
        history: one entry per distinct evaluation, in order (reward = fitness, ``-inf`` mapped to the
            entry's ``valid=False``).
        generations: statistics per generation (generation 0 is the initial population).
        population: the last population (trees) and ``fitness`` of each.
        fitness_cache: canonical text → fitness of every evaluated expression.
    """

    history: SearchHistory
    generations: list[GenerationStats]
    population: list[Expr]
    fitness: list[float]
    fitness_cache: dict[str, float] = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        """Distinct expressions evaluated (the budget spent)."""
        return len(self.fitness_cache)

    def best(self) -> tuple[str, float]:
        """Best expression ever evaluated and its fitness (``("", nan)`` when none was finite)."""
        return self.history.best()

    def top(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` best distinct evaluated expressions with their fitness, best first."""
        finite = [(k, v) for k, v in self.fitness_cache.items() if math.isfinite(v)]
        finite.sort(key=lambda kv: (-kv[1], len(kv[0]), kv[0]))
        return finite[:n]


def genetic_search(
    fitness: Callable[[Expr], float],
    primitives: Primitives,
    settings: GPSettings,
    rng: np.random.Generator,
    *,
    initial: Sequence[Expr] = (),
    on_generation: Callable[[GenerationStats], None] | None = None,
    map_fn: Callable[[Callable[[Expr], float], list[Expr]], Sequence[float]] | None = None,
) -> GPResult:
    """Evolve alphas with a budget of ``settings.budget`` distinct fitness evaluations.

    Args:
        fitness: expression tree → fitness (higher is better; non-finite means degenerate). Called once
            per distinct canonical text.
        primitives: fields, groups, windows, constants and operators (:meth:`Primitives.for_panel`).
        settings: :class:`GPSettings`.
        rng: the only source of randomness (same generator state, same search).
        initial: optional expressions placed in the initial population first (invalid ones are refused
            with an :class:`~alpha_env.errors.ExpressionError`).
        on_generation: called with the statistics of each finished generation.
        map_fn: optional executor hook ``map_fn(fn, exprs) -> values`` (in order) that evaluates a
            generation's new expressions, e.g. as Ray tasks (:mod:`alpha_env.search.distributed`);
            default: one after the other in this process. The search is the same either way.

    Returns:
        a :class:`GPResult`.
    """
    if not isinstance(rng, np.random.Generator):
        raise SettingsError(f"genetic_search needs an np.random.Generator, got {type(rng).__name__}")
    factory = TypedTreeFactory(primitives, settings)
    variation = Variation(factory, settings)
    cache: dict[str, float] = {}
    history = SearchHistory()

    def safe_fitness(expr: Expr) -> float:
        try:
            value = float(fitness(expr))
        except AlphaEnvError:
            value = -math.inf
        return value if math.isfinite(value) else -math.inf

    def score_many(exprs: list[Expr]) -> list[float | None]:
        """Fitness of each of ``exprs`` (new ones evaluated together, in order, within the budget);
        ``None`` for a new expression beyond the budget."""
        new: dict[str, Expr] = {}
        for expr in exprs:
            key = canonical(expr)
            if key not in cache and key not in new and len(cache) + len(new) < settings.budget:
                new[key] = expr
        if new:
            todo = list(new.values())
            values = map_fn(safe_fitness, todo) if map_fn is not None else [safe_fitness(e) for e in todo]
            for (key, expr), value in zip(new.items(), values, strict=True):
                value = float(value) if math.isfinite(value) else -math.inf
                cache[key] = value
                history.add(value if math.isfinite(value) else float("nan"), key, math.isfinite(value),
                            length(expr))
        return [cache.get(canonical(expr)) for expr in exprs]

    def score(expr: Expr) -> float | None:
        """Fitness of ``expr``; ``None`` when the budget is spent and ``expr`` is new."""
        return score_many([expr])[0]

    # ---- generation 0: the given expressions, then ramped half-and-half
    pop: list[Expr] = []
    fit: list[float] = []
    seen: set[str] = set()

    def admit(expr: Expr) -> bool:
        key = canonical(expr)
        if key in seen:
            return True
        value = score(expr)
        if value is None:
            return False
        seen.add(key)
        pop.append(expr)
        fit.append(value)
        return True

    for expr in initial:
        if not factory.valid(expr):
            raise ExpressionError(
                f"initial individual {canonical(expr)!r} does not fit the GP primitives/limits")
        if len(pop) >= settings.population_size or not admit(expr):
            break
    lo, hi = settings.init_depth
    heights = list(range(lo, hi + 1))
    attempts = 0
    batch: list[Expr] = []  # drawn first, then evaluated together (same draws as one by one)
    while len(pop) + len(batch) < settings.population_size and len(cache) + len(batch) < settings.budget \
            and attempts < 50 * settings.population_size:
        height = heights[attempts % len(heights)]
        expr = factory.random_individual(rng, height, full=bool((attempts // len(heights)) % 2))
        attempts += 1
        key = canonical(expr)
        if key not in seen:
            seen.add(key)
            batch.append(expr)
    for expr, value in zip(batch, score_many(batch), strict=True):
        pop.append(expr)
        fit.append(value)
    generations = [_stats(0, fit, len(fit), len(cache))]
    if on_generation is not None:
        on_generation(generations[-1])

    probs = np.asarray(settings.probabilities(), dtype=np.float64)
    probs = probs / probs.sum()
    gen = 0
    while len(cache) < settings.budget and pop:
        gen += 1
        before = len(cache)
        order = sorted(range(len(pop)), key=lambda i: (-fit[i], length(pop[i])))
        new_pop: list[Expr] = []
        new_fit: list[float] = []
        keys: set[str] = set()
        for i in order:
            if len(new_pop) >= settings.elitism:
                break
            k = canonical(pop[i])
            if k not in keys:
                keys.add(k)
                new_pop.append(pop[i])
                new_fit.append(fit[i])
        stalled = 0
        children: list[Expr] = []  # drawn first, then evaluated together (same draws as one by one)
        pending: set[str] = set()
        while len(new_pop) + len(children) < settings.population_size:
            child = _make_child(pop, fit, factory, variation, probs, settings, rng)
            key = canonical(child)
            if key in keys and stalled < settings.max_tries:
                stalled += 1
                continue
            if key not in cache and key not in pending:
                if len(cache) + len(pending) >= settings.budget:
                    break
                pending.add(key)
            keys.add(key)
            children.append(child)
        for child, value in zip(children, score_many(children), strict=True):
            new_pop.append(child)
            new_fit.append(value)
        if len(cache) == before and len(cache) < settings.budget:
            # converged: nothing new this generation; bring in random immigrants to spend the budget
            n_imm = max(1, settings.population_size // 4)
            for j in range(n_imm):
                height = heights[j % len(heights)]
                imm = factory.random_individual(rng, height, full=False)
                value = score(imm)
                if value is None:
                    break
                slot = len(new_pop) - 1 - j
                if slot >= settings.elitism:
                    new_pop[slot] = imm
                    new_fit[slot] = value
        pop, fit = new_pop, new_fit
        generations.append(_stats(gen, fit, len(cache) - before, len(cache)))
        if on_generation is not None:
            on_generation(generations[-1])
    return GPResult(history=history, generations=generations, population=pop, fitness=fit,
                    fitness_cache=cache)


def _tournament(fit: list[float], pop: list[Expr], k: int, rng: np.random.Generator) -> Expr:
    n = len(pop)
    idx = rng.choice(n, size=min(k, n), replace=False)
    best = max(idx, key=lambda i: (fit[i], -length(pop[i]), -int(i)))
    return pop[int(best)]


def _make_child(
    pop: list[Expr],
    fit: list[float],
    factory: TypedTreeFactory,
    variation: Variation,
    probs: np.ndarray,
    settings: GPSettings,
    rng: np.random.Generator,
) -> Expr:
    """One valid child: a variation of tournament winners, or a copy of the parent after ``max_tries``."""
    parent = _tournament(fit, pop, settings.tournament_size, rng)
    for _ in range(settings.max_tries):
        op = Variation.NAMES[int(rng.choice(len(probs), p=probs))]
        if op == "crossover":
            other = _tournament(fit, pop, settings.tournament_size, rng)
            child = variation.crossover(parent, other, rng)
        else:
            child = getattr(variation, op)(parent, rng)
        if child != parent and factory.valid(child):
            return child
    return parent


def _stats(generation: int, fit: list[float], n_new: int, evaluations: int) -> GenerationStats:
    finite = np.asarray([f for f in fit if math.isfinite(f)], dtype=np.float64)
    if finite.size == 0:
        return GenerationStats(generation, math.nan, math.nan, math.nan, n_new, len(fit), evaluations)
    return GenerationStats(generation, float(finite.max()), float(finite.mean()), float(np.median(finite)),
                           n_new, len(fit), evaluations)


# ------------------------------------------------------------------------------------------- ACE fitness
def ace_fitness(
    ace: ACE,
    *,
    metric: str = "sharpe",
    on_result: Callable[[SimulationResult], Any] | None = None,
) -> Callable[[Expr], float]:
    """The standard GP fitness: ``metric`` of the *train* split of :meth:`ACE.simulate`.

    Degenerate alphas (``degenerate_reason`` set) score ``-inf``. ``on_result`` sees every simulation
    (e.g. to keep the results for selection). The valid and test splits are never read.

    Without ``on_result`` nothing but that number is computed, the same bits as the simulation's: an alpha
    that :meth:`~alpha_env.ace.ACE.bound_reason` decides degenerate over the whole panel is not evaluated,
    the others are scored with :meth:`~alpha_env.ace.ACE.score` on the dates up to the train window's end
    (the train metrics of a simulation, bit for bit; every operator is causal), with the (rank) IC only
    when it is ``metric``; one degenerate on those dates is scored again on the whole panel, whose verdict
    is the simulation's. ``tests/test_baselines_genetic.py`` checks the equality.
    """
    rank_ic, ic = metric == "rank_ic", metric == "ic"

    def lean(expr: Expr) -> float:
        if ace.bound_reason(expr) is not None:  # the whole panel's bound: the simulation is degenerate
            return -math.inf
        score = ace.score(expr, "train", rank_ic=rank_ic, ic=ic, rows=ace.window_rows("train"))
        if score.degenerate_reason is not None and score.rows < ace.panel.n_dates:
            score = ace.score(expr, "train", rank_ic=rank_ic, ic=ic)  # maybe live after the train window
        if score.degenerate_reason is not None:
            return -math.inf
        return float(score.metrics[metric])

    def fitness(expr: Expr) -> float:
        if on_result is None:
            return lean(expr)
        result = ace.simulate(expr, save=False)
        on_result(result)
        if result.degenerate_reason is not None:
            return -math.inf
        return float(result.metrics["train"][metric])

    return fitness


def pool_fitness(
    ace: ACE,
    pool: Any,
    *,
    on_offer: Callable[[str, Any], Any] | None = None,
) -> Callable[[Expr], float]:
    """The pool reward as a GP fitness: each evaluated individual is offered to ``pool`` (an
    :class:`~alpha_env.pool.AlphaPool` on ``ace.panel``, e.g. :func:`alpha_env.ace.pools.new_pool`) and
    scores the gain of the pool objective (exactly 0 when refused), as the env's ``reward="pool"`` pays, so
    GP and PPO are compared pool to pool. The pool changes as the search runs (the fitness of an
    expression depends on when it is offered); degenerate alphas score ``-inf`` (those that
    :meth:`~alpha_env.ace.ACE.bound_reason` decides, without being evaluated). Only train data is read
    (:func:`~alpha_env.ace.pools.score_for_pool`: the dates up to the train window's end; an admitted
    alpha is then evaluated in full for the pool's combined signal). ``on_offer(text, offer)`` sees every
    offer.
    """

    from alpha_env.ace.pools import offer_score, score_for_pool

    def fitness(expr: Expr) -> float:
        # degenerate by the fields' ranges alone (vwap > adv10): -inf without evaluating it
        if ace.bound_reason(expr, rows=max(ace.window_rows("train"), pool.signal_rows)) is not None:
            return -math.inf
        score = score_for_pool(ace, pool, expr)
        if score.degenerate_reason is not None or not math.isfinite(score.metrics.get("sharpe", math.nan)):
            return -math.inf
        offer = offer_score(ace, pool, score)
        if on_offer is not None:
            on_offer(score.expression, offer)
        return float(offer.gain)

    return fitness
