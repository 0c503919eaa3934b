"""Rollout buffers whose PPO minibatches are whole episodes (``FineTuneSettings.minibatches="episodes"``).

SB3's buffers draw each minibatch as random steps of the rollout. These draw random *episode segments*
(an episode's steps within one environment's part of the rollout, in order; an episode cut by the
rollout's edge gives a segment on each side) and fill a minibatch with them until it holds at least
``batch_size`` steps. Every step is in exactly one minibatch per epoch, as with SB3's buffers.

Why: an observation of the AlphaStack env holds its whole written prefix, and the decoder actor is
causal, so the consecutive steps of one episode can be computed in one pass over the last of them
(:func:`encoders.decoder.prefix_chains`, ``AlphaDecoder.next_token(share=True)``): with episodes of about
ten steps, the update's decoder passes shrink about tenfold (docs/agents.md, *Speed*). The minibatches'
steps are correlated within an episode, as in recurrent PPO's sequence minibatches.

The segments are shuffled with the buffer's own ``numpy.random.Generator`` (``seed``: the algorithm's
seed, so a run is reproducible), not NumPy's global state.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer
from stable_baselines3.common.buffers import DictRolloutBuffer

from alpha_env.errors import SettingsError

__all__ = ["EpisodeDictRolloutBuffer", "MaskableEpisodeDictRolloutBuffer", "episode_minibatches",
           "episode_segments"]


def episode_segments(episode_starts: np.ndarray) -> np.ndarray:
    """``(S + 1,)`` boundaries of the episode segments of a flattened rollout.

    Args:
        episode_starts: ``(n_steps, n_envs)`` the buffer's flags (1: the step's observation starts an
            episode).

    Returns:
        Segment ``k`` is ``[bounds[k], bounds[k + 1])`` in SB3's flattened order (environment-major:
        index ``env * n_steps + step``); every environment's first step starts a segment.
    """
    starts = np.asarray(episode_starts, dtype=bool)
    if starts.ndim != 2:
        raise SettingsError(f"episode_starts must be (n_steps, n_envs), got shape {starts.shape}")
    flat = starts.T.copy()  # (n_envs, n_steps): environment-major, as swap_and_flatten
    flat[:, 0] = True
    return np.append(np.flatnonzero(flat.reshape(-1)), flat.size)


def episode_minibatches(bounds: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Minibatches of whole segments: the segments in a random order, each minibatch filled until it holds
    at least ``batch_size`` steps (the last one may hold fewer); each index once.

    Args:
        bounds: segment boundaries (:func:`episode_segments`).
        batch_size: the least steps of a minibatch (> 0).
        rng: the shuffle's generator.

    Returns:
        Index arrays (int64), a segment's steps in order and contiguous.
    """
    if batch_size <= 0:
        raise SettingsError(f"batch_size must be > 0, got {batch_size}")
    order = rng.permutation(len(bounds) - 1)
    batches: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    held = 0
    for k in order:
        parts.append(np.arange(bounds[k], bounds[k + 1]))
        held += int(bounds[k + 1] - bounds[k])
        if held >= batch_size:
            batches.append(np.concatenate(parts))
            parts, held = [], 0
    if parts:
        batches.append(np.concatenate(parts))
    return batches


class _EpisodeMinibatches:
    """``get`` of a dict rollout buffer, by whole episode segments (mixed into SB3's buffer classes)."""

    _flattened: tuple[str, ...] = ("actions", "values", "log_probs", "advantages", "returns")

    def __init__(self, *args: Any, seed: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.rng = np.random.default_rng(seed)

    def get(self, batch_size: int | None = None) -> Generator[Any, None, None]:  # type: ignore[override]
        """Minibatches of at least ``batch_size`` steps made of whole episode segments (all steps at once
        when ``None``)."""
        assert self.full, ""  # type: ignore[attr-defined]
        total = self.buffer_size * self.n_envs  # type: ignore[attr-defined]
        if not self.generator_ready:  # type: ignore[attr-defined]
            for key, obs in self.observations.items():  # type: ignore[attr-defined]
                self.observations[key] = self.swap_and_flatten(obs)  # type: ignore[attr-defined]
            for name in self._flattened:
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])  # type: ignore[attr-defined]
            self.generator_ready = True
        bounds = episode_segments(self.episode_starts)  # type: ignore[attr-defined]
        for batch in episode_minibatches(bounds, total if batch_size is None else batch_size, self.rng):
            yield self._get_samples(batch)  # type: ignore[attr-defined]


class EpisodeDictRolloutBuffer(_EpisodeMinibatches, DictRolloutBuffer):
    """SB3's ``DictRolloutBuffer`` (PPO with the AlphaStack env's dict observations), minibatches of whole
    episodes; extra keyword ``seed``."""


class MaskableEpisodeDictRolloutBuffer(_EpisodeMinibatches, MaskableDictRolloutBuffer):
    """sb3-contrib's ``MaskableDictRolloutBuffer`` (MaskablePPO), minibatches of whole episodes; extra
    keyword ``seed``."""

    _flattened = (*_EpisodeMinibatches._flattened, "action_masks")
