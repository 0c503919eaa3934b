"""End-to-end stage 2: the document encoder's top layers learn from the actor's loss (hindsight) and PPO.

Without this module the policy reads a precomputed (frozen) document vector. With it, the policy embeds
the texts of each episode's news window itself, through a transformers BERT-family model whose top layer
groups train, so the gradient of the hindsight loss and of the ACE's reward (PPO) reaches the text encoder:

==============================  ======================================================================
piece                           job
==============================  ======================================================================
``DocFinetuneSettings``         the option's settings (declared once; the job exposes them as options)
``TextWindows``                 decision index → the texts the environment's ``document`` vector
                                averages (available on ``dates[i - doc_days] <= d < dates[i]``)
``DocumentKeyObservation``      Gymnasium wrapper adding ``document_key`` (the decision index) to the
                                ``Dict`` observation, so the policy knows whose texts to embed
``TrainableTextEncoder``        texts of a batch of keys → ``(B, hidden)``, pooled like
                                :class:`~encoders.DocumentEncoder`, averaged over the window's texts;
                                discriminative rates and gradual unfreezing from :mod:`encoders.finetune`
==============================  ======================================================================

Layer groups are :func:`~encoders.finetune.bert_layer_groups` without the model's pooler (the text
vector is pooled from the token states, so the pooler never gets a gradient): embeddings, then each
transformer layer. Gradual unfreezing counts optimizer updates: the top ``1`` layer group trains first,
one more every ``unfreeze_every`` updates, never more than ``top_layers``; the groups below stay frozen
(so the embeddings and the bottom layers never change). The group ``l`` below the top trains at
``lr_scale * layer_lr_decay**l`` times the policy's rate. The model runs in eval mode (no dropout), so a
PPO update's log-probabilities equal the rollout's at the same weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from alpha_env.errors import SettingsError
from encoders.finetune import bert_layer_groups, discriminative_scales, unfreeze_top, unfrozen_groups
from encoders.pooling import pool
from encoders.settings import DocFinetuneSettings

__all__ = ["TextWindows", "DocumentKeyObservation", "TrainableTextEncoder",
           "with_document_key"]


class TextWindows:
    """The texts behind each decision date's ``document`` vector (the environment's window rule).

    Args:
        documents: a :class:`~alpha_env.data.DocumentStore` aligned to ``dates``.
        dates: the panel's ``(T,)`` trading dates.
        doc_days: the environment's ``doc_days``.
        max_texts: keep the latest ``max_texts`` texts of a window.
    """

    def __init__(self, documents: Any, dates: Any, doc_days: int, max_texts: int = 8):
        if doc_days < 1 or max_texts < 1:
            raise SettingsError(f"doc_days and max_texts must be >= 1, got {doc_days}, {max_texts}")
        dates = np.asarray(dates, dtype="datetime64[D]")
        if not documents.is_aligned_to(dates):
            documents = documents.aligned(dates)
        self.documents = documents
        self.n_dates = int(dates.size)
        self.doc_days = int(doc_days)
        self.max_texts = int(max_texts)
        index = np.asarray(documents.available_index)
        keep = np.flatnonzero(index >= 0)
        order = np.argsort(index[keep], kind="stable")
        self._doc = keep[order]  # texts sorted by available index (publication order within a day)
        self._day = index[keep][order]

    def texts(self, decision: int) -> list[str]:
        """Texts available on ``dates[decision - doc_days] <= d < dates[decision]`` (latest last)."""
        if not 0 <= decision < self.n_dates:
            raise SettingsError(f"decision index {decision} outside the panel's 0..{self.n_dates - 1}")
        lo = int(np.searchsorted(self._day, decision - self.doc_days, side="left"))
        hi = int(np.searchsorted(self._day, decision, side="left"))
        lo = max(lo, hi - self.max_texts)
        return [self.documents.text(int(k)) for k in self._doc[lo:hi]]


class DocumentKeyObservation(gym.ObservationWrapper):
    """Adds ``document_key`` ``(1,) int64``, the episode's decision index, to a document-conditioned
    :class:`~alpha_env.env.AlphaStackEnv` ``Dict`` observation (read from ``info["decision_date"]``)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or "document" not in space.spaces:
            raise SettingsError("DocumentKeyObservation needs the AlphaStackEnv Dict observation")
        self._dates = np.asarray(env.unwrapped.panel.dates, dtype="datetime64[D]")
        self.observation_space = spaces.Dict({
            **space.spaces, "document_key": spaces.Box(0, len(self._dates) - 1, (1,), np.int64)})
        self._key = 0

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The env's reset; the decision date of ``info`` becomes the episode's key."""
        obs, info = self.env.reset(**kwargs)
        if "decision_date" not in info:
            raise SettingsError("DocumentKeyObservation needs document-conditioned episodes "
                                "(document_embeddings=...): the env reports no decision_date")
        self._key = int(np.searchsorted(self._dates, np.datetime64(info["decision_date"], "D")))
        return self.observation(obs), info

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The env's observation plus ``document_key``."""
        return {**observation, "document_key": np.array([self._key], dtype=np.int64)}


