"""Registered, versioned Gymnasium ids of alpha-env (registered on ``import alpha_env.env``).

| id                             | market (``data=``)                | documents                           |
|--------------------------------|-----------------------------------|-------------------------------------|
| ``AlphaEnv/AlphaStack-v0``     | synthetic (seed 0) or any dataset | none (``document`` is zeros)        |
| ``AlphaEnv/AlphaStackNews-v0`` | synthetic with news, or a dataset | its news as hashed bag-of-words (or |
|                                | with a news file                  | ``document_embeddings=``)           |

Every other keyword goes to :class:`~alpha_env.env.AlphaStackEnv`::

    import gymnasium as gym
    import alpha_env.env  # noqa: F401  (registers the ids)

    env = gym.make("AlphaEnv/AlphaStack-v0")
    env = gym.make("AlphaEnv/AlphaStack-v0", data="../shared/data/sp500_2013_2018", max_len=30)
    env = gym.make("AlphaEnv/AlphaStack-v0", data={"seed": 1, "n_stocks": 30, "n_days": 300})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from alpha_env.data.sources import DataSource, resolve_panel
from alpha_env.errors import SettingsError

__all__ = ["ALPHA_STACK_ID", "ALPHA_STACK_NEWS_ID", "ENV_IDS", "QUALIFIED_IDS", "make_alpha_stack",
           "make_alpha_stack_news", "register_envs"]

ALPHA_STACK_ID = "AlphaEnv/AlphaStack-v0"
ALPHA_STACK_NEWS_ID = "AlphaEnv/AlphaStackNews-v0"
#: Every id this package registers.
ENV_IDS: tuple[str, ...] = (ALPHA_STACK_ID, ALPHA_STACK_NEWS_ID)
#: The same ids, module-qualified: ``gym.make`` imports ``alpha_env.env`` first, so they work in any
#: process where alpha_env is installed (remote RLlib EnvRunners, spawned vector-env workers).
QUALIFIED_IDS: tuple[str, ...] = tuple(f"alpha_env.env:{env_id}" for env_id in ENV_IDS)

#: Size of the hashed bag-of-words vectors of ``AlphaStackNews-v0`` when no embeddings are given.
DEFAULT_HASHED_DIM = 64


def make_alpha_stack(data: DataSource = None, *, load_options: Mapping[str, Any] | None = None,
                     **kwargs: Any) -> Any:
    """Entry point of ``AlphaEnv/AlphaStack-v0``: an :class:`AlphaStackEnv` on the market ``data``.

    Args:
        data: see :func:`alpha_env.data.sources.resolve_panel` (``None``: synthetic market, seed 0).
        load_options: keyword arguments of :func:`alpha_env.data.load_panel` (dataset paths only).
        kwargs: :class:`AlphaStackEnv` arguments.
    """
    from alpha_env.env.alpha_stack_env import AlphaStackEnv

    panel = resolve_panel(data, **dict(load_options or {}))
    return AlphaStackEnv(panel, **kwargs)


def make_alpha_stack_news(data: DataSource = None, *, document_embeddings: Any = None,
                          embedding_dim: int = DEFAULT_HASHED_DIM,
                          load_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """Entry point of ``AlphaEnv/AlphaStackNews-v0``: document-conditioned episodes.

    Without ``document_embeddings`` the panel's own news (``panel.documents``) are embedded with
    :func:`alpha_env.env.embeddings.hashed_bag_of_words` of size ``embedding_dim`` (no torch needed);
    pass a table from the ``encoders`` package for real text embeddings.

    Raises:
        SettingsError: no embeddings were given and the dataset has no news.
    """
    from alpha_env.env.alpha_stack_env import AlphaStackEnv
    from alpha_env.env.embeddings import embed_document_store

    panel = resolve_panel(data, **dict(load_options or {}))
    if document_embeddings is None:
        if panel.documents is None or len(panel.documents) == 0:
            raise SettingsError(
                f"{ALPHA_STACK_NEWS_ID} needs news: the dataset has none; pass document_embeddings= (a table "
                "date → vector) or a dataset with a news file"
            )
        document_embeddings = embed_document_store(panel.documents, embedding_dim)
    return AlphaStackEnv(panel, document_embeddings=document_embeddings, **kwargs)


def register_envs() -> None:
    """Register :data:`ENV_IDS` with Gymnasium (ids already registered are left as they are)."""
    entry = {ALPHA_STACK_ID: "alpha_env.env.registration:make_alpha_stack",
             ALPHA_STACK_NEWS_ID: "alpha_env.env.registration:make_alpha_stack_news"}
    for env_id, entry_point in entry.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)
