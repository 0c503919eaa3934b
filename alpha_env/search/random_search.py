"""Masked random search: the baseline every learned searcher must beat on the same evaluation budget.

Each episode writes one expression by drawing every token uniformly among the tokens the grammar mask
allows (so every episode ends in a well-typed expression), and the environment evaluates it exactly as it
evaluates the agent's expressions. One *evaluation* is one finished episode (one backtest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from alpha_env.errors import SettingsError

__all__ = ["SearchHistory", "random_search", "episode_record"]


@dataclass
class SearchHistory:
    """What a search spent and found, one entry per evaluation (finished episode), in order.

    Attributes:
        rewards: the episode rewards (train-split Sharpe, or the env's penalty), shape ``(n,)``.
        expressions: the canonical expression text of each episode (``""`` when there is none).
        valid: whether each episode produced a valid, non-degenerate alpha.
        lengths: number of tokens written in each episode.
    """

    rewards: list[float] = field(default_factory=list)
    expressions: list[str] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rewards)

    def add(self, reward: float, expression: str, valid: bool, length: int) -> None:
        """Append one evaluation."""
        self.rewards.append(float(reward))
        self.expressions.append(expression)
        self.valid.append(bool(valid))
        self.lengths.append(int(length))

    def best_so_far(self) -> np.ndarray:
        """Best reward among valid evaluations up to each one, ``(n,)`` float64 (NaN before the first)."""
        out = np.full(len(self.rewards), np.nan)
        best = -np.inf
        for i, (r, ok) in enumerate(zip(self.rewards, self.valid)):
            if ok and r > best:
                best = r
            out[i] = best if np.isfinite(best) else np.nan
        return out

    def best(self) -> tuple[str, float]:
        """The best valid expression and its reward (``("", nan)`` when nothing valid was found)."""
        candidates = [(r, e) for r, e, ok in zip(self.rewards, self.expressions, self.valid) if ok]
        if not candidates:
            return "", float("nan")
        r, e = max(candidates, key=lambda c: c[0])
        return e, r


def episode_record(info: dict[str, Any]) -> tuple[str, bool]:
    """Read the expression text and validity from an environment's final-step ``info``.

    An episode is *valid* when it wrote a complete expression that was evaluated and not found degenerate:
    AlphaStackEnv says so with ``info["reason"] == "complete"`` (other reasons: ``degenerate``,
    ``invalid_action``, ``length_limit``); without ``reason``, ``invalid_action`` or a
    ``degenerate_reason`` mark a failed episode.
    """
    expression = str(info.get("expression") or "")
    if "reason" in info:
        return expression, bool(expression) and info["reason"] == "complete"
    invalid = "invalid_action" in info
    degenerate = info.get("degenerate_reason") is not None
    return expression, bool(expression) and not invalid and not degenerate


def random_search(
    env: gym.Env,
    n_evaluations: int,
    seed: int = 0,
    *,
    on_evaluation: Callable[[int, float, dict[str, Any]], None] | None = None,
) -> SearchHistory:
    """Spend ``n_evaluations`` episodes writing uniformly random grammar-valid expressions.

    Args:
        env: an environment following the AlphaStackEnv conventions: ``action_masks()`` (or the
            observation's ``action_mask``) gives the allowed tokens; the final ``info`` carries
            ``expression``.
        n_evaluations: number of finished episodes (backtests) to spend.
        seed: seeds both the environment (first ``reset``) and the token draws.
        on_evaluation: optional callback ``(index, reward, info)`` after each evaluation.

    Returns:
        the :class:`SearchHistory` of every evaluation, in order.
    """
    if n_evaluations < 1:
        raise SettingsError(f"random search needs n_evaluations >= 1, got {n_evaluations}")
    rng = np.random.default_rng(seed)
    history = SearchHistory()
    obs, info = env.reset(seed=seed)
    while len(history) < n_evaluations:
        length = 0
        total = 0.0
        while True:
            mask = _mask_of(env, obs)
            allowed = np.flatnonzero(mask)
            if allowed.size == 0:
                raise RuntimeError("the environment offered no valid action before the episode ended")
            action = int(rng.choice(allowed))
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            length += 1
            if terminated or truncated:
                break
        expression, valid = episode_record(info)
        history.add(total, expression, valid, length)
        if on_evaluation is not None:
            on_evaluation(len(history) - 1, total, info)
        obs, info = env.reset()
    return history


def _mask_of(env: gym.Env, obs: Any) -> np.ndarray:
    """The boolean action mask of the current state (``env.action_masks()`` first, else the observation)."""
    getter = getattr(env, "action_masks", None)
    if getter is None:
        getter = getattr(env.unwrapped, "action_masks", None)
    if getter is not None:
        return np.asarray(getter(), dtype=bool)
    if isinstance(obs, dict) and "action_mask" in obs:
        return np.asarray(obs["action_mask"], dtype=bool)
    raise SettingsError(
        "random search needs an environment with action_masks() or an 'action_mask' observation"
    )
