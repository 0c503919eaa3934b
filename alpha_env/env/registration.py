"""Registered, versioned Gymnasium ids of alpha-env (registered on ``import alpha_env.env``).

| id                             | market (``data=``)                | documents                           |
|--------------------------------|-----------------------------------|-------------------------------------|
| ``AlphaEnv/AlphaStack-v0``     | synthetic (seed 0) or any dataset | none (``document`` is zeros)        |
| ``AlphaEnv/AlphaStackNews-v0`` | synthetic with news, or a dataset | its news through the document       |
|                                | with a news file                  | encoder (bundled MiniLM) when the   |
|                                |                                   | ``encoders`` package imports, else  |
|                                |                                   | hashed bag-of-words (or             |
|                                |                                   | ``document_embeddings=``)           |

Every other keyword goes to :class:`~alpha_env.env.AlphaStackEnv`::

    import gymnasium as gym
    import alpha_env.env  # noqa: F401  (registers the ids)

    env = gym.make("AlphaEnv/AlphaStack-v0")
    env = gym.make("AlphaEnv/AlphaStack-v0", data="../shared/data/sp500_2013_2018", max_len=30)
    env = gym.make("AlphaEnv/AlphaStack-v0", data={"seed": 1, "n_stocks": 30, "n_days": 300})
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from alpha_env.data.sources import DataSource, resolve_panel
from alpha_env.errors import SettingsError

__all__ = ["ALPHA_STACK_ID", "ALPHA_STACK_NEWS_ID", "ENV_IDS", "QUALIFIED_IDS", "make_alpha_stack",
           "make_alpha_stack_news", "register_envs", "document_embedder", "DocEncoderInfo",
           "default_doc_cache_dir"]

ALPHA_STACK_ID = "AlphaEnv/AlphaStack-v0"
ALPHA_STACK_NEWS_ID = "AlphaEnv/AlphaStackNews-v0"
#: Every id this package registers.
ENV_IDS: tuple[str, ...] = (ALPHA_STACK_ID, ALPHA_STACK_NEWS_ID)
#: The same ids, module-qualified: ``gym.make`` imports ``alpha_env.env`` first, so they work in any
#: process where alpha_env is installed (remote RLlib EnvRunners, spawned vector-env workers).
QUALIFIED_IDS: tuple[str, ...] = tuple(f"alpha_env.env:{env_id}" for env_id in ENV_IDS)

#: Size of the hashed bag-of-words vectors of ``AlphaStackNews-v0`` when no embeddings are given.
DEFAULT_HASHED_DIM = 64


#: ``doc_encoder`` values with a meaning of their own; any other string is a model name or folder.
AUTO_DOC_ENCODER, HASHED_DOC_ENCODER = "auto", "hashed"


def default_doc_cache_dir() -> Path:
    """Where ``AlphaStackNews-v0`` caches document embeddings by default: subfolder ``documents`` of
    ``$ALPHA_ENV_CACHE`` or of ``$XDG_CACHE_HOME/alpha-env`` (``~/.cache/alpha-env``)."""
    root = os.environ.get("ALPHA_ENV_CACHE")
    if root is None:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alpha-env")
    return Path(root) / "documents"


def document_embedder(
    doc_encoder: str, embedding_dim: int, cache_dir: str | Path | None
) -> tuple[Callable[[list[str]], np.ndarray] | None, str]:
    """The text embedder of ``AlphaStackNews-v0`` and its label for ``info["doc_encoder"]``.

    Args:
        doc_encoder: ``"auto"`` (the bundled MiniLM of the optional ``encoders`` package when it imports,
            else the hashed bag of words), ``"hashed"`` (always the hashed bag of words), or a model name
            or folder for :class:`encoders.DocumentEncoder` (FinBERT or any BERT-family model).
        embedding_dim: size of the hashed vectors.
        cache_dir: on-disk cache of the encoder's vectors (``None``: :func:`default_doc_cache_dir`).

    Returns:
        ``(embed, label)``: ``embed`` is ``None`` for the hashed bag of words (label ``hashed-bow-<dim>``);
        otherwise texts → ``(n, hidden)`` and the label is the encoder id (model name and fingerprint).

    Raises:
        SettingsError: a model was named but the ``encoders`` package (torch, transformers) is missing.
        ModelNotAvailableError: the named model cannot be found offline.
    """
    hashed = (None, f"hashed-bow-{embedding_dim}")
    if doc_encoder == HASHED_DOC_ENCODER:
        return hashed
    try:  # optional: the torch-free core never needs it
        import encoders
    except ImportError as exc:
        if doc_encoder == AUTO_DOC_ENCODER:
            return hashed
        raise SettingsError(
            f"doc_encoder={doc_encoder!r} needs the optional 'rl' extra (torch, transformers): {exc}; "
            f"pass doc_encoder={HASHED_DOC_ENCODER!r} for the torch-free hashed bag of words"
        ) from None
    model = None if doc_encoder == AUTO_DOC_ENCODER else doc_encoder
    folder = default_doc_cache_dir() if cache_dir is None else Path(cache_dir)
    try:
        encoder = encoders.DocumentEncoder(model, cache_dir=folder)
    except encoders.ModelNotAvailableError as exc:
        if model is not None:
            raise
        warnings.warn(f"AlphaStackNews-v0: the bundled document encoder is not installed ({exc}); "
                      "the news are embedded as a hashed bag of words", stacklevel=3)
        return hashed
    return encoder.encode, encoder.encoder_id


class DocEncoderInfo(gym.Wrapper):
    """Adds ``info["doc_encoder"]`` (which text embedder made the ``document`` vectors) to every
    ``reset`` and ``step`` of ``AlphaStackNews-v0``; otherwise the env unchanged."""

    def __init__(self, env: gym.Env, label: str):
        super().__init__(env)
        self.doc_encoder = label

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """The env's reset, with ``info["doc_encoder"]``."""
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "doc_encoder": self.doc_encoder}

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """The env's step, with ``info["doc_encoder"]``."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "doc_encoder": self.doc_encoder}


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
                          doc_encoder: str = AUTO_DOC_ENCODER, doc_cache_dir: str | Path | None = None,
                          embedding_dim: int = DEFAULT_HASHED_DIM,
                          stock_news_fields: int | None = None, stock_news_seed: int | None = None,
                          sentiment_model: str | None = None,
                          load_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """Entry point of ``AlphaEnv/AlphaStackNews-v0``: document-conditioned episodes.

    Without ``document_embeddings`` the panel's own news (``panel.documents``) are embedded by
    :func:`document_embedder`: by default (``doc_encoder="auto"``) with the bundled MiniLM of the optional
    ``encoders`` package, found by an import at construction and cached on disk (``doc_cache_dir``), else
    with :func:`alpha_env.env.embeddings.hashed_bag_of_words` of size ``embedding_dim`` (no torch needed).
    ``info["doc_encoder"]`` names the embedder (``"given"`` for ``document_embeddings``).

    Per-stock news (``stock_news_fields=k``, off by default): the fields ``news_count``, ``news_sentiment``
    (with ``sentiment_model``, a classifier folder or name for :class:`encoders.DocumentEncoder`) and
    ``news_emb_0 .. news_emb_{k-1}`` (the same embedder, a fixed projection seeded by ``stock_news_seed``)
    join the panel and the codebook, each counted from the day after publication
    (:func:`alpha_env.data.daily_fields.stock_news_fields`).

    Raises:
        SettingsError: no embeddings were given and the dataset has no news; a model named without the
            ``encoders`` package.
    """
    from alpha_env.env.alpha_stack_env import AlphaStackEnv
    from alpha_env.env.embeddings import embed_document_store

    panel = resolve_panel(data, **dict(load_options or {}))
    label = "given"
    has_news = panel.documents is not None and len(panel.documents) > 0
    if document_embeddings is None or stock_news_fields is not None:
        if not has_news:
            raise SettingsError(
                f"{ALPHA_STACK_NEWS_ID} needs news: the dataset has none; pass document_embeddings= (a table "
                "date → vector) or a dataset with a news file"
            )
        embed, embed_label = document_embedder(doc_encoder, embedding_dim, doc_cache_dir)
    if document_embeddings is None:
        label = embed_label
        document_embeddings = embed_document_store(panel.documents, embedding_dim, embed=embed)
    if stock_news_fields is not None:
        panel, kwargs["codebook"] = _with_stock_news(panel, kwargs.get("codebook"), embed, embedding_dim,
                                                     stock_news_fields, stock_news_seed, sentiment_model,
                                                     doc_cache_dir)
    return DocEncoderInfo(AlphaStackEnv(panel, document_embeddings=document_embeddings, **kwargs), label)


def _with_stock_news(panel: Any, codebook: Any, embed: Callable[[list[str]], np.ndarray] | None,
                     embedding_dim: int, k: int, seed: int | None, sentiment_model: str | None,
                     cache_dir: str | Path | None) -> tuple[Any, Any]:
    """The panel with its per-stock news fields, and the codebook extended with them."""
    from alpha_env.data.daily_fields import attach_news_fields
    from alpha_env.env.embeddings import hashed_bags_of_words
    from alpha_env.grammar.codebook import Codebook

    if embed is None:
        def embed(texts: list[str]) -> np.ndarray:
            return hashed_bags_of_words(texts, embedding_dim)
    sentiment = None
    if sentiment_model is not None:
        try:
            import encoders
        except ImportError as exc:
            raise SettingsError(f"sentiment_model={sentiment_model!r} needs the optional 'rl' extra: {exc}") \
                from None
        folder = default_doc_cache_dir() if cache_dir is None else Path(cache_dir)
        sentiment = encoders.DocumentEncoder(sentiment_model, cache_dir=folder).polarity
    panel, names = attach_news_fields(panel, embed=embed, k=int(k), seed=seed, sentiment=sentiment)
    book = codebook if codebook is not None else Codebook.default()
    missing = [name for name in names if name not in book]
    return panel, (book.extend(fields=missing) if missing else book)


def register_envs() -> None:
    """Register :data:`ENV_IDS` with Gymnasium (ids already registered are left as they are)."""
    entry = {ALPHA_STACK_ID: "alpha_env.env.registration:make_alpha_stack",
             ALPHA_STACK_NEWS_ID: "alpha_env.env.registration:make_alpha_stack_news"}
    for env_id, entry_point in entry.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)
