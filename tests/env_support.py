"""Helpers shared by the tests that run agents on the environment."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import gymnasium as gym
import numpy as np

__all__ = ["ReasonCounter", "hashed_one_word_at_a_time"]


def hashed_one_word_at_a_time(text: str, dim: int) -> np.ndarray:
    """The hashed bag of words by its definition, one word and one ``+=`` at a time (the implementation
    of sessions 1-13): the reference of ``alpha_env.env.hashed_bags_of_words`` (tests, bench_data.py)."""
    vec = np.zeros(dim)
    for word in re.findall(r"[a-z][a-z0-9']*", text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vec[digest % dim] += 1.0 if (digest >> 63) & 1 else -1.0
    norm = float(np.sqrt(np.dot(vec, vec)))
    return vec / norm if norm > 0 else vec


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
