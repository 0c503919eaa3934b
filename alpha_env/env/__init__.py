"""The Gymnasium environment of alpha-env: write an alpha token by token, get its backtest as reward.

Importing this package registers the ids ``AlphaEnv/AlphaStack-v0`` and ``AlphaEnv/AlphaStackNews-v0``
(see :mod:`alpha_env.env.registration`)::

    import gymnasium as gym
    import alpha_env.env  # noqa: F401

    env = gym.make("AlphaEnv/AlphaStack-v0")
    obs, info = env.reset(seed=0)

See ``docs/env.md`` for the agents (SB3 PPO/A2C/DQN, sb3-contrib MaskablePPO, vector envs).
"""

from alpha_env.data.sources import resolve_panel
from alpha_env.env.alpha_stack_env import DEFAULT_DOCUMENT_DIM, AlphaStackEnv
from alpha_env.env.embeddings import (
    EmbeddingTable,
    EpisodeWindow,
    embed_document_store,
    embed_texts,
    hashed_bag_of_words,
    hashed_bags_of_words,
    sample_window,
)
from alpha_env.env.registration import (
    ALPHA_STACK_ID,
    ALPHA_STACK_NEWS_ID,
    ENV_IDS,
    QUALIFIED_IDS,
    make_alpha_stack,
    make_alpha_stack_news,
    register_envs,
)
from alpha_env.env.rewards import REWARDS, FoundAlphas, pnl_correlation
from alpha_env.env.settings import MASK_DTYPES, EnvSettings
from alpha_env.env.wrappers import (
    FlattenAlphaObservation,
    MaskedRandomAgent,
    RetryInvalidActions,
    play_episode,
)

__all__ = [
    "EnvSettings",
    "QUALIFIED_IDS",
    "MASK_DTYPES",
    "AlphaStackEnv",
    "DEFAULT_DOCUMENT_DIM",
    "ALPHA_STACK_ID",
    "ALPHA_STACK_NEWS_ID",
    "ENV_IDS",
    "make_alpha_stack",
    "make_alpha_stack_news",
    "register_envs",
    "resolve_panel",
    "REWARDS",
    "FoundAlphas",
    "pnl_correlation",
    "EmbeddingTable",
    "EpisodeWindow",
    "sample_window",
    "hashed_bag_of_words",
    "hashed_bags_of_words",
    "embed_texts",
    "embed_document_store",
    "FlattenAlphaObservation",
    "RetryInvalidActions",
    "MaskedRandomAgent",
    "play_episode",
]

register_envs()
