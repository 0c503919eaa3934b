"""Does an off-the-shelf agent learn from the encoded observation? (issue 17's proof, a benchmark).

Wraps ``AlphaEnv/AlphaStack-v0`` (the embedded synthetic market, train-Sharpe reward) in
:class:`encoders.EncodedAlphaObservation` (the frozen pretrained alpha encoder's mean encoding of the
written tokens ⊕ document ⊕ position ⊕ depth, one ``Box``) and trains, side by side in one run:

* SB3 ``PPO("MlpPolicy")`` (no masks: an invalid token ends the episode with the env's penalty),
* SB3 ``PPO("MlpPolicy")`` under :class:`alpha_env.env.RetryInvalidActions` (no masks: an invalid token
  is refused with a -0.05 penalty and the agent tries again, at most 50 times per episode),
* sb3-contrib ``MaskablePPO("MlpPolicy")`` (reads ``env.action_masks()``),

and prints, per agent, the mean episode reward and the share of valid expressions over the first and the
last fifth of its episodes, beside a masked random agent's mean reward on the same env. Steps, not wall
time, bound every run; seeds are explicit.

Usage::

    python benchmarks/bench_encoded_observation.py [--timesteps 12000] [--seed 0]
    python benchmarks/bench_encoded_observation.py --checkpoint runs/tree_vs_stack/alpha_encoder.pt

Without ``--checkpoint`` it uses ``runs/tree_vs_stack/alpha_encoder.pt`` when present, else pretrains a
small encoder first (about half a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

DEFAULT_CHECKPOINT = ROOT / "runs" / "tree_vs_stack" / "alpha_encoder.pt"


def _checkpoint(path: str | None, seed: int) -> str:
    """The alpha-encoder checkpoint to encode with (pretrained here when none is given or found)."""
    if path:
        return path
    if DEFAULT_CHECKPOINT.exists():
        return str(DEFAULT_CHECKPOINT)
    from alpha_env.grammar import Codebook, build_corpus
    from encoders import AlphaEncoder, AlphaEncoderConfig, pretrain_alpha_encoder, save_checkpoint

    codebook = Codebook.default()
    corpus = [codebook.encode(e) for e in build_corpus(codebook, size=2000, max_len=20, seed=seed)]
    config = AlphaEncoderConfig.from_codebook(codebook, max_len=20, hidden_size=64, num_layers=2,
                                              num_heads=4, intermediate_size=128)
    encoder = AlphaEncoder(config, seed=seed)
    pretrain_alpha_encoder(encoder, corpus, epochs=2, batch_size=64, seed=seed)
    out = ROOT / "runs" / "bench_encoded_observation" / "alpha_encoder.pt"
    return str(save_checkpoint(encoder, out))


def _make_env(checkpoint: str, max_len: int, retry: bool = False):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    import alpha_env.env as E
    from encoders import EncodedAlphaObservation

    env = gym.make(E.ALPHA_STACK_ID, max_len=max_len)
    if retry:
        env = E.RetryInvalidActions(env)
    return Monitor(EncodedAlphaObservation(env, checkpoint))


def _episodes(env) -> tuple[list[float], list[bool]]:
    """Episode rewards (the Monitor's) and whether each ended with a complete, non-degenerate expression
    (``info["reason"] == "complete"``)."""
    return list(env.get_episode_rewards()), list(env.valid_flags)


class _ValidFlags:
    """Records at each episode's end whether it was complete (the Monitor's ``valid_flags`` list)."""

    def __init__(self, env):
        self.env = env
        env.valid_flags = []
        self._step = env.step
        env.step = self.step

    def step(self, action):
        obs, reward, terminated, truncated, info = self._step(action)
        if terminated or truncated:
            self.env.valid_flags.append(info.get("reason") == "complete")
        return obs, reward, terminated, truncated, info


def _fifths(rewards: list[float], valid: list[bool]) -> dict[str, float]:
    import numpy as np

    n = max(len(rewards) // 5, 1)
    r, v = np.asarray(rewards, float), np.asarray(valid, float)
    return {"episodes": len(rewards), "reward_first": float(r[:n].mean()),
            "reward_last": float(r[-n:].mean()), "valid_first": float(v[:n].mean()),
            "valid_last": float(v[-n:].mean())}


def _random_baseline(checkpoint: str, max_len: int, episodes: int, seed: int) -> float:
    import numpy as np

    env = _make_env(checkpoint, max_len)
    rng = np.random.default_rng(seed)
    total = []
    env.reset(seed=seed)
    for _ in range(episodes):
        done, ep = False, 0.0
        while not done:
            mask = env.unwrapped.action_masks()
            _, reward, term, trunc, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
            ep += reward
            done = term or trunc
        total.append(ep)
        env.reset()
    return float(np.mean(total))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=12_000, help="env steps per agent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-len", type=int, default=12, help="most tokens per expression")
    parser.add_argument("--checkpoint", default=None, help="alpha-encoder checkpoint")
    parser.add_argument("--agents", nargs="+", default=["ppo", "ppo_retry", "maskable"],
                        choices=["ppo", "ppo_retry", "maskable"], help="which agents to train (default all)")
    ns = parser.parse_args(argv)
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    checkpoint = _checkpoint(ns.checkpoint, ns.seed)
    print(f"encoder: {checkpoint}; {ns.timesteps} steps per agent, seed {ns.seed}, max_len {ns.max_len}")
    rows = {}
    agents = {"ppo": ("PPO MlpPolicy (no masks)", PPO, False),
              "ppo_retry": ("PPO MlpPolicy + retry", PPO, True),
              "maskable": ("MaskablePPO MlpPolicy", MaskablePPO, False)}
    for name, algo, retry in (agents[key] for key in ns.agents):
        env = _make_env(checkpoint, ns.max_len, retry)
        _ValidFlags(env)
        env.reset(seed=ns.seed)
        model = algo("MlpPolicy", env, n_steps=512, batch_size=64, seed=ns.seed, verbose=0, device="cpu")
        started = time.perf_counter()
        model.learn(total_timesteps=ns.timesteps)
        rows[name] = {**_fifths(*_episodes(env)), "seconds": time.perf_counter() - started}
    baseline = _random_baseline(checkpoint, ns.max_len, 200, ns.seed)
    print(f"{'agent':<26} {'episodes':>8} {'reward first 1/5':>17} {'last 1/5':>9} {'valid first':>12} "
          f"{'last':>6} {'seconds':>8}")
    for name, r in rows.items():
        print(f"{name:<26} {r['episodes']:>8} {r['reward_first']:>17.3f} {r['reward_last']:>9.3f} "
              f"{r['valid_first']:>12.2f} {r['valid_last']:>6.2f} {r['seconds']:>8.0f}")
    print(f"masked random agent, 200 episodes: mean reward {baseline:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
