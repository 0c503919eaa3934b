"""An SB3 ``VecEnv`` whose environments live in Ray actors (the optional ``alpha-env[ray]`` extra).

Each actor holds several environments (``n_envs`` split into ``workers`` contiguous groups) and steps
them in one call, so one step of the vector env costs one round trip per actor, not per environment. The
market panel is put once in Ray's object store (``ray.put``); every actor on a machine reads the same
shared-memory numpy buffers (zero-copy, read-only) instead of a pickled copy per environment.

Episodes are the same as :class:`~stable_baselines3.common.vec_env.DummyVecEnv`'s for the same seeds:
each environment is Monitor-wrapped, its action space seeded with ``seed + rank`` and its first reset
seeded with ``seed + rank`` (what :func:`~stable_baselines3.common.env_util.make_vec_env` does), and
finished episodes reset in the worker with ``terminal_observation`` in the info, as DummyVecEnv does.

Fault tolerance: actors are created with ``max_restarts``; when an actor dies during a step (killed,
out of memory, its node lost), Ray restarts it (its constructor rebuilds its environments from the
panel in the object store), the vector env resets those environments with fresh seeds and reports them
``done`` with ``info["worker_restarted"] = True`` and ``TimeLimit.truncated`` (the episodes that were in
flight are lost: never evaluated, never stored), and the run goes on.

Example::

    import ray
    from agents.ray_vec_env import RayVecEnv
    from agents.runs import make_env_fn

    ray.init(num_cpus=2, include_dashboard=False)
    vec = RayVecEnv(make_env_fn(panel, store=None), n_envs=4, workers=2, seed=0)
    obs = vec.reset()
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from alpha_env.errors import AlphaEnvError

__all__ = ["RayVecEnv", "RayWorkerError", "init_ray", "RESTART_SEED_STRIDE"]

RESTART_SEED_STRIDE = 1_000_003
"""An environment rebuilt after its actor's ``k``-th restart is reset with seed ``seed + rank + k *
RESTART_SEED_STRIDE`` (a restart never replays the episodes already played)."""


def init_ray(address: str | None = "auto", *, num_cpus: int | None = None) -> None:
    """Start or join Ray once per process (nothing when it is already initialized).

    Args:
        address: ``"local"``: start a Ray instance on this machine; ``"auto"``: join the cluster this
            machine belongs to (``RAY_ADDRESS`` or a running ``ray start``), else start a local one;
            anything else: the address of a cluster head (``host:6379`` or ``ray://host:10001``).
        num_cpus: CPUs of a local instance (ignored when joining a cluster).
    """
    from alpha_env.errors import SettingsError

    try:
        import ray
    except ImportError:
        raise SettingsError("Ray is not installed: pip install 'alpha-env[ray]' (needed by --ray)") from None
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    try:
        if address in (None, "local"):
            ray.init(address="local", num_cpus=num_cpus, **kwargs)
        elif address == "auto":
            ray.init(num_cpus=num_cpus, **kwargs)  # joins a running cluster when there is one
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise SettingsError(f"--ray {address}: cannot start or join Ray ({err})") from None


class RayWorkerError(AlphaEnvError, RuntimeError):
    """A Ray actor died and did not come back (out of restarts, or its restart timed out)."""


class _EnvGroup:
    """Several environments in one Ray actor (the class is wrapped with ``ray.remote`` when used)."""

    def __init__(self, factory: Callable[..., gym.Env], panel: Any, ranks: list[int], seed: int | None,
                 has_panel: bool) -> None:
        from stable_baselines3.common.monitor import Monitor

        self.envs = []
        for rank in ranks:
            env = factory(panel)() if has_panel else factory()
            if seed is not None:
                env.action_space.seed(seed + rank)
            self.envs.append(Monitor(env))
        self.fresh = True  # built (or rebuilt by a restart) and not reset yet

    def reset(self, seeds: list[int | None], options: list[dict]) -> list[tuple[Any, dict]]:
        out = []
        for env, s, opt in zip(self.envs, seeds, options):
            out.append(env.reset(seed=s, **({"options": opt} if opt else {})))
        self.fresh = False
        return out

    def step(self, actions: list[Any]) -> list[tuple[Any, float, bool, dict, dict | None]] | None:
        """One step of every environment; ``None`` when the actor was restarted since the last reset."""
        if self.fresh:
            return None
        out = []
        for env, action in zip(self.envs, actions):
            obs, reward, terminated, truncated, info = env.step(action)
            done = bool(terminated or truncated)
            info["TimeLimit.truncated"] = bool(truncated and not terminated)
            reset_info = None
            if done:
                info["terminal_observation"] = obs
                obs, reset_info = env.reset()
            out.append((obs, float(reward), done, info, reset_info))
        return out

    def get_attr(self, name: str, local: list[int]) -> list[Any]:
        return [getattr(self.envs[i], name) for i in local]

    def set_attr(self, name: str, value: Any, local: list[int]) -> None:
        for i in local:
            setattr(self.envs[i], name, value)

    def env_method(self, name: str, local: list[int], args: tuple, kwargs: dict) -> list[Any]:
        return [getattr(self.envs[i], name)(*args, **kwargs) for i in local]

    def env_is_wrapped(self, wrapper_class: type, local: list[int]) -> list[bool]:
        from stable_baselines3.common import env_util

        return [env_util.is_wrapped(self.envs[i], wrapper_class) for i in local]

    def render(self) -> list[Any]:
        return [env.render() for env in self.envs]

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def pid(self) -> int:
        import os

        return os.getpid()


class RayVecEnv(VecEnv):
    """``n_envs`` environments in ``workers`` Ray actors, stepped in parallel (SB3 ``VecEnv`` API).

    Args:
        env_fn: a thunk building one environment (as for ``make_vec_env``). When it carries a panel
            (``env_fn.panel`` and ``env_fn.with_panel``, as :func:`agents.runs.make_env_fn` thunks do),
            the panel is put once in the object store and each actor builds its environments with
            ``env_fn.with_panel(panel)()``; otherwise the thunk is shipped as is.
        n_envs: environments in all.
        workers: Ray actors (each holds ``ceil(n_envs / workers)`` environments or fewer).
        seed: ``seed + rank`` seeds environment ``rank``'s action space and first reset (``None``: unseeded).
        max_restarts: how many times Ray restarts a dead actor before the run fails.
        num_cpus: CPUs each actor reserves (may be fractional).
        restart_timeout: seconds to wait for a dead actor's restart before the run fails.
    """

    def __init__(self, env_fn: Callable[[], gym.Env], n_envs: int, *, workers: int = 2,
                 seed: int | None = None, max_restarts: int = 3, num_cpus: float = 1.0,
                 restart_timeout: float = 300.0) -> None:
        import ray

        from alpha_env.errors import SettingsError

        if n_envs < 1 or workers < 1:
            raise SettingsError(f"RayVecEnv needs n_envs >= 1 and workers >= 1, got {n_envs} and {workers}")
        if not ray.is_initialized():
            init_ray("auto")
        workers = min(workers, n_envs)
        per = math.ceil(n_envs / workers)
        self.groups: list[list[int]] = [list(range(s, min(s + per, n_envs))) for s in range(0, n_envs, per)]
        has_panel = hasattr(env_fn, "panel") and hasattr(env_fn, "with_panel")
        factory = env_fn.with_panel if has_panel else env_fn  # type: ignore[attr-defined]
        self.panel_ref = ray.put(env_fn.panel) if has_panel else None  # type: ignore[attr-defined]
        actor_cls = ray.remote(num_cpus=num_cpus, max_restarts=max_restarts, max_task_retries=0)(_EnvGroup)
        self.actors = [actor_cls.remote(factory, self.panel_ref, ranks, seed, has_panel)
                       for ranks in self.groups]
        self.restarts = [0] * len(self.actors)
        self.restart_timeout = float(restart_timeout)
        self._base_seed = seed
        self._where = [(a, j) for a, ranks in enumerate(self.groups) for j in range(len(ranks))]
        space = ray.get(self.actors[0].get_attr.remote("observation_space", [0]))[0]
        action_space = ray.get(self.actors[0].get_attr.remote("action_space", [0]))[0]
        super().__init__(n_envs, space, action_space)
        self._pending: list[Any] = []
        if seed is not None:
            self.seed(seed)

    # ---------------------------------------------------------------- stepping
    def reset(self) -> VecEnvObs:
        import ray

        refs = [actor.reset.remote([self._seeds[i] for i in ranks], [self._options[i] for i in ranks])
                for actor, ranks in zip(self.actors, self.groups)]
        obs: list[Any] = []
        for a, ref in enumerate(refs):
            try:
                results = ray.get(ref)
            except ray.exceptions.RayActorError:
                results = self._recover(a)
            for i, (o, info) in zip(self.groups[a], results):
                self.reset_infos[i] = info
                obs.append(o)
        self._reset_seeds()
        self._reset_options()
        return self._stack(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._pending = [actor.step.remote([actions[i] for i in ranks])
                         for actor, ranks in zip(self.actors, self.groups)]

    def step_wait(self) -> VecEnvStepReturn:
        import ray

        obs: list[Any] = []
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict] = []
        for a, ref in enumerate(self._pending):
            try:
                results = ray.get(ref)
            except ray.exceptions.RayActorError:  # died during the step
                results = None
            if results is None:  # died during the step, or restarted since: rebuilt envs, fresh episodes
                results = [(o, 0.0, True, {"terminal_observation": o, "TimeLimit.truncated": True,
                                           "worker_restarted": True}, info)
                           for o, info in self._recover(a)]
            for i, (o, r, d, info, reset_info) in zip(self.groups[a], results):
                rewards[i], dones[i] = r, d
                if reset_info is not None:
                    self.reset_infos[i] = reset_info
                obs.append(o)
                infos.append(info)
        self._pending = []
        return self._stack(obs), rewards, dones, infos

    def _recover(self, a: int) -> list[tuple[Any, dict]]:
        """Actor ``a`` died: wait for Ray's restart, reset its environments with fresh seeds."""
        import ray

        self.restarts[a] += 1
        base = self._base_seed
        seeds = [None if base is None else base + i + self.restarts[a] * RESTART_SEED_STRIDE
                 for i in self.groups[a]]
        deadline = time.monotonic() + self.restart_timeout
        while True:
            try:
                return ray.get(self.actors[a].reset.remote(seeds, [{} for _ in seeds]))
            except ray.exceptions.ActorUnavailableError:  # still restarting
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            except ray.exceptions.ActorDiedError:  # out of restarts
                break
        raise RayWorkerError(f"Ray actor {a} (environments {self.groups[a]}) died and did not come back "
                            f"after {self.restarts[a]} restart(s) within {self.restart_timeout:.0f} s")

    def _stack(self, obs: list[Any]) -> VecEnvObs:
        if isinstance(self.observation_space, gym.spaces.Dict):
            return {k: np.stack([o[k] for o in obs]) for k in self.observation_space.spaces}
        return np.stack(obs)

    def close(self) -> None:
        import ray

        if self.closed:
            return
        for actor in self.actors:
            try:
                ray.get(actor.close.remote())
            except ray.exceptions.RayActorError:
                pass
            ray.kill(actor)
        self.actors = []
        self.closed = True

    closed = False

    # ---------------------------------------------------------------- attributes
    def _by_actor(self, indices: Any) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in self._get_indices(indices):
            a, j = self._where[i]
            out.setdefault(a, []).append(j)
        return out

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        import ray

        refs = [self.actors[a].get_attr.remote(attr_name, local)
                for a, local in self._by_actor(indices).items()]
        return [v for values in ray.get(refs) for v in values]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        import ray

        ray.get([self.actors[a].set_attr.remote(attr_name, value, local)
                 for a, local in self._by_actor(indices).items()])

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list:
        import ray

        refs = [self.actors[a].env_method.remote(method_name, local, method_args, method_kwargs)
                for a, local in self._by_actor(indices).items()]
        return [v for values in ray.get(refs) for v in values]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        import ray

        refs = [self.actors[a].env_is_wrapped.remote(wrapper_class, local)
                for a, local in self._by_actor(indices).items()]
        return [v for values in ray.get(refs) for v in values]

    def get_images(self) -> Sequence[np.ndarray | None]:
        import ray

        return [img for imgs in ray.get([actor.render.remote() for actor in self.actors]) for img in imgs]

    def actor_pids(self) -> list[int]:
        """Process ids of the actors (for tests and diagnostics)."""
        import ray

        return ray.get([actor.pid.remote() for actor in self.actors])
