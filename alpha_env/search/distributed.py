"""The searchers' evaluations as Ray tasks (the optional ``alpha-env[ray]`` extra).

* :class:`RayMap` — an executor for :func:`~alpha_env.search.genetic.genetic_search`'s ``map_fn`` hook:
  each generation's new expressions are split into chunks, one Ray task per chunk; the fitness function
  (and the panel inside it) is put once in the object store per search, so every task on a machine reads
  the same shared-memory arrays. GP on Ray gives the same search as GP locally: the generation is drawn
  first, then evaluated, and only fitness values come back.
* :func:`genetic_search_ray` — :func:`~alpha_env.search.genetic.genetic_search` with a :class:`RayMap`.
* :func:`random_search_chunks` — masked random search split into ``chunks`` independent runs (chunk
  ``k`` spends its share of the evaluations with seed ``seed + k``), run locally or as Ray tasks with the
  same result; histories concatenated in chunk order.

Ray is imported only when these run; start it first (``ray.init(...)``) or let the first call start a
local instance. Example::

    import ray
    from alpha_env.search.distributed import genetic_search_ray

    ray.init(num_cpus=2, include_dashboard=False)
    result = genetic_search_ray(ace_fitness(ACE(panel)), Primitives.for_panel(panel), GPSettings(),
                                np.random.default_rng(0), workers=2)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alpha_env.errors import SettingsError

if TYPE_CHECKING:
    import gymnasium as gym
    import numpy as np

    from alpha_env.grammar import Expr
    from alpha_env.search.genetic import GenerationStats, GPResult, GPSettings, Primitives
    from alpha_env.search.random_search import SearchHistory

__all__ = ["RayMap", "genetic_search_ray", "random_search_chunks", "local_map"]


def _evaluate_chunk(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """Body of one Ray task: ``fn`` over ``items``, in order."""
    return [fn(item) for item in items]


def local_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """The in-process executor: ``fn`` over ``items``, in order (what ``map_fn=None`` means)."""
    return [fn(item) for item in items]


class RayMap:
    """``map_fn(fn, items)`` evaluated as Ray tasks: ``items`` in at most ``workers * chunks_per_worker``
    contiguous chunks, one task per chunk, results in input order.

    Args:
        workers: parallel tasks to aim for (Ray schedules them on the CPUs it has).
        chunks_per_worker: more chunks balance uneven evaluation times; fewer cost fewer round trips.
        num_cpus: CPUs each task reserves.
    """

    def __init__(self, workers: int = 2, *, chunks_per_worker: int = 1, num_cpus: float = 1.0) -> None:
        if workers < 1 or chunks_per_worker < 1:
            raise SettingsError(f"RayMap needs workers >= 1 and chunks_per_worker >= 1, got {workers} and "
                                f"{chunks_per_worker}")
        self.workers = int(workers)
        self.chunks_per_worker = int(chunks_per_worker)
        self.num_cpus = float(num_cpus)
        self._fn: Any = None
        self._fn_ref: Any = None
        self._task: Any = None
        self.tasks = 0
        """Ray tasks submitted so far."""

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        import ray

        items = list(items)
        if not items:
            return []
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        if self._task is None:
            self._task = ray.remote(num_cpus=self.num_cpus)(_evaluate_chunk)
        if fn is not self._fn:  # the function (and the panel in it) goes once to the object store
            self._fn, self._fn_ref = fn, ray.put(fn)
        n_chunks = min(len(items), self.workers * self.chunks_per_worker)
        bounds = [round(k * len(items) / n_chunks) for k in range(n_chunks + 1)]
        refs = [self._task.remote(self._fn_ref, items[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
        self.tasks += len(refs)
        return [value for values in ray.get(refs) for value in values]


def genetic_search_ray(
    fitness: Callable[[Expr], float],
    primitives: Primitives,
    settings: GPSettings,
    rng: np.random.Generator,
    *,
    workers: int = 2,
    initial: Sequence[Expr] = (),
    on_generation: Callable[[GenerationStats], None] | None = None,
) -> GPResult:
    """:func:`~alpha_env.search.genetic.genetic_search` with each generation's new expressions evaluated
    as Ray tasks over ``workers`` workers (same arguments, same result as the local search)."""
    from alpha_env.search.genetic import genetic_search

    return genetic_search(fitness, primitives, settings, rng, initial=initial, on_generation=on_generation,
                          map_fn=RayMap(workers))


def _random_chunk(env_fn: Callable[[], gym.Env], job: tuple[int, int]) -> SearchHistory:
    """One chunk of random search: ``job = (n_evaluations, seed)`` on a fresh environment."""
    from alpha_env.search.random_search import random_search

    n, seed = job
    env = env_fn()
    try:
        return random_search(env, n, seed=seed)
    finally:
        env.close()


def random_search_chunks(
    env_fn: Callable[[], gym.Env],
    n_evaluations: int,
    seed: int = 0,
    *,
    chunks: int = 2,
    map_fn: Callable[[Callable[[Any], Any], list[Any]], Sequence[Any]] | None = None,
) -> SearchHistory:
    """Masked random search as ``chunks`` independent runs, concatenated in chunk order.

    Args:
        env_fn: builds one environment (each chunk builds its own).
        n_evaluations: finished episodes in all (chunk ``k`` spends ``n_evaluations // chunks`` plus one
            of the remainder while ``k`` is below it).
        seed: chunk ``k`` runs :func:`~alpha_env.search.random_search.random_search` with ``seed + k``.
        chunks: independent runs (parallel tasks with ``map_fn=RayMap(chunks)``).
        map_fn: executor (``None``: in this process); the result does not depend on it.

    Returns:
        the :class:`~alpha_env.search.random_search.SearchHistory` of every evaluation.
    """
    from alpha_env.search.random_search import SearchHistory

    if n_evaluations < 1 or chunks < 1:
        raise SettingsError(f"random_search_chunks needs n_evaluations >= 1 and chunks >= 1, got "
                            f"{n_evaluations} and {chunks}")
    chunks = min(chunks, n_evaluations)
    sizes = [n_evaluations // chunks + (k < n_evaluations % chunks) for k in range(chunks)]
    jobs = [(n, seed + k) for k, n in enumerate(sizes)]
    # env_fn (and the panel it holds) bound once: a Ray executor ships it once, not per chunk
    histories = (map_fn or local_map)(functools.partial(_random_chunk, env_fn), jobs)
    out = SearchHistory()
    for h in histories:
        for r, e, v, n in zip(h.rewards, h.expressions, h.valid, h.lengths):
            out.add(r, e, v, n)
    return out
