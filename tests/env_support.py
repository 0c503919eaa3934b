"""Helpers shared by the tests that run agents on the environment."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np

__all__ = ["ReasonCounter"]


class ReasonCounter(gym.Wrapper):
    """Counts how episodes end (``info["reason"]``); passes the action mask through (``action_masks``)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.reasons: Counter = Counter()

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.reasons[info["reason"]] += 1
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.get_wrapper_attr("action_masks")()
