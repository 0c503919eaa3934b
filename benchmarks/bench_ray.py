"""Ray as the distributed engine: PPO steps/s local vs Ray actors, Ray's per-step cost, GP on Ray tasks.

Measured side by side in one run on the embedded synthetic market (100 stocks x 1,000 days):

* PPO with the decoder actor (as ``bench_ppo.py``): env steps/s with 1, 2 and 8 environments in-process
  (``DummyVecEnv``) and in Ray actors (:class:`agents.ray_vec_env.RayVecEnv`; 1 actor for 1 environment,
  2 for more), and 8 environments in 1 actor against 2 (Ray's scaling from 1 to 2 workers);
* Ray's per-step overhead: one vector step of a trivial environment (no work) in ``DummyVecEnv`` vs in
  one Ray actor (a round trip to the actor), and masked random steps of AlphaStack both ways;
* a GP population (``--population`` random typed expressions) evaluated with :func:`ace_fitness`
  in this process vs as Ray tasks over 1 and 2 workers (:class:`alpha_env.search.distributed.RayMap`),
  after a warm-up population that loads the Numba kernels in the workers.

Usage::

    python benchmarks/bench_ray.py [--timesteps 1024] [--population 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see experiments/_common.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["ppo_steps_per_s", "step_overhead", "gp_population", "main"]


def _decoder() -> tuple[dict, str | None]:
    """The default actor: the stage-1 checkpoint when present, else the same architecture untrained."""
    from agents import PretrainSettings
    from alpha_env.grammar import Codebook
    from encoders import AlphaDecoderConfig, load_checkpoint

    codebook = Codebook.default()
    default = ROOT / "artifacts" / "alpha_decoder.pt"
    if default.is_file():
        return load_checkpoint(default, codebook).model.config.to_dict(), str(default)
    s = PretrainSettings()
    return AlphaDecoderConfig.from_codebook(
        codebook, max_len=s.max_len, d_model=s.d_model, num_layers=s.num_layers, num_heads=s.num_heads,
        ff_size=s.ff_size, dropout=s.dropout, doc_dim=s.doc_dim).to_dict(), None


def ppo_steps_per_s(panel, n_envs: int, kind: str, timesteps: int, workers: int = 2) -> dict:
    """Env steps per second of PPO (after a warm-up learn) with ``n_envs`` envs in ``kind``."""
    from agents import AlphaMetricsCallback, FineTuneSettings, build_agent
    from agents.runs import make_env_fn, make_vec
    from alpha_env.search import AlphaTracker

    decoder_config, checkpoint = _decoder()
    env_fn = make_env_fn(panel, store=None, max_len=15, cache_bytes=64 * 2**20)
    env = make_vec(env_fn, n_envs, 0, kind, ray_address="local", workers=workers)
    model = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=checkpoint,
                        settings=FineTuneSettings(n_steps=max(512 // n_envs, 16), batch_size=128), seed=0)
    tracker = AlphaTracker()
    model.learn(min(256, timesteps), callback=AlphaMetricsCallback(tracker))  # warm-up: imports, Numba
    steps_before = model.num_timesteps
    start = time.perf_counter()
    model.learn(timesteps, callback=AlphaMetricsCallback(tracker), reset_num_timesteps=False)
    wall = time.perf_counter() - start
    env.close()
    actors = f", {workers} actors" if kind == "ray" else ""
    label = f"{n_envs} env{'s' if n_envs > 1 else ''} ({kind}{actors})"
    return {"config": label, "steps_per_s": (model.num_timesteps - steps_before) / wall}


class _Idle:
    """A trivial environment (no work): what is left of a vector step is the vector env's own cost."""

    def __init__(self) -> None:
        import gymnasium as gym
        import numpy as np

        self.observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.metadata, self.render_mode, self.spec = {}, None, None
        self._obs = np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        return self._obs, {}

    def step(self, action):
        return self._obs, 0.0, False, False, {}

    def close(self) -> None:
        pass


def _idle_env():
    import gymnasium as gym

    class Idle(_Idle, gym.Env):
        pass

    return Idle()


def step_overhead(panel, steps: int = 2000) -> dict:
    """Milliseconds per vector step: trivial env and masked random AlphaStack steps, local vs Ray."""
    import numpy as np

    from agents.runs import make_env_fn, make_vec

    out = {}
    for name, fn, n in (("trivial env, 1 env", _idle_env, 1),
                        ("AlphaStack, 2 envs", make_env_fn(panel, store=None, max_len=15), 2)):
        for kind in ("dummy", "ray"):
            vec = make_vec(fn, n, 0, kind, ray_address="local", workers=1 if n == 1 else 2)
            rng = np.random.default_rng(0)
            obs = vec.reset()
            for k in range(steps + 200):
                if k == 200:
                    start = time.perf_counter()
                if isinstance(obs, dict):
                    acts = np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]])
                else:
                    acts = np.zeros(n, dtype=np.int64)
                obs, *_ = vec.step(acts)
            out[(name, kind)] = (time.perf_counter() - start) / steps * 1e3
            vec.close()
    return out


