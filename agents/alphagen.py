"""The AlphaGen replication of the study: sb3-contrib MaskablePPO with an MLP policy on the plain env.

AlphaGen (Yu et al., KDD 2023; RL-MLDM/alphagen) trains MaskablePPO on a token environment whose reward
is the ensemble IC of its linear alpha pool after the new alpha is offered. This runner reproduces that
setting with this project's pieces: :class:`~alpha_env.env.AlphaStackEnv` with ``reward="pool"`` and a
pool of ``rule="alphagen"`` (AlphaGen's admission: mutual IC above 0.99 refused, least-|weight| member
evicted; objective = combined train IC), paid as AlphaGen pays: the pool objective *after* the offer for
an admitted alpha (0 for a refused one, the env's penalty for a degenerate one), not the gain, with
AlphaGen's PPO settings (``gamma=1``, ``ent_coef=0.01``, ``batch_size=128``) and sb3's ``MultiInputPolicy``
(an MLP over the flattened token observation; AlphaGen's own feature extractor, an LSTM over the tokens,
is not replicated).

The run stops after ``max_evaluations`` finished episodes (the study's evaluation budget); the timestep
limit ``max_evaluations * (max_len + 1)`` can never end it first, and the wall-clock guard
(``guard_minutes``) that can is reported (``stopped_by_guard``). The summary JSON (``--out``) holds
``evaluations``, ``evaluated`` (every distinct valid alpha, in the order first found), ``pool`` (members
and weights), ``pool_curve`` (``[evaluations, objective]`` at each change) and timings; the study
(:mod:`alpha_env.search.study_methods`) runs this file in a subprocess so the study stays torch-free::

    python agents/alphagen.py --data ../shared/data/sp500_2013_2018 --max-evaluations 300 --out s.json
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym

from alpha_env.ace import SimulationSettings
from alpha_env.pool.settings import PoolSettings

__all__ = ["AlphaGenSettings", "AlphaGenReward", "run_alphagen", "main"]


@dataclass
class AlphaGenSettings:
    """Options of the AlphaGen replication (``agents/alphagen.py``)."""

    data: str | None = None
    """dataset folder or price file (default: the embedded synthetic market)"""
    seed: int = 0
    """seed of the env resets, PPO sampling and the policy's initialization"""
    max_evaluations: int = 20_000
    """stop after this many finished episodes (evaluations)"""
    max_len: int = 20
    """most tokens per expression"""
    refuse_degenerate: bool = False
    """masks refusing calls degenerate whatever the data (off: AlphaGen's type-only masks)"""
    guard_minutes: float = 600.0
    """wall-clock guard (a run it stops reports stopped_by_guard)"""
    out: str = "alphagen_summary.json"
    """where the summary JSON is written"""
    n_steps: int = 2048
    """PPO rollout length (sb3's default, AlphaGen's)"""
    progress: bool = False
    """show a progress bar"""
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    """the backtest and universe (--delay, --neutralization, --glitch-factor, ...)"""
    pool: PoolSettings = field(default_factory=lambda: PoolSettings(rule="alphagen"),
                               metadata={"prefix": "pool_"})
    """AlphaGen's pool (--pool-capacity, ...; rule alphagen, objective ic)"""


class AlphaGenReward(gym.Wrapper):
    """Pays AlphaGen's reward: at the end of an episode whose alpha was offered to the pool, the pool
    objective after the offer when admitted, 0 when refused (other rewards pass through)."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        offer = info.get("pool")
        if offer is not None:
            reward = float(offer["objective"]) if offer["accepted"] else 0.0
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> Any:
        """The wrapped env's mask (what MaskablePPO reads)."""
        return self.env.unwrapped.action_masks()


def run_alphagen(args: AlphaGenSettings) -> dict[str, Any]:
    """Run the replication; returns (and writes to ``args.out``) the summary described in the module doc."""
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    from alpha_env.ace import ACE
    from alpha_env.ace.pools import new_pool
    from alpha_env.data import resolve_panel
    from alpha_env.env import AlphaStackEnv
    from alpha_env.env.settings import EnvSettings
    from alpha_env.errors import SettingsError
    from alpha_env.search.random_search import episode_record

    if args.max_evaluations < 1:
        raise SettingsError(f"--max-evaluations must be >= 1, got {args.max_evaluations}")
    torch.set_num_threads(1)
    started = time.perf_counter()
    panel = resolve_panel(args.data)
    ace = ACE(panel, args.simulation)
    pool = new_pool(ace, args.pool)
    env = AlphaStackEnv(panel, settings=args.simulation, alpha_pool=pool,
                        env_settings=EnvSettings(max_len=args.max_len, reward="pool", pool=args.pool,
                                                 cache_bytes=64 * 2**20,
                                                 refuse_degenerate=args.refuse_degenerate))
    wrapped = AlphaGenReward(env)
    evaluated: dict[str, None] = {}
    curve: list[list[float]] = []
    state = {"evaluations": 0, "guard": False}
    deadline = started + args.guard_minutes * 60.0

    class Budget(BaseCallback):
        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"]):
                if not done:
                    continue
                state["evaluations"] += 1
                expression, valid = episode_record(info)
                if valid:
                    evaluated.setdefault(expression, None)
                offer = info.get("pool")
                if offer is not None and (not curve or curve[-1][1] != offer["objective"]):
                    curve.append([state["evaluations"], float(offer["objective"])])
            if time.perf_counter() > deadline:
                state["guard"] = True
                return False
            return state["evaluations"] < args.max_evaluations

    model = MaskablePPO("MultiInputPolicy", wrapped, gamma=1.0, ent_coef=0.01, batch_size=128,
                        n_steps=args.n_steps, seed=args.seed, verbose=0, device="cpu")
    model.learn(total_timesteps=args.max_evaluations * (args.max_len + 1), callback=Budget(),
                progress_bar=args.progress)
    env.close()
    summary = {
        "method": "alphagen", "seed": args.seed, "evaluations": state["evaluations"],
        "evaluated": list(evaluated), "stopped_by_guard": state["guard"],
        "pool": {"members": [{"expression": m.expr, "weight": float(m.weight)} for m in pool.members],
                 "objective": float(pool.objective)},
        "pool_curve": curve, "timesteps": int(model.num_timesteps),
        "seconds": time.perf_counter() - started,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the options (every field of :class:`AlphaGenSettings`) and run."""
    from alpha_env.options import parse_args

    return run_alphagen(parse_args(AlphaGenSettings, argv, description=(__doc__ or "").splitlines()[0]))


if __name__ == "__main__":
    from alpha_env.errors import AlphaEnvError

    try:
        main(sys.argv[1:])
    except AlphaEnvError as exc:
        print(f"alphagen: {exc}", file=sys.stderr)
        sys.exit(2)