def _keyed(env_fn: Callable[[], gym.Env]) -> gym.Env:
    return DocumentKeyObservation(env_fn())


def with_document_key(env_fn: Callable[[], gym.Env]) -> Callable[[], gym.Env]:
    """An environment thunk whose environments are wrapped in :class:`DocumentKeyObservation`
    (picklable when ``env_fn`` is, for subprocess vector envs)."""
    return functools.partial(_keyed, env_fn)


class TrainableTextEncoder(nn.Module):
    """A BERT-family text encoder whose top layer groups train with the policy (module docstring).

    Args:
        settings: the :class:`DocFinetuneSettings`.
        windows: the :class:`TextWindows` of the training panel.
    """

    def __init__(self, settings: DocFinetuneSettings, windows: TextWindows):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from encoders.resolve import resolve_model

        resolved = resolve_model(settings.doc_model)
        self.settings = settings
        self.windows = windows
        self.tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
        self.model = AutoModel.from_pretrained(str(resolved.path))
        self.model.eval()
        self.pooling = resolved.pooling_hint or "cls"
        self.hidden_size = int(self.model.config.hidden_size)
        pooler = getattr(getattr(self.model, "base_model", self.model), "pooler", None)
        unused = {id(p) for p in pooler.parameters()} if pooler is not None else set()  # pooled by hand
        groups = [[p for p in g if id(p) not in unused] for g in bert_layer_groups(self.model)]
        self.groups = [g for g in groups if g]  # embeddings, each layer (the pooler never sees a gradient)
        self.updates = 0
        self._tokens: dict[int, dict[str, torch.Tensor] | None] = {}
        self.apply_unfreezing()

    @classmethod
    def for_panel(cls, settings: DocFinetuneSettings, panel: Any, doc_days: int) -> TrainableTextEncoder:
        """The encoder of ``panel``'s own news, windows of ``doc_days`` trading days.

        Raises:
            SettingsError: the panel has no news.
        """
        if panel.documents is None or len(panel.documents) == 0:
            raise SettingsError("fine-tuning the document encoder needs a market with news")
        return cls(settings, TextWindows(panel.documents, panel.dates, doc_days, settings.max_texts))

    def train(self, mode: bool = True) -> TrainableTextEncoder:
        """The model always stays in eval mode (no dropout: deterministic log-probabilities)."""
        super().train(mode)
        self.model.eval()
        return self

    def trainable_groups(self) -> int:
        """Top layer groups that train now (gradual unfreezing)."""
        return min(unfrozen_groups(self.updates, len(self.groups), self.settings.unfreeze_every),
                   self.settings.top_layers)

    def apply_unfreezing(self) -> None:
        """Set ``requires_grad`` of the groups from :meth:`trainable_groups`."""
        unfreeze_top(self.groups, self.trainable_groups(), clear_frozen_grads=True)

    def after_update(self) -> None:
        """Count one optimizer update and unfreeze the next group when it is due."""
        self.updates += 1
        self.apply_unfreezing()

    def param_groups(self, prefix: str = "doc_encoder") -> list[dict[str, Any]]:
        """Optimizer groups (``lr_scale`` for :class:`~encoders.ScaledAdam`) of the groups that may ever
        train: the top ``top_layers``, at ``lr_scale * layer_lr_decay**l``."""
        n = len(self.groups)
        scales = discriminative_scales(n, self.settings.layer_lr_decay)
        out = []
        for index in range(max(n - self.settings.top_layers, 0), n):
            if self.groups[index]:
                out.append({"params": self.groups[index], "lr_scale": self.settings.lr_scale * scales[index],
                            "name": f"{prefix}_group_{index}"})
        return out

    def _encoded(self, key: int) -> dict[str, torch.Tensor] | None:
        if key not in self._tokens:
            texts = self.windows.texts(key)
            self._tokens[key] = None if not texts else dict(self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.settings.max_length,
                return_tensors="pt"))
        return self._tokens[key]

    def forward(self, keys: torch.Tensor) -> torch.Tensor:
        """``(B, hidden)`` float32: mean over each key's window of the pooled text embeddings (zeros for
        a window without texts). ``keys``: ``(B,)`` or ``(B, 1)`` decision indices (any numeric dtype)."""
        flat = (torch.round(keys) if keys.is_floating_point() else keys).long().reshape(-1)
        unique, inverse = torch.unique(flat, return_inverse=True)
        device = next(self.model.parameters()).device
        rows = []
        for key in unique.tolist():
            batch = self._encoded(int(key))
            if batch is None:
                rows.append(torch.zeros(self.hidden_size, device=device))
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            states = self.model(**batch).last_hidden_state
            rows.append(pool(states, batch["attention_mask"], self.pooling).mean(dim=0))
        return torch.stack(rows)[inverse.to(device)]