def gp_population(panel, population: int, workers: int = 2) -> dict:
    """Seconds to evaluate one GP population locally and as Ray tasks over 1 and ``workers`` workers
    (warm workers; the same fitness values all three ways)."""
    import numpy as np

    from alpha_env.ace import ACE
    from alpha_env.search.distributed import RayMap, local_map
    from alpha_env.search.genetic import GPSettings, Primitives, TypedTreeFactory, ace_fitness

    factory = TypedTreeFactory(Primitives.for_panel(panel), GPSettings())
    rng = np.random.default_rng(0)

    def draw(n):
        return [factory.random_individual(rng, 2 + k % 4, full=bool(k % 2)) for k in range(n)]

    fitness = ace_fitness(ACE(panel))
    warm, exprs = draw(population), draw(population)  # warm-up: every operator loaded on both sides
    one, remote = RayMap(1), RayMap(workers)
    for ray_map in (one, remote):
        ray_map(fitness, warm)  # workers load the kernels (Numba cache: once per operator and process)
    local_map(fitness, warm)
    start = time.perf_counter()
    a = local_map(ace_fitness(ACE(panel)), exprs)  # fresh ACE: no cached sub-expressions
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    b = one(ace_fitness(ACE(panel)), exprs)
    ray1_s = time.perf_counter() - start
    start = time.perf_counter()
    c = remote(ace_fitness(ACE(panel)), exprs)
    ray_s = time.perf_counter() - start
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(c))
    return {"population": population, "local_s": local_s, "ray1_s": ray1_s, "ray_s": ray_s,
            "workers": workers}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=1024, help="measured PPO steps per configuration")
    parser.add_argument("--population", type=int, default=64, help="GP population evaluated")
    parser.add_argument("--skip-ppo", action="store_true", help="only the overhead and GP measurements")
    args = parser.parse_args(argv)

    import ray
    import torch

    from alpha_env.data import synthetic_market

    torch.set_num_threads(1)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    panel = synthetic_market(seed=0)
    print(f"Ray {ray.__version__}, {os.cpu_count()} CPUs, synthetic market 100 x 1,000")
    out: dict = {}
    if not args.skip_ppo:
        rows = []
        print(f"PPO ({args.timesteps} steps each), env steps/s")
        print(f"  {'envs':<6}{'in-process':>12}{'Ray':>10}{'Ray / in-process':>18}")
        for n in (1, 2, 8):  # in-process and Ray alternated per size
            local = ppo_steps_per_s(panel, n, "dummy", args.timesteps)
            remote = ppo_steps_per_s(panel, n, "ray", args.timesteps, workers=min(n, 2))
            rows += [local, remote]
            print(f"  {n:<6}{local['steps_per_s']:>12.1f}{remote['steps_per_s']:>10.1f}"
                  f"{remote['steps_per_s'] / local['steps_per_s']:>17.2f}x   ({remote['config']})")
        one = ppo_steps_per_s(panel, 8, "ray", args.timesteps, workers=1)
        rows.append(one)
        two = next(r for r in rows if r["config"] == "8 envs (ray, 2 actors)")
        print(f"  Ray scaling, 8 envs: 1 actor {one['steps_per_s']:.1f}, 2 actors {two['steps_per_s']:.1f} "
              f"steps/s ({two['steps_per_s'] / one['steps_per_s']:.2f}x)")
        out["ppo"] = rows
    overhead = step_overhead(panel)
    print("vector step, ms")
    for (name, kind), ms in overhead.items():
        print(f"  {name:<22}{kind:<7}{ms:>8.3f}")
    out["overhead"] = overhead
    gp = gp_population(panel, args.population)
    print(f"GP population of {gp['population']}: local {gp['local_s']:.2f} s, Ray 1 worker "
          f"{gp['ray1_s']:.2f} s, Ray {gp['workers']} workers {gp['ray_s']:.2f} s (local / Ray "
          f"{gp['local_s'] / gp['ray_s']:.2f}x; 1 -> {gp['workers']} workers "
          f"{gp['ray1_s'] / gp['ray_s']:.2f}x)")
    out["gp"] = gp
    ray.shutdown()
    return out


if __name__ == "__main__":
    main()
