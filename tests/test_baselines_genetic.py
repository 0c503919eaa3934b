"""Genetic programming baseline: valid individuals only, exact budget, deterministic, and it learns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpha_env.ace import ACE
from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError, SettingsError
from alpha_env.grammar import Call, Window, canonical, check, depth, length, parse
from alpha_env.search.genetic import (
    GPSettings,
    Primitives,
    TypedTreeFactory,
    Variation,
    ace_fitness,
    genetic_search,
)


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=40, n_days=300, news=False)


@pytest.fixture(scope="module")
def ace(panel):
    return ACE(panel)


def _windows(expr):
    if isinstance(expr, Window):
        return [expr.days]
    if isinstance(expr, Call):
        return [d for a in expr.args for d in _windows(a)]
    return []


def test_every_evaluated_individual_is_a_valid_alpha(panel, ace):
    settings = GPSettings(budget=80, population_size=16, max_len=20, max_depth=5)
    prim = Primitives.for_panel(panel)
    seen = []

    def fitness(expr):
        seen.append(expr)
        check(expr, fields=frozenset(panel.field_names))  # raises if ill-typed
        return ace_fitness(ace)(expr)

    genetic_search(fitness, prim, settings, np.random.default_rng(3))
    assert len(seen) == 80
    for e in seen:
        assert length(e) <= 20 and depth(e) <= 5
        assert parse(canonical(e)) == e  # the language round-trips every individual
        assert all(1 <= d <= prim.max_window for d in _windows(e))
        ace.evaluator.evaluate(e)  # evaluable on the panel


def test_budget_counts_distinct_simulations(panel):
    calls = []

    def fitness(expr):
        calls.append(canonical(expr))
        return -float(length(expr))  # converges fast to tiny expressions -> many duplicates

    settings = GPSettings(budget=60, population_size=20)
    result = genetic_search(fitness, Primitives.for_panel(panel), settings, np.random.default_rng(0))
    assert len(calls) == 60 == result.evaluations == len(set(calls))
    assert len(result.history) == 60
    # a budget smaller than the population stops inside generation 0
    small = genetic_search(fitness, Primitives.for_panel(panel), GPSettings(budget=5, population_size=20),
                           np.random.default_rng(0))
    assert small.evaluations == 5 and len(small.generations) == 1


def test_deterministic_by_seed(panel):
    def fitness(expr):
        return math.sin(len(canonical(expr)))  # deterministic, non-trivial landscape

    prim = Primitives.for_panel(panel)
    settings = GPSettings(budget=120, population_size=20)
    a = genetic_search(fitness, prim, settings, np.random.default_rng(11))
    b = genetic_search(fitness, prim, settings, np.random.default_rng(11))
    c = genetic_search(fitness, prim, settings, np.random.default_rng(12))
    assert a.history.expressions == b.history.expressions
    assert [canonical(e) for e in a.population] == [canonical(e) for e in b.population]
    assert a.history.expressions != c.history.expressions


def test_improves_over_its_initial_population_on_the_synthetic_market(panel, ace):
    settings = GPSettings(budget=240, population_size=30)
    result = genetic_search(ace_fitness(ace), Primitives.for_panel(panel), settings, np.random.default_rng(0))
    first, last = result.generations[0], result.generations[-1]
    assert last.evaluations == 240
    best_overall = result.best()[1]
    assert best_overall > first.best + 0.25, (first, result.best())
    assert last.median > first.median + 0.5, (first, last)


def test_variation_operators_keep_types_and_evolve_windows(panel):
    settings = GPSettings(max_len=30, max_depth=6)
    prim = Primitives.for_panel(panel)
    factory = TypedTreeFactory(prim, settings)
    var = Variation(factory, settings)
    rng = np.random.default_rng(5)
    new_windows = set()
    n_valid = 0
    for _ in range(150):
        a = factory.random_individual(rng, 4, full=False)
        b = factory.random_individual(rng, 4, full=True)
        assert factory.valid(a) and factory.valid(b)
        for child in (var.crossover(a, b, rng), var.subtree(a, rng), var.point(a, rng), var.hoist(a, rng),
                      var.window(a, rng)):
            if factory.valid(child):  # invalid candidates are refused by the search, never evaluated
                n_valid += 1
                check(child)
        new_windows.update(d for d in _windows(var.window(a, rng)) if d not in prim.windows)
    assert n_valid > 500  # the typed operators almost always give a valid child
    assert new_windows, "window mutation should reach windows outside the codebook's set"
    assert max(new_windows) <= prim.max_window


def test_bad_settings_are_clear_errors(panel):
    with pytest.raises(SettingsError, match="budget"):
        GPSettings(budget=0)
    with pytest.raises(SettingsError, match="elitism"):
        GPSettings(population_size=4, elitism=4)
    with pytest.raises(SettingsError, match="init_depth"):
        GPSettings(init_depth=(1, 3))
    with pytest.raises(SettingsError, match="not on the panel"):
        Primitives.for_panel(panel, fields=["close", "cap"])
    with pytest.raises(SettingsError, match="Generator"):
        genetic_search(lambda e: 0.0, Primitives.for_panel(panel), GPSettings(), 0)  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="initial individual"):
        genetic_search(lambda e: 0.0, Primitives.for_panel(panel), GPSettings(budget=5),
                       np.random.default_rng(0), initial=[parse("rank(cap)")])


def test_pool_fitness_pays_the_pool_gain_and_zero_when_refused():
    """GP with the pool reward: each individual is offered to the pool; its fitness is the gain."""
    from alpha_env.ace import ACE
    from alpha_env.ace.pools import new_pool
    from alpha_env.data import synthetic_market
    from alpha_env.grammar import parse
    from alpha_env.pool import PoolSettings
    from alpha_env.search import pool_fitness

    ace = ACE(synthetic_market(seed=0, n_stocks=30, n_days=300))
    pool = new_pool(ace, PoolSettings(capacity=3))
    offers = []
    fitness = pool_fitness(ace, pool, on_offer=lambda text, offer: offers.append((text, offer)))
    first = fitness(parse("rank(-delta(close, 5))"))
    assert first == offers[0][1].gain and offers[0][1].accepted and len(pool) == 1
    assert fitness(parse("rank(-1 * delta(close, 5))")) == 0.0  # the same ranks: refused, gain 0
    assert fitness(parse("close - close")) == float("-inf")  # degenerate
    assert fitness(parse("close > -1")) == float("-inf")  # degenerate by its range: not evaluated
    assert [text for text, _ in offers].count("close > -1") == 0


def test_gp_with_the_pool_fitness_is_the_same_with_and_without_the_bounds(monkeypatch):
    from alpha_env.ace import ACE
    from alpha_env.ace.pools import new_pool
    from alpha_env.data import synthetic_market
    from alpha_env.pool import PoolSettings
    from alpha_env.search import pool_fitness

    panel = synthetic_market(seed=2, n_stocks=25, n_days=260, news=False)

    decided = []

    def run(bounds: bool):
        ace = ACE(panel)
        verdict = ace.bound_reason

        def counted(expr, rows=None):
            if not bounds:
                return None  # every individual evaluated
            decided.append(verdict(expr, rows=rows))
            return decided[-1]

        monkeypatch.setattr(ace, "bound_reason", counted)
        pool = new_pool(ace, PoolSettings(capacity=5))
        result = genetic_search(pool_fitness(ace, pool), Primitives.for_panel(panel),
                                GPSettings(budget=120, population_size=20), np.random.default_rng(4))
        return dict(result.fitness_cache), [m.expr for m in pool.members]

    assert run(True) == run(False)
    assert sum(reason is not None for reason in decided) > 0  # some individuals were decided by bounds


@pytest.mark.parametrize("metric", ["sharpe", "ic", "rank_ic", "fitness"])
def test_the_lean_standard_fitness_equals_the_simulations_train_metric(panel, metric):
    """``ace_fitness`` without ``on_result`` (bounds first, then ``ACE.score`` on the dates up to the train
    window's end) gives the bits of the simulation's train metric, ``-inf`` for the same alphas: random GP
    individuals, alphas the bounds decide, and alphas without a value on the train dates that live later."""
    factory = TypedTreeFactory(Primitives.for_panel(panel), GPSettings())
    rng = np.random.default_rng(7)
    exprs = [factory.random_individual(rng, 2 + k % 4, full=bool(k % 2)) for k in range(60)]
    train_days = panel.splits["train"].stop
    exprs += [parse(t) for t in ("sign(volume)", "vwap > adv20", "rank(close)",
                                 f"ts_mean(close, {train_days + 5})", f"-delta(close, {train_days + 2})")]
    lean = ace_fitness(ACE(panel), metric=metric)
    full = ace_fitness(ACE(panel), metric=metric, on_result=lambda result: None)  # simulate every alpha
    values = [(lean(e), full(e)) for e in exprs]
    for e, (a, b) in zip(exprs, values):
        assert a == b or (math.isnan(a) and math.isnan(b)), (canonical(e), a, b)
    assert sum(a == -math.inf for a, _ in values) >= 2 and sum(math.isfinite(a) for a, _ in values) >= 20
    late = [v for e, v in zip(exprs, values) if canonical(e).startswith(("ts_mean(close", "-delta(close"))]
    assert all(a != -math.inf for a, _ in late)  # degenerate on the train dates only: not for the simulation
