"""Shared pieces of the FinBERT recipe (``encoders.adapt_mlm``, ``encoders.adapt_classifier``): data,
batching, the clipped optimizer step, encoder throughput.

=============================  ==========================================================================
function                       job
=============================  ==========================================================================
``load_phrasebank``            the PhraseBank CSV → texts and class ids (columns = :data:`SENTIMENT_LABELS`)
``stratified_split``           seeded stratified train/test indices
``train_period_news``          ``"title. lead"`` of the news articles dated inside the panel's train split
``length_batches``             shuffled batches of similar lengths
``tokenize_texts``, ``pad_rows``  token ids; right-padded ``(B, L)`` ids and attention
``clipped_update``             one optimizer step, gradients clipped to norm 1, then the schedule
``embeddings_per_second``      encoder throughput on given texts
=============================  ==========================================================================
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from alpha_env.errors import DataError, SettingsError

__all__ = [
    "SENTIMENT_LABELS",
    "load_phrasebank",
    "stratified_split",
    "train_period_news",
    "length_batches",
    "tokenize_texts",
    "pad_rows",
    "clipped_update",
    "embeddings_per_second",
]

SENTIMENT_LABELS: tuple[str, ...] = ("positive", "negative", "neutral")
"""Class order of the sentiment head (FinBERT's, so ``DocumentEncoder.polarity`` reads it the same way)."""


# --------------------------------------------------------------------------- data
def load_phrasebank(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a Financial PhraseBank CSV (``sentence,label``).

    Returns:
        ``(texts, labels)``: ``labels`` is ``int64 (n,)`` indexing :data:`SENTIMENT_LABELS`.

    Raises:
        DataError: missing file or column, an empty sentence, or a label outside the three classes
            (the row is named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"PhraseBank file not found: {path}")
    frame = pd.read_csv(path, encoding_errors="replace")
    for column in ("sentence", "label"):
        if column not in frame.columns:
            raise DataError(f"{path}: no column '{column}' (columns: {list(frame.columns)})")
    index = {label: i for i, label in enumerate(SENTIMENT_LABELS)}
    labels = np.empty(len(frame), dtype=np.int64)
    texts: list[str] = []
    for row, (sentence, label) in enumerate(zip(frame["sentence"], frame["label"])):
        key = str(label).strip().lower()
        if key not in index:
            raise DataError(f"{path}: row {row} has label {label!r}, expected one of {SENTIMENT_LABELS}")
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"{path}: row {row} has an empty sentence")
        labels[row] = index[key]
        texts.append(sentence.strip())
    return texts, labels


def stratified_split(
    labels: np.ndarray, test_share: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: ``(train_indices, test_indices)``, each sorted, disjoint, covering all rows.

    Every class keeps (up to rounding) the same share in both parts.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_share < 1.0:
        raise SettingsError(f"test_share must be in (0, 1), got {test_share}")
    labels = np.asarray(labels)
    counts = np.bincount(labels) if labels.size else np.array([])
    if labels.size == 0 or np.min(counts[counts > 0]) < 2:
        raise DataError("stratified_split needs at least 2 examples of every class present")
    train, test = train_test_split(
        np.arange(labels.size), test_size=test_share, stratify=labels, random_state=seed
    )
    return np.sort(train), np.sort(test)


def train_period_news(
    news: str | Path,
    prices: str | Path,
    *,
    splits: Any = None,
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[str], np.datetime64]:
    """Texts ``"title. lead"`` of the articles dated on or before the last trading date of ``split``.

    The split is :func:`alpha_env.data.make_splits` over the distinct trading dates of ``prices``
    (default spec: the first 60% of the dates are ``train``), so no article from the validation or test
    period is ever seen. ``limit`` keeps a seeded random sample of that many articles (in date order).

    Returns:
        ``(texts, last_date)``.
    """
    from alpha_env.data import make_splits
    from alpha_env.data.loaders import read_table

    dates = read_table(prices, columns=["date"])["date"]
    days = np.unique(pd.to_datetime(dates).to_numpy().astype("datetime64[D]"))
    ranges = make_splits(days, splits)
    if split not in ranges:
        raise SettingsError(f"split {split!r} not among {sorted(ranges)}")
    last = days[ranges[split].stop - 1]
    frame = read_table(news, columns=["date", "title", "lead"])
    published = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
    keep = frame[published <= last]
    if keep.empty:
        raise DataError(f"{news}: no article dated on or before {last} (end of split '{split}')")
    if limit is not None and limit < len(keep):
        rows = np.sort(np.random.default_rng(seed).choice(len(keep), size=limit, replace=False))
        keep = keep.iloc[rows]
    title = keep["title"].fillna("").astype(str).str.strip()
    lead = keep["lead"].fillna("").astype(str).str.strip()
    texts = [f"{t}. {b}" if t and b else t or b for t, b in zip(title, lead)]
    return [t for t in texts if t], last


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Index batches of similar lengths (less padding): shuffled pools of 50 batches, sorted within.

    Without ``rng`` the batches follow ascending length (inference); with it, pools and batch order are
    shuffled (training).
    """
    if batch_size < 1:
        raise SettingsError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def tokenize_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to ``max_length`` tokens (special tokens included)."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token-id rows: ``ids (B, L) long`` and ``attention (B, L) bool`` (True at real tokens)."""
    lengths = torch.tensor([len(r) for r in rows])
    width = int(lengths.max())
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    return ids, torch.arange(width)[None, :] < lengths[:, None]


def clipped_update(
    model: nn.Module, optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
    loss: torch.Tensor,
) -> None:
    """One optimizer step on ``loss``: gradients of the trainable parameters clipped to norm 1, then the
    learning-rate schedule advances."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    schedule.step()


# --------------------------------------------------------------------------- speed
def embeddings_per_second(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    rounds: int = 1,
) -> float:
    """Texts per second of ``model`` (a bare encoder: ``last_hidden_state`` + mean pooling) on ``texts``.

    One warm-up batch is run first and not timed; then ``rounds`` passes over all texts, batches padded
    to their longest text as in :class:`encoders.DocumentEncoder`.
    """
    from encoders.pooling import pool

    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    if not batches:
        raise DataError("embeddings_per_second got no texts")
    model.eval()

    def run(batch: list[str]) -> None:
        tokens = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**tokens).last_hidden_state
        pool(hidden, tokens["attention_mask"], "mean")

    with torch.inference_mode():
        run(batches[0])
        start = time.perf_counter()
        for _ in range(rounds):
            for batch in batches:
                run(batch)
        seconds = time.perf_counter() - start
    return rounds * len(texts) / seconds
