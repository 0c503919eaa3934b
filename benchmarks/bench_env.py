"""Benchmark of AlphaStackEnv: environment steps/s and completed (rewarded) episodes/s with a masked
random agent, in 1 process and with 2 SB3 SubprocVecEnv workers, sub-expression cache on and off.

Usage::

    python benchmarks/bench_env.py                     # default synthetic market (100 stocks x 1000 days)
    python benchmarks/bench_env.py --n-stocks 30 --n-days 300 --seconds 5

Each configuration first runs ``--warmup`` episodes (Numba compilation, first cache fill), then steps for
``--seconds`` of wall time. Figures are printed side by side with ratios to the first row. Numba uses
``--numba-threads`` threads per process (1 by default: one thread per worker is the usual RL set-up, and
on small panels the thread pool costs more than it saves).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    steps: int
    episodes: int
    rewarded: int
    seconds: float
    hit_rate: float | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.seconds

    @property
    def rewarded_per_s(self) -> float:
        return self.rewarded / self.seconds


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-stocks", type=int, default=100, help="stocks of the synthetic market")
    p.add_argument("--n-days", type=int, default=1000, help="trading days of the synthetic market")
    p.add_argument("--max-len", type=int, default=20, help="most expression tokens per episode")
    p.add_argument("--seconds", type=float, default=10.0, help="wall time measured per configuration")
    p.add_argument("--warmup", type=int, default=30, help="episodes run before timing (per worker)")
    p.add_argument("--numba-threads", type=int, default=1, help="Numba threads per process")
    p.add_argument("--seed", type=int, default=0, help="seed of the market and of the agent")
    return p.parse_args()


def env_kwargs(args: argparse.Namespace, cache: bool) -> dict:
    from alpha_env.evaluate import DEFAULT_CACHE_BYTES

    return {
        "data": {"seed": args.seed, "n_stocks": args.n_stocks, "n_days": args.n_days},
        "max_len": args.max_len,
        "cache_bytes": DEFAULT_CACHE_BYTES if cache else 0,
    }


def bench_single(args: argparse.Namespace, cache: bool) -> Figure:
    import gymnasium as gym

    import alpha_env.env as E

    env = gym.make(E.ALPHA_STACK_ID, **env_kwargs(args, cache))
    agent = E.MaskedRandomAgent(args.seed)
    for ep in range(args.warmup):
        E.play_episode(env, agent, seed=ep)
    steps = episodes = rewarded = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        _, n, info = E.play_episode(env, agent)
        steps += n
        episodes += 1
        rewarded += info["reason"] == "complete"
    seconds = time.perf_counter() - start
    stats = env.unwrapped.evaluator.cache_stats()
    total = stats.hits + stats.misses
    env.close()
    return Figure(f"1 process, cache {'on' if cache else 'off'}", steps, episodes, rewarded, seconds,
                  stats.hits / total if total else None)


def _make(kwargs: dict, rank: int):
    def _init():
        import gymnasium as gym

        import alpha_env.env as E

        env = gym.make(E.ALPHA_STACK_ID, **kwargs)
        env.reset(seed=rank)
        return env

    return _init


def bench_subproc(args: argparse.Namespace, cache: bool, workers: int = 2) -> Figure:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    import alpha_env.env as E

    kwargs = env_kwargs(args, cache)
    vec = SubprocVecEnv([_make(kwargs, r) for r in range(workers)], start_method="spawn")
    agent = E.MaskedRandomAgent(args.seed)
    obs = vec.reset()

    def step_once() -> tuple[int, int]:
        nonlocal obs
        actions, _ = agent.predict(obs)  # the batched observation carries the masks (no extra IPC)
        obs, _, dones, infos = vec.step(actions)
        return int(dones.sum()), sum(i.get("reason") == "complete" for i in infos)

    done = 0
    while done < args.warmup * workers:
        done += step_once()[0]
    steps = episodes = rewarded = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        d, r = step_once()
        steps += workers
        episodes += d
        rewarded += r
    seconds = time.perf_counter() - start
    vec.close()
    return Figure(f"{workers} SubprocVecEnv workers, cache {'on' if cache else 'off'}", steps, episodes,
                  rewarded, seconds)


def main() -> None:
    args = parse_args()
    os.environ["NUMBA_NUM_THREADS"] = str(args.numba_threads)  # before Numba loads; workers inherit it
    print(f"AlphaStackEnv benchmark: synthetic market {args.n_stocks} stocks x {args.n_days} days, "
          f"max_len {args.max_len}, masked random agent, {args.seconds:.0f} s per row, "
          f"Numba threads {args.numba_threads}, {os.cpu_count()} CPUs")
    figures = [bench_single(args, True), bench_single(args, False),
               bench_subproc(args, True), bench_subproc(args, False)]
    base = figures[0]
    print(f"{'configuration':<36} {'steps/s':>9} {'episodes/s':>11} {'rewarded/s':>11} "
          f"{'steps x':>8} {'rewarded x':>11} {'cache hits':>10}")
    for f in figures:
        hits = f"{100 * f.hit_rate:.1f}%" if f.hit_rate is not None else "-"
        print(f"{f.name:<36} {f.steps_per_s:>9.0f} {f.episodes_per_s:>11.1f} {f.rewarded_per_s:>11.1f} "
              f"{f.steps_per_s / base.steps_per_s:>8.2f} "
              f"{f.rewarded_per_s / base.rewarded_per_s if base.rewarded_per_s else float('nan'):>11.2f} "
              f"{hits:>10}")


if __name__ == "__main__":
    main()
