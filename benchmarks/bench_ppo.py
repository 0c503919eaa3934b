"""PPO throughput with the decoder actor: environment steps per second and where the time goes.

Measured side by side in one run on the embedded synthetic market (100 stocks x 1,000 days), with the
default actor architecture (the stage-1 checkpoint ``artifacts/alpha_decoder.pt`` when present, since the
expressions it writes set the backtest cost; else the same architecture freshly initialized), for

* 1 environment in-process (``DummyVecEnv``) and 2 environment workers (``SubprocVecEnv``),
* and the default of the main job (8 environments in-process),
* then the main job's configuration with PPO's update reading the minibatch rows whose prefix another
  row extends from that row's causal pass (the policy's ``share_prefixes``, the default) against every
  row computed alone, alternated ``--rounds`` times (the same numbers; the same episodes up to the
  gradients' rounding),

printing env steps/s, alphas evaluated per second, and the share of wall time spent in the policy's
rollout forward passes, in PPO's update (forward + backward), and waiting for environment steps (grammar
masks and, at each END, the backtest reward).

Usage::

    python benchmarks/bench_ppo.py [--timesteps 2048]
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

__all__ = ["measure", "main"]


class _Timer:
    """Wraps a bound method and accumulates its wall time."""

    def __init__(self, fn):
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def measure(n_envs: int, kind: str, timesteps: int, decoder_config: dict, checkpoint: str | None,
            panel, share: bool = True) -> dict:
    """One PPO run of ``timesteps`` steps; returns throughput and the time shares."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from agents import AlphaMetricsCallback, FineTuneSettings, build_agent
    from alpha_env.env import AlphaStackEnv
    from alpha_env.search import AlphaTracker

    def make():
        return AlphaStackEnv(panel, max_len=15, cache_bytes=64 * 2**20)

    vec_cls = DummyVecEnv if kind == "dummy" else SubprocVecEnv
    env = make_vec_env(make, n_envs=n_envs, seed=0, vec_env_cls=vec_cls)
    settings = FineTuneSettings(n_steps=max(512 // n_envs, 16), batch_size=128)
    model = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=checkpoint,
                        settings=settings, seed=0)
    model.policy.share_prefixes = share
    forward = _Timer(model.policy.forward)
    model.policy.forward = forward
    train = _Timer(model.train)
    model.train = train
    step_wait = _Timer(env.step_wait)
    env.step_wait = step_wait
    tracker = AlphaTracker()
    model.learn(min(256, timesteps), callback=AlphaMetricsCallback(tracker))  # warm-up: imports, Numba
    forward.seconds = train.seconds = step_wait.seconds = 0.0
    done_before, steps_before = tracker.n_evaluations, model.num_timesteps
    start = time.perf_counter()
    model.learn(timesteps, callback=AlphaMetricsCallback(tracker), reset_num_timesteps=False)
    wall = time.perf_counter() - start
    env.close()
    steps = model.num_timesteps - steps_before
    return {"config": f"{n_envs} env{'s' if n_envs > 1 else ''} ({kind})",
            "update": "shared" if share else "alone", "steps_per_s": steps / wall,
            "alphas_per_s": (tracker.n_evaluations - done_before) / wall, "wall_s": wall,
            "policy_forward": forward.seconds / wall, "ppo_update": train.seconds / wall,
            "env_steps": step_wait.seconds / wall}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2048, help="measured steps per configuration")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternated pairs of the shared-prefix comparison (0: skip it)")
    args = parser.parse_args(argv)

    import torch

    from agents import PretrainSettings
    from alpha_env.data import synthetic_market
    from alpha_env.grammar import Codebook
    from encoders import AlphaDecoderConfig, load_checkpoint

    torch.set_num_threads(args.threads)
    codebook = Codebook.default()
    default = ROOT / "artifacts" / "alpha_decoder.pt"
    if default.is_file():
        checkpoint = str(default)
        decoder_config = load_checkpoint(default, codebook).model.config.to_dict()
    else:
        s = PretrainSettings()
        checkpoint = None
        decoder_config = AlphaDecoderConfig.from_codebook(
            codebook, max_len=s.max_len, d_model=s.d_model, num_layers=s.num_layers, num_heads=s.num_heads,
            ff_size=s.ff_size, dropout=s.dropout, doc_dim=s.doc_dim).to_dict()
    panel = synthetic_market(seed=0)
    print(f"PPO with the decoder actor (d_model {decoder_config['d_model']} x {decoder_config['num_layers']} "
          f"layers, {'pretrained' if checkpoint else 'untrained'}), torch threads {args.threads}, "
          f"{os.cpu_count()} CPUs, {args.timesteps} steps per configuration")
    rows = [measure(n, kind, args.timesteps, decoder_config, checkpoint, panel)
            for n, kind in ((1, "dummy"), (2, "subproc"), (8, "dummy"))]
    print(f"{'configuration':<22}{'steps/s':>9}{'alphas/s':>10}{'policy fwd':>12}{'PPO update':>12}"
          f"{'env steps':>11}")
    for r in rows:
        print(f"{r['config']:<22}{r['steps_per_s']:>9.1f}{r['alphas_per_s']:>10.2f}{r['policy_forward']:>12.0%}"
              f"{r['ppo_update']:>12.0%}{r['env_steps']:>11.0%}")
    base = rows[0]["steps_per_s"]
    ratios = ", ".join(f"{r['config']} {r['steps_per_s'] / base:.2f}x" for r in rows[1:])
    print(f"speed-up vs 1 env: {ratios}")
    pairs = []
    for _ in range(args.rounds):
        pair = {share: measure(8, "dummy", args.timesteps, decoder_config, checkpoint, panel, share)
                for share in (False, True)}
        pairs.append(pair)
    if pairs:
        print("\n8 envs in-process, PPO's update with every row alone vs shared prefixes, alternated:")
        print(f"{'update':<14}{'steps/s':>9}{'alphas/s':>10}{'policy fwd':>12}{'PPO update':>12}"
              f"{'env steps':>11}")
        for pair in pairs:
            for r in pair.values():
                print(f"{r['update']:<14}{r['steps_per_s']:>9.1f}{r['alphas_per_s']:>10.2f}"
                      f"{r['policy_forward']:>12.0%}{r['ppo_update']:>12.0%}{r['env_steps']:>11.0%}")
        ratios = ", ".join(f"{p[True]['steps_per_s'] / p[False]['steps_per_s']:.2f}x" for p in pairs)
        print(f"shared / alone, env steps/s: {ratios}")
        rows.extend(r for p in pairs for r in p.values())
    return rows


if __name__ == "__main__":
    main()
