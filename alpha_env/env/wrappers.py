"""Helpers for agents of :class:`~alpha_env.env.AlphaStackEnv`: a flat observation, a masked random agent.

* :class:`FlattenAlphaObservation`: the ``Dict`` observation as one ``float32`` vector in ``[0, 1]``
  (documents keep their own bounds), for agents that need a ``Box`` (SB3 ``DQN``, ``MlpPolicy``).
* :class:`MaskedRandomAgent`: uniform over the allowed ids, with its own seeded generator; ``predict``
  follows SB3's signature so evaluation loops can swap it with a trained model.
* :func:`play_episode`: run one episode with any policy ``(obs, info) -> action``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["FlattenAlphaObservation", "MaskedRandomAgent", "play_episode", "FLAT_KEYS"]

#: Order of the observation keys in the flat vector.
FLAT_KEYS: tuple[str, ...] = ("tokens", "action_mask", "position", "stack_depth", "document")


class FlattenAlphaObservation(gym.ObservationWrapper[np.ndarray, np.int64, dict[str, np.ndarray]]):
    """Concatenate the observation into one ``float32`` vector (keys in :data:`FLAT_KEYS` order).

    ``tokens`` become ``id / (n - 1)`` (or one-hot rows of size ``n`` with ``one_hot_tokens=True``:
    ``max_len · n`` values, PAD rows all zero), ``action_mask`` stays 0/1, ``position`` and ``stack_depth``
    are divided by ``max_len``, ``document`` is copied. :meth:`action_masks` is passed through.

    Args:
        env: an :class:`AlphaStackEnv` (possibly wrapped).
        one_hot_tokens: one-hot encode the tokens instead of scaling their ids.
    """

    def __init__(self, env: gym.Env, one_hot_tokens: bool = False):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or set(space.spaces) != set(FLAT_KEYS):
            raise TypeError(f"FlattenAlphaObservation needs the AlphaStackEnv Dict observation, got {space}")
        self.one_hot_tokens = bool(one_hot_tokens)
        self._n = int(space["action_mask"].n)
        self._max_len = int(space["tokens"].shape[0])
        doc = space["document"]
        n_tokens = self._max_len * self._n if self.one_hot_tokens else self._max_len
        head = n_tokens + self._n + 2
        low = np.concatenate([np.zeros(head, dtype=np.float32), doc.low.astype(np.float32)])
        high = np.concatenate([np.ones(head, dtype=np.float32), doc.high.astype(np.float32)])
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The flat ``float32`` vector of one observation."""
        tokens = observation["tokens"]
        if self.one_hot_tokens:
            one_hot = np.zeros((self._max_len, self._n), dtype=np.float32)
            rows = np.flatnonzero(tokens)
            one_hot[rows, tokens[rows]] = 1.0
            tok = one_hot.reshape(-1)
        else:
            tok = tokens.astype(np.float32) / np.float32(self._n - 1)
        return np.concatenate([
            tok,
            observation["action_mask"].astype(np.float32),
            observation["position"].astype(np.float32) / np.float32(self._max_len),
            observation["stack_depth"].astype(np.float32) / np.float32(self._max_len),
            observation["document"].astype(np.float32),
        ])

    def action_masks(self) -> np.ndarray:
        """The wrapped environment's action mask (for mask-aware algorithms)."""
        return self.env.get_wrapper_attr("action_masks")()


class MaskedRandomAgent:
    """Choose uniformly among the allowed ids (never an invalid action).

    Args:
        seed: seed of the agent's own ``np.random.Generator`` (no global RNG is touched).
    """

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, action_mask: np.ndarray) -> int:
        """One id among the non-zero entries of a ``(n,)`` mask.

        Raises:
            ValueError: the mask allows nothing.
        """
        allowed = np.flatnonzero(action_mask)
        if allowed.size == 0:
            raise ValueError("the action mask allows no action")
        return int(allowed[self.rng.integers(allowed.size)])

    def __call__(self, observation: dict[str, np.ndarray], info: dict[str, Any] | None = None) -> int:
        """Policy form for :func:`play_episode`: reads ``observation["action_mask"]``."""
        return self.act(observation["action_mask"])

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, None]:
        """SB3-style ``predict``: one observation (``(n,)`` mask) or a batch (``(B, n)`` masks).

        A row that allows nothing is the final observation of a finished episode (Gymnasium vector envs
        step it once more to reset, ignoring the action): it gets action 0.

        Returns:
            ``(actions, None)``: an int64 scalar array or a ``(B,)`` array.
        """
        masks = np.asarray(action_masks if action_masks is not None else observation["action_mask"])
        if masks.ndim == 1:
            return np.array(self.act(masks) if masks.any() else 0, dtype=np.int64), None
        return np.array([self.act(m) if m.any() else 0 for m in masks], dtype=np.int64), None


def play_episode(
    env: gym.Env,
    policy: Callable[[dict[str, np.ndarray], dict[str, Any]], int],
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[float, int, dict[str, Any]]:
    """Run one episode.

    Returns:
        ``(total reward, steps, last info)``; ``info["terminated"]`` / ``info["truncated"]`` are added.
    """
    obs, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        total += float(reward)
        steps += 1
        if terminated or truncated:
            info = dict(info, terminated=bool(terminated), truncated=bool(truncated))
            return total, steps, info
