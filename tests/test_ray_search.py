"""GP and random search with their evaluations as Ray tasks: the same results as locally."""

from __future__ import annotations

import functools

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from alpha_env.ace import ACE  # noqa: E402
from alpha_env.data import synthetic_market  # noqa: E402
from alpha_env.env import AlphaStackEnv  # noqa: E402
from alpha_env.search.distributed import RayMap, genetic_search_ray, random_search_chunks  # noqa: E402
from alpha_env.search.genetic import GPSettings, Primitives, ace_fitness, genetic_search  # noqa: E402


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=30, n_days=260, news=False)


def test_gp_on_ray_equals_gp_locally(ray_local, panel):
    settings = GPSettings(population_size=12, budget=40)
    prim = Primitives.for_panel(panel)
    local = genetic_search(ace_fitness(ACE(panel)), prim, settings, np.random.default_rng(4))
    remote = genetic_search_ray(ace_fitness(ACE(panel)), prim, settings, np.random.default_rng(4), workers=2)
    assert remote.history.expressions == local.history.expressions
    np.testing.assert_array_equal(remote.history.rewards, local.history.rewards)
    assert remote.best() == local.best()
    assert [g.to_dict() for g in remote.generations] == [g.to_dict() for g in local.generations]


def test_ray_map_keeps_order_and_chunks(ray_local):
    run = RayMap(workers=2, chunks_per_worker=2)
    assert run(abs, [-3, 1, -2, 5, -7]) == [3, 1, 2, 5, 7]
    assert run.tasks == 4
    assert run(abs, []) == []


def test_random_search_chunks_on_ray_equal_local(ray_local, panel):
    env_fn = functools.partial(AlphaStackEnv, panel)
    local = random_search_chunks(env_fn, 9, seed=2, chunks=2)
    remote = random_search_chunks(env_fn, 9, seed=2, chunks=2, map_fn=RayMap(2))
    assert len(local) == 9
    assert remote.expressions == local.expressions
    np.testing.assert_array_equal(remote.rewards, local.rewards)
