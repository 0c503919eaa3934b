"""Helpers for agents of :class:`~alpha_env.env.AlphaStackEnv`: a flat observation, refused invalid actions,
a masked random agent.

* :class:`FlattenAlphaObservation`: the ``Dict`` observation as one ``float32`` vector in ``[0, 1]``
  (documents keep their own bounds), for agents that need a ``Box`` (SB3 ``DQN``, ``MlpPolicy``).
* :class:`RetryInvalidActions`: for agents that cannot read the action mask (SB3 ``PPO``, ``A2C``,
  ``DQN``): an action outside the grammar is refused with a small penalty and the agent tries again,
  instead of the episode ending on it.
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

__all__ = ["FlattenAlphaObservation", "RetryInvalidActions", "MaskedRandomAgent", "play_episode", "FLAT_KEYS"]

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


class RetryInvalidActions(gym.Wrapper[dict[str, np.ndarray], np.int64, dict[str, np.ndarray], np.int64],
                          gym.utils.RecordConstructorArgs):
    """Refuse an action outside the grammar mask instead of ending the episode on it.

    The environment ends an episode on an invalid action (``invalid_action_penalty``, -2 by default), so an
    agent that cannot see the mask gets no reward signal until it writes a whole valid expression by
    chance, which almost never happens. Under this wrapper a refused action leaves the expression as it
    was: the step returns the same observation, ``penalty`` as reward, and ``info["refused_action"]``
    (the id), ``info["refused_token"]`` and ``info["refused_in_episode"]`` (refusals so far). After
    ``max_refusals`` refusals in one episode the next invalid action is passed to the environment, which
    ends the episode as usual. Valid actions, rewards and episode ends are the environment's own.

    Put it directly on the environment (below observation wrappers such as
    :class:`FlattenAlphaObservation` or ``encoders.EncodedAlphaObservation``). An episode lasts at most
    ``max_len + 1 + max_refusals`` steps.

    Args:
        env: an :class:`AlphaStackEnv` (possibly wrapped) with ``action_masks()``.
        penalty: reward of a refused action (<= 0).
        max_refusals: refused actions allowed per episode (>= 0).

    Raises:
        SettingsError: ``penalty`` > 0 or ``max_refusals`` < 0.
    """

    def __init__(self, env: gym.Env, penalty: float = -0.05, max_refusals: int = 50):
        from alpha_env.errors import SettingsError

        gym.utils.RecordConstructorArgs.__init__(self, penalty=penalty, max_refusals=max_refusals)
        gym.Wrapper.__init__(self, env)
        if not np.isfinite(penalty) or penalty > 0:
            raise SettingsError(f"RetryInvalidActions: penalty must be a finite number <= 0, got {penalty}")
        if int(max_refusals) != max_refusals or max_refusals < 0:
            raise SettingsError(f"RetryInvalidActions: max_refusals must be an integer >= 0, got "
                                f"{max_refusals}")
        self.penalty = float(penalty)
        self.max_refusals = int(max_refusals)
        self._refused = 0
        self._last: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._refused = 0
        self._last = (obs, info)
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        a = int(np.asarray(action).reshape(()))
        mask = self.action_masks()
        allowed = 0 <= a < mask.shape[0] and bool(mask[a])
        if allowed or self._refused >= self.max_refusals or self._last is None:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._last = (obs, info)
            return obs, float(reward), terminated, truncated, dict(info, refused_in_episode=self._refused)
        self._refused += 1
        obs, info = self._last
        texts = getattr(self.env.unwrapped, "codebook", None)
        token = texts.texts[a] if texts is not None and 0 <= a < len(texts.texts) else None
        info = dict(info, refused_action=a, refused_token=token, refused_in_episode=self._refused)
        return {k: v.copy() for k, v in obs.items()}, self.penalty, False, False, info

    def action_masks(self) -> np.ndarray:
        """The wrapped environment's action mask (mask-aware algorithms still see it)."""
        return np.asarray(self.env.get_wrapper_attr("action_masks")())


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
