"""DocumentEncoder: texts → float32 vectors with any BERT-family model, batched and cached.

Example:
    >>> enc = DocumentEncoder(cache_dir="runs/cache")           # bundled all-MiniLM-L6-v2, offline
    >>> vectors = enc.encode(["Shares of Acme fell 5%", "Acme beats estimates"])
    >>> vectors.shape, vectors.dtype
    ((2, 384), dtype('float32'))
    >>> fin = DocumentEncoder("path/to/finbert")                # a folder saved with save_pretrained
    >>> fin.sentiment(["Profit rose sharply"])                   # (1, 3) probabilities, fin.labels order

Every text is looked up in the cache first, by (encoder id, SHA-256 of the text); only the texts never
seen by this exact encoder (model weights, tokenizer, pooling, max_length, normalization) go through the
model, and their vectors are stored. The model itself is loaded only when a text needs it, so a fully
cached job does not even load the weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from alpha_env.errors import DataError, SettingsError
from encoders.cache import EmbeddingCache, text_key
from encoders.errors import ModelNotAvailableError
from encoders.pooling import POOLINGS, pool
from encoders.resolve import ResolvedModel, resolve_model

__all__ = ["DocumentEncoder"]

_AUTO_PROGRESS_BATCHES = 20  # show a progress bar by default when a job needs more batches than this


def _check_texts(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise DataError(f"texts[{i}] is {type(text).__name__} ({text!r}), not a string")
    return out


class DocumentEncoder:
    """Encode texts with a BERT-family model into ``float32`` vectors of shape ``(n, hidden)``.

    Args:
        model: ``None`` (the bundled all-MiniLM-L6-v2), a Hub name such as ``"ProsusAI/finbert"`` found
            in the local Hugging Face cache, or a folder saved with ``save_pretrained``. See
            :mod:`encoders.resolve`; a model that is not available offline raises
            :class:`ModelNotAvailableError` saying how to get it.
        pooling: ``"cls"`` (first token) or ``"mean"`` (mean of real tokens); ``None`` takes the
            folder's sentence-transformers pooling when it declares one (``mean`` for MiniLM), else
            ``"cls"`` (FinBERT, plain BERT).
        max_length: tokens per text; longer texts are truncated.
        batch_size: texts per forward pass.
        device: torch device for the model (``"cpu"``, ``"cuda"``, ...).
        cache_dir: folder of the on-disk cache (``embeddings.sqlite``); ``None`` caches in memory only,
            for the life of this encoder.
        normalize: scale every vector to unit L2 norm (cosine similarity becomes a dot product).
        show_progress: ``True``/``False``; ``None`` shows a tqdm bar when a job needs more than 20 batches.
        allow_download: let a Hub name not in the local cache be downloaded (needs internet; off by default).

    Attributes:
        resolved: the :class:`ResolvedModel` (folder, fingerprint, labels).
        forward_calls: forward passes run so far (0 after a job served entirely from the cache).
        texts_encoded: texts that went through the model so far.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        pooling: str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        cache_dir: str | Path | None = None,
        normalize: bool = False,
        show_progress: bool | None = None,
        allow_download: bool = False,
    ):
        if pooling is not None and pooling not in POOLINGS:
            raise SettingsError(f"pooling must be one of {POOLINGS} or None, got {pooling!r}")
        if not isinstance(max_length, int) or max_length < 2:
            raise SettingsError(f"max_length must be an int >= 2, got {max_length!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise SettingsError(f"batch_size must be a positive int, got {batch_size!r}")
        self.resolved: ResolvedModel = resolve_model(model, allow_download=allow_download)
        self.pooling: str = pooling or self.resolved.pooling_hint or "cls"
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.normalize = normalize
        self.show_progress = show_progress
        self.cache = EmbeddingCache(cache_dir)
        config = json.loads((self.resolved.path / "config.json").read_text())
        hidden = config.get("hidden_size", config.get("dim", config.get("d_model")))
        if not isinstance(hidden, int):
            raise ModelNotAvailableError(
                f"Model '{self.resolved.name}' ({self.resolved.path}): config.json has no hidden size; "
                f"is it a BERT-family encoder?"
            )
        self._dim = hidden
        self._tokenizer: Any = None
        self._model: Any = None
        self.forward_calls = 0
        self.texts_encoded = 0

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Length of one embedding vector (the model's hidden size)."""
        return self._dim

    @property
    def model_id(self) -> str:
        """Model name and content fingerprint, e.g. ``ProsusAI/finbert@1a2b...``."""
        return self.resolved.model_id

    @property
    def encoder_id(self) -> str:
        """Cache namespace: model id plus every setting that changes the vectors."""
        norm = "l2" if self.normalize else "raw"
        return f"{self.model_id}|{self.pooling}|{self.max_length}|{norm}"

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names of the classification head in :meth:`sentiment`'s column order (empty without one)."""
        return self.resolved.labels

    @property
    def has_classifier(self) -> bool:
        """Whether the model has a sequence-classification head (so :meth:`sentiment` works)."""
        return self.resolved.has_classifier

    # ------------------------------------------------------------------ loading
    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        path = str(self.resolved.path)
        loader = AutoModelForSequenceClassification if self.has_classifier else AutoModel
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = loader.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotAvailableError(
                f"Model '{self.resolved.name}' could not be loaded from {path}: {exc}"
            ) from exc
        model.eval()
        self._tokenizer = tokenizer
        self._model = model.to(self.device)

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loaded on first use)."""
        self._load()
        return self._tokenizer

    @property
    def model(self) -> torch.nn.Module:
        """The transformers model (loaded on first use; with its classification head when it has one)."""
        self._load()
        return self._model

    # ------------------------------------------------------------------ core
    def _tokenize(self, batch: list[str]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(
            batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in tokens.items()}

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        tokens = self._tokenize(batch)
        model = self.model
        base = model.base_model if self.has_classifier else model
        with torch.inference_mode():
            hidden = base(**tokens).last_hidden_state
            vectors = pool(hidden, tokens["attention_mask"], self.pooling)
            if self.normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=-1)
        self.forward_calls += 1
        return vectors.float().cpu().numpy()

    def _probs_batch(self, batch: list[str]) -> np.ndarray:
        tokens = self._tokenize(batch)
        with torch.inference_mode():
            logits = self.model(**tokens).logits
        self.forward_calls += 1
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def _run(self, texts: list[str], namespace: str, width: int, fn: Any, what: str) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        cached = self.cache.get(namespace, keys)
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in cached and key not in todo:
                todo[key] = text
        if todo:
            # Longest first, so each batch holds texts of similar length (less padding).
            order = sorted(todo, key=lambda k: len(todo[k]), reverse=True)
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
            show = (
                self.show_progress
                if self.show_progress is not None
                else len(batches) > _AUTO_PROGRESS_BATCHES
            )
            with tqdm(total=len(order), desc=what, unit="text", disable=not show) as bar:
                for batch_keys in batches:
                    vectors = fn([todo[k] for k in batch_keys])
                    self.cache.put(namespace, batch_keys, vectors)
                    cached.update(zip(batch_keys, vectors))
                    self.texts_encoded += len(batch_keys)
                    bar.update(len(batch_keys))
        out = np.empty((len(texts), width), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = cached[key]
        return out

    def encode(self, texts: Sequence[str] | str) -> np.ndarray:
        """Embed ``texts``: ``float32`` array of shape ``(len(texts), dim)`` (one row per text, in order).

        Texts already in the cache (and duplicates within the call) never go through the model.
        """
        items = _check_texts(texts)
        return self._run(items, self.encoder_id, self.dim, self._embed_batch, "encoding")

    def sentiment(self, texts: Sequence[str] | str) -> np.ndarray:
        """Class probabilities of the model's classification head: ``float32 (len(texts), len(labels))``.

        Columns follow :attr:`labels` (FinBERT: ``positive, negative, neutral``). Cached like
        :meth:`encode`.

        Raises:
            SettingsError: when the model has no sequence-classification head.
        """
        if not self.has_classifier:
            raise SettingsError(
                f"Model '{self.resolved.name}' has no classification head, so it gives no sentiment; use a "
                f"model saved with AutoModelForSequenceClassification (e.g. ProsusAI/finbert)."
            )
        items = _check_texts(texts)
        namespace = f"{self.model_id}|sentiment|{self.max_length}"
        return self._run(items, namespace, len(self.labels), self._probs_batch, "sentiment")

    def polarity(self, texts: Sequence[str] | str) -> np.ndarray:
        """``P(positive) - P(negative)`` per text, ``float32 (len(texts),)`` in [-1, 1].

        Raises:
            SettingsError: without a head, or when its labels do not include ``positive`` and ``negative``.
        """
        probs = self.sentiment(texts)
        lowered = [label.lower() for label in self.labels]
        if not {"positive", "negative"} <= set(lowered):
            raise SettingsError(
                f"Model '{self.resolved.name}' labels {self.labels} have no 'positive' and 'negative' class"
            )
        return probs[:, lowered.index("positive")] - probs[:, lowered.index("negative")]

    def __repr__(self) -> str:
        return (
            f"DocumentEncoder(model={self.resolved.name!r}, pooling={self.pooling!r}, dim={self.dim}, "
            f"max_length={self.max_length}, cache={self.cache!r})"
        )
